//! The NEON micro-kernel for AArch64 (NEON is part of every AArch64 application target, so
//! there is nothing to detect).
//!
//! The blocking is the shared driver's ([`super::blocked`](mod@super::blocked)); this module is the `R`×16
//! register tile (`R ≤ 6`): `4R ≤ 24` of the 32 vector registers hold accumulators,
//! multiplying four panel vectors by one element of each row of `A` per depth step (`fmla` by
//! scalar). NEON has no masked loads, so a panel narrower than 16 columns is packed,
//! zero-padded, and a narrower tile is stored through a small buffer.
//!
//! Each output element is the same sequence of fused multiply-adds as in the x86-64 kernels,
//! hence the same bits, and within a few ulps of the sum of `|terms|` of the portable one. The
//! tests compare it with the portable kernel under `qemu-aarch64` in `.ci/run`; its speed on
//! AArch64 hardware is not measured (no such machine here).

use core::arch::aarch64::{float32x4_t, vaddq_f32, vdupq_n_f32, vfmaq_n_f32, vld1q_f32, vst1q_f32};

use super::blocked::{MicroKernel, Tile};

/// Rows of `A` per micro-kernel call (at most).
const MR: usize = 6;
/// Columns of the right operand per panel (four `float32x4_t`).
const NR: usize = 16;

/// The NEON register tile.
pub(super) struct Neon;

// SAFETY: `tile` reads `NR` floats per panel row (the driver packs narrower panels, since
// `MASKED_TAIL` is false) and stores only `cols`; NEON is always there. `pack_rows` is the
// trait's plain loop.
unsafe impl MicroKernel for Neon {
    const MR: usize = MR;
    const NR: usize = NR;
    const MASKED_TAIL: bool = false;

    fn supported() -> bool {
        true
    }

    unsafe fn tile(rows: usize, t: Tile) {
        // SAFETY: the trait's contract.
        unsafe {
            match rows {
                6 => kernel::<6>(t),
                5 => kernel::<5>(t),
                4 => kernel::<4>(t),
                3 => kernel::<3>(t),
                2 => kernel::<2>(t),
                _ => kernel::<1>(t),
            }
        }
    }
}

/// `C[..R, ..cols] (+)= A[..R, ..kc] · B[..kc, ..NR]`, `B` rows `ldb` apart.
///
/// # Safety
/// `tile`'s pointers as [`Tile`] describes them, for `R` rows (`b`'s rows with `NR` readable floats: the driver
/// packs narrower panels).
#[inline]
unsafe fn kernel<const R: usize>(tile: Tile) {
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
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = *a.add(r * lda + p);
                for (h, acc) in acc.iter_mut().enumerate() {
                    *acc = vfmaq_n_f32(*acc, bv[h], av);
                }
            }
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
