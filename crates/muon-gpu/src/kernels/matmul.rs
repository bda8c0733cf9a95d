//! Host half of `shaders/matmul.wgsl`: `C = α·op(A)·op(B) + β·D`, tiled 64×64 or 128×128.

use std::sync::Arc;

use super::common::{Access, Compiler, Program, TileChoice, Tiled, record, whole};
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
    /// Bit 0: `A` stored transposed (`k×m`); bit 1: `B` stored transposed (`n×k`); bit 2: a
    /// symmetric output ([`MatmulParams::SYMMETRIC`]).
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
    /// Flag: `op(A)·op(B)` is symmetric (`m = n`; a Gram product `X·Xᵀ`, or `A·A` with `A`
    /// symmetric), so only the output blocks on and above the diagonal are computed, each
    /// stored twice (`C[r][c]`, and `C[c][r]` with `D[c][r]`): about half the work. The
    /// result is then the same bits as without the flag; for a product that is not
    /// symmetric, the part below the diagonal is wrong.
    pub const SYMMETRIC: u32 = 4;
}

/// The general tiled matrix product, in `f32` and with `f16`-rounded operands.
#[derive(Debug)]
pub struct Matmul {
    program: Program,
    main: Tiled,
    /// The same kernel with `ROUND_F16 = true`: operands rounded to `f16`, `f32` sums.
    main_f16: Tiled,
}

impl Matmul {
    pub(crate) fn new(device: &Compiler<'_>, choice: &Arc<TileChoice>) -> Self {
        use Access::{Read, ReadWrite};
        let (program, large) = Program::tiled(
            device,
            "matmul",
            sources::MATMUL,
            sources::MATMUL_LARGE,
            &[Read, Read, Read, Read, ReadWrite],
            choice,
        );
        let main = Tiled::new(device, &program, large.as_ref(), "main", &[], choice);
        let round = [("ROUND_F16", 1.0)];
        let main_f16 = Tiled::new(device, &program, large.as_ref(), "main", &round, choice);
        Self {
            program,
            main,
            main_f16,
        }
    }

    /// Binds `params` (a [`MatmulParams`] block, read as storage: [`super::uniform_buffer`]
    /// makes one), `A`, `B`, `D` and the output `C` (each a
    /// range, [`crate::GpuMatrix::binding`], or a whole buffer; `C` must be another buffer
    /// than the others).
    #[must_use]
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        a: wgpu::BufferBinding<'_>,
        b: wgpu::BufferBinding<'_>,
        d: wgpu::BufferBinding<'_>,
        c: wgpu::BufferBinding<'_>,
    ) -> wgpu::BindGroup {
        self.program.bind(device, &[whole(params), a, b, d, c])
    }

    /// Records the product for an `m × n` output.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        m: u32,
        n: u32,
    ) {
        self.main.record(pass, bind_group, m, n);
    }

    /// As [`Matmul::dispatch`] with every operand rounded to `f16` on load (sums in `f32`):
    /// the numerics of [`TensorMatmul`] on any adapter.
    pub fn dispatch_f16(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        m: u32,
        n: u32,
    ) {
        self.main_f16.record(pass, bind_group, m, n);
    }
}

/// Output block edge of `matmul_coop.wgsl` (`BM`, `BN`).
const COOP_TILE: u32 = 128;

/// Threads per workgroup of `matmul_coop.wgsl`: 8 subgroups of 32 (its `THREADS`).
pub(crate) const COOP_WORKGROUP_THREADS: u32 = 256;

/// The tensor-core product (`matmul_coop.wgsl`): `C = α·op(A)·op(B) + β·D` with `f16`
/// operands on 16×16×16 cooperative matrices and `f32` accumulation. Same uniforms
/// ([`MatmulParams`]) and bindings as [`Matmul`]: a bind group from
/// [`Matmul::bind_group`] serves both.
#[derive(Debug)]
pub struct TensorMatmul {
    main: wgpu::ComputePipeline,
}

impl TensorMatmul {
    /// Compiles the kernel, with [`Matmul`]'s bind-group layout. Only for a device with
    /// `SHADER_F16`, `SUBGROUP` and `EXPERIMENTAL_COOPERATIVE_MATRIX` enabled whose subgroups
    /// are always 32 threads wide (the kernel's workgroup is 8 of them).
    pub(crate) fn new(device: &Compiler<'_>, matmul: &Matmul) -> Self {
        let program =
            Program::with_layout_of(device, "matmul_coop", sources::MATMUL_COOP, &matmul.program);
        Self {
            main: program.pipeline(device, "main"),
        }
    }

    /// Records the product for an `m × n` output (bind group from [`Matmul::bind_group`]).
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        m: u32,
        n: u32,
    ) {
        let groups = m.div_ceil(COOP_TILE) * n.div_ceil(COOP_TILE);
        record(pass, &self.main, bind_group, groups);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<super::MatmulParams>(), 32);
    }
}
