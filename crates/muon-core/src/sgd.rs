//! SGD with momentum, as `torch.optim.SGD` (dampening 0).
//!
//! # Algorithm
//! `g ← g + wd·w`; with momentum `μ > 0`: `b ← g` on the first step, else `b ← μ·b + g`;
//! then `d = g + μ·b` (Nesterov) or `d = b`; without momentum `d = g`; `w ← w − lr·d`.
//! Plain gradient descent is `momentum = 0`.
//!
//! # Finite in, finite out (where this differs from PyTorch)
//! The decayed gradient, the momentum buffer, the Nesterov direction and the weight saturate
//! at `±f32::MAX` instead of overflowing to ±∞ (crate docs); every result PyTorch computes
//! finitely is unchanged.

use crate::{MuonError, math, validate};

/// SGD hyper-parameters; [`SgdConfig::new`] gives torch's defaults except `lr`, which torch
/// requires and this sets to 1e-3.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate (`≥ 0`).
    pub lr: f32,
    /// Momentum `μ` in `[0, 1)`. Default 0.
    pub momentum: f32,
    /// Coupled L2 weight decay (`≥ 0`). Default 0.
    pub weight_decay: f32,
    /// Nesterov momentum (needs `momentum > 0`). Default off.
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl SgdConfig {
    /// lr 1e-3, no momentum, no weight decay.
    #[must_use]
    pub fn new() -> Self {
        Self {
            lr: 1e-3,
            momentum: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }

    /// Sets the learning rate.
    #[must_use]
    pub fn with_lr(mut self, lr: f32) -> Self {
        self.lr = lr;
        self
    }

    /// Sets the momentum.
    #[must_use]
    pub fn with_momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets the weight decay.
    #[must_use]
    pub fn with_weight_decay(mut self, weight_decay: f32) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Turns Nesterov momentum on or off.
    #[must_use]
    pub fn with_nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    /// Validates and returns the optimizer.
    ///
    /// # Errors
    /// [`MuonError::InvalidHyperParameter`] naming the first bad hyper-parameter.
    pub fn build(self) -> Result<Sgd, MuonError> {
        validate::non_negative("lr", self.lr)?;
        validate::unit_interval("momentum", self.momentum)?;
        validate::non_negative("weight_decay", self.weight_decay)?;
        if self.nesterov && self.momentum == 0.0 {
            return Err(MuonError::InvalidHyperParameter {
                name: "nesterov",
                reason: "Nesterov momentum requires momentum > 0",
            });
        }
        Ok(Sgd { config: self })
    }
}

/// Checks an SGD momentum buffer (SGD's state, with the step count) as a restore must: every
/// element finite.
///
/// # Errors
/// [`MuonError::InvalidState`] (`momentum_buf`) at the first NaN/±∞.
pub fn validate_momentum(momentum_buf: &[f32]) -> Result<(), MuonError> {
    validate::finite_state("momentum_buf", momentum_buf.iter().copied())
}

/// A validated SGD optimizer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd {
    config: SgdConfig,
}

impl Sgd {
    /// The hyper-parameters.
    #[must_use]
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }

    /// One step. `momentum_buf` (same length as `param`) and `step` (0 at first) are the state.
    ///
    /// # Errors
    /// [`MuonError::LengthMismatch`] or [`MuonError::NonFiniteGradient`]; nothing changed.
    pub fn step(
        &self,
        param: &mut [f32],
        grad: &[f32],
        momentum_buf: &mut [f32],
        step: &mut u32,
    ) -> Result<(), MuonError> {
        let n = param.len();
        validate::length("grad", n, grad.len())?;
        validate::length("momentum_buf", n, momentum_buf.len())?;
        validate::finite_gradient(grad)?;
        let c = &self.config;
        let first = *step == 0;
        *step = step.saturating_add(1);
        for ((w, &g), b) in param.iter_mut().zip(grad).zip(momentum_buf.iter_mut()) {
            let g = math::saturate(g + c.weight_decay * *w);
            let d = if c.momentum > 0.0 {
                *b = if first {
                    g
                } else {
                    math::saturate(c.momentum * *b + g)
                };
                if c.nesterov {
                    math::saturate(g + c.momentum * *b)
                } else {
                    *b
                }
            } else {
                g
            };
            *w = math::saturate(*w - c.lr * d);
        }
        Ok(())
    }
}
