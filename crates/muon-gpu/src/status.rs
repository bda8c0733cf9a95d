//! Per-parameter step status on the device: the NaN/Inf policy without readback in a step.
//!
//! Each parameter owns 16 bytes on the device (`check_status.wgsl`'s `Status`): this step's
//! non-finite flag, the count of skipped steps, the first bad index of the latest skipped step,
//! and the count of applied steps. The update kernels are no-ops while the flag is set, so a
//! NaN or infinite gradient leaves the parameter and its optimizer state untouched, as in the
//! core; the host learns about it when it asks ([`crate::GpuMuon::check`],
//! [`crate::GpuAdam::check`], [`crate::GpuOptimizer::check`]), never by stalling a step.

use muon_core::MuonError;

use crate::error::SkippedSteps;
use crate::kernels::{
    CheckParams, ElementwiseBindGroups, Kernels, storage_buffer_zeroed, uniform_buffer,
};
use crate::readback::read_buffers;
use crate::{GpuContext, GpuError, GpuMatrix};

/// Bytes of one parameter's status.
pub(crate) const STATUS_BYTES: u64 = 16;

/// Byte offset of [`StatusWords::steps`].
const STEPS_OFFSET: u64 = core::mem::offset_of!(StatusWords, steps) as u64;

/// The status words as stored on the device.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct StatusWords {
    bad: u32,
    skipped: u32,
    last_bad: u32,
    steps: u32,
}

/// One parameter's step record, read back on request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParamStatus {
    /// Steps applied (for Adam, its bias-correction step `t`).
    pub steps: u32,
    /// Steps skipped for a NaN/Inf gradient since the last [`crate::GpuMuon::check`] (or
    /// `GpuAdam::check`, `GpuOptimizer::check`).
    pub skipped_steps: u32,
    /// The first non-finite gradient index of the latest skipped step.
    pub last_bad_index: Option<usize>,
}

/// What every optimizer keeps per parameter besides its own state: the parameter, the buffer
/// its gradient is written to, and the step status that `check_status.wgsl` guards each of its
/// steps with.
#[derive(Debug)]
pub(crate) struct GuardedParam {
    /// The parameter.
    pub(crate) param: GpuMatrix,
    /// Its gradient buffer.
    pub(crate) grad: GpuMatrix,
    /// Its status (`STATUS_BYTES`, zeroed at registration).
    status: wgpu::Buffer,
    /// `check_finite` bound to the gradient and the status.
    check_bg: ElementwiseBindGroups,
}

impl GuardedParam {
    /// Whether `m` shares bytes with this parameter or its gradient (views of one pooled
    /// buffer at disjoint ranges do not).
    pub(crate) fn uses(&self, m: &GpuMatrix) -> bool {
        self.param.overlaps(m) || self.grad.overlaps(m)
    }

    /// Validates a registration (same shape, distinct buffers) and allocates the status.
    ///
    /// # Errors
    /// [`MuonError::ShapeMismatch`] (as [`GpuError::Core`]) if the shapes differ,
    /// [`GpuError::AliasedBuffers`] if they share a buffer, [`GpuError::ForeignContext`] if
    /// either was made by another context.
    pub(crate) fn new(
        ctx: &GpuContext,
        param: &GpuMatrix,
        grad: &GpuMatrix,
    ) -> Result<Self, GpuError> {
        param.check_context(ctx, "param")?;
        grad.check_context(ctx, "grad")?;
        if grad.shape() != param.shape() {
            return Err(MuonError::ShapeMismatch {
                what: "grad",
                expected: param.shape(),
                found: grad.shape(),
            }
            .into());
        }
        // Even at disjoint offsets: the update kernels bind the parameter read-write and the
        // gradient read-only in one dispatch, which WebGPU forbids for one buffer.
        if param.same_buffer(grad) {
            return Err(GpuError::AliasedBuffers {
                what: "param and grad",
            });
        }
        let device = ctx.device();
        let status = storage_buffer_zeroed(device, "param status", STATUS_BYTES);
        let len = param.len_u32();
        let check_u = uniform_buffer(device, "check params", &CheckParams { len, _pad: [0; 3] });
        let check_bg =
            ctx.kernels()
                .check_finite
                .bind_group(device, &check_u, grad.binding(), &status, len);
        Ok(Self {
            param: param.clone(),
            grad: grad.clone(),
            status,
            check_bg,
        })
    }

    /// Number of elements of the parameter.
    pub(crate) fn len(&self) -> u32 {
        self.param.len_u32()
    }

    /// The status buffer (bound by the update kernels, which skip a flagged step).
    pub(crate) fn status(&self) -> &wgpu::Buffer {
        &self.status
    }

    /// Checks optimizer state handed to a `set_*` call for this parameter: one value per
    /// element, all finite.
    ///
    /// # Errors
    /// [`MuonError::LengthMismatch`] (as [`GpuError::Core`]) or [`GpuError::InvalidState`].
    pub(crate) fn check_state(&self, what: &'static str, values: &[f32]) -> Result<(), GpuError> {
        let len = self.param.len();
        if values.len() != len {
            return Err(MuonError::LengthMismatch {
                what,
                expected: len,
                found: values.len(),
            }
            .into());
        }
        match values.iter().position(|x| !x.is_finite()) {
            Some(index) => Err(GpuError::InvalidState {
                what,
                index,
                value: values[index],
                reason: "not finite",
            }),
            None => Ok(()),
        }
    }

    /// Sets the applied-step count (Adam's `t`; queued, lands before the next submission).
    pub(crate) fn write_steps(&self, ctx: &GpuContext, steps: u32) {
        ctx.queue()
            .write_buffer(&self.status, STEPS_OFFSET, bytemuck::bytes_of(&steps));
    }

    /// Records one guarded step: the NaN/Inf check, `update`, then the bookkeeping.
    pub(crate) fn encode(
        &self,
        kernels: &Kernels,
        pass: &mut wgpu::ComputePass<'_>,
        update: impl FnOnce(&mut wgpu::ComputePass<'_>),
    ) {
        kernels.check_finite.dispatch_check(pass, &self.check_bg);
        update(pass);
        kernels.check_finite.dispatch_commit(pass, &self.check_bg);
    }
}

/// Reads the statuses of `params` (one submission, one wait).
pub(crate) fn read_statuses<'a>(
    ctx: &GpuContext,
    params: impl IntoIterator<Item = &'a GuardedParam>,
) -> Result<Vec<ParamStatus>, GpuError> {
    let buffers: Vec<&wgpu::Buffer> = params.into_iter().map(|p| &p.status).collect();
    read_buffer_statuses(ctx, &buffers)
}

fn read_buffer_statuses(
    ctx: &GpuContext,
    buffers: &[&wgpu::Buffer],
) -> Result<Vec<ParamStatus>, GpuError> {
    let ranges: Vec<(&wgpu::Buffer, u64)> = buffers.iter().map(|b| (*b, STATUS_BYTES)).collect();
    let bytes = read_buffers(ctx, &ranges)?;
    Ok(bytes
        .iter()
        .map(|b| {
            let w: StatusWords = bytemuck::pod_read_unaligned(b);
            ParamStatus {
                steps: w.steps,
                skipped_steps: w.skipped,
                last_bad_index: (w.skipped > 0).then_some((u32::MAX - w.last_bad) as usize),
            }
        })
        .collect())
}

/// Reads the statuses of `params` (one readback), clears every skipped-step report, and
/// returns them all as [`GpuError::NonFiniteGradients`] (`param` = position in `params`):
/// nothing is cleared unread, and a failed readback clears nothing.
pub(crate) fn check_statuses<'a>(
    ctx: &GpuContext,
    params: impl IntoIterator<Item = &'a GuardedParam>,
) -> Result<(), GpuError> {
    let buffers: Vec<&wgpu::Buffer> = params.into_iter().map(|p| &p.status).collect();
    let statuses = read_buffer_statuses(ctx, &buffers)?;
    let reports: Vec<SkippedSteps> = statuses
        .iter()
        .enumerate()
        .filter(|(_, s)| s.skipped_steps > 0)
        .map(|(param, s)| SkippedSteps {
            param,
            index: s.last_bad_index.unwrap_or(0),
            skipped_steps: s.skipped_steps,
        })
        .collect();
    if reports.is_empty() {
        return Ok(());
    }
    ctx.scoped(|| {
        for r in &reports {
            ctx.queue()
                .write_buffer(buffers[r.param], 4, bytemuck::cast_slice(&[0u32, 0u32]));
        }
    })?;
    Err(GpuError::NonFiniteGradients(reports))
}

/// Refuses a registration whose `param` or `grad` is already a buffer of one of `registered`
/// (in registration order): [`GpuError::AlreadyRegistered`] with that parameter's index.
pub(crate) fn check_unregistered<'a>(
    registered: impl IntoIterator<Item = &'a GuardedParam>,
    param: &GpuMatrix,
    grad: &GpuMatrix,
) -> Result<(), GpuError> {
    for (index, g) in registered.into_iter().enumerate() {
        for (what, m) in [("param", param), ("grad", grad)] {
            if g.uses(m) {
                return Err(GpuError::AlreadyRegistered { what, index });
            }
        }
    }
    Ok(())
}
