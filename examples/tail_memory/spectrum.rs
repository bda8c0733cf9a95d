//! Singular values and the paper's spectrum-isotropy metrics (§4.2).

use muon::cpu::MuonError;
use muon::cpu::spectrum::{self, singular_values_scratch_len};

use crate::memory::Dense;

/// Singular values of `w`, descending (the core's Jacobi-based diagnostic).
pub fn singular_values(w: &Dense) -> Result<Vec<f64>, MuonError> {
    let mut gram = vec![0.0; singular_values_scratch_len(w.rows, w.cols)];
    let mut out = vec![0.0; w.rows.min(w.cols)];
    spectrum::singular_values(w.view()?, &mut gram, &mut out)?;
    Ok(out)
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
