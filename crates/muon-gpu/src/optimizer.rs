//! [`GpuOptimizer`]: parameter groups as users of the reference implementations expect —
//! hidden-layer matrices to Muon, everything else to AdamW, one step for all.
//!
//! This is the split of Keller Jordan's `MuonWithAuxAdam` and Moonlight: Muon for 2-D weights,
//! AdamW for vectors (biases, norm gains) and for the matrices the caller marks (embeddings,
//! the output head), all stepped in one command submission.

use muon_core::adam::Adam;
use muon_core::muon::Muon;

use crate::status::{GuardedParam, check_statuses, check_unregistered};
use crate::{GpuAdam, GpuContext, GpuError, GpuMatrix, GpuMuon, MomentFormat};

/// Which optimizer a parameter goes to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ParamRole {
    /// Muon if the parameter is a matrix with at least 2 rows and 2 columns, else AdamW.
    #[default]
    Auto,
    /// Muon, whatever the shape.
    Muon,
    /// AdamW: for embeddings, output heads and any parameter the caller marks.
    AdamW,
}

/// The optimizer a parameter was given to, and its index there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assigned {
    /// Index in [`GpuOptimizer::muon`].
    Muon(usize),
    /// Index in [`GpuOptimizer::adamw`].
    AdamW(usize),
}

/// One parameter's optimizer state in a [`GpuOptimizer`]: what a checkpoint saves besides the
/// weights. The values are the core's own state (`MuonState::momentum`; `AdamSlots`' `step`,
/// `m`, `v`), widened to `f32`, row-major, one per parameter element.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamState {
    /// A Muon parameter: its momentum buffer (Muon keeps no step count).
    Muon {
        /// The momentum buffer.
        momentum: Vec<f32>,
    },
    /// An AdamW parameter: its step count `t` (the bias corrections depend on it) and moments.
    AdamW {
        /// Steps applied so far.
        step: u32,
        /// First moment.
        m: Vec<f32>,
        /// Second moment.
        v: Vec<f32>,
    },
}

/// Muon and AdamW over one set of parameters, stepped together.
#[derive(Debug)]
pub struct GpuOptimizer {
    ctx: GpuContext,
    muon: GpuMuon,
    adamw: GpuAdam,
    params: Vec<Assigned>,
}

impl GpuOptimizer {
    /// An optimizer with no parameters: `muon` for matrices, `adamw` (with `f32` moments) for
    /// the rest.
    #[must_use]
    pub fn new(ctx: &GpuContext, muon: Muon, adamw: Adam) -> Self {
        Self::with_adamw_moments(ctx, muon, adamw, MomentFormat::F32)
    }

    /// As [`GpuOptimizer::new`], the AdamW group storing its moments as `format`.
    #[must_use]
    pub fn with_adamw_moments(
        ctx: &GpuContext,
        muon: Muon,
        adamw: Adam,
        format: MomentFormat,
    ) -> Self {
        Self {
            ctx: ctx.clone(),
            muon: GpuMuon::new(ctx, muon),
            adamw: GpuAdam::with_moments(ctx, adamw, format),
            params: Vec::new(),
        }
    }

    /// Registers a parameter and its gradient buffer; returns its index in this optimizer.
    ///
    /// # Errors
    /// As [`GpuMuon::add_param`] / [`GpuAdam::add_param`].
    pub fn add(
        &mut self,
        param: &GpuMatrix,
        grad: &GpuMatrix,
        role: ParamRole,
    ) -> Result<usize, GpuError> {
        check_unregistered(self.guards(), param, grad)?;
        let to_muon = match role {
            ParamRole::Muon => true,
            ParamRole::AdamW => false,
            ParamRole::Auto => param.rows() >= 2 && param.cols() >= 2,
        };
        let assigned = if to_muon {
            Assigned::Muon(self.muon.add_param(param, grad)?)
        } else {
            Assigned::AdamW(self.adamw.add_param(param, grad)?)
        };
        self.params.push(assigned);
        Ok(self.params.len() - 1)
    }

    /// Where parameter `index` went.
    #[must_use]
    pub fn assigned(&self, index: usize) -> Option<Assigned> {
        self.params.get(index).copied()
    }

    /// The Muon group.
    #[must_use]
    pub fn muon(&self) -> &GpuMuon {
        &self.muon
    }

    /// The Muon group, to change its learning rate.
    pub fn muon_mut(&mut self) -> &mut GpuMuon {
        &mut self.muon
    }

    /// The AdamW group.
    #[must_use]
    pub fn adamw(&self) -> &GpuAdam {
        &self.adamw
    }

    /// The AdamW group, to change its learning rate.
    pub fn adamw_mut(&mut self) -> &mut GpuAdam {
        &mut self.adamw
    }

    /// Reads parameter `index`'s optimizer state (waits for the device): save it with the
    /// weights ([`GpuMatrix::read`]) to checkpoint; restore it with [`GpuOptimizer::set_state`].
    /// The state is checked as `set_state` checks it, so a state returned here always
    /// restores into this optimizer.
    ///
    /// # Errors
    /// [`GpuError::UnknownParam`], [`GpuError::Readback`] or a device error;
    /// [`GpuError::InvalidState`] if the device holds a state `set_state` would refuse (a
    /// Muon momentum that overflowed: Muon's momentum, like the core's, does not saturate).
    pub fn state(&self, index: usize) -> Result<ParamState, GpuError> {
        match self.assigned(index).ok_or(GpuError::UnknownParam(index))? {
            Assigned::Muon(i) => {
                let momentum = self.muon.momentum(i)?;
                self.muon.check_momentum(i, &momentum)?;
                Ok(ParamState::Muon { momentum })
            }
            Assigned::AdamW(i) => {
                let step = self
                    .adamw
                    .status()?
                    .get(i)
                    .ok_or(GpuError::UnknownParam(index))?
                    .steps;
                let (m, v) = self.adamw.moments(i)?;
                self.adamw.encode_moments(i, &m, &v)?;
                Ok(ParamState::AdamW { step, m, v })
            }
        }
    }

    /// Restores parameter `index`'s optimizer state ([`GpuMuon::set_momentum`] or
    /// [`GpuAdam::set_moments`], validated the same way); queued, it lands before the next
    /// submission.
    ///
    /// # Errors
    /// [`GpuError::UnknownParam`]; [`GpuError::StateKindMismatch`] if `state` is for the other
    /// group; the setters' errors. On any error nothing is written.
    pub fn set_state(&mut self, index: usize, state: &ParamState) -> Result<(), GpuError> {
        match (
            self.assigned(index).ok_or(GpuError::UnknownParam(index))?,
            state,
        ) {
            (Assigned::Muon(i), ParamState::Muon { momentum }) => {
                self.muon.set_momentum(i, momentum)
            }
            (Assigned::AdamW(i), ParamState::AdamW { step, m, v }) => {
                self.adamw.set_moments(i, *step, m, v)
            }
            (assigned, _) => Err(GpuError::StateKindMismatch {
                param: index,
                optimizer: match assigned {
                    Assigned::Muon(_) => "Muon",
                    Assigned::AdamW(_) => "AdamW",
                },
            }),
        }
    }

    /// Records one step of every parameter into `pass`.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        self.muon.encode(pass);
        self.adamw.encode(pass);
    }

    /// One step of every parameter, both groups, in one submission. Does not wait.
    pub fn step(&self) -> wgpu::SubmissionIndex {
        self.ctx
            .submit_pass("optimizer step", |pass| self.encode(pass))
    }

    /// Reports skipped steps (NaN/Inf gradients) of both groups: every parameter with a
    /// report, `param` being its index in this optimizer, in one list
    /// ([`GpuError::NonFiniteGradients`]), read in one readback; exactly those reports are
    /// cleared. Waits for the device.
    ///
    /// # Errors
    /// [`GpuError::NonFiniteGradients`], [`GpuError::Readback`] or a device error (then
    /// nothing is cleared).
    pub fn check(&mut self) -> Result<(), GpuError> {
        check_statuses(&self.ctx, self.guards())
    }

    /// Every parameter's registration, in this optimizer's order.
    fn guards(&self) -> impl Iterator<Item = &GuardedParam> {
        self.params.iter().filter_map(|a| match *a {
            Assigned::Muon(i) => self.muon.guard(i),
            Assigned::AdamW(i) => self.adamw.guard(i),
        })
    }
}
