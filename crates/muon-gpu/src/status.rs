//! Per-parameter step status on the device: the NaN/Inf policy without readback in a step.
//!
//! Each parameter owns 16 bytes on the device (`check_finite.wgsl`'s `Status`): this step's
//! non-finite flag, the count of skipped steps, the first bad index of the latest skipped step,
//! and the count of applied steps. The update kernels are no-ops while the flag is set, so a
//! NaN or infinite gradient leaves the parameter and its optimizer state untouched, as in the
//! core; the host learns about it when it asks ([`crate::GpuMuon::check`],
//! [`crate::GpuAdam::check`], [`crate::GpuOptimizer::check`]), never by stalling a step.

use crate::readback::read_buffers;
use crate::{GpuContext, GpuError};

/// Bytes of one parameter's status.
pub(crate) const STATUS_BYTES: u64 = 16;

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

/// A zeroed status buffer.
pub(crate) fn status_buffer(device: &wgpu::Device) -> wgpu::Buffer {
    crate::kernels::storage_buffer_zeroed(device, "param status", STATUS_BYTES)
}

/// Reads the statuses (one submission, one wait).
pub(crate) fn read_statuses(
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

/// Reads the statuses, clears the skipped-step reports, and returns the first parameter that
/// skipped a step as [`GpuError::NonFiniteGradient`].
pub(crate) fn check_statuses(ctx: &GpuContext, buffers: &[&wgpu::Buffer]) -> Result<(), GpuError> {
    let statuses = read_statuses(ctx, buffers)?;
    let mut first = None;
    for (i, (s, buffer)) in statuses.iter().zip(buffers).enumerate() {
        if s.skipped_steps > 0 {
            ctx.queue()
                .write_buffer(buffer, 4, bytemuck::cast_slice(&[0u32, 0u32]));
            if first.is_none() {
                first = Some(GpuError::NonFiniteGradient {
                    param: i,
                    index: s.last_bad_index.unwrap_or(0),
                    skipped_steps: s.skipped_steps,
                });
            }
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
