//! The linear associative memory trained entirely on the GPU (`--backend gpu`).
//!
//! `W` (`d × d`), its gradient, the keys `Eᵀ` (`n × d`, one row per class), the values `Ẽ`
//! (`d × n`), the batch's activations, logits and softmax gradient, and the optimizer state
//! all live on the device. A training step uploads the batch's class indices (`b` × `u32`,
//! nothing when the batch is fixed), records into one compute pass
//!
//! 1. `K_b = Eᵀ[batch]` (`b × d`, `gather_rows`),
//! 2. `H = K_b Wᵀ` (`b × d`) and `Z = H Ẽ` (`b × n`, the logits; row `j` is sample `j`),
//! 3. `R = diag(w) (softmax(Z) − Y)` and per-row statistics (`softmax_xent`),
//! 4. `T = Ẽ Rᵀ` (`d × b`) and `∇W = T K_b` (`d × d`) — the CPU's `Ẽ (P − Y) diag(w) E_bᵀ`,
//! 5. the optimizer step ([`DeviceStepper::encode`]),
//!
//! and submits it once; nothing is read back. Metrics are read only at evaluation points
//! ([`DeviceMemory::evaluate`], a forward pass over every class) and, for full-batch runs, as a
//! per-step statistics history copied on the device and read once at the end. [`Counters`]
//! records every submission, upload and readback, so tests can check that a step reads nothing.

use muon::gpu::kernels::{MatmulParams, XENT_STATS_PER_ROW, uniform_buffer};
use muon::gpu::wgpu::util::DeviceExt;
use muon::gpu::{GpuContext, GpuError, GpuMatrix, wgpu};

use crate::device_batch::{BatchEnds, ResidentBatch, evaluate_every_class};
use crate::error::ExampleError;
use crate::memory::{Dense, Evaluation, Memory};
use crate::optim::{DeviceStepper, OptimizerSpec};

/// What crossed between host and device, by kind. Every readback of the resident models
/// goes through a method that counts it; `step` has no path that reads (it writes the batch's
/// indices and submits one command buffer), so tests check that readbacks depend only on the
/// number of evaluations, never on the number of steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Training steps taken.
    pub steps: usize,
    /// Submissions made by training steps (one per step).
    pub step_submissions: usize,
    /// Buffer writes made by training steps (the class indices; zero for a fixed batch).
    pub step_uploads: usize,
    /// Readbacks at evaluation points and at the end (metrics, `W`, optimizer flags).
    pub eval_readbacks: usize,
}

/// One batch size's buffers and bind groups (made once).
struct Batch {
    /// Class indices, weights, the gather and the softmax cross-entropy.
    ends: BatchEnds,
    /// Kept alive for the bind groups.
    _buffers: Vec<GpuMatrix>,
    _uniforms: Vec<wgpu::Buffer>,
    ht_bg: wgpu::BindGroup,
    z_bg: wgpu::BindGroup,
    /// `Some` when the batch trains (computes `∇W`).
    backward: Option<(wgpu::BindGroup, wgpu::BindGroup)>,
    shapes: Shapes,
}

#[derive(Clone, Copy)]
struct Shapes {
    n: u32,
    d: u32,
}

/// A storage buffer holding `bytes` (indices, weights).
pub fn storage(ctx: &GpuContext, label: &str, bytes: &[u8]) -> wgpu::Buffer {
    ctx.device()
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        })
}

/// The uniforms of `C = op(A)·op(B)` for an `m × n` output over `k` terms.
pub fn product(m: usize, n: usize, k: usize, flags: u32) -> MatmulParams {
    MatmulParams {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        flags,
        alpha: 1.0,
        ..MatmulParams::default()
    }
}

impl Batch {
    /// Buffers for `classes` (initial indices) with `weights`; with `grad`, the backward
    /// products into it.
    fn new(
        ctx: &GpuContext,
        mem: &Resident,
        classes: &[u32],
        weights: &[f32],
        grad: Option<&GpuMatrix>,
    ) -> Result<Self, ExampleError> {
        let (n, d) = (mem.n, mem.d);
        let b = classes.len();
        check_inner(ctx, d.max(n).max(b))?;
        let device = ctx.device();
        let k = ctx.kernels();
        let kb = GpuMatrix::zeros(ctx, b, d)?;
        let ht = GpuMatrix::zeros(ctx, b, d)?;
        let z = GpuMatrix::zeros(ctx, b, n)?;
        let r = GpuMatrix::zeros(ctx, b, n)?;
        let ends = BatchEnds::new(ctx, classes, weights, &mem.keys_t, &kb, &z, &r)?;
        let ht_u = uniform_buffer(device, "H", &product(b, d, d, MatmulParams::TRANS_B));
        let ht_bg = k.matmul.bind_group(
            device,
            &ht_u,
            kb.binding(),
            mem.w.binding(),
            kb.binding(),
            ht.binding(),
        );
        let z_u = uniform_buffer(device, "Z", &product(b, n, d, 0));
        let z_bg = k.matmul.bind_group(
            device,
            &z_u,
            ht.binding(),
            mem.values.binding(),
            ht.binding(),
            z.binding(),
        );
        let mut uniforms = vec![ht_u, z_u];
        let mut buffers = vec![kb, ht, z, r];
        let backward = match grad {
            None => None,
            Some(grad) => {
                let t = GpuMatrix::zeros(ctx, d, b)?;
                let t_u = uniform_buffer(device, "T", &product(d, b, n, MatmulParams::TRANS_B));
                let t_bg = k.matmul.bind_group(
                    device,
                    &t_u,
                    mem.values.binding(),
                    buffers[3].binding(),
                    mem.values.binding(),
                    t.binding(),
                );
                let g_u = uniform_buffer(device, "grad", &product(d, d, b, 0));
                let g_bg = k.matmul.bind_group(
                    device,
                    &g_u,
                    t.binding(),
                    buffers[0].binding(),
                    t.binding(),
                    grad.binding(),
                );
                uniforms.extend([t_u, g_u]);
                buffers.push(t);
                Some((t_bg, g_bg))
            }
        };
        Ok(Self {
            ends,
            _buffers: buffers,
            _uniforms: uniforms,
            ht_bg,
            z_bg,
            backward,
            shapes: Shapes {
                n: n as u32,
                d: d as u32,
            },
        })
    }

    /// Records the forward pass alone (gather, logits, softmax cross-entropy).
    fn encode_forward(&self, ctx: &GpuContext, pass: &mut wgpu::ComputePass<'_>) {
        let k = ctx.kernels();
        let Shapes { n, d } = self.shapes;
        let b = self.ends.rows;
        self.ends.encode_gather(ctx, pass);
        k.matmul.dispatch(pass, &self.ht_bg, b, d);
        k.matmul.dispatch(pass, &self.z_bg, b, n);
        self.ends.encode_xent(ctx, pass);
    }
}

impl ResidentBatch for Batch {
    fn ends(&self) -> &BatchEnds {
        &self.ends
    }

    /// Records the forward pass and, for a training batch, the gradient products.
    fn encode(&self, ctx: &GpuContext, pass: &mut wgpu::ComputePass<'_>) {
        self.encode_forward(ctx, pass);
        if let Some((t_bg, g_bg)) = &self.backward {
            let k = ctx.kernels();
            let Shapes { d, .. } = self.shapes;
            let b = self.ends.rows;
            k.matmul.dispatch(pass, t_bg, d, b);
            k.matmul.dispatch(pass, g_bg, d, d);
        }
    }
}

/// The memory's device buffers.
struct Resident {
    n: usize,
    d: usize,
    keys_t: GpuMatrix,
    values: GpuMatrix,
    w: GpuMatrix,
}

/// A linear memory, its training batch and one optimizer, resident on the GPU.
pub struct DeviceMemory {
    ctx: GpuContext,
    mem: Resident,
    /// `∇W`, written by the backward products, read by the optimizer.
    _grad: GpuMatrix,
    train: Batch,
    eval: Option<Batch>,
    stepper: DeviceStepper,
    history: Option<GpuMatrix>,
    counters: Counters,
}

impl DeviceMemory {
    /// Uploads `memory`'s embeddings and `W₀ = 0`, binds a training batch of `batch` rows
    /// with per-row `weights` (initial classes: `0, 1, …`, replaced by [`Self::step`]) and
    /// builds `spec`'s optimizer on the device. With `history_steps`, each step's batch
    /// statistics are also copied into a device history of that many entries
    /// ([`Self::history`]).
    ///
    /// # Errors
    /// GPU errors, invalid hyper-parameters, or a product too long for this adapter.
    pub fn new(
        ctx: &GpuContext,
        memory: &Memory,
        spec: OptimizerSpec,
        classes: &[u32],
        weights: &[f32],
        history_steps: Option<usize>,
    ) -> Result<Self, ExampleError> {
        let (n, d) = (memory.classes(), memory.dim());
        let mem = Resident {
            n,
            d,
            keys_t: upload(ctx, &memory.keys.transpose())?,
            values: upload(ctx, &memory.values)?,
            w: GpuMatrix::zeros(ctx, d, d)?,
        };
        let grad = GpuMatrix::zeros(ctx, d, d)?;
        let train = Batch::new(ctx, &mem, classes, weights, Some(&grad))?;
        let stepper = spec.build_resident(ctx, &mem.w, &grad)?;
        let history = match history_steps {
            Some(steps) => Some(GpuMatrix::zeros(
                ctx,
                steps,
                classes.len() * XENT_STATS_PER_ROW,
            )?),
            None => None,
        };
        Ok(Self {
            ctx: GpuContext::clone(ctx),
            mem,
            _grad: grad,
            train,
            eval: None,
            stepper,
            history,
            counters: Counters::default(),
        })
    }

    /// What has crossed so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// One training step on `classes` (the batch's class indices, uploaded; `None` keeps the
    /// previous batch): one submission, no readback. The step has no path that reads: it
    /// writes one buffer and submits one command buffer.
    ///
    /// # Errors
    /// [`ExampleError::Args`] if `classes` has the wrong length.
    pub fn step(&mut self, classes: Option<&[u32]>) -> Result<(), ExampleError> {
        if let Some(c) = classes {
            self.train.ends.write_classes(&self.ctx, c)?;
            self.counters.step_uploads += 1;
        }
        let slot = self.counters.steps;
        self.submit(Some(slot), true);
        self.counters.steps += 1;
        self.counters.step_submissions += 1;
        Ok(())
    }

    /// Records the training batch's forward pass (and with `train`, its backward pass and the
    /// optimizer step) into one pass, copies its statistics into history entry `slot` when
    /// there is a history, and submits once.
    fn submit(&self, slot: Option<usize>, train: bool) {
        let mut encoder = encoder_with_pass(&self.ctx, "tail_memory step", |pass| {
            if train {
                self.train.encode(&self.ctx, pass);
                self.stepper.encode(pass);
            } else {
                self.train.encode_forward(&self.ctx, pass);
            }
        });
        if let (Some(history), Some(slot)) = (&self.history, slot)
            && slot < history.rows()
        {
            let bytes = (history.cols() * 4) as u64;
            let stats = &self.train.ends.stats;
            encoder.copy_buffer_to_buffer(
                stats.buffer(),
                stats.offset(),
                history.buffer(),
                history.offset() + slot as u64 * bytes,
                bytes,
            );
        }
        self.ctx.queue().submit([encoder.finish()]);
    }

    /// Runs the training batch's forward pass once more (no step) into history entry `slot`:
    /// the statistics after the last step.
    pub fn record_final(&mut self, slot: usize) {
        self.submit(Some(slot), false);
    }

    /// Reads the statistics history: per entry, per batch row, `(p_target, −ln p_target,
    /// arg-max, weighted loss)`.
    ///
    /// # Errors
    /// A readback error, or [`ExampleError::Args`] without a history.
    pub fn history(&mut self) -> Result<Vec<Vec<[f32; 4]>>, ExampleError> {
        let Some(history) = &self.history else {
            return Err(ExampleError::Args("no statistics history".into()));
        };
        let rows = self.train.ends.rows as usize;
        let data = history.read(&self.ctx)?;
        self.counters.eval_readbacks += 1;
        Ok(data
            .chunks_exact(rows * XENT_STATS_PER_ROW)
            .map(|entry| {
                entry
                    .chunks_exact(XENT_STATS_PER_ROW)
                    .map(|s| [s[0], s[1], s[2], s[3]])
                    .collect()
            })
            .collect())
    }

    /// Evaluates every class `k` (key `e_k`, class `k`) on the device and reads the per-class
    /// statistics back: one submission and one readback per chunk of
    /// [`eval_chunk`](crate::device_batch::eval_chunk) classes
    /// (one chunk up to 32,768 classes at `n` = 1,023; the logits of a chunk are
    /// `chunk × n` floats).
    ///
    /// # Errors
    /// GPU errors.
    pub fn evaluate(&mut self) -> Result<Evaluation, ExampleError> {
        let (ctx, mem) = (&self.ctx, &self.mem);
        evaluate_every_class(
            ctx,
            mem.n,
            &mut self.eval,
            &mut self.counters,
            |classes, weights| Batch::new(ctx, mem, classes, weights, None),
        )
    }

    /// Reads `W` back (one readback).
    ///
    /// # Errors
    /// A readback error.
    pub fn weights(&mut self) -> Result<Dense, ExampleError> {
        let data = self.mem.w.read(&self.ctx)?;
        self.counters.eval_readbacks += 1;
        Ok(Dense {
            rows: self.mem.d,
            cols: self.mem.d,
            data,
        })
    }

    /// Reports skipped steps (non-finite gradients) of the optimizer (one readback).
    ///
    /// # Errors
    /// As [`DeviceStepper::finish`].
    pub fn finish(&mut self) -> Result<(), ExampleError> {
        self.counters.eval_readbacks += 1;
        self.stepper.finish()
    }
}

/// `m` as a device matrix.
pub fn upload(ctx: &GpuContext, m: &Dense) -> Result<GpuMatrix, ExampleError> {
    Ok(GpuMatrix::from_slice(ctx, m.rows, m.cols, &m.data)?)
}

/// Checks that products summing `longest` terms run on this adapter (llvmpipe caps them).
///
/// # Errors
/// [`GpuError::InnerDimensionTooLong`].
pub fn check_inner(ctx: &GpuContext, longest: usize) -> Result<(), ExampleError> {
    if let Some(max) = ctx.max_tiled_inner()
        && longest > max
    {
        return Err(GpuError::InnerDimensionTooLong {
            what: "tail_memory product",
            inner: longest,
            max,
        }
        .into());
    }
    Ok(())
}

/// A command encoder holding one compute pass labelled `label`, recorded by `record` and
/// ended, so the caller may add copies before submitting it as one command buffer (a training
/// step, an evaluation chunk).
pub fn encoder_with_pass(
    ctx: &GpuContext,
    label: &str,
    record: impl FnOnce(&mut wgpu::ComputePass<'_>),
) -> wgpu::CommandEncoder {
    let mut encoder = ctx
        .device()
        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(label),
            timestamp_writes: None,
        });
        record(&mut pass);
    }
    encoder
}
