//! Copying device buffers back to the host (only ever on request, never inside a step).

use crate::{GpuContext, GpuError};

/// Copies `ranges` (`(buffer, bytes)`, each from offset 0) to the host and returns the bytes
/// of each range: in one staging buffer and one submission when their total fits the device's
/// `max_buffer_size`, else in as few consecutive batches as fit (Adam's `moments()` reads `m`
/// and `v` together: each fits, the two may not).
///
/// # Errors
/// [`GpuError::BufferTooLarge`] for a single range beyond `max_buffer_size` (no buffer the
/// crate makes is); [`GpuError::DeviceLost`] or another device error
/// ([`GpuContext::device_status`]); [`GpuError::Readback`] if mapping fails.
pub(crate) fn read_buffers(
    ctx: &GpuContext,
    ranges: &[(&wgpu::Buffer, u64)],
) -> Result<Vec<Vec<u8>>, GpuError> {
    let ranges: Vec<(&wgpu::Buffer, u64, u64)> = ranges.iter().map(|(b, n)| (*b, 0, *n)).collect();
    read_ranges(ctx, &ranges)
}

/// Copies `ranges` (`(buffer, byte offset, bytes)`) to the host and returns the bytes of each
/// range: in one staging buffer and one submission when their total fits the device's
/// `max_buffer_size`, else in as few consecutive batches as fit.
///
/// # Errors
/// As [`read_buffers`].
pub(crate) fn read_ranges(
    ctx: &GpuContext,
    ranges: &[(&wgpu::Buffer, u64, u64)],
) -> Result<Vec<Vec<u8>>, GpuError> {
    let max = ctx.device().limits().max_buffer_size;
    let mut out = Vec::with_capacity(ranges.len());
    let mut start = 0;
    while start < ranges.len() {
        let (mut end, mut total) = (start, 0u64);
        while end < ranges.len() && total + ranges[end].2 <= max {
            total += ranges[end].2;
            end += 1;
        }
        if end == start {
            return Err(GpuError::BufferTooLarge {
                what: "readback",
                bytes: ranges[start].2,
                max,
            });
        }
        out.extend(read_batch(ctx, &ranges[start..end], total)?);
        start = end;
    }
    Ok(out)
}

/// [`read_ranges`] for ranges whose `total` fits one staging buffer.
fn read_batch(
    ctx: &GpuContext,
    ranges: &[(&wgpu::Buffer, u64, u64)],
    total: u64,
) -> Result<Vec<Vec<u8>>, GpuError> {
    if total == 0 {
        ctx.device_status()?;
        return Ok(ranges.iter().map(|_| Vec::new()).collect());
    }
    let device = ctx.device();
    let staging = ctx.scoped(|| {
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("muon-gpu readback"),
            size: total,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("muon-gpu readback"),
        });
        let mut offset = 0;
        for (buffer, from, bytes) in ranges {
            encoder.copy_buffer_to_buffer(buffer, *from, &staging, offset, *bytes);
            offset += bytes;
        }
        ctx.queue().submit([encoder.finish()]);
        staging
    })?;
    let (tx, rx) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        // The receiver waits below; a send error only means it is gone.
        let _ = tx.send(r);
    });
    ctx.wait()?;
    let mapped = rx.recv().map_err(|e| GpuError::Readback(e.to_string()))?;
    ctx.device_status()?;
    mapped.map_err(|e| GpuError::Readback(e.to_string()))?;
    let view = staging
        .get_mapped_range(..)
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    let mut out = Vec::with_capacity(ranges.len());
    let mut offset = 0usize;
    for (_, _, bytes) in ranges {
        let n = *bytes as usize;
        out.push(view[offset..offset + n].to_vec());
        offset += n;
    }
    drop(view);
    staging.unmap();
    Ok(out)
}

/// Reads the first `len` `f32` values of `buffer`.
pub(crate) fn read_f32(
    ctx: &GpuContext,
    buffer: &wgpu::Buffer,
    len: usize,
) -> Result<Vec<f32>, GpuError> {
    read_f32_at(ctx, buffer, 0, len)
}

/// Reads `len` `f32` values of `buffer` from byte `offset` on.
pub(crate) fn read_f32_at(
    ctx: &GpuContext,
    buffer: &wgpu::Buffer,
    offset: u64,
    len: usize,
) -> Result<Vec<f32>, GpuError> {
    let bytes = read_ranges(ctx, &[(buffer, offset, (len * 4) as u64)])?;
    Ok(bytes
        .first()
        .map(|b| bytemuck::pod_collect_to_vec(b))
        .unwrap_or_default())
}
