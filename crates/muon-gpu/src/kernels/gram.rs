//! Host half of `shaders/gram.wgsl`: `G = α·X·Xᵀ + β·D` (or `α·XᵀX + β·D`), symmetric.

use std::sync::Arc;

use super::common::{
    Access, Compiler, ELEMENTWISE_WG, Program, TILE, TileChoice, Tiled, record,
    storage_buffer_zeroed, uniform_buffer, whole,
};
use super::sources;
use super::split_k;

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
    /// Split-k only: inner terms per chunk (a multiple of 16), set by the crate's split path;
    /// 0 (ignored) for [`Gram::dispatch`].
    pub chunk: u32,
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
/// [`crate::ops::gram`]) a product with fewer than 512 blocks on and above the diagonal
/// (orders up to 1984) over at least 512 terms takes a split-k path instead: chunk sums in
/// parallel, then a reduction. It keeps a GPU busy on medium orders (the Gram product of a
/// 768 × 3072 matrix runs 78 workgroups tiled, 546 split), and no workgroup walks all of a
/// long inner dimension (the Gram of a `1 × N` vector, or of a `100 × 200,000` matrix: seconds
/// on one GPU core, and beyond lavapipe's loop cap).
#[derive(Debug)]
pub struct Gram {
    /// All three entry points, bindings 0..=4 (4: the split-k scratch).
    program: Program,
    main: Tiled,
    /// Always in 64×64 blocks: split-k is for small orders.
    split_partial: wgpu::ComputePipeline,
    /// The reduction for orders ≤ 64: a workgroup per element, a tree over its chunks.
    split_reduce: wgpu::ComputePipeline,
    /// The reduction for larger orders (fewer chunks, many elements): a thread per element.
    split_reduce_flat: wgpu::ComputePipeline,
    /// Bound as the split-k scratch of the tiled kernel, which never touches it (one store
    /// routine in the shader serves both paths, so every entry point declares binding 4).
    no_scratch: wgpu::Buffer,
}

/// The split-k scratch of an `m × m` Gram product over `k` terms: `chunks·m²` floats where
/// the product splits ([`Gram::scratch`]), nothing where it runs tiled. Products of one shape
/// that never run at the same time (the Newton–Schulz iterates of one plan, the plans of one
/// shape) share one.
#[derive(Clone, Debug)]
pub(crate) struct GramScratch {
    /// The shape it was made for.
    shape: (u32, u32),
    /// `(chunks, chunk, sums)` on the split-k path.
    split: Option<(u32, u32, wgpu::Buffer)>,
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
    pub(crate) fn new(device: &Compiler<'_>, choice: &Arc<TileChoice>) -> Self {
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
            split_reduce_flat: program.pipeline(device, "split_reduce_flat"),
            program,
            no_scratch: storage_buffer_zeroed(device, "gram: no split-k scratch", 4),
        }
    }

    /// The longest run of inner terms one invocation sums for an `m × m` product over `k`:
    /// `k` on the tiled kernel, a chunk on the split-k path.
    pub(crate) fn longest_walk(m: u32, k: u32, fill: bool) -> u32 {
        Self::split(m, k, fill).map_or(k, |(_, chunk)| chunk)
    }

    /// The split-k path for an `m × m` product over `k` (`fill`: [`super::Kernels::split_fill`]):
    /// `(chunks, chunk)`, or `None` where the tiled kernel is used.
    fn split(m: u32, k: u32, fill: bool) -> Option<(u32, u32)> {
        split_k::split(
            split_k::upper_blocks(m),
            k,
            u64::from(m) * u64::from(m),
            fill,
        )
    }

    /// Bytes of chunk sums an `m × m` product over `k` needs (0 where it runs tiled).
    pub(crate) fn split_bytes(m: u32, k: u32, fill: bool) -> u64 {
        split_k::bytes(Self::split(m, k, fill), u64::from(m) * u64::from(m))
    }

    /// The split-k scratch of an `m × m` product over `k` (see [`GramScratch`]), in a
    /// buffer of its own.
    pub(crate) fn scratch(device: &wgpu::Device, m: u32, k: u32, fill: bool) -> GramScratch {
        let bytes = Self::split_bytes(m, k, fill);
        let sums =
            (bytes > 0).then(|| storage_buffer_zeroed(device, "gram split-k partials", bytes));
        Self::scratch_in(m, k, fill, sums.as_ref())
    }

    /// The split-k scratch of an `m × m` product over `k` in `sums`, a buffer shared with
    /// products that never run at the same time, of at least [`Gram::split_bytes`] bytes
    /// (`None` only where that is 0).
    pub(crate) fn scratch_in(
        m: u32,
        k: u32,
        fill: bool,
        sums: Option<&wgpu::Buffer>,
    ) -> GramScratch {
        let split = Self::split(m, k, fill)
            .zip(sums)
            .map(|((chunks, chunk), sums)| {
                debug_assert!(
                    sums.size() >= Self::split_bytes(m, k, fill),
                    "split-k scratch too small"
                );
                (chunks, chunk, sums.clone())
            });
        GramScratch {
            shape: (m, k),
            split,
        }
    }

    /// Binds the product `params` describes, on the path its `scratch` (made for the same
    /// `m` and `k` by [`Gram::scratch`]) was made for.
    pub(crate) fn call(
        &self,
        device: &wgpu::Device,
        params: &GramParams,
        scratch: &GramScratch,
        x: wgpu::BufferBinding<'_>,
        d: wgpu::BufferBinding<'_>,
        g: wgpu::BufferBinding<'_>,
    ) -> GramCall {
        debug_assert_eq!(
            scratch.shape,
            (params.m, params.k),
            "scratch of another shape"
        );
        let params = GramParams {
            chunk: scratch.split.as_ref().map_or(0, |&(_, chunk, _)| chunk),
            ..*params
        };
        let uniform = uniform_buffer(device, "gram params", &params);
        let (bind_group, chunks) = match &scratch.split {
            None => (self.bind_group(device, &uniform, x, d, g), 0),
            Some((chunks, _, sums)) => {
                let bg = self
                    .program
                    .bind(device, &[whole(&uniform), x, d, g, whole(sums)]);
                (bg, *chunks)
            }
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
            let blocks = split_k::upper_blocks(call.m);
            record(
                pass,
                &self.split_partial,
                &call.bind_group,
                blocks * call.chunks,
            );
            let elements = call.m * call.m;
            if call.m <= TILE {
                record(pass, &self.split_reduce, &call.bind_group, elements);
            } else {
                let groups = elements.div_ceil(ELEMENTWISE_WG);
                record(pass, &self.split_reduce_flat, &call.bind_group, groups);
            }
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
    fn the_kernel_reads_the_chunk_length() {
        assert!(sources::GRAM.contains("params.chunk"));
    }

    #[test]
    fn split_k_fills_the_gpu_below_512_blocks() {
        // Under two minimum chunks: tiled.
        assert_eq!(Gram::split(1, 511, true), None);
        assert_eq!(Gram::split(1, 512, true), Some((2, 256)));
        assert_eq!(Gram::split(768, 255, true), None);
        // Medium orders: chunks until about 512 workgroups run, none under 256 terms.
        assert_eq!(Gram::split(768, 768, true), Some((3, 256)));
        assert_eq!(Gram::split(768, 3072, true), Some((7, 448)));
        assert_eq!(Gram::split(1024, 1024, true), Some((4, 256)));
        assert_eq!(Gram::split(1984, 1984, true), Some((2, 992)));
        // From 32 blocks a side (528 blocks, order 1985 on) the tiled kernel has blocks enough.
        assert_eq!(split_k::upper_blocks(1984), 496);
        assert_eq!(split_k::upper_blocks(1985), 528);
        assert_eq!(Gram::split(u32::MAX, 1 << 20, true), None);
        assert_eq!(Gram::split(1985, 1 << 20, true), None);
        // The chunk sums: chunks · m² floats.
        assert_eq!(Gram::split_bytes(1024, 1024, true), 4 * 1024 * 1024 * 4);
        assert_eq!(Gram::split_bytes(768, 3072, true), 7 * 768 * 768 * 4);
        assert_eq!(Gram::split_bytes(1985, 1 << 20, true), 0);
        assert_eq!(Gram::longest_walk(2048, 1 << 24, true), 1 << 24);
    }

    #[test]
    fn split_k_bounds_the_walk_of_long_products() {
        // Chunks of at most 4096 terms ...
        assert_eq!(Gram::split(1, 1 << 31, true), Some((1 << 19, 4096)));
        assert_eq!(Gram::split(65, 1 << 20, true), Some((256, 4096)));
        assert_eq!(Gram::split(640, 100_000, true), Some((25, 4000)));
        // ... or shorter, where filling the GPU asks for more of them ...
        assert_eq!(Gram::split(64, 1 << 20, true), Some((512, 2048)));
        assert_eq!(Gram::longest_walk(100, 200_003, true), 1184);
        // ... merged to keep the scratch within 16 Mi floats: 40 for 640² and 641².
        for m in [640, 641] {
            let (chunks, chunk) = Gram::split(m, 1 << 24, true).unwrap();
            assert_eq!((chunks, chunk), (40, 419_440));
            assert!(u64::from(chunks) * u64::from(m) * u64::from(m) <= split_k::MAX_SCRATCH);
            assert!(u64::from(chunks) * u64::from(chunk) >= 1 << 24);
        }
        // A chunk length never leaves a chunk empty, and no chunk is under 256 terms unless
        // the whole product is split in two.
        for (m, k) in [
            (65, 16_385),
            (300, 20_000),
            (640, 16_400),
            (2, 1_000_003),
            (768, 3001),
            (1900, 600),
            (1, 517),
        ] {
            let (chunks, chunk) = Gram::split(m, k, true).unwrap();
            assert_eq!(chunk % 16, 0);
            assert!(chunk >= split_k::MIN_CHUNK, "{m} {k}: {chunk}");
            assert!((chunks - 1) * chunk < k && chunks * chunk >= k, "{m} {k}");
        }
    }
}
