//! Host half of `shaders/ns_normalize.wgsl`: `X ← X · input_scale(‖X‖_F)`.

use muon_core::newton_schulz::{NsConfig, NsNormalization};

use super::{Access, bind_group, dispatch_folded, elementwise_groups, layout, module, pipeline};

/// Uniforms of `ns_normalize.wgsl` (`NormalizeParams`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NormalizeParams {
    /// Number of elements.
    pub len: u32,
    /// 0: `ClampMax`, 1: `AddEps`.
    pub mode: u32,
    /// `NsConfig::eps`.
    pub eps: f32,
    /// `NsConfig::norm_scale`.
    pub norm_scale: f32,
}

impl NormalizeParams {
    /// The uniforms for `len` elements under `cfg`.
    #[must_use]
    pub fn new(len: u32, cfg: &NsConfig) -> Self {
        Self {
            len,
            mode: match cfg.normalization {
                NsNormalization::ClampMax => 0,
                NsNormalization::AddEps => 1,
            },
            eps: cfg.eps,
            norm_scale: cfg.norm_scale,
        }
    }
}

/// Scales the Newton–Schulz input by its Frobenius norm, in place.
#[derive(Debug)]
pub struct NsNormalize {
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::ComputePipeline,
}

impl NsNormalize {
    pub(crate) fn new(device: &wgpu::Device) -> Self {
        let src = include_str!("../../../../shaders/ns_normalize.wgsl");
        let module = module(device, "ns_normalize", src);
        use Access::{Read, ReadWrite, Uniform};
        let layout = layout(device, "ns_normalize", &[Uniform, Read, ReadWrite]);
        let pipeline = pipeline(device, "ns_normalize", &module, &layout, "main");
        Self { layout, pipeline }
    }

    /// Binds `params` (a [`NormalizeParams`] uniform), the norm buffer and `X`.
    #[must_use]
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        norm: &wgpu::Buffer,
        x: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        bind_group(device, "ns_normalize", &self.layout, &[params, norm, x])
    }

    /// Records the scaling of `len` elements.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        len: u32,
    ) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        dispatch_folded(pass, elementwise_groups(len));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<super::NormalizeParams>(), 16);
    }
}
