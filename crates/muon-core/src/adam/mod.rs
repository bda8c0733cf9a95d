//! Adam and AdamW, as `torch.optim.Adam` / `torch.optim.AdamW`.
//!
//! # Algorithm
//! Step `t` (1-based) for a parameter `w` with gradient `g`, moments `m`, `v` (zero at first):
//! 1. Adam (coupled L2): `g ← g + wd·w`; AdamW (decoupled): `w ← w(1 − lr·wd)`;
//! 2. `m ← m + (1 − β1)(g − m)`, `v ← β2·v + (1 − β2)·g²`;
//! 3. `w ← w − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + eps)`.
//!
//! Defaults equal PyTorch's: lr 1e-3, betas (0.9, 0.999), eps 1e-8; weight decay 0 for Adam
//! and 0.01 for AdamW.
//!
//! # Finite in, finite out (where this differs from PyTorch)
//! Every step keeps the crate's rule (crate docs): from finite weights, gradients and state,
//! an `Ok` step leaves them finite. PyTorch computes the same formulas and gets NaN or ±∞ in
//! the cases below; everywhere PyTorch's result is finite, this one is the same (the
//! recording in `tests/torch_reference.rs`):
//! - **`eps = 0`** (PyTorch accepts it, and so does this): an element whose denominator
//!   `√v / √(1 − β2ᵗ) + eps` is 0 (its `v` is 0, e.g. a zero gradient, or one below ~1e-19
//!   whose square underflows) is not moved by the update (PyTorch: 0/0 = NaN, or ±∞ for a
//!   gradient of 1e-40).
//! - **Overflow**: `m`, `v` and the weight saturate at `±f32::MAX` instead of becoming ±∞
//!   (a gradient above ~1e19 squares past `f32::MAX`; huge learning rates or weight decays).
//!   The update `m / (√v̂ + eps)` and the step size `lr / (1 − β1ᵗ)` saturate likewise.
//! - **Decoupled decay**: AdamW's factor `1 − lr·wd` must lie in `[0, 1]` (`lr·wd ≤ 1`,
//!   refused by [`AdamConfig::build`]); PyTorch accepts any product, which for `lr·wd > 1`
//!   flips the weights' sign every step and for huge ones multiplies them by −∞.
//! - **State**: a negative `v` (no step makes one; restored state) counts as 0. Restore
//!   state with [`AdamState::from_bytes`] or check it with [`AdamState::validate`] /
//!   [`AdamSlots::validate`], which refuse NaN, ±∞ and negative `v`.
//!
//! With `f16`/`bf16` moments the stored values are further limited by the format's range
//! (f16: 65504); saturation here is to `f32::MAX`.
//!
//! The moments can be stored as `f32`, [`half::f16`](struct@half::f16) or [`half::bf16`] ([`MomentStorage`]):
//! arithmetic is always `f32`, the 16-bit formats halve the state's memory at the cost of
//! rounding the stored moments (relative 2⁻¹¹ for f16, 2⁻⁸ for bf16). `f16` stores `√v`
//! instead of `v`, so its range (6e-8 to 65504) holds gradients of that size rather than their
//! squares. Every format saturates instead of overflowing: a finite gradient of any size
//! leaves `m` and `v` finite (PyTorch's `v` becomes infinite for |g| ≳ 1e19 in `f32`; where
//! PyTorch's state is finite the `f32` results are unchanged). See [`MomentStorage`].
//!
//! With `f32` moments, x86-64 CPUs with AVX2 and FMA (detected at run time) and AArch64 update eight or
//! four elements per instruction; the results are bit-identical to the portable loop that
//! every other case runs (tested bit for bit), so a trajectory does not depend on the machine.
//!
//! # References
//! - D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization" (2015).
//! - I. Loshchilov, F. Hutter, "Decoupled Weight Decay Regularization" (2019).
//! - PyTorch `torch/optim/adam.py` (`_single_tensor_adam`).

use crate::{MatMut, MatRef, Matrix, MuonError, math, validate};
use half::{bf16, f16};

// SIMD intrinsics and raw pointers, confined to these modules (the crate denies unsafe code).
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
#[allow(unsafe_code)]
mod aarch64_neon;
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_feature = "neon")
))]
#[allow(unsafe_code)]
mod lanes;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86_avx;

#[cfg(all(test, target_arch = "aarch64", target_feature = "neon"))]
use aarch64_neon::lanes as simd_lanes;
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
use aarch64_neon::update_f32 as update_f32_simd;
#[cfg(all(test, target_arch = "x86_64"))]
use x86_avx::lanes as simd_lanes;
#[cfg(target_arch = "x86_64")]
use x86_avx::update_f32 as update_f32_simd;

/// No SIMD kernel for this target: the portable loop does everything.
#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_feature = "neon")
)))]
fn update_f32_simd(_: &mut [f32], _: &[f32], _: &mut [f32], _: &mut [f32], _: &Update) -> usize {
    0
}

/// Lanes of this target's SIMD kernel: none.
#[cfg(all(
    test,
    not(any(
        target_arch = "x86_64",
        all(target_arch = "aarch64", target_feature = "neon")
    ))
))]
fn simd_lanes() -> usize {
    0
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::f16 {}
    impl Sealed for half::bf16 {}
}

/// A number format the Adam moments can be stored in: `f32`, [`f16`](struct@f16) or [`bf16`].
///
/// Every store saturates: a finite value beyond the format's range is stored as its largest
/// finite value ([`MomentStorage::MAX_FINITE`]) with the value's sign, never as an infinity, so a
/// gradient of any finite size leaves the state finite (an infinite moment would stop its
/// element for good: `m/√v` is `0` or NaN from then on).
///
/// The second moment `v` is stored through [`MomentStorage::store_v`]: as `v` itself in `f32`
/// and `bf16`, whose exponent range holds `g²` for every gradient up to 1.8e19, and as `√v` in
/// `f16`, whose range (6e-8 to 65504) would hold `g²` only for 2.4e-4 ≤ |g| ≤ 256: stored as
/// `√v`, the root mean square of the gradient, it has the gradient's units and holds what the
/// first moment holds (see `docs/moments.md` for the measured accuracy).
pub trait MomentStorage: sealed::Sealed + bytemuck::Pod + Copy + Default {
    /// Zero in this format.
    const ZERO: Self;
    /// The largest finite value, as `f32`: `f32::MAX`, 65504 (`f16`), ≈3.39e38 (`bf16`).
    const MAX_FINITE: f32;
    /// Widens to `f32`.
    fn load(self) -> f32;
    /// Rounds an `f32` to this format (round to nearest even), saturating at ±[`Self::MAX_FINITE`].
    fn store(value: f32) -> Self;
    /// The second moment `v` this stored value encodes (see [`MomentStorage::store_v`]).
    #[inline]
    fn load_v(self) -> f32 {
        self.load()
    }
    /// Encodes a second moment `v ≥ 0`: `v` rounded and saturated as [`MomentStorage::store`],
    /// except in `f16`, which stores `√v` (rounded, saturating at 65504; decoded as `r·r`,
    /// exact in `f32`).
    #[inline]
    fn store_v(v: f32) -> Self {
        Self::store(v)
    }
}

impl MomentStorage for f32 {
    const ZERO: Self = 0.0;
    const MAX_FINITE: f32 = f32::MAX;
    #[inline]
    fn load(self) -> f32 {
        self
    }
    #[inline]
    fn store(value: f32) -> Self {
        saturate(value, f32::MAX)
    }
}

impl MomentStorage for f16 {
    const ZERO: Self = f16::ZERO;
    const MAX_FINITE: f32 = 65504.0;
    #[inline]
    fn load(self) -> f32 {
        self.to_f32()
    }
    #[inline]
    fn store(value: f32) -> Self {
        f16::from_f32(saturate(value, Self::MAX_FINITE))
    }
    #[inline]
    fn load_v(self) -> f32 {
        let r = self.to_f32();
        r * r
    }
    #[inline]
    fn store_v(v: f32) -> Self {
        Self::store(math::sqrtf(v))
    }
}

impl MomentStorage for bf16 {
    const ZERO: Self = bf16::ZERO;
    const MAX_FINITE: f32 = f32::from_bits(0x7f7f_0000);
    #[inline]
    fn load(self) -> f32 {
        self.to_f32()
    }
    #[inline]
    fn store(value: f32) -> Self {
        bf16::from_f32(saturate(value, Self::MAX_FINITE))
    }
}

/// `x` limited to `[−max, max]`, written as the SIMD kernels' `min`/`max` instructions compute
/// it (`a < b ? a : b`, then `a > b ? a : b`), so both give the same bits, a NaN included
/// (it becomes `max`; no step makes one from finite state and gradients).
#[inline]
fn saturate(x: f32, max: f32) -> f32 {
    let below = if x < max { x } else { max };
    if below > -max { below } else { -max }
}

/// Adam/AdamW hyper-parameters. [`AdamConfig::adam`] and [`AdamConfig::adamw`] give
/// PyTorch's defaults; [`AdamConfig::build`] validates them once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate (`≥ 0`). Default 1e-3.
    pub lr: f32,
    /// First-moment decay `β1` in `[0, 1)`. Default 0.9.
    pub beta1: f32,
    /// Second-moment decay `β2` in `[0, 1)`. Default 0.999.
    pub beta2: f32,
    /// Added to the denominator (`≥ 0`). Default 1e-8.
    pub eps: f32,
    /// Weight decay (`≥ 0`): coupled L2 for Adam, decoupled for AdamW.
    pub weight_decay: f32,
    /// `true` for AdamW (decoupled weight decay), `false` for Adam (L2 added to the gradient).
    pub decoupled_weight_decay: bool,
}

impl AdamConfig {
    /// `torch.optim.Adam`'s defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay.
    #[must_use]
    pub fn adam() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
        }
    }

    /// `torch.optim.AdamW`'s defaults: as Adam with decoupled weight decay 0.01.
    #[must_use]
    pub fn adamw() -> Self {
        Self {
            weight_decay: 0.01,
            decoupled_weight_decay: true,
            ..Self::adam()
        }
    }

    /// Sets the learning rate.
    #[must_use]
    pub fn with_lr(mut self, lr: f32) -> Self {
        self.lr = lr;
        self
    }

    /// Sets `(β1, β2)`.
    #[must_use]
    pub fn with_betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    /// Sets eps.
    #[must_use]
    pub fn with_eps(mut self, eps: f32) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the weight decay (its kind stays as chosen by `adam()`/`adamw()`).
    #[must_use]
    pub fn with_weight_decay(mut self, weight_decay: f32) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Checks every hyper-parameter.
    ///
    /// # Errors
    /// [`MuonError::InvalidHyperParameter`] naming the first bad one.
    ///
    /// Bounds: `lr`, `eps`, `weight_decay` finite and `≥ 0`; `beta1`, `beta2` in `[0, 1)`;
    /// for AdamW (decoupled) also `lr · weight_decay ≤ 1`, so that the decay factor
    /// `1 − lr·wd` lies in `[0, 1]`.
    pub fn validate(&self) -> Result<(), MuonError> {
        validate::non_negative("lr", self.lr)?;
        validate::unit_interval("beta1", self.beta1)?;
        validate::unit_interval("beta2", self.beta2)?;
        validate::non_negative("eps", self.eps)?;
        validate::non_negative("weight_decay", self.weight_decay)?;
        if self.decoupled_weight_decay {
            validate::decoupled_decay(self.lr, self.weight_decay)?;
        }
        Ok(())
    }

    /// Validates and returns the optimizer.
    ///
    /// # Errors
    /// See [`AdamConfig::validate`].
    pub fn build(self) -> Result<Adam, MuonError> {
        self.validate()?;
        Ok(Adam { config: self })
    }
}

/// Mutable views of one parameter's Adam state, for [`Adam::step`].
#[derive(Debug)]
pub struct AdamSlots<'a, S: MomentStorage = f32> {
    /// Steps taken so far (0 before the first).
    pub step: &'a mut u32,
    /// First moment `m`, one per parameter element.
    pub m: &'a mut [S],
    /// Second moment `v`, one per parameter element.
    pub v: &'a mut [S],
}

impl<S: MomentStorage> AdamSlots<'_, S> {
    /// Checks the state as a restore must: `m` and `v` equally long, `m` finite, `v` finite
    /// and `≥ 0` (every step keeps them so).
    ///
    /// # Errors
    /// [`MuonError::LengthMismatch`] (`v` against `m`), or [`MuonError::InvalidState`]
    /// naming `m` or `v` and the first bad element.
    pub fn validate(&self) -> Result<(), MuonError> {
        validate::length("v", self.m.len(), self.v.len())?;
        validate::finite_state("m", self.m.iter().map(|x| x.load()))?;
        validate::second_moment("v", self.v.iter().map(|x| x.load()))
    }
}

/// The scalars of one Adam step, shared by the CPU kernel and GPU uniforms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStepScalars {
    /// `lr / (1 − β1ᵗ)`, computed as `lr · inv_bias_correction1` in `f32` (one correctly
    /// rounded product, which a GPU reproduces exactly with `lr` from a uniform).
    pub step_size: f32,
    /// `1 / (1 − β1ᵗ)`, computed in `f64` and rounded to `f32`: independent of the learning
    /// rate, so a learning-rate schedule needs no new table.
    pub inv_bias_correction1: f32,
    /// `√(1 − β2ᵗ)`.
    pub bias_correction2_sqrt: f32,
    /// `1 − lr·wd` for AdamW, 1 for Adam.
    pub decay: f32,
    /// `wd` for Adam (added to the gradient), 0 for AdamW.
    pub l2: f32,
}

/// A validated Adam/AdamW optimizer. Immutable; per-parameter state is passed to each step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    config: AdamConfig,
}

impl Adam {
    /// The hyper-parameters.
    #[must_use]
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// The per-step scalars for step `t` (1-based), bias corrections computed in `f64`.
    /// The step size saturates at `f32::MAX` (a huge `lr` divided by `1 − β1ᵗ`).
    #[must_use]
    pub fn scalars(&self, t: u32) -> AdamStepScalars {
        let c = &self.config;
        let bc1 = 1.0 - math::powi(f64::from(c.beta1), t);
        let bc2 = 1.0 - math::powi(f64::from(c.beta2), t);
        let (decay, l2) = if c.decoupled_weight_decay {
            (1.0 - c.lr * c.weight_decay, 0.0)
        } else {
            (1.0, c.weight_decay)
        };
        let inv_bias_correction1 = (1.0 / bc1) as f32;
        AdamStepScalars {
            step_size: math::saturate(c.lr * inv_bias_correction1),
            inv_bias_correction1,
            bias_correction2_sqrt: math::sqrt(bc2) as f32,
            decay,
            l2,
        }
    }

    /// Changes the learning rate, validated as [`AdamConfig::build`] validates it: for
    /// learning-rate schedules, once per step; nothing else is rebuilt.
    ///
    /// # Errors
    /// [`MuonError::InvalidHyperParameter`]; then nothing changes.
    pub fn set_lr(&mut self, lr: f32) -> Result<(), MuonError> {
        *self = self.config.with_lr(lr).build()?;
        Ok(())
    }

    /// One step on a parameter of any shape (treated as flat: Adam is element-wise; a vector
    /// is a `1 × n` matrix, [`MatMut::vector`]).
    ///
    /// # Errors
    /// [`MuonError::ShapeMismatch`] if `grad`'s shape differs from `param`'s;
    /// [`MuonError::LengthMismatch`] if `m` or `v` differ in length from `param`;
    /// [`MuonError::NonFiniteGradient`]. On any error nothing is changed (the step count
    /// included).
    pub fn step<S: MomentStorage>(
        &self,
        mut param: MatMut<'_>,
        grad: MatRef<'_>,
        slots: AdamSlots<'_, S>,
    ) -> Result<(), MuonError> {
        validate::same_shape("grad", param.shape(), grad.shape())?;
        let (param, grad) = (param.as_mut_slice(), grad.as_slice());
        let n = param.len();
        validate::length("m", n, slots.m.len())?;
        validate::length("v", n, slots.v.len())?;
        validate::finite_gradient(grad)?;
        let t = slots.step.saturating_add(1);
        *slots.step = t;
        let u = Update::new(&self.config, &self.scalars(t));
        let (m, v) = (slots.m, slots.v);
        // `f32` moments on x86-64 with AVX2 + FMA and on AArch64: a SIMD kernel takes whole vectors,
        // bit-identical to the portable loop, which takes the remainder (and every other case).
        let done = match (as_f32(m), as_f32(v)) {
            (Some(m32), Some(v32)) => update_f32_simd(param, grad, m32, v32, &u),
            _ => 0,
        };
        update_portable(
            &mut param[done..],
            &grad[done..],
            &mut m[done..],
            &mut v[done..],
            &u,
        );
        Ok(())
    }

    /// One step on a fixed-size matrix, state held in `state` (no heap).
    ///
    /// # Errors
    /// [`MuonError::NonFiniteGradient`]; then nothing is changed.
    pub fn step_fixed<const R: usize, const C: usize, S: MomentStorage>(
        &self,
        param: &mut Matrix<R, C>,
        grad: &Matrix<R, C>,
        state: &mut AdamState<R, C, S>,
    ) -> Result<(), MuonError> {
        self.step(
            param.as_mut(),
            grad.as_ref(),
            AdamSlots {
                step: &mut state.step,
                m: state.m.as_flattened_mut(),
                v: state.v.as_flattened_mut(),
            },
        )
    }
}

/// The constants of one step's element-wise update, in `f32` as the loop uses them.
#[derive(Clone, Copy, Debug)]
struct Update {
    /// Coupled L2 weight decay (Adam), 0 for AdamW.
    l2: f32,
    /// `1 − β1`.
    one_minus_b1: f32,
    /// `β2`.
    b2: f32,
    /// `1 − β2`.
    one_minus_b2: f32,
    /// `√(1 − β2ᵗ)`.
    bc2_sqrt: f32,
    /// `eps`.
    eps: f32,
    /// Decoupled decay factor `1 − lr·wd` (AdamW), 1 for Adam.
    decay: f32,
    /// `lr / (1 − β1ᵗ)`.
    step_size: f32,
}

impl Update {
    fn new(c: &AdamConfig, s: &AdamStepScalars) -> Self {
        Self {
            l2: s.l2,
            one_minus_b1: 1.0 - c.beta1,
            b2: c.beta2,
            one_minus_b2: 1.0 - c.beta2,
            bc2_sqrt: s.bias_correction2_sqrt,
            eps: c.eps,
            decay: s.decay,
            step_size: s.step_size,
        }
    }
}

/// The element-wise update (the reference; the SIMD kernel, `lanes::update` for AVX and NEON,
/// computes the same operations in the same order, a vector at a time). Slices are equally long (checked by [`Adam::step`]).
///
/// The clamps keep finite input finite (module docs): `m` and the weight saturate at
/// `±f32::MAX`, `v` is clamped to `[0, f32::MAX]`, the ratio `m / denom` saturates and is 0
/// where `denom` is 0 (`eps = 0`). None of them changes a value that was finite before.
fn update_portable<S: MomentStorage>(
    param: &mut [f32],
    grad: &[f32],
    m: &mut [S],
    v: &mut [S],
    u: &Update,
) {
    for (((w, &g), m), v) in param
        .iter_mut()
        .zip(grad)
        .zip(m.iter_mut())
        .zip(v.iter_mut())
    {
        let g = g + u.l2 * *w;
        let mo = m.load();
        let mf = math::saturate(mo + u.one_minus_b1 * (g - mo));
        // max then min as the SIMD kernels compute it (see `math::saturate`).
        #[allow(clippy::manual_clamp)]
        let vf = (u.b2 * v.load_v() + u.one_minus_b2 * g * g)
            .max(0.0)
            .min(f32::MAX);
        *m = S::store(mf);
        *v = S::store_v(vf);
        let denom = math::sqrtf(vf) / u.bc2_sqrt + u.eps;
        let ratio = if denom > 0.0 {
            math::saturate(mf / denom)
        } else {
            0.0
        };
        *w = math::saturate(*w * u.decay - u.step_size * ratio);
    }
}

/// The moments as `f32` slices when `S` is `f32` (the SIMD kernels' case), else `None`.
fn as_f32<S: MomentStorage>(x: &mut [S]) -> Option<&mut [f32]> {
    if core::any::TypeId::of::<S>() == core::any::TypeId::of::<f32>() {
        bytemuck::try_cast_slice_mut(x).ok()
    } else {
        None
    }
}

/// Adam state for an `R × C` matrix with moments stored as `S`.
///
/// `#[repr(C)]` and [`bytemuck::Pod`] (the moments come first and fill a whole number of
/// 4-byte words, `step` is last): save and restore it bytewise.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct AdamState<const R: usize, const C: usize, S: MomentStorage = f32> {
    /// First moment `m`.
    pub m: [[S; C]; R],
    /// Second moment `v`.
    pub v: [[S; C]; R],
    /// Steps taken so far.
    pub step: u32,
}

// SAFETY: `repr(C)`; `S` is one of f32, f16, bf16 (sealed trait), all `Pod` with alignment
// ≤ 4. `m` and `v` together hold 2·R·C elements of 2 or 4 bytes, i.e. a multiple of 4 bytes,
// so `step: u32` follows at an aligned offset with no padding, and the total size is a
// multiple of the struct's alignment (4): no padding anywhere, every bit pattern valid.
#[allow(unsafe_code)]
unsafe impl<const R: usize, const C: usize, S: MomentStorage> bytemuck::Zeroable
    for AdamState<R, C, S>
{
}
// SAFETY: see above.
#[allow(unsafe_code)]
unsafe impl<const R: usize, const C: usize, S: MomentStorage> bytemuck::Pod for AdamState<R, C, S> {}

impl<const R: usize, const C: usize, S: MomentStorage> Default for AdamState<R, C, S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const R: usize, const C: usize, S: MomentStorage> AdamState<R, C, S> {
    /// Zero moments, zero steps.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            m: [[S::ZERO; C]; R],
            v: [[S::ZERO; C]; R],
            step: 0,
        }
    }

    /// Checks the state as a restore must: `m` finite, `v` finite and `≥ 0` (every step
    /// keeps them so; any `step` is valid).
    ///
    /// # Errors
    /// [`MuonError::InvalidState`] naming `m` or `v` and the first bad element (row-major).
    pub fn validate(&self) -> Result<(), MuonError> {
        validate::finite_state("m", self.m.as_flattened().iter().map(|x| x.load()))?;
        validate::second_moment("v", self.v.as_flattened().iter().map(|x| x.load()))
    }

    /// Restores a state saved with `bytemuck::bytes_of` (any alignment), refusing invalid
    /// values ([`AdamState::validate`]).
    ///
    /// # Errors
    /// [`MuonError::LengthMismatch`] (`state bytes`) if `bytes` is not exactly the state's
    /// size, else [`AdamState::validate`]'s errors.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MuonError> {
        validate::length("state bytes", core::mem::size_of::<Self>(), bytes.len())?;
        let state: Self = bytemuck::pod_read_unaligned(bytes);
        state.validate()?;
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::data;

    /// Ten steps of the SIMD kernel (plus the portable loop on the remainder, as `step` runs
    /// them) against the portable loop alone, from the same state: parameters and moments
    /// equal bit for bit, for Adam (coupled L2) and AdamW, on lengths with and without a
    /// remainder, with zeros, tiny and huge gradients (`g²` overflowing to infinity) among them.
    #[test]
    fn simd_update_is_bit_identical_to_the_portable_loop() {
        let lanes = simd_lanes();
        let configs = [
            AdamConfig::adam().with_lr(1e-2).with_weight_decay(0.1),
            AdamConfig::adamw().with_lr(3e-3).with_betas(0.8, 0.99),
            AdamConfig::adamw().with_betas(0.0, 0.0).with_eps(0.0),
        ];
        for config in configs {
            let adam = config.build().unwrap();
            for len in [3, 4, 8, 13, 16, 24, 40, 1000] {
                let mut w_ref = data(len, 1);
                let (mut m_ref, mut v_ref) = (std::vec![0.0f32; len], std::vec![0.0f32; len]);
                let (mut w, mut m, mut v) = (w_ref.clone(), m_ref.clone(), v_ref.clone());
                for t in 1..=10u32 {
                    let mut g = data(len, 10 + t);
                    g[0] = 0.0;
                    g[len / 2] = 1e-30;
                    g[len - 1] = if t % 2 == 0 { 3e20 } else { -1e-3 };
                    g[len / 3] = if t % 3 == 0 { -f32::MAX } else { 1e-40 };
                    let u = Update::new(adam.config(), &adam.scalars(t));
                    update_portable(&mut w_ref, &g, &mut m_ref, &mut v_ref, &u);
                    let done = update_f32_simd(&mut w, &g, &mut m, &mut v, &u);
                    assert_eq!(done, len.checked_div(lanes).map_or(0, |c| c * lanes));
                    update_portable(
                        &mut w[done..],
                        &g[done..],
                        &mut m[done..],
                        &mut v[done..],
                        &u,
                    );
                    let bits =
                        |x: &[f32]| x.iter().map(|f| f.to_bits()).collect::<std::vec::Vec<_>>();
                    // Bit equality alone would pass for NaN = NaN (eps = 0 with a zero
                    // gradient gave 0/0 before the update guarded it): everything is finite.
                    for (name, x) in [("w", &w_ref), ("m", &m_ref), ("v", &v_ref)] {
                        assert!(
                            x.iter().all(|f| f.is_finite()),
                            "{config:?} len {len} step {t}: {name} not finite"
                        );
                    }
                    assert_eq!(bits(&w), bits(&w_ref), "{config:?} len {len} step {t}: w");
                    assert_eq!(bits(&m), bits(&m_ref), "m");
                    assert_eq!(bits(&v), bits(&v_ref), "v");
                }
            }
        }
    }

    #[test]
    fn simd_update_takes_whole_vectors_only() {
        let lanes = simd_lanes();
        if lanes == 0 {
            return;
        }
        let adam = AdamConfig::adamw().build().unwrap();
        let u = Update::new(adam.config(), &adam.scalars(1));
        let n = 2 * lanes - 1;
        let (mut w, g) = (std::vec![1.0f32; n], std::vec![0.5f32; n]);
        let (mut m, mut v) = (std::vec![0.0f32; n], std::vec![0.0f32; n]);
        let short = lanes - 1;
        let done = update_f32_simd(
            &mut w[..short],
            &g[..short],
            &mut m[..short],
            &mut v[..short],
            &u,
        );
        assert_eq!(done, 0);
        assert!(w.iter().all(|&x| x == 1.0));
        assert_eq!(update_f32_simd(&mut w, &g, &mut m, &mut v, &u), lanes);
        assert!(w[..lanes].iter().all(|&x| x < 1.0) && w[lanes..].iter().all(|&x| x == 1.0));
    }

    #[test]
    fn adam_state_has_no_padding() {
        assert_eq!(core::mem::size_of::<AdamState<3, 3, f16>>(), 2 * 9 * 2 + 4);
        assert_eq!(core::mem::size_of::<AdamState<3, 1, bf16>>(), 2 * 3 * 2 + 4);
        assert_eq!(core::mem::size_of::<AdamState<2, 5, f32>>(), 2 * 10 * 4 + 4);
    }

    #[test]
    fn invalid_hyper_parameters_are_rejected() {
        assert!(AdamConfig::adam().with_betas(1.0, 0.999).build().is_err());
        assert!(AdamConfig::adam().with_betas(0.9, -0.1).build().is_err());
        assert!(AdamConfig::adam().with_lr(-1e-3).build().is_err());
        assert!(AdamConfig::adamw().with_eps(f32::INFINITY).build().is_err());
        assert!(AdamConfig::adamw().with_weight_decay(-1.0).build().is_err());
    }

    #[test]
    fn first_step_moves_each_weight_by_about_lr() {
        // With bias correction, step 1 moves by lr · g/|g| (up to eps).
        let adam = AdamConfig::adam().with_lr(0.1).build().unwrap();
        let mut w = [1.0f32, -2.0, 3.0];
        let g = [0.5f32, -4.0, 1e-3];
        let (mut m, mut v, mut t) = ([0.0f32; 3], [0.0f32; 3], 0);
        adam.step(
            MatMut::vector(&mut w).unwrap(),
            MatRef::vector(&g).unwrap(),
            AdamSlots {
                step: &mut t,
                m: &mut m,
                v: &mut v,
            },
        )
        .unwrap();
        assert_eq!(t, 1);
        assert!((w[0] - 0.9).abs() < 1e-5);
        assert!((w[1] + 1.9).abs() < 1e-5);
        assert!((w[2] - 2.9).abs() < 1e-4);
    }

    #[test]
    fn length_mismatch_changes_nothing() {
        let adam = AdamConfig::adamw().build().unwrap();
        let mut w = [1.0f32; 3];
        let (mut m, mut v, mut t) = ([0.0f32; 2], [0.0f32; 3], 0);
        let err = adam.step(
            MatMut::vector(&mut w).unwrap(),
            MatRef::vector(&[1.0; 3]).unwrap(),
            AdamSlots {
                step: &mut t,
                m: &mut m,
                v: &mut v,
            },
        );
        assert!(matches!(
            err,
            Err(MuonError::LengthMismatch { what: "m", .. })
        ));
        assert_eq!((t, w), (0, [1.0; 3]));
    }
}
