//! The blocked product driver shared by the SIMD kernels (AVX2, AVX-512, NEON).
//!
//! The portable kernels in the parent module are the reference; this driver computes the same
//! products (`A·B`, the upper triangle of `X·Xᵀ`, and of `S·S` for a symmetric `S`) in the
//! layout of a BLAS-style blocked GEMM. Each instruction set contributes only a
//! [`MicroKernel`]: the register tile (`MR` rows × `NR` columns), its loads and stores, and how
//! it copies a row-major panel. Everything else (the blocking, the in-place or packed right
//! operand, the triangle of a symmetric product and its mirroring, the shape checks) is here,
//! once.
//!
//! Blocking, for one core:
//! - the depth is cut into `KC = 256` slices (a product at most `ONE_SLICE_MAX = 320` deep is
//!   one slice: [`slice_depth`]);
//! - for each slice, a block of at most `MC × KC` floats of `A` (144 rows, fewer for a deeper
//!   slice, one block of any height when the whole slice fits; blocks of equal height:
//!   [`block_rows`]) stays in L2 while every `NR`-column panel of the right operand is fed to
//!   the micro-kernel. A row-major right operand at most [`DIRECT_MAX_STRIDE`] wide (up to
//!   twice that when at most [`DIRECT_SHALLOW_MAX_DEPTH`] deep) is read in
//!   place (small products: the whole slice sits in L1/L2 and copying it would cost as much as
//!   the arithmetic); a wider one, or a transposed one, is packed panel by panel into a 40 KiB
//!   stack buffer (`ONE_SLICE_MAX × MAX_NR` floats, sized for the deepest slice and the widest
//!   tile, of which a kernel uses `kc × NR`; 64-byte aligned, zero-padded past the last
//!   column). A row-major panel is packed by the block's first tile as it reads it
//!   ([`MicroKernel::tile_packing`]), a transposed one
//!   by a separate pass; with rows [`PREFETCH_MIN_STRIDE`] or more floats apart, the next panel
//!   is prefetched behind the current one. The row bands of a threaded product pack each
//!   panel once between them instead ([`SharedPanels`]), and a band done with its own rows
//!   runs what the others have left of their last depth slice ([`Band`]). A
//!   left operand with rows [`COPY_LEFT_MIN_STRIDE`] or more floats apart is copied block by
//!   block into a 153 KiB stack buffer (`MC` rows of [`PACKED_LDA`] floats), so a tile's rows
//!   are neither in one L1 set nor each on its own page;
//! - before each tile of a later depth slice, the lines of its output tile are prefetched: at
//!   wide sizes they were last touched one row block ago and would otherwise stall the tile's
//!   final additions on L3;
//! - an `R × NR` micro-kernel (`R ≤ MR`, a compile-time constant in each kernel, so a short
//!   last row tile costs no wasted work) keeps its accumulators in registers, broadcasting one
//!   element of each of `R` rows of `A` against the vectors of the panel per depth step. A
//!   panel at most `NR / 2` columns wide (a column tail) runs up to `2·MR` rows per call
//!   instead ([`MicroKernel::tile_narrow`]: one vector per row, none of it masked off). In a
//!   plain product, such a tail and the full panel before it run as one wide tile instead,
//!   where the kernel has one ([`MicroKernel::tile_wide`], [`Grid::ends_wide`]; in a packed
//!   operand after the block's first tile of each, which packs them).
//!
//! Every kernel computes each output element as a sequential fused multiply-add over its depth
//! slice, added to the previous slices' sum. The order depends only on the slices
//! ([`slice_depth`]), not on the tile shape, so all of them give the same bits (tested), and
//! agree with the portable path (which sums eight partial dot products) to a few ulps of the
//! sum of `|terms|`. Because a fused multiply-add's product is exact, element `(i, j)` and
//! `(j, i)` of a symmetric product come out bit-identical wherever both are computed, so only
//! the tiles the triangle skips are mirrored.

use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

/// Depth of one panel. Shared by every kernel: with [`slice_depth`] it fixes the rounding
/// order.
const KC: usize = 256;
/// The deepest product run as one depth slice ([`slice_depth`]): `KC` and a quarter.
const ONE_SLICE_MAX: usize = KC + KC / 4;
/// Rows of `A` swept per panel, at most (a multiple of every kernel's `MR`; [`block_rows`]
/// evens the blocks out below it); `MC × KC` floats stay in L2.
/// Measured (2-core EPYC, AVX2, n = 512 and 1024): 144 beat 96 and 72 (the right operand is
/// packed once per block, so fewer rows pack it more often) and matched 240, whose copy of the
/// left block would need 255 KiB of stack.
pub(super) const MC: usize = 144;
/// Row-major right operands whose rows are at most this many floats apart are read in place;
/// wider ones are packed panel by panel. Wider rows put each depth step of a panel on its own
/// stride, where L1 associativity thrashes; the packed panel is contiguous. At 128 floats
/// (512 bytes, 8 lines) a panel's rows fall in only 8 of a 64-set, 8-way L1's sets, 64 lines for
/// a 128-line panel, so every row tile re-read it from L2: lowering the bound from 128 to 64 took
/// the 128³ product from 1.05–1.15× faer to 0.98–1.07× (five alternating runs on a Zen 3 EPYC,
/// AVX2, 2026-12-07; `docs/performance.md`).
const DIRECT_MAX_STRIDE: usize = 64;
/// Row-major right operands with rows fewer than `2 ·` [`DIRECT_MAX_STRIDE`] floats apart are
/// read in place too when they are at most this deep: a panel of at most 128 rows, whose
/// lines at such strides fall in at least half of L1's 64 sets (at 128 floats, 512 bytes,
/// they fall in 8, so that stride stays packed). The products from 65³ to 127³ then skip the
/// packing and, as a single block, the sweep's bookkeeping: at 72³…120³ the core's time
/// relative to faer's fell by 4–11% (medians of three alternating runs, Zen 3 EPYC, AVX2,
/// 2026-12-07; `docs/performance.md`). Deeper operands keep to the narrower bound: a 256-row
/// panel at these strides would fill the sets it has.
const DIRECT_SHALLOW_MAX_DEPTH: usize = 128;
/// Right operands packed from rows at least this many floats apart (2 KiB) have each next
/// panel prefetched behind the current one. From 2 KiB up, the 256 rows of a panel fall in at
/// most 32 of a 1024-set L2's sets (at 4 KiB in 16, room for 128 of them), so they do not stay
/// cached from one row block to the next and each row block's first tiles waited on L3. With
/// the prefetch, 768³ and 1024³ products ran 2–6% faster (medians of alternating runs, Zen 3
/// EPYC, AVX2, 2026-12-07), 512³ between 5% faster and 0.4% slower; at 256³ (1 KiB rows,
/// whose slice stays in L2) one run was 13% slower.
const PREFETCH_MIN_STRIDE: usize = 512;
/// Left operands whose rows are at least this many floats apart (2 KiB) are copied block by
/// block. At 2 KiB a tile's six or twelve rows fall in two sets of a 64-set L1 (at 4 KiB in
/// one, each row on its own page). Below it, reading in place measured as fast or faster: at
/// n = 192 the copy's 153 KiB pushed a working set that fit in L2 out of it (1.04–1.18× faer
/// in place over four runs, 1.10–1.26× copied over nine); at 256 the two differed by less than the noise.
const COPY_LEFT_MIN_STRIDE: usize = 512;
/// Floats between rows of the copied left block: a depth slice and one 64-byte line, so the
/// rows of a tile fall in different L1 sets (rows 1024 floats apart in place all map to one).
const PACKED_LDA: usize = KC + 16;
/// The widest panel of any kernel (AVX-512's two `__m512`).
const MAX_NR: usize = 32;
/// Floats per 64-byte cache line.
const LINE_FLOATS: usize = 16;
/// Row-major right operands of plain products whose rows are at least this many floats apart
/// (4 KiB) start their panels on cache lines ([`Grid`]): the default of
/// [`MicroKernel::ALIGN_MIN_STRIDE`]. With `B` and `C` 16 bytes off a line,
/// as a `Vec<f32>` of 256² floats or more is here, a 1024³ product took 6–7% longer than on
/// aligned ones, and the shifted grid took 3–4% off it (2048³: 4–5%); at 256³–768³ the
/// grid's extra panel (one more in 16–48) cost as much as the alignment gave or more: 256³
/// 5–6% slower, 512³ 2%, 768³ within the noise (Zen 3 EPYC, AVX2, 2026-12-07;
/// `docs/performance.md`). At 4 KiB the rows of a panel share L2 sets, so every
/// extra line a row straddles is one more miss there.
const ALIGN_MIN_STRIDE: usize = 1024;

/// Products with fewer multiply-adds than this (8³) stay on the portable path.
pub(super) const MIN_WORK: usize = 512;

/// A register-tile kernel for one instruction set.
///
/// # Safety
/// Implementations must do exactly what their methods document and touch no other memory; [`MicroKernel::supported`] must be `false` on a CPU
/// that cannot run them.
pub(super) unsafe trait MicroKernel {
    /// Rows of `A` per micro-kernel call (at most); a divisor of `MC`.
    const MR: usize;
    /// Columns of the right operand per panel; at most `MAX_NR`.
    const NR: usize;
    /// Whether the kernel masks its loads, so a panel narrower than `NR` may be read in place
    /// (otherwise it is packed, zero-padded).
    const MASKED_TAIL: bool;
    /// Rows of a plain product's row-major right operand at least this many floats apart
    /// start its panels on cache lines ([`Grid`]): where the alignment gains more than the
    /// narrow first panel costs, which depends on the vector width.
    const ALIGN_MIN_STRIDE: usize = ALIGN_MIN_STRIDE;

    /// Whether this CPU runs the kernel.
    fn supported() -> bool;

    /// `C[..rows, ..t.cols] (+)= A[..rows, ..t.kc] · B[..t.kc, ..t.cols]`, `1 ≤ rows ≤ MR`.
    ///
    /// # Safety
    /// [`MicroKernel::supported`], and `t`'s pointers as [`Tile`] describes them for `rows`
    /// rows (`t.b`'s rows with `NR` readable floats unless [`MicroKernel::MASKED_TAIL`]).
    unsafe fn tile(rows: usize, t: Tile);

    /// [`MicroKernel::tile`] for a panel at most `NR / 2` columns wide, on `1 ≤ rows ≤ 2·MR`
    /// rows. A masking kernel's full tile spends half its multiply-adds on the masked-off
    /// lanes of such a panel; one that overrides this covers twice the rows with one vector
    /// per row instead, the same multiply-adds per depth step as a full tile. Each element
    /// is the same sequence of fused multiply-adds either way, so the same bits. By default,
    /// `MR` rows at a time through [`MicroKernel::tile`].
    ///
    /// # Safety
    /// As [`MicroKernel::tile`], for `rows` rows, with `t.cols ≤ NR / 2`.
    unsafe fn tile_narrow(rows: usize, t: Tile) {
        let first = rows.min(Self::MR);
        // SAFETY: the caller's contract covers rows 0..rows, so both halves.
        unsafe {
            Self::tile(first, t);
            if rows > first {
                let rest = Tile {
                    a: t.a.add(first * t.lda),
                    c: t.c.add(first * t.ldc),
                    ..t
                };
                Self::tile(rows - first, rest);
            }
        }
    }

    /// Rows per [`MicroKernel::tile_wide`] call; 0 where the kernel has no wide tile (then
    /// a full panel and its narrow neighbour run apart, as [`MicroKernel::tile`] and
    /// [`MicroKernel::tile_narrow`]).
    const WIDE_MR: usize = 0;

    /// [`MicroKernel::tile`] for a full panel (`t.b`, `NR` columns) and the narrow one after
    /// it (`tail`, rows `t.ldb` apart like the full one's, `t.cols − NR` columns) as one tile
    /// `t.cols` wide (`NR < t.cols ≤ NR + NR / 2`) of `1 ≤ rows ≤ WIDE_MR` rows. A narrow tile
    /// broadcasts one element of `A` per multiply-add, and broadcasts share the load ports
    /// with the panel's loads; the wide tile broadcasts one per three. Each element is the
    /// same sequence of fused multiply-adds, so the same bits. By default, the two panels
    /// apart.
    ///
    /// # Safety
    /// As [`MicroKernel::tile`] for `rows ≤ MR` rows, with `NR` readable floats per row of
    /// `t.b` and `t.cols − NR` per row of `tail`.
    unsafe fn tile_wide(rows: usize, t: Tile, tail: *const f32) {
        // SAFETY: the caller's contract.
        unsafe { wide_apart::<Self>(rows, t, tail) }
    }

    /// [`MicroKernel::tile`] on a row-major panel read in place (`t.b`, rows `t.ldb` apart,
    /// `t.cols` readable floats each), which also copies that panel into `dst` as `kc` rows of
    /// `NR` floats, zero past `cols`, for the block's later tiles to read. The copy rides on the
    /// tile's own loads, so the strided reads' latency hides behind its multiply-adds instead
    /// of stalling a separate pass.
    ///
    /// # Safety
    /// As [`MicroKernel::tile`], with `t.b` holding `cols` readable floats per row whatever
    /// [`MicroKernel::MASKED_TAIL`] says, and `dst` `kc × NR` writable floats.
    unsafe fn tile_packing(rows: usize, t: Tile, dst: *mut f32);

    /// `dst[r·ld + c] = src[c·ld + r]` for `r, c < 8`: one 8×8 block of a matrix with rows
    /// `ld` floats apart, transposed into another.
    ///
    /// # Safety
    /// [`MicroKernel::supported`]; both blocks lie inside one allocation (through pointers
    /// that may alias each other's allocation) and share no element.
    unsafe fn transpose8(src: *const f32, dst: *mut f32, ld: usize);

    /// Copies `cols ≤ NR` columns of a transposed panel into `dst` as `kc` rows of `NR`, zero
    /// past `cols`: column `c` is the `kc` consecutive floats at `src + c·ld`, and lands in
    /// `dst[p·NR + c]`.
    ///
    /// # Safety
    /// [`MicroKernel::supported`]; `src` holds those `cols` runs of `kc` floats, `dst`
    /// `kc × NR` writable floats.
    unsafe fn pack_columns(dst: *mut f32, src: *const f32, ld: usize, kc: usize, cols: usize);
}

/// One micro-kernel call: where its operands are, its depth and width, and whether to
/// overwrite or accumulate into the output.
#[derive(Clone, Copy)]
pub(super) struct Tile {
    /// The tile's first row of `A`: each row has `kc` readable floats.
    pub a: *const f32,
    /// Floats between rows of `A`.
    pub lda: usize,
    /// The panel's first row of `B`: `kc` rows with `cols` readable floats each.
    pub b: *const f32,
    /// Floats between rows of `B`.
    pub ldb: usize,
    /// The tile's first output row: each row has `cols` writable floats.
    pub c: *mut f32,
    /// Floats between rows of `C`.
    pub ldc: usize,
    /// Depth of the slice (≤ `ONE_SLICE_MAX`: [`slice_depth`]).
    pub kc: usize,
    /// Columns of the tile (≤ `NR`).
    pub cols: usize,
    /// `true` for the first depth slice (store), `false` after (add to what is there).
    pub overwrite: bool,
}

/// One packed panel of up to `ONE_SLICE_MAX × MAX_NR` floats (a slice's depth × the kernel's
/// `NR`), row-major. Left uninitialised (the zeroing would dominate small sizes): the first
/// tile ([`MicroKernel::tile_packing`]) or [`pack_transposed`] writes the
/// first `kc` rows and the kernels read only those.
#[repr(C, align(64))]
struct Panel([MaybeUninit<f32>; ONE_SLICE_MAX * MAX_NR]);

/// A copy of `MC` rows of one depth slice of the left operand, rows [`PACKED_LDA`] apart.
/// Left uninitialised, like [`Panel`]: [`copy_left`] writes what the tiles read.
#[repr(C, align(64))]
struct LeftBlock([MaybeUninit<f32>; MC * PACKED_LDA]);

/// Where the right operand's element `(p, j)` lives: `data[p * row_stride + j * col_stride]`.
#[derive(Clone, Copy)]
struct Operand<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

/// A shared panel nobody has claimed yet.
const FREE: u8 = 0;
/// A shared panel one band is packing (the others pack their own copy meanwhile).
const PACKING: u8 = 1;
/// A shared panel packed and published: readable by every band.
const READY: u8 = 2;

/// Every packed panel of one right operand (`k × n`, row-major or transposed), packed once and
/// shared by the row bands of a threaded product ([`matmul_bands`], [`gram_upper_rows`],
/// [`square_symmetric_upper_rows`]) instead of each band packing all of them for each of its
/// row blocks. The first band to reach a panel claims it (an atomic flag:
/// [`FREE`] → [`PACKING`]), packs it (a row-major panel with its first tile, a transposed one
/// by its own pass) and publishes it ([`READY`]); a band
/// that finds it [`READY`] reads it; a band that finds it [`PACKING`] packs its own copy into
/// its stack panel, as a single-threaded product does, so no band ever waits on another. The
/// packed values are the operand's, whoever packs them: the bits do not depend on who did.
///
/// Panel `j` of depth slice `s` is `D × NR` floats at `((s · panels) + j) · D · NR`, `D` the
/// operand's [`slice_depth`].
#[cfg_attr(not(feature = "parallel"), allow(dead_code))]
pub(super) struct SharedPanels<'s> {
    /// The panels' storage: `k.div_ceil(D) · panels · D · NR` floats, `D = slice_depth(k)`.
    data: *mut f32,
    /// One flag per panel, in the same order, each [`FREE`] at the start.
    state: &'s [AtomicU8],
    /// Panels per depth slice: `n.div_ceil(NR)`.
    panels: usize,
    /// The panel width the storage was cut for (the kernel's `NR`).
    nr: usize,
    /// The operand's shape.
    k: usize,
    /// See `k`.
    n: usize,
    /// Whether the operand is row-major (a plain product's, or `S·S`'s) or transposed
    /// (`X·Xᵀ`'s).
    row_major: bool,
    /// The storage is borrowed mutably for `'s`.
    _data: core::marker::PhantomData<&'s mut [MaybeUninit<f32>]>,
}

// SAFETY: a panel's floats are written only by the band that won its flag (a compare-exchange
// from FREE), and read only after that band's `Release` store of READY was seen by an
// `Acquire` load; the flags themselves are atomics.
unsafe impl Sync for SharedPanels<'_> {}

/// What a band does with a shared panel ([`SharedPanels::claim`]).
enum Claim<'s> {
    /// Read the packed panel here.
    Ready(*const f32),
    /// Pack it here, then publish it through the flag.
    Mine(*mut f32, &'s AtomicU8),
    /// Another band is packing it: pack a private copy.
    Busy,
}

#[cfg_attr(not(feature = "parallel"), allow(dead_code))]
impl<'s> SharedPanels<'s> {
    /// Floats of storage and flags needed for a `k × n` right operand in panels `nr` wide (the
    /// panels and up to one cache line to start them on a line, as the stack panel is), or
    /// `None` when the driver would read that operand in
    /// place (a `row_major` one that [`direct`] says is: nothing to pack or share)
    /// or the sizes overflow. A transposed operand (`X·Xᵀ`'s) is always packed.
    pub(super) fn sizes(nr: usize, k: usize, n: usize, row_major: bool) -> Option<(usize, usize)> {
        if nr == 0 || k == 0 || n == 0 || (row_major && direct(n, k)) {
            return None;
        }
        let depth = slice_depth(k);
        let flags = k.div_ceil(depth).checked_mul(n.div_ceil(nr))?;
        Some((
            flags
                .checked_mul(depth.checked_mul(nr)?)?
                .checked_add(LINE_FLOATS - 1)?,
            flags,
        ))
    }

    /// Shares `data` and `state` (sized by [`SharedPanels::sizes`], every flag [`FREE`])
    /// between the bands of one product of a `k × n` right operand in panels `nr` wide
    /// (`row_major`, or transposed); `None` if either is too short.
    pub(super) fn new(
        data: &'s mut [MaybeUninit<f32>],
        state: &'s [AtomicU8],
        nr: usize,
        (k, n): (usize, usize),
        row_major: bool,
    ) -> Option<Self> {
        let (floats, flags) = Self::sizes(nr, k, n, row_major)?;
        if data.len() < floats || state.len() < flags {
            return None;
        }
        debug_assert!(state.iter().all(|f| f.load(Ordering::Relaxed) == FREE));
        // The first float on a 64-byte line: at most LINE_FLOATS − 1 in, which `sizes` allows.
        let skip = data.as_ptr().align_offset(64).min(LINE_FLOATS - 1);
        Some(SharedPanels {
            data: data[skip..].as_mut_ptr().cast::<f32>(),
            state,
            panels: n.div_ceil(nr),
            nr,
            k,
            n,
            row_major,
            _data: core::marker::PhantomData,
        })
    }

    /// Panels per depth slice.
    pub(super) fn panels(&self) -> usize {
        self.panels
    }

    /// Whether these panels were cut for kernel `K` and a `k × n` operand of `b`'s layout.
    fn fit<K: MicroKernel>(&self, b: Operand<'_>, k: usize, n: usize) -> bool {
        (self.nr, self.k, self.n, self.row_major) == (K::NR, k, n, b.col_stride == 1)
    }

    /// The flag of panel `j` of depth slice `slice`.
    fn flag(&self, slice: usize, j: usize) -> &'s AtomicU8 {
        &self.state[slice * self.panels + j]
    }

    /// Claims panel `j` of depth slice `slice` for the calling band (see [`Claim`]).
    fn claim(&self, slice: usize, j: usize) -> Claim<'s> {
        let flag = self.flag(slice, j);
        // SAFETY (of the pointer arithmetic): panel (slice, j) lies inside `data`, whose
        // length `new` checked against `sizes`.
        let at = self
            .data
            .wrapping_add((slice * self.panels + j) * slice_depth(self.k) * self.nr);
        match flag.compare_exchange(FREE, PACKING, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => Claim::Mine(at, flag),
            Err(READY) => Claim::Ready(at.cast_const()),
            Err(_) => Claim::Busy,
        }
    }
}

/// `out (m×n) = A (m×k) · B (k×n)`, all row-major. Returns `false`, leaving `out` untouched,
/// when the CPU cannot run `K` or a slice is shorter than its shape.
pub(super) fn matmul<K: MicroKernel>(
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) -> bool {
    if !K::supported() || !fits(a, m, k) || !fits(b, k, n) || !fits(out, m, n) {
        return false;
    }
    let b = Operand {
        data: b,
        row_stride: n,
        col_stride: 1,
    };
    // SAFETY: K runs on this CPU (checked above) and the slices hold their shapes.
    unsafe {
        gemm::<K>(Product {
            a,
            lda: k,
            b,
            out: out.as_mut_ptr(),
            _out: PhantomData,
            m,
            k,
            n,
            upper: None,
            shared: None,
            units: Units::All,
        })
    };
    true
}

/// One row band of a threaded plain product ([`matmul_bands`]) and which of its units are
/// left: a unit is one depth slice of one row block against one panel, the work between two
/// visits of [`sweep`]'s panel loop, numbered in the order the band's own sweep visits them
/// (depth slice, then row block, then panel from the band's first one, wrapping). The band's
/// owner takes them one by one from the front; a band done with its own takes units of the
/// last depth slice from the back ([`Band::take_back`]), so the bands end together even when
/// one thread runs slower than the other (a busy or preempted core) instead of the product
/// waiting for the slow one. Which thread runs a unit changes no bit: it gets the same
/// multiply-adds in the same order.
#[cfg_attr(not(feature = "parallel"), allow(dead_code))]
pub(super) struct Band {
    /// The band's first row in the product.
    row0: usize,
    /// Rows in the band.
    rows: usize,
    /// The panel its sweep starts each depth slice at (below `panels`).
    start: usize,
    /// How the band was cut: the product's depth and width, the kernel's tile, and what they
    /// give ([`Band::cut`]).
    cut: Cut,
    /// The next unit the owner takes (the low 32 bits) and one past the last unit not taken
    /// from the back (the high 32 bits). Starts at `(0, cut.total)`.
    ends: AtomicU64,
    /// Whether the band's owner has started: a band runs once.
    owned: AtomicBool,
}

/// How a band's units are numbered: what [`Band::cut`] derives from the band's height, the
/// product's depth and width and the kernel's tile.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Cut {
    /// The product's depth and width.
    k: usize,
    /// See `k`.
    n: usize,
    /// The kernel's row tile and panel width.
    mr: usize,
    /// See `mr`.
    nr: usize,
    /// Rows per row block ([`block_rows`]).
    mc: usize,
    /// Panels per depth slice (the plain grid).
    panels: usize,
    /// Units per depth slice.
    per_slice: usize,
    /// Units in all; 0 when none can be taken: the band runs as one block ([`one_block`]: a
    /// single unit-less pass), has no depth, or has more units than 32 bits count.
    total: usize,
}

#[cfg_attr(not(feature = "parallel"), allow(dead_code))]
impl Band {
    /// Rows `row0..row0 + rows` of a `k`-deep product `n` wide on kernel `K`, its sweep
    /// starting each depth slice at panel `start` (the first one if `start` is past the last).
    pub(super) fn new<K: MicroKernel>(
        row0: usize,
        rows: usize,
        start: usize,
        (k, n): (usize, usize),
    ) -> Band {
        let cut = Band::cut::<K>(rows, k, n);
        Band {
            row0,
            rows,
            start: if start < cut.panels { start } else { 0 },
            cut,
            ends: AtomicU64::new((cut.total as u64) << 32),
            owned: AtomicBool::new(false),
        }
    }

    /// The numbering of the units of `rows` rows of a `k × n` plain product on `K`.
    fn cut<K: MicroKernel>(rows: usize, k: usize, n: usize) -> Cut {
        let depth = slice_depth(k);
        let mc = block_rows(rows, depth, K::MR);
        let panels = n.div_ceil(K::NR);
        let per_slice = rows.div_ceil(mc).saturating_mul(panels);
        let row_major = Operand {
            data: &[],
            row_stride: n,
            col_stride: 1,
        };
        let total = k
            .div_ceil(depth)
            .checked_mul(per_slice)
            .filter(|&t| t <= u32::MAX as usize);
        // (No depth: no slices, so no units.)
        let swept = !one_block_product::<K>(true, (rows, k, n), row_major);
        Cut {
            k,
            n,
            mr: K::MR,
            nr: K::NR,
            mc,
            panels,
            per_slice,
            total: total.filter(|_| swept).unwrap_or(0),
        }
    }

    /// Takes the next unit for the band's owner, which runs its units in order; `false` when
    /// the rest were taken from the back. Always `true` for a band with no units to take (its
    /// owner runs everything).
    fn take_front(&self) -> bool {
        if self.cut.total == 0 {
            return true;
        }
        let mut ends = self.ends.load(Ordering::Relaxed);
        loop {
            let (front, back) = (ends & u64::from(u32::MAX), ends >> 32);
            if front >= back {
                return false;
            }
            // Release: whoever later reads this value sees every unit before `front` done.
            match self.ends.compare_exchange_weak(
                ends,
                ends + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => ends = now,
            }
        }
    }

    /// Takes the band's last unit not yet taken, for another band: only a unit of the last
    /// depth slice (none of the owner's later units adds to its output), the owner has not
    /// taken, and whose part in the slice before (the same row block and panel) the owner has
    /// finished: it has taken a unit after that one since, so that one is done.
    fn take_back(&self) -> Option<usize> {
        let Cut {
            per_slice, total, ..
        } = self.cut;
        let mut ends = self.ends.load(Ordering::Acquire);
        loop {
            let (front, back) = ((ends & u64::from(u32::MAX)) as usize, (ends >> 32) as usize);
            let unit = back.checked_sub(1).filter(|&u| u >= front)?;
            // The owner runs `front − 1` now (or is done with it); every unit before is done.
            let before_done = unit < per_slice || unit - per_slice + 1 < front;
            if unit + per_slice < total || !before_done {
                return None;
            }
            // `back` one lower (it was `unit + 1`).
            let taken = ends - (1 << 32);
            match self
                .ends
                .compare_exchange_weak(ends, taken, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(unit),
                Err(now) => ends = now,
            }
        }
    }
}

/// The output of a threaded plain product, shared by its bands ([`matmul_bands`]): each
/// writes the output tiles of the units it runs and no unit runs twice ([`Band`]), so no
/// element is written by two threads.
#[cfg_attr(not(feature = "parallel"), allow(dead_code))]
pub(super) struct Output<'o> {
    /// The first element.
    data: *mut f32,
    /// Elements.
    len: usize,
    /// The output is borrowed mutably for `'o`.
    _out: PhantomData<&'o mut [f32]>,
}

// SAFETY: the bands write disjoint elements through `data` (each unit's tiles, each unit once:
// `Band`'s atomic ends), and nothing else reads or writes the output while they run.
unsafe impl Sync for Output<'_> {}

#[cfg_attr(not(feature = "parallel"), allow(dead_code))]
impl<'o> Output<'o> {
    /// The whole of `out`, for the bands of one product.
    pub(super) fn new(out: &'o mut [f32]) -> Output<'o> {
        Output {
            data: out.as_mut_ptr(),
            len: out.len(),
            _out: PhantomData,
        }
    }
}

/// Band `me` of `bands` of `out (m×n) = A (m×k) · B (k×n)` (all row-major), then, once its own
/// units are done, what the other bands leave to be taken ([`Band::take_back`]). `bands` cut
/// the product's rows in order (built by [`Band::new`] for this `K`, `k` and `n`) and each runs
/// once, on its own thread. With `shared` (one per product, built for this `k × n` and
/// `K::NR`) the bands read and pack the right operand's panels there; without, each packs its
/// own as [`matmul`] does. Every element gets the same multiply-adds in the same order as
/// [`matmul`]'s: the same bits. Returns `false`, running nothing, when the CPU cannot run `K`,
/// a slice is too short, the bands do not cut `m` rows in order or were cut for another
/// product or kernel, band `me` has run already, or `shared` was built for another shape or
/// kernel.
#[cfg_attr(not(feature = "parallel"), allow(dead_code))]
pub(super) fn matmul_bands<K: MicroKernel>(
    a: &[f32],
    b: &[f32],
    out: &Output<'_>,
    (m, k, n): (usize, usize, usize),
    bands: &[Band],
    me: usize,
    shared: Option<&SharedPanels<'_>>,
) -> bool {
    if !K::supported() || !fits(a, m, k) || !fits(b, k, n) {
        return false;
    }
    if m.checked_mul(n).is_none_or(|len| len > out.len) {
        return false;
    }
    // The bands' rows follow each other from row 0 to row m, each cut for this product.
    let mut next = Some(0);
    for band in bands {
        if Some(band.row0) != next || band.cut != Band::cut::<K>(band.rows, k, n) {
            return false;
        }
        next = band.row0.checked_add(band.rows);
    }
    let b = Operand {
        data: b,
        row_stride: n,
        col_stride: 1,
    };
    if next != Some(m) || shared.is_some_and(|s| !s.fit::<K>(b, k, n)) {
        return false;
    }
    let Some(own) = bands
        .get(me)
        .filter(|band| !band.owned.swap(true, Ordering::AcqRel))
    else {
        return false;
    };
    // SAFETY: K runs on this CPU (checked above); rows row0..row0 + rows of A and of `out`
    // (m × n, checked) exist; B holds k × n; `shared` (if any) was built for this k × n and
    // NR. The band's units are this thread's alone, or another band's once taken from the
    // back (`Units::Owner`), and the band is cut for this product: its owner's sweep visits
    // the units `take_back` numbers.
    unsafe {
        gemm::<K>(Product {
            a: &a[own.row0 * k..],
            lda: k,
            b,
            out: out.data.add(own.row0 * n),
            _out: PhantomData,
            m: own.rows,
            k,
            n,
            upper: None,
            shared,
            units: Units::Owner(own),
        });
        take_from_others::<K>(a, b, out, bands, me, shared);
    }
    true
}

/// Runs the units other bands than `me` leave to be taken ([`Band::take_back`]).
///
/// # Safety
/// As [`matmul_bands`] after its checks: `K` runs here, and `a`, `b`, `out` and `shared` hold
/// the product every band of `bands` was cut for.
#[cfg_attr(not(feature = "parallel"), allow(dead_code))]
unsafe fn take_from_others<K: MicroKernel>(
    a: &[f32],
    b: Operand<'_>,
    out: &Output<'_>,
    bands: &[Band],
    me: usize,
    shared: Option<&SharedPanels<'_>>,
) {
    for step in 1..bands.len() {
        let band = &bands[(me + step) % bands.len()];
        while let Some(unit) = band.take_back() {
            // SAFETY: the caller's contract; the unit was taken from the back.
            unsafe { run_taken::<K>(a, b, out, band, unit, shared) };
        }
    }
}

/// Runs unit `unit` of `band`, taken from the back: its row block's tiles of one panel in one
/// depth slice, reading the left operand in place (the same values as the owner's copy of it:
/// the same bits).
///
/// # Safety
/// As [`take_from_others`], with `unit` below the band's total, taken by this thread from
/// the back, and its part in the depth slice before done.
unsafe fn run_taken<K: MicroKernel>(
    a: &[f32],
    b: Operand<'_>,
    out: &Output<'_>,
    band: &Band,
    unit: usize,
    shared: Option<&SharedPanels<'_>>,
) {
    let Cut {
        k,
        n,
        mc,
        panels,
        per_slice,
        ..
    } = band.cut;
    let (slice, rest) = (unit / per_slice, unit % per_slice);
    let (block, q) = (rest / panels, rest % panels);
    let row = band.row0 + block * mc;
    let rows = mc.min(band.rows - block * mc);
    // SAFETY: the caller's contract; rows row..row + rows lie in the band, and the unit (its
    // row block's tiles of panel jp in this slice) is this thread's alone.
    unsafe {
        sweep_with_panel::<K>(
            Product {
                a: &a[row * k..],
                lda: k,
                b,
                out: out.data.add(row * n),
                _out: PhantomData,
                m: rows,
                k,
                n,
                upper: None,
                shared,
                units: Units::One {
                    slice,
                    jp: wrapped(band.start, q, panels),
                },
            },
            None,
        );
    }
}

/// Panel `start + q` of `panels`, wrapped to the first ones.
fn wrapped(start: usize, q: usize, panels: usize) -> usize {
    if q < panels - start {
        start + q
    } else {
        q - (panels - start)
    }
}

/// `out (m×m) = X (m×n) · Xᵀ`: the upper triangle by the blocked kernel, mirrored. Returns
/// `false`, leaving `out` untouched, when the CPU cannot run `K` or a slice is too short.
pub(super) fn gram<K: MicroKernel>(x: &[f32], out: &mut [f32], m: usize, n: usize) -> bool {
    if !gram_upper_rows::<K>(x, out, m, n, 0, m, None) {
        return false;
    }
    mirror_skipped::<K>(out, m);
    true
}

/// Rows `row0..row0 + rows` of the upper triangle of `X (m×n) · Xᵀ` (and of whatever lower
/// part the tiles cover) into `out`, which holds just those rows (`rows × m`); the caller
/// mirrors the whole matrix with [`mirror_skipped`] once every row is done. `row0` must be a
/// multiple of the row tile `K::MR`, so the tiles line up with a single-call product. With
/// `shared` (built for `Xᵀ`: `n × m`, transposed, `K::NR`), the bands of a threaded product
/// pack each panel once between them ([`SharedPanels`]). Returns `false`, leaving `out`
/// untouched, when the CPU cannot run `K`, a slice is too short, the rows are out of range, or
/// `shared` was built for another operand or kernel.
pub(super) fn gram_upper_rows<K: MicroKernel>(
    x: &[f32],
    out: &mut [f32],
    m: usize,
    n: usize,
    row0: usize,
    rows: usize,
    shared: Option<&SharedPanels<'_>>,
) -> bool {
    // Xᵀ as the right operand: its element (p, j) is X[j][p].
    let xt = Operand {
        data: x,
        row_stride: 1,
        col_stride: n,
    };
    upper_rows::<K>(x, n, xt, out, m, (row0, rows), shared)
}

/// `out (m×m) = S · S` for an exactly symmetric `S (m×m)` (so `S·S = S·Sᵀ`, its Gram matrix):
/// the upper triangle with `S` itself as the row-major right operand (no transposed reads),
/// mirrored. Returns `false`, leaving `out` untouched, when the CPU cannot run `K` or a slice
/// is too short.
pub(super) fn square_symmetric<K: MicroKernel>(s: &[f32], out: &mut [f32], m: usize) -> bool {
    if !square_symmetric_upper_rows::<K>(s, out, m, 0, m, None) {
        return false;
    }
    mirror_skipped::<K>(out, m);
    true
}

/// Rows `row0..row0 + rows` of [`square_symmetric`]'s upper triangle, as
/// [`gram_upper_rows`] for `X·Xᵀ` (`shared` built for `S`: `m × m`, row-major, `K::NR`).
pub(super) fn square_symmetric_upper_rows<K: MicroKernel>(
    s: &[f32],
    out: &mut [f32],
    m: usize,
    row0: usize,
    rows: usize,
    shared: Option<&SharedPanels<'_>>,
) -> bool {
    // S itself as the row-major right operand.
    let right = Operand {
        data: s,
        row_stride: m,
        col_stride: 1,
    };
    upper_rows::<K>(s, m, right, out, m, (row0, rows), shared)
}

/// Rows `row0..row0 + rows` of the upper triangle of `X (m×depth) · right` into `out`
/// (`rows × m`), where `right` (`depth × m`) is `Xᵀ` or, for a symmetric `X`, `X` itself: the
/// checks and the call both symmetric products share.
fn upper_rows<K: MicroKernel>(
    x: &[f32],
    depth: usize,
    right: Operand<'_>,
    out: &mut [f32],
    m: usize,
    (row0, rows): (usize, usize),
    shared: Option<&SharedPanels<'_>>,
) -> bool {
    if !K::supported() || !rows_in_range::<K>(m, row0, rows) {
        return false;
    }
    if !fits(x, m, depth) || !fits(out, rows, m) {
        return false;
    }
    if shared.is_some_and(|s| !s.fit::<K>(right, depth, m)) {
        return false;
    }
    // SAFETY: K runs on this CPU (checked above), rows row0..row0+rows of X exist, `right`
    // views all of X (depth × m under its strides), and out holds rows × m.
    unsafe {
        gemm::<K>(Product {
            a: &x[row0 * depth..],
            lda: depth,
            b: right,
            out: out.as_mut_ptr(),
            _out: PhantomData,
            m: rows,
            k: depth,
            n: m,
            upper: Some(row0),
            // Every band from the first panel: its triangle skips those left of its rows.
            shared,
            units: Units::All,
        })
    };
    true
}

/// Whether rows `row0..row0 + rows` lie inside `m` and start on a row-tile boundary.
fn rows_in_range<K: MicroKernel>(m: usize, row0: usize, rows: usize) -> bool {
    row0.checked_add(rows).is_some_and(|end| end <= m) && row0.is_multiple_of(K::MR)
}

/// Whether `s` holds a `rows × cols` matrix (without overflow).
fn fits(s: &[f32], rows: usize, cols: usize) -> bool {
    rows.checked_mul(cols).is_some_and(|len| s.len() >= len)
}

/// Copies the upper triangle onto the lower one where [`gemm`] in `upper` mode skipped a tile.
///
/// Row `i` lies in the row tile starting at `⌊i/MR⌋·MR` (every row block's height is a
/// multiple of MR: [`block_rows`]); a panel of columns `j0..j0+NR` is computed for that tile
/// iff `j0 + NR > ⌊i/MR⌋·MR`. So the skipped columns of row `i` are exactly those below
/// `⌊⌊i/MR⌋·MR / NR⌋·NR` (never past `i`, and never fewer than for the row above).
///
/// Eight rows at a time, the columns below all eight rows' cut go as 8×8 blocks through
/// [`MicroKernel::transpose8`] (an element-by-element copy read the upper triangle a column at
/// a time: 8% of a 256² Newton–Schulz's samples under `perf`); the rest element by element.
///
/// # Panics
/// If `out` is shorter than `m × m` (the callers check first).
pub(super) fn mirror_skipped<K: MicroKernel>(out: &mut [f32], m: usize) {
    const { assert!(K::NR.is_multiple_of(8)) };
    let cut = |i: usize| (i / K::MR * K::MR) / K::NR * K::NR;
    let out = &mut out[..m * m];
    let octets = m - m % 8;
    for i0 in (0..octets).step_by(8) {
        let whole = cut(i0); // a multiple of NR, so of 8; ≤ every cut of rows i0..i0 + 8
        let p = out.as_mut_ptr();
        for j0 in (0..whole).step_by(8) {
            // SAFETY: the block of rows j0..j0 + 8 ≤ i0, columns i0..i0 + 8 and the block of
            // rows i0..i0 + 8, columns j0..j0 + 8 lie inside the m × m `out` and share no
            // element (their rows differ); both go through the one pointer `p`.
            unsafe { K::transpose8(p.add(j0 * m + i0), p.add(i0 * m + j0), m) };
        }
        for i in i0..i0 + 8 {
            for j in whole..cut(i) {
                out[i * m + j] = out[j * m + i];
            }
        }
    }
    // The last m mod 8 rows, element by element.
    debug_assert!(m - octets < 8);
    for i in octets..m {
        for j in 0..cut(i) {
            out[i * m + j] = out[j * m + i];
        }
    }
}

/// One product for the driver: `out (m×n) = A (m×k, rows lda apart) · B (k×n)`. With
/// `upper = Some(row0)` (`row0`: the index of `a`'s first row in the whole symmetric product),
/// only tiles that touch the upper triangle (`i ≤ j`) are computed and the rest of `out` is
/// left for the caller to mirror.
struct Product<'a, 'o> {
    a: &'a [f32],
    lda: usize,
    b: Operand<'a>,
    /// `out`'s first element: a raw pointer, since the bands of a threaded product write
    /// each other's rows ([`Band`]); `m × n` floats, rows `n` apart, written only by this
    /// product while it runs.
    out: *mut f32,
    /// `out` is borrowed mutably for `'o`.
    _out: PhantomData<&'o mut [f32]>,
    m: usize,
    k: usize,
    n: usize,
    upper: Option<usize>,
    /// The threaded product's shared panels (built for `b`: `k × n`, its layout, panels `NR`
    /// wide).
    shared: Option<&'a SharedPanels<'a>>,
    /// Which of its units the product runs.
    units: Units<'a>,
}

/// Which units of a product (one depth slice of one row block against one panel: the work
/// between two visits of [`sweep`]'s panel loop) [`sweep`] runs.
#[derive(Clone, Copy)]
enum Units<'a> {
    /// All of them, in order.
    All,
    /// Those its [`Band`] hands its owner, in order, until the rest are taken by others.
    Owner(&'a Band),
    /// Panel `jp` of depth slice `slice` only: a unit another band took, of a product that
    /// is one row block of the band's.
    One {
        /// The depth slice.
        slice: usize,
        /// The panel.
        jp: usize,
    },
}

/// The blocked product `p`.
///
/// # Safety
/// The CPU runs `K`; `p.a` holds `m` rows of stride `lda ≥ k`, `p.b` holds `k × n` under its
/// strides, and `p.out` holds `m × n`.
unsafe fn gemm<K: MicroKernel>(p: Product<'_, '_>) {
    if p.k == 0 {
        // SAFETY: `out` holds m × n floats (the caller's contract); all-zero bits are 0.0.
        unsafe { core::ptr::write_bytes(p.out, 0, p.m * p.n) };
        return;
    }
    // SAFETY: the caller's contract.
    unsafe {
        if one_block_product::<K>(p.upper.is_none(), (p.m, p.k, p.n), p.b) {
            one_block::<K>(p);
        } else if p.lda >= COPY_LEFT_MIN_STRIDE && slice_depth(p.k) == KC {
            // (The copy's rows hold `KC` floats: a single deeper slice reads `A` in place.)
            gemm_copying_left::<K>(p);
        } else {
            sweep_with_panel::<K>(p, None);
        }
    }
}

/// [`sweep_with_panel`] with a stack block for copies of the left operand. Its own frame,
/// never inlined, so the products that read `A` in place (the small ones) neither reserve nor
/// probe its 153 KiB.
///
/// # Safety
/// As [`gemm`].
#[inline(never)]
unsafe fn gemm_copying_left<K: MicroKernel>(p: Product<'_, '_>) {
    let mut block = LeftBlock([MaybeUninit::uninit(); MC * PACKED_LDA]);
    // SAFETY: the caller's contract.
    unsafe { sweep_with_panel::<K>(p, Some(&mut block)) };
}

/// [`sweep`], with a packed-panel buffer only if some panel of the right operand is packed.
/// A product that reads every panel in place (a row-major operand that [`direct`] admits: the
/// small ones) neither reserves nor probes the panel's 40 KiB
/// of stack: at 16³, probing its eight pages took a sixth of the driver's time.
///
/// # Safety
/// As [`gemm`].
unsafe fn sweep_with_panel<K: MicroKernel>(p: Product<'_, '_>, block: Option<&mut LeftBlock>) {
    // SAFETY: the caller's contract; `sweep` writes no panel when every one is read in place.
    unsafe {
        if in_place::<K>(p.b, p.k, p.n) {
            sweep::<K>(p, block, core::ptr::null_mut());
        } else {
            sweep_packing::<K>(p, block);
        }
    }
}

/// Whether [`gemm`] runs a `plain` (not symmetric) `m × k × n` product with right operand `b`
/// as [`one_block`]: one depth slice of at most `MC` rows, `b` read in place.
fn one_block_product<K: MicroKernel>(
    plain: bool,
    (m, k, n): (usize, usize, usize),
    b: Operand<'_>,
) -> bool {
    plain && m <= MC && k <= KC && n >= 1 && in_place::<K>(b, k, n)
}

/// Whether [`sweep`] reads every panel of `b` (`k × n`) in place: row-major, rows close
/// enough for their depth ([`direct`]), and a whole number of panels wide unless the kernel
/// masks.
fn in_place<K: MicroKernel>(b: Operand<'_>, k: usize, n: usize) -> bool {
    b.col_stride == 1 && direct(b.row_stride, k) && (K::MASKED_TAIL || n.is_multiple_of(K::NR))
}

/// Whether a row-major right operand `k` deep with rows `row_stride` floats apart is read in
/// place rather than packed: at most [`DIRECT_MAX_STRIDE`] apart, or fewer than twice that
/// and at most [`DIRECT_SHALLOW_MAX_DEPTH`] deep.
fn direct(row_stride: usize, k: usize) -> bool {
    row_stride <= DIRECT_MAX_STRIDE
        || (row_stride < 2 * DIRECT_MAX_STRIDE && k <= DIRECT_SHALLOW_MAX_DEPTH)
}

/// A plain product that is one block of [`sweep`]'s: one depth slice (`k ≤ KC`), at most `MC`
/// rows, and a right operand read in place ([`in_place`]): its
/// panels and row tiles, without the sweep's bookkeeping (packing, copies, prefetches, the
/// triangle), which at 16³ took a third as long as the multiply-adds. 16³ ran in 132 ns
/// instead of 163, 32³ and 64³ 8% and 4% faster (minimum of 300 samples each, Zen 3 EPYC,
/// AVX2, 2026-12-07). Same tiles in the same order, so the same bits; a narrow last panel
/// runs with the full one before it as one wide tile where the kernel has one
/// ([`Grid::ends_wide`]): 72³ 7.9 → 7.7–7.8 µs, 104³ 23.8 → 23.4, 120³ 35.5 → 35.1–35.2
/// (minima of 2,000–20,000 calls, three alternating runs, Zen 3 EPYC, AVX2, 2026-12-07).
///
/// # Safety
/// As [`gemm`], with `p.m ≤ MC`, `p.k ≤ KC`, `p.n ≥ 1` and `p.b` read in place
/// ([`in_place`]).
unsafe fn one_block<K: MicroKernel>(p: Product<'_, '_>) {
    let grid = Grid {
        shift: 0,
        panels: p.n.div_ceil(K::NR),
    };
    let wide = grid.ends_wide::<K>(p.n);
    for jp in 0..grid.panels - usize::from(wide) {
        let (j0, cols) = grid.span::<K>(jp, p.n);
        // The last full panel and the narrow one after it, as one.
        let pair = wide && jp + 2 == grid.panels;
        let (cols, step) = if pair {
            (p.n - j0, K::WIDE_MR)
        } else {
            (cols, tile_rows::<K>(cols))
        };
        for i0 in (0..p.m).step_by(step) {
            // SAFETY: rows i0..i0+rows of A (lda ≥ k apart) and of out (n apart) exist, and
            // B's k rows hold n readable floats from column j0 on (the caller's contract).
            unsafe {
                let tile = Tile {
                    a: p.a.as_ptr().add(i0 * p.lda),
                    lda: p.lda,
                    b: p.b.data.as_ptr().add(j0),
                    ldb: p.b.row_stride,
                    c: p.out.add(i0 * p.n + j0),
                    ldc: p.n,
                    kc: p.k,
                    cols,
                    overwrite: true,
                };
                let rows = step.min(p.m - i0);
                if pair {
                    K::tile_wide(rows, tile, tile.b.add(K::NR));
                } else {
                    run_tile::<K>(rows, tile);
                }
            }
        }
    }
}

/// [`MicroKernel::tile_wide`] as two panels: the full one by [`MicroKernel::tile`], the
/// narrow one after it by [`MicroKernel::tile_narrow`].
///
/// # Safety
/// As [`MicroKernel::tile_wide`].
unsafe fn wide_apart<K: MicroKernel + ?Sized>(rows: usize, t: Tile, tail: *const f32) {
    // SAFETY: the caller's contract covers both panels' columns.
    unsafe {
        K::tile(rows, Tile { cols: K::NR, ..t });
        let narrow = Tile {
            b: tail,
            c: t.c.add(K::NR),
            cols: t.cols - K::NR,
            ..t
        };
        K::tile_narrow(rows, narrow);
    }
}

/// [`sweep`] with a packed-panel buffer on the stack. Its own frame, never inlined (see
/// [`sweep_with_panel`]).
///
/// # Safety
/// As [`gemm`].
#[inline(never)]
unsafe fn sweep_packing<K: MicroKernel>(p: Product<'_, '_>, block: Option<&mut LeftBlock>) {
    let mut panel = Panel([MaybeUninit::uninit(); ONE_SLICE_MAX * MAX_NR]);
    // SAFETY: the caller's contract; the panel holds ONE_SLICE_MAX × MAX_NR floats.
    unsafe { sweep::<K>(p, block, panel.0.as_mut_ptr().cast::<f32>()) };
}

/// The loops of [`gemm`] (`k ≥ 1`): depth slices, row blocks of `A` (copied into `block` when
/// one is given, read in place otherwise: the same values in the same order, so the same
/// bits), right-operand panels, row tiles. Never inlined: one copy serves both
/// [`sweep_with_panel`] paths.
///
/// # Safety
/// As [`gemm`] (with slices of at most `KC` when `block` is given: its rows hold that many
/// floats); `panel` holds `ONE_SLICE_MAX × MAX_NR` writable floats, or is null when every
/// panel of `p.b` is read in place ([`in_place`]).
#[inline(never)]
unsafe fn sweep<K: MicroKernel>(
    p: Product<'_, '_>,
    mut block: Option<&mut LeftBlock>,
    panel: *mut f32,
) {
    let Product {
        a,
        lda,
        b,
        out,
        m,
        k,
        n,
        upper,
        shared,
        units: which,
        ..
    } = p;
    const { assert!(K::NR <= MAX_NR && MC.is_multiple_of(K::MR)) };
    let direct = b.col_stride == 1 && direct(b.row_stride, k);
    let depth = slice_depth(k);
    // A copied block's rows hold `KC` floats ([`gemm`] copies only then).
    debug_assert!(block.is_none() || depth == KC);
    let mc = block_rows(m, depth, K::MR);
    // The bands of a threaded product keep the plain grid (see `Grid`).
    let grid = Grid::of::<K>(
        b,
        n,
        upper.is_none() && shared.is_none() && matches!(which, Units::All),
    );
    let panels = grid.panels;
    // A plain product's narrow last panel runs with the full one before it as wide tiles
    // (both packed first, when packed, by the block's first tile of each, into the two
    // halves of the stack panel). Not with shared panels, which are claimed one by one, nor
    // in a band whose units others may take (a unit is one panel).
    const { assert!(K::WIDE_MR == 0 || (2 * K::NR <= MAX_NR && K::WIDE_MR <= K::MR)) };
    let wide = upper.is_none()
        && shared.is_none()
        && matches!(which, Units::All)
        && b.col_stride == 1
        && grid.ends_wide::<K>(n);
    // Panels, a wide pair counted once.
    let units = panels - usize::from(wide);
    // The panel each depth slice starts at (a band of a threaded product starts apart from
    // the others, so each packs its own share of the shared panels).
    let start = match which {
        Units::Owner(band) => band.start,
        Units::All | Units::One { .. } => 0,
    };
    for (slice, p0) in (0..k).step_by(depth).enumerate() {
        if let Units::One { slice: only, .. } = which
            && slice != only
        {
            continue;
        }
        let kc = depth.min(k - p0);
        for i_blk in (0..m).step_by(mc) {
            let i_end = (i_blk + mc).min(m);
            // The block's first element and the floats between its rows: the copy, or A in place.
            let (a_blk, ld_blk) = match block.as_deref_mut() {
                Some(block) => (
                    copy_left(block, &a[i_blk * lda..], lda, i_end - i_blk, p0, kc),
                    PACKED_LDA,
                ),
                // SAFETY: row i_blk < m of A, column p0 < k ≤ lda (the caller's contract).
                None => (unsafe { a.as_ptr().add(i_blk * lda + p0) }, lda),
            };
            for q in 0..units {
                // Panel `start + q`, wrapped.
                let jp = wrapped(start, q, units);
                match which {
                    Units::All => {}
                    // The rest of the band's units were taken: done.
                    Units::Owner(band) => {
                        if !band.take_front() {
                            return;
                        }
                    }
                    Units::One { jp: only, .. } => {
                        if jp != only {
                            continue;
                        }
                    }
                }
                let (j0, cols) = grid.span::<K>(jp, n);
                // A tile touches the upper triangle iff its first row ≤ its last column.
                if upper.is_some_and(|row0| row0 + i_blk >= j0 + cols) {
                    continue;
                }
                // Where the tiles read the panel, and whether the first tile reads it in place
                // and packs it for the others (a row-major operand too wide to read in place).
                // With shared panels: a published one is read, not packed; a claimed one is
                // packed into the shared storage and published after the first tile.
                let (mut bp, mut ldb, mut pack) = if b.col_stride == 1 {
                    let in_place = direct && (K::MASKED_TAIL || cols == K::NR);
                    // SAFETY: row p0, column j0 of B lie inside its k × n elements.
                    let at = unsafe { b.data.as_ptr().add(p0 * b.row_stride + j0) };
                    if in_place {
                        (at, b.row_stride, Pack::No)
                    } else {
                        match shared.map(|s| s.claim(slice, jp)) {
                            Some(Claim::Ready(packed)) => (packed, K::NR, Pack::No),
                            Some(Claim::Mine(dst, flag)) => {
                                (at, b.row_stride, Pack::Into(dst, Some(flag)))
                            }
                            Some(Claim::Busy) | None => (at, b.row_stride, Pack::Into(panel, None)),
                        }
                    }
                } else {
                    // A transposed panel is packed by a pass of its own, into the shared
                    // storage (published at once) or the stack panel.
                    match shared.map(|s| s.claim(slice, jp)) {
                        Some(Claim::Ready(packed)) => (packed, K::NR, Pack::No),
                        claim => {
                            let (dst, publish) = match claim {
                                Some(Claim::Mine(dst, flag)) => (dst, Some(flag)),
                                _ => (panel, None),
                            };
                            // SAFETY: the caller's contract on b's shape; `dst` holds kc × NR.
                            unsafe { pack_transposed::<K>(dst, b, p0, kc, j0, cols) };
                            if let Some(flag) = publish {
                                flag.store(READY, Ordering::Release);
                            }
                            (dst.cast_const(), K::NR, Pack::No)
                        }
                    }
                };
                // With a wide pair, where the narrow panel's tiles read it and its width. It is
                // packed exactly when the full one is (`Grid::ends_wide`: a masking kernel,
                // no shared panels), by the same first tile, into the stack panel's second
                // half.
                let mut tail = (wide && q + 1 == units).then(|| {
                    let (jt, tail_cols) = grid.span::<K>(jp + 1, n);
                    // SAFETY: row p0, column jt of B lie inside its k × n elements.
                    (
                        unsafe { b.data.as_ptr().add(p0 * b.row_stride + jt) },
                        tail_cols,
                    )
                });
                // The next panel of a wide row-major operand, a share of whose rows is prefetched
                // before each tile of this one, so the next panel's first tile (which packs it)
                // finds its lines in cache instead of waiting on L3 for each.
                let next_jp = if jp + 1 < panels { jp + 1 } else { 0 };
                let (next, next_cols) = grid.span::<K>(next_jp, n);
                let packed_already =
                    |s: &SharedPanels<'_>| s.flag(slice, next_jp).load(Ordering::Relaxed) == READY;
                let ahead = (b.col_stride == 1
                    && b.row_stride >= PREFETCH_MIN_STRIDE
                    && !matches!(which, Units::One { .. })
                    && q + 1 < units
                    && !shared.is_some_and(packed_already))
                .then(|| b.data.as_ptr().wrapping_add(p0 * b.row_stride + next));
                // Depth steps of the next panel prefetched per `MR` rows of this one.
                let share = match ahead {
                    Some(_) => kc.div_ceil((i_end - i_blk).div_ceil(K::MR)),
                    None => 0,
                };
                let mut i0 = i_blk;
                while i0 < i_end {
                    if upper.is_some_and(|row0| row0 + i0 >= j0 + cols) {
                        break;
                    }
                    // A tile that packs a panel has `MR` rows; a wide one `WIDE_MR`; the
                    // others as many as `tile_rows` gives the panel's width.
                    let step = match (pack, tail) {
                        (Pack::Into(..), _) => K::MR,
                        (Pack::No, Some(_)) => K::WIDE_MR,
                        (Pack::No, None) => tile_rows::<K>(cols),
                    };
                    let rows = step.min(i_end - i0);
                    // The tile's columns: the panel's, and the narrow one's with it.
                    let unit_cols = cols + tail.map_or(0, |(_, tail_cols)| tail_cols);
                    if let Some(src) = ahead {
                        let last = next_cols - 1;
                        let first = (i0 - i_blk) / K::MR * share;
                        for p in (first..kc).take(share * rows.div_ceil(K::MR)) {
                            let row = src.wrapping_add(p * b.row_stride);
                            prefetch(row);
                            prefetch(row.wrapping_add(last));
                        }
                    }
                    // SAFETY: rows i0..i0+rows of the block have ld_blk ≥ kc columns from a_blk; bp
                    // points at kc rows of stride ldb with `cols` readable floats each (NR
                    // unless the kernel masks: B in place, or the panel the first tile or
                    // `pack_transposed` wrote), and so does a wide pair's narrow panel with
                    // its own columns; the panel holds ONE_SLICE_MAX × MAX_NR floats (two
                    // halves of ONE_SLICE_MAX × NR for a wide pair); out holds rows
                    // i0..i0+rows with n ≥ j0 + unit_cols columns (the caller's contract).
                    unsafe {
                        let c = out.add(i0 * n + j0);
                        if p0 > 0 {
                            prefetch_tile(c, n, rows, unit_cols);
                        }
                        let tile = Tile {
                            a: a_blk.add((i0 - i_blk) * ld_blk),
                            lda: ld_blk,
                            b: bp,
                            ldb,
                            c,
                            ldc: n,
                            kc,
                            cols,
                            overwrite: p0 == 0,
                        };
                        match (pack, tail.as_mut()) {
                            (Pack::Into(dst, publish), pair) => {
                                K::tile_packing(rows, tile, dst);
                                if let Some(flag) = publish {
                                    flag.store(READY, Ordering::Release);
                                }
                                (bp, ldb, pack) = (dst.cast_const(), K::NR, Pack::No);
                                // A wide pair's narrow panel: packed by a tile of its own.
                                if let Some((bt, tail_cols)) = pair {
                                    let narrow = Tile {
                                        b: *bt,
                                        c: c.add(cols),
                                        cols: *tail_cols,
                                        ..tile
                                    };
                                    let dst = panel.add(ONE_SLICE_MAX * K::NR);
                                    K::tile_packing(rows, narrow, dst);
                                    *bt = dst.cast_const();
                                }
                            }
                            (Pack::No, Some(&mut (bt, _))) => {
                                let both = Tile {
                                    cols: unit_cols,
                                    ..tile
                                };
                                K::tile_wide(rows, both, bt);
                            }
                            (Pack::No, None) => run_tile::<K>(rows, tile),
                        }
                    }
                    i0 += rows;
                }
            }
        }
    }
}

/// Where the right operand's panels lie: `NR` columns each from column 0, except that a plain
/// product's row-major operand with rows at least [`MicroKernel::ALIGN_MIN_STRIDE`] floats apart that all
/// sit at the same offset from a 64-byte line (a row stride that is a multiple of
/// [`LINE_FLOATS`]) but do not start on one begins with a narrower panel that ends on a line,
/// so every later panel starts on one. Then neither its 16-float rows in the operand nor
/// those of the output tiles (at the same offset when the output is too) straddle two lines.
/// Only for kernels that mask their loads ([`MicroKernel::MASKED_TAIL`]): a narrow panel costs
/// them a full one's multiply-adds and nothing more, where the others pack it by a separate
/// pass. Which columns a tile holds changes no element's multiply-adds: the same bits.
/// Symmetric products keep the plain grid, which [`mirror_skipped`] assumes, and so do the
/// bands of a threaded product ([`Band`]), whose units are numbered by its panels: where they
/// share their panels ([`SharedPanels`]) each panel is packed once in all, and with the
/// shifted grid the threaded 2048³ product was 2–3% slower.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Grid {
    /// Columns of the first panel when it is the narrow one (`0 < shift < LINE_FLOATS`), or 0.
    shift: usize,
    /// Panels across the operand.
    panels: usize,
}

impl Grid {
    /// The grid for right operand `b` (`n` columns) of a `plain` product (not a symmetric one).
    fn of<K: MicroKernel>(b: Operand<'_>, n: usize, plain: bool) -> Grid {
        // Floats past the last line boundary (an f32 is 4-byte aligned).
        let off = (b.data.as_ptr() as usize / 4) % LINE_FLOATS;
        let shifts = plain
            && K::MASKED_TAIL
            && off != 0
            && b.col_stride == 1
            && b.row_stride >= K::ALIGN_MIN_STRIDE
            && b.row_stride.is_multiple_of(LINE_FLOATS);
        let shift = LINE_FLOATS - off;
        match n.checked_sub(shift) {
            // The narrow panel, then whole ones (a last narrow one where they do not fit).
            Some(rest) if shifts => Grid {
                shift,
                panels: 1 + rest.div_ceil(K::NR),
            },
            _ => Grid {
                shift: 0,
                panels: n.div_ceil(K::NR),
            },
        }
    }

    /// Whether the last panel is narrow (at most `NR / 2` columns) after a full one, so the two
    /// run as one wide tile ([`MicroKernel::tile_wide`]), for a kernel that has one and masks
    /// its loads (so both panels are read in place, or both packed).
    fn ends_wide<K: MicroKernel>(self, n: usize) -> bool {
        K::WIDE_MR > 0 && K::MASKED_TAIL && self.panels >= 2 && {
            let (_, before) = self.span::<K>(self.panels - 2, n);
            let (_, last) = self.span::<K>(self.panels - 1, n);
            before == K::NR && last <= K::NR / 2
        }
    }

    /// The first column and the width of panel `jp < panels` of an `n`-column operand.
    fn span<K: MicroKernel>(self, jp: usize, n: usize) -> (usize, usize) {
        let (j0, width) = match (self.shift, jp) {
            (0, _) => (jp * K::NR, K::NR),
            (shift, 0) => (0, shift),
            (shift, _) => (shift + (jp - 1) * K::NR, K::NR),
        };
        (j0, width.min(n - j0))
    }
}

/// Rows per micro-kernel call on a panel `cols` wide: `2·MR` for one at most `NR / 2` wide
/// ([`MicroKernel::tile_narrow`]), `MR` otherwise.
fn tile_rows<K: MicroKernel>(cols: usize) -> usize {
    if cols <= K::NR / 2 { 2 * K::MR } else { K::MR }
}

/// One tile of `rows` rows (at most [`tile_rows`]`(t.cols)`): [`MicroKernel::tile_narrow`] on a
/// panel at most `NR / 2` wide, [`MicroKernel::tile`] otherwise.
///
/// # Safety
/// As [`MicroKernel::tile`], for `rows ≤ tile_rows::<K>(t.cols)` rows.
unsafe fn run_tile<K: MicroKernel>(rows: usize, t: Tile) {
    // SAFETY: the caller's contract; `tile_narrow` takes up to 2·MR rows of a panel that narrow.
    unsafe {
        if t.cols <= K::NR / 2 {
            K::tile_narrow(rows, t);
        } else {
            K::tile(rows, t);
        }
    }
}

/// Whether a panel's first tile packs it, and where to.
#[derive(Clone, Copy)]
enum Pack<'s> {
    /// The tiles read the panel where it is (in place, packed already, or shared and ready).
    No,
    /// The first tile packs it into this `kc × NR` storage (the stack panel, or a shared one
    /// whose flag it then publishes).
    Into(*mut f32, Option<&'s AtomicU8>),
}

/// Depth of the slices (the last one may be shorter) of a `k`-deep product: all of `k` when
/// `k ≤ ONE_SLICE_MAX`, `KC` otherwise. Cut at `KC`, a product a little deeper ends with a
/// slice of a few depth steps that costs every output tile a full pass (its call, a load and an
/// add of the tile, each panel packed again) for a sliver of the work: as one slice, 264³ to
/// 320³ ran 3.5–4% faster (Zen 3, 2026-12-07). Every kernel slices alike, so all of them still
/// give the same bits.
fn slice_depth(k: usize) -> usize {
    if k <= ONE_SLICE_MAX { k.max(1) } else { KC }
}

/// Whether `rows` rows of the left operand's `kc`-deep slice fit one row block's budget of
/// `MC × KC` floats ([`block_rows`]).
fn fits_one_block(rows: usize, kc: usize) -> bool {
    rows.saturating_mul(kc) <= MC * KC
}

/// Whether the left operand of a `k`-deep product, `rows` rows of it, is swept as one row
/// block per depth slice ([`block_rows`] of the slices' depth).
#[cfg_attr(not(feature = "parallel"), allow(dead_code))]
pub(super) fn one_row_block(rows: usize, k: usize) -> bool {
    fits_one_block(rows, slice_depth(k))
}

/// Rows per row block for an `m`-row product with depth slices `kc` deep and row tile `mr` (a
/// divisor of `MC`): as few blocks as the budget of `MC × KC` floats of `A` per block allows
/// (at most `MC` rows, fewer for a slice deeper than `KC`: [`slice_depth`]), of equal height
/// rounded up to whole tiles, so no block is a sliver. Every block reads the whole right
/// operand's depth slice once (its first tile packs each panel), so a 16-row last block
/// (1024 = 7 · 144 + 16) paid that read for a sixteenth of the work; 1024 rows now run as 7
/// blocks of 132 and one of 100. One block (`m` rounded up to a tile) whenever the left
/// operand's whole slice fits the budget (`m · kc ≤ MC · KC`): also 145–192 rows of a square
/// product, which then packs each panel once instead of twice (168³–192³ 1–2% faster, Zen 3).
/// At least one tile (a usable step even for `m = 0`).
fn block_rows(m: usize, kc: usize, mr: usize) -> usize {
    if fits_one_block(m, kc) {
        // One block (no run-time division: small products count every cycle).
        return m.max(1).next_multiple_of(mr);
    }
    let most = if kc <= KC {
        MC
    } else {
        (MC * KC / kc / mr).max(1) * mr
    };
    m.div_ceil(m.div_ceil(most)).next_multiple_of(mr)
}

/// Copies columns `p0..p0 + kc` of the first `rows ≤ MC` rows of `a` (rows `lda` apart) into
/// `block`, rows [`PACKED_LDA`] apart, and returns the copy's first element.
///
/// # Panics
/// If `a` does not hold those elements or `kc > KC` (the driver's shapes never do).
fn copy_left(
    block: &mut LeftBlock,
    a: &[f32],
    lda: usize,
    rows: usize,
    p0: usize,
    kc: usize,
) -> *const f32 {
    for (r, dst) in block.0.chunks_exact_mut(PACKED_LDA).take(rows).enumerate() {
        let (src, dst) = (&a[r * lda + p0..][..kc], &mut dst[..kc]);
        // SAFETY: both slices hold `kc` floats (`MaybeUninit<f32>` has `f32`'s layout), and a
        // shared and an exclusive borrow cannot overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast::<f32>(), kc);
        }
    }
    block.0.as_ptr().cast::<f32>()
}

/// Asks the cache for the lines of a `rows × cols` output tile (rows `ldc` floats apart) that
/// the micro-kernel is about to accumulate into (a later depth slice's tile: the first one only
/// stores, and prefetching for it cost 1–2% from 136³ to 256³, Zen 3). At wide sizes the tile
/// was last touched one row block ago and sits in L3; the kernel's depth loop hides the fetch.
/// A hint only: it reads and changes nothing.
#[inline(always)]
fn prefetch_tile(c: *const f32, ldc: usize, rows: usize, cols: usize) {
    for r in 0..rows {
        let row = c.wrapping_add(r * ldc);
        // One address in each 64-byte line the row's `cols` floats touch.
        for x in (0..cols).step_by(16) {
            prefetch(row.wrapping_add(x));
        }
        prefetch(row.wrapping_add(cols - 1));
    }
}

/// A prefetch hint for the line holding `p` (into L1). Never faults, whatever `p` is.
#[inline(always)]
fn prefetch(p: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` has no architectural effect and does not fault on any address.
    unsafe {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `prfm` has no architectural effect and does not fault on any address.
    unsafe {
        core::arch::asm!("prfm pldl1keep, [{p}]", p = in(reg) p, options(nostack, readonly, preserves_flags));
    }
}

/// Copies `B[p0..p0+kc, j0..j0+cols]` of a transposed right operand (the Gram product's `Xᵀ`,
/// `b.row_stride == 1`) into `dst` as `kc` rows of `NR`, zero-padding columns past `cols`, by
/// the kernel's [`MicroKernel::pack_columns`]. (A row-major operand is packed by its block's
/// first tile instead: [`MicroKernel::tile_packing`].)
///
/// # Safety
/// The CPU runs `K`; `dst` holds `kc × NR` writable floats; `b` holds every element `(p, j)`
/// with `p < p0 + kc`, `j < j0 + cols` under its strides, and `b.row_stride == 1`.
unsafe fn pack_transposed<K: MicroKernel>(
    dst: *mut f32,
    b: Operand<'_>,
    p0: usize,
    kc: usize,
    j0: usize,
    cols: usize,
) {
    // SAFETY: the caller's contract: column j0 + c of the panel is the run of kc floats from
    // (p0, j0 + c), and consecutive columns are col_stride floats apart.
    unsafe {
        let src = b.data.as_ptr().add(p0 + j0 * b.col_stride);
        K::pack_columns(dst, src, b.col_stride, kc, cols);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{gram_portable, matmul_portable};
    use super::*;
    use crate::test_data::data;
    use std::vec;
    use std::vec::Vec;

    /// Runs `$check::<K>(name)` for every micro-kernel of this architecture that this CPU
    /// supports, and prints which ran and which did not (`.ci/run` shows it with
    /// `--nocapture`; an AVX-512 machine, or the emulator run, covers the AVX-512 kernel).
    macro_rules! each_kernel {
        ($test:literal, $check:ident) => {{
            #[cfg(target_arch = "x86_64")]
            {
                each_kernel!(@one $test, $check, super::super::x86_avx2::Avx2, "avx2");
                each_kernel!(@one $test, $check, super::super::x86_avx512::Avx512, "avx512");
            }
            #[cfg(target_arch = "aarch64")]
            each_kernel!(@one $test, $check, super::super::aarch64_neon::Neon, "neon");
        }};
        (@one $test:literal, $check:ident, $k:ty, $name:literal) => {
            if <$k as MicroKernel>::supported() {
                $check::<$k>($name);
                std::println!("{}: ran the {} kernel", $test, $name);
            } else {
                std::println!("{}: the {} kernel is not supported here", $test, $name);
            }
        };
    }

    /// Agreement with the portable kernel to a few ulps of the sum of |terms| (≤ k).
    fn close(got: &[f32], want: &[f32], k: usize) -> bool {
        got.iter()
            .zip(want)
            .all(|(g, w)| (g - w).abs() <= 4.0 * f32::EPSILON * k as f32)
    }

    fn bits(x: &[f32]) -> Vec<u32> {
        x.iter().map(|v| v.to_bits()).collect()
    }

    /// Every guard on its own: a slice too short for its shape, or rows outside the matrix or
    /// not on a row-tile boundary, returns `false` and writes nothing (the kernels would read
    /// or write out of bounds otherwise).
    fn refuses<K: MicroKernel>(name: &str) {
        let mr = K::MR;
        let (m, k, n) = (2 * mr, 10, 14);
        let a = data(m * k, 1);
        let b = data(k * n, 2);
        let mut out = vec![7.0f32; m * n];
        assert!(!matmul::<K>(&a[1..], &b, &mut out, m, k, n), "{name}");
        assert!(!matmul::<K>(&a, &b[1..], &mut out, m, k, n), "{name}");
        assert!(!matmul::<K>(&a, &b, &mut out[1..], m, k, n), "{name}");
        assert!(!matmul::<K>(&a, &b, &mut out, usize::MAX, 2, n), "{name}");
        assert!(out.iter().all(|&x| x == 7.0), "{name}");
        assert!(matmul::<K>(&a, &b, &mut out, m, k, n), "{name}");

        let mut g = vec![7.0f32; m * m];
        assert!(!gram_upper_rows::<K>(&a[1..], &mut g, m, k, 0, m, None));
        assert!(!gram_upper_rows::<K>(&a, &mut g[1..], m, k, 0, m, None));
        assert!(!gram_upper_rows::<K>(&a, &mut g, m, k, mr, m, None)); // rows past m
        assert!(!gram_upper_rows::<K>(&a, &mut g, m, k, mr / 2, mr, None)); // not a multiple of MR
        assert!(!gram_upper_rows::<K>(&a, &mut g, m, k, usize::MAX, 1, None)); // overflow
        let sq = data(m * m, 3);
        assert!(!square_symmetric_upper_rows::<K>(
            &sq[1..],
            &mut g,
            m,
            0,
            m,
            None
        ));
        assert!(!square_symmetric_upper_rows::<K>(
            &sq,
            &mut g[1..],
            m,
            0,
            m,
            None
        ));
        assert!(!square_symmetric_upper_rows::<K>(
            &sq, &mut g, m, mr, m, None
        ));
        assert!(!square_symmetric_upper_rows::<K>(
            &sq,
            &mut g,
            m,
            mr / 2,
            mr,
            None
        ));
        assert!(g.iter().all(|&x| x == 7.0), "{name}");
        assert!(gram_upper_rows::<K>(&a, &mut g, m, k, 0, m, None), "{name}");
        assert!(
            square_symmetric_upper_rows::<K>(&sq, &mut g, m, mr, mr, None),
            "{name}"
        );
    }

    #[test]
    fn kernels_refuse_short_slices_and_bad_row_ranges() {
        each_kernel!("kernels_refuse_short_slices_and_bad_row_ranges", refuses);
    }

    /// Row tails (m % MR), column tails (n % NR) read in place and packed, several depth
    /// slices (k > 256), row blocks (m > 144), and left operands read in place (k < 512) and
    /// copied.
    const NATIVE_SHAPES: [(usize, usize, usize); 16] = [
        (7, 3, 5),
        // The widest right operand read in place at any depth, and the narrowest packed (with
        // a tail); the widest read in place when shallow, and the narrowest packed then.
        (20, 300, DIRECT_MAX_STRIDE),
        (20, DIRECT_SHALLOW_MAX_DEPTH + 1, DIRECT_MAX_STRIDE + 1),
        (20, DIRECT_SHALLOW_MAX_DEPTH, 2 * DIRECT_MAX_STRIDE - 1),
        (20, 50, 2 * DIRECT_MAX_STRIDE),
        (13, 340, 17),
        (12, 100, 32),
        (6, 513, 16),
        (1, 600, 33),
        (40, 70, 1),
        (25, 40, 100),
        (250, 520, 19),
        (30, 20, 150),
        (14, 30, 161),
        // Two row blocks of 78 and 72 rows in each of two depth slices; right-operand rows
        // 520 floats apart (prefetched panels) with a half-panel tail.
        (150, 330, 520),
        // One block of 192 rows (its slice of A no bigger than a full block's) over a packed
        // right operand with a 2-column tail.
        (190, 150, 130),
    ];

    /// Floats between the start of `s` and the last 64-byte line boundary at or before it.
    fn line_offset(s: &[f32]) -> usize {
        (s.as_ptr() as usize / 4) % LINE_FLOATS
    }

    /// A plain product whose row-major right operand is packed and whose rows all sit off a
    /// line at the same offset starts with a narrow panel (`LINE_FLOATS − offset` columns)
    /// and gives the same bits from every offset; aligned operands, rows at varying offsets,
    /// operands read in place, transposed ones and symmetric products keep the plain grid.
    fn grid_follows_lines<K: MicroKernel>(name: &str) {
        // Under Miri, one width that shifts and one that cannot, and products at four offsets.
        let (m, k, widths): (usize, usize, &[usize]) = if cfg!(miri) {
            (3, 5, &[1024, 1030])
        } else {
            (12, 20, &[1024, 1040, 1030, 992, 512, 496, 64])
        };
        for &n in widths {
            let a = data(m * k, 7);
            let values = data(k * n, 8);
            let mut room = vec![0.0f32; k * n + LINE_FLOATS];
            let mut first: Option<Vec<u32>> = None;
            for skip in 0..LINE_FLOATS {
                room.fill(f32::NAN);
                room[skip..][..k * n].copy_from_slice(&values);
                let b = &room[skip..][..k * n];
                let operand = Operand {
                    data: b,
                    row_stride: n,
                    col_stride: 1,
                };
                let off = line_offset(b);
                let grid = Grid::of::<K>(operand, n, true);
                let shifts = K::MASKED_TAIL
                    && off != 0
                    && n >= K::ALIGN_MIN_STRIDE
                    && n.is_multiple_of(LINE_FLOATS);
                let shift = if shifts { LINE_FLOATS - off } else { 0 };
                assert_eq!(grid.shift, shift, "{name} n {n} offset {off}");
                // The panels cover every column once, in order, at most NR wide, and all but
                // a narrow first one start on a line.
                let mut next = 0;
                for jp in 0..grid.panels {
                    let (j0, cols) = grid.span::<K>(jp, n);
                    assert!(j0 == next && (1..=K::NR).contains(&cols), "{name} n {n}");
                    if shift != 0 && jp > 0 {
                        assert_eq!(line_offset(&b[j0..]), 0, "{name} n {n} panel {jp}");
                    }
                    next = j0 + cols;
                }
                assert_eq!(next, n, "{name} n {n} offset {off}");
                // Symmetric products and transposed operands keep the plain grid.
                let plain = n.div_ceil(K::NR);
                assert_eq!(
                    Grid::of::<K>(operand, n, false),
                    Grid {
                        shift: 0,
                        panels: plain
                    }
                );
                let transposed = Operand {
                    data: b,
                    row_stride: 1,
                    col_stride: k,
                };
                assert_eq!(Grid::of::<K>(transposed, n, true).shift, 0, "{name}");
                if cfg!(miri) && skip % 4 != 1 {
                    continue;
                }
                let mut out = vec![f32::NAN; m * n];
                assert!(matmul::<K>(&a, b, &mut out, m, k, n));
                match &first {
                    None => first = Some(bits(&out)),
                    Some(want) => assert_eq!(&bits(&out), want, "{name} n {n} offset {off}"),
                }
            }
        }
    }

    #[test]
    fn grid_starts_panels_on_lines() {
        each_kernel!("grid_starts_panels_on_lines", grid_follows_lines);
    }

    /// Empty storage and free flags for the shared panels of a `k × n` right operand.
    fn room(nr: usize, k: usize, n: usize, row_major: bool) -> (Vec<f32>, Vec<AtomicU8>) {
        let (floats, flags) = SharedPanels::sizes(nr, k, n, row_major).expect("a packed operand");
        let state = (0..flags).map(|_| AtomicU8::new(FREE)).collect();
        (Vec::with_capacity(floats), state)
    }

    /// The products the bands of a threaded one can share panels in.
    #[derive(Clone, Copy, Debug)]
    enum Banded {
        Matmul,
        Gram,
        Square,
    }

    /// Each product in row bands through shared panels equals the one-call product bit for
    /// bit: bands on their own threads (Miri checks the flags' orderings for data races),
    /// plain bands cut off tile boundaries and starting at different panels (one past the
    /// last, which means the first), and, in the second round, every third panel left to
    /// private copies as if another band were still packing it. Every other panel ends up
    /// published. Panels cut for another operand, layout or kernel are refused.
    fn shared_bands_match<K: MicroKernel>(name: &str) {
        use Banded::{Gram, Matmul, Square};
        use core::sync::atomic::Ordering::Relaxed;
        // Widths that are multiples of a line, with B 4 floats off one: natively the one-call
        // product shifts its grid and the bands keep the plain one, and the bits agree (too
        // slow under Miri, where the rows are closer than ALIGN_MIN_STRIDE: no shift).
        let (m, k, n) = if cfg!(miri) {
            (2 * K::MR + 5, 330, 80)
        } else {
            (150, 330, ALIGN_MIN_STRIDE)
        };
        let a = data(m * k, 5);
        let b_room = data(k * n + LINE_FLOATS, 6);
        let skip = (LINE_FLOATS + 4 - line_offset(&b_room)) % LINE_FLOATS;
        let b = &b_room[skip..][..k * n];
        let b_operand = Operand {
            data: b,
            row_stride: n,
            col_stride: 1,
        };
        let shifted = n >= K::ALIGN_MIN_STRIDE && K::MASKED_TAIL;
        let shift = if shifted { LINE_FLOATS - 4 } else { 0 };
        assert_eq!(Grid::of::<K>(b_operand, n, true).shift, shift, "{name}");
        let mut product = vec![f32::NAN; m * n];
        assert!(matmul::<K>(&a, b, &mut product, m, k, n));
        let mut xxt = vec![f32::NAN; m * m];
        assert!(gram::<K>(&a, &mut xxt, m, k));
        let mut square = vec![f32::NAN; m * m];
        assert!(square_symmetric::<K>(&xxt, &mut square, m));
        // S·S shares only a row-major S that is packed (`direct`): not at Miri's sizes.
        let whats: &[Banded] = if cfg!(miri) {
            &[Matmul, Gram]
        } else {
            &[Matmul, Gram, Square]
        };
        for &what in whats {
            // Columns, depth and layout of the shared operand, the one-call result, the bands.
            let (cols, depth, row_major, want, cuts) = match what {
                Matmul => (n, k, true, &product, [0, m / 3 + 1, 2 * m / 3 + 2, m]),
                Gram => (m, k, false, &xxt, [0, K::MR, 2 * K::MR, m]),
                Square => (m, m, true, &square, [0, K::MR, 2 * K::MR, m]),
            };
            for busy in [false, true] {
                let (mut storage, state) = room(K::NR, depth, cols, row_major);
                let storage = storage.spare_capacity_mut();
                let shape = (depth, cols);
                let shared = SharedPanels::new(storage, &state, K::NR, shape, row_major)
                    .expect("sized by `sizes`");
                if busy {
                    state
                        .iter()
                        .step_by(3)
                        .for_each(|f| f.store(PACKING, Relaxed));
                }
                let starts = [0, shared.panels() / 2, shared.panels()];
                let mut banded = vec![f32::NAN; m * cols];
                if let Matmul = what {
                    // The bands share the output and take each other's last units.
                    let bands: Vec<_> = cuts
                        .windows(2)
                        .zip(starts)
                        .map(|(w, start)| Band::new::<K>(w[0], w[1] - w[0], start, (k, n)))
                        .collect();
                    let out = Output::new(&mut banded);
                    std::thread::scope(|scope| {
                        for me in 0..bands.len() {
                            let (a, out, bands, shared) = (&a, &out, &bands, &shared);
                            scope.spawn(move || {
                                let shape = (m, k, n);
                                let shared = Some(shared);
                                assert!(matmul_bands::<K>(a, b, out, shape, bands, me, shared));
                            });
                        }
                    });
                } else {
                    // Each band its own rows of the upper triangle, then one mirror.
                    std::thread::scope(|scope| {
                        let mut rest = banded.as_mut_slice();
                        for w in cuts.windows(2) {
                            let (r0, rows) = (w[0], w[1] - w[0]);
                            let (band, tail) = core::mem::take(&mut rest).split_at_mut(rows * cols);
                            rest = tail;
                            let (a, s, shared) = (&a, &xxt, Some(&shared));
                            scope.spawn(move || {
                                assert!(match what {
                                    Gram => gram_upper_rows::<K>(a, band, m, k, r0, rows, shared),
                                    _ => square_symmetric_upper_rows::<K>(
                                        s, band, m, r0, rows, shared,
                                    ),
                                });
                            });
                        }
                    });
                    mirror_skipped::<K>(&mut banded, m);
                }
                assert_eq!(bits(&banded), bits(want), "{name} {what:?}, busy {busy}");
                for (i, f) in state.iter().enumerate() {
                    let want = if busy && i % 3 == 0 { PACKING } else { READY };
                    assert_eq!(
                        f.load(Relaxed),
                        want,
                        "{name} {what:?}, busy {busy}: flag {i}"
                    );
                }
            }
        }

        // Refused, writing nothing and claiming nothing: rows past the end, a short operand,
        // and panels cut for another shape, layout or kernel.
        let mut out = vec![7.0f32; m * n];
        let (mut storage, state) = room(K::NR, k, n, true);
        let shared = SharedPanels::new(storage.spare_capacity_mut(), &state, K::NR, (k, n), true)
            .expect("sized by `sizes`");
        let (mut narrow_storage, narrow_state) = room(K::NR / 2, k, n, true);
        let narrow = narrow_storage.spare_capacity_mut();
        let narrower = SharedPanels::new(narrow, &narrow_state, K::NR / 2, (k, n), true)
            .expect("sized by `sizes`");
        // Bands of rows (row0, rows) cut for depth and width (k, n).
        let cut = |rows: &[(usize, usize)], (k, n)| -> Vec<Band> {
            let band = |&(row0, rows)| Band::new::<K>(row0, rows, 0, (k, n));
            rows.iter().map(band).collect()
        };
        let whole = [(0, m)];
        let halves = [(0, m / 2), (m / 2, m - m / 2)];
        let refused = |a: &[f32], b: &[f32], out: &mut [f32], bands: &[Band], me, shared| {
            let out = Output::new(out);
            !matmul_bands::<K>(a, b, &out, (m, k, n), bands, me, shared)
        };
        let shared = Some(&shared);
        // Bands that start past row 0, leave a gap, stop short, run past m, or were cut for
        // another depth or width; band `me` past the last.
        for bands in [
            cut(&[(1, m - 1)], (k, n)),
            cut(&[(0, 2), (3, m - 3)], (k, n)),
            cut(&[(0, m - 1)], (k, n)),
            cut(&[(0, m), (m, usize::MAX)], (k, n)),
            cut(&whole, (k - 1, n)),
            cut(&whole, (k, n + 1)),
        ] {
            assert!(refused(&a, b, &mut out, &bands, 0, shared), "{name}");
        }
        assert!(refused(&a, b, &mut out, &cut(&halves, (k, n)), 2, shared));
        // Short operands and output, panels cut for another kernel's width.
        let bands = cut(&whole, (k, n));
        assert!(refused(&a[1..], b, &mut out, &bands, 0, shared), "{name}");
        assert!(refused(&a, &b[1..], &mut out, &bands, 0, shared), "{name}");
        assert!(refused(&a, b, &mut out[1..], &bands, 0, shared), "{name}");
        assert!(
            refused(&a, b, &mut out, &bands, 0, Some(&narrower)),
            "{name}"
        );
        assert!(
            bands.iter().all(|b| !b.owned.load(Relaxed)),
            "{name}: owned"
        );
        assert!(out.iter().all(|&x| x == 7.0), "{name}: written");
        // A band runs once: run again, it is refused and writes nothing.
        assert!(!refused(&a, b, &mut out, &bands, 0, None), "{name}");
        let mut again = vec![7.0f32; m * n];
        assert!(refused(&a, b, &mut again, &bands, 0, None), "{name}");
        assert!(again.iter().all(|&x| x == 7.0), "{name}: written");
        // Xᵀ is k × m and transposed: the row-major k × m panels do not fit it.
        let mut g = vec![7.0f32; m * m];
        let (mut row_storage, row_state) = room(K::NR, k, m.max(2 * DIRECT_MAX_STRIDE), true);
        let row_major = SharedPanels::new(
            row_storage.spare_capacity_mut(),
            &row_state,
            K::NR,
            (k, m.max(2 * DIRECT_MAX_STRIDE)),
            true,
        )
        .expect("sized by `sizes`");
        assert!(!gram_upper_rows::<K>(
            &a,
            &mut g,
            m,
            k,
            0,
            m,
            Some(&row_major)
        ));
        let (mut t_storage, t_state) = room(K::NR, m, m, false);
        let transposed = SharedPanels::new(
            t_storage.spare_capacity_mut(),
            &t_state,
            K::NR,
            (m, m),
            false,
        )
        .expect("sized by `sizes`");
        assert!(!square_symmetric_upper_rows::<K>(
            &xxt,
            &mut g,
            m,
            0,
            m,
            Some(&transposed)
        ));
        assert!(g.iter().all(|&x| x == 7.0), "{name}: written");
        let free = |s: &[AtomicU8]| s.iter().all(|f| f.load(Relaxed) == FREE);
        assert!(free(&state) && free(&narrow_state), "{name}: claimed");
        assert!(free(&row_state) && free(&t_state), "{name}: claimed");
    }

    #[test]
    fn shared_panels_give_the_same_bits() {
        each_kernel!("shared_panels_give_the_same_bits", shared_bands_match);
    }

    /// A band with `per_slice` units per depth slice and `total` in all, nothing taken.
    fn band_of(per_slice: usize, total: usize) -> Band {
        Band {
            row0: 0,
            rows: 1,
            start: 0,
            cut: Cut {
                k: 1,
                n: 1,
                mr: 1,
                nr: 1,
                mc: 1,
                panels: per_slice,
                per_slice,
                total,
            },
            ends: AtomicU64::new((total as u64) << 32),
            owned: AtomicBool::new(false),
        }
    }

    /// The owner takes units from the front in order; others take only the last depth slice's
    /// units from the back, and only those whose part in the slice before is done (the owner
    /// has taken a later unit since); no unit is taken twice, and a single slice can be taken
    /// whole before its owner starts.
    #[test]
    fn bands_hand_out_each_unit_once() {
        use core::sync::atomic::Ordering::Relaxed;
        // Three slices of four units.
        let band = band_of(4, 12);
        assert_eq!(band.take_back(), None, "nothing of the last slice is ready");
        for _ in 0..8 {
            assert!(band.take_front());
        }
        // The owner runs unit 7 (slice 1's last): unit 11 must wait for it; 10, 9, 8 need
        // units 6, 5, 4 (done), but the owner has taken neither 8 nor beyond.
        assert_eq!(band.take_back(), None, "unit 11 waits on unit 7");
        assert!(band.take_front()); // the owner is on unit 8: unit 7 is done
        assert_eq!(band.take_back(), Some(11));
        assert_eq!(band.take_back(), Some(10));
        assert_eq!(band.take_back(), Some(9));
        assert_eq!(band.take_back(), None, "unit 8 is the owner's");
        assert!(!band.take_front(), "the rest were taken");
        assert!(!band.take_front());

        // One slice: every unit is free from the start, whoever comes.
        let band = band_of(5, 5);
        assert_eq!(band.take_back(), Some(4));
        assert!(band.take_front());
        assert_eq!(band.take_back(), Some(3));
        assert_eq!(band.take_back(), Some(2));
        assert!(band.take_front());
        assert_eq!(band.take_back(), None);
        assert!(!band.take_front());

        // The two ends meet once each unit is taken exactly once.
        let band = band_of(3, 9);
        let mut taken = [0; 9];
        let mut front = 0;
        loop {
            let owner = band.take_front();
            if owner {
                taken[front] += 1;
                front += 1;
            }
            let other = band.take_back();
            if let Some(u) = other {
                taken[u] += 1;
            }
            if !owner && other.is_none() {
                break;
            }
        }
        assert_eq!(taken, [1; 9]);
        assert!(front >= 6, "only the last slice is taken from the back");

        // The first unit of the last slice needs the slice before's first unit done: not
        // while the owner runs it (the units after it already taken).
        let band = band_of(4, 8);
        assert!(band.take_front()); // the owner is on unit 0
        band.ends.store(1 | (5 << 32), Relaxed); // units 5, 6, 7 taken
        assert_eq!(band.take_back(), None, "unit 4 waits on unit 0");
        assert!(band.take_front());
        assert_eq!(band.take_back(), Some(4));
        assert!(band.take_front() && band.take_front()); // units 2 and 3
        assert!(!band.take_front());

        // No units (a band run as one block): nothing to take, the owner runs everything.
        let band = band_of(0, 0);
        assert!(band.take_front());
        assert!(band.take_front());
        assert_eq!(band.take_back(), None);
    }

    /// A band has units to take exactly when its owner sweeps (not one block, some depth),
    /// which is when `gemm` does not run its product as one block.
    fn band_units<K: MicroKernel>(name: &str) {
        let row_major = |n| Operand {
            data: &[],
            row_stride: n,
            col_stride: 1,
        };
        let one_block = |m, k, n| one_block_product::<K>(true, (m, k, n), row_major(n));
        let n = DIRECT_MAX_STRIDE;
        assert!(one_block(MC, KC, n) && one_block(1, 1, K::NR), "{name}");
        assert!(
            !one_block(MC + 1, KC, n) && !one_block(MC, KC + 1, n),
            "{name}"
        );
        assert!(
            !one_block(MC, KC, 0) && !one_block(MC, KC, 2 * n + 1),
            "{name}"
        );
        assert!(
            !one_block_product::<K>(false, (MC, KC, n), row_major(n)),
            "{name}"
        );
        for (rows, k, n, units) in [
            (MC, KC, n, false),
            (MC, 0, 200, false),
            (MC, KC, 200, true),
            (MC + 1, KC, n, true),
            (MC, KC + 1, n, true),
        ] {
            let band = Band::new::<K>(0, rows, 0, (k, n));
            assert_eq!(band.cut.total > 0, units, "{name} {rows}x{k}x{n}");
        }
    }

    #[test]
    fn bands_have_units_exactly_when_swept() {
        each_kernel!("bands_have_units_exactly_when_swept", band_units);
    }

    /// Units taken from the back, run by another band reading the left operand in place,
    /// give the bits of the one-call product: a single-slice product whose second band is
    /// taken whole by the first before it starts (and then finds nothing left), and a deeper
    /// one whose band leaves its last units (some of them in shared panels nobody has packed
    /// yet) to be run afterwards, last first.
    fn taken_units_match<K: MicroKernel>(name: &str) {
        use core::sync::atomic::Ordering::Relaxed;
        // One slice (k ≤ ONE_SLICE_MAX), a packed operand (`direct` declines it): several row
        // blocks per band natively.
        let (m, k, n) = if cfg!(miri) {
            (2 * K::MR + 5, 40, 2 * DIRECT_MAX_STRIDE + 2)
        } else {
            (610, 300, 200)
        };
        let a = data(m * k, 7);
        let b = data(k * n, 8);
        let mut want = vec![f32::NAN; m * n];
        assert!(matmul::<K>(&a, &b, &mut want, m, k, n));
        let (mut storage, state) = room(K::NR, k, n, true);
        let shared = SharedPanels::new(storage.spare_capacity_mut(), &state, K::NR, (k, n), true)
            .expect("sized by `sizes`");
        let half = m / 2;
        let starts = [1, shared.panels() / 2];
        let bands = [(0, half), (half, m - half)]
            .iter()
            .zip(starts)
            .map(|(&(row0, rows), start)| Band::new::<K>(row0, rows, start, (k, n)))
            .collect::<Vec<_>>();
        assert!(
            bands.iter().all(|b| b.cut.total > 0),
            "{name}: units to take"
        );
        let mut got = vec![f32::NAN; m * n];
        let out = Output::new(&mut got);
        let run = |me| matmul_bands::<K>(&a, &b, &out, (m, k, n), &bands, me, Some(&shared));
        assert!(run(0));
        assert_eq!(bands[1].ends.load(Relaxed), 0, "{name}: band 1 taken whole");
        assert!(run(1));
        assert_eq!(bits(&got), bits(&want), "{name}: one slice");

        // Several slices, the left operand copied by the owner (rows ≥ COPY_LEFT_MIN_STRIDE
        // apart) and read in place for the units taken; a narrow last panel.
        let (m, k, n) = if cfg!(miri) {
            (2 * K::MR + 5, 330, 80)
        } else {
            (300, COPY_LEFT_MIN_STRIDE + 100, 210)
        };
        let a = data(m * k, 9);
        let b = data(k * n, 10);
        let mut want = vec![f32::NAN; m * n];
        assert!(matmul::<K>(&a, &b, &mut want, m, k, n));
        for with_shared in [false, true] {
            let (mut storage, state) = room(K::NR, k, n, true);
            let panels =
                SharedPanels::new(storage.spare_capacity_mut(), &state, K::NR, (k, n), true)
                    .expect("sized by `sizes`");
            let shared = with_shared.then_some(&panels);
            let band = Band::new::<K>(0, m, 2, (k, n));
            let Cut {
                per_slice, total, ..
            } = band.cut;
            assert!(total >= 2 * per_slice, "{name}: several slices");
            // The last slice's last units, more than one row block's worth natively, taken
            // before the owner starts (as if the owner had been far enough along).
            let taken = (per_slice * 2 / 3).max(2);
            band.ends.store(((total - taken) as u64) << 32, Relaxed);
            let mut got = vec![f32::NAN; m * n];
            let out = Output::new(&mut got);
            let bands = [band];
            assert!(matmul_bands::<K>(
                &a,
                &b,
                &out,
                (m, k, n),
                &bands,
                0,
                shared
            ));
            for unit in (total - taken..total).rev() {
                let operand = Operand {
                    data: &b,
                    row_stride: n,
                    col_stride: 1,
                };
                // SAFETY: K runs here (each_kernel checks); the unit is below the total, taken
                // from the back, and its part in the slice before was done by the owner.
                unsafe { run_taken::<K>(&a, operand, &out, &bands[0], unit, shared) };
            }
            assert_eq!(bits(&got), bits(&want), "{name}: shared {with_shared}");
            if with_shared {
                assert!(state.iter().all(|f| f.load(Relaxed) == READY), "{name}");
            }
        }
    }

    #[test]
    fn taken_units_give_the_same_bits() {
        each_kernel!("taken_units_give_the_same_bits", taken_units_match);
    }

    /// Panels are shared only where the driver packs them, and only in storage that holds
    /// them, starting on a cache line.
    #[test]
    fn shared_panels_size_their_storage() {
        // Read in place (row-major and `direct`), no depth, no columns, or no panel width; a
        // transposed operand is packed at any width.
        let narrow = DIRECT_MAX_STRIDE;
        assert_eq!(SharedPanels::sizes(16, 300, narrow, true), None);
        let shallow = (DIRECT_SHALLOW_MAX_DEPTH, 2 * DIRECT_MAX_STRIDE - 1);
        assert_eq!(SharedPanels::sizes(16, shallow.0, shallow.1, true), None);
        assert!(SharedPanels::sizes(16, shallow.0 + 1, shallow.1, true).is_some());
        assert!(SharedPanels::sizes(16, shallow.0, shallow.1 + 1, true).is_some());
        assert_eq!(
            SharedPanels::sizes(16, 330, 8, false),
            Some((2 * KC * 16 + 15, 2))
        );
        // One slice as deep as the operand (`slice_depth`).
        assert_eq!(
            SharedPanels::sizes(16, 300, 100, true),
            Some((7 * 300 * 16 + 15, 7))
        );
        assert_eq!(SharedPanels::sizes(16, 0, 100, true), None);
        assert_eq!(SharedPanels::sizes(16, 300, 0, false), None);
        assert_eq!(SharedPanels::sizes(0, 300, 100, true), None);
        assert_eq!(SharedPanels::sizes(16, usize::MAX, 100, true), None);
        // 2 depth slices × 7 panels, each KC × 16, and a line's worth to align them.
        let (floats, flags) = SharedPanels::sizes(16, 330, 100, true).expect("packed");
        assert_eq!((floats, flags), (14 * KC * 16 + LINE_FLOATS - 1, 14));
        let state: Vec<AtomicU8> = (0..flags).map(|_| AtomicU8::new(FREE)).collect();
        let mut storage = Vec::<f32>::with_capacity(floats + 1);
        let room = &mut storage.spare_capacity_mut()[1..=floats];
        let shared = SharedPanels::new(room, &state, 16, (330, 100), true).expect("room enough");
        assert_eq!(shared.data.align_offset(64), 0);
        assert!(SharedPanels::new(&mut room[1..], &state, 16, (330, 100), true).is_none());
        assert!(SharedPanels::new(room, &state[1..], 16, (330, 100), true).is_none());
    }

    /// Under Miri (`.ci/run` runs these tests there with AVX-512 enabled, the one way this
    /// project's machines execute that kernel), smaller shapes with the same features: row
    /// tails of both tile heights, column tails in place and packed, two depth slices.
    const MIRI_SHAPES: [(usize, usize, usize); 5] = [
        (7, 3, 5),
        (13, 330, 33),
        (12, 20, 32),
        (25, 9, 150),
        (40, 10, 1),
    ];

    fn shapes() -> &'static [(usize, usize, usize)] {
        if cfg!(miri) {
            &MIRI_SHAPES
        } else {
            &NATIVE_SHAPES
        }
    }

    fn matmul_matches<K: MicroKernel>(name: &str) {
        for &(m, k, n) in shapes() {
            let a = data(m * k, 1);
            let b = data(k * n, 2);
            let mut got = vec![f32::NAN; m * n];
            let mut want = vec![f32::NAN; m * n];
            assert!(matmul::<K>(&a, &b, &mut got, m, k, n));
            matmul_portable(&a, &b, &mut want, m, k, n);
            assert!(close(&got, &want, k), "{name} {m}x{k}x{n}");
        }
    }

    /// The wide tile (a full panel and a narrow tail as one) gives the bits of the two panels
    /// apart, for every height up to `WIDE_MR`, every tail width, overwriting and
    /// accumulating; a kernel without one runs the two apart. Under Miri, the narrowest and
    /// widest tails.
    fn wide_matches_apart<K: MicroKernel>(name: &str) {
        let (kc, ld) = (9, K::NR + K::NR / 2 + 3);
        let a = data(K::MR * kc, 5);
        let b = data(kc * ld, 6);
        let tails: Vec<usize> = if cfg!(miri) {
            vec![1, K::NR / 2]
        } else {
            (1..=K::NR / 2).collect()
        };
        for rows in 1..=K::WIDE_MR.max(1) {
            for &tail in &tails {
                for overwrite in [true, false] {
                    let start = data(rows * ld, 7);
                    let (mut wide, mut apart) = (start.clone(), start.clone());
                    for (c, whole) in [(&mut wide, true), (&mut apart, false)] {
                        let t = Tile {
                            a: a.as_ptr(),
                            lda: kc,
                            b: b.as_ptr(),
                            ldb: ld,
                            c: c.as_mut_ptr(),
                            ldc: ld,
                            kc,
                            cols: K::NR + tail,
                            overwrite,
                        };
                        // SAFETY: `rows ≤ MR` rows of `kc` floats of A; `kc` rows of B and
                        // `rows` of C with `ld ≥ NR + tail` floats each.
                        unsafe {
                            let narrow = t.b.add(K::NR);
                            if whole {
                                K::tile_wide(rows, t, narrow);
                            } else {
                                wide_apart::<K>(rows, t, narrow);
                            }
                        }
                    }
                    assert_eq!(bits(&wide), bits(&apart), "{name} {rows} rows, tail {tail}");
                    // Columns past the tile are untouched.
                    for (r, row) in wide.chunks(ld).enumerate() {
                        let past = &start[r * ld..][K::NR + tail..ld];
                        assert_eq!(bits(&row[K::NR + tail..]), bits(past), "{name}");
                    }
                }
            }
        }
    }

    #[test]
    fn wide_tiles_equal_their_two_panels_apart() {
        each_kernel!(
            "wide_tiles_equal_their_two_panels_apart",
            wide_matches_apart
        );
    }

    /// Which grids end in a wide pair: a narrow last panel (`1..=NR/2` columns) after a full
    /// one, for a kernel with a wide tile.
    #[test]
    fn grids_end_wide_where_a_narrow_panel_follows_a_full_one() {
        #[cfg(target_arch = "x86_64")]
        {
            use super::super::x86_avx2::Avx2;
            let plain = |n: usize| Grid {
                shift: 0,
                panels: n.div_ceil(16),
            };
            let wide: Vec<usize> = [17, 24, 25, 31, 32, 40, 100, 8, 16, 1]
                .into_iter()
                .filter(|&n| plain(n).ends_wide::<Avx2>(n))
                .collect();
            assert_eq!(wide, [17, 24, 40, 100]);
            assert_eq!(Avx2::WIDE_MR, 3);
            // A shifted grid: a 5-column first panel, then full ones, then the tail.
            let shifted = Grid {
                shift: 5,
                panels: 3,
            };
            assert!(shifted.ends_wide::<Avx2>(5 + 16 + 8));
            assert!(!shifted.ends_wide::<Avx2>(5 + 16 + 9));
            // The narrow first panel is not a full one.
            let two = Grid {
                shift: 5,
                panels: 2,
            };
            assert!(!two.ends_wide::<Avx2>(5 + 8));
            // A masking kernel without a wide tile (AVX-512: a 16-column tail after a full
            // 32-column panel).
            use super::super::x86_avx512::Avx512;
            assert!(
                !Grid {
                    shift: 0,
                    panels: 2
                }
                .ends_wide::<Avx512>(48)
            );
        }
        // A kernel without a wide tile.
        assert!(
            !Grid {
                shift: 0,
                panels: 2
            }
            .ends_wide::<Unmasked>(24)
        );
    }

    #[test]
    fn matmul_matches_portable_on_ragged_shapes() {
        each_kernel!("matmul_matches_portable_on_ragged_shapes", matmul_matches);
    }

    fn gram_matches<K: MicroKernel>(name: &str) {
        let native: &[(usize, usize)] = &[
            (1, 9),
            (5, 300),
            (17, 64),
            (33, 100),
            (50, 80),
            (251, 270),
            (150, 530),
        ];
        let miri: &[(usize, usize)] = &[(1, 9), (5, 330), (17, 40), (37, 20)];
        for &(m, n) in if cfg!(miri) { miri } else { native } {
            let x = data(m * n, 3);
            let mut got = vec![f32::NAN; m * m];
            let mut want = vec![f32::NAN; m * m];
            assert!(gram::<K>(&x, &mut got, m, n));
            gram_portable(&x, &mut want, m, n);
            assert!(close(&got, &want, n), "{name} {m}x{n}");
            for i in 0..m {
                for j in 0..m {
                    assert_eq!(got[i * m + j], got[j * m + i], "{name} {m}x{n}");
                }
            }
        }
    }

    #[test]
    fn gram_matches_portable_and_is_symmetric() {
        each_kernel!("gram_matches_portable_and_is_symmetric", gram_matches);
    }

    /// A symmetric product computed in row bands (as the threaded products do), then mirrored
    /// once, equals the one-call product bit for bit.
    fn bands_match<K: MicroKernel>(name: &str) {
        let (m, n) = if cfg!(miri) {
            (4 * K::MR + 5, 40)
        } else {
            (7 * K::MR + 5, 90)
        };
        let x = data(m * n, 4);
        let mut whole = vec![f32::NAN; m * m];
        assert!(gram::<K>(&x, &mut whole, m, n));
        let mut banded = vec![f32::NAN; m * m];
        let cut = 2 * K::MR;
        let (top, bottom) = banded.split_at_mut(cut * m);
        assert!(gram_upper_rows::<K>(&x, top, m, n, 0, cut, None));
        assert!(gram_upper_rows::<K>(&x, bottom, m, n, cut, m - cut, None));
        mirror_skipped::<K>(&mut banded, m);
        assert_eq!(bits(&banded), bits(&whole), "{name} gram bands");

        let mut square = vec![f32::NAN; m * m];
        assert!(square_symmetric::<K>(&whole, &mut square, m));
        let (top, bottom) = banded.split_at_mut(cut * m);
        assert!(square_symmetric_upper_rows::<K>(
            &whole, top, m, 0, cut, None
        ));
        assert!(square_symmetric_upper_rows::<K>(
            &whole,
            bottom,
            m,
            cut,
            m - cut,
            None
        ));
        mirror_skipped::<K>(&mut banded, m);
        assert_eq!(bits(&banded), bits(&square), "{name} square bands");
    }

    #[test]
    fn row_bands_equal_the_one_call_product() {
        each_kernel!("row_bands_equal_the_one_call_product", bands_match);
    }

    fn zero_depth<K: MicroKernel>(name: &str) {
        let mut out = [f32::NAN; 6];
        assert!(matmul::<K>(&[], &[], &mut out, 2, 0, 3), "{name}");
        assert_eq!(out, [0.0; 6], "{name}");
        let mut out = [1.0f32; 4];
        assert!(
            !matmul::<K>(&[0.0; 3], &[0.0; 4], &mut out, 2, 2, 2),
            "{name}"
        );
        assert_eq!(out, [1.0; 4], "{name}");
        // No rows, or no columns: nothing to write, for a right operand read in place and a
        // packed one.
        for n in [3, 2 * DIRECT_MAX_STRIDE] {
            assert!(
                matmul::<K>(
                    &[],
                    &[1.0; 4 * DIRECT_MAX_STRIDE][..2 * n],
                    &mut [],
                    0,
                    2,
                    n
                ),
                "{name}"
            );
        }
        assert!(matmul::<K>(&[1.0; 6], &[], &mut [], 3, 2, 0), "{name}");
    }

    #[test]
    fn zero_depth_gives_zeros_and_short_slices_are_refused() {
        each_kernel!(
            "zero_depth_gives_zeros_and_short_slices_are_refused",
            zero_depth
        );
    }

    /// Copying the left operand moves data and nothing else: the driver with the copy and the
    /// driver reading `A` in place give the same bits, for a plain product over several row
    /// blocks and depth slices and for the upper-triangle tiles of a symmetric one.
    fn copy_matches_in_place<K: MicroKernel>(name: &str) {
        let (m, k, n) = if cfg!(miri) {
            (2 * K::MR + 1, 330, 40)
        } else {
            (MC + K::MR + 1, 2 * KC + 7, 50)
        };
        let a = data(m * k, 7);
        let b = data(k * n, 8);
        let right = Operand {
            data: &b,
            row_stride: n,
            col_stride: 1,
        };
        let xt = Operand {
            data: &a,
            row_stride: 1,
            col_stride: k,
        };
        for (what, operand, cols, upper) in [("matmul", right, n, None), ("gram", xt, m, Some(0))] {
            let mut copied = vec![f32::NAN; m * cols];
            let mut in_place = vec![f32::NAN; m * cols];
            let mut block = LeftBlock([MaybeUninit::uninit(); MC * PACKED_LDA]);
            // SAFETY: K runs here (each_kernel checks), `a` is m × k, the operand k × cols, and
            // the outputs m × cols.
            unsafe {
                let product = |out: &mut Vec<f32>| Product {
                    a: &a,
                    lda: k,
                    b: operand,
                    out: out.as_mut_ptr(),
                    _out: PhantomData,
                    m,
                    k,
                    n: cols,
                    upper,
                    shared: None,
                    units: Units::All,
                };
                sweep_with_panel::<K>(product(&mut copied), Some(&mut block));
                sweep_with_panel::<K>(product(&mut in_place), None);
            }
            assert_eq!(bits(&copied), bits(&in_place), "{name} {what}");
            assert!(copied.iter().any(|x| !x.is_nan()), "{name} {what}");
        }
    }

    #[test]
    fn copying_the_left_operand_changes_no_bit() {
        each_kernel!(
            "copying_the_left_operand_changes_no_bit",
            copy_matches_in_place
        );
    }

    /// A kernel that cannot mask its panel loads, for the classification below (never run).
    struct Unmasked;

    // SAFETY: `supported` is false, so nothing may call its methods.
    unsafe impl MicroKernel for Unmasked {
        const MR: usize = 6;
        const NR: usize = 16;
        const MASKED_TAIL: bool = false;
        fn supported() -> bool {
            false
        }
        unsafe fn tile(_: usize, _: Tile) {
            unreachable!("an unsupported kernel is never run")
        }
        unsafe fn tile_packing(_: usize, _: Tile, _: *mut f32) {
            unreachable!("an unsupported kernel is never run")
        }
        unsafe fn transpose8(_: *const f32, _: *mut f32, _: usize) {
            unreachable!("an unsupported kernel is never run")
        }
        unsafe fn pack_columns(_: *mut f32, _: *const f32, _: usize, _: usize, _: usize) {
            unreachable!("an unsupported kernel is never run")
        }
    }

    /// Which right operands every panel of is read in place (and so which products skip the
    /// panel buffer, or run as one block): row-major, at most `DIRECT_MAX_STRIDE` wide (twice
    /// that when shallow), and a whole number of panels unless the kernel masks.
    #[test]
    fn in_place_means_narrow_row_major_and_whole_panels_unless_masked() {
        let data = [0.0f32; 1];
        let rows = |row_stride| Operand {
            data: &data,
            row_stride,
            col_stride: 1,
        };
        #[cfg(target_arch = "x86_64")]
        {
            use super::super::x86_avx2::Avx2;
            let deep = KC;
            assert!(in_place::<Avx2>(rows(20), deep, 20));
            let widest = DIRECT_MAX_STRIDE;
            assert!(in_place::<Avx2>(rows(widest), deep, widest));
            assert!(!in_place::<Avx2>(rows(widest + 1), deep, widest + 1));
            // Wider, up to twice, when shallow.
            let (shallow, wider) = (DIRECT_SHALLOW_MAX_DEPTH, 2 * widest - 1);
            assert!(in_place::<Avx2>(rows(wider), shallow, wider));
            assert!(!in_place::<Avx2>(rows(wider), shallow + 1, wider));
            assert!(!in_place::<Avx2>(rows(wider + 1), shallow, wider + 1));
        }
        assert!(in_place::<Unmasked>(rows(32), 300, 32));
        assert!(!in_place::<Unmasked>(rows(20), 300, 20));
        let transposed = Operand {
            data: &data,
            row_stride: 1,
            col_stride: 8,
        };
        assert!(!in_place::<Unmasked>(transposed, 8, 16));
    }

    /// A panel at most half a tile wide runs twice the rows per call; a wider one `MR`.
    #[test]
    fn narrow_panels_run_twice_the_rows() {
        assert_eq!(tile_rows::<Unmasked>(1), 12);
        assert_eq!(tile_rows::<Unmasked>(8), 12);
        assert_eq!(tile_rows::<Unmasked>(9), 6);
        assert_eq!(tile_rows::<Unmasked>(16), 6);
    }

    #[test]
    fn products_to_a_quarter_past_kc_deep_are_one_slice() {
        assert_eq!(slice_depth(1), 1);
        assert_eq!(slice_depth(KC), KC);
        assert_eq!(slice_depth(KC + 8), KC + 8);
        assert_eq!(slice_depth(ONE_SLICE_MAX), ONE_SLICE_MAX);
        assert_eq!(slice_depth(ONE_SLICE_MAX + 1), KC);
        assert_eq!(slice_depth(1024), KC);
        assert_eq!(slice_depth(0), 1); // a usable step
    }

    #[test]
    fn row_blocks_are_even_whole_tiles_and_as_few_as_mc_allows() {
        assert_eq!(block_rows(1024, KC, 6), 132); // 7 × 132 + 100, not 7 × 144 + 16
        assert_eq!(block_rows(1024, KC, 12), 132);
        assert_eq!(block_rows(256, KC, 6), 132); // 132 + 124
        assert_eq!(block_rows(144, KC, 6), 144);
        assert_eq!(block_rows(145, KC, 12), 84);
        assert_eq!(block_rows(5, KC, 6), 6);
        assert_eq!(block_rows(0, KC, 6), 6);
        // A slice of A no bigger than a full block is one block, however many rows.
        assert_eq!(block_rows(192, 192, 6), 192);
        assert_eq!(block_rows(185, 184, 6), 186);
        assert_eq!(block_rows(576, 64, 12), 576);
        assert_eq!(block_rows(193, 192, 6), 102); // 193 · 192 > 144 · 256: 102 + 91
        assert_eq!(block_rows(200, 200, 6), 102);
        // A deeper slice takes fewer rows per block: at most 114 (108 for 12-row tiles) at 320.
        assert_eq!(block_rows(144, ONE_SLICE_MAX, 6), 72);
        assert_eq!(block_rows(320, ONE_SLICE_MAX, 6), 108);
        assert_eq!(block_rows(320, ONE_SLICE_MAX, 12), 108);
        assert_eq!(block_rows(264, 264, 6), 132);
        // `one_row_block` says the same of a whole product.
        assert!(one_row_block(192, 192) && !one_row_block(193, 192));
        assert!(one_row_block(144, 1024) && !one_row_block(145, 1024));
        assert!(one_row_block(115, ONE_SLICE_MAX) && !one_row_block(116, ONE_SLICE_MAX));
        for (m, k) in [(100, 50), (300, 100), (150, 300), (500, 2000), (1, 0)] {
            let depth = slice_depth(k).min(k);
            assert_eq!(one_row_block(m, k), block_rows(m, depth, 6) >= m, "{m}x{k}");
        }
        for mr in [6, 12] {
            for kc in [1, 64, 100, 192, 255, KC, KC + 8, 300, ONE_SLICE_MAX] {
                let most = (MC * KC / kc).min(MC) / mr * mr;
                for m in 1..3000 {
                    let h = block_rows(m, kc, mr);
                    assert!(
                        h.is_multiple_of(mr) && h >= m.min(mr),
                        "m {m} kc {kc} mr {mr}: {h}"
                    );
                    if m * kc <= MC * KC {
                        assert!(h >= m, "m = {m}, kc = {kc}, mr = {mr}: {h}");
                    } else {
                        assert!(h <= most, "m = {m}, kc = {kc}, mr = {mr}: {h}");
                        assert_eq!(
                            m.div_ceil(h),
                            m.div_ceil(most),
                            "m {m} kc {kc} mr {mr}: {h}"
                        );
                    }
                }
            }
        }
    }

    /// Every kernel runs each element's fused multiply-adds in the same order (the driver's
    /// depth slices), so all of them give the same bits, whatever their tile shape. The
    /// kernels are the dispatch's own table (`CpuKernel::ALL` through `blocked`).
    /// `C = A·B` (`m × k` by `k × n`, elements given by position) as the kernels' contract
    /// has it: each element a sequence of fused multiply-adds over each depth slice
    /// ([`slice_depth`]), from zero, the slices' sums added in order.
    fn fma_reference(
        m: usize,
        k: usize,
        n: usize,
        a: impl Fn(usize, usize) -> f32,
        b: impl Fn(usize, usize) -> f32,
    ) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let depth = slice_depth(k);
                for p0 in (0..k).step_by(depth) {
                    let slice =
                        (p0..k.min(p0 + depth)).fold(0.0f32, |s, p| a(i, p).mul_add(b(p, j), s));
                    c[i * n + j] = if p0 == 0 { slice } else { c[i * n + j] + slice };
                }
            }
        }
        c
    }

    /// Every product, bit for bit the reference: the plain one on every column tail (narrow
    /// panels run twice the rows per tile), the Gram and symmetric squares with their mirrored
    /// halves. Under Miri one shape, with a narrow tail for both x86 kernels
    /// (`every_kernel_gives_the_same_bits` ties the AVX-512 kernel to the AVX2 one on the
    /// others, which this test checks natively).
    fn reference_bits<K: MicroKernel>(name: &str) {
        let extra = [
            (24, 40, 24),
            (37, 300, 72),
            (150, 30, 8),
            (30, 260, 1000),
            // Wide panels of every height: a whole one and a masked one.
            (8, 30, 40),
            (7, 12, 53),
        ];
        let all: Vec<_> = shapes().iter().chain(&extra).copied().collect();
        let shapes = if cfg!(miri) { vec![(30, 20, 40)] } else { all };
        for (m, k, n) in shapes {
            let a = data(m * k, 3);
            let b = data(k * n, 4);
            let mut c = vec![f32::NAN; m * n];
            assert!(matmul::<K>(&a, &b, &mut c, m, k, n), "{name}");
            let want = fma_reference(m, k, n, |i, p| a[i * k + p], |p, j| b[p * n + j]);
            assert_eq!(bits(&c), bits(&want), "{name} matmul {m}x{k}x{n}");
            let mut g = vec![f32::NAN; m * m];
            assert!(gram::<K>(&a, &mut g, m, k), "{name}");
            let want = fma_reference(m, k, m, |i, p| a[i * k + p], |p, j| a[j * k + p]);
            assert_eq!(bits(&g), bits(&want), "{name} gram {m}x{k}");
            let mut sq = vec![f32::NAN; m * m];
            assert!(square_symmetric::<K>(&g, &mut sq, m), "{name}");
            let want = fma_reference(m, m, m, |i, p| g[i * m + p], |p, j| g[p * m + j]);
            assert_eq!(bits(&sq), bits(&want), "{name} square {m}");
        }
    }

    #[test]
    fn kernels_equal_the_fused_multiply_add_reference() {
        each_kernel!(
            "kernels_equal_the_fused_multiply_add_reference",
            reference_bits
        );
    }

    #[test]
    fn every_kernel_gives_the_same_bits() {
        use super::super::{CpuKernel, blocked};
        let mut results: Vec<(&str, Vec<Vec<u32>>)> = Vec::new();
        for kernel in CpuKernel::ALL.into_iter().filter(|k| k.is_supported()) {
            let Some(p) = blocked(kernel) else { continue };
            let mut all = Vec::new();
            for &(m, k, n) in shapes() {
                let a = data(m * k, 5);
                let b = data(k * n, 6);
                let mut c = vec![f32::NAN; m * n];
                assert!((p.matmul)(&a, &b, &mut c, m, k, n));
                all.push(bits(&c));
                let mut g = vec![f32::NAN; m * m];
                assert!((p.gram)(&a, &mut g, m, k));
                all.push(bits(&g));
                let mut sq = vec![f32::NAN; m * m];
                assert!((p.square_symmetric)(&g, &mut sq, m));
                all.push(bits(&sq));
            }
            results.push((kernel.name(), all));
        }
        let names: Vec<&str> = results.iter().map(|r| r.0).collect();
        std::println!("every_kernel_gives_the_same_bits: compared {names:?}");
        for pair in results.windows(2) {
            assert!(
                pair[0].1 == pair[1].1,
                "{} and {} differ",
                pair[0].0,
                pair[1].0
            );
        }
    }
}
