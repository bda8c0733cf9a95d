//! Host half of `shaders/softmax_xent.wgsl`: row-wise softmax cross-entropy, its gradient
//! with respect to the logits and per-row statistics.

use super::common::{Access, Compiler, Program, record, whole};
use super::sources;

/// Uniforms of `softmax_xent.wgsl` (`XentParams`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct XentParams {
    /// Rows (samples).
    pub rows: u32,
    /// Columns (classes).
    pub cols: u32,
    /// Padding.
    pub _pad: [u32; 2],
}

/// `f32` values the kernel writes per row into its statistics buffer: the target's
/// probability, its cross-entropy `−ln p`, `1` if the target is the strict arg-max (else `0`),
/// and the weighted cross-entropy.
pub const XENT_STATS_PER_ROW: usize = 4;

/// Softmax cross-entropy over the rows of a logit matrix: for row `r` with class `t_r` and
/// weight `w_r`, `grad[r] = w_r (softmax(Z[r]) − onehot(t_r))` and the row's statistics
/// ([`XENT_STATS_PER_ROW`]). One workgroup per row.
#[derive(Debug)]
pub struct SoftmaxXent {
    program: Program,
    main: wgpu::ComputePipeline,
}

impl SoftmaxXent {
    pub(crate) fn new(device: &Compiler<'_>) -> Self {
        use Access::{Read, ReadWrite, Uniform};
        let program = Program::new(
            device,
            "softmax_xent",
            sources::SOFTMAX_XENT,
            &[Uniform, Read, Read, Read, ReadWrite, ReadWrite],
        );
        let main = program.pipeline(device, "main");
        Self { program, main }
    }

    /// Binds `params` (an [`XentParams`] uniform), the logits (`rows × cols`), the targets
    /// (`rows` × `u32`), the weights (`rows` × `f32`), the gradient (`rows × cols`, distinct
    /// from the logits) and the statistics (`rows × 4`).
    #[must_use]
    #[allow(clippy::too_many_arguments)]
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        logits: wgpu::BufferBinding<'_>,
        targets: &wgpu::Buffer,
        weights: &wgpu::Buffer,
        grad: wgpu::BufferBinding<'_>,
        stats: wgpu::BufferBinding<'_>,
    ) -> wgpu::BindGroup {
        self.program.bind(
            device,
            &[
                whole(params),
                logits,
                whole(targets),
                whole(weights),
                grad,
                stats,
            ],
        )
    }

    /// Records the kernel over `rows` rows (one workgroup each).
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        rows: u32,
    ) {
        record(pass, &self.main, bind_group, rows);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<super::XentParams>(), 16);
    }
}
