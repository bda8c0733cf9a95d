//! Copying device buffers back to the host (only ever on request, never inside a step).

use crate::{GpuContext, GpuError};

/// Copies `ranges` (`(buffer, bytes)`, each from offset 0) into one staging buffer with one
/// submission, waits, and returns the bytes of each range.
pub(crate) fn read_buffers(
    ctx: &GpuContext,
    ranges: &[(&wgpu::Buffer, u64)],
) -> Result<Vec<Vec<u8>>, GpuError> {
    let ranges: Vec<(&wgpu::Buffer, u64, u64)> = ranges.iter().map(|(b, n)| (*b, 0, *n)).collect();
    read_ranges(ctx, &ranges)
}

/// Copies `ranges` (`(buffer, byte offset, bytes)`) into one staging buffer with one
/// submission, waits, and returns the bytes of each range.
pub(crate) fn read_ranges(
    ctx: &GpuContext,
    ranges: &[(&wgpu::Buffer, u64, u64)],
) -> Result<Vec<Vec<u8>>, GpuError> {
    let total: u64 = ranges.iter().map(|(_, _, n)| *n).sum();
    if total == 0 {
        return Ok(ranges.iter().map(|_| Vec::new()).collect());
    }
    let device = ctx.device();
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
    let (tx, rx) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        // The receiver waits below; a send error only means it is gone.
        let _ = tx.send(r);
    });
    ctx.wait()?;
    rx.recv()
        .map_err(|e| GpuError::Readback(e.to_string()))?
        .map_err(|e| GpuError::Readback(e.to_string()))?;
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
