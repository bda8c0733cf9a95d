//! One step up the paper's ladder of models: an FFN memory. Each class `k` has a learned key
//! embedding `x_k` (row `k` of `X`, `n × d`, initialised to the linear memory's keys and
//! trained with AdamW in every arm), a one-hidden-layer feed-forward block holds the memory,
//! and the fixed value embeddings read it out:
//!
//! ```text
//! h = W₁ x_k (m),  a = σ(h),  o = W₂ a (d),  logits = Ẽᵀ o (n),   σ = SiLU (x·sigmoid(x))
//! ```
//!
//! `W₁` (`m × d`) and `W₂` (`d × m`) are the matrices Muon, Adam and SGD compete on. With a
//! batch `B` (rows `K_b = X[B]`, `b × d`), weights `w` and `R = diag(w)(softmax(Z) − Y)`
//! (`b × n`), the gradients are
//!
//! ```text
//! dO = R Ẽᵀ (b × d)        ∇W₂ = dOᵀ A (d × m)
//! dH = (dO W₂) ⊙ σ'(H)     ∇W₁ = dHᵀ K_b (m × d)
//! dK_b = dH W₁ (b × d)     ∇X[B_j] += dK_b[j]   (rows scatter-added, repeats summed)
//! ```
//!
//! checked against finite differences in `tests/tail_memory.rs`. `W₁` starts Gaussian with
//! variance `1/d` (so `h` has unit scale) and `W₂` at zero (so the first logits are zero, as
//! the linear memory's `W₀ = 0`).

use muon::cpu::MuonError;
use muon::cpu::adam::AdamConfig;

use crate::device::Counters;
use crate::device_ffn::DeviceFfn;
use crate::error::ExampleError;
use crate::memory::{Dense, Evaluation};
use crate::optim::{Backend, OptimizerSpec};
use crate::progress::Progress;
use crate::rng::Rng;
use crate::spectrum::{Isotropy, singular_values};
use crate::zipf::{Task, ZipfParams, ZipfRun};

/// The learning rate of the key embeddings' AdamW (torch's other defaults: betas (0.9,
/// 0.999), eps 1e-8, weight decay 0.01), the same in every arm and not swept.
pub const EMBEDDING_LR: f32 = 0.01;

/// The FFN's trainable state.
#[derive(Clone, Debug, PartialEq)]
pub struct FfnWeights {
    /// Key embeddings `X` (`n × d`).
    pub keys: Dense,
    /// `W₁` (`m × d`).
    pub w1: Dense,
    /// `W₂` (`d × m`).
    pub w2: Dense,
}

/// The loss and its gradients for one batch.
#[derive(Clone, Debug)]
pub struct FfnGradient {
    /// Weighted cross-entropy `−Σ_j w_j ln p_j(class_j)`.
    pub loss: f64,
    /// `∇X` (`n × d`; rows outside the batch are zero).
    pub keys: Dense,
    /// `∇W₁` (`m × d`).
    pub w1: Dense,
    /// `∇W₂` (`d × m`).
    pub w2: Dense,
}

/// SiLU, `x · sigmoid(x)`.
pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// The derivative of SiLU, `s(x)(1 + x(1 − s(x)))` with `s` the sigmoid.
pub fn silu_grad(x: f32) -> f32 {
    let s = 1.0 / (1.0 + (-x).exp());
    s * (1.0 + x * (1.0 - s))
}

/// Rows `idx` of `m`.
fn gather(m: &Dense, idx: &[usize]) -> Dense {
    let mut out = Dense::zeros(idx.len(), m.cols);
    for (j, &r) in idx.iter().enumerate() {
        out.data[j * m.cols..(j + 1) * m.cols]
            .copy_from_slice(&m.data[r * m.cols..(r + 1) * m.cols]);
    }
    out
}

/// The FFN memory over fixed values `Ẽ` (`d × n`).
#[derive(Clone, Debug)]
pub struct FfnMemory {
    values: Dense,
    values_t: Dense,
    hidden: usize,
}

/// The forward pass of a batch.
struct Forward {
    kb: Dense,
    h: Dense,
    a: Dense,
    z: Dense,
}

impl FfnMemory {
    /// A memory reading out through `values` (`d × n`) with `hidden` hidden units.
    pub fn new(values: Dense, hidden: usize) -> Self {
        let values_t = values.transpose();
        Self {
            values,
            values_t,
            hidden,
        }
    }

    /// The initial weights: `X = keysᵀ` (`keys` is `d × n`), `W₁ ~ N(0, 1/d)`, `W₂ = 0`.
    pub fn init(&self, keys: &Dense, rng: &mut Rng) -> FfnWeights {
        let d = self.values.rows;
        let scale = 1.0 / (d as f64).sqrt();
        let mut w1 = Dense::zeros(self.hidden, d);
        for x in &mut w1.data {
            *x = (rng.normal() * scale) as f32;
        }
        FfnWeights {
            keys: keys.transpose(),
            w1,
            w2: Dense::zeros(d, self.hidden),
        }
    }

    fn forward(&self, wts: &FfnWeights, batch: &[usize]) -> Result<Forward, MuonError> {
        let kb = gather(&wts.keys, batch);
        let h = kb.mul(&wts.w1.transpose())?; // b × m
        let mut a = h.clone();
        a.data.iter_mut().for_each(|x| *x = silu(*x));
        let o = a.mul(&wts.w2.transpose())?; // b × d
        let z = o.mul(&self.values)?; // b × n
        Ok(Forward { kb, h, a, z })
    }

    /// Loss and gradients for `batch` (classes) with per-row `weights`.
    ///
    /// # Errors
    /// Shape errors from the core's products (none for consistent weights).
    pub fn loss_and_gradient(
        &self,
        wts: &FfnWeights,
        batch: &[usize],
        weights: &[f32],
    ) -> Result<FfnGradient, MuonError> {
        let f = self.forward(wts, batch)?;
        let (r, loss, _) = softmax_rows(&f.z, batch, weights);
        let d_o = r.mul(&self.values_t)?; // b × d
        let g_w2 = d_o.transpose().mul(&f.a)?; // d × m
        let mut d_h = d_o.mul(&wts.w2)?; // b × m
        for (g, &x) in d_h.data.iter_mut().zip(&f.h.data) {
            *g *= silu_grad(x);
        }
        let g_w1 = d_h.transpose().mul(&f.kb)?; // m × d
        let d_kb = d_h.mul(&wts.w1)?; // b × d
        let d = wts.keys.cols;
        let mut g_keys = Dense::zeros(wts.keys.rows, d);
        for (j, &c) in batch.iter().enumerate() {
            for k in 0..d {
                g_keys.data[c * d + k] += d_kb.data[j * d + k];
            }
        }
        Ok(FfnGradient {
            loss,
            keys: g_keys,
            w1: g_w1,
            w2: g_w2,
        })
    }

    /// Evaluates every class `k` (its own embedding, class `k`).
    ///
    /// # Errors
    /// Shape errors from the core's products.
    pub fn evaluate(&self, wts: &FfnWeights) -> Result<Evaluation, MuonError> {
        let all: Vec<usize> = (0..wts.keys.rows).collect();
        let f = self.forward(wts, &all)?;
        let zeros = vec![0.0; all.len()];
        Ok(softmax_rows(&f.z, &all, &zeros).2)
    }
}

/// Row-wise softmax cross-entropy of `z` (`b × n`) against `classes`: `R = diag(w)(P − Y)`,
/// the weighted loss and the per-row evaluation (as `Memory::evaluate` reports it).
fn softmax_rows(z: &Dense, classes: &[usize], weights: &[f32]) -> (Dense, f64, Evaluation) {
    let n = z.cols;
    let mut r = z.clone();
    let mut loss = 0.0f64;
    let mut eval = Evaluation {
        correct_prob: Vec::with_capacity(z.rows),
        loss: Vec::with_capacity(z.rows),
        correct: Vec::with_capacity(z.rows),
    };
    for (j, (&c, &w)) in classes.iter().zip(weights).enumerate() {
        let row = &mut r.data[j * n..(j + 1) * n];
        let zc = row[c];
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = row.iter().map(|&x| f64::from((x - max).exp())).sum();
        let best = row.iter().enumerate().all(|(i, &x)| i == c || x < zc);
        let nll = sum.ln() + f64::from(max) - f64::from(zc);
        for (i, x) in row.iter_mut().enumerate() {
            let p = (f64::from((*x - max).exp()) / sum) as f32;
            *x = w * (p - f32::from(u8::from(i == c)));
        }
        loss += f64::from(w) * nll;
        eval.correct_prob.push((-nll).exp() as f32);
        eval.loss.push(nll as f32);
        eval.correct.push(best);
    }
    (r, loss, eval)
}

/// Width of the hidden layer: `m = d` (square `W₁`, `W₂`).
pub fn hidden_width(dim: usize) -> usize {
    dim
}

/// Trains the FFN memory with `spec` on `W₁` and `W₂` and AdamW on the embeddings, on the
/// Zipf task's batches (same sampling as the linear memory); isotropy is that of the final
/// `W₂`. On the GPU the whole step runs on the device ([`train_device`]).
///
/// # Errors
/// Invalid hyper-parameters; [`ExampleError::Diverged`] when the loss stops being finite
/// (on the GPU: a non-finite gradient reported at the end).
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

/// The memory and initial weights of a run (deterministic in `p.seed`).
fn setup(p: &ZipfParams, task: &Task) -> (FfnMemory, FfnWeights) {
    let mem = FfnMemory::new(task.memory().values.clone(), hidden_width(p.dim));
    let mut init = Rng::new(p.seed.wrapping_add(2));
    let wts = mem.init(&task.memory().keys, &mut init);
    (mem, wts)
}

fn train_cpu(
    p: &ZipfParams,
    task: &Task,
    method: &'static str,
    spec: OptimizerSpec,
    progress: &Progress,
) -> Result<ZipfRun, ExampleError> {
    let (mem, mut wts) = setup(p, task);
    let cpu = Backend::Cpu;
    let mut s1 = spec.build(&cpu, &wts.w1)?;
    let mut s2 = spec.build(&cpu, &wts.w2)?;
    let embed = OptimizerSpec::Adam(AdamConfig::adamw().with_lr(EMBEDDING_LR));
    let mut se = embed.build(&cpu, &wts.keys)?;
    let mut rng = Rng::new(p.seed.wrapping_add(1));
    let weights = vec![1.0 / p.batch as f32; p.batch];
    let every = (p.steps / 20).max(1);
    let mut series = Vec::new();
    let mut batch = vec![0usize; p.batch];
    for step in 0..p.steps {
        if step % every == 0 {
            series.push(task.group_point(&mem.evaluate(&wts)?, step));
        }
        batch.iter_mut().for_each(|c| *c = task.sample(&mut rng));
        let g = mem.loss_and_gradient(&wts, &batch, &weights)?;
        if !g.loss.is_finite() {
            return Err(ExampleError::Diverged(format!(
                "ffn {method} at step {step}: loss {}",
                g.loss
            )));
        }
        s1.step(&mut wts.w1, &g.w1)?;
        s2.step(&mut wts.w2, &g.w2)?;
        se.step(&mut wts.keys, &g.keys)?;
        progress.tick();
    }
    for s in [&mut s1, &mut s2, &mut se] {
        s.finish()?;
    }
    series.push(task.group_point(&mem.evaluate(&wts)?, p.steps));
    Ok(ZipfRun {
        method,
        series,
        isotropy: Isotropy::of(&singular_values(&wts.w2)?),
    })
}

/// [`train`] on the GPU with the model resident ([`DeviceFfn`]); returns the run and what
/// crossed between host and device.
///
/// # Errors
/// GPU errors, invalid hyper-parameters, a non-finite gradient (divergence).
pub fn train_device(
    p: &ZipfParams,
    task: &Task,
    method: &'static str,
    spec: OptimizerSpec,
    ctx: &muon::gpu::GpuContext,
    progress: &Progress,
) -> Result<(ZipfRun, Counters), ExampleError> {
    let (mem, wts) = setup(p, task);
    let weights = vec![1.0 / p.batch as f32; p.batch];
    let mut dev = DeviceFfn::new(ctx, &mem.values, &wts, spec, &weights)?;
    let mut rng = Rng::new(p.seed.wrapping_add(1));
    let every = (p.steps / 20).max(1);
    let mut series = Vec::new();
    let mut batch = vec![0u32; p.batch];
    for step in 0..p.steps {
        if step % every == 0 {
            series.push(task.group_point(&dev.evaluate()?, step));
        }
        batch
            .iter_mut()
            .for_each(|c| *c = task.sample(&mut rng) as u32);
        dev.step(&batch)?;
        progress.tick();
    }
    dev.finish()?;
    let last = task.group_point(&dev.evaluate()?, p.steps);
    if !last.population_loss.is_finite() {
        return Err(ExampleError::Diverged(format!(
            "ffn {method}: final loss {}",
            last.population_loss
        )));
    }
    series.push(last);
    let w2 = dev.w2()?;
    let run = ZipfRun {
        method,
        series,
        isotropy: Isotropy::of(&singular_values(&w2)?),
    };
    Ok((run, dev.counters()))
}
