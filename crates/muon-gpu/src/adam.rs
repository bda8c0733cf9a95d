//! [`GpuAdam`]: Adam/AdamW with parameters, gradients and state resident on the device.

use muon_core::MuonError;
use muon_core::adam::{Adam, AdamConfig};
use wgpu::util::DeviceExt;

use crate::kernels::{
    AdamParams, CheckParams, scalar_table, storage_buffer_zeroed, uniform_buffer,
};
use crate::readback::read_f32;
use crate::status::{ParamStatus, check_statuses, read_statuses, status_buffer};
use crate::{GpuContext, GpuError, GpuMatrix};

/// One parameter's device state and bind groups.
#[derive(Debug)]
struct AdamSlot {
    param: GpuMatrix,
    grad: GpuMatrix,
    m: wgpu::Buffer,
    v: wgpu::Buffer,
    status: wgpu::Buffer,
    check_bg: wgpu::BindGroup,
    adam_bg: wgpu::BindGroup,
}

/// Adam/AdamW (`muon_core::adam::Adam` semantics and hyper-parameters, `f32` moments) on the
/// device, stepping every registered parameter in one submission.
///
/// The bias corrections come from a table the core computes once ([`Adam::scalars`], in
/// `f64`), indexed on the device by each parameter's own step count, so a step uploads
/// nothing. A NaN/Inf gradient skips that parameter's step on the device (parameter, moments
/// and step count untouched, as in the core); [`GpuAdam::check`] reports it.
#[derive(Debug)]
pub struct GpuAdam {
    ctx: GpuContext,
    adam: Adam,
    table: wgpu::Buffer,
    table_len: u32,
    converged: bool,
    slots: Vec<AdamSlot>,
}

impl GpuAdam {
    /// An optimizer with no parameters yet.
    #[must_use]
    pub fn new(ctx: &GpuContext, adam: Adam) -> Self {
        let (table, table_len, converged) = Self::make_table(ctx, &adam);
        Self {
            ctx: ctx.clone(),
            adam,
            table,
            table_len,
            converged,
            slots: Vec::new(),
        }
    }

    /// Validates `config` (the core's checks) and returns the optimizer.
    ///
    /// # Errors
    /// [`GpuError::Core`] with [`MuonError::InvalidHyperParameter`].
    pub fn from_config(ctx: &GpuContext, config: AdamConfig) -> Result<Self, GpuError> {
        Ok(Self::new(ctx, config.build()?))
    }

    fn make_table(ctx: &GpuContext, adam: &Adam) -> (wgpu::Buffer, u32, bool) {
        let (table, converged) = scalar_table(adam);
        let buffer = ctx
            .device()
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("adam scalars"),
                contents: bytemuck::cast_slice(&table),
                usage: wgpu::BufferUsages::STORAGE,
            });
        (buffer, table.len() as u32, converged)
    }

    /// The hyper-parameters.
    #[must_use]
    pub fn config(&self) -> &AdamConfig {
        self.adam.config()
    }

    /// Number of registered parameters.
    #[must_use]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no parameter is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn bind_groups(
        &self,
        param: &GpuMatrix,
        grad: &GpuMatrix,
        m: &wgpu::Buffer,
        v: &wgpu::Buffer,
        status: &wgpu::Buffer,
    ) -> (wgpu::BindGroup, wgpu::BindGroup) {
        let device = self.ctx.device();
        let k = self.ctx.kernels();
        let len = param.len() as u32;
        let check_u = uniform_buffer(device, "check params", &CheckParams { len, _pad: [0; 3] });
        let check_bg = k
            .check_finite
            .bind_group(device, &check_u, grad.buffer(), status);
        let params = AdamParams::new(&self.adam, len, self.table_len, self.converged);
        let adam_u = uniform_buffer(device, "adam params", &params);
        let adam_bg = k.adam_update.bind_group(
            device,
            &adam_u,
            &self.table,
            grad.buffer(),
            param.buffer(),
            m,
            v,
            status,
        );
        (check_bg, adam_bg)
    }

    /// Registers `param` (any shape; treated as flat) and its gradient buffer; returns its
    /// index.
    ///
    /// # Errors
    /// [`MuonError::ShapeMismatch`] (as [`GpuError::Core`]) if the shapes differ,
    /// [`GpuError::AliasedBuffers`] if they share a buffer.
    pub fn add_param(&mut self, param: &GpuMatrix, grad: &GpuMatrix) -> Result<usize, GpuError> {
        if grad.shape() != param.shape() {
            return Err(MuonError::ShapeMismatch {
                what: "grad",
                expected: param.shape(),
                found: grad.shape(),
            }
            .into());
        }
        if param.same_buffer(grad) {
            return Err(GpuError::AliasedBuffers {
                what: "param and grad",
            });
        }
        let device = self.ctx.device();
        let bytes = param.len() as u64 * 4;
        let m = storage_buffer_zeroed(device, "adam m", bytes);
        let v = storage_buffer_zeroed(device, "adam v", bytes);
        let status = status_buffer(device);
        let (check_bg, adam_bg) = self.bind_groups(param, grad, &m, &v, &status);
        self.slots.push(AdamSlot {
            param: param.clone(),
            grad: grad.clone(),
            m,
            v,
            status,
            check_bg,
            adam_bg,
        });
        Ok(self.slots.len() - 1)
    }

    /// Records one step of every parameter into `pass`.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        let k = self.ctx.kernels();
        for s in &self.slots {
            let len = s.param.len() as u32;
            k.check_finite.dispatch_check(pass, &s.check_bg, len);
            k.adam_update.dispatch(pass, &s.adam_bg, len);
            k.check_finite.dispatch_commit(pass, &s.check_bg);
        }
    }

    /// One step of every parameter in one submission. Does not wait for the device.
    pub fn step(&self) -> wgpu::SubmissionIndex {
        let mut encoder =
            self.ctx
                .device()
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("adam step"),
                });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("adam step"),
                timestamp_writes: None,
            });
            self.encode(&mut pass);
        }
        self.ctx.queue().submit([encoder.finish()])
    }

    /// Changes the learning rate (validated as the core does). Rebuilds the bias-correction
    /// table and the bind groups: call it between steps, not in a hot loop.
    ///
    /// # Errors
    /// [`MuonError::InvalidHyperParameter`] (as [`GpuError::Core`]); nothing changes then.
    pub fn set_lr(&mut self, lr: f32) -> Result<(), GpuError> {
        self.adam = self.adam.config().with_lr(lr).build()?;
        let (table, table_len, converged) = Self::make_table(&self.ctx, &self.adam);
        self.table = table;
        self.table_len = table_len;
        self.converged = converged;
        let mut groups = Vec::with_capacity(self.slots.len());
        for s in &self.slots {
            groups.push(self.bind_groups(&s.param, &s.grad, &s.m, &s.v, &s.status));
        }
        for (s, (check_bg, adam_bg)) in self.slots.iter_mut().zip(groups) {
            s.check_bg = check_bg;
            s.adam_bg = adam_bg;
        }
        Ok(())
    }

    /// Reads every parameter's step record (waits for the device).
    ///
    /// # Errors
    /// [`GpuError::Readback`].
    pub fn status(&self) -> Result<Vec<ParamStatus>, GpuError> {
        let buffers: Vec<&wgpu::Buffer> = self.slots.iter().map(|s| &s.status).collect();
        read_statuses(&self.ctx, &buffers)
    }

    /// Reports skipped steps like [`crate::GpuMuon::check`], and clears the reports.
    ///
    /// # Errors
    /// [`GpuError::NonFiniteGradient`] or [`GpuError::Readback`].
    pub fn check(&mut self) -> Result<(), GpuError> {
        let buffers: Vec<&wgpu::Buffer> = self.slots.iter().map(|s| &s.status).collect();
        check_statuses(&self.ctx, &buffers)
    }

    /// Reads parameter `index`'s moments `(m, v)` (waits for the device).
    ///
    /// # Errors
    /// [`GpuError::UnknownParam`] or [`GpuError::Readback`].
    pub fn moments(&self, index: usize) -> Result<(Vec<f32>, Vec<f32>), GpuError> {
        let s = self.slots.get(index).ok_or(GpuError::UnknownParam(index))?;
        let n = s.param.len();
        Ok((read_f32(&self.ctx, &s.m, n)?, read_f32(&self.ctx, &s.v, n)?))
    }
}
