//! Host half of `shaders/check_finite.wgsl`: the on-device NaN/Inf flag and its bookkeeping.

use super::{Access, bind_group, dispatch_folded, elementwise_groups, layout, module, pipeline};

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
    layout: wgpu::BindGroupLayout,
    check: wgpu::ComputePipeline,
    commit: wgpu::ComputePipeline,
}

impl CheckFinite {
    pub(crate) fn new(device: &wgpu::Device) -> Self {
        let src = include_str!("../../../../shaders/check_finite.wgsl");
        let module = module(device, "check_finite", src);
        use Access::{Read, ReadWrite, Uniform};
        let layout = layout(device, "check_finite", &[Uniform, Read, ReadWrite]);
        let check = pipeline(device, "check_finite/check", &module, &layout, "check");
        let commit = pipeline(device, "check_finite/commit", &module, &layout, "commit");
        Self {
            layout,
            check,
            commit,
        }
    }

    /// Binds `params` (a [`CheckParams`] uniform), the gradient and the parameter's status.
    #[must_use]
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        grad: &wgpu::Buffer,
        status: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        bind_group(
            device,
            "check_finite",
            &self.layout,
            &[params, grad, status],
        )
    }

    /// Records the check of `len` gradient elements (before the update kernels).
    pub fn dispatch_check(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        len: u32,
    ) {
        pass.set_pipeline(&self.check);
        pass.set_bind_group(0, bind_group, &[]);
        dispatch_folded(pass, elementwise_groups(len));
    }

    /// Records the bookkeeping (after the update kernels).
    pub fn dispatch_commit(&self, pass: &mut wgpu::ComputePass<'_>, bind_group: &wgpu::BindGroup) {
        pass.set_pipeline(&self.commit);
        pass.set_bind_group(0, bind_group, &[]);
        pass.dispatch_workgroups(1, 1, 1);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<super::CheckParams>(), 16);
    }
}
