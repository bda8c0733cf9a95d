//! Host half of `shaders/matmul.wgsl`: `C = α·op(A)·op(B) + β·D`, tiled 64×64.

use super::common::{Access, Program, record, tile_groups};
use super::sources;

/// Uniforms of `matmul.wgsl` (`MatmulParams`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MatmulParams {
    /// Rows of `op(A)`, `C` and `D`.
    pub m: u32,
    /// Columns of `op(B)`, `C` and `D`.
    pub n: u32,
    /// Columns of `op(A)` = rows of `op(B)`.
    pub k: u32,
    /// Bit 0: `A` stored transposed (`k×m`); bit 1: `B` stored transposed (`n×k`).
    pub flags: u32,
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of `D` (0: `D` is not read).
    pub beta: f32,
    /// Padding.
    pub _pad: [u32; 2],
}

impl MatmulParams {
    /// Flag: `A` is stored transposed.
    pub const TRANS_A: u32 = 1;
    /// Flag: `B` is stored transposed.
    pub const TRANS_B: u32 = 2;
}

/// The general tiled matrix product.
#[derive(Debug)]
pub struct Matmul {
    program: Program,
    main: wgpu::ComputePipeline,
}

impl Matmul {
    pub(crate) fn new(device: &wgpu::Device) -> Self {
        use Access::{Read, ReadWrite, Uniform};
        let program = Program::new(
            device,
            "matmul",
            sources::MATMUL,
            &[Uniform, Read, Read, Read, ReadWrite],
        );
        let main = program.pipeline(device, "main");
        Self { program, main }
    }

    /// Binds `params` (a [`MatmulParams`] uniform), `A`, `B`, `D` and the output `C`
    /// (`C` must differ from the others).
    #[must_use]
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        a: &wgpu::Buffer,
        b: &wgpu::Buffer,
        d: &wgpu::Buffer,
        c: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.program.bind(device, &[params, a, b, d, c])
    }

    /// Records the product for an `m × n` output.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        m: u32,
        n: u32,
    ) {
        record(pass, &self.main, bind_group, tile_groups(m, n));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<super::MatmulParams>(), 32);
    }
}
