//! Singular values, for checking what Newton–Schulz did to a spectrum and for the isotropy
//! metrics of a weight matrix.
//!
//! Cyclic Jacobi on the smaller Gram matrix, in `f64`: `O(min(r,c)³)` per sweep, accurate to
//! about `1e-8·σ_max` for the small singular values (the Gram matrix squares the condition
//! number), which is ample for diagnostics; not a production SVD.

use crate::{MatRef, MuonError, math, validate};

/// `f64` scratch elements [`singular_values`] needs: `min(rows, cols)²`.
#[must_use]
pub const fn singular_values_scratch_len(rows: usize, cols: usize) -> usize {
    let m = if rows < cols { rows } else { cols };
    m * m
}

/// Writes the singular values of `x`, descending, into `out` (`min(rows, cols)` elements).
///
/// # Errors
/// [`MuonError::LengthMismatch`] if `out` is not `min(rows, cols)` long,
/// [`MuonError::ScratchTooSmall`] if `gram` is shorter than [`singular_values_scratch_len`].
pub fn singular_values(x: MatRef<'_>, gram: &mut [f64], out: &mut [f64]) -> Result<(), MuonError> {
    let (r, c) = x.shape();
    let m = r.min(c);
    validate::length("out", m, out.len())?;
    validate::scratch(m * m, gram.len())?;
    let g = &mut gram[..m * m];
    let data = x.as_slice();
    let at = |i: usize, j: usize| f64::from(data[i * c + j]);
    for i in 0..m {
        for j in i..m {
            let v: f64 = if r <= c {
                (0..c).map(|k| at(i, k) * at(j, k)).sum()
            } else {
                (0..r).map(|k| at(k, i) * at(k, j)).sum()
            };
            g[i * m + j] = v;
            g[j * m + i] = v;
        }
    }
    jacobi_eigenvalues(g, m);
    for (i, o) in out.iter_mut().enumerate() {
        *o = math::sqrt(g[i * m + i].max(0.0));
    }
    out.sort_unstable_by(|a, b| b.total_cmp(a));
    Ok(())
}

/// Diagonalises the symmetric `n × n` matrix `a` in place by cyclic Jacobi rotations; the
/// eigenvalues are left on the diagonal.
fn jacobi_eigenvalues(a: &mut [f64], n: usize) {
    for _sweep in 0..100 {
        let mut off = 0.0;
        let mut diag = 0.0;
        for i in 0..n {
            diag += a[i * n + i] * a[i * n + i];
            for j in i + 1..n {
                off += a[i * n + j] * a[i * n + j];
            }
        }
        if off <= 1e-24 * diag || off == 0.0 {
            return;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = if theta == 0.0 {
                    1.0
                } else {
                    let sign = if theta > 0.0 { 1.0 } else { -1.0 };
                    sign / (libm::fabs(theta) + math::sqrt(theta * theta + 1.0))
                };
                let c = 1.0 / math::sqrt(t * t + 1.0);
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singular_values_of_a_known_matrix() {
        // [[3, 0], [4, 5]] has singular values 3√5 and √5.
        let x = [3.0f32, 0.0, 4.0, 5.0];
        let mut gram = [0.0; 4];
        let mut out = [0.0; 2];
        singular_values(MatRef::new(2, 2, &x).unwrap(), &mut gram, &mut out).unwrap();
        assert!((out[0] - 3.0 * 5f64.sqrt()).abs() < 1e-9, "{out:?}");
        assert!((out[1] - 5f64.sqrt()).abs() < 1e-9, "{out:?}");
    }

    #[test]
    fn tall_and_wide_agree() {
        let x: [f32; 6] = [1.0, 2.0, 3.0, -1.0, 0.5, 2.0];
        let xt: [f32; 6] = [1.0, -1.0, 2.0, 0.5, 3.0, 2.0];
        let (mut g, mut a, mut b) = ([0.0; 4], [0.0; 2], [0.0; 2]);
        singular_values(MatRef::new(2, 3, &x).unwrap(), &mut g, &mut a).unwrap();
        singular_values(MatRef::new(3, 2, &xt).unwrap(), &mut g, &mut b).unwrap();
        assert!((a[0] - b[0]).abs() < 1e-12 && (a[1] - b[1]).abs() < 1e-12);
    }
}
