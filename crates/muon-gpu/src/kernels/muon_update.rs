//! Host half of `shaders/muon_step.wgsl` with `muon_update.wgsl` or `muon_update_vec4.wgsl`:
//! Muon's momentum and apply halves.

use muon_core::muon::{Muon, adjusted_lr};

use super::common::{Access, Compiler, Program, whole};
use super::elementwise::{ElementwiseBindGroups, Lanes, Operand};
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

/// Muon's element-wise kernels, each in both builds ([`ElementwiseBindGroups`]).
#[derive(Debug)]
pub struct MuonUpdate {
    program: Program,
    momentum: Lanes,
    apply: Lanes,
}

impl MuonUpdate {
    pub(crate) fn new(device: &Compiler<'_>) -> Self {
        use Access::{Read, ReadWrite, Uniform};
        let program = Program::new(
            device,
            "muon_update",
            sources::MUON_UPDATE,
            &[Uniform, Read, ReadWrite, ReadWrite, ReadWrite, Read],
        );
        let vec4 = Program::with_layout_of(
            device,
            "muon_update_vec4",
            sources::MUON_UPDATE_VEC4,
            &program,
        );
        Self {
            momentum: Lanes::new(device, &program, &vec4, "momentum", 1, 4),
            apply: Lanes::new(device, &program, &vec4, "apply", 1, 4),
            program,
        }
    }

    /// Binds `params` (a [`MuonParams`] uniform for `len` elements), the `len` elements of
    /// `G`, the momentum `B`, the update buffer (`U` for `momentum`, the Newton–Schulz output
    /// for `apply`) and `W`, and the status (`G` and `W` by their ranges:
    /// [`crate::GpuMatrix::binding`]). The bind groups serve both halves.
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
        len: u32,
    ) -> ElementwiseBindGroups {
        let operands = [
            Operand::Fixed(whole(params)),
            Operand::Array(grad, 4),
            Operand::Array(whole(momentum), 4),
            Operand::Array(whole(update), 4),
            Operand::Array(param, 4),
            Operand::Fixed(whole(status)),
        ];
        // Both halves take 4 elements per thread, so one set of bind groups serves both.
        self.momentum.bind(device, &self.program, &operands, len)
    }

    /// Records the momentum half over the elements `groups` binds.
    pub fn dispatch_momentum(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        groups: &ElementwiseBindGroups,
    ) {
        self.momentum.record(pass, groups);
    }

    /// Records the apply half over the elements `groups` binds.
    pub fn dispatch_apply(&self, pass: &mut wgpu::ComputePass<'_>, groups: &ElementwiseBindGroups) {
        self.apply.record(pass, groups);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<super::MuonParams>(), 32);
    }
}
