//! Host half of `shaders/matmul.wgsl`: `C = α·op(A)·op(B) + β·D`, tiled 64×64 or 128×128,
//! or split along `k` (`split_k`) inside the crate.

use std::sync::Arc;

use super::common::{
    Access, Compiler, ELEMENTWISE_WG, Program, TileChoice, Tiled, record, storage_buffer_zeroed,
    tile_groups, uniform_buffer, whole,
};
use super::sources;
use super::split_k;

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
    /// Split-k only: inner terms per chunk (a multiple of 16), set by the crate's split path;
    /// 0 (ignored) for [`Matmul::dispatch`] and [`TensorMatmul`].
    pub chunk: u32,
    /// Padding.
    pub _pad: u32,
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
///
/// [`Matmul::dispatch`] runs the tiled kernel. Inside the crate (`ops::matmul`, and `f16`
/// Newton–Schulz on the emulated engine) a product of fewer than 512 blocks of 64×64 (counting
/// those on and above the diagonal of a [`MatmulParams::SYMMETRIC`] one) over at least 512
/// terms, or over more than 4,096, takes a split-k path instead (`split_k`): chunk sums in
/// parallel, then a pass that adds them and applies the epilogue.
#[derive(Debug)]
pub struct Matmul {
    /// Bindings 0..=5 (5: the split-k scratch); [`TensorMatmul`] shares the layout.
    program: Program,
    main: Tiled,
    /// The same kernel with `ROUND_F16 = true`: operands rounded to `f16`, `f32` sums.
    main_f16: Tiled,
    /// Split-k, always in 64×64 blocks (for products of few blocks), in `f32` and rounding
    /// operands to `f16`; then the reduction.
    split_partial: wgpu::ComputePipeline,
    split_partial_f16: wgpu::ComputePipeline,
    split_reduce: wgpu::ComputePipeline,
    /// Bound as the split-k scratch of the tiled kernels, which never touch it.
    no_scratch: wgpu::Buffer,
}

/// One product bound once, with the path chosen for its shape (crate-internal).
#[derive(Debug)]
pub(crate) struct MatmulCall {
    bind_group: wgpu::BindGroup,
    m: u32,
    n: u32,
    /// Split-k chunks, or 0 for the tiled kernel.
    chunks: u32,
}

impl Matmul {
    pub(crate) fn new(device: &Compiler<'_>, choice: &Arc<TileChoice>) -> Self {
        use Access::{Read, ReadWrite};
        let (program, large) = Program::tiled(
            device,
            "matmul",
            sources::MATMUL,
            sources::MATMUL_LARGE,
            &[Read, Read, Read, Read, ReadWrite, ReadWrite],
            choice,
        );
        let main = Tiled::new(device, &program, large.as_ref(), "main", &[], choice);
        let round = [("ROUND_F16", 1.0)];
        let main_f16 = Tiled::new(device, &program, large.as_ref(), "main", &round, choice);
        Self {
            main,
            main_f16,
            split_partial: program.pipeline(device, "split_partial"),
            split_partial_f16: program.pipeline_with(device, "split_partial", &round),
            split_reduce: program.pipeline(device, "split_reduce"),
            program,
            no_scratch: storage_buffer_zeroed(device, "matmul: no split-k scratch", 4),
        }
    }

    /// The split-k path of the product `params` describes (`fill`:
    /// [`super::Kernels::split_fill`]): `(chunks, chunk)`, or `None` where the tiled kernel
    /// is used.
    fn split(params: &MatmulParams, fill: bool) -> Option<(u32, u32)> {
        let blocks = if params.flags & MatmulParams::SYMMETRIC != 0 {
            split_k::upper_blocks(params.m)
        } else {
            tile_groups(params.m, params.n)
        };
        let outputs = u64::from(params.m) * u64::from(params.n);
        split_k::split(blocks, params.k, outputs, fill)
    }

    /// Bytes of chunk sums the product `params` describes needs (0 where it runs tiled).
    pub(crate) fn split_bytes(params: &MatmulParams, fill: bool) -> u64 {
        let outputs = u64::from(params.m) * u64::from(params.n);
        split_k::bytes(Self::split(params, fill), outputs)
    }

    /// The longest run of inner terms one invocation sums for the product `params`
    /// describes: `k` on the tiled kernel, a chunk on the split-k path.
    pub(crate) fn longest_walk(params: &MatmulParams, fill: bool) -> u32 {
        Self::split(params, fill).map_or(params.k, |(_, chunk)| chunk)
    }

    /// Binds the product `params` describes, on the split-k path where its shape takes it
    /// (never with `tiled_only`: for the tensor-core kernel), with the chunk sums in `sums`
    /// (a buffer shared with products that never run at the same time, of at least
    /// [`Matmul::split_bytes`] bytes; `None` only where that is 0) and `fill` as
    /// [`super::Kernels::split_fill`].
    #[allow(
        clippy::too_many_arguments,
        reason = "a product's operands, shape and path"
    )]
    pub(crate) fn call(
        &self,
        device: &wgpu::Device,
        params: &MatmulParams,
        (fill, tiled_only): (bool, bool),
        sums: Option<&wgpu::Buffer>,
        a: wgpu::BufferBinding<'_>,
        b: wgpu::BufferBinding<'_>,
        d: wgpu::BufferBinding<'_>,
        c: wgpu::BufferBinding<'_>,
    ) -> MatmulCall {
        let split = Self::split(params, fill).filter(|_| !tiled_only).zip(sums);
        let params = MatmulParams {
            chunk: split.map_or(0, |((_, chunk), _)| chunk),
            ..*params
        };
        let uniform = uniform_buffer(device, "matmul params", &params);
        let scratch = split.map_or(&self.no_scratch, |(_, sums)| sums);
        let bind_group = self
            .program
            .bind(device, &[whole(&uniform), a, b, d, c, whole(scratch)]);
        MatmulCall {
            bind_group,
            m: params.m,
            n: params.n,
            chunks: split.map_or(0, |((chunks, _), _)| chunks),
        }
    }

    /// Records a product bound by [`Matmul::call`], with operands rounded to `f16` where
    /// `f16` (the emulated engine).
    pub(crate) fn dispatch_call(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        call: &MatmulCall,
        f16: bool,
    ) {
        if call.chunks == 0 {
            let tiled = if f16 { &self.main_f16 } else { &self.main };
            tiled.record(pass, &call.bind_group, call.m, call.n);
        } else {
            let partial = if f16 {
                &self.split_partial_f16
            } else {
                &self.split_partial
            };
            let blocks = tile_groups(call.m, call.n);
            record(pass, partial, &call.bind_group, blocks * call.chunks);
            let groups = (call.m * call.n).div_ceil(ELEMENTWISE_WG);
            record(pass, &self.split_reduce, &call.bind_group, groups);
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
        self.program.bind(
            device,
            &[whole(params), a, b, d, c, whole(&self.no_scratch)],
        )
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

    /// Records a product bound by [`Matmul::call`] with `tiled_only` set.
    pub(crate) fn dispatch_call(&self, pass: &mut wgpu::ComputePass<'_>, call: &MatmulCall) {
        debug_assert_eq!(call.chunks, 0, "the tensor-core kernel has no split-k path");
        self.dispatch(pass, &call.bind_group, call.m, call.n);
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
    use super::{Matmul, MatmulParams};

    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<MatmulParams>(), 32);
        assert!(super::sources::MATMUL.contains("params.chunk"));
    }

    fn params(m: u32, n: u32, k: u32, flags: u32) -> MatmulParams {
        MatmulParams {
            m,
            n,
            k,
            flags,
            ..MatmulParams::default()
        }
    }

    #[test]
    fn split_k_for_products_of_few_blocks_or_a_long_inner_dimension() {
        // 100×90 over 700: 4 blocks, 2 chunks (none under 256 terms).
        assert_eq!(
            Matmul::split(&params(100, 90, 700, 0), true),
            Some((2, 352))
        );
        assert_eq!(Matmul::split(&params(100, 90, 511, 0), true), None);
        // 768² over 768: 144 blocks, 3 chunks; symmetric, 78 blocks on and above the diagonal.
        assert_eq!(
            Matmul::split(&params(768, 768, 768, 0), true),
            Some((3, 256))
        );
        let sym = MatmulParams::SYMMETRIC;
        assert_eq!(
            Matmul::split(&params(768, 768, 3072, sym), true),
            Some((7, 448))
        );
        assert_eq!(
            Matmul::split(&params(768, 768, 3072, 0), true),
            Some((4, 768))
        );
        // 512 blocks or more: tiled, unless the inner dimension is long.
        assert_eq!(Matmul::split(&params(2048, 1024, 1024, 0), true), None);
        assert_eq!(Matmul::split(&params(2048, 1024, 8192, 0), true), None);
        // 500 blocks of 2,048,000 outputs over 2²⁰ terms: 256 chunks of 4,096 would need
        // 2 GB of sums; the 64 MiB bound allows 8, of 131,072 terms.
        assert_eq!(
            Matmul::split(&params(1280, 1600, 1 << 20, 0), true),
            Some((8, 131_072))
        );
        // Without the fill rule only products over more than 4,096 terms split.
        assert_eq!(Matmul::split(&params(100, 90, 700, 0), false), None);
        assert_eq!(
            Matmul::split(&params(1, 1, 4097, 0), false),
            Some((2, 2064))
        );
        // The chunk sums and the longest walk.
        assert_eq!(
            Matmul::split_bytes(&params(100, 90, 700, 0), true),
            2 * 100 * 90 * 4
        );
        assert_eq!(Matmul::split_bytes(&params(100, 90, 511, 0), true), 0);
        assert_eq!(Matmul::longest_walk(&params(100, 90, 511, 0), true), 511);
        assert_eq!(Matmul::longest_walk(&params(2, 3, 200_003, 0), true), 400);
    }
}
