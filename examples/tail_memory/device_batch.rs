//! What the resident batches of the linear memory ([`crate::device`]) and the FFN memory
//! ([`crate::device_ffn`]) share, whatever model lies between: the two ends of a batch
//! ([`BatchEnds`]: the class indices and weights that go in, the gathered keys, the softmax
//! cross-entropy and per-row statistics that come out) and the evaluation of every class
//! through an evaluation batch ([`evaluate_every_class`]).

use muon::gpu::kernels::{GatherParams, XENT_STATS_PER_ROW, XentParams, uniform_buffer};
use muon::gpu::{GpuContext, GpuMatrix, wgpu};

use crate::device::{Counters, encoder_with_pass, storage};
use crate::error::ExampleError;
use crate::memory::Evaluation;

/// The ends of one batch of `b` rows: its class indices and per-row weights (uploaded), the
/// gather `K_b = keys[batch]` that starts its forward pass and the softmax cross-entropy
/// `R = diag(w) (softmax(Z) − Y)` with per-row statistics that ends it. The model between
/// (products, activations, backward pass) is the caller's.
pub struct BatchEnds {
    /// Rows `b` (samples) of the batch.
    pub rows: u32,
    /// The batch's class indices (`b` × `u32`): rewritten by each training step or
    /// evaluation chunk that changes them.
    pub index: wgpu::Buffer,
    /// Per-row statistics of the cross-entropy (`b × XENT_STATS_PER_ROW`).
    pub stats: GpuMatrix,
    /// Row length of the keys (`d`): the gather's columns.
    key_len: u32,
    gather_bg: wgpu::BindGroup,
    xent_bg: wgpu::BindGroup,
    /// The weights and the gather and cross-entropy uniforms, kept alive for the bind groups.
    _buffers: [wgpu::Buffer; 3],
}

impl BatchEnds {
    /// Uploads `classes` (the initial indices, one per row) and `weights`, binds the gather of
    /// `keys`' rows (`n × d`) into `kb` (`b × d`) and the cross-entropy of `logits` (`b × n`)
    /// into the loss gradient `r` (`b × n`) and fresh statistics.
    ///
    /// # Errors
    /// A GPU error allocating the statistics.
    pub fn new(
        ctx: &GpuContext,
        classes: &[u32],
        weights: &[f32],
        keys: &GpuMatrix,
        kb: &GpuMatrix,
        logits: &GpuMatrix,
        r: &GpuMatrix,
    ) -> Result<Self, ExampleError> {
        let device = ctx.device();
        let k = ctx.kernels();
        let b = classes.len() as u32;
        let index = storage(ctx, "batch classes", bytemuck::cast_slice(classes));
        let weights = storage(ctx, "batch weights", bytemuck::cast_slice(weights));
        let stats = GpuMatrix::zeros(ctx, classes.len(), XENT_STATS_PER_ROW)?;
        let key_len = keys.cols() as u32;
        let gather_u = uniform_buffer(
            device,
            "batch gather",
            &GatherParams {
                rows: b,
                cols: key_len,
                src_rows: keys.rows() as u32,
                _pad: 0,
            },
        );
        let gather_bg =
            k.gather_rows
                .bind_group(device, &gather_u, &index, keys.binding(), kb.binding());
        let xent_u = uniform_buffer(
            device,
            "batch xent",
            &XentParams {
                rows: b,
                cols: logits.cols() as u32,
                _pad: [0; 2],
            },
        );
        let xent_bg = k.softmax_xent.bind_group(
            device,
            &xent_u,
            logits.binding(),
            &index,
            &weights,
            r.binding(),
            stats.binding(),
        );
        Ok(Self {
            rows: b,
            index,
            stats,
            key_len,
            gather_bg,
            xent_bg,
            _buffers: [weights, gather_u, xent_u],
        })
    }

    /// Queues `classes` (one per row) as the batch's class indices, written before the next
    /// submission.
    ///
    /// # Errors
    /// [`ExampleError::Args`] if `classes` has the wrong length (nothing is written then).
    pub fn write_classes(&self, ctx: &GpuContext, classes: &[u32]) -> Result<(), ExampleError> {
        if classes.len() != self.rows as usize {
            return Err(ExampleError::Args(format!(
                "batch of {} classes for a {}-row batch",
                classes.len(),
                self.rows
            )));
        }
        ctx.queue()
            .write_buffer(&self.index, 0, bytemuck::cast_slice(classes));
        Ok(())
    }

    /// Records the gather of the batch's keys (the first dispatch of its forward pass).
    pub fn encode_gather(&self, ctx: &GpuContext, pass: &mut wgpu::ComputePass<'_>) {
        ctx.kernels()
            .gather_rows
            .dispatch(pass, &self.gather_bg, self.rows, self.key_len);
    }

    /// Records the softmax cross-entropy of the logits (the last dispatch of the forward pass).
    pub fn encode_xent(&self, ctx: &GpuContext, pass: &mut wgpu::ComputePass<'_>) {
        ctx.kernels()
            .softmax_xent
            .dispatch(pass, &self.xent_bg, self.rows);
    }
}

/// A resident batch of either memory, as [`evaluate_every_class`] drives it.
pub trait ResidentBatch {
    /// The batch's ends: its class indices and statistics.
    fn ends(&self) -> &BatchEnds;

    /// Records the batch's pass: the forward pass and, for a training batch, the gradient
    /// products.
    fn encode(&self, ctx: &GpuContext, pass: &mut wgpu::ComputePass<'_>);
}

/// Evaluates every one of `n` classes `k` (key `e_k`, class `k`) through the evaluation batch
/// `eval`, first building it with `make` if there is none yet (from the first chunk's classes
/// and zero weights: an evaluation trains nothing), and reads the per-class statistics back:
/// one submission and one readback per chunk of [`eval_chunk`] classes (counted in
/// `counters`).
///
/// # Errors
/// `make`'s errors, GPU errors.
pub fn evaluate_every_class<B: ResidentBatch>(
    ctx: &GpuContext,
    n: usize,
    eval: &mut Option<B>,
    counters: &mut Counters,
    make: impl FnOnce(&[u32], &[f32]) -> Result<B, ExampleError>,
) -> Result<Evaluation, ExampleError> {
    let chunk = eval_chunk(n);
    let batch = match eval {
        Some(batch) => batch,
        None => {
            let first: Vec<u32> = (0..chunk as u32).collect();
            let zeros = vec![0.0f32; chunk];
            eval.insert(make(&first, &zeros)?)
        }
    };
    evaluate_in_chunks(ctx, n, chunk, batch, counters)
}

/// Evaluates `n` classes `chunk` at a time through `batch`: writes each chunk's class indices
/// into its index (past the last class the gather gives a zero row with no target, whose
/// statistics are ignored), records its pass into one submission, and reads its per-row
/// statistics back, one readback per chunk (counted in `counters`).
fn evaluate_in_chunks(
    ctx: &GpuContext,
    n: usize,
    chunk: usize,
    batch: &impl ResidentBatch,
    counters: &mut Counters,
) -> Result<Evaluation, ExampleError> {
    let ends = batch.ends();
    let mut out = Evaluation {
        correct_prob: Vec::with_capacity(n),
        loss: Vec::with_capacity(n),
        correct: Vec::with_capacity(n),
    };
    for start in (0..n).step_by(chunk) {
        if chunk < n {
            let classes: Vec<u32> = (start..start + chunk).map(|c| c as u32).collect();
            ctx.queue()
                .write_buffer(&ends.index, 0, bytemuck::cast_slice(&classes));
        }
        let encoder = encoder_with_pass(ctx, "tail_memory eval", |pass| batch.encode(ctx, pass));
        ctx.queue().submit([encoder.finish()]);
        let data = ends.stats.read(ctx)?;
        counters.eval_readbacks += 1;
        for s in data.chunks_exact(XENT_STATS_PER_ROW).take(n - start) {
            out.correct_prob.push(s[0]);
            out.loss.push(s[1]);
            out.correct.push(s[2] > 0.5);
        }
    }
    Ok(out)
}

/// Classes per evaluation pass for `n` classes: all of them while the `chunk × n` logits stay
/// within 2^25 floats (128 MiB), else as many as fit (at least one).
pub fn eval_chunk(n: usize) -> usize {
    ((1usize << 25) / n.max(1)).clamp(1, n.max(1))
}
