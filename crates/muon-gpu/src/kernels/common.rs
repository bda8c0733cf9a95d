//! The mechanics every kernel's host half shares: compiling a WGSL program, binding buffers
//! in order, sizing and recording dispatches, and the scratch/uniform buffers they use.

/// The most workgroups one dispatch may have in one dimension (WebGPU's default limit).
pub const MAX_WORKGROUPS_PER_DIM: u32 = 65_535;

/// Threads per workgroup of the element-wise kernels.
pub(crate) const ELEMENTWISE_WG: u32 = 256;

/// Output block edge of the tiled product kernels (`TILE` in `tile_product.wgsl`).
pub(crate) const TILE: u32 = 64;

/// Folds `workgroups` into a 2-D grid `(x, y)` with `x ≤ 65,535`; the kernels linearise it
/// back as `wid.x + wid.y · num_workgroups.x` and skip the overshoot.
#[must_use]
pub fn grid_2d(workgroups: u32) -> (u32, u32) {
    let x = workgroups.clamp(1, MAX_WORKGROUPS_PER_DIM);
    (x, workgroups.div_ceil(x))
}

/// Workgroups for `len` elements at one element per thread.
pub(crate) fn elementwise_groups(len: u32) -> u32 {
    len.div_ceil(ELEMENTWISE_WG)
}

/// Workgroups for an `m × n` output in 64×64 blocks.
pub(crate) fn tile_groups(m: u32, n: u32) -> u32 {
    m.div_ceil(TILE) * n.div_ceil(TILE)
}

/// Records `pipeline` over `workgroups` workgroups (folded into 2-D by [`grid_2d`]) with
/// `bind_group` at group 0.
pub(crate) fn record(
    pass: &mut wgpu::ComputePass<'_>,
    pipeline: &wgpu::ComputePipeline,
    bind_group: &wgpu::BindGroup,
    workgroups: u32,
) {
    pass.set_pipeline(pipeline);
    pass.set_bind_group(0, bind_group, &[]);
    let (x, y) = grid_2d(workgroups);
    pass.dispatch_workgroups(x, y, 1);
}

/// How a kernel sees one binding.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Access {
    /// `var<uniform>`.
    Uniform,
    /// `var<storage, read>`.
    Read,
    /// `var<storage, read_write>`.
    ReadWrite,
}

/// One WGSL program: its module and the bind-group layout of its bindings `0..` (group 0,
/// in the order of the [`Access`] list), from which the kernel makes one pipeline per entry
/// point. Create it inside [`super::Kernels::new`]'s error scope.
#[derive(Debug)]
pub(crate) struct Program {
    label: &'static str,
    module: wgpu::ShaderModule,
    layout: wgpu::BindGroupLayout,
}

impl Program {
    /// Compiles `source` and lays out its bindings.
    pub(crate) fn new(
        device: &wgpu::Device,
        label: &'static str,
        source: &str,
        access: &[Access],
    ) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        Self {
            label,
            module,
            layout: bind_group_layout(device, label, access),
        }
    }

    /// The same module under another binding list (for entry points that bind more).
    pub(crate) fn with_bindings(
        &self,
        device: &wgpu::Device,
        label: &'static str,
        access: &[Access],
    ) -> Self {
        Self {
            label,
            module: self.module.clone(),
            layout: bind_group_layout(device, label, access),
        }
    }

    /// Compiles `source` with `other`'s bind-group layout (the same bindings), so one bind
    /// group serves pipelines of both.
    pub(crate) fn with_layout_of(
        device: &wgpu::Device,
        label: &'static str,
        source: &str,
        other: &Program,
    ) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        Self {
            label,
            module,
            layout: other.layout.clone(),
        }
    }

    /// The compute pipeline of entry point `entry`.
    pub(crate) fn pipeline(&self, device: &wgpu::Device, entry: &str) -> wgpu::ComputePipeline {
        self.pipeline_with(device, entry, &[])
    }

    /// The compute pipeline of entry point `entry` with the program's `override` constants
    /// set to `constants` (name, value).
    pub(crate) fn pipeline_with(
        &self,
        device: &wgpu::Device,
        entry: &str,
        constants: &[(&str, f64)],
    ) -> wgpu::ComputePipeline {
        let label = format!("{}/{entry}", self.label);
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&label),
            bind_group_layouts: &[Some(&self.layout)],
            immediate_size: 0,
        });
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: Some(&layout),
            module: &self.module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                // Every kernel writes its workgroup memory before reading it.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        })
    }

    /// A bind group binding `buffers` (each a whole buffer or a range of one, such as a
    /// [`crate::GpuMatrix::binding`]), in order, to bindings `0..`.
    pub(crate) fn bind(
        &self,
        device: &wgpu::Device,
        buffers: &[wgpu::BufferBinding<'_>],
    ) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry<'_>> = (0u32..)
            .zip(buffers)
            .map(|(binding, b)| wgpu::BindGroupEntry {
                binding,
                resource: wgpu::BindingResource::Buffer(b.clone()),
            })
            .collect();
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(self.label),
            layout: &self.layout,
            entries: &entries,
        })
    }
}

/// A bind-group layout of bindings `0..` (group 0, visible to compute), in `access` order.
fn bind_group_layout(
    device: &wgpu::Device,
    label: &str,
    access: &[Access],
) -> wgpu::BindGroupLayout {
    let entries: Vec<wgpu::BindGroupLayoutEntry> = (0u32..)
        .zip(access)
        .map(|(binding, a)| wgpu::BindGroupLayoutEntry {
            binding,
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

/// `buffer` bound whole (for the kernels' own uniforms and scratch).
pub(crate) fn whole(buffer: &wgpu::Buffer) -> wgpu::BufferBinding<'_> {
    buffer.as_entire_buffer_binding()
}

/// A uniform buffer holding `value` (writable later with `Queue::write_buffer`).
pub fn uniform_buffer<T: bytemuck::Pod>(
    device: &wgpu::Device,
    label: &str,
    value: &T,
) -> wgpu::Buffer {
    buffer_init(
        device,
        label,
        bytemuck::bytes_of(value),
        wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
    )
}

/// A buffer holding `contents` (padded to whole 4-byte words, at least one), as wgpu's
/// `DeviceExt::create_buffer_init`, except that a buffer the device could not create (out of
/// memory, beyond its limits, device lost) is returned invalid, its error left to the caller's
/// error scope or the context's handler, instead of panicking on the failed mapping.
pub(crate) fn buffer_init(
    device: &wgpu::Device,
    label: &str,
    contents: &[u8],
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    let size = (contents.len() as u64)
        .next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT)
        .max(wgpu::COPY_BUFFER_ALIGNMENT);
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage,
        mapped_at_creation: true,
    });
    if let Ok(mut view) = buffer.get_mapped_range_mut(..) {
        view.slice(..contents.len()).copy_from_slice(contents);
    }
    buffer.unmap();
    buffer
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
