//! The AVX2 + FMA micro-kernel for x86-64, chosen at run time.
//!
//! The blocking is the shared driver's ([`super::blocked`](mod@super::blocked)); this module is the `R`×16
//! register tile (`R ≤ 6`, a compile-time constant, so a short last row tile costs no wasted
//! work): `2R` `__m256` accumulators, one element of each of `R` rows of `A` broadcast against
//! two vectors of the panel per depth step, four steps per loop trip for a full-width panel
//! (the rows' addresses formed once per four steps). A panel narrower than 16 columns is loaded and
//! stored with lane masks, so it is read in place like a full one; one at most 8 columns wide
//! runs as an `R`×8 tile (`R ≤ 12`, one accumulator per row: [`MicroKernel::tile_narrow`]), whose
//! twelve rows cost a 6×16 tile's multiply-adds instead of twelve rows' worth of half-masked
//! ones; in a plain product, that narrow panel and the full one before it run together as an
//! `R`×24 tile (`R ≤ 3`: [`MicroKernel::tile_wide`]), one broadcast per three
//! multiply-adds instead of one per one. The block's first tile also
//! stores the panel it reads ([`MicroKernel::tile_packing`]), and a transposed panel (the Gram
//! product's) is packed eight columns by eight depth steps at a time through register
//! transposes ([`pack_columns`]). Used only when the CPU
//! reports AVX2 and FMA ([`crate::x86_features`]) and [`super::CpuKernel::Avx2Fma`] is
//! selected.

use core::arch::x86_64::{
    __m256, __m256i, _mm256_add_ps, _mm256_broadcast_ss, _mm256_cmpgt_epi32, _mm256_fmadd_ps,
    _mm256_loadu_ps, _mm256_maskload_ps, _mm256_maskstore_ps, _mm256_permute2f128_ps,
    _mm256_set1_epi32, _mm256_setr_epi32, _mm256_setzero_ps, _mm256_shuffle_ps, _mm256_storeu_ps,
    _mm256_unpackhi_ps, _mm256_unpacklo_ps,
};

use super::blocked::{MicroKernel, Tile};

/// Rows of `A` per micro-kernel call (at most).
const MR: usize = 6;
/// Columns of the right operand per panel (two `__m256`).
const NR: usize = 16;
/// Rows of `A` per wide tile ([`wide`]): three rows by three vectors are nine accumulators, so
/// the panel's three vectors and a broadcast fit beside them (four rows would need all sixteen
/// `ymm` registers, and LLVM spilled one).
const WIDE_MR: usize = 3;

/// The AVX2 + FMA register tile.
pub(super) struct Avx2;

// SAFETY: `tile` and `tile_packing` touch exactly the elements their contract names (lane
// masks keep loads and stores inside `cols`; the panel copy writes `kc × NR` floats of `dst`),
// and `supported` is the CPU's AVX2 + FMA answer.
unsafe impl MicroKernel for Avx2 {
    const MR: usize = MR;
    const NR: usize = NR;
    const MASKED_TAIL: bool = true;

    fn supported() -> bool {
        crate::x86_features::avx2_fma()
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile(rows: usize, t: Tile) {
        // SAFETY: the caller's contract.
        unsafe { dispatch::<false>(rows, t, core::ptr::null_mut()) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile_narrow(rows: usize, t: Tile) {
        // SAFETY: the caller's contract.
        unsafe { dispatch_narrow(rows, t) }
    }

    const WIDE_MR: usize = WIDE_MR;

    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile_wide(rows: usize, t: Tile, tail: *const f32) {
        // SAFETY: the caller's contract.
        unsafe { dispatch_wide(rows, t, tail) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile_packing(rows: usize, t: Tile, dst: *mut f32) {
        // SAFETY: the caller's contract.
        unsafe { dispatch::<true>(rows, t, dst) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn pack_columns(dst: *mut f32, src: *const f32, ld: usize, kc: usize, cols: usize) {
        // SAFETY: the caller's contract.
        unsafe { pack_columns::<NR>(dst, src, ld, kc, cols) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn transpose8(src: *const f32, dst: *mut f32, ld: usize) {
        // SAFETY: the caller's contract.
        unsafe { transpose8_in_memory(src, dst, ld) }
    }
}

/// [`MicroKernel::transpose8`] by [`transpose8`]: eight row loads, eight row stores.
///
/// # Safety
/// AVX2 is available; as [`MicroKernel::transpose8`].
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn transpose8_in_memory(src: *const f32, dst: *mut f32, ld: usize) {
    // SAFETY: the caller's contract: eight rows of eight floats at each pointer.
    unsafe {
        let rows = core::array::from_fn(|r| _mm256_loadu_ps(src.add(r * ld)));
        for (r, row) in transpose8(rows).iter().enumerate() {
            _mm256_storeu_ps(dst.add(r * ld), *row);
        }
    }
}

/// [`MicroKernel::pack_columns`] for a panel `W` columns wide (a multiple of 8), eight columns
/// by eight depth steps at a time: eight loads of eight consecutive floats (one per column),
/// an 8×8 transpose in registers, eight stores of eight columns (one per depth step). Columns
/// past `cols` are zeros (nothing read), depth steps past the last multiple of 8 one by one.
///
/// # Safety
/// AVX2 is available; column `c < cols ≤ W` is the `kc` floats at `src + c·ld`; `dst` holds
/// `kc × W` writable floats.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn pack_columns<const W: usize>(
    dst: *mut f32,
    src: *const f32,
    ld: usize,
    kc: usize,
    cols: usize,
) {
    const { assert!(W.is_multiple_of(8)) };
    let whole = kc - kc % 8;
    for c0 in (0..W).step_by(8) {
        // SAFETY (the loads and stores below): the caller's contract; a load reads floats
        // p..p + 8 ≤ kc of a column that exists, a store writes columns c0..c0 + 8 ≤ W of
        // depth rows that exist.
        unsafe {
            if c0 >= cols {
                for p in 0..kc {
                    _mm256_storeu_ps(dst.add(p * W + c0), _mm256_setzero_ps());
                }
                continue;
            }
            let column = |i: usize| -> Option<*const f32> {
                (c0 + i < cols).then(|| src.add((c0 + i) * ld))
            };
            let runs: [Option<*const f32>; 8] = core::array::from_fn(column);
            for p in (0..whole).step_by(8) {
                let r = runs.map(|run| match run {
                    Some(s) => _mm256_loadu_ps(s.add(p)),
                    None => _mm256_setzero_ps(),
                });
                let t = transpose8(r);
                for (i, row) in t.iter().enumerate() {
                    _mm256_storeu_ps(dst.add((p + i) * W + c0), *row);
                }
            }
            for p in whole..kc {
                for (i, run) in runs.iter().enumerate() {
                    *dst.add(p * W + c0 + i) = match run {
                        Some(s) => *s.add(p),
                        None => 0.0,
                    };
                }
            }
        }
    }
}

/// The transpose of the 8×8 matrix whose rows are `r`: row `j` of the result holds element
/// `j` of each input row.
#[target_feature(enable = "avx2,fma")]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    // Pairs of rows interleaved, then pairs of pairs, then the 128-bit halves exchanged.
    let t = [
        _mm256_unpacklo_ps(r[0], r[1]),
        _mm256_unpackhi_ps(r[0], r[1]),
        _mm256_unpacklo_ps(r[2], r[3]),
        _mm256_unpackhi_ps(r[2], r[3]),
        _mm256_unpacklo_ps(r[4], r[5]),
        _mm256_unpackhi_ps(r[4], r[5]),
        _mm256_unpacklo_ps(r[6], r[7]),
        _mm256_unpackhi_ps(r[6], r[7]),
    ];
    let u = [
        _mm256_shuffle_ps::<0x44>(t[0], t[2]),
        _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
        _mm256_shuffle_ps::<0x44>(t[1], t[3]),
        _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
        _mm256_shuffle_ps::<0x44>(t[4], t[6]),
        _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
        _mm256_shuffle_ps::<0x44>(t[5], t[7]),
        _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
    ];
    [
        _mm256_permute2f128_ps::<0x20>(u[0], u[4]),
        _mm256_permute2f128_ps::<0x20>(u[1], u[5]),
        _mm256_permute2f128_ps::<0x20>(u[2], u[6]),
        _mm256_permute2f128_ps::<0x20>(u[3], u[7]),
        _mm256_permute2f128_ps::<0x31>(u[0], u[4]),
        _mm256_permute2f128_ps::<0x31>(u[1], u[5]),
        _mm256_permute2f128_ps::<0x31>(u[2], u[6]),
        _mm256_permute2f128_ps::<0x31>(u[3], u[7]),
    ]
}

/// [`kernel`] for `rows` rows (`1..=MR`), copying the panel into `dst` iff `PACK`.
///
/// # Safety
/// As [`kernel`].
#[target_feature(enable = "avx2,fma")]
unsafe fn dispatch<const PACK: bool>(rows: usize, t: Tile, dst: *mut f32) {
    let masks = lane_masks(t.cols);
    // SAFETY: the caller's contract.
    unsafe {
        match rows {
            6 => kernel::<6, PACK>(t, masks, dst),
            5 => kernel::<5, PACK>(t, masks, dst),
            4 => kernel::<4, PACK>(t, masks, dst),
            3 => kernel::<3, PACK>(t, masks, dst),
            2 => kernel::<2, PACK>(t, masks, dst),
            _ => kernel::<1, PACK>(t, masks, dst),
        }
    }
}

/// [`narrow`] for `rows` rows (`1..=2·MR`).
///
/// # Safety
/// As [`narrow`].
#[target_feature(enable = "avx2,fma")]
unsafe fn dispatch_narrow(rows: usize, t: Tile) {
    // `narrow::<R, WHOLE>` for `R = rows` (1..=12).
    macro_rules! by_rows {
        ($whole:literal, $mask:expr, $($r:literal)+) => {
            match rows {
                $($r => narrow::<$r, $whole>(t, $mask),)+
                _ => narrow::<1, $whole>(t, $mask),
            }
        };
    }
    // SAFETY: the caller's contract.
    unsafe {
        if t.cols == 8 {
            by_rows!(true, _mm256_set1_epi32(-1), 12 11 10 9 8 7 6 5 4 3 2)
        } else {
            by_rows!(false, lane_masks(t.cols)[0], 12 11 10 9 8 7 6 5 4 3 2)
        }
    }
}

/// `C[..R, ..cols] (+)= A[..R, ..kc] · B[..kc, ..cols]` for a panel at most 8 columns wide
/// (`mask` is the first of [`lane_masks`]`(cols)`), `R ≤ 12`: one `__m256` accumulator per
/// row, one load of the panel and `R` broadcasts per depth step, one step per loop trip: with
/// four (or two) steps per trip LLVM schedules the broadcasts early, runs out of the sixteen
/// `ymm` registers and keeps accumulators on the stack, each multiply-add then waiting on a
/// store and a reload of its accumulator: 240×256×8 took 19 µs that way against the one-step
/// loop's 12 (48% and 81% of the multiply-add peak, Zen 3).
/// Twelve rows make as many multiply-adds per step as [`kernel`]'s six rows by two vectors,
/// all of them on existing columns. With `WHOLE` (exactly 8 columns) the loads and stores
/// are plain ones: a masked store (`vmaskmovps`) costs several times a plain one on AMD's
/// cores.
///
/// # Safety
/// AVX2 and FMA are available; `tile`'s pointers as [`Tile`] describes them, for `R` rows,
/// with `tile.cols ≤ 8` (`== 8` with `WHOLE`).
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn narrow<const R: usize, const WHOLE: bool>(tile: Tile, mask: __m256i) {
    let Tile {
        a,
        lda,
        b,
        ldb,
        c,
        ldc,
        ..
    } = tile;
    let mut acc = [_mm256_setzero_ps(); R];
    // SAFETY (the loops and the stores): the caller's contract; masked loads and stores touch
    // only the `cols ≤ 8` existing columns of each row.
    unsafe {
        for p in 0..tile.kc {
            let b0 = if WHOLE {
                _mm256_loadu_ps(b.add(p * ldb))
            } else {
                _mm256_maskload_ps(b.add(p * ldb), mask)
            };
            for (r, acc) in acc.iter_mut().enumerate() {
                *acc = _mm256_fmadd_ps(_mm256_broadcast_ss(&*a.add(r * lda + p)), b0, *acc);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            store_eight::<WHOLE>(c.add(r * ldc), *acc, mask, tile.overwrite);
        }
    }
}

/// [`wide`] for `rows` rows (`1..=WIDE_MR`).
///
/// # Safety
/// As [`wide`].
#[target_feature(enable = "avx2,fma")]
unsafe fn dispatch_wide(rows: usize, t: Tile, tail: *const f32) {
    // SAFETY: the caller's contract.
    unsafe {
        if t.cols == NR + 8 {
            let all = _mm256_set1_epi32(-1);
            match rows {
                3 => wide::<3, true>(t, tail, all),
                2 => wide::<2, true>(t, tail, all),
                _ => wide::<1, true>(t, tail, all),
            }
        } else {
            let mask = lane_masks(t.cols - NR)[0];
            match rows {
                3 => wide::<3, false>(t, tail, mask),
                2 => wide::<2, false>(t, tail, mask),
                _ => wide::<1, false>(t, tail, mask),
            }
        }
    }
}

/// `C[..R, ..cols] (+)= A[..R, ..kc] · B[..kc, ..cols]` for `16 < cols ≤ 24` columns: a full
/// panel at `tile.b` and a narrow one at `tail` (rows `tile.ldb` apart in both; `mask` is the
/// first of [`lane_masks`]`(cols − 16)`), `R ≤ 3`:
/// three `__m256` accumulators per row, three loads of the panel and `R` broadcasts per depth
/// step. A narrow tile ([`narrow`]) makes one broadcast per multiply-add, 13 loads to 12
/// multiply-adds, and Zen 3 issues two vector loads per cycle against two multiply-adds: it ran
/// at 81% of the multiply-add peak, and the 24 columns of a 144×256 block as a 6×16 tile and a
/// 12×8 one at 93–94%; this tile (one broadcast per three) ran them at 97–98% (scratch
/// program, Zen 3 EPYC, AVX2, 2026-12-07). With `WHOLE` (exactly 24 columns) the third
/// vector's loads and stores are plain ones.
///
/// # Safety
/// AVX2 and FMA are available; `tile`'s pointers as [`Tile`] describes them, for `R` rows,
/// with `16 < tile.cols ≤ 24` (`== 24` with `WHOLE`), 16 readable floats per row at `tile.b`
/// and `tile.cols − 16` at `tail`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn wide<const R: usize, const WHOLE: bool>(tile: Tile, tail: *const f32, mask: __m256i) {
    let Tile {
        a,
        lda,
        b,
        ldb,
        c,
        ldc,
        ..
    } = tile;
    let mut acc = [[_mm256_setzero_ps(); 3]; R];
    // SAFETY (the loop and the stores): the caller's contract; the third vector's masked loads
    // and stores touch only the `cols − 16 ≥ 1` existing columns past the full panel.
    unsafe {
        for p in 0..tile.kc {
            let row = b.add(p * ldb);
            let b0 = _mm256_loadu_ps(row);
            let b1 = _mm256_loadu_ps(row.add(8));
            let b2 = if WHOLE {
                _mm256_loadu_ps(tail.add(p * ldb))
            } else {
                _mm256_maskload_ps(tail.add(p * ldb), mask)
            };
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*a.add(r * lda + p));
                acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
                acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
                acc[2] = _mm256_fmadd_ps(av, b2, acc[2]);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let dst = c.add(r * ldc);
            store_full(dst, [acc[0], acc[1]], tile.overwrite);
            store_eight::<WHOLE>(dst.add(NR), acc[2], mask, tile.overwrite);
        }
    }
}

/// Writes (`overwrite`) or adds a row's two accumulators to the 16 floats at `dst`.
///
/// # Safety
/// AVX2 is available; `dst` holds 16 writable floats.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn store_full(dst: *mut f32, acc: [__m256; 2], overwrite: bool) {
    // SAFETY: the caller's contract.
    unsafe {
        if overwrite {
            _mm256_storeu_ps(dst, acc[0]);
            _mm256_storeu_ps(dst.add(8), acc[1]);
        } else {
            _mm256_storeu_ps(dst, _mm256_add_ps(_mm256_loadu_ps(dst), acc[0]));
            _mm256_storeu_ps(
                dst.add(8),
                _mm256_add_ps(_mm256_loadu_ps(dst.add(8)), acc[1]),
            );
        }
    }
}

/// Writes (`overwrite`) or adds an accumulator to the at most 8 floats at `dst`: all 8 with
/// plain stores when `WHOLE` (a masked store, `vmaskmovps`, costs several plain ones on AMD's
/// cores), the lanes of `mask` otherwise.
///
/// # Safety
/// AVX2 is available; `dst` holds 8 writable floats with `WHOLE`, those `mask` selects
/// otherwise.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn store_eight<const WHOLE: bool>(
    dst: *mut f32,
    acc: __m256,
    mask: __m256i,
    overwrite: bool,
) {
    // SAFETY: the caller's contract.
    unsafe {
        match (WHOLE, overwrite) {
            (true, true) => _mm256_storeu_ps(dst, acc),
            (true, false) => _mm256_storeu_ps(dst, _mm256_add_ps(_mm256_loadu_ps(dst), acc)),
            (false, true) => _mm256_maskstore_ps(dst, mask, acc),
            (false, false) => {
                let sum = _mm256_add_ps(_mm256_maskload_ps(dst, mask), acc);
                _mm256_maskstore_ps(dst, mask, sum);
            }
        }
    }
}

/// Lane masks for a panel `cols` wide (`≤ NR`): lane `l` of half `h` is on iff
/// `8h + l < cols`.
#[target_feature(enable = "avx2,fma")]
fn lane_masks(cols: usize) -> [__m256i; 2] {
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let c = cols.min(NR) as i32;
    [
        _mm256_cmpgt_epi32(_mm256_set1_epi32(c), lanes),
        _mm256_cmpgt_epi32(_mm256_set1_epi32(c - 8), lanes),
    ]
}

/// `C[..R, ..cols] (+)= A[..R, ..kc] · B[..kc, ..cols]`, `B` rows `ldb` apart; `masks` are
/// [`lane_masks`]`(tile.cols)`. With `PACK`, each row of `B` the tile loads is also stored to
/// `dst` as `NR` floats, zero past `cols` (the masked loads' off lanes): the packed
/// panel of [`MicroKernel::tile_packing`].
///
/// # Safety
/// AVX2 and FMA are available; `tile`'s pointers as [`Tile`] describes them, for `R` rows;
/// with `PACK`, `dst` holds `kc × NR` writable floats.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn kernel<const R: usize, const PACK: bool>(tile: Tile, masks: [__m256i; 2], dst: *mut f32) {
    let Tile {
        a,
        lda,
        b,
        ldb,
        c,
        ldc,
        ..
    } = tile;
    let mut acc: [[__m256; 2]; R] = [[_mm256_setzero_ps(); 2]; R];
    let [m0, m1] = masks;
    // SAFETY (both loops and the stores): the caller's contract; masked loads and stores touch
    // only the `cols` existing columns. The second half of a narrow tile may start past the end
    // of its row's allocation, so its address is formed with `wrapping_add` (no access happens
    // there: its lanes are all masked off).
    unsafe {
        if tile.cols == NR {
            // One depth step: two vectors of the panel against one element of each row.
            macro_rules! step {
                ($p:expr) => {{
                    let p = $p;
                    let b0 = _mm256_loadu_ps(b.add(p * ldb));
                    let b1 = _mm256_loadu_ps(b.add(p * ldb + 8));
                    if PACK {
                        _mm256_storeu_ps(dst.add(p * NR), b0);
                        _mm256_storeu_ps(dst.add(p * NR + 8), b1);
                    }
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let av = _mm256_broadcast_ss(&*a.add(r * lda + p));
                        acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
                        acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
                    }
                }};
            }
            // Four steps per trip: the row addresses are formed once per four steps. Each
            // accumulator still takes its depth terms in order, so the bits do not change.
            let mut p = 0;
            while p + 4 <= tile.kc {
                step!(p);
                step!(p + 1);
                step!(p + 2);
                step!(p + 3);
                p += 4;
            }
            while p < tile.kc {
                step!(p);
                p += 1;
            }
            for (r, acc) in acc.iter().enumerate() {
                store_full(c.add(r * ldc), [acc[0], acc[1]], tile.overwrite);
            }
        } else {
            for p in 0..tile.kc {
                let b0 = _mm256_maskload_ps(b.add(p * ldb), m0);
                let b1 = _mm256_maskload_ps(b.add(p * ldb).wrapping_add(8), m1);
                if PACK {
                    _mm256_storeu_ps(dst.add(p * NR), b0);
                    _mm256_storeu_ps(dst.add(p * NR + 8), b1);
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    let av = _mm256_broadcast_ss(&*a.add(r * lda + p));
                    acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
                    acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
                }
            }
            // Masked stores only where a half is partial: `vmaskmovps` to memory costs several
            // plain stores on AMD's cores, and a half with no column needs no store at all.
            for (r, acc) in acc.iter().enumerate() {
                let dst = c.add(r * ldc);
                if tile.cols >= 8 {
                    let v0 = if tile.overwrite {
                        acc[0]
                    } else {
                        _mm256_add_ps(_mm256_loadu_ps(dst), acc[0])
                    };
                    _mm256_storeu_ps(dst, v0);
                } else {
                    let v0 = if tile.overwrite {
                        acc[0]
                    } else {
                        _mm256_add_ps(_mm256_maskload_ps(dst, m0), acc[0])
                    };
                    _mm256_maskstore_ps(dst, m0, v0);
                }
                if tile.cols > 8 {
                    let dst = dst.add(8);
                    let v1 = if tile.overwrite {
                        acc[1]
                    } else {
                        _mm256_add_ps(_mm256_maskload_ps(dst, m1), acc[1])
                    };
                    _mm256_maskstore_ps(dst, m1, v1);
                }
            }
        }
    }
}
