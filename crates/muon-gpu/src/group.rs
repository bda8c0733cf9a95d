//! [`GpuParamGroup`]: what every group of device-resident parameters does, whichever
//! optimizer steps it ([`GpuMuon`], [`GpuAdam`]), so [`crate::GpuOptimizer`] and user code drive
//! them alike.

use crate::status::ParamStatus;
use crate::{GpuAdam, GpuContext, GpuError, GpuMatrix, GpuMuon, ParamState};

/// A set of parameters on the device stepped by one optimizer with one configuration.
///
/// Register parameters once; then each step records every parameter into one compute pass
/// ([`GpuParamGroup::encode`], or [`GpuParamGroup::step`] for a submission of its own) with no
/// allocation, upload or readback; [`GpuParamGroup::set_lr`] before a step is a uniform write.
pub trait GpuParamGroup {
    /// The context the group's buffers live on.
    fn context(&self) -> &GpuContext;

    /// `"Muon"` or `"AdamW"` (the name errors use).
    fn kind(&self) -> &'static str;

    /// Registers a parameter and its gradient buffer; returns its index in the group.
    ///
    /// # Errors
    /// Shape mismatches, aliased or already-registered buffers, foreign contexts, buffers
    /// over the device's limits: see the group's own `add_param`.
    fn add_param(&mut self, param: &GpuMatrix, grad: &GpuMatrix) -> Result<usize, GpuError>;

    /// Number of registered parameters.
    fn len(&self) -> usize;

    /// Whether no parameter is registered.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records one step of every parameter into `pass`.
    fn encode(&self, pass: &mut wgpu::ComputePass<'_>);

    /// One step of every parameter in one submission. Does not wait for the device.
    fn step(&self) -> wgpu::SubmissionIndex {
        self.context()
            .submit_pass("parameter group step", |pass| self.encode(pass))
    }

    /// The learning rate the next step applies.
    fn lr(&self) -> f32;

    /// Changes the learning rate (validated as the core does); queued as a uniform write that
    /// lands before the next submission. Nothing is rebuilt.
    ///
    /// # Errors
    /// [`GpuError::Core`] with `MuonError::InvalidHyperParameter`; nothing changes then.
    fn set_lr(&mut self, lr: f32) -> Result<(), GpuError>;

    /// Every parameter's step record (waits for the device).
    ///
    /// # Errors
    /// [`GpuError::Readback`].
    fn status(&self) -> Result<Vec<ParamStatus>, GpuError>;

    /// Reports skipped steps (NaN/Inf gradients): every reported parameter of the group (its
    /// index in the group) in one list, read in one readback; exactly those reports are
    /// cleared.
    ///
    /// # Errors
    /// [`GpuError::NonFiniteGradients`], [`GpuError::Readback`] or a device error.
    fn check(&mut self) -> Result<(), GpuError>;

    /// Parameter `index`'s optimizer state (waits for the device), checked as
    /// [`GpuParamGroup::set_state`] checks it, so what it returns always restores.
    ///
    /// # Errors
    /// [`GpuError::UnknownParam`], [`GpuError::Readback`], a device error, or
    /// [`GpuError::InvalidState`] for a state `set_state` would refuse.
    fn state(&self, index: usize) -> Result<ParamState, GpuError>;

    /// Restores parameter `index`'s optimizer state, validated; queued.
    ///
    /// # Errors
    /// [`GpuError::UnknownParam`], [`GpuError::StateKindMismatch`] (with `param: index`),
    /// [`GpuError::InvalidState`] and length errors; on any error nothing is written.
    fn set_state(&mut self, index: usize, state: &ParamState) -> Result<(), GpuError>;
}

impl GpuParamGroup for GpuMuon {
    fn context(&self) -> &GpuContext {
        GpuMuon::context(self)
    }

    fn kind(&self) -> &'static str {
        "Muon"
    }

    fn add_param(&mut self, param: &GpuMatrix, grad: &GpuMatrix) -> Result<usize, GpuError> {
        GpuMuon::add_param(self, param, grad)
    }

    fn len(&self) -> usize {
        GpuMuon::len(self)
    }

    fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        GpuMuon::encode(self, pass);
    }

    fn lr(&self) -> f32 {
        self.config().lr
    }

    fn set_lr(&mut self, lr: f32) -> Result<(), GpuError> {
        GpuMuon::set_lr(self, lr)
    }

    fn status(&self) -> Result<Vec<ParamStatus>, GpuError> {
        GpuMuon::status(self)
    }

    fn check(&mut self) -> Result<(), GpuError> {
        GpuMuon::check(self)
    }

    fn state(&self, index: usize) -> Result<ParamState, GpuError> {
        let momentum = self.momentum(index)?;
        self.check_momentum(index, &momentum)?;
        Ok(ParamState::Muon { momentum })
    }

    fn set_state(&mut self, index: usize, state: &ParamState) -> Result<(), GpuError> {
        match state {
            ParamState::Muon { momentum } => self.set_momentum(index, momentum),
            ParamState::AdamW { .. } => Err(mismatch(self, index)),
        }
    }
}

impl GpuParamGroup for GpuAdam {
    fn context(&self) -> &GpuContext {
        GpuAdam::context(self)
    }

    fn kind(&self) -> &'static str {
        "AdamW"
    }

    fn add_param(&mut self, param: &GpuMatrix, grad: &GpuMatrix) -> Result<usize, GpuError> {
        GpuAdam::add_param(self, param, grad)
    }

    fn len(&self) -> usize {
        GpuAdam::len(self)
    }

    fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        GpuAdam::encode(self, pass);
    }

    fn lr(&self) -> f32 {
        GpuAdam::lr(self)
    }

    fn set_lr(&mut self, lr: f32) -> Result<(), GpuError> {
        GpuAdam::set_lr(self, lr)
    }

    fn status(&self) -> Result<Vec<ParamStatus>, GpuError> {
        GpuAdam::status(self)
    }

    fn check(&mut self) -> Result<(), GpuError> {
        GpuAdam::check(self)
    }

    fn state(&self, index: usize) -> Result<ParamState, GpuError> {
        let step = GpuAdam::status(self)?
            .get(index)
            .ok_or(GpuError::UnknownParam(index))?
            .steps;
        let (m, v) = self.moments(index)?;
        self.encode_moments(index, &m, &v)?;
        Ok(ParamState::AdamW { step, m, v })
    }

    fn set_state(&mut self, index: usize, state: &ParamState) -> Result<(), GpuError> {
        match state {
            ParamState::AdamW { step, m, v } => self.set_moments(index, *step, m, v),
            ParamState::Muon { .. } => Err(mismatch(self, index)),
        }
    }
}

/// The error for a state of the other kind than `group`'s, naming parameter `index`
/// ([`GpuError::UnknownParam`] first, if there is no such parameter).
fn mismatch(group: &dyn GpuParamGroup, index: usize) -> GpuError {
    if index >= group.len() {
        return GpuError::UnknownParam(index);
    }
    GpuError::StateKindMismatch {
        param: index,
        optimizer: group.kind(),
    }
}
