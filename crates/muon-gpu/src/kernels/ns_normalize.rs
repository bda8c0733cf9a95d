//! Host half of `shaders/ns_normalize.wgsl`: `X ← X · input_scale(‖X‖_F)`.

use muon_core::newton_schulz::{NsConfig, NsNormalization};

use super::common::{Access, Compiler, Program, elementwise_groups, record, whole};
use super::sources;

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
    program: Program,
    main: wgpu::ComputePipeline,
}

impl NsNormalize {
    pub(crate) fn new(device: &Compiler<'_>) -> Self {
        use Access::{Read, ReadWrite, Uniform};
        let program = Program::new(
            device,
            "ns_normalize",
            sources::NS_NORMALIZE,
            &[Uniform, Read, ReadWrite],
        );
        let main = program.pipeline(device, "main");
        Self { program, main }
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
        self.program
            .bind(device, &[whole(params), whole(norm), whole(x)])
    }

    /// Records the scaling of `len` elements.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        len: u32,
    ) {
        record(pass, &self.main, bind_group, elementwise_groups(len));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<super::NormalizeParams>(), 16);
    }
}
