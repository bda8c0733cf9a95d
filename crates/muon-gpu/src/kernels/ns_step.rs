//! Host half of `shaders/ns_step.wgsl`: `X' = a·X + B·X` (wide) or `a·X + X·B` (tall).

use std::sync::Arc;

use super::common::{Access, Program, TileChoice, Tiled, whole};
use super::sources;

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
}

/// The Newton–Schulz polynomial step (after `B = b·A + c·A²` from [`super::Gram`]).
#[derive(Debug)]
pub struct NsStep {
    program: Program,
    main: Tiled,
}

impl NsStep {
    pub(crate) fn new(device: &wgpu::Device, choice: &Arc<TileChoice>) -> Self {
        use Access::{Read, ReadWrite};
        let (program, large) = Program::tiled(
            device,
            "ns_step",
            sources::NS_STEP,
            sources::NS_STEP_LARGE,
            &[Read, Read, Read, ReadWrite],
            choice,
        );
        let main = Tiled::new(device, &program, large.as_ref(), "main", &[], choice);
        Self { program, main }
    }

    /// Binds `params` (an [`NsStepParams`] block, read as storage: [`super::uniform_buffer`]
    /// makes one), `B`, `X` and the output `X'`.
    #[must_use]
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        b: &wgpu::Buffer,
        x: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.program
            .bind(device, &[whole(params), whole(b), whole(x), whole(out)])
    }

    /// Records the step for a `rows × cols` iterate.
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
        assert_eq!(core::mem::size_of::<super::NsStepParams>(), 16);
    }
}
