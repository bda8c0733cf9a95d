//! Host half of `shaders/check_status.wgsl` with `check_finite.wgsl` or
//! `check_finite_vec4.wgsl`: the on-device NaN/Inf flag and its bookkeeping.

use super::common::{Access, Compiler, Program, record, whole};
use super::elementwise::{ElementwiseBindGroups, Lanes, Operand};
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
    check: Lanes,
    commit: wgpu::ComputePipeline,
}

impl CheckFinite {
    pub(crate) fn new(device: &Compiler<'_>) -> Self {
        use Access::{Read, ReadWrite, Uniform};
        let program = Program::new(
            device,
            "check_finite",
            sources::CHECK_FINITE,
            &[Uniform, Read, ReadWrite],
        );
        let vec4 = Program::with_layout_of(
            device,
            "check_finite_vec4",
            sources::CHECK_FINITE_VEC4,
            &program,
        );
        Self {
            check: Lanes::new(device, &program, &vec4, "check", 1, 4),
            commit: program.pipeline(device, "commit"),
            program,
        }
    }

    /// Binds `params` (a [`CheckParams`] uniform for `len` elements), the gradient's `len`
    /// elements (its range: [`crate::GpuMatrix::binding`]) and the parameter's status.
    #[must_use]
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        grad: wgpu::BufferBinding<'_>,
        status: &wgpu::Buffer,
        len: u32,
    ) -> ElementwiseBindGroups {
        let operands = [
            Operand::Fixed(whole(params)),
            Operand::Array(grad, 4),
            Operand::Fixed(whole(status)),
        ];
        self.check.bind(device, &self.program, &operands, len)
    }

    /// Records the check of the gradient (before the update kernels).
    pub fn dispatch_check(&self, pass: &mut wgpu::ComputePass<'_>, groups: &ElementwiseBindGroups) {
        self.check.record(pass, groups);
    }

    /// Records the bookkeeping (after the update kernels).
    pub fn dispatch_commit(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        groups: &ElementwiseBindGroups,
    ) {
        record(pass, &self.commit, groups.one(), 1);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<super::CheckParams>(), 16);
    }
}
