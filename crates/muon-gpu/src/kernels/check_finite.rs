//! Host half of `shaders/check_finite.wgsl`: the on-device NaN/Inf flag and its bookkeeping.

use super::common::{Access, Program, elementwise_groups, record, whole};
use super::sources;

/// Uniforms of `check_finite.wgsl` (`CheckParams`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct CheckParams {
    /// Number of gradient elements.
    pub len: u32,
    /// Padding.
    pub _pad: [u32; 3],
}

/// Flags a non-finite gradient (`check`) and books the step's outcome (`commit`).
#[derive(Debug)]
pub struct CheckFinite {
    program: Program,
    check: wgpu::ComputePipeline,
    commit: wgpu::ComputePipeline,
}

impl CheckFinite {
    pub(crate) fn new(device: &wgpu::Device) -> Self {
        use Access::{Read, ReadWrite, Uniform};
        let program = Program::new(
            device,
            "check_finite",
            sources::CHECK_FINITE,
            &[Uniform, Read, ReadWrite],
        );
        Self {
            check: program.pipeline(device, "check"),
            commit: program.pipeline(device, "commit"),
            program,
        }
    }

    /// Binds `params` (a [`CheckParams`] uniform), the gradient (its range:
    /// [`crate::GpuMatrix::binding`]) and the parameter's status.
    #[must_use]
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        grad: wgpu::BufferBinding<'_>,
        status: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.program
            .bind(device, &[whole(params), grad, whole(status)])
    }

    /// Records the check of `len` gradient elements (before the update kernels).
    pub fn dispatch_check(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        len: u32,
    ) {
        record(pass, &self.check, bind_group, elementwise_groups(len));
    }

    /// Records the bookkeeping (after the update kernels).
    pub fn dispatch_commit(&self, pass: &mut wgpu::ComputePass<'_>, bind_group: &wgpu::BindGroup) {
        record(pass, &self.commit, bind_group, 1);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<super::CheckParams>(), 16);
    }
}
