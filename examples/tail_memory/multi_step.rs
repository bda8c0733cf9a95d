//! Experiment 2: train the two-level memory for many steps with GD, Adam and Muon and record
//! the loss, the gap `Δ(W) = max_k p_k(correct) − min_k p_k(correct)` and the spectrum
//! isotropy of `W`.

use muon::cpu::adam::AdamConfig;
use muon::cpu::muon::MuonConfig;
use muon::cpu::sgd::SgdConfig;

use crate::device::{Counters, DeviceMemory};
use crate::error::ExampleError;
use crate::memory::{Dense, EmbeddingKind, Memory, head_count, two_level_distribution};
use crate::optim::{Backend, OptimizerSpec};
use crate::progress::Progress;
use crate::spectrum::{Isotropy, singular_values};

/// Settings of the multi-step experiment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MultiStepParams {
    /// Classes `K` (= dimension `d`).
    pub classes: usize,
    /// Head mass.
    pub alpha: f64,
    /// Head fraction.
    pub beta: f64,
    /// Training steps.
    pub steps: usize,
    /// GD learning rate.
    pub lr_gd: f32,
    /// Adam learning rate (other hyper-parameters: torch defaults).
    pub lr_adam: f32,
    /// Muon learning rate (other hyper-parameters: library defaults, NS5).
    pub lr_muon: f32,
}

/// One point of a training curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Steps taken.
    pub step: usize,
    /// Population loss.
    pub loss: f64,
    /// `Δ(W)`.
    pub gap: f64,
}

/// One optimizer's run.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiStepRun {
    /// `"gd"`, `"adam"` or `"muon"`.
    pub method: &'static str,
    /// The curve, one point per step (`steps + 1` points, from `W₀ = 0`).
    pub series: Vec<Point>,
    /// Mean correct probability of the head classes at the end.
    pub head_prob: f64,
    /// Mean correct probability of the tail classes at the end.
    pub tail_prob: f64,
    /// Singular values of the final `W`, descending.
    pub spectrum: Vec<f64>,
    /// Isotropy metrics of `spectrum`.
    pub isotropy: Isotropy,
}

/// Loss levels at which [`MultiStepRun::gap_at_loss`] is reported: the paper plots `Δ(W)`
/// against the loss, so runs are compared at equal loss, not at equal step.
pub const LOSS_LEVELS: [f64; 3] = [2.0, 1.0, 0.3];

impl MultiStepRun {
    /// The last recorded point.
    pub fn last(&self) -> Point {
        self.series.last().copied().unwrap_or(Point {
            step: 0,
            loss: f64::NAN,
            gap: f64::NAN,
        })
    }

    /// The largest gap along the run.
    pub fn peak_gap(&self) -> f64 {
        self.series.iter().map(|p| p.gap).fold(0.0, f64::max)
    }

    /// `Δ(W)` at the first step whose loss is at most `level` (`None` if never reached).
    pub fn gap_at_loss(&self, level: f64) -> Option<f64> {
        self.series.iter().find(|p| p.loss <= level).map(|p| p.gap)
    }
}

/// The compared optimizers: GD (`torch.optim.SGD`, no momentum), Adam (torch defaults but the
/// learning rate: betas (0.9, 0.999), eps 1e-8, no weight decay) and Muon (library defaults
/// but the learning rate: NS5 quintic, momentum 0.95 Nesterov, weight decay 0.1).
pub fn methods(p: &MultiStepParams) -> [(&'static str, OptimizerSpec); 3] {
    [
        ("gd", OptimizerSpec::Sgd(SgdConfig::new().with_lr(p.lr_gd))),
        (
            "adam",
            OptimizerSpec::Adam(AdamConfig::adam().with_lr(p.lr_adam)),
        ),
        (
            "muon",
            OptimizerSpec::Muon(MuonConfig::new().with_lr(p.lr_muon)),
        ),
    ]
}

/// Trains every method of [`methods`] on one embedding kind, full batch from `W₀ = 0`.
pub fn run(
    p: &MultiStepParams,
    kind: EmbeddingKind,
    backend: &Backend,
    progress: &Progress,
) -> Result<Vec<MultiStepRun>, ExampleError> {
    methods(p)
        .into_iter()
        .map(|(name, spec)| train(p, kind, name, spec, backend, progress))
        .collect()
}

/// Trains one optimizer on one embedding kind for `p.steps` full-batch steps; the loss and
/// `Δ(W)` are recorded at every step (they come with the gradient, at no extra cost). On the
/// GPU the whole step runs on the device ([`train_device`]).
pub fn train(
    p: &MultiStepParams,
    kind: EmbeddingKind,
    method: &'static str,
    spec: OptimizerSpec,
    backend: &Backend,
    progress: &Progress,
) -> Result<MultiStepRun, ExampleError> {
    match backend {
        Backend::Cpu => train_cpu(p, kind, method, spec, progress),
        Backend::Gpu(ctx) => Ok(train_device(p, kind, method, spec, ctx, progress)?.0),
    }
}

fn train_cpu(
    p: &MultiStepParams,
    kind: EmbeddingKind,
    method: &'static str,
    spec: OptimizerSpec,
    progress: &Progress,
) -> Result<MultiStepRun, ExampleError> {
    let (keys, values) = kind.embeddings(p.classes);
    let memory = Memory::new(keys, values);
    let weights = two_level_distribution(p.classes, p.alpha, p.beta);
    let all: Vec<usize> = (0..p.classes).collect();
    let mut w = Dense::zeros(p.classes, p.classes);
    let mut stepper = spec.build(&Backend::Cpu, &w)?;
    let mut series = Vec::with_capacity(p.steps + 1);
    let mut last_probs = Vec::new();
    for step in 0..=p.steps {
        let g = memory.loss_and_gradient(&w, &all, &weights)?;
        let (lo, hi) = min_max(&g.correct_prob);
        series.push(Point {
            step,
            loss: g.loss,
            gap: hi - lo,
        });
        if step < p.steps {
            stepper.step(&mut w, &g.grad)?;
            progress.tick();
        } else {
            last_probs = g.correct_prob;
        }
    }
    stepper.finish()?;
    finish_run(p, method, series, &last_probs, &w)
}

/// [`train`] on the GPU with the model resident ([`DeviceMemory`]): the full batch is fixed,
/// so a step uploads nothing; each step's per-class statistics are copied into a device
/// history that is read once at the end. Returns the run and what crossed.
///
/// # Errors
/// GPU errors, invalid hyper-parameters.
pub fn train_device(
    p: &MultiStepParams,
    kind: EmbeddingKind,
    method: &'static str,
    spec: OptimizerSpec,
    ctx: &muon::gpu::GpuContext,
    progress: &Progress,
) -> Result<(MultiStepRun, Counters), ExampleError> {
    let (keys, values) = kind.embeddings(p.classes);
    let memory = Memory::new(keys, values);
    let weights = two_level_distribution(p.classes, p.alpha, p.beta);
    let all: Vec<u32> = (0..p.classes as u32).collect();
    let mut dev = DeviceMemory::new(ctx, &memory, spec, &all, &weights, Some(p.steps + 1))?;
    for _ in 0..p.steps {
        dev.step(None)?;
        progress.tick();
    }
    dev.record_final(p.steps);
    dev.finish()?;
    let history = dev.history()?;
    let series = history
        .iter()
        .enumerate()
        .map(|(step, rows)| {
            let probs: Vec<f32> = rows.iter().map(|s| s[0]).collect();
            let (lo, hi) = min_max(&probs);
            Point {
                step,
                loss: rows.iter().map(|s| f64::from(s[3])).sum(),
                gap: hi - lo,
            }
        })
        .collect();
    let last_probs: Vec<f32> = history
        .last()
        .map(|rows| rows.iter().map(|s| s[0]).collect())
        .unwrap_or_default();
    let w = dev.weights()?;
    let run = finish_run(p, method, series, &last_probs, &w)?;
    Ok((run, dev.counters()))
}

/// The run's summary from its curve, the final correct probabilities and the final `W`.
fn finish_run(
    p: &MultiStepParams,
    method: &'static str,
    series: Vec<Point>,
    last_probs: &[f32],
    w: &Dense,
) -> Result<MultiStepRun, ExampleError> {
    let head = head_count(p.classes, p.beta).min(last_probs.len());
    let mean = |s: &[f32]| s.iter().map(|x| f64::from(*x)).sum::<f64>() / s.len().max(1) as f64;
    let spectrum = singular_values(w)?;
    Ok(MultiStepRun {
        method,
        series,
        head_prob: mean(&last_probs[..head]),
        tail_prob: mean(&last_probs[head..]),
        isotropy: Isotropy::of(&spectrum),
        spectrum,
    })
}

/// `(min, max)` of `xs` in `f64`.
fn min_max(xs: &[f32]) -> (f64, f64) {
    xs.iter().fold((f64::MAX, f64::MIN), |(l, h), x| {
        (l.min(f64::from(*x)), h.max(f64::from(*x)))
    })
}
