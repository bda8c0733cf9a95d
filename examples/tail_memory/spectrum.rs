//! Singular values and the paper's spectrum-isotropy metrics (§4.2).

use crate::memory::Dense;

/// Eigenvalues of a symmetric `n × n` matrix (row-major `f64`) by cyclic Jacobi rotations,
/// in descending order. `O(n³)` per sweep; fine for the few-hundred-wide memories here.
pub fn symmetric_eigenvalues(mut a: Vec<f64>, n: usize) -> Vec<f64> {
    for _sweep in 0..60 {
        let off: f64 = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        let diag: f64 = (0..n).map(|i| a[i * n + i] * a[i * n + i]).sum();
        if off <= 1e-24 * diag.max(1e-300) {
            break;
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
                    theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt())
                };
                let c = 1.0 / (t * t + 1.0).sqrt();
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
    let mut e: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
    e.sort_by(|x, y| y.total_cmp(x));
    e
}

/// Singular values of `w`, descending, from the eigenvalues of its smaller Gram matrix.
pub fn singular_values(w: &Dense) -> Vec<f64> {
    let (r, c) = (w.rows, w.cols);
    let m = r.min(c);
    let x = |i: usize, j: usize| f64::from(w.data[i * c + j]);
    let mut g = vec![0.0f64; m * m];
    for i in 0..m {
        for j in i..m {
            let v: f64 = if r <= c {
                (0..c).map(|k| x(i, k) * x(j, k)).sum()
            } else {
                (0..r).map(|k| x(k, i) * x(k, j)).sum()
            };
            g[i * m + j] = v;
            g[j * m + i] = v;
        }
    }
    symmetric_eigenvalues(g, m)
        .into_iter()
        .map(|e| e.max(0.0).sqrt())
        .collect()
}

/// The paper's isotropy metrics of a spectrum (σ descending).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Isotropy {
    /// Normalised SVD entropy `−Σ q ln q / ln n` over the nonzero σ, `q = σ²/Σσ²` (1 = flat).
    pub entropy: f64,
    /// Effective rank `exp(−Σ q ln q)`.
    pub effective_rank: f64,
    /// Share of energy in the ten largest singular values.
    pub top10_energy: f64,
    /// `Q75/Q25` of `σ²` over the nonzero σ (1 = flat).
    pub q75_q25: f64,
}

impl Isotropy {
    /// Metrics of `sigma` (descending). Singular values below `1e-6·σ_max` count as zero.
    pub fn of(sigma: &[f64]) -> Self {
        let max = sigma.first().copied().unwrap_or(0.0);
        let nz: Vec<f64> = sigma
            .iter()
            .copied()
            .filter(|s| *s > 1e-6 * max && *s > 0.0)
            .collect();
        let total: f64 = nz.iter().map(|s| s * s).sum();
        if nz.is_empty() || total == 0.0 {
            return Self {
                entropy: 0.0,
                effective_rank: 0.0,
                top10_energy: 0.0,
                q75_q25: 0.0,
            };
        }
        let h: f64 = nz.iter().map(|s| s * s / total).map(|q| -q * q.ln()).sum();
        let n = nz.len() as f64;
        let mut sq: Vec<f64> = nz.iter().map(|s| s * s).collect();
        sq.sort_by(f64::total_cmp);
        let quantile = |p: f64| {
            let pos = p * (sq.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            sq[lo] + (sq[hi] - sq[lo]) * (pos - lo as f64)
        };
        Self {
            entropy: if n > 1.0 { h / n.ln() } else { 1.0 },
            effective_rank: h.exp(),
            top10_energy: nz.iter().take(10).map(|s| s * s).sum::<f64>() / total,
            q75_q25: quantile(0.75) / quantile(0.25).max(1e-300),
        }
    }
}
