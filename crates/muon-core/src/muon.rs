//! Muon: momentum, orthogonalised by Newton–Schulz, as `torch.optim.Muon`.
//!
//! # Algorithm
//! For a weight `W` (`rows × cols`) with gradient `G` and momentum buffer `B` (zero at first):
//! 1. `B ← B + (1 − μ)(G − B)` (EMA momentum);
//! 2. `U = G + μ(B − G)` with Nesterov, else `U = B`;
//! 3. `O = NewtonSchulz(U)` ([`crate::newton_schulz`]);
//! 4. `W ← W(1 − lr·wd) − lr'·O`, with `lr' = adjusted_lr(lr, adjust_lr, rows, cols)`.
//!
//! Defaults equal `torch.optim.Muon`'s: lr 1e-3, weight decay 0.1, momentum 0.95, Nesterov on,
//! Newton–Schulz quintic × 5 with eps 1e-7, `adjust_lr_fn = "original"`.
//!
//! # Finite in, finite out (where this differs from PyTorch)
//! Every step keeps the crate's rule (crate docs). Where PyTorch's result is finite this one
//! is the same (`tests/torch_reference.rs`); otherwise:
//! - the momentum, the Nesterov update, the adjusted learning rate and the weight saturate
//!   at `±f32::MAX` instead of overflowing to ±∞ (PyTorch: `lr = 3e38` gives NaN weights);
//! - the decay factor `1 − lr·wd` must lie in `[0, 1]` (`lr·wd ≤ 1`, refused by
//!   [`MuonConfig::build`]);
//! - Newton–Schulz normalises a tiny or huge input in `f64` ([`crate::newton_schulz`]), so a
//!   momentum decayed into subnormals with `eps = 0` still gives a finite update.
//!
//! # References
//! - PyTorch `torch/optim/_muon.py` (`_single_tensor_muon`, `_adjust_lr`).
//! - J. Liu et al., "Muon is Scalable for LLM Training" (Moonlight, 2025) for `match_rms_adamw`.

use crate::newton_schulz::{NsConfig, iterate, ns_scratch_len_checked, write_result};
use crate::{MatMut, MatRef, Matrix, MuonError, math, validate};

/// How the learning rate is scaled by the matrix shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AdjustLr {
    /// `lr · √max(1, rows/cols)` (Keller Jordan's original; torch's default `"original"`).
    #[default]
    Original,
    /// `lr · 0.2 · √max(rows, cols)`: matches AdamW's update RMS (Moonlight; torch's
    /// `"match_rms_adamw"`).
    MatchRmsAdamW,
}

/// The learning rate actually applied to a `rows × cols` matrix; saturates at `f32::MAX`.
#[must_use]
pub fn adjusted_lr(lr: f32, adjust: AdjustLr, rows: usize, cols: usize) -> f32 {
    let (r, c) = (rows as f32, cols as f32);
    math::saturate(match adjust {
        AdjustLr::Original => lr * math::sqrtf((r / c).max(1.0)),
        AdjustLr::MatchRmsAdamW => lr * 0.2 * math::sqrtf(r.max(c)),
    })
}

/// Muon hyper-parameters. [`MuonConfig::new`] gives `torch.optim.Muon`'s defaults;
/// [`MuonConfig::build`] validates them once and returns the optimizer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MuonConfig {
    /// Learning rate (`≥ 0`). Default 1e-3.
    pub lr: f32,
    /// Decoupled weight decay (`≥ 0`): `W ← W(1 − lr·wd)`. Default 0.1.
    pub weight_decay: f32,
    /// Momentum `μ` in `[0, 1)`. Default 0.95.
    pub momentum: f32,
    /// Nesterov momentum. Default on.
    pub nesterov: bool,
    /// Shape-dependent learning-rate scaling. Default [`AdjustLr::Original`].
    pub adjust_lr: AdjustLr,
    /// Newton–Schulz settings. Default [`NsConfig::default`].
    pub ns: NsConfig,
}

impl Default for MuonConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl MuonConfig {
    /// `torch.optim.Muon`'s defaults.
    #[must_use]
    pub fn new() -> Self {
        Self {
            lr: 1e-3,
            weight_decay: 0.1,
            momentum: 0.95,
            nesterov: true,
            adjust_lr: AdjustLr::Original,
            ns: NsConfig::default(),
        }
    }

    /// Sets the learning rate.
    #[must_use]
    pub fn with_lr(mut self, lr: f32) -> Self {
        self.lr = lr;
        self
    }

    /// Sets the decoupled weight decay.
    #[must_use]
    pub fn with_weight_decay(mut self, weight_decay: f32) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Sets the momentum `μ`.
    #[must_use]
    pub fn with_momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }

    /// Turns Nesterov momentum on or off.
    #[must_use]
    pub fn with_nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    /// Sets the learning-rate adjustment.
    #[must_use]
    pub fn with_adjust_lr(mut self, adjust_lr: AdjustLr) -> Self {
        self.adjust_lr = adjust_lr;
        self
    }

    /// Sets the Newton–Schulz settings.
    #[must_use]
    pub fn with_ns(mut self, ns: NsConfig) -> Self {
        self.ns = ns;
        self
    }

    /// Checks every hyper-parameter.
    ///
    /// Bounds: `lr`, `weight_decay` finite and `≥ 0` with `lr · weight_decay ≤ 1` (the decay
    /// factor `1 − lr·wd` in `[0, 1]`); `momentum` in `[0, 1)`; [`NsConfig::validate`].
    ///
    /// # Errors
    /// [`MuonError::InvalidHyperParameter`] naming the first bad one.
    pub fn validate(&self) -> Result<(), MuonError> {
        validate::non_negative("lr", self.lr)?;
        validate::non_negative("weight_decay", self.weight_decay)?;
        validate::decoupled_decay(self.lr, self.weight_decay)?;
        validate::unit_interval("momentum", self.momentum)?;
        self.ns.validate()
    }

    /// Validates and returns the optimizer.
    ///
    /// # Errors
    /// See [`MuonConfig::validate`].
    pub fn build(self) -> Result<Muon, MuonError> {
        self.validate()?;
        Ok(Muon { config: self })
    }
}

/// A validated Muon optimizer. Immutable; the per-parameter state is passed to each step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Muon {
    config: MuonConfig,
}

impl Muon {
    /// The hyper-parameters.
    #[must_use]
    pub fn config(&self) -> &MuonConfig {
        &self.config
    }

    /// Scratch `f32` elements [`Muon::step`] needs for a `rows × cols` parameter:
    /// `rows·cols` for the update plus [`ns_scratch_len`](crate::newton_schulz::ns_scratch_len).
    ///
    /// Saturates at `usize::MAX` (which no slice satisfies) when the size overflows `usize`;
    /// [`Muon::scratch_len_checked`] reports that as an error instead.
    #[must_use]
    pub const fn scratch_len(rows: usize, cols: usize) -> usize {
        match Self::scratch_len_checked(rows, cols) {
            Ok(len) => len,
            Err(_) => usize::MAX,
        }
    }

    /// [`Muon::scratch_len`], or [`MuonError::SizeOverflow`] when it overflows `usize`.
    ///
    /// # Errors
    /// [`MuonError::SizeOverflow`].
    pub const fn scratch_len_checked(rows: usize, cols: usize) -> Result<usize, MuonError> {
        let ns = match ns_scratch_len_checked(rows, cols) {
            Ok(ns) => ns,
            Err(e) => return Err(e),
        };
        // ns ≥ 2·rows·cols did not overflow, so neither does rows·cols.
        match ns.checked_add(rows.wrapping_mul(cols)) {
            Some(len) => Ok(len),
            None => Err(MuonError::SizeOverflow),
        }
    }

    /// One Muon step on a parameter of any size.
    ///
    /// `state.momentum` (`rows·cols`, zero before the first step) is the optimizer state;
    /// `state.scratch` needs [`Muon::scratch_len`] elements.
    ///
    /// # Errors
    /// [`MuonError::ShapeMismatch`], [`MuonError::LengthMismatch`],
    /// [`MuonError::ScratchTooSmall`], [`MuonError::NonFiniteGradient`], or
    /// [`MuonError::NonFiniteResult`] (Newton–Schulz coefficients that diverge); on any error
    /// `param` and `state.momentum` are untouched.
    pub fn step(
        &self,
        mut param: MatMut<'_>,
        grad: MatRef<'_>,
        state: MuonSlots<'_>,
    ) -> Result<(), MuonError> {
        let MuonSlots { momentum, scratch } = state;
        let (rows, cols) = param.shape();
        validate::same_shape("grad", (rows, cols), grad.shape())?;
        let len = param.as_slice().len();
        validate::length("momentum", len, momentum.len())?;
        validate::scratch(Self::scratch_len_checked(rows, cols)?, scratch.len())?;
        let g = grad.as_slice();
        validate::finite_gradient(g)?;

        let cfg = &self.config;
        let mu = cfg.momentum;
        // `scratch` holds at least `len` values (checked above); the checked split keeps the
        // step free of a panic path when the compiler cannot see that (scratch of a run-time
        // size, as `MixedOptimizer` passes).
        let Some((update, ns_scratch)) = scratch.split_at_mut_checked(len) else {
            return Err(MuonError::ScratchTooSmall {
                needed: len,
                found: scratch.len(),
            });
        };
        // The update from the next momentum, which is written only once Newton–Schulz has
        // succeeded (an error leaves the state untouched).
        for ((&b, &gi), u) in momentum.iter().zip(g).zip(update.iter_mut()) {
            let b = next_momentum(b, gi, mu);
            *u = if cfg.nesterov {
                math::saturate(gi + mu * (b - gi))
            } else {
                b
            };
        }
        let result = iterate(update, rows, cols, ns_scratch, &cfg.ns)?;
        write_result(result, update, rows, cols);
        for (b, &gi) in momentum.iter_mut().zip(g) {
            *b = next_momentum(*b, gi, mu);
        }

        let decay = 1.0 - cfg.lr * cfg.weight_decay;
        let lr = adjusted_lr(cfg.lr, cfg.adjust_lr, rows, cols);
        for (w, o) in param.as_mut_slice().iter_mut().zip(update.iter()) {
            *w = math::saturate(*w * decay - lr * o);
        }
        Ok(())
    }

    /// One Muon step on a fixed-size matrix, with all memory in `state` (no heap).
    ///
    /// # Errors
    /// [`MuonError::NonFiniteGradient`]; then `param` and `state` are untouched.
    pub fn step_fixed<const R: usize, const C: usize>(
        &self,
        param: &mut Matrix<R, C>,
        grad: &Matrix<R, C>,
        state: &mut MuonState<R, C>,
    ) -> Result<(), MuonError> {
        let MuonState { momentum, scratch } = state;
        self.step(
            param.as_mut(),
            grad.as_ref(),
            MuonSlots {
                momentum: momentum.as_mut_slice(),
                scratch: scratch.as_flattened_mut_f32(),
            },
        )
    }

    /// Changes the learning rate, validated as [`MuonConfig::build`] validates it: for
    /// schedules ([`crate::schedule`]), once per step; nothing else is rebuilt.
    ///
    /// # Errors
    /// [`MuonError::InvalidHyperParameter`]; then nothing changes.
    pub fn set_lr(&mut self, lr: f32) -> Result<(), MuonError> {
        *self = self.config.with_lr(lr).build()?;
        Ok(())
    }
}

/// One parameter's Muon state in caller memory, for [`Muon::step`] (the slice-view
/// counterpart of [`MuonState`]).
#[derive(Debug)]
pub struct MuonSlots<'a> {
    /// The momentum buffer `B`, `rows·cols` elements, zero before the first step.
    pub momentum: &'a mut [f32],
    /// Scratch, at least [`Muon::scratch_len`] elements; its contents between steps do not
    /// matter, so one scratch buffer can serve every parameter stepped one after another.
    pub scratch: &'a mut [f32],
}

/// `B + (1 − μ)(G − B)`, saturated at `±f32::MAX`.
#[inline]
fn next_momentum(b: f32, g: f32, mu: f32) -> f32 {
    math::saturate(b + (1.0 - mu) * (g - b))
}

/// Checks a momentum buffer (the slice form of Muon's state, as [`Muon::step`] takes it) as a
/// restore must: every element finite.
///
/// # Errors
/// [`MuonError::InvalidState`] (`momentum`) at the first NaN/±∞.
pub fn validate_momentum(momentum: &[f32]) -> Result<(), MuonError> {
    validate::finite_state("momentum", momentum.iter().copied())
}

/// Per-parameter Muon state for an `R × C` matrix, with its scratch space, so a step needs
/// no heap. `#[repr(C)]` and [`bytemuck::Pod`]: save and restore it bytewise
/// (`bytemuck::bytes_of`, `bytemuck::pod_read_unaligned`).
///
/// Size: `6·R·C` `f32` (momentum plus five `R × C` scratch matrices; Newton–Schulz's
/// `min(R,C)²` Gram matrices fit in an `R × C` block because `min(R,C)² ≤ R·C`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct MuonState<const R: usize, const C: usize> {
    /// The momentum buffer `B` (zero before the first step).
    pub momentum: Matrix<R, C>,
    /// Scratch for the update and Newton–Schulz; its contents between steps do not matter.
    pub scratch: MuonScratch<R, C>,
}

/// Scratch space for one fixed-size Muon step: five `R × C` blocks.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct MuonScratch<const R: usize, const C: usize> {
    blocks: [Matrix<R, C>; 5],
}

impl<const R: usize, const C: usize> MuonScratch<R, C> {
    /// Zeroed scratch.
    pub const ZERO: Self = Self {
        blocks: [Matrix::ZERO; 5],
    };

    fn as_flattened_mut_f32(&mut self) -> &mut [f32] {
        bytemuck::cast_slice_mut(&mut self.blocks)
    }
}

// SAFETY: `repr(C)` over `[Matrix<R, C>; 5]`, itself `Pod`; no padding, no invariants.
#[allow(unsafe_code)]
unsafe impl<const R: usize, const C: usize> bytemuck::Zeroable for MuonScratch<R, C> {}
// SAFETY: see above.
#[allow(unsafe_code)]
unsafe impl<const R: usize, const C: usize> bytemuck::Pod for MuonScratch<R, C> {}
// SAFETY: `repr(C)` over two `Pod` fields of the same alignment and sizes that are multiples
// of it (`Matrix` and `MuonScratch` are both arrays of f32): no padding, no invariants.
#[allow(unsafe_code)]
unsafe impl<const R: usize, const C: usize> bytemuck::Zeroable for MuonState<R, C> {}
// SAFETY: see above.
#[allow(unsafe_code)]
unsafe impl<const R: usize, const C: usize> bytemuck::Pod for MuonState<R, C> {}

impl<const R: usize, const C: usize> Default for MuonState<R, C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const R: usize, const C: usize> MuonState<R, C> {
    /// Checks the state as a restore must: the momentum finite (the scratch's contents do
    /// not matter).
    ///
    /// # Errors
    /// [`MuonError::InvalidState`] (`momentum`) at the first NaN/±∞ (row-major index).
    pub fn validate(&self) -> Result<(), MuonError> {
        validate_momentum(self.momentum.as_slice())
    }

    /// Restores a state saved with `bytemuck::bytes_of` (any alignment), refusing invalid
    /// values ([`MuonState::validate`]).
    ///
    /// # Errors
    /// [`MuonError::LengthMismatch`] (`state bytes`) if `bytes` is not exactly the state's
    /// size, else [`MuonState::validate`]'s errors.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MuonError> {
        validate::length("state bytes", core::mem::size_of::<Self>(), bytes.len())?;
        let state: Self = bytemuck::pod_read_unaligned(bytes);
        state.validate()?;
        Ok(state)
    }

    /// Zero momentum: the state before the first step.
    #[must_use]
    pub const fn new() -> Self {
        const {
            assert!(
                R > 0 && C > 0,
                "a Muon parameter needs at least one row and column"
            )
        };
        Self {
            momentum: Matrix::ZERO,
            scratch: MuonScratch::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjusted_lr_matches_torch_formulas() {
        assert_eq!(adjusted_lr(0.1, AdjustLr::Original, 4, 16), 0.1);
        assert!((adjusted_lr(0.1, AdjustLr::Original, 16, 4) - 0.2).abs() < 1e-7);
        assert!((adjusted_lr(0.1, AdjustLr::MatchRmsAdamW, 16, 4) - 0.08).abs() < 1e-7);
    }

    #[test]
    fn invalid_hyper_parameters_are_rejected() {
        assert!(MuonConfig::new().with_lr(-1.0).build().is_err());
        assert!(MuonConfig::new().with_lr(f32::NAN).build().is_err());
        assert!(MuonConfig::new().with_momentum(1.0).build().is_err());
        assert!(MuonConfig::new().with_weight_decay(-0.1).build().is_err());
        assert!(
            MuonConfig::new()
                .with_ns(NsConfig::default().with_steps(0))
                .build()
                .is_err()
        );
    }

    #[test]
    fn non_finite_gradient_leaves_everything_untouched() {
        let muon = MuonConfig::new().build().unwrap();
        let mut w = Matrix::<3, 2>::from_fn(|r, c| (r + c) as f32);
        let mut state = MuonState::<3, 2>::new();
        state.momentum = Matrix::from_fn(|r, c| (r * c) as f32 * 0.5);
        let (w0, m0) = (w, state.momentum);
        let mut g = Matrix::<3, 2>::from_fn(|_, _| 1.0);
        g.data[2][1] = f32::INFINITY;
        let err = muon.step_fixed(&mut w, &g, &mut state);
        assert_eq!(err, Err(MuonError::NonFiniteGradient { index: 5 }));
        assert_eq!(w, w0);
        assert_eq!(state.momentum, m0);
    }

    #[test]
    fn shape_and_scratch_errors() {
        let muon = MuonConfig::new().build().unwrap();
        let mut w = [0.0f32; 6];
        let g = [0.0f32; 6];
        let mut m = [0.0f32; 6];
        let mut s = [0.0f32; 4];
        let err = muon.step(
            MatMut::new(2, 3, &mut w).unwrap(),
            MatRef::new(3, 2, &g).unwrap(),
            MuonSlots {
                momentum: &mut m,
                scratch: &mut s,
            },
        );
        assert!(matches!(err, Err(MuonError::ShapeMismatch { .. })));
        let err = muon.step(
            MatMut::new(2, 3, &mut w).unwrap(),
            MatRef::new(2, 3, &g).unwrap(),
            MuonSlots {
                momentum: &mut m,
                scratch: &mut s,
            },
        );
        assert!(matches!(err, Err(MuonError::ScratchTooSmall { .. })));
    }
}
