//! One-shot operations on [`GpuMatrix`] values, for tests, tools and benchmarks.
//!
//! Each call creates its uniforms and bind groups and submits once; a training loop uses the
//! optimizers instead, which make everything up front.

use muon_core::MuonError;
use muon_core::newton_schulz::NsConfig;

use wgpu::util::DeviceExt;

use crate::kernels::{
    GatherParams, Gram, GramParams, MAX_PARTIALS, Matmul, MatmulParams, NormParams, ScatterParams,
    SiluParams, XENT_STATS_PER_ROW, XentParams, storage_buffer_zeroed, uniform_buffer,
};
use crate::readback::read_f32;
use crate::{GpuContext, GpuError, GpuMatrix, GpuNewtonSchulz};

fn submit(ctx: &GpuContext, label: &str, record: impl FnOnce(&mut wgpu::ComputePass<'_>)) {
    ctx.submit_pass(label, record);
}

fn expect_shape(
    what: &'static str,
    m: &GpuMatrix,
    expected: (usize, usize),
) -> Result<(), GpuError> {
    if m.shape() == expected {
        Ok(())
    } else {
        Err(MuonError::ShapeMismatch {
            what,
            expected,
            found: m.shape(),
        }
        .into())
    }
}

fn distinct(out: &GpuMatrix, inputs: &[&GpuMatrix]) -> Result<(), GpuError> {
    if inputs.iter().any(|i| i.same_buffer(out)) {
        return Err(GpuError::AliasedBuffers {
            what: "inputs and output",
        });
    }
    Ok(())
}

/// `out = op(a) · op(b)`, where `op` transposes when the flag is set. Does not wait.
///
/// A product of few output blocks, or over a very long inner dimension, splits `k` into
/// chunks summed in parallel (`kernels::split_k`), in a scratch buffer made for the call.
///
/// # Errors
/// [`MuonError::ShapeMismatch`] (as [`GpuError::Core`]), [`GpuError::AliasedBuffers`],
/// [`GpuError::InnerDimensionTooLong`] (llvmpipe only, when one invocation would sum more
/// terms than [`GpuContext::max_tiled_inner`]: all of `k` on the tiled kernel, one chunk on
/// the split-k path), [`GpuError::BufferTooLarge`] if the chunk sums do not fit the device.
pub fn matmul(
    ctx: &GpuContext,
    a: &GpuMatrix,
    trans_a: bool,
    b: &GpuMatrix,
    trans_b: bool,
    out: &GpuMatrix,
) -> Result<(), GpuError> {
    for (what, mat) in [("a", a), ("b", b), ("out", out)] {
        mat.check_context(ctx, what)?;
    }
    let (m, k) = if trans_a {
        (a.cols(), a.rows())
    } else {
        a.shape()
    };
    let (kb, n) = if trans_b {
        (b.cols(), b.rows())
    } else {
        b.shape()
    };
    if kb != k {
        return Err(MuonError::ShapeMismatch {
            what: "b",
            expected: (k, n),
            found: (kb, n),
        }
        .into());
    }
    expect_shape("out", out, (m, n))?;
    distinct(out, &[a, b])?;
    let params = MatmulParams {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        flags: if trans_a { MatmulParams::TRANS_A } else { 0 }
            | if trans_b { MatmulParams::TRANS_B } else { 0 },
        alpha: 1.0,
        ..MatmulParams::default()
    };
    let kernels = ctx.kernels();
    let fill = kernels.split_fill();
    let walk = Matmul::longest_walk(&params, fill) as usize;
    ctx.check_walk("matmul", k, walk)?;
    let device = ctx.device();
    let sums_bytes = Matmul::split_bytes(&params, fill);
    ctx.check_size("matmul split-k chunk sums", sums_bytes)?;
    let sums = (sums_bytes > 0)
        .then(|| storage_buffer_zeroed(device, "matmul split-k chunk sums", sums_bytes));
    let call = kernels.matmul.call(
        device,
        &params,
        (fill, false),
        sums.as_ref(),
        a.binding(),
        b.binding(),
        a.binding(),
        out.binding(),
    );
    submit(ctx, "matmul", |pass| {
        kernels.dispatch_product_call(pass, &call, None);
    });
    Ok(())
}

/// `out = x·xᵀ` (`trans = false`, `out` is rows×rows) or `xᵀ·x` (`trans = true`, cols×cols).
/// Does not wait.
///
/// # Errors
/// [`MuonError::ShapeMismatch`] (as [`GpuError::Core`]), [`GpuError::AliasedBuffers`],
/// [`GpuError::InnerDimensionTooLong`] (llvmpipe only, when one invocation would sum more
/// terms than [`GpuContext::max_tiled_inner`]: all of `k` on the tiled kernel, one chunk on
/// the split-k path).
pub fn gram(ctx: &GpuContext, x: &GpuMatrix, trans: bool, out: &GpuMatrix) -> Result<(), GpuError> {
    x.check_context(ctx, "x")?;
    out.check_context(ctx, "out")?;
    let (m, k) = if trans {
        (x.cols(), x.rows())
    } else {
        x.shape()
    };
    expect_shape("out", out, (m, m))?;
    distinct(out, &[x])?;
    ctx.check_gram_inner("gram", m, k)?;
    let params = GramParams {
        m: m as u32,
        k: k as u32,
        trans: u32::from(trans),
        alpha: 1.0,
        ..GramParams::default()
    };
    let device = ctx.device();
    let kern = &ctx.kernels().gram;
    let scratch = Gram::scratch(device, params.m, params.k, ctx.kernels().split_fill());
    let call = kern.call(
        device,
        &params,
        &scratch,
        x.binding(),
        x.binding(),
        out.binding(),
    );
    submit(ctx, "gram", |pass| kern.dispatch_call(pass, &call));
    Ok(())
}

/// `‖x‖_F`, read back (waits for the device).
///
/// # Errors
/// [`GpuError::Readback`], [`GpuError::ForeignContext`].
pub fn frobenius_norm(ctx: &GpuContext, x: &GpuMatrix) -> Result<f32, GpuError> {
    x.check_context(ctx, "x")?;
    let device = ctx.device();
    let params = NormParams::new(x.len_u32());
    let u = uniform_buffer(device, "norm params", &params);
    let partials = storage_buffer_zeroed(device, "norm partials", u64::from(MAX_PARTIALS) * 8);
    let norm = storage_buffer_zeroed(device, "norm", 12);
    let kern = &ctx.kernels().frobenius_norm;
    let bg = kern.bind_group(device, &u, x.binding(), &partials, &norm);
    submit(ctx, "frobenius norm", |pass| {
        kern.dispatch(pass, &bg, &params)
    });
    Ok(read_f32(ctx, &norm, 1)?.first().copied().unwrap_or(0.0))
}

/// Newton–Schulz of `input` into `out` (same shape) under `cfg`. Does not wait.
///
/// # Errors
/// As [`GpuNewtonSchulz::new`] and [`GpuNewtonSchulz::run`].
pub fn newton_schulz(
    ctx: &GpuContext,
    input: &GpuMatrix,
    out: &GpuMatrix,
    cfg: &NsConfig,
) -> Result<(), GpuError> {
    let (rows, cols) = input.shape();
    GpuNewtonSchulz::new(ctx, rows, cols, cfg)?.run(ctx, input, out)
}

/// A read-only storage buffer holding `data` (`u32` or `f32` values, for the index, target
/// and weight inputs of [`gather_rows`] and [`softmax_cross_entropy`]).
fn storage_init<T: bytemuck::Pod>(ctx: &GpuContext, label: &str, data: &[T]) -> wgpu::Buffer {
    // wgpu rejects zero-sized bindings: an empty list binds one unused element.
    let bytes: &[u8] = bytemuck::cast_slice(data);
    let padded;
    let contents = if bytes.is_empty() {
        padded = [0u8; 4];
        &padded[..]
    } else {
        bytes
    };
    ctx.device()
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        })
}

/// `out[r] = src[index[r]]` for every row `r` of `out` (`index.len() × src.cols()`): an
/// embedding lookup. Does not wait.
///
/// # Errors
/// [`MuonError::ShapeMismatch`] or [`MuonError::LengthMismatch`] (as [`GpuError::Core`]),
/// [`GpuError::AliasedBuffers`], [`GpuError::ForeignContext`]; an index at or past
/// `src.rows()` is [`MuonError::ShapeMismatch`] here (the kernel itself writes a zero row).
pub fn gather_rows(
    ctx: &GpuContext,
    src: &GpuMatrix,
    index: &[u32],
    out: &GpuMatrix,
) -> Result<(), GpuError> {
    src.check_context(ctx, "src")?;
    out.check_context(ctx, "out")?;
    expect_shape("out", out, (index.len(), src.cols()))?;
    distinct(out, &[src])?;
    rows_in_range(index, src)?;
    if out.is_empty() {
        return Ok(());
    }
    let params = GatherParams {
        rows: index.len() as u32,
        cols: src.cols() as u32,
        src_rows: src.rows() as u32,
        _pad: 0,
    };
    let device = ctx.device();
    let u = uniform_buffer(device, "gather params", &params);
    let idx = storage_init(ctx, "gather index", index);
    let kern = &ctx.kernels().gather_rows;
    let bg = kern.bind_group(device, &u, &idx, src.binding(), out.binding());
    submit(ctx, "gather rows", |pass| {
        kern.dispatch(pass, &bg, params.rows, params.cols)
    });
    Ok(())
}

/// `Ok` if every row index names a row of `m`, else [`MuonError::ShapeMismatch`] (`index`)
/// with the smallest shape that would hold the first bad one (for [`gather_rows`] and
/// [`scatter_add_rows`]).
fn rows_in_range(index: &[u32], m: &GpuMatrix) -> Result<(), GpuError> {
    match index.iter().find(|&&i| i as usize >= m.rows()) {
        None => Ok(()),
        Some(&bad) => Err(MuonError::ShapeMismatch {
            what: "index",
            expected: m.shape(),
            found: (bad as usize + 1, m.cols()),
        }
        .into()),
    }
}

/// What [`softmax_cross_entropy`] reports for one row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct XentRow {
    /// `softmax(Z[r])[t_r]`.
    pub target_prob: f32,
    /// `−ln softmax(Z[r])[t_r]`, computed as `ln Σ exp(z − max) + max − z_t`.
    pub loss: f32,
    /// Whether `t_r` scores strictly above every other class.
    pub is_argmax: bool,
    /// `w_r · loss`.
    pub weighted_loss: f32,
}

/// Row-wise softmax cross-entropy of `logits` (`rows × cols`, row `r` one sample's scores)
/// against classes `targets` with weights `weights`: writes
/// `grad[r] = w_r (softmax(Z[r]) − onehot(t_r))` and returns each row's [`XentRow`] (waits for
/// the device, to read them).
///
/// # Errors
/// [`MuonError::ShapeMismatch`] or [`MuonError::LengthMismatch`] (as [`GpuError::Core`]; a
/// target at or past `cols` is a shape mismatch), [`GpuError::AliasedBuffers`],
/// [`GpuError::ForeignContext`], [`GpuError::Readback`].
pub fn softmax_cross_entropy(
    ctx: &GpuContext,
    logits: &GpuMatrix,
    targets: &[u32],
    weights: &[f32],
    grad: &GpuMatrix,
) -> Result<Vec<XentRow>, GpuError> {
    logits.check_context(ctx, "logits")?;
    grad.check_context(ctx, "grad")?;
    let (rows, cols) = logits.shape();
    for (what, len) in [("targets", targets.len()), ("weights", weights.len())] {
        if len != rows {
            return Err(MuonError::LengthMismatch {
                what,
                expected: rows,
                found: len,
            }
            .into());
        }
    }
    if let Some(&bad) = targets.iter().find(|&&t| t as usize >= cols) {
        return Err(MuonError::ShapeMismatch {
            what: "targets",
            expected: (rows, cols),
            found: (rows, bad as usize + 1),
        }
        .into());
    }
    expect_shape("grad", grad, (rows, cols))?;
    distinct(grad, &[logits])?;
    if rows == 0 || cols == 0 {
        return Ok(Vec::new());
    }
    let params = XentParams {
        rows: rows as u32,
        cols: cols as u32,
        _pad: [0; 2],
    };
    let device = ctx.device();
    let u = uniform_buffer(device, "xent params", &params);
    let t = storage_init(ctx, "xent targets", targets);
    let w = storage_init(ctx, "xent weights", weights);
    let stats = GpuMatrix::zeros(ctx, rows, XENT_STATS_PER_ROW)?;
    let kern = &ctx.kernels().softmax_xent;
    let bg = kern.bind_group(
        device,
        &u,
        logits.binding(),
        &t,
        &w,
        grad.binding(),
        stats.binding(),
    );
    submit(ctx, "softmax cross-entropy", |pass| {
        kern.dispatch(pass, &bg, params.rows)
    });
    Ok(stats
        .read(ctx)?
        .chunks_exact(XENT_STATS_PER_ROW)
        .map(|s| XentRow {
            target_prob: s[0],
            loss: s[1],
            is_argmax: s[2] > 0.5,
            weighted_loss: s[3],
        })
        .collect())
}

/// `out[c] = Σ_{j: index[j] = c} src[j]` for every row `c` of `out` (`out_rows × src.cols()`;
/// rows no index names become zero): the backward pass of [`gather_rows`]. Does not wait.
///
/// # Errors
/// [`MuonError::ShapeMismatch`] (as [`GpuError::Core`]; also for an index at or past
/// `out.rows()`), [`GpuError::AliasedBuffers`], [`GpuError::ForeignContext`].
pub fn scatter_add_rows(
    ctx: &GpuContext,
    src: &GpuMatrix,
    index: &[u32],
    out: &GpuMatrix,
) -> Result<(), GpuError> {
    src.check_context(ctx, "src")?;
    out.check_context(ctx, "out")?;
    expect_shape("src", src, (index.len(), out.cols()))?;
    distinct(out, &[src])?;
    rows_in_range(index, out)?;
    if out.is_empty() {
        return Ok(());
    }
    let params = ScatterParams {
        rows: index.len() as u32,
        cols: out.cols() as u32,
        out_rows: out.rows() as u32,
        _pad: 0,
    };
    let device = ctx.device();
    let u = uniform_buffer(device, "scatter params", &params);
    let idx = storage_init(ctx, "scatter index", index);
    let kern = &ctx.kernels().scatter_add_rows;
    let bg = kern.bind_group(device, &u, &idx, src.binding(), out.binding());
    submit(ctx, "scatter-add rows", |pass| {
        kern.dispatch(pass, &bg, params.out_rows, params.cols)
    });
    Ok(())
}

/// `x = SiLU(h)` (`backward = false`) or `x ← x · SiLU'(h)` (`backward = true`, `x` holding
/// the gradient with respect to the activation), element-wise. Does not wait.
///
/// # Errors
/// [`MuonError::ShapeMismatch`] (as [`GpuError::Core`]), [`GpuError::AliasedBuffers`],
/// [`GpuError::ForeignContext`].
pub fn silu(
    ctx: &GpuContext,
    h: &GpuMatrix,
    x: &GpuMatrix,
    backward: bool,
) -> Result<(), GpuError> {
    h.check_context(ctx, "h")?;
    x.check_context(ctx, "x")?;
    expect_shape("x", x, h.shape())?;
    distinct(x, &[h])?;
    if x.is_empty() {
        return Ok(());
    }
    let params = SiluParams {
        len: x.len_u32(),
        _pad: [0; 3],
    };
    let device = ctx.device();
    let u = uniform_buffer(device, "silu params", &params);
    let kern = &ctx.kernels().silu;
    let bg = kern.bind_group(device, &u, h.binding(), x.binding());
    submit(ctx, "silu", |pass| {
        if backward {
            kern.dispatch_backward(pass, &bg, params.len);
        } else {
            kern.dispatch_forward(pass, &bg, params.len);
        }
    });
    Ok(())
}
