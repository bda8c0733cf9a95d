//! Newton–Schulz orthogonalisation on the device, with every buffer and bind group made once
//! per shape.
//!
//! For an `r × c` input `X` with `m = min(r, c)` (no transpose buffer: tall inputs use `XᵀX`):
//! 1. `‖X‖_F` ([`FrobeniusNorm`](crate::kernels::FrobeniusNorm)), then
//!    `X ← X · input_scale(‖X‖_F)` ([`NsNormalize`](crate::kernels::NsNormalize)), the core's
//!    `NsConfig::input_scale` (zero stays zero);
//! 2. for each step with `(a, b, c) = cfg.coefficients_at(step)`:
//!    `A = X·Xᵀ` (wide) or `XᵀX` (tall) — [`Gram`](crate::kernels::Gram);
//!    `B = c·A·Aᵀ + b·A` — [`Gram`](crate::kernels::Gram) with its epilogue;
//!    `X' = a·X + B·X` (wide) or `a·X + X·B` (tall) — [`NsStep`](crate::kernels::NsStep);
//!    `X` and `X'` ping-pong between two buffers.
//!
//! Same maths as `muon_core::newton_schulz::newton_schulz` (which transposes tall inputs
//! instead: `(B·Xᵀ)ᵀ = X·B` for symmetric `B`).

use muon_core::MuonError;
use muon_core::newton_schulz::NsConfig;

use crate::kernels::{
    GramCall, GramParams, Kernels, MAX_PARTIALS, NormParams, NormalizeParams, NsStepParams,
    storage_buffer_zeroed, uniform_buffer,
};
use crate::matrix::matrix_bytes;
use crate::{GpuContext, GpuError, GpuMatrix};

/// Newton–Schulz for one `rows × cols` shape: scratch (`2·rows·cols + 2·min(rows,cols)²`
/// floats, as the core's `ns_scratch_len`), uniforms and bind groups, all made at creation.
#[derive(Debug)]
pub struct GpuNewtonSchulz {
    rows: u32,
    cols: u32,
    x: [wgpu::Buffer; 2],
    norm_params: NormParams,
    norm_bg: wgpu::BindGroup,
    normalize_bg: wgpu::BindGroup,
    gram_a: [GramCall; 2],
    gram_b: Vec<GramCall>,
    step_bg: Vec<wgpu::BindGroup>,
}

impl GpuNewtonSchulz {
    /// Allocates the scratch for a `rows × cols` input under `cfg`.
    ///
    /// # Errors
    /// [`GpuError::Core`] for an invalid `cfg` or an empty shape,
    /// [`GpuError::BufferTooLarge`] beyond the device's limits,
    /// [`GpuError::InnerDimensionTooLong`] when `X·Xᵀ` sums more terms than this adapter's
    /// tiled products allow (llvmpipe only, and only for `min(rows, cols) > 64`).
    pub fn new(
        ctx: &GpuContext,
        rows: usize,
        cols: usize,
        cfg: &NsConfig,
    ) -> Result<Self, GpuError> {
        cfg.validate()?;
        let bytes = matrix_bytes(rows, cols)?;
        ctx.check_size("newton-schulz iterate", bytes)?;
        let m = rows.min(cols);
        let gram_bytes = matrix_bytes(m, m)?;
        ctx.check_size("newton-schulz gram", gram_bytes)?;
        // X·Xᵀ sums max(rows, cols) terms; the other two products sum min(rows, cols).
        ctx.check_gram_inner("newton-schulz gram", m, rows.max(cols))?;
        let (r, c, mu) = (rows as u32, cols as u32, m as u32);
        let tall = rows > cols;
        let device = ctx.device();
        let k = ctx.kernels();

        let x = [
            storage_buffer_zeroed(device, "ns x0", bytes),
            storage_buffer_zeroed(device, "ns x1", bytes),
        ];
        let a = storage_buffer_zeroed(device, "ns gram a", gram_bytes);
        let b = storage_buffer_zeroed(device, "ns poly b", gram_bytes);
        let partials =
            storage_buffer_zeroed(device, "ns norm partials", u64::from(MAX_PARTIALS) * 4);
        let norm = storage_buffer_zeroed(device, "ns norm", 4);

        let len = r * c;
        let norm_params = NormParams::new(len);
        let norm_u = uniform_buffer(device, "ns norm params", &norm_params);
        let norm_bg = k
            .frobenius_norm
            .bind_group(device, &norm_u, &x[0], &partials, &norm);
        let normalize_u = uniform_buffer(
            device,
            "ns normalize params",
            &NormalizeParams::new(len, cfg),
        );
        let normalize_bg = k
            .ns_normalize
            .bind_group(device, &normalize_u, &norm, &x[0]);

        let gram_a_params = GramParams {
            m: mu,
            k: r.max(c),
            trans: u32::from(tall),
            alpha: 1.0,
            ..GramParams::default()
        };
        let gram_a_u = uniform_buffer(device, "ns gram a params", &gram_a_params);
        // `b` stands in for D (not read: beta = 0) so no buffer is both read and written.
        let gram_a = [
            k.gram
                .call(device, &gram_a_u, &gram_a_params, &x[0], &b, &a),
            k.gram
                .call(device, &gram_a_u, &gram_a_params, &x[1], &b, &a),
        ];
        let mut gram_b = Vec::with_capacity(cfg.steps as usize);
        let mut step_bg = Vec::with_capacity(cfg.steps as usize);
        for step in 0..cfg.steps {
            let (ca, cb, cc) = cfg.coefficients_at(step);
            let gram_b_params = GramParams {
                m: mu,
                k: mu,
                trans: 0,
                alpha: cc,
                beta: cb,
                ..GramParams::default()
            };
            let gu = uniform_buffer(device, "ns gram b params", &gram_b_params);
            gram_b.push(k.gram.call(device, &gu, &gram_b_params, &a, &a, &b));
            let su = uniform_buffer(
                device,
                "ns step params",
                &NsStepParams {
                    rows: r,
                    cols: c,
                    side: u32::from(tall),
                    a: ca,
                },
            );
            let cur = (step % 2) as usize;
            step_bg.push(k.ns_step.bind_group(device, &su, &b, &x[cur], &x[1 - cur]));
        }
        Ok(Self {
            rows: r,
            cols: c,
            x,
            norm_params,
            norm_bg,
            normalize_bg,
            gram_a,
            gram_b,
            step_bg,
        })
    }

    /// `(rows, cols)`.
    #[must_use]
    pub fn shape(&self) -> (usize, usize) {
        (self.rows as usize, self.cols as usize)
    }

    /// The buffer the input goes in (overwritten by the iteration).
    #[must_use]
    pub fn input(&self) -> &wgpu::Buffer {
        &self.x[0]
    }

    /// The buffer holding the result after [`GpuNewtonSchulz::encode`].
    #[must_use]
    pub fn output(&self) -> &wgpu::Buffer {
        &self.x[self.step_bg.len() % 2]
    }

    /// Records the whole orthogonalisation of [`GpuNewtonSchulz::input`] into `pass`.
    pub fn encode(&self, kernels: &Kernels, pass: &mut wgpu::ComputePass<'_>) {
        let len = self.rows * self.cols;
        kernels
            .frobenius_norm
            .dispatch(pass, &self.norm_bg, &self.norm_params);
        kernels.ns_normalize.dispatch(pass, &self.normalize_bg, len);
        for (i, (gram_b, step)) in self.gram_b.iter().zip(&self.step_bg).enumerate() {
            kernels.gram.dispatch_call(pass, &self.gram_a[i % 2]);
            kernels.gram.dispatch_call(pass, gram_b);
            kernels.ns_step.dispatch(pass, step, self.rows, self.cols);
        }
    }

    /// Orthogonalises `input` into `out` in one submission (a copy in, the kernels, a copy
    /// out); does not wait.
    ///
    /// # Errors
    /// [`MuonError::ShapeMismatch`] (as [`GpuError::Core`]) if a shape differs from this plan's.
    pub fn run(
        &self,
        ctx: &GpuContext,
        input: &GpuMatrix,
        out: &GpuMatrix,
    ) -> Result<(), GpuError> {
        for (what, mat) in [("input", input), ("out", out)] {
            if mat.shape() != self.shape() {
                return Err(MuonError::ShapeMismatch {
                    what,
                    expected: self.shape(),
                    found: mat.shape(),
                }
                .into());
            }
        }
        let bytes = u64::from(self.rows * self.cols) * 4;
        let mut encoder = ctx
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("newton-schulz"),
            });
        encoder.copy_buffer_to_buffer(input.buffer(), 0, self.input(), 0, bytes);
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("newton-schulz"),
                timestamp_writes: None,
            });
            self.encode(ctx.kernels(), &mut pass);
        }
        encoder.copy_buffer_to_buffer(self.output(), 0, out.buffer(), 0, bytes);
        ctx.queue().submit([encoder.finish()]);
        Ok(())
    }
}
