//! Experiment 3: a heavy-tailed classification memory. Class ranks `r = 1 … 2^G − 1` have
//! frequency `∝ r^(−s)` (Zipf); group `g` (0-based) holds ranks `[2^g, 2^(g+1))`, so each group
//! has twice the classes of the one before and, for `s = 1`, the same total frequency (the
//! paper's §4.3 layout). Keys and values are random unit vectors in `d` dimensions (`d` may be
//! smaller than the class count), mini-batches are sampled by frequency, and Adam, Muon and
//! SGD with momentum train the same `d × d` memory on the same batches.

use muon::cpu::adam::AdamConfig;
use muon::cpu::muon::MuonConfig;
use muon::cpu::sgd::SgdConfig;

use crate::device::{Counters, DeviceMemory};
use crate::error::ExampleError;
use crate::memory::{Dense, Evaluation, Memory, random_unit_columns};
use crate::optim::{Backend, OptimizerSpec};
use crate::progress::Progress;
use crate::rng::Rng;
use crate::spectrum::{Isotropy, singular_values};

/// Settings of the Zipf experiment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZipfParams {
    /// Frequency groups `G` (classes: `2^G − 1`).
    pub groups: usize,
    /// Zipf exponent `s`.
    pub exponent: f64,
    /// Embedding dimension `d`.
    pub dim: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Training steps.
    pub steps: usize,
    /// Seed for embeddings and batches.
    pub seed: u64,
    /// Adam learning rate (betas, eps: torch defaults).
    pub lr_adam: f32,
    /// Muon learning rate (other hyper-parameters: library defaults but no weight decay).
    pub lr_muon: f32,
    /// SGD learning rate (momentum 0.9).
    pub lr_sgd: f32,
}

impl ZipfParams {
    /// The same settings with every learning rate multiplied by `scale`.
    pub fn scaled_rates(&self, scale: f32) -> Self {
        Self {
            lr_adam: self.lr_adam * scale,
            lr_muon: self.lr_muon * scale,
            lr_sgd: self.lr_sgd * scale,
            ..*self
        }
    }

    /// Number of classes, `2^G − 1`.
    pub fn classes(&self) -> usize {
        (1usize << self.groups) - 1
    }
}

/// Accuracy and loss per group at one step.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupPoint {
    /// Steps taken.
    pub step: usize,
    /// Fraction of the group's classes whose key is recalled as the right class (arg-max).
    pub accuracy: Vec<f64>,
    /// Mean cross-entropy over the group's classes.
    pub loss: Vec<f64>,
    /// Population loss: the cross-entropy of every class weighted by its frequency.
    pub population_loss: f64,
}

/// One optimizer's run.
#[derive(Clone, Debug, PartialEq)]
pub struct ZipfRun {
    /// `"adam"`, `"muon"` or `"sgd"`.
    pub method: &'static str,
    /// Evaluations at about 20 evenly spaced steps and at the end.
    pub series: Vec<GroupPoint>,
    /// Spectrum isotropy of the final `W`.
    pub isotropy: Isotropy,
}

impl ZipfRun {
    /// The final evaluation.
    pub fn last(&self) -> Option<&GroupPoint> {
        self.series.last()
    }

    /// Accuracy of the rarest group at the evaluation nearest to `step`.
    pub fn tail_accuracy_at(&self, step: usize) -> f64 {
        self.series
            .iter()
            .min_by_key(|pt| pt.step.abs_diff(step))
            .and_then(|pt| pt.accuracy.last().copied())
            .unwrap_or(f64::NAN)
    }

    /// Mean accuracy of the rarest group over all evaluations (the area under its learning
    /// curve, normalised): a learning-speed summary that one lucky final step cannot set.
    pub fn tail_accuracy_mean(&self) -> f64 {
        let tail: Vec<f64> = self
            .series
            .iter()
            .filter_map(|pt| pt.accuracy.last().copied())
            .collect();
        tail.iter().sum::<f64>() / tail.len().max(1) as f64
    }
}

/// Runs every method of [`methods`] on `task`, one thread each (they share nothing but the
/// read-only task and the progress bar).
pub fn run(
    p: &ZipfParams,
    task: &Task,
    backend: &Backend,
    progress: &Progress,
) -> Result<Vec<ZipfRun>, ExampleError> {
    std::thread::scope(|s| {
        let handles: Vec<_> = methods(p)
            .into_iter()
            .map(|(name, spec)| s.spawn(move || train(p, task, name, spec, backend, progress)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// The compared optimizers.
pub fn methods(p: &ZipfParams) -> [(&'static str, OptimizerSpec); 3] {
    [
        (
            "adam",
            OptimizerSpec::Adam(AdamConfig::adam().with_lr(p.lr_adam)),
        ),
        // Weight decay off for all three (torch's Adam and SGD default to none): Muon's default
        // 0.1 would cap ‖W‖₂ at 1/0.1 and with it the margin the tail classes can reach.
        (
            "muon",
            OptimizerSpec::Muon(MuonConfig::new().with_lr(p.lr_muon).with_weight_decay(0.0)),
        ),
        (
            "sgd",
            OptimizerSpec::Sgd(SgdConfig::new().with_lr(p.lr_sgd).with_momentum(0.9)),
        ),
    ]
}

/// Class frequencies `p_r ∝ r^(−s)` for ranks `r = 1 … n`, summing to one.
pub fn frequencies(n: usize, exponent: f64) -> Vec<f64> {
    let raw: Vec<f64> = (1..=n).map(|r| (r as f64).powf(-exponent)).collect();
    let total: f64 = raw.iter().sum();
    raw.iter().map(|f| f / total).collect()
}

/// Group (0-based) of the class at 0-based index `c` (rank `c + 1`).
pub fn group_of(c: usize) -> usize {
    (usize::BITS - 1 - (c + 1).leading_zeros()) as usize
}

/// The task: embeddings and class frequencies, shared by every optimizer.
pub struct Task {
    memory: Memory,
    freq: Vec<f64>,
    cdf: Vec<f64>,
    groups: usize,
}

impl Task {
    /// Builds embeddings and frequencies from `p` (deterministic in `p.seed`).
    pub fn new(p: &ZipfParams) -> Self {
        let n = p.classes();
        let mut rng = Rng::new(p.seed);
        let keys = random_unit_columns(p.dim, n, &mut rng);
        let values = random_unit_columns(p.dim, n, &mut rng);
        let freq = frequencies(n, p.exponent);
        let mut acc = 0.0;
        let cdf = freq
            .iter()
            .map(|f| {
                acc += f;
                acc
            })
            .collect();
        Self {
            memory: Memory::new(keys, values),
            freq,
            cdf,
            groups: p.groups,
        }
    }

    /// A class drawn by frequency.
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.uniform();
        self.cdf
            .partition_point(|c| *c <= u)
            .min(self.cdf.len() - 1)
    }

    /// Per-group accuracy and loss of `w` over every class.
    fn evaluate(&self, w: &Dense, step: usize) -> Result<GroupPoint, ExampleError> {
        Ok(self.group_point(&self.memory.evaluate(w)?, step))
    }

    /// The linear memory (embeddings) of the task.
    pub fn memory(&self) -> &Memory {
        &self.memory
    }

    /// Per-group accuracy and loss from a per-class evaluation.
    pub fn group_point(&self, eval: &Evaluation, step: usize) -> GroupPoint {
        let mut acc = vec![0.0; self.groups];
        let mut loss = vec![0.0; self.groups];
        let mut count = vec![0usize; self.groups];
        let mut population_loss = 0.0;
        for c in 0..self.memory.classes() {
            let g = group_of(c);
            count[g] += 1;
            population_loss += self.freq[c] * f64::from(eval.loss[c]);
            acc[g] += f64::from(u8::from(eval.correct[c]));
            loss[g] += f64::from(eval.loss[c]);
        }
        for g in 0..self.groups {
            acc[g] /= count[g].max(1) as f64;
            loss[g] /= count[g].max(1) as f64;
        }
        GroupPoint {
            step,
            accuracy: acc,
            loss,
            population_loss,
        }
    }
}

/// Trains one optimizer; every optimizer sees the same batches (the batch RNG restarts from
/// `seed + 1`). On the GPU the whole step runs on the device ([`train_device`]).
pub fn train(
    p: &ZipfParams,
    task: &Task,
    method: &'static str,
    spec: OptimizerSpec,
    backend: &Backend,
    progress: &Progress,
) -> Result<ZipfRun, ExampleError> {
    match backend {
        Backend::Cpu => train_cpu(p, task, method, spec, progress),
        Backend::Gpu(ctx) => Ok(train_device(p, task, method, spec, ctx, progress)?.0),
    }
}

/// Steps between evaluations (about 20 per run).
fn eval_every(p: &ZipfParams) -> usize {
    (p.steps / 20).max(1)
}

fn train_cpu(
    p: &ZipfParams,
    task: &Task,
    method: &'static str,
    spec: OptimizerSpec,
    progress: &Progress,
) -> Result<ZipfRun, ExampleError> {
    let mut w = Dense::zeros(p.dim, p.dim);
    let mut stepper = spec.build(&Backend::Cpu, &w)?;
    let mut rng = Rng::new(p.seed.wrapping_add(1));
    let weights = vec![1.0 / p.batch as f32; p.batch];
    let every = eval_every(p);
    let mut series = Vec::new();
    let mut batch = vec![0usize; p.batch];
    for step in 0..p.steps {
        if step % every == 0 {
            series.push(task.evaluate(&w, step)?);
        }
        batch.iter_mut().for_each(|c| *c = task.sample(&mut rng));
        let grad = task.memory.loss_and_gradient(&w, &batch, &weights)?.grad;
        stepper.step(&mut w, &grad)?;
        progress.tick();
    }
    stepper.finish()?;
    series.push(task.evaluate(&w, p.steps)?);
    Ok(ZipfRun {
        method,
        series,
        isotropy: Isotropy::of(&singular_values(&w)?),
    })
}

/// [`train`] on the GPU with the model resident ([`DeviceMemory`]): the host samples each
/// batch (the same RNG stream as the CPU) and uploads its class indices; evaluations read
/// the per-class statistics. Returns the run and what crossed between host and device.
///
/// # Errors
/// GPU errors, invalid hyper-parameters.
pub fn train_device(
    p: &ZipfParams,
    task: &Task,
    method: &'static str,
    spec: OptimizerSpec,
    ctx: &muon::gpu::GpuContext,
    progress: &Progress,
) -> Result<(ZipfRun, Counters), ExampleError> {
    let weights = vec![1.0 / p.batch as f32; p.batch];
    let mut batch = vec![0u32; p.batch];
    let mut dev = DeviceMemory::new(ctx, &task.memory, spec, &batch, &weights, None)?;
    let mut rng = Rng::new(p.seed.wrapping_add(1));
    let every = eval_every(p);
    let mut series = Vec::new();
    for step in 0..p.steps {
        if step % every == 0 {
            series.push(task.group_point(&dev.evaluate()?, step));
        }
        batch
            .iter_mut()
            .for_each(|c| *c = task.sample(&mut rng) as u32);
        dev.step(Some(&batch))?;
        progress.tick();
    }
    dev.finish()?;
    series.push(task.group_point(&dev.evaluate()?, p.steps));
    let w = dev.weights()?;
    let run = ZipfRun {
        method,
        series,
        isotropy: Isotropy::of(&singular_values(&w)?),
    };
    Ok((run, dev.counters()))
}
