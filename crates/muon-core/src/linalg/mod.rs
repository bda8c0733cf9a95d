//! Dense `f32` kernels on row-major slices: products, Gram matrices and the Frobenius norm.
//!
//! These are the building blocks of Newton–Schulz and the reference the GPU kernels are
//! tested against. Accumulation is in `f32` with eight independent partial sums per dot
//! product (vectorisable, deterministic); norms accumulate in `f64`.

use crate::{MatMut, MatRef, MuonError};

// SIMD intrinsics and raw pointers, confined to this module (the crate denies unsafe code).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86_avx2;

/// Dot product of two equal-length slices, eight partial sums.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// `y += alpha · x` over equal-length slices.
#[inline]
pub(crate) fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// Rows of `A` handled together by [`matmul_raw`]: each row of `B` loaded from cache feeds
/// four output rows.
const MATMUL_ROWS: usize = 4;
/// Columns of the output handled together: four output row chunks of this many `f32` (4 KiB)
/// stay in L1 while the rows of `B` stream past.
const MATMUL_COLS: usize = 256;

/// Raw `out (m×n) = A (m×k) · B (k×n)`; lengths are the caller's contract (slices shorter than
/// the shapes say leave `out` untouched).
///
/// On x86-64 CPUs with AVX2 and FMA, products of at least 8³ multiply-adds run the blocked
/// kernel in `x86_avx2`; everything else (and every other target) runs [`matmul_portable`].
pub(crate) fn matmul_raw(a: &[f32], b: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
    #[cfg(target_arch = "x86_64")]
    if m.saturating_mul(k).saturating_mul(n) >= x86_avx2::MIN_WORK
        && x86_avx2::matmul(a, b, out, m, k, n)
    {
        return;
    }
    matmul_portable(a, b, out, m, k, n);
}

/// The portable `out (m×n) = A (m×k) · B (k×n)`, the reference for the accelerated kernels.
///
/// Register- and cache-blocked "axpy" form: for a block of four rows of `A` and a chunk of
/// columns, each row of `B` is read once and accumulated into four output rows, which
/// vectorises without intrinsics and cuts traffic from `B` fourfold.
///
/// Written with exact-size chunk iterators instead of indexing, so the compiled kernel has no
/// bounds-check panic paths (the `no_std` firmware path must be panic-free); slices shorter
/// than the shapes say leave `out` untouched instead of panicking.
fn matmul_portable(a: &[f32], b: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
    let (Some(a), Some(b), Some(out)) = (
        a.get(..m.wrapping_mul(k)),
        b.get(..k.wrapping_mul(n)),
        out.get_mut(..m.wrapping_mul(n)),
    ) else {
        debug_assert!(false, "matmul_raw: a slice is shorter than its shape");
        return;
    };
    out.fill(0.0);
    if k == 0 || n == 0 {
        return;
    }
    let mut rows = a.chunks_exact(k).zip(out.chunks_exact_mut(n));
    for _ in 0..m / MATMUL_ROWS {
        let (Some((a0, r0)), Some((a1, r1)), Some((a2, r2)), Some((a3, r3))) =
            (rows.next(), rows.next(), rows.next(), rows.next())
        else {
            break;
        };
        let out_chunks = r0
            .chunks_mut(MATMUL_COLS)
            .zip(r1.chunks_mut(MATMUL_COLS))
            .zip(r2.chunks_mut(MATMUL_COLS))
            .zip(r3.chunks_mut(MATMUL_COLS));
        for (block, (((o0, o1), o2), o3)) in out_chunks.enumerate() {
            let j0 = block * MATMUL_COLS;
            let a_cols = a0.iter().zip(a1).zip(a2).zip(a3);
            for ((((&a0p, &a1p), &a2p), &a3p), b_row) in a_cols.zip(b.chunks_exact(n)) {
                let b_row = b_row.get(j0..).unwrap_or(&[]);
                for ((((x0, x1), x2), x3), &bv) in o0
                    .iter_mut()
                    .zip(o1.iter_mut())
                    .zip(o2.iter_mut())
                    .zip(o3.iter_mut())
                    .zip(b_row)
                {
                    *x0 += a0p * bv;
                    *x1 += a1p * bv;
                    *x2 += a2p * bv;
                    *x3 += a3p * bv;
                }
            }
        }
    }
    for (a_row, out_row) in rows {
        for (&aip, b_row) in a_row.iter().zip(b.chunks_exact(n)) {
            axpy(aip, b_row, out_row);
        }
    }
}

/// Raw symmetric `out (m×m) = X (m×n) · Xᵀ`; short slices leave `out` untouched.
///
/// Dispatched like [`matmul_raw`]: the blocked AVX2 kernel where it applies, else
/// [`gram_portable`].
pub(crate) fn gram_raw(x: &[f32], out: &mut [f32], m: usize, n: usize) {
    #[cfg(target_arch = "x86_64")]
    if m.saturating_mul(m).saturating_mul(n) >= x86_avx2::MIN_WORK && x86_avx2::gram(x, out, m, n) {
        return;
    }
    gram_portable(x, out, m, n);
}

/// The portable Gram matrix: the upper triangle by row dot products, mirrored; the reference
/// for the accelerated kernels.
///
/// Panic-free like [`matmul_portable`]: short slices leave `out` untouched.
fn gram_portable(x: &[f32], out: &mut [f32], m: usize, n: usize) {
    let (Some(x), Some(out)) = (x.get(..m.wrapping_mul(n)), out.get_mut(..m.wrapping_mul(m)))
    else {
        debug_assert!(false, "gram_raw: a slice is shorter than its shape");
        return;
    };
    if n == 0 {
        out.fill(0.0);
        return;
    }
    for (i, xi) in x.chunks_exact(n).enumerate() {
        for (j, xj) in x.chunks_exact(n).enumerate().skip(i) {
            let v = dot(xi, xj);
            if let Some(o) = out.get_mut(i * m + j) {
                *o = v;
            }
            if let Some(o) = out.get_mut(j * m + i) {
                *o = v;
            }
        }
    }
}

/// Frobenius norm `‖x‖_F = √Σ x²`, accumulated in `f64` so large matrices lose no precision.
/// Saturates to `f32::INFINITY` if the norm exceeds `f32::MAX`.
#[must_use]
pub fn frobenius_norm(x: &[f32]) -> f32 {
    frobenius_norm_f64(x) as f32
}

/// The Frobenius norm in `f64` (never overflows for finite `f32` input).
pub(crate) fn frobenius_norm_f64(x: &[f32]) -> f64 {
    let mut acc = 0.0f64;
    for &v in x {
        acc += f64::from(v) * f64::from(v);
    }
    crate::math::sqrt(acc)
}

/// `out = A · B` for `A: m×k`, `B: k×n`, `out: m×n`.
///
/// # Errors
/// [`MuonError::ShapeMismatch`] if the inner dimensions or the output shape disagree.
pub fn matmul(a: MatRef<'_>, b: MatRef<'_>, mut out: MatMut<'_>) -> Result<(), MuonError> {
    if a.cols() != b.rows() {
        return Err(MuonError::ShapeMismatch {
            what: "b",
            expected: (a.cols(), b.cols()),
            found: b.shape(),
        });
    }
    if out.shape() != (a.rows(), b.cols()) {
        return Err(MuonError::ShapeMismatch {
            what: "out",
            expected: (a.rows(), b.cols()),
            found: out.shape(),
        });
    }
    matmul_raw(
        a.as_slice(),
        b.as_slice(),
        out.as_mut_slice(),
        a.rows(),
        a.cols(),
        b.cols(),
    );
    Ok(())
}

/// `out = X · Xᵀ` (the Gram matrix of the rows), `X: m×n`, `out: m×m`, symmetric.
///
/// # Errors
/// [`MuonError::ShapeMismatch`] if `out` is not `m×m`.
pub fn gram(x: MatRef<'_>, mut out: MatMut<'_>) -> Result<(), MuonError> {
    if out.shape() != (x.rows(), x.rows()) {
        return Err(MuonError::ShapeMismatch {
            what: "out",
            expected: (x.rows(), x.rows()),
            found: out.shape(),
        });
    }
    gram_raw(x.as_slice(), out.as_mut_slice(), x.rows(), x.cols());
    Ok(())
}

/// Raw transpose: `out (n×m) = xᵀ` for `x: m×n`; short slices leave `out` untouched.
///
/// Panic-free like [`matmul_portable`]: iterators instead of indexing.
pub(crate) fn transpose_raw(x: &[f32], out: &mut [f32], m: usize, n: usize) {
    let (Some(x), Some(out)) = (x.get(..m.wrapping_mul(n)), out.get_mut(..m.wrapping_mul(n)))
    else {
        debug_assert!(false, "transpose_raw: a slice is shorter than its shape");
        return;
    };
    if n == 0 {
        return;
    }
    // Row i of x is column i of out: every m-th element from index i.
    for (i, row) in x.chunks_exact(n).enumerate() {
        let column = out.iter_mut().skip(i).step_by(m.max(1));
        for (o, &v) in column.zip(row) {
            *o = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_matches_hand_computation() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2×3
        let b = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0]; // 3×2
        let mut out = [0.0; 4];
        matmul(
            MatRef::new(2, 3, &a).unwrap(),
            MatRef::new(3, 2, &b).unwrap(),
            MatMut::new(2, 2, &mut out).unwrap(),
        )
        .unwrap();
        assert_eq!(out, [58.0, 64.0, 139.0, 154.0]);
    }

    /// Shapes that exercise the four-row blocks, the row tail and a partial column chunk.
    #[test]
    fn blocked_matmul_matches_naive_triple_loop() {
        let (m, k, n) = (9, 5, MATMUL_COLS + 44);
        let a: [f32; 45] = core::array::from_fn(|i| (i as f32 * 0.37).sin());
        let b: [f32; 5 * (MATMUL_COLS + 44)] = core::array::from_fn(|i| (i as f32 * 0.11).cos());
        let mut out = [f32::NAN; 9 * (MATMUL_COLS + 44)];
        matmul_portable(&a, &b, &mut out, m, k, n);
        for i in 0..m {
            for j in 0..n {
                let naive: f32 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
                assert!((out[i * n + j] - naive).abs() < 1e-5, "({i},{j})");
            }
        }
    }

    #[test]
    fn matmul_rejects_bad_inner_dimension() {
        let a = [0.0; 6];
        let mut out = [0.0; 4];
        let err = matmul(
            MatRef::new(2, 3, &a).unwrap(),
            MatRef::new(2, 3, &a).unwrap(),
            MatMut::new(2, 2, &mut out).unwrap(),
        );
        assert!(matches!(err, Err(MuonError::ShapeMismatch { .. })));
    }

    #[test]
    fn gram_is_x_times_x_transpose() {
        let x: [f32; 6] = [1.0, 2.0, 3.0, -1.0, 0.5, 2.0];
        let mut g = [0.0; 4];
        gram(
            MatRef::new(2, 3, &x).unwrap(),
            MatMut::new(2, 2, &mut g).unwrap(),
        )
        .unwrap();
        assert_eq!(g, [14.0, 6.0, 6.0, 5.25]);
    }

    #[test]
    fn dot_handles_remainders() {
        let a: [f32; 11] = core::array::from_fn(|i| i as f32);
        let b = [1.0f32; 11];
        assert_eq!(dot(&a, &b), 55.0);
    }

    #[test]
    fn frobenius_of_3_4_is_5() {
        assert_eq!(frobenius_norm(&[3.0, 4.0]), 5.0);
    }
}
