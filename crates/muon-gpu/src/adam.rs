//! [`GpuAdam`]: Adam/AdamW with parameters, gradients and state resident on the device.

#[cfg(doc)]
use muon_core::MuonError;
use muon_core::adam::{Adam, AdamConfig};

use crate::kernels::{
    AdamParams, ElementwiseBindGroups, buffer_init, scalar_table, storage_buffer_zeroed,
    uniform_buffer,
};
use crate::readback::read_buffers;
use crate::rollback::add_or_roll_back;
use crate::status::{GuardedParam, ParamStatus, check_statuses, check_unregistered, read_statuses};
use crate::{GpuContext, GpuError, GpuMatrix};

/// How [`GpuAdam`] stores its moments on the device: the formats of the core's
/// [`MomentStorage`](muon_core::adam::MomentStorage), rounded the same way (to nearest, ties
/// to even, by integer operations in the kernel), so a GPU trajectory matches the core's with
/// the same storage type.
///
/// Arithmetic is `f32` in every format; the 16-bit formats halve the optimizer state (4 bytes
/// per parameter instead of 8) at the cost of rounding the stored moments (relative 2⁻¹¹ for
/// f16, 2⁻⁸ for bf16). As in the core, every format saturates instead of overflowing (a
/// finite gradient of any size leaves the moments finite), and `F16` stores `√v`, so its range
/// (6e-8 to 65504) is the gradient's rather than its square's; [`GpuAdam::moments`] and
/// [`GpuAdam::set_moments`] still speak of `v` itself. `docs/moments.md` has the measured
/// accuracy of each format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MomentFormat {
    /// `f32`, as `muon_core`'s `f32` storage (the default).
    #[default]
    F32,
    /// IEEE binary16, as [`half::f16`](struct@half::f16).
    F16,
    /// bfloat16, as [`half::bf16`](struct@half::bf16).
    Bf16,
}

impl MomentFormat {
    /// The code `adam_step.wgsl` reads in its uniforms (0, 1, 2).
    #[must_use]
    pub const fn code(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Bf16 => 2,
        }
    }

    /// 32-bit words holding `len` moments (16-bit formats pack two per word).
    #[must_use]
    pub const fn words(self, len: u32) -> u32 {
        match self {
            Self::F32 => len,
            Self::F16 | Self::Bf16 => len.div_ceil(2),
        }
    }

    /// The bytes of `values` (the first moment, or with `second` the second moment `v`) as
    /// stored on the device in this format, padded to whole 32-bit words; the inverse of
    /// [`MomentFormat::decode`] for values the format holds exactly. 16-bit values are rounded
    /// to nearest, ties to even (the `half` crate's conversion, which the kernel's rounding
    /// matches bit for bit); `F16` stores `√v` for the second moment (as the core's
    /// `MomentStorage::store_v`).
    ///
    /// # Errors
    /// [`GpuError::InvalidState`] for the first value that rounds to an infinity here (no
    /// step stores one: steps saturate).
    fn encode(self, what: &'static str, values: &[f32], second: bool) -> Result<Vec<u8>, GpuError> {
        let mut bytes = Vec::with_capacity(self.words(values.len() as u32) as usize * 4);
        for (index, &value) in values.iter().enumerate() {
            let (bits, finite, reason) = match self {
                Self::F32 => {
                    bytes.extend_from_slice(&value.to_le_bytes());
                    continue;
                }
                Self::F16 if second => {
                    let h = half::f16::from_f32(value.sqrt());
                    (
                        h.to_bits(),
                        h.is_finite(),
                        "beyond the f16 range (√v > 65504)",
                    )
                }
                Self::F16 => {
                    let h = half::f16::from_f32(value);
                    (h.to_bits(), h.is_finite(), "beyond the f16 range")
                }
                Self::Bf16 => {
                    let h = half::bf16::from_f32(value);
                    (h.to_bits(), h.is_finite(), "beyond the bf16 range")
                }
            };
            if !finite {
                return Err(GpuError::InvalidState {
                    what,
                    index,
                    value,
                    reason,
                });
            }
            bytes.extend_from_slice(&bits.to_le_bytes());
        }
        bytes.resize(bytes.len().next_multiple_of(4), 0);
        Ok(bytes)
    }

    /// Widens the first `len` moments stored in `bytes` (little-endian words); with `second`,
    /// the second moment `v` they encode (`F16` holds `r = √v`: `v = r·r`, exact in `f32`).
    fn decode(self, bytes: &[u8], len: usize, second: bool) -> Vec<f32> {
        match self {
            Self::F32 => bytemuck::pod_collect_to_vec(bytes.get(..len * 4).unwrap_or(bytes)),
            Self::F16 | Self::Bf16 => bytes
                .chunks_exact(2)
                .take(len)
                .map(|h| {
                    let bits = u16::from_le_bytes([h[0], h[1]]);
                    if self == Self::F16 {
                        let r = half::f16::from_bits(bits).to_f32();
                        if second { r * r } else { r }
                    } else {
                        half::bf16::from_bits(bits).to_f32()
                    }
                })
                .collect(),
        }
    }
}

/// One parameter's device state and bind group.
#[derive(Debug)]
struct AdamSlot {
    guard: GuardedParam,
    m: wgpu::Buffer,
    v: wgpu::Buffer,
    /// The `AdamParams` uniforms, rewritten by [`GpuAdam::set_lr`].
    params: wgpu::Buffer,
    adam_bg: ElementwiseBindGroups,
}

/// Adam/AdamW (`muon_core::adam::Adam` semantics and hyper-parameters; moments in `f32` or,
/// with [`GpuAdam::with_moments`], a 16-bit [`MomentFormat`]) on the device, stepping every
/// registered parameter in one submission.
///
/// The bias corrections come from a table the core computes once ([`Adam::scalars`], in
/// `f64`), indexed on the device by each parameter's own step count, so a step uploads
/// nothing; the learning rate is a uniform ([`GpuAdam::set_lr`] writes it, for schedules). A NaN/Inf gradient skips that parameter's step on the device (parameter, moments
/// and step count untouched, as in the core); [`GpuAdam::check`] reports it.
#[derive(Debug)]
pub struct GpuAdam {
    ctx: GpuContext,
    adam: Adam,
    format: MomentFormat,
    table: wgpu::Buffer,
    table_len: u32,
    converged: bool,
    slots: Vec<AdamSlot>,
}

impl GpuAdam {
    /// An optimizer with no parameters yet, `f32` moments.
    #[must_use]
    pub fn new(ctx: &GpuContext, adam: Adam) -> Self {
        Self::with_moments(ctx, adam, MomentFormat::F32)
    }

    /// An optimizer with no parameters yet whose moments are stored as `format`.
    #[must_use]
    pub fn with_moments(ctx: &GpuContext, adam: Adam, format: MomentFormat) -> Self {
        let (table, table_len, converged) = Self::make_table(ctx, &adam);
        Self {
            ctx: ctx.clone(),
            adam,
            format,
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
        let buffer = buffer_init(
            ctx.device(),
            "adam scalars",
            bytemuck::cast_slice(&table),
            wgpu::BufferUsages::STORAGE,
        );
        (buffer, table.len() as u32, converged)
    }

    /// The hyper-parameters.
    #[must_use]
    pub fn config(&self) -> &AdamConfig {
        self.adam.config()
    }

    /// The context this optimizer's buffers live on.
    #[must_use]
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// How the moments are stored.
    #[must_use]
    pub fn moment_format(&self) -> MomentFormat {
        self.format
    }

    /// The registration of parameter `index` (for cross-group checks).
    pub(crate) fn guard(&self, index: usize) -> Option<&GuardedParam> {
        self.slots.get(index).map(|s| &s.guard)
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

    /// The `AdamParams` uniforms of a `len`-element parameter under the current config.
    fn params(&self, len: u32) -> AdamParams {
        AdamParams::new(&self.adam, len, self.format, self.table_len, self.converged)
    }

    /// Registers `param` (any shape; treated as flat) and its gradient buffer; returns its
    /// index.
    ///
    /// # Errors
    /// [`MuonError::ShapeMismatch`] (as [`GpuError::Core`]) if the shapes differ,
    /// [`GpuError::AliasedBuffers`] if they share a buffer, [`GpuError::AlreadyRegistered`]
    /// if either is already a parameter or gradient of this optimizer; [`GpuError::OutOfMemory`],
    /// [`GpuError::DeviceLost`] or another device error (the parameter is then not
    /// registered).
    pub fn add_param(&mut self, param: &GpuMatrix, grad: &GpuMatrix) -> Result<usize, GpuError> {
        let ctx = self.ctx.clone();
        add_or_roll_back(
            &ctx,
            self,
            |this| &mut this.slots,
            |this| this.add_param_unscoped(param, grad),
        )
    }

    /// [`Self::add_param`] without the error scopes.
    fn add_param_unscoped(
        &mut self,
        param: &GpuMatrix,
        grad: &GpuMatrix,
    ) -> Result<usize, GpuError> {
        check_unregistered(self.slots.iter().map(|s| &s.guard), param, grad)?;
        let guard = GuardedParam::new(&self.ctx, param, grad)?;
        let device = self.ctx.device();
        let bytes = u64::from(self.format.words(guard.len())) * 4;
        let m = storage_buffer_zeroed(device, "adam m", bytes);
        let v = storage_buffer_zeroed(device, "adam v", bytes);
        let params = uniform_buffer(device, "adam params", &self.params(guard.len()));
        let adam_bg = self.ctx.kernels().adam_update.bind_group(
            device,
            &params,
            &self.table,
            guard.grad.binding(),
            guard.param.binding(),
            &m,
            &v,
            guard.status(),
            guard.len(),
            self.format,
        );
        self.slots.push(AdamSlot {
            guard,
            m,
            v,
            params,
            adam_bg,
        });
        Ok(self.slots.len() - 1)
    }

    /// Records one step of every parameter into `pass`.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        let k = self.ctx.kernels();
        for s in &self.slots {
            s.guard.encode(k, pass, |pass| {
                k.adam_update.dispatch(pass, &s.adam_bg, self.format);
            });
        }
    }

    /// One step of every parameter in one submission. Does not wait for the device.
    pub fn step(&self) -> wgpu::SubmissionIndex {
        self.ctx.submit_pass("adam step", |pass| self.encode(pass))
    }

    /// Changes the learning rate (validated as the core does), for schedules: the new
    /// uniforms (48 bytes per parameter) are queued for upload before the next submission;
    /// nothing is rebuilt, so calling it before every step costs no more than the writes.
    /// Steps then match the core's `Adam::set_lr` + `step` bit for bit.
    ///
    /// # Errors
    /// [`MuonError::InvalidHyperParameter`] (as [`GpuError::Core`]), [`GpuError::DeviceLost`]
    /// or another device error; nothing changes then.
    pub fn set_lr(&mut self, lr: f32) -> Result<(), GpuError> {
        let mut adam = self.adam;
        adam.set_lr(lr)?;
        let writes = self.ctx.scoped(|| {
            for s in &self.slots {
                let p = AdamParams::new(
                    &adam,
                    s.guard.len(),
                    self.format,
                    self.table_len,
                    self.converged,
                );
                self.ctx
                    .queue()
                    .write_buffer(&s.params, 0, bytemuck::bytes_of(&p));
            }
        });
        writes?;
        self.adam = adam;
        Ok(())
    }

    /// The learning rate the next step applies.
    #[must_use]
    pub fn lr(&self) -> f32 {
        self.adam.config().lr
    }

    /// Reads every parameter's step record (waits for the device).
    ///
    /// # Errors
    /// [`GpuError::Readback`].
    pub fn status(&self) -> Result<Vec<ParamStatus>, GpuError> {
        read_statuses(&self.ctx, self.slots.iter().map(|s| &s.guard))
    }

    /// Reports skipped steps like [`crate::GpuMuon::check`]: every parameter with a report,
    /// as [`GpuError::NonFiniteGradients`], those reports cleared.
    ///
    /// # Errors
    /// [`GpuError::NonFiniteGradients`], [`GpuError::Readback`] or a device error (then
    /// nothing is cleared).
    pub fn check(&mut self) -> Result<(), GpuError> {
        check_statuses(&self.ctx, self.slots.iter().map(|s| &s.guard))
    }

    /// Reads parameter `index`'s moments `(m, v)`, widened to `f32` (waits for the device).
    /// With its step count (`status()?[index].steps`) this is the parameter's whole Adam
    /// state, the values of the core's [`AdamSlots`](muon_core::adam::AdamSlots): save it to
    /// checkpoint, restore it with [`GpuAdam::set_moments`].
    ///
    /// # Errors
    /// [`GpuError::UnknownParam`] or [`GpuError::Readback`].
    pub fn moments(&self, index: usize) -> Result<(Vec<f32>, Vec<f32>), GpuError> {
        let s = self.slots.get(index).ok_or(GpuError::UnknownParam(index))?;
        let bytes = u64::from(self.format.words(s.guard.len())) * 4;
        let words = read_buffers(&self.ctx, &[(&s.m, bytes), (&s.v, bytes)])?;
        let n = s.guard.param.len();
        match words.as_slice() {
            [m, v] => Ok((
                self.format.decode(m, n, false),
                self.format.decode(v, n, true),
            )),
            _ => Err(GpuError::Readback("expected two moment buffers".into())),
        }
    }

    /// Validates parameter `index`'s moments as [`GpuAdam::set_moments`] does and returns
    /// their device bytes `(m, v)`.
    pub(crate) fn encode_moments(
        &self,
        index: usize,
        m: &[f32],
        v: &[f32],
    ) -> Result<(Vec<u8>, Vec<u8>), GpuError> {
        let s = self.slots.get(index).ok_or(GpuError::UnknownParam(index))?;
        s.guard.check_state("m", m)?;
        s.guard.check_state("v", v)?;
        if let Some((i, &value)) = v.iter().enumerate().find(|(_, x)| **x < 0.0) {
            return Err(GpuError::InvalidState {
                what: "v",
                index: i,
                value,
                reason: "negative (a second moment is a mean of squares)",
            });
        }
        Ok((
            self.format.encode("m", m, false)?,
            self.format.encode("v", v, true)?,
        ))
    }

    /// Restores parameter `index`'s Adam state: the step count `step` (Adam's `t`, which the
    /// bias corrections use) and the moments `m`, `v` (`f32`, one per parameter element,
    /// row-major). Use it to resume from a checkpoint ([`GpuAdam::moments`] and
    /// [`GpuAdam::status`]) or to move training from the core (`AdamSlots`' `step`, `m`, `v`)
    /// to the device. Queued like [`GpuMatrix::write`]: it lands before the next submission.
    ///
    /// With a 16-bit [`MomentFormat`] the moments are rounded as a step would store them, so
    /// moments read back from an optimizer of the same format are restored bit for bit.
    ///
    /// # Errors
    /// [`GpuError::UnknownParam`]; [`MuonError::LengthMismatch`] (as [`GpuError::Core`]) if
    /// `m` or `v` is not as long as the parameter; [`GpuError::InvalidState`] for a NaN or
    /// infinite moment, a negative `v`, or a moment beyond the 16-bit format's range;
    /// [`GpuError::DeviceLost`] or another device error. On any error nothing is written.
    pub fn set_moments(
        &mut self,
        index: usize,
        step: u32,
        m: &[f32],
        v: &[f32],
    ) -> Result<(), GpuError> {
        let s = self.slots.get(index).ok_or(GpuError::UnknownParam(index))?;
        let (m_bytes, v_bytes) = self.encode_moments(index, m, v)?;
        self.ctx.scoped(|| {
            let queue = self.ctx.queue();
            queue.write_buffer(&s.m, 0, &m_bytes);
            queue.write_buffer(&s.v, 0, &v_bytes);
            s.guard.write_steps(&self.ctx, step);
        })
    }
}
