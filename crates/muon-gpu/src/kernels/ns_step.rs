//! Host half of `shaders/ns_step.wgsl`: `X' = a·X + B·X` (wide) or `a·X + X·B` (tall).

use super::{Access, bind_group, dispatch_folded, layout, module, pipeline, tile_groups};

/// Uniforms of `ns_step.wgsl` (`NsStepParams`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NsStepParams {
    /// Rows of `X`.
    pub rows: u32,
    /// Columns of `X`.
    pub cols: u32,
    /// 0: `B` multiplies from the left (`rows ≤ cols`); 1: from the right.
    pub side: u32,
    /// The iteration's linear coefficient `a`.
    pub a: f32,
}

/// The Newton–Schulz polynomial step (after `B = b·A + c·A²` from [`super::Gram`]).
#[derive(Debug)]
pub struct NsStep {
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::ComputePipeline,
}

impl NsStep {
    pub(crate) fn new(device: &wgpu::Device) -> Self {
        let src = include_str!("../../../../shaders/ns_step.wgsl");
        let module = module(device, "ns_step", src);
        use Access::{Read, ReadWrite, Uniform};
        let layout = layout(device, "ns_step", &[Uniform, Read, Read, ReadWrite]);
        let pipeline = pipeline(device, "ns_step", &module, &layout, "main");
        Self { layout, pipeline }
    }

    /// Binds `params` (an [`NsStepParams`] uniform), `B`, `X` and the output `X'`.
    #[must_use]
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        b: &wgpu::Buffer,
        x: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        bind_group(device, "ns_step", &self.layout, &[params, b, x, out])
    }

    /// Records the step for a `rows × cols` iterate.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        rows: u32,
        cols: u32,
    ) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        dispatch_folded(pass, tile_groups(rows, cols));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<super::NsStepParams>(), 16);
    }
}
