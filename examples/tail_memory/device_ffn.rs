//! The FFN memory ([`crate::ffn`]) trained entirely on the GPU (`--backend gpu`), as
//! [`crate::device`] does for the linear memory: keys `X`, `W₁`, `W₂`, their gradients and
//! optimizer states, the values `Ẽ` and every activation stay on the device. A step uploads
//! the batch's class indices and records into one pass
//!
//! 1. forward: `K_b = X[batch]`, `H = K_b W₁ᵀ`, `A = SiLU(H)`, `O = A W₂ᵀ`, `Z = O Ẽ`,
//!    `R = diag(w)(softmax(Z) − Y)` with per-row statistics;
//! 2. backward: `dO = R Ẽᵀ`, `∇W₂ = dOᵀ A`, `dH = (dO W₂) ⊙ SiLU'(H)`, `∇W₁ = dHᵀ K_b`,
//!    `dK_b = dH W₁`, `∇X = scatter-add of dK_b` (the kernels `gather_rows`, `matmul`, `silu`,
//!    `softmax_xent`, `scatter_add_rows` of muon-gpu);
//! 3. the three optimizer steps (the arm's on `W₁`, `W₂`; AdamW on `X`),
//!
//! submitted once with no readback; evaluations read per-class statistics.

use muon::cpu::adam::AdamConfig;
use muon::gpu::kernels::{MatmulParams, ScatterParams, SiluParams, uniform_buffer};
use muon::gpu::{GpuContext, GpuMatrix, wgpu};

use crate::device::{Counters, check_inner, encoder_with_pass, product, upload};
use crate::device_batch::{BatchEnds, ResidentBatch, evaluate_every_class};
use crate::error::ExampleError;
use crate::ffn::{EMBEDDING_LR, FfnWeights};
use crate::memory::{Dense, Evaluation};
use crate::optim::{DeviceStepper, OptimizerSpec};

/// The model's device buffers.
struct Params {
    n: usize,
    d: usize,
    m: usize,
    values: GpuMatrix,
    keys: GpuMatrix,
    w1: GpuMatrix,
    w2: GpuMatrix,
}

/// Gradient buffers (written by the backward pass, read by the optimizers).
struct Grads {
    keys: GpuMatrix,
    w1: GpuMatrix,
    w2: GpuMatrix,
}

/// One batch size's buffers and bind groups.
struct Batch {
    /// Class indices, weights, the gather and the softmax cross-entropy.
    ends: BatchEnds,
    _keep: (Vec<GpuMatrix>, Vec<wgpu::Buffer>),
    /// `H`, SiLU, `O`, `Z` (between the ends' gather and cross-entropy).
    forward: [wgpu::BindGroup; 4],
    backward: Option<[wgpu::BindGroup; 7]>,
    dims: (u32, u32, u32),
}

impl Batch {
    /// Buffers for `classes` (initial indices) with `weights`; with `grads`, the backward pass
    /// into them.
    fn new(
        ctx: &GpuContext,
        p: &Params,
        classes: &[u32],
        weights: &[f32],
        grads: Option<&Grads>,
    ) -> Result<Self, ExampleError> {
        let (n, d, m, b) = (p.n, p.d, p.m, classes.len());
        check_inner(ctx, n.max(d).max(m).max(b))?;
        let dev = ctx.device();
        let k = ctx.kernels();
        let z = |r, c| GpuMatrix::zeros(ctx, r, c);
        let (kb, h, a, o, zl, r) = (z(b, d)?, z(b, m)?, z(b, m)?, z(b, d)?, z(b, n)?, z(b, n)?);
        let ends = BatchEnds::new(ctx, classes, weights, &p.keys, &kb, &zl, &r)?;
        let mut uniforms = Vec::new();
        let mut mm = |params: MatmulParams, a_: &GpuMatrix, b_: &GpuMatrix, c_: &GpuMatrix| {
            let u = uniform_buffer(dev, "ffn product", &params);
            let bg = k.matmul.bind_group(
                dev,
                &u,
                a_.binding(),
                b_.binding(),
                a_.binding(),
                c_.binding(),
            );
            uniforms.push(u);
            bg
        };
        let h_bg = mm(product(b, m, d, MatmulParams::TRANS_B), &kb, &p.w1, &h);
        let o_bg = mm(product(b, d, m, MatmulParams::TRANS_B), &a, &p.w2, &o);
        let z_bg = mm(product(b, n, d, 0), &o, &p.values, &zl);
        // One uniform for both directions: SiLU and its derivative run over the same `b × m`.
        let silu_u = uniform_buffer(
            dev,
            "ffn silu",
            &SiluParams {
                len: (b * m) as u32,
                _pad: [0; 3],
            },
        );
        let silu_fwd = k.silu.bind_group(dev, &silu_u, h.binding(), a.binding());
        let mut backward = None;
        let mut extra = Vec::new();
        if let Some(g) = grads {
            let (d_o, d_a, d_kb) = (z(b, d)?, z(b, m)?, z(b, d)?);
            let do_bg = mm(product(b, d, n, MatmulParams::TRANS_B), &r, &p.values, &d_o);
            let gw2_bg = mm(product(d, m, b, MatmulParams::TRANS_A), &d_o, &a, &g.w2);
            let da_bg = mm(product(b, m, d, 0), &d_o, &p.w2, &d_a);
            let gw1_bg = mm(product(m, d, b, MatmulParams::TRANS_A), &d_a, &kb, &g.w1);
            let dkb_bg = mm(product(b, d, m, 0), &d_a, &p.w1, &d_kb);
            let silu_bwd = k.silu.bind_group(dev, &silu_u, h.binding(), d_a.binding());
            let sc_u = uniform_buffer(
                dev,
                "ffn scatter",
                &ScatterParams {
                    rows: b as u32,
                    cols: d as u32,
                    out_rows: n as u32,
                    _pad: 0,
                },
            );
            let scatter = k.scatter_add_rows.bind_group(
                dev,
                &sc_u,
                &ends.index,
                d_kb.binding(),
                g.keys.binding(),
            );
            uniforms.push(sc_u);
            backward = Some([do_bg, gw2_bg, da_bg, silu_bwd, gw1_bg, dkb_bg, scatter]);
            extra.extend([d_o, d_a, d_kb]);
        }
        uniforms.push(silu_u);
        let mut keep = vec![kb, h, a, o, zl, r];
        keep.extend(extra);
        Ok(Self {
            ends,
            _keep: (keep, uniforms),
            forward: [h_bg, silu_fwd, o_bg, z_bg],
            backward,
            dims: (n as u32, d as u32, m as u32),
        })
    }
}

impl ResidentBatch for Batch {
    fn ends(&self) -> &BatchEnds {
        &self.ends
    }

    fn encode(&self, ctx: &GpuContext, pass: &mut wgpu::ComputePass<'_>) {
        let k = ctx.kernels();
        let (n, d, m) = self.dims;
        let b = self.ends.rows;
        let [h, silu, o, z] = &self.forward;
        self.ends.encode_gather(ctx, pass);
        k.matmul.dispatch(pass, h, b, m);
        k.silu.dispatch_forward(pass, silu, b * m);
        k.matmul.dispatch(pass, o, b, d);
        k.matmul.dispatch(pass, z, b, n);
        self.ends.encode_xent(ctx, pass);
        if let Some([d_o, gw2, d_a, silu_bwd, gw1, dkb, scatter]) = &self.backward {
            k.matmul.dispatch(pass, d_o, b, d);
            k.matmul.dispatch(pass, gw2, d, m);
            k.matmul.dispatch(pass, d_a, b, m);
            k.silu.dispatch_backward(pass, silu_bwd, b * m);
            k.matmul.dispatch(pass, gw1, m, d);
            k.matmul.dispatch(pass, dkb, b, d);
            k.scatter_add_rows.dispatch(pass, scatter, n, d);
        }
    }
}

/// The FFN memory, its training batch and its three optimizers, resident on the GPU.
pub struct DeviceFfn {
    ctx: GpuContext,
    params: Params,
    _grads: Grads,
    train: Batch,
    eval: Option<Batch>,
    steppers: [DeviceStepper; 3],
    counters: Counters,
}

impl DeviceFfn {
    /// Uploads `values` (`d × n`) and the initial weights, binds a training batch of
    /// `weights.len()` rows and builds `spec` on `W₁`, `W₂` and AdamW on the keys.
    ///
    /// # Errors
    /// GPU errors, invalid hyper-parameters, a product too long for this adapter.
    pub fn new(
        ctx: &GpuContext,
        values: &Dense,
        init: &FfnWeights,
        spec: OptimizerSpec,
        weights: &[f32],
    ) -> Result<Self, ExampleError> {
        let params = Params {
            n: values.cols,
            d: values.rows,
            m: init.w1.rows,
            values: upload(ctx, values)?,
            keys: upload(ctx, &init.keys)?,
            w1: upload(ctx, &init.w1)?,
            w2: upload(ctx, &init.w2)?,
        };
        let grads = Grads {
            keys: GpuMatrix::zeros(ctx, params.n, params.d)?,
            w1: GpuMatrix::zeros(ctx, params.m, params.d)?,
            w2: GpuMatrix::zeros(ctx, params.d, params.m)?,
        };
        let classes = vec![0u32; weights.len()];
        let train = Batch::new(ctx, &params, &classes, weights, Some(&grads))?;
        let embed = OptimizerSpec::Adam(AdamConfig::adamw().with_lr(EMBEDDING_LR));
        let steppers = [
            spec.build_resident(ctx, &params.w1, &grads.w1)?,
            spec.build_resident(ctx, &params.w2, &grads.w2)?,
            embed.build_resident(ctx, &params.keys, &grads.keys)?,
        ];
        Ok(Self {
            ctx: GpuContext::clone(ctx),
            params,
            _grads: grads,
            train,
            eval: None,
            steppers,
            counters: Counters::default(),
        })
    }

    /// What has crossed so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// One training step on `classes`: one upload, one submission, no readback.
    ///
    /// # Errors
    /// [`ExampleError::Args`] if `classes` has the wrong length.
    pub fn step(&mut self, classes: &[u32]) -> Result<(), ExampleError> {
        self.train.ends.write_classes(&self.ctx, classes)?;
        let encoder = encoder_with_pass(&self.ctx, "ffn step", |pass| {
            self.train.encode(&self.ctx, pass);
            for s in &self.steppers {
                s.encode(pass);
            }
        });
        self.ctx.queue().submit([encoder.finish()]);
        self.counters.steps += 1;
        self.counters.step_submissions += 1;
        self.counters.step_uploads += 1;
        Ok(())
    }

    /// Evaluates every class on the device (one submission and readback per chunk).
    ///
    /// # Errors
    /// GPU errors.
    pub fn evaluate(&mut self) -> Result<Evaluation, ExampleError> {
        let (ctx, params) = (&self.ctx, &self.params);
        evaluate_every_class(
            ctx,
            params.n,
            &mut self.eval,
            &mut self.counters,
            |classes, weights| Batch::new(ctx, params, classes, weights, None),
        )
    }

    /// Reads `W₂` back (one readback).
    ///
    /// # Errors
    /// A readback error.
    pub fn w2(&mut self) -> Result<Dense, ExampleError> {
        let data = self.params.w2.read(&self.ctx)?;
        self.counters.eval_readbacks += 1;
        Ok(Dense {
            rows: self.params.d,
            cols: self.params.m,
            data,
        })
    }

    /// Reports skipped steps of the three optimizers (reads their flags back).
    ///
    /// # Errors
    /// As [`DeviceStepper::finish`].
    pub fn finish(&mut self) -> Result<(), ExampleError> {
        self.counters.eval_readbacks += 1;
        for s in &mut self.steppers {
            s.finish()?;
        }
        Ok(())
    }
}
