//! Host half of `shaders/adam_step.wgsl` with `adam_update.wgsl` or `adam_update_vec4.wgsl`:
//! the element-wise Adam/AdamW step.

use muon_core::adam::Adam;

use super::common::{Access, Compiler, Program, whole};
use super::elementwise::{ElementwiseBindGroups, Lanes, Operand};
use super::sources;
use crate::MomentFormat;

/// The most bias-correction entries precomputed (8 bytes each).
pub const MAX_SCALAR_TABLE: u32 = 1 << 17;

/// Uniforms of `adam_update.wgsl` (`AdamParams`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdamParams {
    /// Number of elements.
    pub len: u32,
    /// Entries in the scalar table.
    pub table_len: u32,
    /// 1: the table's last entry holds for every later step.
    pub converged: u32,
    /// Moment storage: 0 `f32`, 1 binary16, 2 bfloat16 ([`MomentFormat::code`]).
    pub format: u32,
    /// Learning rate.
    pub lr: f32,
    /// `β1`.
    pub beta1: f32,
    /// `β2`.
    pub beta2: f32,
    /// `eps`.
    pub eps: f32,
    /// `1 − lr·wd` (AdamW) or 1 (Adam).
    pub decay: f32,
    /// `wd` (Adam) or 0 (AdamW).
    pub l2: f32,
    /// Padding.
    pub _pad1: [u32; 2],
}

/// The per-step table `[(1/(1 − β1ᵗ), √(1 − β2ᵗ))]` for `t = 1..`, taken from the core's
/// [`Adam::scalars`] (f64 bias corrections, rounded to `f32`), up to the first `t` whose entry
/// equals the limit `(1, 1)` in `f32` (every later entry does too), or [`MAX_SCALAR_TABLE`]
/// entries; and whether it reached the limit. It depends on the betas only: the learning rate
/// is a uniform the kernel multiplies in, as the core does.
#[must_use]
pub fn scalar_table(adam: &Adam) -> (Vec<[f32; 2]>, bool) {
    let limit = [1.0, 1.0];
    let mut table = Vec::new();
    for t in 1..=MAX_SCALAR_TABLE {
        let s = adam.scalars(t);
        let entry = [s.inv_bias_correction1, s.bias_correction2_sqrt];
        table.push(entry);
        if entry == limit {
            return (table, true);
        }
    }
    (table, false)
}

impl AdamParams {
    /// The uniforms for `len` elements, moments stored as `format`, with a scalar table of
    /// `table_len` entries.
    #[must_use]
    pub fn new(
        adam: &Adam,
        len: u32,
        format: MomentFormat,
        table_len: u32,
        converged: bool,
    ) -> Self {
        let c = adam.config();
        let s = adam.scalars(1);
        Self {
            len,
            table_len,
            converged: u32::from(converged),
            format: format.code(),
            lr: c.lr,
            beta1: c.beta1,
            beta2: c.beta2,
            eps: c.eps,
            decay: s.decay,
            l2: s.l2,
            _pad1: [0; 2],
        }
    }
}

/// The Adam/AdamW element-wise update, for `f32` moments and for the packed 16-bit formats,
/// each in both builds ([`ElementwiseBindGroups`]).
#[derive(Debug)]
pub struct AdamUpdate {
    program: Program,
    main: Lanes,
    half: Lanes,
}

impl AdamUpdate {
    pub(crate) fn new(device: &Compiler<'_>) -> Self {
        use Access::{Read, ReadWrite, Uniform};
        let program = Program::new(
            device,
            "adam_update",
            sources::ADAM_UPDATE,
            &[Uniform, Read, Read, ReadWrite, ReadWrite, ReadWrite, Read],
        );
        let vec4 = Program::with_layout_of(
            device,
            "adam_update_vec4",
            sources::ADAM_UPDATE_VEC4,
            &program,
        );
        let main = Lanes::new(device, &program, &vec4, "main", 1, 4);
        let half = Lanes::new(device, &program, &vec4, "main_half", 2, 8);
        Self {
            program,
            main,
            half,
        }
    }

    /// The entry point of moments stored as `format`.
    fn lanes(&self, format: MomentFormat) -> &Lanes {
        match format {
            MomentFormat::F32 => &self.main,
            MomentFormat::F16 | MomentFormat::Bf16 => &self.half,
        }
    }

    /// Binds `params` (an [`AdamParams`] uniform for `len` elements and `format`), the scalar
    /// table, the `len` elements of `g` and `w` (their ranges: [`crate::GpuMatrix::binding`]),
    /// `m`, `v` (`format.words(len)` words each) and the status.
    #[allow(clippy::too_many_arguments)]
    #[must_use]
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        scalars: &wgpu::Buffer,
        grad: wgpu::BufferBinding<'_>,
        param: wgpu::BufferBinding<'_>,
        m: &wgpu::Buffer,
        v: &wgpu::Buffer,
        status: &wgpu::Buffer,
        len: u32,
        format: MomentFormat,
    ) -> ElementwiseBindGroups {
        // Bytes of moment storage per element: a word, or half of one.
        let moment_bytes = match format {
            MomentFormat::F32 => 4,
            MomentFormat::F16 | MomentFormat::Bf16 => 2,
        };
        let operands = [
            Operand::Fixed(whole(params)),
            Operand::Fixed(whole(scalars)),
            Operand::Array(grad, 4),
            Operand::Array(param, 4),
            Operand::Array(whole(m), moment_bytes),
            Operand::Array(whole(v), moment_bytes),
            Operand::Fixed(whole(status)),
        ];
        self.lanes(format)
            .bind(device, &self.program, &operands, len)
    }

    /// Records the update of the elements `groups` binds, whose moments are stored as
    /// `format` (the format they were bound for).
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        groups: &ElementwiseBindGroups,
        format: MomentFormat,
    ) {
        self.lanes(format).record(pass, groups);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use muon_core::adam::AdamConfig;

    #[test]
    fn uniform_size_matches_wgsl() {
        assert_eq!(core::mem::size_of::<AdamParams>(), 48);
    }

    #[test]
    fn scalar_table_converges_for_default_betas() {
        let adam = AdamConfig::adamw().build().unwrap();
        let (table, converged) = scalar_table(&adam);
        assert!(converged);
        assert!(table.len() < 30_000, "{}", table.len());
        let s1 = adam.scalars(1);
        assert_eq!(
            table[0],
            [s1.inv_bias_correction1, s1.bias_correction2_sqrt]
        );
    }
}
