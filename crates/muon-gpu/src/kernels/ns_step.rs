//! Host half of `shaders/ns_step.wgsl`: `X' = a·X + B·X` (wide) or `a·X + X·B` (tall).

use std::sync::Arc;

use super::common::{
    Access, Compiler, ELEMENTWISE_WG, Program, TileChoice, Tiled, record, storage_buffer_zeroed,
    tile_groups, uniform_buffer, whole,
};
use super::sources;
use super::split_k;

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
    /// Split-k only: inner terms per chunk (a multiple of 16), set by the crate's split path;
    /// 0 (ignored) for [`NsStep::dispatch`].
    pub chunk: u32,
    /// Padding.
    pub _pad: [u32; 3],
}

/// The Newton–Schulz polynomial step (after `B = b·A + c·A²` from [`super::Gram`]).
///
/// [`NsStep::dispatch`] runs the tiled kernel. Inside the crate ([`crate::GpuNewtonSchulz`]) an
/// iterate of fewer than 512 blocks of 64×64 whose inner dimension (its shorter side) is at
/// least 512 takes a split-k path instead (`split_k`): chunk sums in parallel, then a pass that
/// adds them and the `a·X` term.
#[derive(Debug)]
pub struct NsStep {
    /// All three entry points, bindings 0..=4 (4: the split-k scratch).
    program: Program,
    main: Tiled,
    /// Always in 64×64 blocks: split-k is for iterates of few blocks.
    split_partial: wgpu::ComputePipeline,
    split_reduce: wgpu::ComputePipeline,
    /// Bound as the split-k scratch of the tiled kernel, which never touches it.
    no_scratch: wgpu::Buffer,
}

/// One step bound once, with the path chosen for its shape (crate-internal).
#[derive(Debug)]
pub(crate) struct NsStepCall {
    bind_group: wgpu::BindGroup,
    rows: u32,
    cols: u32,
    /// Split-k chunks, or 0 for the tiled kernel.
    chunks: u32,
}

impl NsStep {
    pub(crate) fn new(device: &Compiler<'_>, choice: &Arc<TileChoice>) -> Self {
        use Access::{Read, ReadWrite};
        let (program, large) = Program::tiled(
            device,
            "ns_step",
            sources::NS_STEP,
            sources::NS_STEP_LARGE,
            &[Read, Read, Read, ReadWrite, ReadWrite],
            choice,
        );
        Self {
            main: Tiled::new(device, &program, large.as_ref(), "main", &[], choice),
            split_partial: program.pipeline(device, "split_partial"),
            split_reduce: program.pipeline(device, "split_reduce"),
            program,
            no_scratch: storage_buffer_zeroed(device, "ns step: no split-k scratch", 4),
        }
    }

    /// The split-k path of a `rows × cols` iterate: `(chunks, chunk)`, or `None` where the
    /// tiled kernel is used. The inner dimension is the shorter side.
    fn split(rows: u32, cols: u32, fill: bool) -> Option<(u32, u32)> {
        let outputs = u64::from(rows) * u64::from(cols);
        split_k::split(tile_groups(rows, cols), rows.min(cols), outputs, fill)
    }

    /// Bytes of chunk sums a `rows × cols` iterate needs (0 where it runs tiled).
    pub(crate) fn split_bytes(rows: u32, cols: u32, fill: bool) -> u64 {
        split_k::bytes(
            Self::split(rows, cols, fill),
            u64::from(rows) * u64::from(cols),
        )
    }

    /// Binds the step `params` describes, on the split-k path where its shape takes it, with
    /// the chunk sums in `sums` (a buffer shared with products that never run at the same
    /// time, of at least [`NsStep::split_bytes`] bytes; `None` only where that is 0) and
    /// `fill` as [`super::Kernels::split_fill`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn call(
        &self,
        device: &wgpu::Device,
        params: &NsStepParams,
        fill: bool,
        sums: Option<&wgpu::Buffer>,
        b: &wgpu::Buffer,
        x: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> NsStepCall {
        let split = Self::split(params.rows, params.cols, fill).zip(sums);
        let params = NsStepParams {
            chunk: split.map_or(0, |((_, chunk), _)| chunk),
            ..*params
        };
        let uniform = uniform_buffer(device, "ns step params", &params);
        let scratch = split.map_or(&self.no_scratch, |(_, sums)| sums);
        let bind_group = self.program.bind(
            device,
            &[
                whole(&uniform),
                whole(b),
                whole(x),
                whole(out),
                whole(scratch),
            ],
        );
        NsStepCall {
            bind_group,
            rows: params.rows,
            cols: params.cols,
            chunks: split.map_or(0, |((chunks, _), _)| chunks),
        }
    }

    /// Records a step bound by [`NsStep::call`].
    pub(crate) fn dispatch_call(&self, pass: &mut wgpu::ComputePass<'_>, call: &NsStepCall) {
        if call.chunks == 0 {
            self.dispatch(pass, &call.bind_group, call.rows, call.cols);
        } else {
            let blocks = tile_groups(call.rows, call.cols);
            record(
                pass,
                &self.split_partial,
                &call.bind_group,
                blocks * call.chunks,
            );
            let groups = (call.rows * call.cols).div_ceil(ELEMENTWISE_WG);
            record(pass, &self.split_reduce, &call.bind_group, groups);
        }
    }

    /// Binds `params` (an [`NsStepParams`] block, read as storage: [`super::uniform_buffer`]
    /// makes one), `B`, `X` and the output `X'`, for the tiled kernel.
    #[must_use]
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        b: &wgpu::Buffer,
        x: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.program.bind(
            device,
            &[
                whole(params),
                whole(b),
                whole(x),
                whole(out),
                whole(&self.no_scratch),
            ],
        )
    }

    /// Records the tiled step for a `rows × cols` iterate.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        rows: u32,
        cols: u32,
    ) {
        self.main.record(pass, bind_group, rows, cols);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<super::NsStepParams>(), 32);
    }

    #[test]
    fn split_k_for_iterates_of_few_blocks_and_a_long_enough_inner_dimension() {
        use super::NsStep;
        assert!(super::sources::NS_STEP.contains("params.chunk"));
        // 768²: 144 blocks, 768 inner terms: 3 chunks of 256.
        assert_eq!(NsStep::split(768, 768, true), Some((3, 256)));
        // 1024²: 256 blocks, 2 chunks; tall or wide alike.
        assert_eq!(NsStep::split(1024, 1024, true), Some((2, 512)));
        assert_eq!(NsStep::split(600, 700, true), Some((2, 304)));
        assert_eq!(NsStep::split(700, 600, true), Some((2, 304)));
        // A short side under 512: tiled; 512 blocks or more: tiled.
        assert_eq!(NsStep::split(511, 4000, true), None);
        assert_eq!(NsStep::split(768, 3072, true), None);
        assert_eq!(NsStep::split_bytes(768, 3072, true), 0);
        assert_eq!(NsStep::split_bytes(1024, 1024, true), 2 * 1024 * 1024 * 4);
    }
}
