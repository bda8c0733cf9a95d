//! Host half of `shaders/scatter_add_rows.wgsl`: `out[c] = Σ_{j: index[j] = c} src[j]`, the
//! backward pass of [`super::GatherRows`].

use super::common::{Access, Compiler, Program, elementwise_groups, record, whole};
use super::sources;

/// Uniforms of `scatter_add_rows.wgsl` (`ScatterParams`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ScatterParams {
    /// Rows of the source (number of indices).
    pub rows: u32,
    /// Row length of the source and the output.
    pub cols: u32,
    /// Rows of the output.
    pub out_rows: u32,
    /// Padding.
    pub _pad: u32,
}

/// Sums rows of a source into the output rows its `u32` indices name (repeats add up, in
/// index order; unnamed rows become zero). One thread per output element walks every index:
/// deterministic without float atomics, at `out_rows · cols · rows` work.
#[derive(Debug)]
pub struct ScatterAddRows {
    program: Program,
    main: wgpu::ComputePipeline,
}

impl ScatterAddRows {
    pub(crate) fn new(device: &Compiler<'_>) -> Self {
        use Access::{Read, ReadWrite, Uniform};
        let program = Program::new(
            device,
            "scatter_add_rows",
            sources::SCATTER_ADD_ROWS,
            &[Uniform, Read, Read, ReadWrite],
        );
        let main = program.pipeline(device, "main");
        Self { program, main }
    }

    /// Binds `params` (a [`ScatterParams`] uniform), the indices (`u32`), the source and the
    /// output (distinct from the source).
    #[must_use]
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        index: &wgpu::Buffer,
        src: wgpu::BufferBinding<'_>,
        out: wgpu::BufferBinding<'_>,
    ) -> wgpu::BindGroup {
        self.program
            .bind(device, &[whole(params), whole(index), src, out])
    }

    /// Records the scatter into an `out_rows × cols` output.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        out_rows: u32,
        cols: u32,
    ) {
        record(
            pass,
            &self.main,
            bind_group,
            elementwise_groups(out_rows.saturating_mul(cols)),
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<super::ScatterParams>(), 16);
    }
}
