//! [`GpuTimer`]: GPU-side durations of compute passes from timestamp queries.

use std::time::Duration;

use crate::readback::read_buffers;
use crate::{GpuContext, GpuError};

/// Timestamp queries for up to `capacity` compute passes (a begin and an end stamp each).
///
/// ```no_run
/// # fn demo(ctx: &muon_gpu::GpuContext, muon: &muon_gpu::GpuMuon) -> Result<(), muon_gpu::GpuError> {
/// let timer = muon_gpu::GpuTimer::new(ctx, 1)?;
/// let mut encoder = ctx.device().create_command_encoder(&Default::default());
/// {
///     let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
///         label: None,
///         timestamp_writes: Some(timer.pass_writes(0)),
///     });
///     muon.encode(&mut pass);
/// }
/// timer.resolve(&mut encoder, 1);
/// ctx.queue().submit([encoder.finish()]);
/// let durations = timer.read(ctx, 1)?; // one Duration per pass
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct GpuTimer {
    queries: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    capacity: u32,
    period_ns: f32,
}

impl GpuTimer {
    /// A timer for `capacity` passes, clamped to `1..=2048` (a query set holds at most
    /// [`wgpu::QUERY_SET_MAX_QUERIES`] stamps); [`GpuTimer::capacity`] says how many.
    ///
    /// # Errors
    /// [`GpuError::TimestampsUnsupported`] if the device lacks `TIMESTAMP_QUERY`.
    pub fn new(ctx: &GpuContext, capacity: u32) -> Result<Self, GpuError> {
        if !ctx.supports_timestamps() {
            return Err(GpuError::TimestampsUnsupported);
        }
        let capacity = capacity.clamp(1, wgpu::QUERY_SET_MAX_QUERIES / 2);
        let queries = ctx.device().create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("muon-gpu timer"),
            ty: wgpu::QueryType::Timestamp,
            count: 2 * capacity,
        });
        let resolved = ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("muon-gpu timer resolve"),
            size: u64::from(2 * capacity) * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Ok(Self {
            queries,
            resolved,
            capacity,
            period_ns: ctx.queue().get_timestamp_period(),
        })
    }

    /// Number of passes this timer can time.
    #[must_use]
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The timestamp writes for pass `index` (`< capacity`), for `ComputePassDescriptor`.
    #[must_use]
    pub fn pass_writes(&self, index: u32) -> wgpu::ComputePassTimestampWrites<'_> {
        let i = index.min(self.capacity - 1);
        wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(2 * i),
            end_of_pass_write_index: Some(2 * i + 1),
        }
    }

    /// Records the resolution of the stamps of passes `0..passes` (clamped to the capacity),
    /// after the timed passes, in the same encoder or a later one. Resolve only passes that
    /// were recorded: Vulkan copies query results waiting for them, so a stamp that is never
    /// written can stall the copy or lose the device.
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder, passes: u32) {
        let n = passes.min(self.capacity);
        if n > 0 {
            encoder.resolve_query_set(&self.queries, 0..2 * n, &self.resolved, 0);
        }
    }

    /// Reads the durations of passes `0..passes` (clamped to the capacity) resolved by
    /// [`GpuTimer::resolve`]; waits for the device.
    ///
    /// # Errors
    /// [`GpuError::Readback`].
    pub fn read(&self, ctx: &GpuContext, passes: u32) -> Result<Vec<Duration>, GpuError> {
        let n = passes.min(self.capacity);
        let bytes = read_buffers(ctx, &[(&self.resolved, u64::from(2 * n) * 8)])?;
        let stamps: Vec<u64> = bytes
            .first()
            .map(|b| bytemuck::pod_collect_to_vec(b))
            .unwrap_or_default();
        Ok(stamps
            .chunks_exact(2)
            .map(|p| {
                let ticks = p[1].saturating_sub(p[0]);
                Duration::from_nanos((ticks as f64 * f64::from(self.period_ns)) as u64)
            })
            .collect())
    }
}
