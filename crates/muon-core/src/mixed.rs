//! [`MixedOptimizer`]: Muon for the matrices of a model and AdamW for the rest, over a fixed
//! number of parameters of different shapes, stepped by one call, without a heap.
//!
//! This is the split of Keller Jordan's `MuonWithAuxAdam` and of muon-gpu's `GpuOptimizer`:
//! hidden-layer weights (at least 2 rows and 2 columns) go to Muon; vectors (biases, norm gains)
//! go to AdamW, and so do the matrices the caller marks (embeddings, the output head).
//!
//! Nothing is allocated. The optimizer holds at most `N` parameter slots (a
//! [`heapless::Vec`]); each slot's state (Muon's momentum, AdamW's two moments) is a slice of
//! the caller's memory, handed over at [`MixedOptimizer::add`], and all Muon parameters share
//! one scratch buffer, sized for the largest of them. A step is [`Muon::step`] or
//! [`Adam::step`] on each parameter in registration order: the results are bit-identical to
//! stepping each parameter on its own with the same optimizer.
//!
//! On a microcontroller the caller can put the states and the scratch in `static`s or on the
//! stack; the sizes are constants ([`MixedOptimizer::state_len`], [`Muon::scratch_len`]).

use heapless::Vec;

use crate::adam::{Adam, AdamSlots};
use crate::muon::{Muon, MuonSlots};
use crate::{MatMut, MatRef, MuonError, validate};

/// Which optimizer a parameter goes to: here and in muon-gpu's `GpuOptimizer` (which
/// re-exports this type), one routing rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ParamRole {
    /// Muon if the parameter has at least 2 rows and 2 columns, else AdamW.
    #[default]
    Auto,
    /// Muon, whatever the shape.
    Muon,
    /// AdamW: for vectors, and for the matrices Muon should not update (embeddings, the output
    /// head).
    AdamW,
}

impl ParamRole {
    /// The optimizer a `rows × cols` parameter with this role goes to: [`ParamRole::Muon`] or
    /// [`ParamRole::AdamW`], never [`ParamRole::Auto`].
    #[must_use]
    pub const fn resolve(self, rows: usize, cols: usize) -> Self {
        match self {
            Self::Auto => {
                if rows >= 2 && cols >= 2 {
                    Self::Muon
                } else {
                    Self::AdamW
                }
            }
            other => other,
        }
    }
}

/// A read-only view of one parameter's optimizer state ([`MixedOptimizer::state`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SlotState<'a> {
    /// A Muon parameter: its momentum buffer (`rows·cols`, row-major).
    Muon {
        /// The momentum buffer.
        momentum: &'a [f32],
    },
    /// An AdamW parameter: steps taken so far and the two moments (`rows·cols` each).
    AdamW {
        /// Steps taken so far (the bias corrections depend on it).
        step: u32,
        /// First moment.
        m: &'a [f32],
        /// Second moment.
        v: &'a [f32],
    },
}

/// One registered parameter: its shape and its state in the caller's memory.
#[derive(Debug)]
struct Slot<'s> {
    rows: usize,
    cols: usize,
    state: SlotMemory<'s>,
}

/// A slot's state, borrowed from the caller.
#[derive(Debug)]
enum SlotMemory<'s> {
    Muon {
        momentum: &'s mut [f32],
    },
    AdamW {
        step: u32,
        m: &'s mut [f32],
        v: &'s mut [f32],
    },
}

/// Muon and AdamW over up to `N` parameters of different shapes, stepped together; `no_std`
/// and allocation-free.
///
/// Register each parameter once with [`add`](Self::add) (its shape, its [`ParamRole`] and the
/// memory for its state), then call [`step`](Self::step) once per training step with every
/// parameter and gradient, in registration order. The learning rates can change between steps
/// ([`set_muon_lr`](Self::set_muon_lr), [`set_adamw_lr`](Self::set_adamw_lr)), so a schedule
/// can drive them.
///
/// `'s` is the lifetime of the caller's memory (states and scratch).
///
/// ```
/// use muon_core::adam::AdamConfig;
/// use muon_core::mixed::{MixedOptimizer, ParamRole};
/// use muon_core::muon::{Muon, MuonConfig};
/// use muon_core::{MatMut, MatRef};
///
/// // A 4×8 weight (Muon) and a bias of 4 (AdamW). All memory is the caller's: arrays here.
/// let mut weight = [0.1f32; 32];
/// let mut bias = [0.0f32; 4];
/// let mut weight_state = [0.0f32; MixedOptimizer::<2>::state_len(4, 8, ParamRole::Auto)];
/// let mut bias_state = [0.0f32; MixedOptimizer::<2>::state_len(1, 4, ParamRole::Auto)];
/// let mut scratch = [0.0f32; Muon::scratch_len(4, 8)]; // for the largest Muon parameter
///
/// let muon = MuonConfig::new().with_lr(0.02).build()?;
/// let adamw = AdamConfig::adamw().with_lr(3e-4).build()?;
/// let mut opt = MixedOptimizer::<2>::new(muon, adamw, &mut scratch);
/// opt.add(4, 8, ParamRole::Auto, &mut weight_state)?; // a matrix: Muon
/// opt.add(1, 4, ParamRole::Auto, &mut bias_state)?; // a vector: AdamW
///
/// let weight_grad = [0.5f32; 32];
/// let bias_grad = [0.25f32; 4];
/// for t in 0..3 {
///     // A linear warm-up over the first steps.
///     let warmup = ((t + 1) as f32 / 3.0).min(1.0);
///     opt.set_muon_lr(0.02 * warmup)?;
///     opt.set_adamw_lr(3e-4 * warmup)?;
///     opt.step(
///         &mut [MatMut::new(4, 8, &mut weight)?, MatMut::new(1, 4, &mut bias)?],
///         &[MatRef::new(4, 8, &weight_grad)?, MatRef::new(1, 4, &bias_grad)?],
///     )?;
/// }
/// assert!(bias.iter().all(|b| *b < 0.0));
/// # Ok::<(), muon_core::MuonError>(())
/// ```
#[derive(Debug)]
pub struct MixedOptimizer<'s, const N: usize> {
    muon: Muon,
    adamw: Adam,
    scratch: &'s mut [f32],
    slots: Vec<Slot<'s>, N>,
}

impl<'s, const N: usize> MixedOptimizer<'s, N> {
    /// An optimizer with no parameters: `muon` for the Muon group, `adamw` for the other one
    /// (usually [`AdamConfig::adamw`](crate::adam::AdamConfig::adamw); a coupled-L2 Adam config
    /// works too). `scratch` is shared by all Muon parameters: it needs
    /// [`Muon::scratch_len`] of the largest one (checked by [`add`](Self::add)); its contents
    /// between steps do not matter.
    #[must_use]
    pub fn new(muon: Muon, adamw: Adam, scratch: &'s mut [f32]) -> Self {
        Self {
            muon,
            adamw,
            scratch,
            slots: Vec::new(),
        }
    }

    /// The number of `f32` values of state a `rows × cols` parameter with `role` needs:
    /// `rows·cols` for Muon (momentum), `2·rows·cols` for AdamW (first and second moment).
    /// Saturates instead of overflowing (and [`add`](Self::add) then reports
    /// [`MuonError::SizeOverflow`]).
    #[must_use]
    pub const fn state_len(rows: usize, cols: usize, role: ParamRole) -> usize {
        let len = rows.saturating_mul(cols);
        match role.resolve(rows, cols) {
            ParamRole::AdamW => len.saturating_mul(2),
            _ => len,
        }
    }

    /// Registers a `rows × cols` parameter; returns its index (the registration order, which
    /// [`step`](Self::step) expects).
    ///
    /// `state` ([`state_len`](Self::state_len) values) is the parameter's optimizer state: zero
    /// for a fresh start (Muon's momentum; AdamW's `m` then `v`). An AdamW parameter's step count
    /// starts at 0.
    ///
    /// # Errors
    /// [`MuonError::EmptyMatrix`], [`MuonError::SizeOverflow`], [`MuonError::CapacityFull`] when
    /// `N` parameters are registered, [`MuonError::LengthMismatch`] (`state`), and
    /// [`MuonError::ScratchTooSmall`] when the shared scratch is too small for a Muon parameter.
    /// On error nothing is registered.
    pub fn add(
        &mut self,
        rows: usize,
        cols: usize,
        role: ParamRole,
        state: &'s mut [f32],
    ) -> Result<usize, MuonError> {
        if rows == 0 || cols == 0 {
            return Err(MuonError::EmptyMatrix);
        }
        let len = rows.checked_mul(cols).ok_or(MuonError::SizeOverflow)?;
        if self.slots.is_full() {
            return Err(MuonError::CapacityFull { capacity: N });
        }
        let memory = match role.resolve(rows, cols) {
            ParamRole::AdamW => {
                let both = len.checked_mul(2).ok_or(MuonError::SizeOverflow)?;
                validate::length("state", both, state.len())?;
                let (m, v) = state.split_at_mut(len);
                SlotMemory::AdamW { step: 0, m, v }
            }
            _ => {
                validate::length("state", len, state.len())?;
                validate::scratch(Muon::scratch_len(rows, cols), self.scratch.len())?;
                SlotMemory::Muon { momentum: state }
            }
        };
        let slot = Slot {
            rows,
            cols,
            state: memory,
        };
        // Cannot fail: checked `is_full` above.
        self.slots
            .push(slot)
            .map_err(|_| MuonError::CapacityFull { capacity: N })?;
        Ok(self.slots.len() - 1)
    }

    /// One step of every registered parameter: `params[i]` with gradient `grads[i]`, in
    /// registration order, each by [`Muon::step`] (with the shared scratch) or [`Adam::step`].
    ///
    /// Everything is checked before anything is written: the number of parameters and
    /// gradients, every shape, and every gradient's finiteness.
    ///
    /// # Errors
    /// [`MuonError::ParamCountMismatch`], [`MuonError::ParamShapeMismatch`],
    /// [`MuonError::NonFiniteParamGradient`]. On any error every parameter and every state
    /// (moments, momenta, step counts) is bit for bit as it was.
    pub fn step(
        &mut self,
        params: &mut [MatMut<'_>],
        grads: &[MatRef<'_>],
    ) -> Result<(), MuonError> {
        self.check(params, grads)?;
        let (muon, adamw) = (&self.muon, &self.adamw);
        for ((slot, param), grad) in self.slots.iter_mut().zip(params.iter_mut()).zip(grads) {
            // After `check`, these steps cannot fail (shapes, state lengths, scratch size and
            // gradients are valid), so no parameter is left half-updated.
            match &mut slot.state {
                SlotMemory::Muon { momentum } => {
                    let slots = MuonSlots {
                        momentum,
                        scratch: self.scratch,
                    };
                    muon.step(param.reborrow(), *grad, slots)?;
                }
                SlotMemory::AdamW { step, m, v } => {
                    adamw.step(param.reborrow(), *grad, AdamSlots { step, m, v })?;
                }
            }
        }
        Ok(())
    }

    /// The checks of [`step`](Self::step), before it writes anything.
    fn check(&self, params: &[MatMut<'_>], grads: &[MatRef<'_>]) -> Result<(), MuonError> {
        let n = self.slots.len();
        for (what, found) in [("params", params.len()), ("grads", grads.len())] {
            if found != n {
                return Err(MuonError::ParamCountMismatch {
                    what,
                    expected: n,
                    found,
                });
            }
        }
        for (i, ((slot, param), grad)) in self.slots.iter().zip(params).zip(grads).enumerate() {
            let expected = (slot.rows, slot.cols);
            for (what, found) in [("param", param.shape()), ("grad", grad.shape())] {
                if found != expected {
                    return Err(MuonError::ParamShapeMismatch {
                        param: i,
                        what,
                        expected,
                        found,
                    });
                }
            }
            if let Err(MuonError::NonFiniteGradient { index }) =
                validate::finite_gradient(grad.as_slice())
            {
                return Err(MuonError::NonFiniteParamGradient { param: i, index });
            }
        }
        Ok(())
    }

    /// Sets the Muon group's learning rate for the following steps (the other hyper-parameters
    /// stay). Decoupled weight decay scales with it (`W ← W(1 − lr·wd)`), as in PyTorch.
    ///
    /// # Errors
    /// [`MuonError::InvalidHyperParameter`] (`lr`) unless `lr` is finite and `≥ 0`, as
    /// [`MuonConfig::validate`](crate::muon::MuonConfig::validate); then nothing changes.
    pub fn set_muon_lr(&mut self, lr: f32) -> Result<(), MuonError> {
        self.muon.set_lr(lr)
    }

    /// Sets the AdamW group's learning rate for the following steps (the other
    /// hyper-parameters and the step counts stay).
    ///
    /// # Errors
    /// [`MuonError::InvalidHyperParameter`] (`lr`) unless `lr` is finite and `≥ 0`, as
    /// [`AdamConfig::validate`](crate::adam::AdamConfig::validate); then nothing changes.
    pub fn set_adamw_lr(&mut self, lr: f32) -> Result<(), MuonError> {
        self.adamw.set_lr(lr)
    }

    /// The Muon group's optimizer (its current hyper-parameters).
    #[must_use]
    pub fn muon(&self) -> &Muon {
        &self.muon
    }

    /// The AdamW group's optimizer (its current hyper-parameters).
    #[must_use]
    pub fn adamw(&self) -> &Adam {
        &self.adamw
    }

    /// The number of registered parameters.
    #[must_use]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// `true` before the first [`add`](Self::add).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The most parameters this optimizer can hold: `N`.
    #[must_use]
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Where parameter `index` went: [`ParamRole::Muon`] or [`ParamRole::AdamW`]; `None` if
    /// there is no such parameter.
    #[must_use]
    pub fn role(&self, index: usize) -> Option<ParamRole> {
        self.slots.get(index).map(|slot| match slot.state {
            SlotMemory::Muon { .. } => ParamRole::Muon,
            SlotMemory::AdamW { .. } => ParamRole::AdamW,
        })
    }

    /// The registered `(rows, cols)` of parameter `index`.
    #[must_use]
    pub fn shape(&self, index: usize) -> Option<(usize, usize)> {
        self.slots.get(index).map(|slot| (slot.rows, slot.cols))
    }

    /// Parameter `index`'s optimizer state, to inspect or save it.
    #[must_use]
    pub fn state(&self, index: usize) -> Option<SlotState<'_>> {
        self.slots.get(index).map(|slot| match &slot.state {
            SlotMemory::Muon { momentum } => SlotState::Muon { momentum },
            SlotMemory::AdamW { step, m, v } => SlotState::AdamW { step: *step, m, v },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adam::AdamConfig;
    use crate::muon::MuonConfig;
    use std::vec;
    use std::vec::Vec as StdVec;

    /// `(rows, cols, role)` of the test model: an embedding marked AdamW, two matrices of
    /// different shapes (Muon), a bias row and a column vector (AdamW).
    const MODEL: [(usize, usize, ParamRole); 5] = [
        (6, 4, ParamRole::AdamW),
        (5, 3, ParamRole::Auto),
        (1, 5, ParamRole::Auto),
        (3, 7, ParamRole::Auto),
        (4, 1, ParamRole::Auto),
    ];

    /// A deterministic value in about `[-1, 1)` for element `i` of tensor `k` at step `t`.
    fn value(k: usize, t: usize, i: usize) -> f32 {
        let x = (k * 131 + t * 71 + i * 37) % 97;
        x as f32 / 48.5 - 1.0
    }

    fn params() -> StdVec<StdVec<f32>> {
        MODEL
            .iter()
            .enumerate()
            .map(|(k, &(r, c, _))| (0..r * c).map(|i| 0.3 * value(k, 0, i)).collect())
            .collect()
    }

    fn grads(t: usize) -> StdVec<StdVec<f32>> {
        MODEL
            .iter()
            .enumerate()
            .map(|(k, &(r, c, _))| (0..r * c).map(|i| value(k + 7, t + 1, i)).collect())
            .collect()
    }

    fn scratch_len() -> usize {
        MODEL
            .iter()
            .filter(|(r, c, role)| role.resolve(*r, *c) == ParamRole::Muon)
            .map(|&(r, c, _)| Muon::scratch_len(r, c))
            .max()
            .unwrap_or(0)
    }

    fn optimizers() -> (Muon, Adam) {
        let muon = MuonConfig::new().with_lr(0.05).build().unwrap();
        let adamw = AdamConfig::adamw().with_lr(0.01).build().unwrap();
        (muon, adamw)
    }

    /// Zeroed state buffers for every parameter of the model.
    fn fresh_states() -> StdVec<StdVec<f32>> {
        MODEL
            .iter()
            .map(|&(r, c, role)| vec![0.0; MixedOptimizer::<5>::state_len(r, c, role)])
            .collect()
    }

    /// The model's optimizer ([`optimizers`]) with every parameter registered on `states`.
    fn registered<'s>(
        states: &'s mut [StdVec<f32>],
        scratch: &'s mut [f32],
    ) -> MixedOptimizer<'s, 5> {
        let (muon, adamw) = optimizers();
        let mut opt = MixedOptimizer::<5>::new(muon, adamw, scratch);
        for (state, &(r, c, role)) in states.iter_mut().zip(&MODEL) {
            opt.add(r, c, role, state).unwrap();
        }
        opt
    }

    /// Steps `opt` with `params` and `grads` (owned vectors, viewed with the model's shapes).
    fn step_all<const N: usize>(
        opt: &mut MixedOptimizer<'_, N>,
        params: &mut [StdVec<f32>],
        grads: &[StdVec<f32>],
    ) -> Result<(), MuonError> {
        let mut p: StdVec<MatMut<'_>> = params
            .iter_mut()
            .zip(&MODEL)
            .map(|(x, &(r, c, _))| MatMut::new(r, c, x).unwrap())
            .collect();
        let g: StdVec<MatRef<'_>> = grads
            .iter()
            .zip(&MODEL)
            .map(|(x, &(r, c, _))| MatRef::new(r, c, x).unwrap())
            .collect();
        opt.step(&mut p, &g)
    }

    fn bits(x: &[f32]) -> StdVec<u32> {
        x.iter().map(|v| v.to_bits()).collect()
    }

    /// The states of every parameter, as bits (and AdamW step counts).
    fn state_bits<const N: usize>(opt: &MixedOptimizer<'_, N>) -> StdVec<(u32, StdVec<u32>)> {
        (0..opt.len())
            .map(|i| match opt.state(i).unwrap() {
                SlotState::Muon { momentum } => (u32::MAX, bits(momentum)),
                SlotState::AdamW { step, m, v } => (step, [bits(m), bits(v)].concat()),
            })
            .collect()
    }

    #[test]
    fn steps_equal_each_parameter_stepped_alone_bit_for_bit() {
        let (muon, adamw) = optimizers();
        let (mut states, mut scratch) = (fresh_states(), vec![0.0; scratch_len()]);
        let mut opt = registered(&mut states, &mut scratch);
        let mut mixed = params();

        // The reference: each parameter alone, with its own state and its own scratch.
        let mut alone = params();
        let mut momenta: StdVec<StdVec<f32>> =
            MODEL.iter().map(|&(r, c, _)| vec![0.0; r * c]).collect();
        let mut moments: StdVec<(u32, StdVec<f32>, StdVec<f32>)> = MODEL
            .iter()
            .map(|&(r, c, _)| (0, vec![0.0; r * c], vec![0.0; r * c]))
            .collect();

        for t in 0..6 {
            // A schedule: both learning rates change every step.
            let (muon_lr, adamw_lr) = (0.05 / (t + 1) as f32, 0.01 * (t + 1) as f32 / 6.0);
            opt.set_muon_lr(muon_lr).unwrap();
            opt.set_adamw_lr(adamw_lr).unwrap();
            let g = grads(t);
            step_all(&mut opt, &mut mixed, &g).unwrap();

            let muon_t = muon.config().with_lr(muon_lr).build().unwrap();
            let adamw_t = adamw.config().with_lr(adamw_lr).build().unwrap();
            for (k, &(r, c, role)) in MODEL.iter().enumerate() {
                if role.resolve(r, c) == ParamRole::Muon {
                    let mut own_scratch = vec![0.0; Muon::scratch_len(r, c)];
                    muon_t
                        .step(
                            MatMut::new(r, c, &mut alone[k]).unwrap(),
                            MatRef::new(r, c, &g[k]).unwrap(),
                            MuonSlots {
                                momentum: &mut momenta[k],
                                scratch: &mut own_scratch,
                            },
                        )
                        .unwrap();
                } else {
                    let (step, m, v) = &mut moments[k];
                    adamw_t
                        .step(
                            MatMut::vector(&mut alone[k]).unwrap(),
                            MatRef::vector(&g[k]).unwrap(),
                            AdamSlots { step, m, v },
                        )
                        .unwrap();
                }
            }
            for k in 0..MODEL.len() {
                assert_eq!(bits(&mixed[k]), bits(&alone[k]), "param {k}, step {t}");
            }
        }
        // The states agree too, and the parameters moved.
        for (k, &(r, c, role)) in MODEL.iter().enumerate() {
            match opt.state(k).unwrap() {
                SlotState::Muon { momentum } => {
                    assert_eq!(role.resolve(r, c), ParamRole::Muon);
                    assert_eq!(bits(momentum), bits(&momenta[k]));
                }
                SlotState::AdamW { step, m, v } => {
                    assert_eq!(step, 6);
                    assert_eq!(bits(m), bits(&moments[k].1));
                    assert_eq!(bits(v), bits(&moments[k].2));
                }
            }
            assert_ne!(bits(&mixed[k]), bits(&params()[k]), "param {k} moved");
        }
    }

    #[test]
    fn a_failed_step_changes_nothing() {
        let (mut states, mut scratch) = (fresh_states(), vec![0.0; scratch_len()]);
        let mut opt = registered(&mut states, &mut scratch);
        let mut p = params();
        // Two good steps first, so that every state is non-zero.
        for t in 0..2 {
            step_all(&mut opt, &mut p, &grads(t)).unwrap();
        }
        let (p0, s0) = (p.clone(), state_bits(&opt));
        let unchanged = |opt: &MixedOptimizer<'_, 5>, p: &[StdVec<f32>]| {
            assert_eq!(state_bits(opt), s0);
            for (a, b) in p.iter().zip(&p0) {
                assert_eq!(bits(a), bits(b));
            }
        };

        // A NaN in the last parameter's gradient: the earlier parameters must not move either.
        let last = MODEL.len() - 1;
        let mut g = grads(2);
        g[last][2] = f32::NAN;
        assert_eq!(
            step_all(&mut opt, &mut p, &g),
            Err(MuonError::NonFiniteParamGradient {
                param: last,
                index: 2
            })
        );
        unchanged(&opt, &p);
        g[last][2] = 0.0;
        g[3][20] = f32::NEG_INFINITY;
        assert_eq!(
            step_all(&mut opt, &mut p, &g),
            Err(MuonError::NonFiniteParamGradient {
                param: 3,
                index: 20
            })
        );
        unchanged(&opt, &p);

        // A gradient of the wrong shape (same length, transposed) for the last parameter.
        let g = grads(2);
        {
            let mut views: StdVec<MatMut<'_>> = p
                .iter_mut()
                .zip(&MODEL)
                .map(|(x, &(r, c, _))| MatMut::new(r, c, x).unwrap())
                .collect();
            let mut gv: StdVec<MatRef<'_>> = g
                .iter()
                .zip(&MODEL)
                .map(|(x, &(r, c, _))| MatRef::new(r, c, x).unwrap())
                .collect();
            gv[last] = MatRef::new(1, 4, &g[last]).unwrap();
            assert_eq!(
                opt.step(&mut views, &gv),
                Err(MuonError::ParamShapeMismatch {
                    param: last,
                    what: "grad",
                    expected: (4, 1),
                    found: (1, 4)
                })
            );
            // A parameter of the wrong shape.
            let gv: StdVec<MatRef<'_>> = g
                .iter()
                .zip(&MODEL)
                .map(|(x, &(r, c, _))| MatRef::new(r, c, x).unwrap())
                .collect();
            let mut views2: StdVec<MatMut<'_>> = views.iter_mut().map(MatMut::reborrow).collect();
            let (rows, cols) = views2[3].shape();
            let data = views2.remove(3).into_slice();
            views2.insert(3, MatMut::new(cols, rows, data).unwrap());
            assert_eq!(
                opt.step(&mut views2, &gv),
                Err(MuonError::ParamShapeMismatch {
                    param: 3,
                    what: "param",
                    expected: (3, 7),
                    found: (7, 3)
                })
            );
            // Too few parameters, too many gradients.
            assert_eq!(
                opt.step(&mut views[..4], &gv),
                Err(MuonError::ParamCountMismatch {
                    what: "params",
                    expected: 5,
                    found: 4
                })
            );
            let mut more = gv.clone();
            more.push(gv[0]);
            assert_eq!(
                opt.step(&mut views, &more),
                Err(MuonError::ParamCountMismatch {
                    what: "grads",
                    expected: 5,
                    found: 6
                })
            );
        }
        unchanged(&opt, &p);

        // A bad learning rate is rejected and the old one stays.
        let lr = opt.muon().config().lr;
        for bad in [-1.0, f32::NAN, f32::INFINITY] {
            assert!(matches!(
                opt.set_muon_lr(bad),
                Err(MuonError::InvalidHyperParameter { name: "lr", .. })
            ));
            assert!(matches!(
                opt.set_adamw_lr(bad),
                Err(MuonError::InvalidHyperParameter { name: "lr", .. })
            ));
        }
        assert_eq!(opt.muon().config().lr, lr);
        assert_eq!(opt.adamw().config().lr, 0.01);
        // And the optimizer still works.
        step_all(&mut opt, &mut p, &grads(2)).unwrap();
        assert_ne!(state_bits(&opt), s0);
    }

    #[test]
    fn capacity_and_registration_errors() {
        let (muon, adamw) = optimizers();
        // The memory outlives the optimizer (declared first); a failed registration keeps
        // its slice borrowed, so each attempt gets its own.
        let mut a = vec![0.0; 9];
        let mut b = vec![0.0; 8];
        let mut c = vec![0.0; 2];
        let mut d = vec![0.0; 2];
        let mut too_short = vec![0.0; 7];
        let mut big = vec![0.0; 16];
        let mut empty: [f32; 0] = [];
        let mut scratch = vec![0.0; Muon::scratch_len(3, 3)];
        let mut opt = MixedOptimizer::<2>::new(muon, adamw, &mut scratch);
        assert!(opt.is_empty());
        assert_eq!(opt.capacity(), 2);
        assert_eq!(
            opt.add(1, 4, ParamRole::Auto, &mut too_short),
            Err(MuonError::LengthMismatch {
                what: "state",
                expected: 8,
                found: 7
            })
        );
        assert_eq!(
            opt.add(4, 4, ParamRole::Muon, &mut big),
            Err(MuonError::ScratchTooSmall {
                needed: Muon::scratch_len(4, 4),
                found: Muon::scratch_len(3, 3)
            })
        );
        assert_eq!(
            opt.add(0, 4, ParamRole::Auto, &mut empty),
            Err(MuonError::EmptyMatrix)
        );
        assert_eq!(
            opt.add(usize::MAX, 2, ParamRole::Auto, &mut c),
            Err(MuonError::SizeOverflow)
        );
        assert!(opt.is_empty(), "failed registrations register nothing");
        assert_eq!(opt.add(3, 3, ParamRole::Auto, &mut a), Ok(0));
        assert_eq!(opt.add(1, 4, ParamRole::Auto, &mut b), Ok(1));
        assert_eq!(opt.len(), 2);
        assert!(!opt.is_empty());
        assert_eq!(
            opt.add(1, 1, ParamRole::Auto, &mut d),
            Err(MuonError::CapacityFull { capacity: 2 })
        );
        assert_eq!(opt.len(), 2);
        assert_eq!(opt.shape(1), Some((1, 4)));
        assert_eq!(opt.shape(2), None);
        assert_eq!(opt.state(2), None);
    }

    #[test]
    fn matrices_go_to_muon_vectors_and_marked_matrices_to_adamw() {
        assert_eq!(ParamRole::Auto.resolve(2, 2), ParamRole::Muon);
        assert_eq!(ParamRole::Auto.resolve(16, 3), ParamRole::Muon);
        assert_eq!(ParamRole::Auto.resolve(1, 16), ParamRole::AdamW);
        assert_eq!(ParamRole::Auto.resolve(16, 1), ParamRole::AdamW);
        assert_eq!(ParamRole::Muon.resolve(1, 16), ParamRole::Muon);
        assert_eq!(ParamRole::AdamW.resolve(8, 8), ParamRole::AdamW);
        assert_eq!(MixedOptimizer::<1>::state_len(4, 8, ParamRole::Auto), 32);
        assert_eq!(MixedOptimizer::<1>::state_len(4, 8, ParamRole::AdamW), 64);
        assert_eq!(MixedOptimizer::<1>::state_len(1, 8, ParamRole::Auto), 16);
        assert_eq!(MixedOptimizer::<1>::state_len(1, 8, ParamRole::Muon), 8);

        let (muon, adamw) = optimizers();
        let roles = [
            (8, 8, ParamRole::Auto, ParamRole::Muon),
            (8, 8, ParamRole::AdamW, ParamRole::AdamW),
            (1, 8, ParamRole::Auto, ParamRole::AdamW),
            (1, 8, ParamRole::Muon, ParamRole::Muon),
        ];
        let mut states: StdVec<StdVec<f32>> = roles
            .iter()
            .map(|&(r, c, role, _)| vec![0.0; MixedOptimizer::<4>::state_len(r, c, role)])
            .collect();
        let mut scratch = vec![0.0; Muon::scratch_len(8, 8)];
        let mut opt = MixedOptimizer::<4>::new(muon, adamw, &mut scratch);
        for (state, &(r, c, role, _)) in states.iter_mut().zip(&roles) {
            opt.add(r, c, role, state).unwrap();
        }
        for (i, &(_, _, _, routed)) in roles.iter().enumerate() {
            assert_eq!(opt.role(i), Some(routed), "parameter {i}");
        }
        assert_eq!(opt.role(4), None);

        // Stepping confirms the routing: Muon keeps no step count, AdamW counts.
        let mut p: StdVec<StdVec<f32>> = roles.iter().map(|&(r, c, ..)| vec![0.5; r * c]).collect();
        let g: StdVec<StdVec<f32>> = roles.iter().map(|&(r, c, ..)| vec![0.25; r * c]).collect();
        let mut pv: StdVec<MatMut<'_>> = p
            .iter_mut()
            .zip(&roles)
            .map(|(x, &(r, c, ..))| MatMut::new(r, c, x).unwrap())
            .collect();
        let gv: StdVec<MatRef<'_>> = g
            .iter()
            .zip(&roles)
            .map(|(x, &(r, c, ..))| MatRef::new(r, c, x).unwrap())
            .collect();
        opt.step(&mut pv, &gv).unwrap();
        for (i, &(.., routed)) in roles.iter().enumerate() {
            match (opt.state(i).unwrap(), routed) {
                (SlotState::Muon { momentum }, ParamRole::Muon) => {
                    assert!(momentum.iter().all(|x| *x != 0.0));
                }
                (SlotState::AdamW { step, .. }, ParamRole::AdamW) => assert_eq!(step, 1),
                (state, _) => panic!("parameter {i}: {state:?}"),
            }
        }
    }
}
