//! Experiment 4: the heavy-tail experiment in the paper's regime (§4.3): many classes in
//! Zipf frequency groups, an embedding dimension below the class count, and a run so short
//! that each class of the rarest group is seen only a few times. Per optimizer a learning-rate
//! grid is swept on one seed and the rate with the lowest mean population loss over the run is
//! chosen (the same rule for every optimizer); then several fresh seeds run at that rate and
//! the per-group accuracy is reported as mean ± standard deviation, with the spectrum isotropy
//! of the final `W`. Two models run in the same regime, on the same tasks and batches: the
//! linear memory of the Zipf experiment ([`crate::zipf`]) and the FFN memory ([`crate::ffn`]).

use crate::error::ExampleError;
use crate::ffn;
use crate::optim::{Backend, OptimizerSpec};
use crate::progress::Progress;
use crate::spectrum::Isotropy;
use crate::zipf::{self, Task, ZipfParams, ZipfRun, frequencies};

/// Multipliers of each optimizer's base rate swept on the sweep seed (half-decade grid).
pub const GRID: [f32; 5] = [0.1, 0.316, 1.0, 3.16, 10.0];

/// Half-decade points the sweep may add beyond either end of [`GRID`] while the best rate sits
/// at an end (the same rule for every optimizer), so a chosen rate is a grid interior point
/// unless this many extensions were not enough.
pub const MAX_EXTENSIONS: usize = 4;

/// The grid step (`√10`).
const HALF_DECADE: f32 = 3.162_277_7;

/// The paper's rarest-group accuracy after 10k steps (2^15 classes in 16 groups, a
/// transformer): `(method, mean, std)`, as restated in the project's paper summary.
pub const PAPER_TAIL: [(&str, f64, f64); 3] = [
    ("muon", 0.976, 0.006),
    ("adam", 0.264, 0.048),
    ("sgd", 0.126, 0.021),
];

/// Settings of the paper-regime experiment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaperParams {
    /// Frequency groups `G` (classes `2^G − 1`, Zipf exponent 1).
    pub groups: usize,
    /// Embedding dimension `d` (below the class count).
    pub dim: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Target mean number of times each rarest-group class is drawn over the run; the step
    /// count is derived from it ([`PaperParams::steps`]).
    pub exposure: f64,
    /// Seeds run at each chosen rate (`1 ..= seeds`; the sweep uses seed 0).
    pub seeds: usize,
    /// Base learning rates (Adam, Muon, SGD), multiplied by [`GRID`].
    pub base: [f32; 3],
}

impl PaperParams {
    /// The size `all` runs on a CPU: 1,023 classes in 10 groups, `d` = 128.
    pub const CPU: Self = Self {
        groups: 10,
        dim: 128,
        batch: 32,
        exposure: 2.0,
        seeds: 3,
        base: [0.3, 1.0, 30.0],
    };

    /// A small size for tests: 63 classes in 6 groups, `d` = 16.
    pub const QUICK: Self = Self {
        groups: 6,
        dim: 16,
        batch: 8,
        exposure: 2.0,
        seeds: 3,
        base: [0.3, 1.0, 30.0],
    };

    /// The paper's class count (2^16 − 1 classes in 16 groups), for a hardware GPU.
    pub const PAPER: Self = Self {
        groups: 16,
        dim: 512,
        batch: 128,
        exposure: 2.0,
        seeds: 3,
        base: [0.3, 1.0, 30.0],
    };

    /// Number of classes, `2^G − 1`.
    pub fn classes(&self) -> usize {
        (1usize << self.groups) - 1
    }

    /// Frequencies of the rarest group's classes (ranks `2^(G−1) … 2^G − 1`).
    fn rarest_frequencies(&self) -> Vec<f64> {
        let f = frequencies(self.classes(), 1.0);
        f[(1usize << (self.groups - 1)) - 1..].to_vec()
    }

    /// Steps such that the rarest group's classes are drawn `exposure` times on average:
    /// `⌈exposure / (batch · mean frequency)⌉`.
    pub fn steps(&self) -> usize {
        let f = self.rarest_frequencies();
        let mean = f.iter().sum::<f64>() / f.len() as f64;
        ((self.exposure / (self.batch as f64 * mean)).ceil() as usize).max(1)
    }

    /// Expected draws over the run of each rarest-group class: `(least, mean, most)`.
    pub fn exposure_range(&self) -> (f64, f64, f64) {
        let draws = (self.steps() * self.batch) as f64;
        let f = self.rarest_frequencies();
        let mean = f.iter().sum::<f64>() / f.len() as f64;
        let lo = f.iter().copied().fold(f64::MAX, f64::min);
        let hi = f.iter().copied().fold(0.0, f64::max);
        (draws * lo, draws * mean, draws * hi)
    }

    /// The Zipf settings of one run at `seed` with rates `(adam, muon, sgd)`.
    pub fn run_params(&self, seed: u64, rates: [f32; 3]) -> ZipfParams {
        ZipfParams {
            groups: self.groups,
            exponent: 1.0,
            dim: self.dim,
            batch: self.batch,
            steps: self.steps(),
            seed,
            lr_adam: rates[0],
            lr_muon: rates[1],
            lr_sgd: rates[2],
        }
    }

    /// Training steps over the whole experiment without grid extensions (for the progress
    /// bar).
    pub fn total_steps(&self) -> usize {
        Model::ALL.len() * 3 * (GRID.len() + self.seeds) * self.steps()
    }
}

/// One grid point of a sweep.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SweepPoint {
    /// Learning rate.
    pub lr: f32,
    /// Mean population loss over the run's evaluations (`inf` if it diverged).
    pub mean_population_loss: f64,
}

/// One optimizer's sweep and seeded runs.
#[derive(Clone, Debug, PartialEq)]
pub struct MethodResult {
    /// `"adam"`, `"muon"` or `"sgd"`.
    pub method: &'static str,
    /// The sweep on seed 0, in grid order.
    pub sweep: Vec<SweepPoint>,
    /// The chosen rate (lowest mean population loss).
    pub lr: f32,
    /// Whether the chosen rate is still the sweep's first or last point after
    /// [`MAX_EXTENSIONS`] extensions (the optimum may lie beyond).
    pub at_edge: bool,
    /// `(seed, run)` at the chosen rate.
    pub runs: Vec<(u64, ZipfRun)>,
}

/// Mean and sample standard deviation (`n − 1`; 0 for one value).
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    if xs.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

impl MethodResult {
    /// Per group, the seeds' accuracies at the evaluation nearest to `step`.
    pub fn accuracy_samples(&self, step: usize) -> Vec<Vec<f64>> {
        let groups = self
            .runs
            .first()
            .and_then(|(_, r)| r.series.first())
            .map_or(0, |pt| pt.accuracy.len());
        (0..groups)
            .map(|g| {
                self.runs
                    .iter()
                    .map(|(_, r)| {
                        r.series
                            .iter()
                            .min_by_key(|pt| pt.step.abs_diff(step))
                            .map_or(f64::NAN, |pt| pt.accuracy[g])
                    })
                    .collect()
            })
            .collect()
    }

    /// Per group, mean ± std over the seeds of the accuracy at `step`.
    pub fn accuracy_at(&self, step: usize) -> Vec<(f64, f64)> {
        self.accuracy_samples(step)
            .iter()
            .map(|s| mean_std(s))
            .collect()
    }

    /// Mean ± std over the seeds of each isotropy metric of the final `W`: entropy,
    /// effective rank, top-10 energy, Q75/Q25.
    pub fn isotropy(&self) -> [(f64, f64); 4] {
        let pick = |f: fn(&Isotropy) -> f64| {
            mean_std(
                &self
                    .runs
                    .iter()
                    .map(|(_, r)| f(&r.isotropy))
                    .collect::<Vec<_>>(),
            )
        };
        [
            pick(|i| i.entropy),
            pick(|i| i.effective_rank),
            pick(|i| i.top10_energy),
            pick(|i| i.q75_q25),
        ]
    }
}

/// The memory model a run trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// `W` (`d × d`) between fixed key and value embeddings.
    Linear,
    /// Learned keys (AdamW), `W₂ σ(W₁ x)`, fixed value read-out.
    Ffn,
}

impl Model {
    /// Both, in report order.
    pub const ALL: [Self; 2] = [Self::Linear, Self::Ffn];

    /// `"linear"` or `"ffn"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::Ffn => "ffn",
        }
    }

    /// Trains one run of this model.
    fn train(
        self,
        p: &ZipfParams,
        task: &Task,
        name: &'static str,
        spec: OptimizerSpec,
        backend: &Backend,
        progress: &Progress,
    ) -> Result<ZipfRun, ExampleError> {
        match self {
            Self::Linear => zipf::train(p, task, name, spec, backend, progress),
            Self::Ffn => ffn::train(p, task, name, spec, backend, progress),
        }
    }
}

/// One model's results.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelResult {
    /// The model.
    pub model: Model,
    /// Per optimizer, in [`zipf::methods`] order.
    pub methods: Vec<MethodResult>,
}

/// Everything the experiment measured.
#[derive(Clone, Debug, PartialEq)]
pub struct PaperResult {
    /// The settings.
    pub params: PaperParams,
    /// Per model, in [`Model::ALL`] order.
    pub models: Vec<ModelResult>,
}

/// Mean population loss over a run's evaluations; a non-finite loss counts as `inf`.
fn mean_population_loss(run: &ZipfRun) -> f64 {
    let n = run.series.len().max(1) as f64;
    let m = run.series.iter().map(|pt| pt.population_loss).sum::<f64>() / n;
    if m.is_finite() { m } else { f64::INFINITY }
}

/// Runs the sweep and the seeds of every optimizer for every model, one thread per model and
/// optimizer.
pub fn run(
    p: &PaperParams,
    backend: &Backend,
    progress: &Progress,
) -> Result<PaperResult, ExampleError> {
    let mut results = std::thread::scope(|s| {
        let handles: Vec<_> = Model::ALL
            .into_iter()
            .flat_map(|model| (0..3).map(move |i| (model, i)))
            .map(|(model, i)| s.spawn(move || run_method(p, model, i, backend, progress)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect::<Result<Vec<_>, _>>()
    })?
    .into_iter();
    let models = Model::ALL
        .into_iter()
        .map(|model| ModelResult {
            model,
            methods: results.by_ref().take(3).collect(),
        })
        .collect();
    Ok(PaperResult { params: *p, models })
}

/// The spec of method `index` (0 Adam, 1 Muon, 2 SGD) at rate `lr`.
fn spec_at(
    p: &PaperParams,
    index: usize,
    seed: u64,
    lr: f32,
) -> (ZipfParams, &'static str, OptimizerSpec) {
    let mut rates = p.base;
    rates[index] = lr;
    let zp = p.run_params(seed, rates);
    let (name, spec) = zipf::methods(&zp)[index];
    (zp, name, spec)
}

fn run_method(
    p: &PaperParams,
    model: Model,
    index: usize,
    backend: &Backend,
    progress: &Progress,
) -> Result<MethodResult, ExampleError> {
    let sweep_task = Task::new(&p.run_params(0, p.base));
    let method = zipf::methods(&p.run_params(0, p.base))[index].0;
    let point = |lr: f32| -> Result<SweepPoint, ExampleError> {
        let (zp, name, spec) = spec_at(p, index, 0, lr);
        let loss = match model.train(&zp, &sweep_task, name, spec, backend, progress) {
            Ok(run) => mean_population_loss(&run),
            Err(e) if e.is_divergence() => f64::INFINITY,
            Err(e) => return Err(e),
        };
        Ok(SweepPoint {
            lr,
            mean_population_loss: loss,
        })
    };
    let mut sweep = GRID
        .iter()
        .map(|m| point(p.base[index] * m))
        .collect::<Result<Vec<_>, _>>()?;
    let argmin = |sweep: &[SweepPoint]| {
        sweep
            .iter()
            .enumerate()
            .min_by(|a, b| {
                a.1.mean_population_loss
                    .total_cmp(&b.1.mean_population_loss)
            })
            .map_or(0, |(i, _)| i)
    };
    for _ in 0..MAX_EXTENSIONS {
        let best = argmin(&sweep);
        if best == 0 {
            let lr = sweep[0].lr / HALF_DECADE;
            sweep.insert(0, point(lr)?);
        } else if best + 1 == sweep.len() {
            let lr = sweep[best].lr * HALF_DECADE;
            sweep.push(point(lr)?);
        } else {
            break;
        }
    }
    let best = argmin(&sweep);
    let at_edge = best == 0 || best + 1 == sweep.len();
    let lr = sweep[best].lr;
    let mut runs = Vec::with_capacity(p.seeds);
    for seed in 1..=p.seeds as u64 {
        let (zp, name, spec) = spec_at(p, index, seed, lr);
        let task = Task::new(&zp);
        runs.push((
            seed,
            zipf::train(&zp, &task, name, spec, backend, progress)?,
        ));
    }
    Ok(MethodResult {
        method,
        sweep,
        lr,
        at_edge,
        runs,
    })
}
