//! Host half of `shaders/gather_rows.wgsl`: `out[r] = src[index[r]]`, row by row.

use super::common::{Access, Compiler, Program, elementwise_groups, record, whole};
use super::sources;

/// Uniforms of `gather_rows.wgsl` (`GatherParams`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GatherParams {
    /// Rows of the output (number of indices).
    pub rows: u32,
    /// Row length of the source and the output.
    pub cols: u32,
    /// Rows of the source; an index at or past it gives a zero row.
    pub src_rows: u32,
    /// Padding.
    pub _pad: u32,
}

/// Gathers rows of a row-major matrix by a device-resident `u32` index list (an embedding
/// lookup: the rows of `Eᵀ` for the classes of a mini-batch).
#[derive(Debug)]
pub struct GatherRows {
    program: Program,
    main: wgpu::ComputePipeline,
}

impl GatherRows {
    pub(crate) fn new(device: &Compiler<'_>) -> Self {
        use Access::{Read, ReadWrite, Uniform};
        let program = Program::new(
            device,
            "gather_rows",
            sources::GATHER_ROWS,
            &[Uniform, Read, Read, ReadWrite],
        );
        let main = program.pipeline(device, "main");
        Self { program, main }
    }

    /// Binds `params` (a [`GatherParams`] uniform), the indices (`u32`), the source and the
    /// output (which must differ from the source).
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

    /// Records the gather of `rows × cols` elements.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        rows: u32,
        cols: u32,
    ) {
        record(
            pass,
            &self.main,
            bind_group,
            elementwise_groups(rows.saturating_mul(cols)),
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<super::GatherParams>(), 16);
    }
}
