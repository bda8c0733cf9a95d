//! One struct per WGSL kernel in `shaders/`, each holding its pipeline(s) and bind-group
//! layout, created once per [`crate::GpuContext`].
//!
//! Every kernel has the same host-side shape: a `#[repr(C)]` uniform struct mirroring the
//! WGSL one, `bind_group(..)` to bind buffers (do this once, outside the step loop) and
//! `dispatch(pass, ..)` that records into a compute pass the caller owns, so any number of
//! kernels go into one submission. A faster kernel replaces one struct here and nothing else.

mod adam_update;
mod check_finite;
mod frobenius_norm;
mod gram;
mod matmul;
mod muon_update;
mod ns_normalize;
mod ns_step;

pub use adam_update::{AdamParams, AdamUpdate, MAX_SCALAR_TABLE, scalar_table};
pub use check_finite::{CheckFinite, CheckParams};
pub use frobenius_norm::{FrobeniusNorm, MAX_PARTIALS, NormParams};
pub use gram::{Gram, GramParams};
pub use matmul::{Matmul, MatmulParams};
pub use muon_update::{MuonParams, MuonUpdate};
pub use ns_normalize::{NormalizeParams, NsNormalize};
pub use ns_step::{NsStep, NsStepParams};

use wgpu::util::DeviceExt;

use crate::GpuError;

/// The most workgroups one dispatch may have in one dimension (WebGPU's default limit).
pub const MAX_WORKGROUPS_PER_DIM: u32 = 65_535;

/// Threads per workgroup of the element-wise kernels.
pub(crate) const ELEMENTWISE_WG: u32 = 256;

/// Output block edge of the tiled product kernels.
pub(crate) const TILE: u32 = 64;

/// Folds `workgroups` into a 2-D grid `(x, y)` with `x ≤ 65,535`; the kernels linearise it
/// back as `wid.x + wid.y · num_workgroups.x` and skip the overshoot.
#[must_use]
pub fn grid_2d(workgroups: u32) -> (u32, u32) {
    let x = workgroups.clamp(1, MAX_WORKGROUPS_PER_DIM);
    (x, workgroups.div_ceil(x))
}

/// Records a dispatch of `workgroups` workgroups, folded into 2-D.
pub(crate) fn dispatch_folded(pass: &mut wgpu::ComputePass<'_>, workgroups: u32) {
    let (x, y) = grid_2d(workgroups);
    pass.dispatch_workgroups(x, y, 1);
}

/// Workgroups for `len` elements at one element per thread.
pub(crate) fn elementwise_groups(len: u32) -> u32 {
    len.div_ceil(ELEMENTWISE_WG)
}

/// Workgroups for an `m × n` output in 64×64 blocks.
pub(crate) fn tile_groups(m: u32, n: u32) -> u32 {
    m.div_ceil(TILE) * n.div_ceil(TILE)
}

/// How a kernel sees one binding.
#[derive(Clone, Copy)]
pub(crate) enum Access {
    Uniform,
    Read,
    ReadWrite,
}

/// A bind-group layout of consecutive bindings `0..`, visible to compute.
pub(crate) fn layout(
    device: &wgpu::Device,
    label: &str,
    access: &[Access],
) -> wgpu::BindGroupLayout {
    let entries: Vec<wgpu::BindGroupLayoutEntry> = access
        .iter()
        .enumerate()
        .map(|(i, a)| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match a {
                    Access::Uniform => wgpu::BufferBindingType::Uniform,
                    Access::Read => wgpu::BufferBindingType::Storage { read_only: true },
                    Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(label),
        entries: &entries,
    })
}

/// A compute pipeline for `entry` of `module` with one bind group of `layout`.
pub(crate) fn pipeline(
    device: &wgpu::Device,
    label: &str,
    module: &wgpu::ShaderModule,
    layout: &wgpu::BindGroupLayout,
    entry: &str,
) -> wgpu::ComputePipeline {
    let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(layout)],
        immediate_size: 0,
    });
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(label),
        layout: Some(&pl),
        module,
        entry_point: Some(entry),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: &[],
            // Every kernel writes its workgroup memory before reading it.
            zero_initialize_workgroup_memory: false,
        },
        cache: None,
    })
}

/// A shader module from WGSL source.
pub(crate) fn module(device: &wgpu::Device, label: &str, source: &str) -> wgpu::ShaderModule {
    device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    })
}

/// A bind group binding `buffers` whole, in order, to bindings `0..`.
pub(crate) fn bind_group(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::BindGroupLayout,
    buffers: &[&wgpu::Buffer],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry<'_>> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.as_entire_binding(),
        })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout,
        entries: &entries,
    })
}

/// A uniform buffer holding `value` (writable later with `Queue::write_buffer`).
pub fn uniform_buffer<T: bytemuck::Pod>(
    device: &wgpu::Device,
    label: &str,
    value: &T,
) -> wgpu::Buffer {
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: bytemuck::bytes_of(value),
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
    })
}

/// A zeroed storage buffer of `bytes` bytes (at least 4); wgpu zero-fills new buffers.
pub(crate) fn storage_buffer_zeroed(
    device: &wgpu::Device,
    label: &str,
    bytes: u64,
) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(4),
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// Every kernel's pipeline for one device.
#[derive(Debug)]
pub struct Kernels {
    /// `matmul.wgsl`.
    pub matmul: Matmul,
    /// `gram.wgsl`.
    pub gram: Gram,
    /// `ns_normalize.wgsl`.
    pub ns_normalize: NsNormalize,
    /// `ns_step.wgsl`.
    pub ns_step: NsStep,
    /// `frobenius_norm.wgsl`.
    pub frobenius_norm: FrobeniusNorm,
    /// `check_finite.wgsl`.
    pub check_finite: CheckFinite,
    /// `muon_update.wgsl`.
    pub muon_update: MuonUpdate,
    /// `adam_update.wgsl`.
    pub adam_update: AdamUpdate,
}

impl Kernels {
    /// Compiles every kernel, catching validation errors in an error scope.
    ///
    /// # Errors
    /// [`GpuError::Shader`] with the device's message.
    pub fn new(device: &wgpu::Device) -> Result<Self, GpuError> {
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let kernels = Self {
            matmul: Matmul::new(device),
            gram: Gram::new(device),
            ns_normalize: NsNormalize::new(device),
            ns_step: NsStep::new(device),
            frobenius_norm: FrobeniusNorm::new(device),
            check_finite: CheckFinite::new(device),
            muon_update: MuonUpdate::new(device),
            adam_update: AdamUpdate::new(device),
        };
        match pollster::block_on(scope.pop()) {
            Some(e) => Err(GpuError::Shader(e.to_string())),
            None => Ok(kernels),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_folds_above_the_dimension_limit() {
        assert_eq!(grid_2d(0), (1, 0));
        assert_eq!(grid_2d(1), (1, 1));
        assert_eq!(grid_2d(65_535), (65_535, 1));
        assert_eq!(grid_2d(65_536), (65_535, 2));
        let (x, y) = grid_2d(262_144);
        assert!(x * y >= 262_144 && x <= MAX_WORKGROUPS_PER_DIM);
    }
}
