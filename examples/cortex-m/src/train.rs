//! The training run, shared by the firmware and the host.
//!
//! This file is compiled twice: into the firmware (as `muon_cortex_m::train`) and into
//! `build.rs`, which runs it on the build machine and writes the results as the firmware's
//! expected values. It therefore uses only `core`, `libm` and `muon-core`.
//!
//! The task is a small associative memory: 16 fixed, orthonormal key embeddings `e_k` (the
//! rows of a Householder reflection, so the keys are not axis-aligned) must be mapped by a
//! `16 × 16` weight matrix `W` to logits `z = W e_k` whose softmax picks class `k`. The classes
//! are imbalanced — class `k` has probability `p_k ∝ 1 / (k + 1)` — and the loss is the
//! `p`-weighted softmax cross-entropy over all classes, trained full-batch (the exact
//! expectation, no sampling), so the run is deterministic. Everything lives on the stack:
//! the weights, the gradient and the optimizer states (`MuonState`, `AdamState`).
//!
//! The same memory is trained twice with one optimizer for its one matrix (Muon, then Adam),
//! and once as a model of three layers stepped by one [`MixedOptimizer`] ([`Task::train_mixed`]):
//! a trainable key embedding `E` (AdamW, as embeddings usually are), the memory matrix `W`
//! (Muon) and a bias `b` (AdamW, routed there by its shape), with logits `z = W E_k + b` and
//! a linear learning-rate warm-up set before every step.

use muon_core::adam::{AdamConfig, AdamState};
use muon_core::mixed::{MixedOptimizer, ParamRole};
use muon_core::muon::{Muon, MuonConfig, MuonState};
use muon_core::{Matrix, MuonError};

/// Number of classes (= number of keys).
pub const CLASSES: usize = 16;
/// Embedding (key) dimension.
pub const DIM: usize = 16;
/// Optimizer steps per run.
pub const STEPS: u32 = 40;
/// Muon learning rate: the `muon-core` defaults otherwise (weight decay 0.1, momentum 0.95,
/// Nesterov, quintic Newton–Schulz). Larger than the default 1e-3 so a few dozen steps show
/// progress.
pub const MUON_LR: f32 = 0.1;
/// Adam learning rate (plain Adam: no weight decay, betas (0.9, 0.999), eps 1e-8).
pub const ADAM_LR: f32 = 0.01;
/// AdamW learning rate of the three-layer model's embedding and bias (torch's AdamW defaults
/// otherwise: weight decay 0.01, betas (0.9, 0.999), eps 1e-8). Its Muon group uses
/// [`MUON_LR`].
pub const ADAMW_LR: f32 = 0.01;
/// Steps of the three-layer model's linear learning-rate warm-up: step `t` (0-based) uses
/// `lr · min(1, (t + 1) / WARMUP)`.
pub const WARMUP: u32 = 5;
/// Seed of the xorshift generator for the embeddings and the initial weights.
pub const SEED: u32 = 0x9E37_79B9;

/// The weight matrix: row `i` scores class `i`, column `j` reads key coordinate `j`.
pub type Weights = Matrix<CLASSES, DIM>;

/// Result of one optimizer's run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunResult {
    /// Cross-entropy of each class before training.
    pub initial_loss: [f32; CLASSES],
    /// Cross-entropy of each class after [`STEPS`] steps.
    pub final_loss: [f32; CLASSES],
    /// `p`-weighted mean of `final_loss` (the training objective).
    pub final_objective: f32,
    /// The trained weights.
    pub weights: Weights,
}

/// The key embedding of the three-layer model: row `k` is key `k`'s embedding.
pub type Embedding = Matrix<CLASSES, DIM>;
/// The bias of the three-layer model, one per class (a `1 × CLASSES` parameter: AdamW).
pub type Bias = Matrix<1, CLASSES>;

/// Result of the three-layer run ([`Task::train_mixed`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MixedResult {
    /// Cross-entropy of each class before training.
    pub initial_loss: [f32; CLASSES],
    /// Cross-entropy of each class after [`STEPS`] steps.
    pub final_loss: [f32; CLASSES],
    /// `p`-weighted mean of `final_loss`.
    pub final_objective: f32,
    /// The trained key embedding.
    pub embedding: Embedding,
    /// The trained memory matrix.
    pub memory: Weights,
    /// The trained bias.
    pub bias: Bias,
}

/// Results of all three runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Report {
    /// Class probabilities `p_k` (the imbalance).
    pub class_prob: [f32; CLASSES],
    /// The Muon run.
    pub muon: RunResult,
    /// The Adam run.
    pub adam: RunResult,
    /// The three-layer run (Muon and AdamW through one [`MixedOptimizer`]).
    pub mixed: MixedResult,
}

/// The three-layer model's parameters (and, with the same type, their gradients).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Model {
    /// Key embedding `E` (AdamW).
    pub embedding: Embedding,
    /// Memory matrix `W` (Muon).
    pub memory: Weights,
    /// Bias `b` (AdamW).
    pub bias: Bias,
}

impl Model {
    /// All zeros.
    pub const ZERO: Self = Self {
        embedding: Matrix::ZERO,
        memory: Matrix::ZERO,
        bias: Matrix::ZERO,
    };
}

/// The fixed problem: keys, class probabilities and the initial weights.
#[derive(Clone, Copy, Debug)]
pub struct Task {
    /// Row `k` is the key `e_k`; the rows are orthonormal.
    pub keys: Matrix<CLASSES, DIM>,
    /// Class probabilities `p_k ∝ 1 / (k + 1)`, summing to 1.
    pub class_prob: [f32; CLASSES],
    /// Small pseudo-random initial weights (uniform in ±0.05).
    pub init: Weights,
}

/// Marsaglia's xorshift32: tiny, deterministic, identical on every target.
#[derive(Clone, Copy, Debug)]
struct XorShift32(u32);

impl XorShift32 {
    /// The next value, uniform in `[-1, 1)`.
    fn next_signed(&mut self) -> f32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        // The top 24 bits are exactly representable in f32.
        (x >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }
}

impl Task {
    /// Builds the fixed problem from [`SEED`].
    #[must_use]
    pub fn new() -> Self {
        let mut rng = XorShift32(SEED);

        // Householder reflection H = I − 2 v vᵀ / (vᵀ v): symmetric and orthogonal, so its rows
        // are orthonormal keys that mix all coordinates. No square root needed.
        let mut v = [0.0f32; DIM];
        for x in &mut v {
            *x = rng.next_signed();
        }
        let vv: f32 = v.iter().map(|x| x * x).sum();
        let keys = Matrix::from_fn(|r, c| {
            let delta = if r == c { 1.0 } else { 0.0 };
            delta - 2.0 * v[r] * v[c] / vv
        });

        let mut class_prob = [0.0f32; CLASSES];
        for (k, p) in class_prob.iter_mut().enumerate() {
            *p = 1.0 / (k as f32 + 1.0);
        }
        let total: f32 = class_prob.iter().sum();
        for p in &mut class_prob {
            *p /= total;
        }

        let init = Matrix::from_fn(|_, _| 0.05 * rng.next_signed());
        Self {
            keys,
            class_prob,
            init,
        }
    }

    /// Per-class cross-entropy of `w`, and (if `grad` is given) the gradient of the
    /// `p`-weighted objective `Σ_k p_k · CE_k` with respect to `w`, written into `grad`.
    pub fn loss_and_grad(&self, w: &Weights, mut grad: Option<&mut Weights>) -> [f32; CLASSES] {
        if let Some(g) = grad.as_deref_mut() {
            *g = Weights::ZERO;
        }
        let mut losses = [0.0f32; CLASSES];
        for (k, ((key, &p), loss)) in self
            .keys
            .data
            .iter()
            .zip(&self.class_prob)
            .zip(&mut losses)
            .enumerate()
        {
            // logits z_i = Σ_j W[i][j] e_k[j]
            let mut z = [0.0f32; CLASSES];
            for (zi, row) in z.iter_mut().zip(&w.data) {
                *zi = row.iter().zip(key).map(|(a, b)| a * b).sum();
            }
            // Stable log-softmax.
            let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0f32;
            for zi in &mut z {
                *zi = libm::expf(*zi - max);
                sum += *zi;
            }
            // z now holds exp(z_i − max); softmax_i = z_i / sum.
            let target = z.get(k).copied().unwrap_or(0.0);
            *loss = libm::logf(sum) - libm::logf(target);
            if let Some(g) = grad.as_deref_mut() {
                // ∂CE_k/∂W[i][j] = (softmax_i − [i = k]) · e_k[j]
                for (i, (grow, zi)) in g.data.iter_mut().zip(&z).enumerate() {
                    let onehot = if i == k { 1.0 } else { 0.0 };
                    let coeff = p * (zi / sum - onehot);
                    for (gij, ej) in grow.iter_mut().zip(key) {
                        *gij += coeff * ej;
                    }
                }
            }
        }
        losses
    }

    /// Per-class cross-entropy of the three-layer model, logits `z = W E_k + b`, and (if `grad`
    /// is given) the gradient of `Σ_k p_k · CE_k` with respect to `E`, `W` and `b`.
    pub fn model_loss_and_grad(
        &self,
        model: &Model,
        mut grad: Option<&mut Model>,
    ) -> [f32; CLASSES] {
        if let Some(g) = grad.as_deref_mut() {
            *g = Model::ZERO;
        }
        let mut losses = [0.0f32; CLASSES];
        for (k, ((key, &p), loss)) in model
            .embedding
            .data
            .iter()
            .zip(&self.class_prob)
            .zip(&mut losses)
            .enumerate()
        {
            // z_i = Σ_j W[i][j] E[k][j] + b_i
            let mut z = [0.0f32; CLASSES];
            for ((zi, row), bi) in z
                .iter_mut()
                .zip(&model.memory.data)
                .zip(&model.bias.data[0])
            {
                *zi = row.iter().zip(key).map(|(a, b)| a * b).sum::<f32>() + bi;
            }
            let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0f32;
            for zi in &mut z {
                *zi = libm::expf(*zi - max);
                sum += *zi;
            }
            let target = z.get(k).copied().unwrap_or(0.0);
            *loss = libm::logf(sum) - libm::logf(target);
            if let Some(g) = grad.as_deref_mut() {
                // dz_i = p (softmax_i − [i = k]); ∂/∂W[i][j] = dz_i E[k][j]; ∂/∂b_i = dz_i;
                // ∂/∂E[k][j] = Σ_i dz_i W[i][j].
                let Model {
                    embedding,
                    memory,
                    bias,
                } = g;
                let mut g_key = [0.0f32; DIM];
                let rows = memory.data.iter_mut().zip(&model.memory.data);
                for (i, (((grow, wrow), zi), gb)) in rows.zip(&z).zip(&mut bias.data[0]).enumerate()
                {
                    let onehot = if i == k { 1.0 } else { 0.0 };
                    let dz = p * (zi / sum - onehot);
                    *gb += dz;
                    for (((gij, ej), wij), gk) in grow.iter_mut().zip(key).zip(wrow).zip(&mut g_key)
                    {
                        *gij += dz * ej;
                        *gk += dz * wij;
                    }
                }
                if let Some(row) = embedding.data.get_mut(k) {
                    *row = g_key;
                }
            }
        }
        losses
    }

    /// Trains the three-layer model (embedding from [`Task::keys`], memory from
    /// [`Task::init`], zero bias) for [`STEPS`] full-batch steps with one [`MixedOptimizer`]:
    /// the embedding marked AdamW, the memory routed to Muon and the bias to AdamW by their
    /// shapes. The learning rates warm up linearly over [`WARMUP`] steps. Every state and the
    /// shared Muon scratch are arrays on this function's stack.
    ///
    /// # Errors
    /// A [`MuonError`] from a config, a registration or a step (none is expected).
    pub fn train_mixed(&self) -> Result<MixedResult, MuonError> {
        let mut model = Model {
            embedding: self.keys,
            memory: self.init,
            bias: Bias::ZERO,
        };
        let mut grad = Model::ZERO;
        const fn state_len(rows: usize, cols: usize, role: ParamRole) -> usize {
            MixedOptimizer::<3>::state_len(rows, cols, role)
        }
        let mut embedding_state = [0.0f32; state_len(CLASSES, DIM, ParamRole::AdamW)];
        let mut memory_state = [0.0f32; state_len(CLASSES, DIM, ParamRole::Auto)];
        let mut bias_state = [0.0f32; state_len(1, CLASSES, ParamRole::Auto)];
        // The memory matrix is the only (so the largest) Muon parameter.
        let mut scratch = [0.0f32; Muon::scratch_len(CLASSES, DIM)];

        let muon = MuonConfig::new().with_lr(MUON_LR).build()?;
        let adamw = AdamConfig::adamw().with_lr(ADAMW_LR).build()?;
        let mut opt = MixedOptimizer::<3>::new(muon, adamw, &mut scratch);
        opt.add(CLASSES, DIM, ParamRole::AdamW, &mut embedding_state)?;
        opt.add(CLASSES, DIM, ParamRole::Auto, &mut memory_state)?;
        opt.add(1, CLASSES, ParamRole::Auto, &mut bias_state)?;

        let initial_loss = self.model_loss_and_grad(&model, None);
        for t in 0..STEPS {
            let warmup = ((t + 1) as f32 / WARMUP as f32).min(1.0);
            opt.set_muon_lr(MUON_LR * warmup)?;
            opt.set_adamw_lr(ADAMW_LR * warmup)?;
            let _ = self.model_loss_and_grad(&model, Some(&mut grad));
            opt.step(
                &mut [
                    model.embedding.as_mut(),
                    model.memory.as_mut(),
                    model.bias.as_mut(),
                ],
                &[
                    grad.embedding.as_ref(),
                    grad.memory.as_ref(),
                    grad.bias.as_ref(),
                ],
            )?;
        }
        let final_loss = self.model_loss_and_grad(&model, None);
        Ok(MixedResult {
            initial_loss,
            final_loss,
            final_objective: self.objective(&final_loss),
            embedding: model.embedding,
            memory: model.memory,
            bias: model.bias,
        })
    }

    /// The `p`-weighted mean of per-class losses.
    #[must_use]
    pub fn objective(&self, losses: &[f32; CLASSES]) -> f32 {
        losses
            .iter()
            .zip(&self.class_prob)
            .map(|(l, p)| l * p)
            .sum()
    }

    /// Trains from [`Task::init`] for [`STEPS`] full-batch steps, calling `step(w, grad)` to
    /// apply the optimizer.
    ///
    /// # Errors
    /// Whatever `step` returns.
    pub fn train(
        &self,
        mut step: impl FnMut(&mut Weights, &Weights) -> Result<(), MuonError>,
    ) -> Result<RunResult, MuonError> {
        let mut w = self.init;
        let mut grad = Weights::ZERO;
        let initial_loss = self.loss_and_grad(&w, None);
        for _ in 0..STEPS {
            let _ = self.loss_and_grad(&w, Some(&mut grad));
            step(&mut w, &grad)?;
        }
        let final_loss = self.loss_and_grad(&w, None);
        Ok(RunResult {
            initial_loss,
            final_loss,
            final_objective: self.objective(&final_loss),
            weights: w,
        })
    }
}

impl Default for Task {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs Muon, Adam and the three-layer model on the fixed task. The optimizer states live on
/// the stack.
///
/// # Errors
/// A [`MuonError`] from building a config or from a step (none is expected).
pub fn run() -> Result<Report, MuonError> {
    let task = Task::new();

    let muon = MuonConfig::new().with_lr(MUON_LR).build()?;
    let mut muon_state = MuonState::<CLASSES, DIM>::new();
    let muon_run = task.train(|w, g| muon.step_fixed(w, g, &mut muon_state))?;

    let adam = AdamConfig::adam().with_lr(ADAM_LR).build()?;
    let mut adam_state = AdamState::<CLASSES, DIM, f32>::new();
    let adam_run = task.train(|w, g| adam.step_fixed(w, g, &mut adam_state))?;

    let mixed = task.train_mixed()?;

    Ok(Report {
        class_prob: task.class_prob,
        muon: muon_run,
        adam: adam_run,
        mixed,
    })
}
