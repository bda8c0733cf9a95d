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
use muon::gpu::kernels::{
    GatherParams, MatmulParams, ScatterParams, SiluParams, XENT_STATS_PER_ROW, XentParams,
    uniform_buffer,
};
use muon::gpu::{GpuContext, GpuMatrix, wgpu};

use crate::device::{
    Counters, check_inner, eval_chunk, evaluate_in_chunks, product, storage, upload,
};
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
    rows: u32,
    index: wgpu::Buffer,
    stats: GpuMatrix,
    _keep: (Vec<GpuMatrix>, Vec<wgpu::Buffer>),
    forward: [wgpu::BindGroup; 6],
    backward: Option<[wgpu::BindGroup; 7]>,
    dims: (u32, u32, u32),
}

impl Batch {
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
        let index = storage(ctx, "ffn classes", bytemuck::cast_slice(classes));
        let wbuf = storage(ctx, "ffn weights", bytemuck::cast_slice(weights));
        let z = |r, c| GpuMatrix::zeros(ctx, r, c);
        let (kb, h, a, o, zl, r, stats) = (
            z(b, d)?,
            z(b, m)?,
            z(b, m)?,
            z(b, d)?,
            z(b, n)?,
            z(b, n)?,
            z(b, XENT_STATS_PER_ROW)?,
        );
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
        let mut backward = None;
        let mut extra = Vec::new();
        if let Some(g) = grads {
            let (d_o, d_a, d_kb) = (z(b, d)?, z(b, m)?, z(b, d)?);
            let do_bg = mm(product(b, d, n, MatmulParams::TRANS_B), &r, &p.values, &d_o);
            let gw2_bg = mm(product(d, m, b, MatmulParams::TRANS_A), &d_o, &a, &g.w2);
            let da_bg = mm(product(b, m, d, 0), &d_o, &p.w2, &d_a);
            let gw1_bg = mm(product(m, d, b, MatmulParams::TRANS_A), &d_a, &kb, &g.w1);
            let dkb_bg = mm(product(b, d, m, 0), &d_a, &p.w1, &d_kb);
            let silu_u = uniform_buffer(
                dev,
                "ffn silu",
                &SiluParams {
                    len: (b * m) as u32,
                    _pad: [0; 3],
                },
            );
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
            let scatter =
                k.scatter_add_rows
                    .bind_group(dev, &sc_u, &index, d_kb.binding(), g.keys.binding());
            uniforms.extend([silu_u, sc_u]);
            backward = Some([do_bg, gw2_bg, da_bg, silu_bwd, gw1_bg, dkb_bg, scatter]);
            extra.extend([d_o, d_a, d_kb]);
        }
        let gather_u = uniform_buffer(
            dev,
            "ffn gather",
            &GatherParams {
                rows: b as u32,
                cols: d as u32,
                src_rows: n as u32,
                _pad: 0,
            },
        );
        let gather =
            k.gather_rows
                .bind_group(dev, &gather_u, &index, p.keys.binding(), kb.binding());
        let silu_u = uniform_buffer(
            dev,
            "ffn silu",
            &SiluParams {
                len: (b * m) as u32,
                _pad: [0; 3],
            },
        );
        let silu_fwd = k.silu.bind_group(dev, &silu_u, h.binding(), a.binding());
        let xent_u = uniform_buffer(
            dev,
            "ffn xent",
            &XentParams {
                rows: b as u32,
                cols: n as u32,
                _pad: [0; 2],
            },
        );
        let xent = k.softmax_xent.bind_group(
            dev,
            &xent_u,
            zl.binding(),
            &index,
            &wbuf,
            r.binding(),
            stats.binding(),
        );
        uniforms.extend([gather_u, silu_u, xent_u, wbuf]);
        let mut keep = vec![kb, h, a, o, zl, r];
        keep.extend(extra);
        Ok(Self {
            rows: b as u32,
            index,
            stats,
            _keep: (keep, uniforms),
            forward: [gather, h_bg, silu_fwd, o_bg, z_bg, xent],
            backward,
            dims: (n as u32, d as u32, m as u32),
        })
    }

    fn encode(&self, ctx: &GpuContext, pass: &mut wgpu::ComputePass<'_>) {
        let k = ctx.kernels();
        let (n, d, m) = self.dims;
        let b = self.rows;
        let [gather, h, silu, o, z, xent] = &self.forward;
        k.gather_rows.dispatch(pass, gather, b, d);
        k.matmul.dispatch(pass, h, b, m);
        k.silu.dispatch_forward(pass, silu, b * m);
        k.matmul.dispatch(pass, o, b, d);
        k.matmul.dispatch(pass, z, b, n);
        k.softmax_xent.dispatch(pass, xent, b);
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
        if classes.len() != self.train.rows as usize {
            return Err(ExampleError::Args(format!(
                "batch of {} classes for a {}-row batch",
                classes.len(),
                self.train.rows
            )));
        }
        self.ctx
            .queue()
            .write_buffer(&self.train.index, 0, bytemuck::cast_slice(classes));
        let mut encoder =
            self.ctx
                .device()
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("ffn step"),
                });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("ffn step"),
                timestamp_writes: None,
            });
            self.train.encode(&self.ctx, &mut pass);
            for s in &self.steppers {
                s.encode(&mut pass);
            }
        }
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
        let n = self.params.n;
        let chunk = eval_chunk(n);
        if self.eval.is_none() {
            let first: Vec<u32> = (0..chunk as u32).collect();
            let zeros = vec![0.0f32; chunk];
            self.eval = Some(Batch::new(&self.ctx, &self.params, &first, &zeros, None)?);
        }
        let Some(eval) = &self.eval else {
            return Err(ExampleError::Args("evaluation batch missing".into()));
        };
        let ctx = &self.ctx;
        evaluate_in_chunks(
            ctx,
            n,
            chunk,
            &eval.index,
            &eval.stats,
            &mut self.counters,
            |pass| eval.encode(ctx, pass),
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
