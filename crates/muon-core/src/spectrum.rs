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
/// eigenvalues are left on the diagonal. Returns the number of full sweeps it took (at most
/// 100; Jacobi converges quadratically, in well under 10 for the sizes used here).
fn jacobi_eigenvalues(a: &mut [f64], n: usize) -> u32 {
    for sweep in 0..100 {
        let mut off = 0.0;
        for i in 0..n {
            for j in i + 1..n {
                off += a[i * n + j] * a[i * n + j];
            }
        }
        if off <= 1e-24 * diagonal_energy(a, n) || off == 0.0 {
            return sweep;
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
                    libm::copysign(1.0, theta)
                        / (libm::fabs(theta) + math::sqrt(theta * theta + 1.0))
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
    100
}

/// `Σ a_ii²`: the scale the off-diagonal energy is compared with to stop the sweeps. It only
/// decides when Jacobi stops (once the off-diagonal part is ~1e-12 of the diagonal, further
/// rotations move the eigenvalues by ~1e-24 relative), not what it converges to.
fn diagonal_energy(a: &[f64], n: usize) -> f64 {
    (0..n).map(|i| a[i * n + i] * a[i * n + i]).sum()
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

    /// Singular values scale with the matrix, down to tiny ones: the stopping test is relative
    /// to the matrix's own size, not an absolute threshold.
    #[test]
    fn singular_values_scale_with_the_matrix() {
        for scale in [1e-15f32, 1e-6, 1.0, 1e6] {
            let x = [3.0 * scale, 0.0, 4.0 * scale, 5.0 * scale];
            let mut gram = [0.0; 4];
            let mut out = [0.0; 2];
            singular_values(MatRef::new(2, 2, &x).unwrap(), &mut gram, &mut out).unwrap();
            let s = f64::from(scale);
            assert!(
                (out[0] / s - 3.0 * 5f64.sqrt()).abs() < 1e-6,
                "{scale}: {out:?}"
            );
            assert!((out[1] / s - 5f64.sqrt()).abs() < 1e-6, "{scale}: {out:?}");
        }
    }

    /// `Q diag(λ) Qᵀ` with `Q` a product of two Householder reflections (orthogonal, dense)
    /// and known, spread eigenvalues (one repeated, one zero, one negative): Jacobi finds
    /// them all to 1e-10 of the largest, in few sweeps (it converges quadratically; a wrong
    /// rotation angle still preserves the eigenvalues but shows in the sweep count).
    #[test]
    fn jacobi_finds_known_eigenvalues_quickly() {
        let n = 24;
        let mut lambda: std::vec::Vec<f64> = (0..n).map(|i| 1.5f64.powi(i as i32) / 50.0).collect();
        lambda[3] = lambda[4];
        lambda[7] = 0.0;
        lambda[11] = -2.0;
        let reflect = |v: &[f64]| {
            let vv: f64 = v.iter().map(|x| x * x).sum();
            let mut h = std::vec![0.0f64; n * n];
            for i in 0..n {
                for j in 0..n {
                    h[i * n + j] = f64::from(u8::from(i == j)) - 2.0 * v[i] * v[j] / vv;
                }
            }
            h
        };
        let v1: std::vec::Vec<f64> = (0..n).map(|i| 1.0 + (i as f64 * 0.7).sin()).collect();
        let v2: std::vec::Vec<f64> = (0..n).map(|i| (i as f64 * 1.3).cos() - 0.2).collect();
        let (h1, h2) = (reflect(&v1), reflect(&v2));
        let q: std::vec::Vec<f64> = (0..n * n)
            .map(|ij| {
                (0..n)
                    .map(|k| h1[ij / n * n + k] * h2[k * n + ij % n])
                    .sum()
            })
            .collect();
        let mut a: std::vec::Vec<f64> = (0..n * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                (0..n)
                    .map(|k| q[i * n + k] * lambda[k] * q[j * n + k])
                    .sum()
            })
            .collect();
        let sweeps = jacobi_eigenvalues(&mut a, n);
        let mut got: std::vec::Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
        got.sort_by(f64::total_cmp);
        lambda.sort_by(f64::total_cmp);
        let top = lambda[n - 1];
        for (g, l) in got.iter().zip(&lambda) {
            assert!((g - l).abs() < 1e-10 * top, "{got:?}\n{lambda:?}");
        }
        assert!((3..=10).contains(&sweeps), "{sweeps} sweeps");
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
