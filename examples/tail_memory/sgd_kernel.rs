//! SGD with momentum on the GPU for the resident training path: muon-gpu has Muon and AdamW
//! kernels but no SGD, so the example compiles this one element-wise kernel
//! (`sgd_momentum.wgsl`) itself. It follows `muon_core::sgd::Sgd::step` (same config type).
//! Unlike the crate's optimizers it has no non-finite check: a NaN gradient propagates into
//! `W` and shows in the next evaluation.

use muon::cpu::sgd::SgdConfig;
use muon::gpu::kernels::{grid_2d, uniform_buffer};
use muon::gpu::{GpuContext, GpuMatrix, wgpu};

use crate::error::ExampleError;

/// Uniforms of `sgd_momentum.wgsl` (`SgdParams`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct SgdParams {
    len: u32,
    momentum: f32,
    lr: f32,
    weight_decay: f32,
    nesterov: u32,
    _pad: [u32; 3],
}

/// One parameter's SGD step, bound once: parameter, gradient and momentum buffer on the device.
pub struct SgdKernel {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    len: u32,
    _params: wgpu::Buffer,
    _momentum: GpuMatrix,
}

impl SgdKernel {
    /// Compiles the kernel and binds `w` and `g` (same shape) with a zero momentum buffer.
    ///
    /// # Errors
    /// An invalid `config` (as the core validates it), a shape mismatch, or a GPU error.
    pub fn new(
        ctx: &GpuContext,
        config: SgdConfig,
        w: &GpuMatrix,
        g: &GpuMatrix,
    ) -> Result<Self, ExampleError> {
        let c = *config.build()?.config();
        if w.shape() != g.shape() {
            return Err(muon::cpu::MuonError::ShapeMismatch {
                what: "grad",
                expected: w.shape(),
                found: g.shape(),
            }
            .into());
        }
        let device = ctx.device();
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("sgd_momentum"),
            source: wgpu::ShaderSource::Wgsl(include_str!("sgd_momentum.wgsl").into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("sgd_momentum"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            cache: None,
        });
        let momentum = GpuMatrix::zeros(ctx, w.rows(), w.cols())?;
        let len = w.len() as u32;
        let params = uniform_buffer(
            device,
            "sgd params",
            &SgdParams {
                len,
                momentum: c.momentum,
                lr: c.lr,
                weight_decay: c.weight_decay,
                nesterov: u32::from(c.nesterov),
                _pad: [0; 3],
            },
        );
        let layout = pipeline.get_bind_group_layout(0);
        let entries = [
            params.as_entire_binding(),
            wgpu::BindingResource::Buffer(w.binding()),
            wgpu::BindingResource::Buffer(g.binding()),
            wgpu::BindingResource::Buffer(momentum.binding()),
        ];
        let entries: Vec<wgpu::BindGroupEntry<'_>> = entries
            .into_iter()
            .enumerate()
            .map(|(i, resource)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource,
            })
            .collect();
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("sgd"),
            layout: &layout,
            entries: &entries,
        });
        Ok(Self {
            pipeline,
            bind_group,
            len,
            _params: params,
            _momentum: momentum,
        })
    }

    /// Records one step into `pass`.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        let (x, y) = grid_2d(self.len.div_ceil(256));
        pass.dispatch_workgroups(x, y, 1);
    }
}
