//! AVX2 + FMA products for x86-64, chosen at run time.
//!
//! The portable kernels in the parent module are the reference; this path computes the same
//! products (`A·B`, the upper triangle of `X·Xᵀ`, and of `S·S` for a symmetric `S`) in the
//! layout of a BLAS-style blocked GEMM, and is used only when the CPU reports AVX2 and FMA
//! ([`crate::x86_features`]) and [`super::CpuKernel::Avx2Fma`] is selected.
//!
//! Blocking, for one core:
//! - the depth is cut into `KC = 256` slices;
//! - for each slice, `MC = 240` rows of `A` (240 KiB) stay in L2 while every 16-column panel of
//!   the right operand is fed to the micro-kernel: read in place when the operand is row-major
//!   and at most [`DIRECT_MAX_COLS`] wide (small products: the whole slice sits in L1/L2 and
//!   copying it would cost as much as the arithmetic), otherwise packed into a 16 KiB buffer on
//!   the stack (L1, 32-byte aligned, zero-padded past the last column);
//! - a `R`×16 micro-kernel (`R ≤ 6`, a compile-time constant, so a short last row tile costs
//!   no wasted work) keeps its `2R` `__m256` accumulators in registers, broadcasting one
//!   element of each of `R` rows of `A` against two vectors of the panel per depth step;
//!   a panel narrower than 16 columns is loaded and stored with lane masks.
//!
//! Each output element is a sequential fused multiply-add over its depth slice, added to the
//! previous slices' sum: a different rounding order from the portable path (which sums eight
//! partial dot products), agreeing to a few ulps of the sum of `|terms|`. Because a fused
//! multiply-add's product is exact, element `(i, j)` and `(j, i)` of a symmetric product come
//! out bit-identical wherever both are computed, so only the tiles the triangle skips are
//! mirrored.

use core::arch::x86_64::{
    __m256, __m256i, _mm256_add_ps, _mm256_broadcast_ss, _mm256_cmpgt_epi32, _mm256_fmadd_ps,
    _mm256_loadu_ps, _mm256_maskload_ps, _mm256_maskstore_ps, _mm256_set1_epi32, _mm256_setr_epi32,
    _mm256_setzero_ps, _mm256_storeu_ps,
};
use core::mem::MaybeUninit;

/// Rows of `A` per micro-kernel call (at most).
const MR: usize = 6;
/// Columns of the right operand per panel (two `__m256`).
const NR: usize = 16;
/// Depth of one panel.
const KC: usize = 256;
/// Rows of `A` swept per panel (a multiple of `MR`); `MC × KC` floats stay in L2.
const MC: usize = 240;
/// Row-major right operands at most this many columns wide are read in place, not packed.
/// Wider rows put each depth step of a panel on its own page-aligned stride (4 KiB apart at
/// 1024 columns), where L1 associativity thrashes; packing makes the panel contiguous.
const DIRECT_MAX_COLS: usize = 128;

/// Products with fewer multiply-adds than this (8³) stay on the portable path.
pub(super) const MIN_WORK: usize = 512;

/// One packed `KC × NR` panel, row-major. Left uninitialised (16 KiB of zeroing per product
/// would dominate small sizes): [`pack`] writes the first `kc` rows and [`kernel`] reads only
/// those.
#[repr(C, align(32))]
struct Panel([MaybeUninit<f32>; KC * NR]);

/// Where the right operand's element `(p, j)` lives: `data[p * row_stride + j * col_stride]`.
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
    unsafe { gemm(a, k, b, out, m, k, n, None) };
    true
}

/// `out (m×m) = X (m×n) · Xᵀ`: the upper triangle by the blocked kernel, mirrored. Returns
/// `false`, leaving `out` untouched, when the CPU lacks AVX2/FMA or a slice is too short.
pub(super) fn gram(x: &[f32], out: &mut [f32], m: usize, n: usize) -> bool {
    if !gram_upper_rows(x, out, m, n, 0, m) {
        return false;
    }
    mirror_skipped(out, m);
    true
}

/// Rows `row0..row0 + rows` of the upper triangle of `X (m×n) · Xᵀ` (and of whatever lower
/// part the tiles cover) into `out`, which holds just those rows (`rows × m`); the caller
/// mirrors the whole matrix with [`mirror_skipped`] once every row is done. `row0` must be a
/// multiple of 6 (the row tile), so the tiles line up with a single-call product. Returns
/// `false`, leaving `out` untouched, when the CPU lacks AVX2/FMA or a slice is too short.
pub(super) fn gram_upper_rows(
    x: &[f32],
    out: &mut [f32],
    m: usize,
    n: usize,
    row0: usize,
    rows: usize,
) -> bool {
    let in_range = row0.checked_add(rows).is_some_and(|end| end <= m) && row0.is_multiple_of(MR);
    if !crate::x86_features::avx2_fma() || !in_range || !fits(x, m, n) || !fits(out, rows, m) {
        return false;
    }
    // Xᵀ as the right operand: its element (p, j) is X[j][p].
    let xt = Operand {
        data: x,
        row_stride: 1,
        col_stride: n,
    };
    // SAFETY: AVX2 and FMA are available (checked above) and rows row0..row0+rows of X exist; out holds rows × m.
    unsafe { gemm(&x[row0 * n..], n, xt, out, rows, n, m, Some(row0)) };
    true
}

/// `out (m×m) = S · S` for an exactly symmetric `S (m×m)` (so `S·S = S·Sᵀ`, its Gram matrix):
/// the upper triangle with `S` itself as the row-major right operand (no transposed reads),
/// mirrored. Returns `false`, leaving `out` untouched, when the CPU lacks AVX2/FMA or a slice is
/// too short.
pub(super) fn square_symmetric(s: &[f32], out: &mut [f32], m: usize) -> bool {
    if !square_symmetric_upper_rows(s, out, m, 0, m) {
        return false;
    }
    mirror_skipped(out, m);
    true
}

/// Rows `row0..row0 + rows` of [`square_symmetric`]'s upper triangle, as
/// [`gram_upper_rows`] for `X·Xᵀ`.
pub(super) fn square_symmetric_upper_rows(
    s: &[f32],
    out: &mut [f32],
    m: usize,
    row0: usize,
    rows: usize,
) -> bool {
    let in_range = row0.checked_add(rows).is_some_and(|end| end <= m) && row0.is_multiple_of(MR);
    if !crate::x86_features::avx2_fma() || !in_range || !fits(s, m, m) || !fits(out, rows, m) {
        return false;
    }
    let right = Operand {
        data: s,
        row_stride: m,
        col_stride: 1,
    };
    // SAFETY: AVX2 and FMA are available (checked above) and rows row0..row0+rows of S exist; out holds rows × m.
    unsafe { gemm(&s[row0 * m..], m, right, out, rows, m, m, Some(row0)) };
    true
}

/// Whether `s` holds a `rows × cols` matrix (without overflow).
fn fits(s: &[f32], rows: usize, cols: usize) -> bool {
    rows.checked_mul(cols).is_some_and(|len| s.len() >= len)
}

/// Copies the upper triangle onto the lower one where [`gemm`] in `upper` mode skipped a tile.
///
/// Row `i` lies in the row tile starting at `⌊i/MR⌋·MR` (MC is a multiple of MR); a panel of
/// columns `j0..j0+NR` is computed for that tile iff `j0 + NR > ⌊i/MR⌋·MR`. So the skipped
/// columns of row `i` are exactly those below `⌊⌊i/MR⌋·MR / NR⌋·NR` (never past `i`).
pub(super) fn mirror_skipped(out: &mut [f32], m: usize) {
    for i in 0..m {
        let cut = (i / MR * MR) / NR * NR;
        for j in 0..cut {
            out[i * m + j] = out[j * m + i];
        }
    }
}

/// The blocked product `out (m×n) = A (m×k, row stride lda) · B`; with `upper = Some(row0)`
/// (`row0`: the index of `a`'s first row in the whole symmetric product), only tiles that
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
    upper: Option<usize>,
) {
    if k == 0 {
        out[..m * n].fill(0.0);
        return;
    }
    let direct = b.col_stride == 1 && n <= DIRECT_MAX_COLS;
    let mut panel = Panel([MaybeUninit::uninit(); KC * NR]);
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        for i_blk in (0..m).step_by(MC) {
            let i_end = (i_blk + MC).min(m);
            for j0 in (0..n).step_by(NR) {
                let cols = NR.min(n - j0);
                // A tile touches the upper triangle iff its first row ≤ its last column.
                if upper.is_some_and(|row0| row0 + i_blk >= j0 + cols) {
                    continue;
                }
                let (bp, ldb) = if direct {
                    // SAFETY: row p0, column j0 of B lie inside its k × n elements.
                    (
                        unsafe { b.data.as_ptr().add(p0 * b.row_stride + j0) },
                        b.row_stride,
                    )
                } else {
                    // SAFETY: the caller's contract on b's shape.
                    unsafe { pack(&mut panel, b, p0, kc, j0, cols) };
                    (panel.0.as_ptr().cast::<f32>(), NR)
                };
                let masks = lane_masks(cols);
                for i0 in (i_blk..i_end).step_by(MR) {
                    if upper.is_some_and(|row0| row0 + i0 >= j0 + cols) {
                        break;
                    }
                    let tile = Tile {
                        kc,
                        cols,
                        masks,
                        overwrite: p0 == 0,
                    };
                    // SAFETY: rows i0..i0+rows of A have lda ≥ p0 + kc columns; bp points at kc
                    // rows of stride ldb with `cols` readable floats each (B in place, or the
                    // panel `pack` just wrote); out holds rows i0..i0+rows with n ≥ j0 + cols
                    // columns (the caller's contract).
                    unsafe {
                        let ap = a.as_ptr().add(i0 * lda + p0);
                        let cp = out.as_mut_ptr().add(i0 * n + j0);
                        match MR.min(i_end - i0) {
                            6 => kernel::<6>(ap, lda, bp, ldb, cp, n, tile),
                            5 => kernel::<5>(ap, lda, bp, ldb, cp, n, tile),
                            4 => kernel::<4>(ap, lda, bp, ldb, cp, n, tile),
                            3 => kernel::<3>(ap, lda, bp, ldb, cp, n, tile),
                            2 => kernel::<2>(ap, lda, bp, ldb, cp, n, tile),
                            _ => kernel::<1>(ap, lda, bp, ldb, cp, n, tile),
                        }
                    }
                }
            }
        }
    }
}

/// Copies `B[p0..p0+kc, j0..j0+cols]` into the panel, zero-padding columns past `cols`.
///
/// # Safety
/// `b` holds every element `(p, j)` with `p < p0 + kc`, `j < j0 + cols` under its strides.
#[target_feature(enable = "avx2,fma")]
unsafe fn pack(panel: &mut Panel, b: Operand<'_>, p0: usize, kc: usize, j0: usize, cols: usize) {
    let dst = panel.0.as_mut_ptr().cast::<f32>();
    let src = b.data.as_ptr();
    // SAFETY: the panel has KC ≥ kc rows of NR floats; source indices are the caller's.
    unsafe {
        if b.col_stride == 1 {
            // Row-major B: one (masked) 16-float row per depth step.
            let masks = lane_masks(cols);
            for p in 0..kc {
                let s = src.add((p0 + p) * b.row_stride + j0);
                let d = dst.add(p * NR);
                _mm256_storeu_ps(d, _mm256_maskload_ps(s, masks[0]));
                _mm256_storeu_ps(d.add(8), _mm256_maskload_ps(s.add(8), masks[1]));
            }
        } else {
            // Transposed B (the Gram product): column c of the panel is a contiguous run of
            // `kc` floats in the source (`b.row_stride == 1`).
            for c in 0..NR {
                let d = dst.add(c);
                if c < cols {
                    let s = src.add(p0 * b.row_stride + (j0 + c) * b.col_stride);
                    for p in 0..kc {
                        *d.add(p * NR) = *s.add(p * b.row_stride);
                    }
                } else {
                    for p in 0..kc {
                        *d.add(p * NR) = 0.0;
                    }
                }
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

/// One micro-kernel call's depth, column count (≤ NR) and masks, and whether to overwrite or
/// accumulate into the output.
#[derive(Clone, Copy)]
struct Tile {
    kc: usize,
    cols: usize,
    masks: [__m256i; 2],
    overwrite: bool,
}

/// `C[..R, ..cols] (+)= A[..R, ..kc] · B[..kc, ..cols]`, `B` rows `ldb` apart.
///
/// # Safety
/// AVX2 and FMA are available; `a` points at `R` rows of stride `lda` with `kc` readable
/// floats each; `b` at `kc` rows of stride `ldb` with `cols` readable floats each (all `NR`
/// when `cols == NR`); `c` at `R` rows of stride `ldc` with `cols` floats each.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn kernel<const R: usize>(
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    tile: Tile,
) {
    let mut acc: [[__m256; 2]; R] = [[_mm256_setzero_ps(); 2]; R];
    let [m0, m1] = tile.masks;
    // SAFETY (both loops and the stores): the caller's contract; masked loads and stores touch
    // only the `cols` existing columns.
    unsafe {
        if tile.cols == NR {
            for p in 0..tile.kc {
                let b0 = _mm256_loadu_ps(b.add(p * ldb));
                let b1 = _mm256_loadu_ps(b.add(p * ldb + 8));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let av = _mm256_broadcast_ss(&*a.add(r * lda + p));
                    acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
                    acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                let dst = c.add(r * ldc);
                if tile.overwrite {
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
        } else {
            for p in 0..tile.kc {
                let b0 = _mm256_maskload_ps(b.add(p * ldb), m0);
                let b1 = _mm256_maskload_ps(b.add(p * ldb + 8), m1);
                for (r, acc) in acc.iter_mut().enumerate() {
                    let av = _mm256_broadcast_ss(&*a.add(r * lda + p));
                    acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
                    acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                let dst = c.add(r * ldc);
                let (v0, v1) = if tile.overwrite {
                    (acc[0], acc[1])
                } else {
                    (
                        _mm256_add_ps(_mm256_maskload_ps(dst, m0), acc[0]),
                        _mm256_add_ps(_mm256_maskload_ps(dst.add(8), m1), acc[1]),
                    )
                };
                _mm256_maskstore_ps(dst, m0, v0);
                _mm256_maskstore_ps(dst.add(8), m1, v1);
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

    /// Every guard on its own: a slice too short for its shape, or rows outside the matrix or
    /// not on a row-tile boundary, returns `false` and writes nothing (the kernels would read
    /// or write out of bounds otherwise).
    #[test]
    fn kernels_refuse_short_slices_and_bad_row_ranges() {
        if !crate::x86_features::avx2_fma() {
            return;
        }
        let (m, k, n) = (12, 10, 14);
        let a = data(m * k, 1);
        let b = data(k * n, 2);
        let mut out = vec![7.0f32; m * n];
        assert!(!matmul(&a[1..], &b, &mut out, m, k, n));
        assert!(!matmul(&a, &b[1..], &mut out, m, k, n));
        assert!(!matmul(&a, &b, &mut out[1..], m, k, n));
        assert!(!matmul(&a, &b, &mut out, usize::MAX, 2, n));
        assert!(out.iter().all(|&x| x == 7.0));
        assert!(matmul(&a, &b, &mut out, m, k, n));

        let mut g = vec![7.0f32; m * m];
        assert!(!gram_upper_rows(&a[1..], &mut g, m, k, 0, m));
        assert!(!gram_upper_rows(&a, &mut g[1..], m, k, 0, m));
        assert!(!gram_upper_rows(&a, &mut g, m, k, 6, m)); // rows past m
        assert!(!gram_upper_rows(&a, &mut g, m, k, 3, 6)); // not a multiple of MR
        assert!(!gram_upper_rows(&a, &mut g, m, k, usize::MAX, 1)); // overflow
        let sq = data(m * m, 3);
        assert!(!square_symmetric_upper_rows(&sq[1..], &mut g, m, 0, m));
        assert!(!square_symmetric_upper_rows(&sq, &mut g[1..], m, 0, m));
        assert!(!square_symmetric_upper_rows(&sq, &mut g, m, 6, m));
        assert!(!square_symmetric_upper_rows(&sq, &mut g, m, 3, 6));
        assert!(g.iter().all(|&x| x == 7.0));
        assert!(gram_upper_rows(&a, &mut g, m, k, 0, m));
        assert!(square_symmetric_upper_rows(&sq, &mut g, m, 6, 6));
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
