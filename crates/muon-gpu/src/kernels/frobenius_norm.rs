//! Host half of `shaders/frobenius_norm.wgsl`: a two-level tree reduction for `‖X‖_F`.

use super::common::{Access, Compiler, ELEMENTWISE_WG, Program, whole};
use super::sources;

/// The most first-pass workgroups (partial sums).
pub const MAX_PARTIALS: u32 = 1024;

/// Uniforms of `frobenius_norm.wgsl` (`NormParams`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NormParams {
    /// Number of elements.
    pub len: u32,
    /// First-pass workgroups, from [`NormParams::new`].
    pub num_partials: u32,
    /// Padding.
    pub _pad: [u32; 2],
}

impl NormParams {
    /// The uniforms for `len` elements: one partial per 256 elements, at most
    /// [`MAX_PARTIALS`] (then each thread strides over several).
    #[must_use]
    pub fn new(len: u32) -> Self {
        Self {
            len,
            num_partials: len.div_ceil(ELEMENTWISE_WG).clamp(1, MAX_PARTIALS),
            _pad: [0; 2],
        }
    }
}

/// The Frobenius norm as a tree reduction (two dispatches).
#[derive(Debug)]
pub struct FrobeniusNorm {
    program: Program,
    partial_sums: wgpu::ComputePipeline,
    finish: wgpu::ComputePipeline,
}

impl FrobeniusNorm {
    pub(crate) fn new(device: &Compiler<'_>) -> Self {
        use Access::{Read, ReadWrite, Uniform};
        let program = Program::new(
            device,
            "frobenius_norm",
            sources::FROBENIUS_NORM,
            &[Uniform, Read, ReadWrite, ReadWrite],
        );
        Self {
            partial_sums: program.pipeline(device, "partial_sums"),
            finish: program.pipeline(device, "finish"),
            program,
        }
    }

    /// Binds `params` (a [`NormParams`] uniform), `X` (a range: [`crate::GpuMatrix::binding`],
    /// or a whole buffer), the partials buffer (at least
    /// `2·`[`MAX_PARTIALS`] `f32`, or `2·num_partials`: a scaled pair each) and the output (3
    /// `f32`: `‖X‖_F`, then its factors `s` and `√q` with `‖X‖_F = s·√q`).
    #[must_use]
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        x: wgpu::BufferBinding<'_>,
        partials: &wgpu::Buffer,
        norm: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.program
            .bind(device, &[whole(params), x, whole(partials), whole(norm)])
    }

    /// Records both passes; `params` must be the uniform values bound in `bind_group`.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        params: &NormParams,
    ) {
        // One-dimensional on purpose: the kernel indexes `partials` by `workgroup_id.x`.
        pass.set_bind_group(0, bind_group, &[]);
        pass.set_pipeline(&self.partial_sums);
        pass.dispatch_workgroups(params.num_partials, 1, 1);
        pass.set_pipeline(&self.finish);
        pass.dispatch_workgroups(1, 1, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<NormParams>(), 16);
    }

    #[test]
    fn partial_count_is_bounded() {
        assert_eq!(NormParams::new(1).num_partials, 1);
        assert_eq!(NormParams::new(257).num_partials, 2);
        assert_eq!(NormParams::new(u32::MAX).num_partials, MAX_PARTIALS);
    }
}
