//! The NEON micro-kernel for AArch64 (NEON is part of every AArch64 application target, so
//! there is nothing to detect).
//!
//! The blocking is the shared driver's ([`super::blocked`](mod@super::blocked)); this module is the `R`×16
//! register tile (`R ≤ 6`): `4R ≤ 24` of the 32 vector registers hold accumulators,
//! multiplying four panel vectors by one element of each row of `A` per depth step (`fmla` by
//! scalar). NEON has no masked loads, so a panel narrower than 16 columns is packed,
//! zero-padded, and a narrower tile is stored through a small buffer. A full-width panel is
//! packed by its block's first tile as it loads it ([`MicroKernel::tile_packing`]); the Gram
//! product's transposed panels and the symmetric products' mirror go through 4×4 register
//! transposes ([`MicroKernel::pack_columns`], [`MicroKernel::transpose8`]), as the x86-64
//! kernels' do through 8×8 ones.
//!
//! Each output element is the same sequence of fused multiply-adds as in the x86-64 kernels,
//! hence the same bits, and within a few ulps of the sum of `|terms|` of the portable one. The
//! tests compare it with the portable kernel under `qemu-aarch64` in `.ci/run`; its speed on
//! AArch64 hardware is not measured (no such machine here).

use core::arch::aarch64::{
    float32x4_t, vaddq_f32, vdupq_n_f32, vfmaq_n_f32, vld1q_f32, vreinterpretq_f32_f64,
    vreinterpretq_f64_f32, vst1q_f32, vtrn1q_f32, vtrn1q_f64, vtrn2q_f32, vtrn2q_f64,
};

use super::blocked::{MicroKernel, Tile};

/// Rows of `A` per micro-kernel call (at most).
const MR: usize = 6;
/// Columns of the right operand per panel (four `float32x4_t`).
const NR: usize = 16;

/// The NEON register tile.
pub(super) struct Neon;

// SAFETY: `tile` reads `NR` floats per panel row (the driver packs narrower panels, since
// `MASKED_TAIL` is false) and stores only `cols`; `tile_packing` reads what `tile` does (a
// narrower panel goes through the trait's pack-then-tile) and writes `kc × NR` floats of
// `dst`; `pack_columns` and `transpose8` touch the elements their contracts name; NEON is
// always there.
unsafe impl MicroKernel for Neon {
    const MR: usize = MR;
    const NR: usize = NR;
    const MASKED_TAIL: bool = false;

    fn supported() -> bool {
        true
    }

    unsafe fn tile(rows: usize, t: Tile) {
        // SAFETY: the trait's contract.
        unsafe { dispatch::<false>(rows, t, core::ptr::null_mut()) }
    }

    unsafe fn tile_packing(rows: usize, t: Tile, dst: *mut f32) {
        // SAFETY: the trait's contract. A full-width panel has NR readable floats per row, so
        // the kernel reads it in place and stores each row it loads; a narrower one must not
        // be read past `cols`: packed first (zero-padded), then the tile reads the copy.
        unsafe {
            if t.cols == NR {
                dispatch::<true>(rows, t, dst);
            } else {
                pack_narrow(dst, t.b, t.ldb, t.kc, t.cols);
                Self::tile(
                    rows,
                    Tile {
                        b: dst,
                        ldb: NR,
                        ..t
                    },
                );
            }
        }
    }

    unsafe fn pack_columns(dst: *mut f32, src: *const f32, ld: usize, kc: usize, cols: usize) {
        let whole = kc - kc % 4;
        for c0 in (0..NR).step_by(4) {
            // SAFETY (the loads and stores below): the trait's contract; a load reads floats
            // p..p + 4 ≤ kc of a column that exists, a store writes columns c0..c0 + 4 ≤ NR of
            // depth rows that exist.
            unsafe {
                let runs: [Option<*const f32>; 4] =
                    core::array::from_fn(|i| (c0 + i < cols).then(|| src.add((c0 + i) * ld)));
                for p in (0..whole).step_by(4) {
                    let r = runs.map(|run| match run {
                        Some(s) => vld1q_f32(s.add(p)),
                        None => vdupq_n_f32(0.0),
                    });
                    for (i, row) in transpose4(r).iter().enumerate() {
                        vst1q_f32(dst.add((p + i) * NR + c0), *row);
                    }
                }
                for p in whole..kc {
                    for (i, run) in runs.iter().enumerate() {
                        *dst.add(p * NR + c0 + i) = match run {
                            Some(s) => *s.add(p),
                            None => 0.0,
                        };
                    }
                }
            }
        }
    }

    unsafe fn transpose8(src: *const f32, dst: *mut f32, ld: usize) {
        // Four 4×4 blocks: the one at rows 4·bi, columns 4·bj of the source goes to rows
        // 4·bj, columns 4·bi of the destination.
        for bi in 0..2 {
            for bj in 0..2 {
                // SAFETY: the trait's contract: eight rows of eight floats at each pointer.
                unsafe {
                    let r =
                        core::array::from_fn(|r| vld1q_f32(src.add((4 * bi + r) * ld + 4 * bj)));
                    for (c, row) in transpose4(r).iter().enumerate() {
                        vst1q_f32(dst.add((4 * bj + c) * ld + 4 * bi), *row);
                    }
                }
            }
        }
    }
}

/// Copies `kc` rows of `cols < NR` floats (rows `ld` apart in `src`) into `dst` as `kc` rows
/// of `NR`, zero past `cols`: a narrow panel, which NEON cannot load in place without masks.
///
/// # Safety
/// `src` holds the `kc × cols` elements, `dst` `kc × NR` writable floats.
unsafe fn pack_narrow(dst: *mut f32, src: *const f32, ld: usize, kc: usize, cols: usize) {
    for p in 0..kc {
        for c in 0..NR {
            // SAFETY: the caller's contract.
            unsafe { *dst.add(p * NR + c) = if c < cols { *src.add(p * ld + c) } else { 0.0 } };
        }
    }
}

/// The transpose of the 4×4 matrix whose rows are `r`: row `j` of the result holds element
/// `j` of each input row.
fn transpose4(r: [float32x4_t; 4]) -> [float32x4_t; 4] {
    // SAFETY: NEON is part of the target; the intrinsics only move lanes.
    unsafe {
        // Lanes of row pairs interleaved, then 64-bit halves of those pairs.
        let t0 = vreinterpretq_f64_f32(vtrn1q_f32(r[0], r[1]));
        let t1 = vreinterpretq_f64_f32(vtrn2q_f32(r[0], r[1]));
        let t2 = vreinterpretq_f64_f32(vtrn1q_f32(r[2], r[3]));
        let t3 = vreinterpretq_f64_f32(vtrn2q_f32(r[2], r[3]));
        [
            vreinterpretq_f32_f64(vtrn1q_f64(t0, t2)),
            vreinterpretq_f32_f64(vtrn1q_f64(t1, t3)),
            vreinterpretq_f32_f64(vtrn2q_f64(t0, t2)),
            vreinterpretq_f32_f64(vtrn2q_f64(t1, t3)),
        ]
    }
}

/// [`kernel`] for `rows` rows (`1..=MR`), copying the panel into `dst` iff `PACK`.
///
/// # Safety
/// As [`kernel`].
unsafe fn dispatch<const PACK: bool>(rows: usize, t: Tile, dst: *mut f32) {
    // SAFETY: the caller's contract.
    unsafe {
        match rows {
            6 => kernel::<6, PACK>(t, dst),
            5 => kernel::<5, PACK>(t, dst),
            4 => kernel::<4, PACK>(t, dst),
            3 => kernel::<3, PACK>(t, dst),
            2 => kernel::<2, PACK>(t, dst),
            _ => kernel::<1, PACK>(t, dst),
        }
    }
}

/// `C[..R, ..cols] (+)= A[..R, ..kc] · B[..kc, ..NR]`, `B` rows `ldb` apart. With `PACK`, each
/// row of `B` the tile loads is also stored to `dst` (`NR` floats: the packed panel of
/// [`MicroKernel::tile_packing`]).
///
/// # Safety
/// `tile`'s pointers as [`Tile`] describes them, for `R` rows (`b`'s rows with `NR` readable
/// floats: the driver packs narrower panels); with `PACK`, `dst` holds `kc × NR` writable
/// floats.
#[inline]
unsafe fn kernel<const R: usize, const PACK: bool>(tile: Tile, dst: *mut f32) {
    let Tile {
        a,
        lda,
        b,
        ldb,
        c,
        ldc,
        ..
    } = tile;
    // SAFETY (the whole body): the caller's contract; NEON is part of the target.
    unsafe {
        let mut acc: [[float32x4_t; 4]; R] = [[vdupq_n_f32(0.0); 4]; R];
        for p in 0..tile.kc {
            let bp = b.add(p * ldb);
            let bv = [
                vld1q_f32(bp),
                vld1q_f32(bp.add(4)),
                vld1q_f32(bp.add(8)),
                vld1q_f32(bp.add(12)),
            ];
            if PACK {
                for (h, &v) in bv.iter().enumerate() {
                    vst1q_f32(dst.add(p * NR + 4 * h), v);
                }
            }
            // The accumulators rebuilt by value each step: updated in place through
            // `iter_mut`, LLVM kept them in registers but also stored all 24 to the stack on
            // every step (12 `stp` per step of the 6-row loop; none this way).
            acc = core::array::from_fn(|r| {
                let av = *a.add(r * lda + p);
                core::array::from_fn(|h| vfmaq_n_f32(acc[r][h], bv[h], av))
            });
        }
        if tile.cols == NR {
            for (r, acc) in acc.iter().enumerate() {
                for (h, &v) in acc.iter().enumerate() {
                    let dst = c.add(r * ldc + 4 * h);
                    let v = if tile.overwrite {
                        v
                    } else {
                        vaddq_f32(vld1q_f32(dst), v)
                    };
                    vst1q_f32(dst, v);
                }
            }
            return;
        }
        let mut tmp = [0.0f32; NR];
        for (r, acc) in acc.iter().enumerate() {
            for (h, &v) in acc.iter().enumerate() {
                vst1q_f32(tmp.as_mut_ptr().add(4 * h), v);
            }
            for (j, &v) in tmp.iter().take(tile.cols).enumerate() {
                let dst = c.add(r * ldc + j);
                *dst = if tile.overwrite { v } else { *dst + v };
            }
        }
    }
}
