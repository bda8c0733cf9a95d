//! Host half of `shaders/silu.wgsl`: the SiLU activation (`x = h·sigmoid(h)`) and its
//! backward pass (`x ← x · SiLU'(h)`), element-wise.

use super::common::{Access, Compiler, Program, elementwise_groups, record, whole};
use super::sources;

/// Uniforms of `silu.wgsl` (`SiluParams`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SiluParams {
    /// Number of elements.
    pub len: u32,
    /// Padding.
    pub _pad: [u32; 3],
}

/// SiLU forward (`x = SiLU(h)`) and backward (`x ← x · SiLU'(h)`, `x` holding the gradient
/// with respect to the activation) over the same bind group.
#[derive(Debug)]
pub struct Silu {
    program: Program,
    forward: wgpu::ComputePipeline,
    backward: wgpu::ComputePipeline,
}

impl Silu {
    pub(crate) fn new(device: &Compiler<'_>) -> Self {
        use Access::{Read, ReadWrite, Uniform};
        let program = Program::new(device, "silu", sources::SILU, &[Uniform, Read, ReadWrite]);
        let forward = program.pipeline(device, "forward");
        let backward = program.pipeline(device, "backward");
        Self {
            program,
            forward,
            backward,
        }
    }

    /// Binds `params` (a [`SiluParams`] uniform), the pre-activations `h` and `x` (distinct
    /// from `h`).
    #[must_use]
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        h: wgpu::BufferBinding<'_>,
        x: wgpu::BufferBinding<'_>,
    ) -> wgpu::BindGroup {
        self.program.bind(device, &[whole(params), h, x])
    }

    /// Records `x = SiLU(h)` over `len` elements.
    pub fn dispatch_forward(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        len: u32,
    ) {
        record(pass, &self.forward, bind_group, elementwise_groups(len));
    }

    /// Records `x ← x · SiLU'(h)` over `len` elements.
    pub fn dispatch_backward(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        len: u32,
    ) {
        record(pass, &self.backward, bind_group, elementwise_groups(len));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<super::SiluParams>(), 16);
    }
}
