//! Host half of `shaders/gram.wgsl`: `G = α·X·Xᵀ + β·D` (or `α·XᵀX + β·D`), symmetric.

use super::{Access, bind_group, dispatch_folded, layout, module, pipeline, tile_groups};

/// Uniforms of `gram.wgsl` (`GramParams`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GramParams {
    /// Order of `G`.
    pub m: u32,
    /// Inner dimension.
    pub k: u32,
    /// 0: `G = X·Xᵀ` with `X` `m×k`; 1: `G = XᵀX` with `X` `k×m`.
    pub trans: u32,
    /// Padding.
    pub _pad0: u32,
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of `D` (0: `D` is not read).
    pub beta: f32,
    /// Padding.
    pub _pad1: [u32; 2],
}

/// The symmetric Gram product (upper-triangle blocks computed, mirrored on store).
#[derive(Debug)]
pub struct Gram {
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::ComputePipeline,
}

impl Gram {
    pub(crate) fn new(device: &wgpu::Device) -> Self {
        let src = include_str!("../../../../shaders/gram.wgsl");
        let module = module(device, "gram", src);
        use Access::{Read, ReadWrite, Uniform};
        let layout = layout(device, "gram", &[Uniform, Read, Read, ReadWrite]);
        let pipeline = pipeline(device, "gram", &module, &layout, "main");
        Self { layout, pipeline }
    }

    /// Binds `params` (a [`GramParams`] uniform), `X`, `D` and the output `G`.
    #[must_use]
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        x: &wgpu::Buffer,
        d: &wgpu::Buffer,
        g: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        bind_group(device, "gram", &self.layout, &[params, x, d, g])
    }

    /// Records the product for an `m × m` output.
    pub fn dispatch(&self, pass: &mut wgpu::ComputePass<'_>, bind_group: &wgpu::BindGroup, m: u32) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        dispatch_folded(pass, tile_groups(m, m));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<super::GramParams>(), 32);
    }
}
