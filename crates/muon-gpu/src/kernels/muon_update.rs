//! Host half of `shaders/muon_update.wgsl`: Muon's momentum and apply halves.

use muon_core::muon::{Muon, adjusted_lr};

use super::common::{Access, Program, elementwise_groups, record, whole};
use super::sources;

/// Uniforms of `muon_update.wgsl` (`MuonParams`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MuonParams {
    /// Number of elements.
    pub len: u32,
    /// 1: Nesterov.
    pub nesterov: u32,
    /// Momentum `μ`.
    pub momentum: f32,
    /// `1 − lr·weight_decay`.
    pub decay: f32,
    /// The adjusted learning rate for this shape.
    pub lr: f32,
    /// Padding.
    pub _pad: [u32; 3],
}

impl MuonParams {
    /// The uniforms for a `rows × cols` parameter, computed as `Muon::step` does.
    #[must_use]
    pub fn new(muon: &Muon, rows: usize, cols: usize) -> Self {
        let c = muon.config();
        Self {
            len: (rows * cols) as u32,
            nesterov: u32::from(c.nesterov),
            momentum: c.momentum,
            decay: 1.0 - c.lr * c.weight_decay,
            lr: adjusted_lr(c.lr, c.adjust_lr, rows, cols),
            _pad: [0; 3],
        }
    }
}

/// Muon's element-wise kernels.
#[derive(Debug)]
pub struct MuonUpdate {
    program: Program,
    momentum: wgpu::ComputePipeline,
    apply: wgpu::ComputePipeline,
}

impl MuonUpdate {
    pub(crate) fn new(device: &wgpu::Device) -> Self {
        use Access::{Read, ReadWrite, Uniform};
        let program = Program::new(
            device,
            "muon_update",
            sources::MUON_UPDATE,
            &[Uniform, Read, ReadWrite, ReadWrite, ReadWrite, Read],
        );
        Self {
            momentum: program.pipeline(device, "momentum"),
            apply: program.pipeline(device, "apply"),
            program,
        }
    }

    /// Binds `params` (a [`MuonParams`] uniform), `G`, the momentum `B`, the update buffer
    /// (`U` for `momentum`, the Newton–Schulz output for `apply`), `W` and the status (`G` and
    /// `W` by their ranges: [`crate::GpuMatrix::binding`]).
    #[allow(clippy::too_many_arguments)]
    #[must_use]
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        grad: wgpu::BufferBinding<'_>,
        momentum: &wgpu::Buffer,
        update: &wgpu::Buffer,
        param: wgpu::BufferBinding<'_>,
        status: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.program.bind(
            device,
            &[
                whole(params),
                grad,
                whole(momentum),
                whole(update),
                param,
                whole(status),
            ],
        )
    }

    /// Records the momentum half over `len` elements.
    pub fn dispatch_momentum(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        len: u32,
    ) {
        record(pass, &self.momentum, bind_group, elementwise_groups(len));
    }

    /// Records the apply half over `len` elements.
    pub fn dispatch_apply(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        len: u32,
    ) {
        record(pass, &self.apply, bind_group, elementwise_groups(len));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<super::MuonParams>(), 32);
    }
}
