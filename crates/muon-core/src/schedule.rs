//! Learning-rate schedules: the learning rate for step `t`, as the closed forms of
//! `torch.optim.lr_scheduler`.
//!
//! | here | PyTorch |
//! |---|---|
//! | [`Constant`] | no scheduler; two in a [`Sequential`]: `ConstantLR` |
//! | [`Linear::new`], [`Linear::warmup`] | `LinearLR(start_factor, end_factor, total_iters)` |
//! | [`Linear::decay`] | `LinearLR(1, end_factor)`; to 0: also `PolynomialLR(power=1)` |
//! | [`Cosine`] | `CosineAnnealingLR(T_max, eta_min)` |
//! | [`Sequential`], [`LrSchedule::then`] | `SequentialLR(schedulers, milestones)` |
//!
//! # Step numbering
//! `t` is **0-based**: it is the number of optimizer steps already taken, so
//! [`LrSchedule::lr`]`(t)` is the learning rate of the optimizer step that follows them (`lr(0)`
//! drives the first step).
//! In PyTorch's terms, `t` is the scheduler's `last_epoch` after `scheduler.step()` has been
//! called `t` times, and `lr(t)` is the `param_group["lr"]` (`get_last_lr()`) that the next
//! `optimizer.step()` uses, in the usual loop:
//!
//! ```text
//! for t in range(n):       # PyTorch
//!     optimizer.step()     # uses lr(t): last_epoch == t
//!     scheduler.step()     # last_epoch becomes t + 1
//! ```
//!
//! The Adam state's step counter ([`AdamState::step`](crate::adam::AdamState::step),
//! [`AdamSlots::step`](crate::adam::AdamSlots::step)) holds exactly this `t` before a step.
//!
//! # After the end
//! Every schedule is defined for every `u32` step and, past its last step, **holds its final
//! value**: [`Linear`] stays at `base_lr · end_factor` from `total_iters` on (as `LinearLR`),
//! [`Cosine`] stays at `eta_min` from `T_max` on. The latter differs from PyTorch on purpose:
//! `CosineAnnealingLR` keeps following the cosine past `T_max`, back up to the base rate at
//! `2·T_max`, which is rarely what a run that outlives its schedule wants.
//!
//! # Numerics
//! Hyper-parameters are `f32`, as in the optimizer configs. Each schedule evaluates its closed
//! form in `f64` ([`LrSchedule::lr_f64`]; compositions stay in `f64`) and [`LrSchedule::lr`]
//! rounds once to the nearest `f32`. PyTorch computes the same values in `float64` by its
//! recursive ("chainable") forms, which differ from the closed forms by `float64` rounding
//! (≈ 1e-16 relative); the `f32` results are within one `f32` ulp of PyTorch's (tested against
//! recordings of its schedulers, `tests/schedule_reference.rs`). Every accepted schedule gives a
//! finite, non-negative learning rate at every step: a convex combination of its non-negative
//! endpoints.
//!
//! # Example: warm-up, then cosine decay, driving AdamW
//! ```
//! use muon_core::schedule::{Cosine, Linear, LrSchedule};
//! use muon_core::{AdamConfig, AdamState, Matrix};
//!
//! let (peak, warmup, total) = (1e-3, 10, 100);
//! // LinearLR(start_factor=0.01, total_iters=10), then CosineAnnealingLR(T_max=90): SequentialLR
//! // with milestones=[10].
//! let schedule =
//!     Linear::warmup(peak, 0.01, warmup)?.then(warmup, Cosine::new(peak, total - warmup)?);
//!
//! let mut adam = AdamConfig::adamw().build()?;
//! let mut weight = Matrix::<2, 3>::from_fn(|r, c| (r + c) as f32);
//! let mut state = AdamState::<2, 3>::new();
//! for _ in 0..total {
//!     let grad = weight; // the gradient of ½‖w‖²
//!     // `state.step` is the number of steps taken so far: the schedule's `t`.
//!     adam.set_lr(schedule.lr(state.step))?; // validates one number, rebuilds nothing
//!     adam.step_fixed(&mut weight, &grad, &mut state)?;
//! }
//! assert!((schedule.lr(0) - 1e-5).abs() < 1e-11); // peak · start_factor
//! assert_eq!(schedule.lr(warmup), 1e-3); // the cosine's first step: the peak
//! assert_eq!(schedule.lr(total), 0.0); // the cosine's end, held from here on
//! assert_eq!(schedule.lr(u32::MAX), 0.0);
//! # Ok::<(), muon_core::MuonError>(())
//! ```

use crate::{MuonError, math, validate};

/// A learning rate for every optimizer step.
///
/// Implementors give [`lr_f64`](Self::lr_f64); [`lr`](Self::lr) rounds it to `f32`. `step` is
/// 0-based (the number of optimizer steps already taken; the [module docs](self) map it onto
/// PyTorch's `last_epoch`). Implementations must return a finite, non-negative value for every
/// `step`.
pub trait LrSchedule {
    /// The learning rate of the step taken after `step` steps, in `f64` (for composing
    /// schedules without double rounding).
    fn lr_f64(&self, step: u32) -> f64;

    /// The learning rate of the step taken after `step` steps: [`lr_f64`](Self::lr_f64)
    /// rounded to the nearest `f32`.
    fn lr(&self, step: u32) -> f32 {
        self.lr_f64(step) as f32
    }

    /// This schedule for steps `0..milestone`, then `next` from its own step 0 on: see
    /// [`Sequential`].
    fn then<S: LrSchedule>(self, milestone: u32, next: S) -> Sequential<Self, S>
    where
        Self: Sized,
    {
        Sequential::new(self, milestone, next)
    }
}

impl<S: LrSchedule + ?Sized> LrSchedule for &S {
    fn lr_f64(&self, step: u32) -> f64 {
        (**self).lr_f64(step)
    }
}

/// The same learning rate at every step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constant {
    lr: f32,
}

impl Constant {
    /// A constant learning rate `lr`.
    ///
    /// # Errors
    /// [`MuonError::InvalidHyperParameter`] `lr` unless it is finite and `≥ 0`.
    pub fn new(lr: f32) -> Result<Self, MuonError> {
        validate::non_negative("lr", lr)?;
        Ok(Self { lr })
    }

    /// The learning rate.
    #[must_use]
    pub fn value(&self) -> f32 {
        self.lr
    }
}

impl LrSchedule for Constant {
    fn lr_f64(&self, _step: u32) -> f64 {
        f64::from(self.lr)
    }
}

/// A linear ramp of the factor on `base_lr`, as `torch.optim.lr_scheduler.LinearLR`:
///
/// `lr(t) = base_lr · (start + (end − start) · min(t, total_iters) / total_iters)`, `start` and
/// `end` the start and end factors.
///
/// A warm-up has `start_factor < end_factor = 1` ([`Linear::warmup`]), a linear decay
/// `start_factor = 1 > end_factor` ([`Linear::decay`]; with `end_factor = 0` it is also
/// `PolynomialLR(power=1)`). The factor reaches `end_factor` at `t = total_iters` and holds it
/// after.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Linear {
    base_lr: f32,
    start_factor: f32,
    end_factor: f32,
    total_iters: u32,
}

impl Linear {
    /// From `base_lr · start_factor` at step 0 to `base_lr · end_factor` at step `total_iters`.
    ///
    /// # Errors
    /// [`MuonError::InvalidHyperParameter`] naming the argument: `base_lr` not finite or `< 0`;
    /// `start_factor` or `end_factor` outside `[0, 1]` (as PyTorch, except that a start factor
    /// of 0 is accepted: PyTorch rejects it only because its recursive form divides by it);
    /// `total_iters` 0.
    pub fn new(
        base_lr: f32,
        start_factor: f32,
        end_factor: f32,
        total_iters: u32,
    ) -> Result<Self, MuonError> {
        validate::non_negative("base_lr", base_lr)?;
        validate::factor("start_factor", start_factor)?;
        validate::factor("end_factor", end_factor)?;
        validate::at_least_one("total_iters", total_iters)?;
        Ok(Self {
            base_lr,
            start_factor,
            end_factor,
            total_iters,
        })
    }

    /// A warm-up from `base_lr · start_factor` to `base_lr` over `total_iters` steps:
    /// `LinearLR(start_factor=start_factor, end_factor=1, total_iters=total_iters)`.
    ///
    /// # Errors
    /// As [`Linear::new`].
    pub fn warmup(base_lr: f32, start_factor: f32, total_iters: u32) -> Result<Self, MuonError> {
        Self::new(base_lr, start_factor, 1.0, total_iters)
    }

    /// A decay from `base_lr` to `base_lr · end_factor` over `total_iters` steps:
    /// `LinearLR(start_factor=1, end_factor=end_factor, total_iters=total_iters)`.
    ///
    /// # Errors
    /// As [`Linear::new`].
    pub fn decay(base_lr: f32, end_factor: f32, total_iters: u32) -> Result<Self, MuonError> {
        Self::new(base_lr, 1.0, end_factor, total_iters)
    }

    /// The learning rate the factors multiply.
    #[must_use]
    pub fn base_lr(&self) -> f32 {
        self.base_lr
    }

    /// The factor at step 0.
    #[must_use]
    pub fn start_factor(&self) -> f32 {
        self.start_factor
    }

    /// The factor from step `total_iters` on.
    #[must_use]
    pub fn end_factor(&self) -> f32 {
        self.end_factor
    }

    /// The step at which the factor reaches `end_factor`.
    #[must_use]
    pub fn total_iters(&self) -> u32 {
        self.total_iters
    }
}

impl LrSchedule for Linear {
    fn lr_f64(&self, step: u32) -> f64 {
        let (s, e) = (f64::from(self.start_factor), f64::from(self.end_factor));
        let total = f64::from(self.total_iters);
        let t = f64::from(step.min(self.total_iters));
        // PyTorch's `_get_closed_form_lr`, operation for operation.
        f64::from(self.base_lr) * (s + (e - s) * t / total)
    }
}

/// Cosine annealing from `base_lr` to `eta_min` over `t_max` steps, as
/// `torch.optim.lr_scheduler.CosineAnnealingLR`:
///
/// `lr(t) = eta_min + (base_lr − eta_min) · (1 + cos(π·t / t_max)) / 2` for `t ≤ t_max`,
/// and `eta_min` after (PyTorch would climb back up; see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cosine {
    base_lr: f32,
    eta_min: f32,
    t_max: u32,
}

impl Cosine {
    /// From `base_lr` at step 0 to 0 at step `t_max`; [`with_eta_min`](Self::with_eta_min)
    /// sets another floor.
    ///
    /// # Errors
    /// [`MuonError::InvalidHyperParameter`] `base_lr` unless finite and `≥ 0`; `T_max` if
    /// `t_max` is 0.
    pub fn new(base_lr: f32, t_max: u32) -> Result<Self, MuonError> {
        validate::non_negative("base_lr", base_lr)?;
        validate::at_least_one("T_max", t_max)?;
        Ok(Self {
            base_lr,
            eta_min: 0.0,
            t_max,
        })
    }

    /// The learning rate at step `t_max` and after (PyTorch's `eta_min`, default 0). It may
    /// exceed `base_lr` (the schedule then rises), as in PyTorch.
    ///
    /// # Errors
    /// [`MuonError::InvalidHyperParameter`] `eta_min` unless finite and `≥ 0`.
    pub fn with_eta_min(mut self, eta_min: f32) -> Result<Self, MuonError> {
        validate::non_negative("eta_min", eta_min)?;
        self.eta_min = eta_min;
        Ok(self)
    }

    /// The learning rate at step 0.
    #[must_use]
    pub fn base_lr(&self) -> f32 {
        self.base_lr
    }

    /// The learning rate from step `t_max` on.
    #[must_use]
    pub fn eta_min(&self) -> f32 {
        self.eta_min
    }

    /// The length of the decay in steps.
    #[must_use]
    pub fn t_max(&self) -> u32 {
        self.t_max
    }
}

impl LrSchedule for Cosine {
    fn lr_f64(&self, step: u32) -> f64 {
        let eta_min = f64::from(self.eta_min);
        if step >= self.t_max {
            return eta_min;
        }
        let phase = core::f64::consts::PI * f64::from(step) / f64::from(self.t_max);
        // PyTorch's `_get_closed_form_lr`, operation for operation.
        eta_min + (f64::from(self.base_lr) - eta_min) * (1.0 + math::cos(phase)) / 2.0
    }
}

/// `first` for steps `0..milestone`, then `second` counted from its own step 0: step
/// `t ≥ milestone` gets `second.lr(t − milestone)`. This is `SequentialLR` with one milestone;
/// nest it for more (`a.then(m1, b).then(m2, c)` is `SequentialLR([a, b, c], [m1, m2])`).
///
/// PyTorch's sub-schedulers all start from the optimizer's initial lr; give each part here the
/// same `base_lr` to reproduce them. Construction cannot fail: both parts are valid schedules
/// and every milestone is meaningful (0 skips `first`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sequential<A, B> {
    first: A,
    milestone: u32,
    second: B,
}

impl<A: LrSchedule, B: LrSchedule> Sequential<A, B> {
    /// `first` before `milestone`, `second` from it on.
    #[must_use]
    pub fn new(first: A, milestone: u32, second: B) -> Self {
        Self {
            first,
            milestone,
            second,
        }
    }

    /// The schedule of steps `0..milestone`.
    #[must_use]
    pub fn first(&self) -> &A {
        &self.first
    }

    /// The step at which `second` takes over (its step 0).
    #[must_use]
    pub fn milestone(&self) -> u32 {
        self.milestone
    }

    /// The schedule from `milestone` on.
    #[must_use]
    pub fn second(&self) -> &B {
        &self.second
    }
}

impl<A: LrSchedule, B: LrSchedule> LrSchedule for Sequential<A, B> {
    fn lr_f64(&self, step: u32) -> f64 {
        if step < self.milestone {
            self.first.lr_f64(step)
        } else {
            self.second.lr_f64(step - self.milestone)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(name: &'static str, reason: &'static str) -> MuonError {
        MuonError::InvalidHyperParameter { name, reason }
    }

    /// Hand-derived values at the boundaries, with hyper-parameters exact in binary so every
    /// expected value is exact.
    #[test]
    fn linear_boundaries() -> Result<(), MuonError> {
        // 0.5 · (0.25 + 0.75·t/4): 0.125, 0.21875, 0.3125, 0.40625, 0.5, then held.
        let warm = Linear::warmup(0.5, 0.25, 4)?;
        let expect = [0.125, 0.21875, 0.3125, 0.40625, 0.5, 0.5, 0.5];
        for (t, e) in expect.iter().enumerate() {
            assert_eq!(warm.lr(t as u32), *e, "t = {t}");
        }
        assert_eq!(warm.lr(u32::MAX), 0.5);
        // 2 · (1 − 0.75·t/2): 2, 1.25, 0.5 at total_iters, then held at 2 · 0.25.
        let decay = Linear::decay(2.0, 0.25, 2)?;
        assert_eq!(
            [decay.lr(0), decay.lr(1), decay.lr(2), decay.lr(3)],
            [2.0, 1.25, 0.5, 0.5]
        );
        assert_eq!(decay.lr(u32::MAX), 0.5);
        // To zero, and from zero (a start factor PyTorch rejects).
        let to_zero = Linear::decay(1.0, 0.0, 8)?;
        assert_eq!(
            [to_zero.lr(4), to_zero.lr(8), to_zero.lr(9)],
            [0.5, 0.0, 0.0]
        );
        let from_zero = Linear::warmup(1.0, 0.0, 8)?;
        assert_eq!(
            [from_zero.lr(0), from_zero.lr(2), from_zero.lr(8)],
            [0.0, 0.25, 1.0]
        );
        Ok(())
    }

    #[test]
    fn cosine_boundaries() -> Result<(), MuonError> {
        // 0.25 + 0.75 · (1 + cos(π·t/4)) / 2: 1 at 0, 0.625 at the midpoint, 0.25 at T_max.
        let c = Cosine::new(1.0, 4)?.with_eta_min(0.25)?;
        assert_eq!(c.lr(0), 1.0);
        assert_eq!(c.lr(2), 0.625);
        assert_eq!(c.lr(4), 0.25);
        // cos(π/4) = √2/2: 0.25 + 0.375 · (1 + √2/2).
        let quarter = 0.25 + 0.375 * (1.0 + core::f64::consts::FRAC_1_SQRT_2);
        assert_eq!(c.lr(1), quarter as f32);
        assert!(c.lr(1) > c.lr(2) && c.lr(2) > c.lr(3) && c.lr(3) > c.lr(4));
        // Held past T_max (PyTorch would climb back to 1 at 2·T_max).
        for t in [5, 8, 1000, u32::MAX] {
            assert_eq!(c.lr(t), 0.25, "t = {t}");
        }
        // Default floor 0; eta_min above base_lr rises instead.
        let c0 = Cosine::new(2.0, 2)?;
        assert_eq!(
            [c0.lr(0), c0.lr(1), c0.lr(2), c0.lr(3)],
            [2.0, 1.0, 0.0, 0.0]
        );
        let up = Cosine::new(0.0, 2)?.with_eta_min(1.0)?;
        assert_eq!([up.lr(0), up.lr(1), up.lr(2)], [0.0, 0.5, 1.0]);
        Ok(())
    }

    #[test]
    fn sequential_switches_at_the_milestone_and_restarts_the_second_count() -> Result<(), MuonError>
    {
        // Warm-up 0.5 → 1 over 2 steps, then cosine 1 → 0 over 4.
        let s = Linear::warmup(1.0, 0.5, 2)?.then(2, Cosine::new(1.0, 4)?);
        let expect = [0.5, 0.75, 1.0, 0.853_553_4, 0.5, 0.146_446_6, 0.0, 0.0];
        for (t, e) in expect.iter().enumerate() {
            assert!(
                (s.lr(t as u32) - e).abs() <= 1e-7,
                "t = {t}: {}",
                s.lr(t as u32)
            );
        }
        assert_eq!(s.lr(2), 1.0);
        assert_eq!(s.lr(6), 0.0);
        assert_eq!(s.lr(u32::MAX), 0.0);
        assert_eq!(s.milestone(), 2);
        // The switch uses the second schedule, even where the first had not finished.
        let early = Linear::warmup(1.0, 0.5, 10)?.then(1, Constant::new(0.125)?);
        assert_eq!([early.lr(0), early.lr(1), early.lr(9)], [0.5, 0.125, 0.125]);
        // Milestone 0: the second schedule from the start.
        let skip = Constant::new(1.0)?.then(0, Constant::new(0.25)?);
        assert_eq!(skip.lr(0), 0.25);
        // Three stages, the second milestone counted from step 0 (SequentialLR's milestones).
        let three = Constant::new(0.25)?
            .then(2, Constant::new(0.5)?)
            .then(4, Linear::decay(1.0, 0.0, 4)?);
        let got: [f32; 9] = core::array::from_fn(|t| three.lr(t as u32));
        assert_eq!(got, [0.25, 0.25, 0.5, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0]);
        Ok(())
    }

    #[test]
    fn constant_and_references_and_trait_objects() -> Result<(), MuonError> {
        let c = Constant::new(0.02)?;
        assert_eq!([c.lr(0), c.lr(u32::MAX)], [0.02, 0.02]);
        assert_eq!(c.value(), 0.02);
        let by_ref: &dyn LrSchedule = &c;
        assert_eq!(by_ref.lr(7), 0.02);
        let seq = by_ref.then(1, &c);
        assert_eq!(seq.lr(3), 0.02);
        Ok(())
    }

    #[test]
    fn accessors_return_the_constructor_arguments() -> Result<(), MuonError> {
        let l = Linear::new(0.5, 0.25, 0.75, 7)?;
        assert_eq!(
            (
                l.base_lr(),
                l.start_factor(),
                l.end_factor(),
                l.total_iters()
            ),
            (0.5, 0.25, 0.75, 7)
        );
        let c = Cosine::new(0.5, 9)?.with_eta_min(0.125)?;
        assert_eq!((c.base_lr(), c.eta_min(), c.t_max()), (0.5, 0.125, 9));
        assert_eq!(Cosine::new(0.5, 9)?.eta_min(), 0.0);
        let s = Sequential::new(l, 3, c);
        assert_eq!((*s.first(), s.milestone(), *s.second()), (l, 3, c));
        Ok(())
    }

    #[test]
    fn invalid_arguments_are_named() {
        let nonneg = "must be finite and >= 0";
        for bad in [-1e-3, f32::NAN, f32::INFINITY] {
            assert_eq!(Constant::new(bad), Err(invalid("lr", nonneg)));
            assert_eq!(Linear::warmup(bad, 0.1, 5), Err(invalid("base_lr", nonneg)));
            assert_eq!(Cosine::new(bad, 5), Err(invalid("base_lr", nonneg)));
            assert_eq!(
                Cosine::new(1.0, 5).and_then(|c| c.with_eta_min(bad)),
                Err(invalid("eta_min", nonneg))
            );
        }
        let unit = "must be in [0, 1]";
        for bad in [-0.1, 1.5, f32::NAN, f32::INFINITY] {
            assert_eq!(
                Linear::warmup(1.0, bad, 5),
                Err(invalid("start_factor", unit))
            );
            assert_eq!(Linear::decay(1.0, bad, 5), Err(invalid("end_factor", unit)));
        }
        let steps = "must be >= 1";
        assert_eq!(
            Linear::new(1.0, 0.5, 1.0, 0),
            Err(invalid("total_iters", steps))
        );
        assert_eq!(Cosine::new(1.0, 0), Err(invalid("T_max", steps)));
        // The edges are accepted.
        assert!(Linear::new(0.0, 0.0, 1.0, 1).is_ok());
        assert!(Linear::new(f32::MAX, 1.0, 0.0, u32::MAX).is_ok());
        assert!(Cosine::new(f32::MAX, u32::MAX).is_ok());
    }

    /// Extreme accepted inputs still give finite, non-negative rates (f64 has the headroom).
    #[test]
    fn extremes_stay_finite_and_non_negative() -> Result<(), MuonError> {
        let huge = Cosine::new(f32::MAX, u32::MAX)?.with_eta_min(f32::MAX)?;
        let long = Linear::new(f32::MAX, 0.0, 1.0, u32::MAX)?;
        let tiny = Cosine::new(f32::MIN_POSITIVE, 3)?;
        for t in [0, 1, 2, 3, u32::MAX / 2, u32::MAX - 1, u32::MAX] {
            for lr in [huge.lr(t), long.lr(t), tiny.lr(t)] {
                assert!(lr.is_finite() && lr >= 0.0, "t = {t}: {lr}");
            }
        }
        assert_eq!(huge.lr(123), f32::MAX);
        Ok(())
    }
}
