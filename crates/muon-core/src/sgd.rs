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

use crate::{MatMut, MatRef, Matrix, MuonError, math, validate};

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

    /// One step on a parameter of any shape (treated as flat; a vector is a `1 × n` matrix,
    /// [`MatMut::vector`]). `state.momentum` (as long as `param`) and `state.step` (0 at
    /// first) are the optimizer state.
    ///
    /// # Errors
    /// [`MuonError::ShapeMismatch`], [`MuonError::LengthMismatch`] or
    /// [`MuonError::NonFiniteGradient`]; on any error nothing is changed.
    pub fn step(
        &self,
        mut param: MatMut<'_>,
        grad: MatRef<'_>,
        state: SgdSlots<'_>,
    ) -> Result<(), MuonError> {
        validate::same_shape("grad", param.shape(), grad.shape())?;
        let (param, grad) = (param.as_mut_slice(), grad.as_slice());
        let SgdSlots { momentum, step } = state;
        validate::length("momentum", param.len(), momentum.len())?;
        validate::finite_gradient(grad)?;
        let c = &self.config;
        let first = *step == 0;
        *step = step.saturating_add(1);
        for ((w, &g), b) in param.iter_mut().zip(grad).zip(momentum.iter_mut()) {
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

    /// One step on a fixed-size matrix, state held in `state` (no heap).
    ///
    /// # Errors
    /// [`MuonError::NonFiniteGradient`]; then nothing is changed.
    pub fn step_fixed<const R: usize, const C: usize>(
        &self,
        param: &mut Matrix<R, C>,
        grad: &Matrix<R, C>,
        state: &mut SgdState<R, C>,
    ) -> Result<(), MuonError> {
        self.step(
            param.as_mut(),
            grad.as_ref(),
            SgdSlots {
                momentum: state.momentum.as_mut_slice(),
                step: &mut state.step,
            },
        )
    }

    /// Changes the learning rate, validated as [`SgdConfig::build`] validates it: for
    /// learning-rate schedules, once per step; nothing else is rebuilt.
    ///
    /// # Errors
    /// [`MuonError::InvalidHyperParameter`]; then nothing changes.
    pub fn set_lr(&mut self, lr: f32) -> Result<(), MuonError> {
        *self = self.config.with_lr(lr).build()?;
        Ok(())
    }
}

/// One parameter's SGD state in caller memory, for [`Sgd::step`] (the slice-view counterpart
/// of [`SgdState`]).
#[derive(Debug)]
pub struct SgdSlots<'a> {
    /// The momentum buffer, one per parameter element (unused without momentum).
    pub momentum: &'a mut [f32],
    /// Steps taken so far (0 before the first: the first step sets the buffer to the
    /// gradient, as torch does).
    pub step: &'a mut u32,
}

/// SGD state for an `R × C` matrix (no heap). `#[repr(C)]` and [`bytemuck::Pod`]: save and
/// restore it bytewise.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct SgdState<const R: usize, const C: usize> {
    /// The momentum buffer.
    pub momentum: Matrix<R, C>,
    /// Steps taken so far.
    pub step: u32,
}

// SAFETY: `repr(C)` over `Matrix<R, C>` (an `f32` array, alignment 4, size a multiple of 4)
// followed by a `u32`: no padding, every bit pattern valid.
#[allow(unsafe_code)]
unsafe impl<const R: usize, const C: usize> bytemuck::Zeroable for SgdState<R, C> {}
// SAFETY: see above.
#[allow(unsafe_code)]
unsafe impl<const R: usize, const C: usize> bytemuck::Pod for SgdState<R, C> {}

impl<const R: usize, const C: usize> Default for SgdState<R, C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const R: usize, const C: usize> SgdState<R, C> {
    /// Zero momentum, zero steps: the state before the first step.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            momentum: Matrix::ZERO,
            step: 0,
        }
    }
}
