//! [`Optimizer`]: one shape for Muon, Adam/AdamW and SGD, so training code is written once.
//!
//! Each optimizer is an immutable, validated value (its hyper-parameters) plus per-parameter
//! state the caller owns, in one of two forms:
//!
//! | optimizer | fixed size (`Pod`, no heap) | slice view (caller memory)   |
//! |-----------|-----------------------------|------------------------------|
//! | [`Muon`]  | [`MuonState<R, C>`]         | [`MuonSlots`]                |
//! | [`Adam`]  | [`AdamState<R, C>`]         | [`AdamSlots`]                |
//! | [`Sgd`]   | [`SgdState<R, C>`]          | [`SgdSlots`]                 |
//!
//! Every step has the same shape and the same error rules: `param` and `grad` are matrices of
//! one shape (a vector is `1 × n`, [`MatMut::vector`]); on any error the parameter and the
//! state are left bit for bit as they were. [`Optimizer::set_lr`] changes the learning rate
//! between steps (for schedules) at the cost of re-validating one number.
//!
//! Generic code that owns its state as one flat buffer per parameter sizes it with
//! [`Optimizer::state_len`] and views it with [`Optimizer::slots`]:
//!
//! ```
//! use muon_core::{MatMut, MatRef, MuonError, Optimizer};
//! use muon_core::{adam::AdamConfig, muon::MuonConfig, sgd::SgdConfig};
//!
//! /// Ten steps of any optimizer on a 4 × 3 parameter with a constant gradient.
//! fn train<O: Optimizer>(opt: &mut O) -> Result<Vec<f32>, MuonError> {
//!     let (rows, cols) = (4, 3);
//!     let mut w = vec![0.5f32; rows * cols];
//!     let g: Vec<f32> = (0..rows * cols).map(|i| i as f32 - 5.0).collect();
//!     let mut state = vec![0.0f32; O::state_len(rows, cols)?];
//!     for t in 0..10 {
//!         opt.set_lr(0.01 / (1.0 + t as f32))?; // any schedule
//!         let slots = O::slots(&mut state, rows, cols)?;
//!         opt.step(MatMut::new(rows, cols, &mut w)?, MatRef::new(rows, cols, &g)?, slots)?;
//!     }
//!     Ok(w)
//! }
//!
//! let muon = train(&mut MuonConfig::new().build()?)?;
//! let adamw = train(&mut AdamConfig::adamw().build()?)?;
//! let sgd = train(&mut SgdConfig::new().with_momentum(0.9).build()?)?;
//! assert!(muon != adamw && adamw != sgd);
//! # Ok::<(), MuonError>(())
//! ```

use crate::adam::{Adam, AdamSlots, AdamState};
use crate::muon::{Muon, MuonSlots, MuonState};
use crate::sgd::{Sgd, SgdSlots, SgdState};
use crate::{MatMut, MatRef, Matrix, MuonError, validate};

/// An optimizer: a validated set of hyper-parameters that steps one parameter at a time with
/// state the caller owns. Implemented by [`Muon`], [`Adam`] (with `f32` moments; the 16-bit
/// moment formats are [`Adam::step`]'s type parameter) and [`Sgd`].
pub trait Optimizer {
    /// One parameter's state in caller memory (the slice form).
    type Slots<'a>;
    /// One `R × C` parameter's state, fixed size, no heap; `Pod`, so it saves and restores
    /// bytewise.
    type State<const R: usize, const C: usize>: Copy + Default + bytemuck::Pod;

    /// The learning rate the next step applies.
    fn lr(&self) -> f32;

    /// Changes the learning rate (validated as the config's `build` validates it).
    ///
    /// # Errors
    /// [`MuonError::InvalidHyperParameter`]; then nothing changes.
    fn set_lr(&mut self, lr: f32) -> Result<(), MuonError>;

    /// `f32` words of state (scratch included) a `rows × cols` parameter needs in the slice
    /// form: the length of the buffer [`Optimizer::slots`] views. Zero it before the first
    /// step.
    ///
    /// # Errors
    /// [`MuonError::EmptyMatrix`] or [`MuonError::SizeOverflow`].
    fn state_len(rows: usize, cols: usize) -> Result<usize, MuonError>;

    /// Views `buf` (exactly [`Optimizer::state_len`] words) as the state of a `rows × cols`
    /// parameter.
    ///
    /// # Errors
    /// [`MuonError::LengthMismatch`] if `buf` has another length; as [`Optimizer::state_len`].
    fn slots(buf: &mut [f32], rows: usize, cols: usize) -> Result<Self::Slots<'_>, MuonError>;

    /// One step of `param` from `grad` (same shape).
    ///
    /// # Errors
    /// The optimizer's own step errors; on any error `param` and `state` are untouched.
    fn step(
        &self,
        param: MatMut<'_>,
        grad: MatRef<'_>,
        state: Self::Slots<'_>,
    ) -> Result<(), MuonError>;

    /// One step of a fixed-size parameter.
    ///
    /// # Errors
    /// [`MuonError::NonFiniteGradient`]; then `param` and `state` are untouched.
    fn step_fixed<const R: usize, const C: usize>(
        &self,
        param: &mut Matrix<R, C>,
        grad: &Matrix<R, C>,
        state: &mut Self::State<R, C>,
    ) -> Result<(), MuonError>;
}

/// `rows · cols · per + extra` words, or the error a bad shape earns.
fn words(rows: usize, cols: usize, per: usize, extra: usize) -> Result<usize, MuonError> {
    if rows == 0 || cols == 0 {
        return Err(MuonError::EmptyMatrix);
    }
    rows.checked_mul(cols)
        .and_then(|n| n.checked_mul(per))
        .and_then(|n| n.checked_add(extra))
        .ok_or(MuonError::SizeOverflow)
}

/// `buf` checked to be `Optimizer::state_len` long, and the parameter's element count.
fn checked_buf<O: Optimizer>(buf: &[f32], rows: usize, cols: usize) -> Result<usize, MuonError> {
    validate::length("state", O::state_len(rows, cols)?, buf.len())?;
    Ok(rows * cols)
}

impl Optimizer for Muon {
    type Slots<'a> = MuonSlots<'a>;
    type State<const R: usize, const C: usize> = MuonState<R, C>;

    fn lr(&self) -> f32 {
        self.config().lr
    }

    fn set_lr(&mut self, lr: f32) -> Result<(), MuonError> {
        Muon::set_lr(self, lr)
    }

    /// Momentum (`rows·cols`) then scratch ([`Muon::scratch_len`]).
    fn state_len(rows: usize, cols: usize) -> Result<usize, MuonError> {
        let n = words(rows, cols, 1, 0)?;
        n.checked_add(Muon::scratch_len(rows, cols))
            .ok_or(MuonError::SizeOverflow)
    }

    fn slots(buf: &mut [f32], rows: usize, cols: usize) -> Result<MuonSlots<'_>, MuonError> {
        let n = checked_buf::<Self>(buf, rows, cols)?;
        let (momentum, scratch) = buf.split_at_mut(n);
        Ok(MuonSlots { momentum, scratch })
    }

    fn step(
        &self,
        param: MatMut<'_>,
        grad: MatRef<'_>,
        state: MuonSlots<'_>,
    ) -> Result<(), MuonError> {
        Muon::step(self, param, grad, state)
    }

    fn step_fixed<const R: usize, const C: usize>(
        &self,
        param: &mut Matrix<R, C>,
        grad: &Matrix<R, C>,
        state: &mut MuonState<R, C>,
    ) -> Result<(), MuonError> {
        Muon::step_fixed(self, param, grad, state)
    }
}

impl Optimizer for Adam {
    type Slots<'a> = AdamSlots<'a, f32>;
    type State<const R: usize, const C: usize> = AdamState<R, C, f32>;

    fn lr(&self) -> f32 {
        self.config().lr
    }

    fn set_lr(&mut self, lr: f32) -> Result<(), MuonError> {
        Adam::set_lr(self, lr)
    }

    /// `m` (`rows·cols`), `v` (`rows·cols`), then the step count (one word, a `u32`'s bits).
    fn state_len(rows: usize, cols: usize) -> Result<usize, MuonError> {
        words(rows, cols, 2, 1)
    }

    fn slots(buf: &mut [f32], rows: usize, cols: usize) -> Result<AdamSlots<'_, f32>, MuonError> {
        let n = checked_buf::<Self>(buf, rows, cols)?;
        let (m, rest) = buf.split_at_mut(n);
        let (v, step) = rest.split_at_mut(n);
        Ok(AdamSlots {
            step: bytemuck::cast_mut(&mut step[0]),
            m,
            v,
        })
    }

    fn step(
        &self,
        param: MatMut<'_>,
        grad: MatRef<'_>,
        state: AdamSlots<'_, f32>,
    ) -> Result<(), MuonError> {
        Adam::step(self, param, grad, state)
    }

    fn step_fixed<const R: usize, const C: usize>(
        &self,
        param: &mut Matrix<R, C>,
        grad: &Matrix<R, C>,
        state: &mut AdamState<R, C, f32>,
    ) -> Result<(), MuonError> {
        Adam::step_fixed(self, param, grad, state)
    }
}

impl Optimizer for Sgd {
    type Slots<'a> = SgdSlots<'a>;
    type State<const R: usize, const C: usize> = SgdState<R, C>;

    fn lr(&self) -> f32 {
        self.config().lr
    }

    fn set_lr(&mut self, lr: f32) -> Result<(), MuonError> {
        Sgd::set_lr(self, lr)
    }

    /// Momentum (`rows·cols`), then the step count (one word, a `u32`'s bits).
    fn state_len(rows: usize, cols: usize) -> Result<usize, MuonError> {
        words(rows, cols, 1, 1)
    }

    fn slots(buf: &mut [f32], rows: usize, cols: usize) -> Result<SgdSlots<'_>, MuonError> {
        let n = checked_buf::<Self>(buf, rows, cols)?;
        let (momentum, step) = buf.split_at_mut(n);
        Ok(SgdSlots {
            momentum,
            step: bytemuck::cast_mut(&mut step[0]),
        })
    }

    fn step(
        &self,
        param: MatMut<'_>,
        grad: MatRef<'_>,
        state: SgdSlots<'_>,
    ) -> Result<(), MuonError> {
        Sgd::step(self, param, grad, state)
    }

    fn step_fixed<const R: usize, const C: usize>(
        &self,
        param: &mut Matrix<R, C>,
        grad: &Matrix<R, C>,
        state: &mut SgdState<R, C>,
    ) -> Result<(), MuonError> {
        Sgd::step_fixed(self, param, grad, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adam::AdamConfig;
    use crate::muon::MuonConfig;
    use crate::sgd::SgdConfig;
    use std::vec;

    const R: usize = 3;
    const C: usize = 5;

    fn grad(t: usize) -> Matrix<R, C> {
        Matrix::from_fn(|r, c| ((r * C + c + 7 * t) % 11) as f32 * 0.25 - 1.2)
    }

    /// Five steps through the slice form (one flat buffer, [`Optimizer::slots`]) and the
    /// fixed form, the learning rate changed before each by `set_lr`; the fixed form's
    /// optimizer is rebuilt from a config with that learning rate instead. Bit for bit equal.
    /// `same_layout`: the flat buffer is the fixed state's words (Adam, SGD); Muon's scratch
    /// differs in length, so only its momentum is compared.
    fn slice_fixed_and_rebuilt_agree<O: Optimizer + Copy>(
        opt: O,
        rebuild: impl Fn(f32) -> O,
        same_layout: bool,
    ) {
        let mut scheduled = opt;
        let mut w_slice = Matrix::<R, C>::from_fn(|r, c| (r as f32 - c as f32) * 0.1);
        let mut w_fixed = w_slice;
        let mut buf = vec![0.0f32; O::state_len(R, C).unwrap()];
        let mut state = O::State::<R, C>::default();
        for t in 0..5 {
            let lr = 0.05 / (1.0 + t as f32);
            scheduled.set_lr(lr).unwrap();
            assert_eq!(scheduled.lr(), lr);
            let g = grad(t);
            let slots = O::slots(&mut buf, R, C).unwrap();
            scheduled.step(w_slice.as_mut(), g.as_ref(), slots).unwrap();
            rebuild(lr)
                .step_fixed(&mut w_fixed, &g, &mut state)
                .unwrap();
        }
        assert_eq!(w_slice, w_fixed);
        assert_ne!(w_slice, Matrix::from_fn(|r, c| (r as f32 - c as f32) * 0.1));
        let words: &[f32] = bytemuck::cast_slice(core::slice::from_ref(&state));
        if same_layout {
            assert_eq!(buf.as_slice(), words);
        } else {
            assert_eq!(buf[..R * C], words[..R * C]);
        }
    }

    #[test]
    fn every_optimizer_steps_alike_in_both_forms_with_a_changing_lr() {
        let muon = MuonConfig::new().with_weight_decay(0.1);
        slice_fixed_and_rebuilt_agree(
            muon.build().unwrap(),
            |lr| muon.with_lr(lr).build().unwrap(),
            false,
        );
        let adamw = AdamConfig::adamw();
        slice_fixed_and_rebuilt_agree(
            adamw.build().unwrap(),
            |lr| adamw.with_lr(lr).build().unwrap(),
            true,
        );
        let sgd = SgdConfig::new().with_momentum(0.9).with_weight_decay(0.01);
        slice_fixed_and_rebuilt_agree(
            sgd.build().unwrap(),
            |lr| sgd.with_lr(lr).build().unwrap(),
            true,
        );
    }

    #[test]
    fn set_lr_is_validated_and_an_error_changes_nothing() {
        let mut muon = MuonConfig::new().build().unwrap();
        let before = muon;
        assert!(matches!(
            Optimizer::set_lr(&mut muon, -1.0),
            Err(MuonError::InvalidHyperParameter { name: "lr", .. })
        ));
        assert!(Optimizer::set_lr(&mut muon, f32::NAN).is_err());
        assert_eq!(muon, before);
        let mut adam = AdamConfig::adam().build().unwrap();
        assert!(Optimizer::set_lr(&mut adam, f32::INFINITY).is_err());
        assert_eq!(Optimizer::lr(&adam), 1e-3);
        let mut sgd = SgdConfig::new().build().unwrap();
        assert!(Optimizer::set_lr(&mut sgd, -0.5).is_err());
        assert_eq!(Optimizer::lr(&sgd), 1e-3);
    }

    #[test]
    fn state_sizes_and_views_are_checked() {
        assert_eq!(<Adam as Optimizer>::state_len(3, 4), Ok(25));
        assert_eq!(<Sgd as Optimizer>::state_len(3, 4), Ok(13));
        assert_eq!(
            <Muon as Optimizer>::state_len(3, 4),
            Ok(12 + Muon::scratch_len(3, 4))
        );
        assert_eq!(
            <Sgd as Optimizer>::state_len(0, 4),
            Err(MuonError::EmptyMatrix)
        );
        assert_eq!(
            <Adam as Optimizer>::state_len(usize::MAX / 2, 2),
            Err(MuonError::SizeOverflow)
        );
        assert_eq!(
            <Adam as Optimizer>::state_len(1, usize::MAX / 2 + 1),
            Err(MuonError::SizeOverflow)
        );
        let mut buf = [0.0f32; 24];
        assert!(matches!(
            <Adam as Optimizer>::slots(&mut buf, 3, 4),
            Err(MuonError::LengthMismatch {
                what: "state",
                expected: 25,
                found: 24
            })
        ));
        let mut buf = [0.0f32; 25];
        buf[24] = f32::from_bits(7);
        let slots = <Adam as Optimizer>::slots(&mut buf, 3, 4).unwrap();
        assert_eq!((*slots.step, slots.m.len(), slots.v.len()), (7, 12, 12));
    }
}
