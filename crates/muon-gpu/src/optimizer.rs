//! [`GpuOptimizer`]: parameter groups as users of the reference implementations expect —
//! hidden-layer matrices to Muon, everything else to AdamW, one step for all.
//!
//! This is the split of Keller Jordan's `MuonWithAuxAdam` and Moonlight: Muon for 2-D weights,
//! AdamW for vectors (biases, norm gains) and for the matrices the caller marks (embeddings,
//! the output head), all stepped in one command submission.

use muon_core::adam::Adam;
use muon_core::mixed::ParamRole;
use muon_core::muon::Muon;

use crate::status::{GuardedParam, check_statuses, check_unregistered};
use crate::{GpuAdam, GpuContext, GpuError, GpuMatrix, GpuMuon, GpuParamGroup, MomentFormat};

/// Where a parameter went: its group and its index in that group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assigned {
    /// The group ([`GpuOptimizer::MUON`], [`GpuOptimizer::ADAMW`], or one
    /// [`GpuOptimizer::add_group`] returned).
    pub group: usize,
    /// The parameter's index in that group.
    pub index: usize,
}

/// One group of a [`GpuOptimizer`]: Muon or AdamW with its own configuration. The optimizer
/// hands out shared references to it ([`GpuOptimizer::group`]) and mutable ones only to the
/// group inside ([`GpuOptimizer::group_mut`], [`GpuOptimizer::muon_group_mut`]), so a group
/// never changes kind after parameters were registered in it.
#[derive(Debug)]
pub enum GpuGroup {
    /// Parameters stepped by Muon.
    Muon(GpuMuon),
    /// Parameters stepped by Adam/AdamW.
    AdamW(GpuAdam),
}

impl GpuGroup {
    /// The group through the interface every group shares.
    #[must_use]
    pub fn as_dyn(&self) -> &dyn GpuParamGroup {
        match self {
            Self::Muon(g) => g,
            Self::AdamW(g) => g,
        }
    }

    /// The group through the interface every group shares, mutable.
    pub fn as_dyn_mut(&mut self) -> &mut dyn GpuParamGroup {
        match self {
            Self::Muon(g) => g,
            Self::AdamW(g) => g,
        }
    }
}

impl From<GpuMuon> for GpuGroup {
    fn from(g: GpuMuon) -> Self {
        Self::Muon(g)
    }
}

impl From<GpuAdam> for GpuGroup {
    fn from(g: GpuAdam) -> Self {
        Self::AdamW(g)
    }
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

/// Parameter groups (Muon or AdamW, each with its own configuration) over one set of
/// parameters, all stepped in one submission.
///
/// It starts with two groups, [`GpuOptimizer::MUON`] and [`GpuOptimizer::ADAMW`], that
/// [`GpuOptimizer::add`] routes parameters to by [`ParamRole`]; [`GpuOptimizer::add_group`]
/// adds more (the usual "no weight decay for norms and biases" group, a second learning rate)
/// and [`GpuOptimizer::add_to`] registers a parameter in one. Parameters are indexed in the
/// order they were added, whatever their group.
#[derive(Debug)]
pub struct GpuOptimizer {
    ctx: GpuContext,
    groups: Vec<GpuGroup>,
    params: Vec<Assigned>,
}

impl GpuOptimizer {
    /// The group [`ParamRole::Muon`] (and `Auto` for matrices) parameters go to.
    pub const MUON: usize = 0;
    /// The group [`ParamRole::AdamW`] (and `Auto` for vectors) parameters go to.
    pub const ADAMW: usize = 1;

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
            groups: vec![
                GpuGroup::Muon(GpuMuon::new(ctx, muon)),
                GpuGroup::AdamW(GpuAdam::with_moments(ctx, adamw, format)),
            ],
            params: Vec::new(),
        }
    }

    /// Adds a group (a [`GpuMuon`] or [`GpuAdam`] with no parameters yet, configured as you
    /// like: precision, moment format); returns its index for [`GpuOptimizer::add_to`].
    ///
    /// # Errors
    /// [`GpuError::ForeignContext`] if the group was made on another context;
    /// [`GpuError::InvalidGroup`] if it already has parameters (register them through this
    /// optimizer, which checks them against every group).
    pub fn add_group(&mut self, group: impl Into<GpuGroup>) -> Result<usize, GpuError> {
        let group = group.into();
        if group.as_dyn().context().id() != self.ctx.id() {
            return Err(GpuError::ForeignContext { what: "group" });
        }
        if !group.as_dyn().is_empty() {
            return Err(GpuError::InvalidGroup {
                group: self.groups.len(),
                reason: "a group must be added before its parameters",
            });
        }
        self.groups.push(group);
        Ok(self.groups.len() - 1)
    }

    /// Registers a parameter and its gradient buffer; returns its index in this optimizer.
    /// `role` picks the group: [`GpuOptimizer::MUON`] or [`GpuOptimizer::ADAMW`].
    ///
    /// # Errors
    /// As [`GpuMuon::add_param`] / [`GpuAdam::add_param`]; [`GpuError::AlreadyRegistered`] if
    /// either buffer is registered in any group.
    pub fn add(
        &mut self,
        param: &GpuMatrix,
        grad: &GpuMatrix,
        role: ParamRole,
    ) -> Result<usize, GpuError> {
        let group = match role.resolve(param.rows(), param.cols()) {
            ParamRole::Muon => Self::MUON,
            _ => Self::ADAMW,
        };
        self.add_to(group, param, grad)
    }

    /// Registers a parameter and its gradient buffer in group `group`; returns its index in
    /// this optimizer.
    ///
    /// # Errors
    /// [`GpuError::InvalidGroup`] for an unknown group; [`GpuError::AlreadyRegistered`] if
    /// either buffer is registered in any group; the group's `add_param` errors.
    pub fn add_to(
        &mut self,
        group: usize,
        param: &GpuMatrix,
        grad: &GpuMatrix,
    ) -> Result<usize, GpuError> {
        if group >= self.groups.len() {
            return Err(GpuError::InvalidGroup {
                group,
                reason: "no such group",
            });
        }
        let guards = self
            .params
            .iter()
            .filter_map(|a| match &self.groups[a.group] {
                GpuGroup::Muon(g) => g.guard(a.index),
                GpuGroup::AdamW(g) => g.guard(a.index),
            });
        check_unregistered(guards, param, grad)?;
        let index = self.groups[group].as_dyn_mut().add_param(param, grad)?;
        self.params.push(Assigned { group, index });
        Ok(self.params.len() - 1)
    }

    /// Where parameter `index` went.
    #[must_use]
    pub fn assigned(&self, index: usize) -> Option<Assigned> {
        self.params.get(index).copied()
    }

    /// Number of groups (2 plus those added).
    #[must_use]
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// Group `group`.
    #[must_use]
    pub fn group(&self, group: usize) -> Option<&GpuGroup> {
        self.groups.get(group)
    }

    /// Group `group`, mutable, through the interface every group shares.
    pub fn group_mut(&mut self, group: usize) -> Option<&mut dyn GpuParamGroup> {
        self.groups.get_mut(group).map(GpuGroup::as_dyn_mut)
    }

    /// Group `group` if it is a Muon group, mutable (its precision, its learning rate).
    pub fn muon_group_mut(&mut self, group: usize) -> Option<&mut GpuMuon> {
        match self.groups.get_mut(group) {
            Some(GpuGroup::Muon(g)) => Some(g),
            _ => None,
        }
    }

    /// Group `group` if it is an AdamW group, mutable.
    pub fn adamw_group_mut(&mut self, group: usize) -> Option<&mut GpuAdam> {
        match self.groups.get_mut(group) {
            Some(GpuGroup::AdamW(g)) => Some(g),
            _ => None,
        }
    }

    /// The [`GpuOptimizer::MUON`] group.
    #[must_use]
    pub fn muon(&self) -> &GpuMuon {
        match &self.groups[Self::MUON] {
            GpuGroup::Muon(g) => g,
            GpuGroup::AdamW(_) => unreachable!("group 0 is made a Muon group and never replaced"),
        }
    }

    /// The [`GpuOptimizer::MUON`] group, mutable (its precision, its learning rate).
    pub fn muon_mut(&mut self) -> &mut GpuMuon {
        match &mut self.groups[Self::MUON] {
            GpuGroup::Muon(g) => g,
            GpuGroup::AdamW(_) => unreachable!("group 0 is made a Muon group and never replaced"),
        }
    }

    /// The [`GpuOptimizer::ADAMW`] group.
    #[must_use]
    pub fn adamw(&self) -> &GpuAdam {
        match &self.groups[Self::ADAMW] {
            GpuGroup::AdamW(g) => g,
            GpuGroup::Muon(_) => unreachable!("group 1 is made an AdamW group and never replaced"),
        }
    }

    /// The [`GpuOptimizer::ADAMW`] group, mutable (its learning rate).
    pub fn adamw_mut(&mut self) -> &mut GpuAdam {
        match &mut self.groups[Self::ADAMW] {
            GpuGroup::AdamW(g) => g,
            GpuGroup::Muon(_) => unreachable!("group 1 is made an AdamW group and never replaced"),
        }
    }

    /// Sets group `group`'s learning rate for the next steps: a uniform write, no rebuild, so
    /// a schedule calls it before every [`GpuOptimizer::step`].
    ///
    /// # Errors
    /// [`GpuError::InvalidGroup`]; the core's validation of `lr` (as [`GpuError::Core`]).
    /// Nothing changes on an error.
    pub fn set_lr(&mut self, group: usize, lr: f32) -> Result<(), GpuError> {
        self.groups
            .get_mut(group)
            .ok_or(GpuError::InvalidGroup {
                group,
                reason: "no such group",
            })?
            .as_dyn_mut()
            .set_lr(lr)
    }

    /// Reads parameter `index`'s optimizer state (waits for the device): save it with the
    /// weights ([`GpuMatrix::read`]) to checkpoint; restore it with [`GpuOptimizer::set_state`].
    /// The state is checked as `set_state` checks it, so a state returned here always
    /// restores into this optimizer.
    ///
    /// # Errors
    /// [`GpuError::UnknownParam`], [`GpuError::Readback`] or a device error;
    /// [`GpuError::InvalidState`] if the device holds a state `set_state` would refuse (a
    /// guard: the kernels saturate the moments and the momentum, so a step from valid state
    /// keeps it valid).
    pub fn state(&self, index: usize) -> Result<ParamState, GpuError> {
        let a = self.assigned(index).ok_or(GpuError::UnknownParam(index))?;
        self.groups[a.group]
            .as_dyn()
            .state(a.index)
            .map_err(|e| self.renumber(a.group, e))
    }

    /// Restores parameter `index`'s optimizer state ([`GpuMuon::set_momentum`] or
    /// [`GpuAdam::set_moments`], validated the same way); queued, it lands before the next
    /// submission.
    ///
    /// # Errors
    /// [`GpuError::UnknownParam`]; [`GpuError::StateKindMismatch`] if `state` is for the other
    /// kind of group; the setters' errors. On any error nothing is written.
    pub fn set_state(&mut self, index: usize, state: &ParamState) -> Result<(), GpuError> {
        let a = self.assigned(index).ok_or(GpuError::UnknownParam(index))?;
        let result = self.groups[a.group].as_dyn_mut().set_state(a.index, state);
        result.map_err(|e| self.renumber(a.group, e))
    }

    /// `e` from group `group`, its parameter index (a group's own) made this optimizer's.
    fn renumber(&self, group: usize, e: GpuError) -> GpuError {
        let global = |index: usize| {
            self.params
                .iter()
                .position(|a| *a == Assigned { group, index })
                .unwrap_or(index)
        };
        match e {
            GpuError::StateKindMismatch { param, optimizer } => GpuError::StateKindMismatch {
                param: global(param),
                optimizer,
            },
            GpuError::UnknownParam(param) => GpuError::UnknownParam(global(param)),
            other => other,
        }
    }

    /// Records one step of every parameter of every group into `pass`.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        for g in &self.groups {
            g.as_dyn().encode(pass);
        }
    }

    /// One step of every parameter, every group, in one submission. Does not wait.
    pub fn step(&self) -> wgpu::SubmissionIndex {
        self.ctx
            .submit_pass("optimizer step", |pass| self.encode(pass))
    }

    /// Reports skipped steps (NaN/Inf gradients) of every group: every parameter with a
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
        self.params
            .iter()
            .filter_map(|a| match &self.groups[a.group] {
                GpuGroup::Muon(g) => g.guard(a.index),
                GpuGroup::AdamW(g) => g.guard(a.index),
            })
    }
}
