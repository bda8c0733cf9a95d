//! Experiment 1 (paper §5, Theorem 5.3): one update from `W₀ = 0` on the two-level memory.
//!
//! Every method's first update is `W = η·W₁` for a fixed `W₁` (GD: `−∇L`; SignGD:
//! `−sign(∇L)`; Muon: `−U Vᵀ`), so the logits are `η·(Ẽᵀ W₁ E)`: computed once, then the
//! step size is swept on them without any further matrix product. `ϱ^ε` is the worst class's
//! correct probability at the first `η` where the best class's reaches `1 − ε`.

use muon::cpu::adam::AdamConfig;
use muon::cpu::muon::MuonConfig;
use muon::cpu::newton_schulz::NsConfig;
use muon::cpu::sgd::SgdConfig;

use crate::error::ExampleError;
use crate::memory::{Dense, EmbeddingKind, Memory, two_level_distribution};
use crate::optim::{Backend, OptimizerSpec};
use crate::progress::Progress;

/// Settings of the one-step experiment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneStepParams {
    /// Number of classes `K` (= dimension `d`).
    pub classes: usize,
    /// Probability mass of the head classes.
    pub alpha: f64,
    /// Fraction of classes in the head.
    pub beta: f64,
    /// `ε` of `ϱ^ε`.
    pub eps: f64,
    /// Polar Express steps for Muon's "exact" `U Vᵀ` (the schedule ends in the convergent
    /// quintic `(15x − 10x³ + 3x⁵)/8`, so more steps only converge further).
    pub ns_steps: u32,
}

/// `ϱ^ε` of one method on one embedding kind.
#[derive(Clone, Debug, PartialEq)]
pub struct OneStepResult {
    /// `"gd"`, `"signgd"`, `"muon"` (exact polar factor) or `"muon_ns5"` (torch's quintic).
    pub method: &'static str,
    /// Worst class's correct probability at the crossing (`None` if never reached).
    pub rho: Option<f64>,
    /// The step size at the crossing.
    pub eta: Option<f64>,
    /// For Muon: `‖O Oᵀ O − O‖_F / ‖O‖_F` of the update `O`; zero for an exact polar factor
    /// (every singular value 0 or 1), about `2·rms(σ − 1)` when the σ are near 1.
    pub polar_residual: Option<f64>,
}

/// The one-step methods, as optimizers of the library taking one step with lr 1 from
/// `W₀ = 0`: GD (SGD without momentum), SignGD (Adam with `β1 = β2 = 0`), Muon with an exact
/// polar factor (Polar Express, `ns_steps` iterations; the schedule ends in the convergent
/// quintic `(15/8, −10/8, 3/8)`), and Muon as torch runs it (quintic, 5 steps) for comparison.
/// Momentum and weight decay are off: the theorem is about the bare first update.
fn methods(p: &OneStepParams) -> Result<[(&'static str, OptimizerSpec); 4], ExampleError> {
    let exact = NsConfig::polar_express(p.ns_steps)?;
    let bare = MuonConfig::new()
        .with_lr(1.0)
        .with_weight_decay(0.0)
        .with_momentum(0.0)
        .with_nesterov(false);
    Ok([
        ("gd", OptimizerSpec::Sgd(SgdConfig::new().with_lr(1.0))),
        (
            // Adam with β1 = β2 = 0 steps by g/(|g| + eps): SignGD (eps only guards exact zeros).
            "signgd",
            OptimizerSpec::Adam(
                AdamConfig::adam()
                    .with_lr(1.0)
                    .with_betas(0.0, 0.0)
                    .with_eps(1e-20),
            ),
        ),
        ("muon", OptimizerSpec::Muon(bare.with_ns(exact))),
        (
            "muon_ns5",
            OptimizerSpec::Muon(bare.with_ns(NsConfig::default())),
        ),
    ])
}

/// Number of methods [`run`] evaluates (progress units per embedding kind).
pub const METHODS: usize = 4;

/// Runs GD, SignGD and both Muons for one embedding kind: one full-batch gradient at
/// `W₀ = 0` (four `K³` products), one optimizer step per method, the logits `Ẽᵀ W₁ E` (two
/// products each) and a sweep of `η` on them.
pub fn run(
    p: &OneStepParams,
    kind: EmbeddingKind,
    backend: &Backend,
    progress: &Progress,
) -> Result<Vec<OneStepResult>, ExampleError> {
    let (keys, values) = kind.embeddings(p.classes);
    let memory = Memory::new(keys, values);
    let weights = two_level_distribution(p.classes, p.alpha, p.beta);
    let all: Vec<usize> = (0..p.classes).collect();
    let w0 = Dense::zeros(p.classes, p.classes);
    let grad = memory.loss_and_gradient(&w0, &all, &weights)?.grad;
    let mut out = Vec::new();
    for (name, spec) in methods(p)? {
        let mut w1 = w0.clone();
        let mut stepper = spec.build(backend, &w0)?;
        stepper.step(&mut w1, &grad)?;
        stepper.finish()?;
        let logits = memory.logits(&w1)?;
        let crossing = sweep(&logits, p.eps);
        out.push(OneStepResult {
            method: name,
            rho: crossing.map(|c| c.1),
            eta: crossing.map(|c| c.0),
            polar_residual: if name.starts_with("muon") {
                Some(polar_residual(&w1)?)
            } else {
                None
            },
        });
        progress.tick();
    }
    Ok(out)
}

/// `(best, worst)` correct probability over facts for logits `η·L` (`L` is `n × n`, column `k`
/// = fact `k`).
pub fn best_and_worst(logits: &Dense, eta: f64) -> (f64, f64) {
    let n = logits.rows;
    let (mut best, mut worst) = (0.0f64, 1.0f64);
    for k in 0..n {
        let col = |i: usize| eta * f64::from(logits.data[i * n + k]);
        let max = (0..n).map(col).fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = (0..n).map(|i| (col(i) - max).exp()).sum();
        let pk = (col(k) - max).exp() / sum;
        best = best.max(pk);
        worst = worst.min(pk);
    }
    (best, worst)
}

/// The first `η` where the best class reaches `1 − ε`, and the worst class's probability
/// there: a geometric grid (×1.25) then 40 bisections.
pub fn sweep(logits: &Dense, eps: f64) -> Option<(f64, f64)> {
    let scale = logits.data.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if scale == 0.0 {
        return None;
    }
    let target = 1.0 - eps;
    let mut lo = 0.0;
    let mut hi = 1e-3 / f64::from(scale);
    while best_and_worst(logits, hi).0 < target {
        lo = hi;
        hi *= 1.25;
        if hi > 1e9 / f64::from(scale) {
            return None;
        }
    }
    for _ in 0..40 {
        let mid = 0.5 * (lo + hi);
        if best_and_worst(logits, mid).0 < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some((hi, best_and_worst(logits, hi).1))
}

/// `‖O Oᵀ O − O‖_F / ‖O‖_F`: how far `O` is from a partial isometry (its singular values
/// from {0, 1}).
pub fn polar_residual(o: &Dense) -> Result<f64, ExampleError> {
    let ooto = o.mul(&o.transpose())?.mul(o)?;
    let num: f64 = ooto
        .data
        .iter()
        .zip(&o.data)
        .map(|(a, b)| f64::from(a - b).powi(2))
        .sum();
    let den: f64 = o.data.iter().map(|x| f64::from(*x).powi(2)).sum();
    Ok((num / den.max(1e-300)).sqrt())
}
