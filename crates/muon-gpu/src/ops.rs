//! One-shot operations on [`GpuMatrix`] values, for tests, tools and benchmarks.
//!
//! Each call creates its uniforms and bind groups and submits once; a training loop uses the
//! optimizers instead, which make everything up front.

use muon_core::MuonError;
use muon_core::newton_schulz::NsConfig;

use crate::kernels::{
    GramParams, MAX_PARTIALS, MatmulParams, NormParams, storage_buffer_zeroed, uniform_buffer,
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
/// # Errors
/// [`MuonError::ShapeMismatch`] (as [`GpuError::Core`]), [`GpuError::AliasedBuffers`],
/// [`GpuError::InnerDimensionTooLong`] (llvmpipe only, see
/// [`GpuContext::max_tiled_inner`]).
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
    ctx.check_tiled_inner("matmul", k)?;
    let params = MatmulParams {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        flags: if trans_a { MatmulParams::TRANS_A } else { 0 }
            | if trans_b { MatmulParams::TRANS_B } else { 0 },
        alpha: 1.0,
        beta: 0.0,
        _pad: [0; 2],
    };
    let device = ctx.device();
    let u = uniform_buffer(device, "matmul params", &params);
    let kern = &ctx.kernels().matmul;
    let bg = kern.bind_group(
        device,
        &u,
        a.binding(),
        b.binding(),
        a.binding(),
        out.binding(),
    );
    submit(ctx, "matmul", |pass| {
        kern.dispatch(pass, &bg, params.m, params.n)
    });
    Ok(())
}

/// `out = x·xᵀ` (`trans = false`, `out` is rows×rows) or `xᵀ·x` (`trans = true`, cols×cols).
/// Does not wait.
///
/// # Errors
/// [`MuonError::ShapeMismatch`] (as [`GpuError::Core`]), [`GpuError::AliasedBuffers`],
/// [`GpuError::InnerDimensionTooLong`] (llvmpipe only, orders above 64, see
/// [`GpuContext::max_tiled_inner`]).
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
    let u = uniform_buffer(device, "gram params", &params);
    let kern = &ctx.kernels().gram;
    let call = kern.call(device, &u, &params, x.binding(), x.binding(), out.binding());
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
