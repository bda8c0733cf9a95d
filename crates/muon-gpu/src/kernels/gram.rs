//! Host half of `shaders/gram.wgsl`: `G = α·X·Xᵀ + β·D` (or `α·XᵀX + β·D`), symmetric.

use std::sync::Arc;

use super::common::{
    Access, Program, TILE, TileChoice, Tiled, record, storage_buffer_zeroed, tile_groups, whole,
};
use super::sources;

/// Inner dimension per chunk of the split-k path (`KC` in `gram.wgsl`).
const SPLIT_CHUNK: u32 = 4096;

/// Split-k is taken for an `m × m` Gram product with `m ≤ 64` (one output block, so the
/// tiled kernel would run one workgroup) and an inner dimension of more than this.
const SPLIT_MIN_K: u32 = 4 * SPLIT_CHUNK;

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
///
/// [`Gram::dispatch`] runs the tiled kernel. Inside the crate ([`crate::GpuNewtonSchulz`],
/// [`crate::ops::gram`]) a skinny product with a long inner dimension (the Gram of a `1 × N`
/// vector) takes a split-k path instead: chunk sums in parallel, then a reduction.
#[derive(Debug)]
pub struct Gram {
    /// All three entry points, bindings 0..=4 (4: the split-k scratch).
    program: Program,
    main: Tiled,
    /// Always in 64×64 blocks: split-k is for orders of at most 64.
    split_partial: wgpu::ComputePipeline,
    split_reduce: wgpu::ComputePipeline,
    /// Bound as the split-k scratch of the tiled kernel, which never touches it (one store
    /// routine in the shader serves both paths, so every entry point declares binding 4).
    no_scratch: wgpu::Buffer,
}

/// One Gram product bound once, with the path chosen for its shape (crate-internal).
#[derive(Debug)]
pub(crate) struct GramCall {
    bind_group: wgpu::BindGroup,
    /// Order of `G`.
    m: u32,
    /// Split-k chunks, or 0 for the tiled kernel.
    chunks: u32,
}

impl Gram {
    pub(crate) fn new(device: &wgpu::Device, choice: &Arc<TileChoice>) -> Self {
        use Access::{Read, ReadWrite};
        let (program, large) = Program::tiled(
            device,
            "gram",
            sources::GRAM,
            sources::GRAM_LARGE,
            &[Read, Read, Read, ReadWrite, ReadWrite],
            choice,
        );
        Self {
            main: Tiled::new(device, &program, large.as_ref(), "main", &[], choice),
            split_partial: program.pipeline(device, "split_partial"),
            split_reduce: program.pipeline(device, "split_reduce"),
            program,
            no_scratch: storage_buffer_zeroed(device, "gram: no split-k scratch", 4),
        }
    }

    /// Whether an `m × m` product over `k` runs on the tiled kernel (one invocation walks all
    /// of `k`) rather than the split-k path.
    pub(crate) fn is_tiled(m: u32, k: u32) -> bool {
        Self::split_chunks(m, k) == 0
    }

    /// Split-k chunks for an `m × m` product over `k`, or 0 where the tiled kernel is used.
    fn split_chunks(m: u32, k: u32) -> u32 {
        if m <= TILE && k > SPLIT_MIN_K {
            k.div_ceil(SPLIT_CHUNK)
        } else {
            0
        }
    }

    /// Binds the product `params` describes (`uniform` holds `params`), choosing its path;
    /// the split-k path allocates its scratch (`chunks·m²` floats) here, once.
    pub(crate) fn call(
        &self,
        device: &wgpu::Device,
        uniform: &wgpu::Buffer,
        params: &GramParams,
        x: wgpu::BufferBinding<'_>,
        d: wgpu::BufferBinding<'_>,
        g: wgpu::BufferBinding<'_>,
    ) -> GramCall {
        let chunks = Self::split_chunks(params.m, params.k);
        let bind_group = if chunks == 0 {
            self.bind_group(device, uniform, x, d, g)
        } else {
            let m = u64::from(params.m);
            let scratch = storage_buffer_zeroed(
                device,
                "gram split-k partials",
                u64::from(chunks) * m * m * 4,
            );
            self.program
                .bind(device, &[whole(uniform), x, d, g, whole(&scratch)])
        };
        GramCall {
            bind_group,
            m: params.m,
            chunks,
        }
    }

    /// Records a product bound by [`Gram::call`].
    pub(crate) fn dispatch_call(&self, pass: &mut wgpu::ComputePass<'_>, call: &GramCall) {
        if call.chunks == 0 {
            self.dispatch(pass, &call.bind_group, call.m);
        } else {
            let blocks = tile_groups(call.m, call.m);
            record(
                pass,
                &self.split_partial,
                &call.bind_group,
                blocks * call.chunks,
            );
            record(pass, &self.split_reduce, &call.bind_group, call.m * call.m);
        }
    }

    /// Binds `params` (a [`GramParams`] block, read as storage: [`super::uniform_buffer`]
    /// makes one), `X`, `D` and the output `G` (each a range,
    /// [`crate::GpuMatrix::binding`], or a whole buffer).
    #[must_use]
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        x: wgpu::BufferBinding<'_>,
        d: wgpu::BufferBinding<'_>,
        g: wgpu::BufferBinding<'_>,
    ) -> wgpu::BindGroup {
        self.program
            .bind(device, &[whole(params), x, d, g, whole(&self.no_scratch)])
    }

    /// Records the product for an `m × m` output.
    pub fn dispatch(&self, pass: &mut wgpu::ComputePass<'_>, bind_group: &wgpu::BindGroup, m: u32) {
        self.main.record(pass, bind_group, m, m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<GramParams>(), 32);
    }

    #[test]
    fn split_chunk_matches_wgsl() {
        assert!(sources::GRAM.contains(&format!("const KC: u32 = {SPLIT_CHUNK}u;")));
        assert_eq!(SPLIT_CHUNK % 16, 0, "a multiple of the k-slice depth TK");
    }

    #[test]
    fn split_k_only_for_skinny_long_products() {
        assert_eq!(Gram::split_chunks(1, SPLIT_MIN_K), 0);
        assert_eq!(Gram::split_chunks(1, SPLIT_MIN_K + 1), 5);
        assert_eq!(Gram::split_chunks(64, 1 << 20), 256);
        assert_eq!(Gram::split_chunks(65, 1 << 20), 0);
        assert_eq!(Gram::split_chunks(1, 1 << 31), 1 << 19);
    }
}
