//! AVX2 + FMA products for x86-64, chosen at run time.
//!
//! The portable kernels in the parent module are the reference; this path computes the same
//! products (`A·B` and the upper triangle of `X·Xᵀ`) in the layout of a BLAS-style blocked
//! GEMM, and is used only when the CPU reports AVX2 and FMA ([`crate::x86_features`]).
//!
//! Blocking, for one core:
//! - the depth is cut into `KC = 256` slices;
//! - for each slice, `MC = 240` rows of `A` (240 KiB) stay in L2 while every 16-column panel of
//!   `B` is packed into a 16 KiB buffer on the stack (L1, 32-byte aligned, zero-padded past the
//!   last column);
//! - a 6×16 micro-kernel keeps its 12 `__m256` accumulators in registers, broadcasting one
//!   element of each of six `A` rows against two vectors of the panel per depth step
//!   (12 FMAs per 8 loads).
//!
//! Each output element is a sequential fused multiply-add over its depth slice, added to the
//! previous slices' sum: a different rounding order from the portable path (which sums eight
//! partial dot products), agreeing to a few ulps of the sum of `|terms|`.

use core::arch::x86_64::{
    __m256, _mm256_add_ps, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_load_ps, _mm256_loadu_ps,
    _mm256_setzero_ps, _mm256_storeu_ps,
};
use core::mem::MaybeUninit;

/// Rows of `A` per micro-kernel call.
const MR: usize = 6;
/// Columns of `B` per packed panel (two `__m256`).
const NR: usize = 16;
/// Depth of one packed panel.
const KC: usize = 256;
/// Rows of `A` swept per packed panel (a multiple of `MR`); `MC × KC` floats stay in L2.
const MC: usize = 240;

/// Products with fewer multiply-adds than this stay on the portable path, where packing a
/// panel would cost more than it saves.
pub(super) const MIN_WORK: usize = 8 * 8 * 8;

/// One packed `KC × NR` panel of `B`, row-major, aligned for `_mm256_load_ps`. Left
/// uninitialised (16 KiB of zeroing per product would dominate small sizes): [`pack`] writes
/// the first `kc` rows and [`kernel`] reads only those.
#[repr(C, align(32))]
struct Panel([MaybeUninit<f32>; KC * NR]);

/// Where `B`'s element `(p, j)` lives: `data[p * row_stride + j * col_stride]`.
#[derive(Clone, Copy)]
struct Operand<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

/// `out (m×n) = A (m×k) · B (k×n)`, all row-major. Returns `false`, leaving `out` untouched,
/// when the CPU lacks AVX2/FMA or a slice is shorter than its shape.
pub(super) fn matmul(a: &[f32], b: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) -> bool {
    if !crate::x86_features::avx2_fma() || !fits(a, m, k) || !fits(b, k, n) || !fits(out, m, n) {
        return false;
    }
    let b = Operand {
        data: b,
        row_stride: n,
        col_stride: 1,
    };
    // SAFETY: AVX2 and FMA are available (checked above) and the slices hold their shapes.
    unsafe { gemm(a, k, b, out, m, k, n, false) };
    true
}

/// `out (m×m) = X (m×n) · Xᵀ`: the upper triangle by the blocked kernel, mirrored. Returns
/// `false`, leaving `out` untouched, when the CPU lacks AVX2/FMA or a slice is too short.
pub(super) fn gram(x: &[f32], out: &mut [f32], m: usize, n: usize) -> bool {
    if !crate::x86_features::avx2_fma() || !fits(x, m, n) || !fits(out, m, m) {
        return false;
    }
    // Xᵀ as the right operand: its element (p, j) is X[j][p].
    let xt = Operand {
        data: x,
        row_stride: 1,
        col_stride: n,
    };
    // SAFETY: AVX2 and FMA are available (checked above) and the slices hold their shapes.
    unsafe { gemm(x, n, xt, out, m, n, m, true) };
    for i in 0..m {
        for j in i + 1..m {
            out[j * m + i] = out[i * m + j];
        }
    }
    true
}

/// Whether `s` holds a `rows × cols` matrix (without overflow).
fn fits(s: &[f32], rows: usize, cols: usize) -> bool {
    rows.checked_mul(cols).is_some_and(|len| s.len() >= len)
}

/// The blocked product `out (m×n) = A (m×k, row stride lda) · B`; with `upper`, only tiles that
/// touch the upper triangle (`i ≤ j`) are computed and the rest of `out` is left for the
/// caller to mirror.
///
/// # Safety
/// The CPU supports AVX2 and FMA; `a` holds `m` rows of stride `lda ≥ k`, `b` holds `k × n`
/// under its strides, and `out` holds `m × n`.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm(
    a: &[f32],
    lda: usize,
    b: Operand<'_>,
    out: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
    upper: bool,
) {
    if k == 0 {
        out[..m * n].fill(0.0);
        return;
    }
    let mut panel = Panel([MaybeUninit::uninit(); KC * NR]);
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        for i_blk in (0..m).step_by(MC) {
            let i_end = (i_blk + MC).min(m);
            for j0 in (0..n).step_by(NR) {
                let cols = NR.min(n - j0);
                // A tile touches the upper triangle iff its first row ≤ its last column.
                if upper && i_blk >= j0 + cols {
                    continue;
                }
                pack(&mut panel, b, p0, kc, j0, cols);
                for i0 in (i_blk..i_end).step_by(MR) {
                    if upper && i0 >= j0 + cols {
                        break;
                    }
                    let tile = Tile {
                        rows: MR.min(i_end - i0),
                        cols,
                        overwrite: p0 == 0,
                    };
                    // SAFETY: rows i0..i0+rows of A have lda ≥ p0 + kc columns; out holds rows
                    // i0..i0+rows with n ≥ j0 + cols columns (the caller's contract).
                    unsafe {
                        kernel(
                            kc,
                            a.as_ptr().add(i0 * lda + p0),
                            lda,
                            &panel,
                            out.as_mut_ptr().add(i0 * n + j0),
                            n,
                            tile,
                        );
                    }
                }
            }
        }
    }
}

/// Copies `B[p0..p0+kc, j0..j0+cols]` into the panel, zero-padding columns past `cols`.
fn pack(panel: &mut Panel, b: Operand<'_>, p0: usize, kc: usize, j0: usize, cols: usize) {
    for (p, row) in panel.0.chunks_exact_mut(NR).take(kc).enumerate() {
        let base = (p0 + p) * b.row_stride + j0 * b.col_stride;
        for (c, slot) in row.iter_mut().enumerate() {
            slot.write(if c < cols {
                b.data[base + c * b.col_stride]
            } else {
                0.0
            });
        }
    }
}

/// The part of a 6×16 output tile that exists, and whether to overwrite or accumulate.
#[derive(Clone, Copy)]
struct Tile {
    rows: usize,
    cols: usize,
    overwrite: bool,
}

/// `C[..rows, ..cols] (+)= A[..rows, ..kc] · panel[..kc, ..cols]`; the panel's first `kc`
/// rows must have been written by [`pack`].
///
/// Rows past `rows` re-read the last real row (their sums are discarded), so the loop never
/// branches on the tile's shape.
///
/// # Safety
/// AVX2 and FMA are available; `a` points at `tile.rows` rows of stride `lda` with `kc`
/// readable floats each; `c` at `tile.rows` rows of stride `ldc` with `tile.cols` floats each.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn kernel(
    kc: usize,
    a: *const f32,
    lda: usize,
    panel: &Panel,
    c: *mut f32,
    ldc: usize,
    tile: Tile,
) {
    let last = tile.rows.max(1) - 1;
    // SAFETY: every row pointer is one of the caller's `tile.rows` rows.
    let rows: [*const f32; MR] = core::array::from_fn(|r| unsafe { a.add(r.min(last) * lda) });
    let mut acc: [[__m256; 2]; MR] = [[_mm256_setzero_ps(); 2]; MR];
    let bp = panel.0.as_ptr().cast::<f32>();
    for p in 0..kc {
        // SAFETY: p < kc ≤ KC, so both loads lie in the aligned panel, in the rows `pack`
        // initialised; each row of A has kc floats.
        unsafe {
            let b0 = _mm256_load_ps(bp.add(p * NR));
            let b1 = _mm256_load_ps(bp.add(p * NR + 8));
            for (row, acc) in rows.iter().zip(acc.iter_mut()) {
                let av = _mm256_broadcast_ss(&*row.add(p));
                acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
                acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
            }
        }
    }
    if tile.rows == MR && tile.cols == NR {
        for (r, acc) in acc.iter().enumerate() {
            for (h, &v) in acc.iter().enumerate() {
                // SAFETY: a full tile: row r < MR, columns 8h..8h+8 < NR, inside the caller's rows.
                unsafe {
                    let dst = c.add(r * ldc + 8 * h);
                    let v = if tile.overwrite {
                        v
                    } else {
                        _mm256_add_ps(_mm256_loadu_ps(dst), v)
                    };
                    _mm256_storeu_ps(dst, v);
                }
            }
        }
        return;
    }
    let mut tmp = [0.0f32; MR * NR];
    for (row, acc) in tmp.chunks_exact_mut(NR).zip(&acc) {
        // SAFETY: each chunk holds NR = 16 floats, two unaligned stores of eight.
        unsafe {
            _mm256_storeu_ps(row.as_mut_ptr(), acc[0]);
            _mm256_storeu_ps(row.as_mut_ptr().add(8), acc[1]);
        }
    }
    for (r, row) in tmp.chunks_exact(NR).take(tile.rows).enumerate() {
        for (j, &v) in row.iter().take(tile.cols).enumerate() {
            // SAFETY: r < tile.rows and j < tile.cols, inside the caller's rows.
            unsafe {
                let dst = c.add(r * ldc + j);
                *dst = if tile.overwrite { v } else { *dst + v };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{gram_portable, matmul_portable};
    use super::*;
    use crate::test_data::data;
    use std::vec;

    /// Agreement with the portable kernel to a few ulps of the sum of |terms| (≤ k).
    fn close(got: &[f32], want: &[f32], k: usize) -> bool {
        got.iter()
            .zip(want)
            .all(|(g, w)| (g - w).abs() <= 4.0 * f32::EPSILON * k as f32)
    }

    #[test]
    fn matmul_matches_portable_on_ragged_shapes() {
        if !crate::x86_features::avx2_fma() {
            return;
        }
        // Row tails (m % 6), column tails (n % 16), several depth slices (k > 256) and row
        // blocks (m > 240).
        let shapes = [
            (7, 3, 5),
            (13, 300, 17),
            (12, 100, 32),
            (6, 513, 16),
            (1, 600, 33),
            (40, 70, 1),
            (250, 520, 19),
        ];
        for &(m, k, n) in &shapes {
            let a = data(m * k, 1);
            let b = data(k * n, 2);
            let mut got = vec![f32::NAN; m * n];
            let mut want = vec![f32::NAN; m * n];
            assert!(matmul(&a, &b, &mut got, m, k, n));
            matmul_portable(&a, &b, &mut want, m, k, n);
            assert!(close(&got, &want, k), "{m}x{k}x{n}");
        }
    }

    #[test]
    fn gram_matches_portable_and_is_symmetric() {
        if !crate::x86_features::avx2_fma() {
            return;
        }
        for &(m, n) in &[(1, 9), (5, 300), (17, 64), (33, 100), (50, 80), (251, 270)] {
            let x = data(m * n, 3);
            let mut got = vec![f32::NAN; m * m];
            let mut want = vec![f32::NAN; m * m];
            assert!(gram(&x, &mut got, m, n));
            gram_portable(&x, &mut want, m, n);
            assert!(close(&got, &want, n), "{m}x{n}");
            for i in 0..m {
                for j in 0..m {
                    assert_eq!(got[i * m + j], got[j * m + i]);
                }
            }
        }
    }

    #[test]
    fn zero_depth_gives_zeros_and_short_slices_are_refused() {
        if !crate::x86_features::avx2_fma() {
            return;
        }
        let mut out = [f32::NAN; 6];
        assert!(matmul(&[], &[], &mut out, 2, 0, 3));
        assert_eq!(out, [0.0; 6]);
        let mut out = [1.0f32; 4];
        assert!(!matmul(&[0.0; 3], &[0.0; 4], &mut out, 2, 2, 2));
        assert_eq!(out, [1.0; 4]);
    }
}
