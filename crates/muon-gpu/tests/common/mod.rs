//! Shared test helpers: one context per test binary, deterministic data, error measures.
#![allow(dead_code)]

pub mod trajectory;

use std::sync::OnceLock;

use muon_core::newton_schulz::{NsConfig, newton_schulz, ns_scratch_len};
use muon_core::{MatMut, MatRef, linalg};
use muon_gpu::kernels::{MatmulParams, uniform_buffer};
use muon_gpu::{FastEngine, GpuContext, GpuError, GpuMatrix, GpuNewtonSchulz, Precision, ops};

/// The shared context, or `None` (with a message) when no adapter exists and
/// `MUON_REQUIRE_ADAPTER` is not `1`; with it set, a missing adapter fails the test.
pub fn context() -> Option<&'static GpuContext> {
    static CTX: OnceLock<Option<GpuContext>> = OnceLock::new();
    let ctx = CTX.get_or_init(|| match GpuContext::new() {
        Ok(ctx) => {
            let info = ctx.adapter_info();
            eprintln!(
                "muon-gpu tests on {} ({:?}, {:?})",
                info.name, info.backend, info.device_type
            );
            Some(ctx)
        }
        Err(GpuError::NoAdapter) => None,
        Err(e) => panic!("GPU context creation failed: {e}"),
    });
    if ctx.is_none() {
        if std::env::var("MUON_REQUIRE_ADAPTER").is_ok_and(|v| v == "1") {
            panic!("MUON_REQUIRE_ADAPTER=1 but no GPU adapter was found");
        }
        eprintln!("skipping: no GPU adapter (set MUON_REQUIRE_ADAPTER=1 to fail instead)");
    }
    ctx.as_ref()
}

/// Deterministic values in [-1, 1) (xorshift64*).
pub fn data(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            let r = s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40; // 24 bits
            (r as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect()
}

/// ‖got − want‖_F / max(‖want‖_F, tiny), in f64.
pub fn rel_err(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (g, w) in got.iter().zip(want) {
        num += (f64::from(*g) - f64::from(*w)).powi(2);
        den += f64::from(*w).powi(2);
    }
    num.sqrt() / den.sqrt().max(1e-30)
}

/// max |got − want|.
pub fn max_abs_err(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f32::max)
}

/// Row-major transpose of a `rows × cols` matrix.
pub fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; x.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = x[r * cols + c];
        }
    }
    t
}

/// The operands of `op(A)·op(B)` (A `m×k`, B `k×n`, row-major) uploaded as `ops::matmul`
/// takes them: stored transposed (`k×m`, `n×k`) where `ta` / `tb`.
pub fn upload_operands(
    ctx: &GpuContext,
    (a, b): (&[f32], &[f32]),
    (m, k, n): (usize, usize, usize),
    (ta, tb): (bool, bool),
) -> (GpuMatrix, GpuMatrix) {
    let ga = if ta {
        GpuMatrix::from_slice(ctx, k, m, &transpose(a, m, k)).unwrap()
    } else {
        GpuMatrix::from_slice(ctx, m, k, a).unwrap()
    };
    let gb = if tb {
        GpuMatrix::from_slice(ctx, n, k, &transpose(b, k, n)).unwrap()
    } else {
        GpuMatrix::from_slice(ctx, k, n, b).unwrap()
    };
    (ga, gb)
}

/// `A·B` of row-major `m × k` and `k × n` matrices by the core.
pub fn core_matmul(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut c = vec![0.0; m * n];
    linalg::matmul(
        MatRef::new(m, k, a).unwrap(),
        MatRef::new(k, n, b).unwrap(),
        MatMut::new(m, n, &mut c).unwrap(),
    )
    .unwrap();
    c
}

/// `X·Xᵀ` of a row-major `r × c` matrix by the core.
pub fn core_gram(x: &[f32], r: usize, c: usize) -> Vec<f32> {
    let mut g = vec![0.0; r * r];
    linalg::gram(
        MatRef::new(r, c, x).unwrap(),
        MatMut::new(r, r, &mut g).unwrap(),
    )
    .unwrap();
    g
}

/// Newton–Schulz by `muon-core` (the reference).
pub fn core_ns(x: &[f32], rows: usize, cols: usize, cfg: &NsConfig) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    let mut scratch = vec![0.0; ns_scratch_len(rows, cols)];
    newton_schulz(
        MatRef::new(rows, cols, x).unwrap(),
        MatMut::new(rows, cols, &mut out).unwrap(),
        &mut scratch,
        cfg,
    )
    .unwrap();
    out
}

/// Newton–Schulz by the GPU kernels: upload, run, read back.
pub fn gpu_ns(x: &[f32], rows: usize, cols: usize, cfg: &NsConfig) -> Vec<f32> {
    let ctx = context().unwrap();
    let input = GpuMatrix::from_slice(ctx, rows, cols, x).unwrap();
    let out = GpuMatrix::zeros(ctx, rows, cols).unwrap();
    ops::newton_schulz(ctx, &input, &out, cfg).unwrap();
    out.read(ctx).unwrap()
}

/// Newton–Schulz by the GPU kernels with its products in `precision`: upload, run, read
/// back; also returns the precision the plan ran in (`F32` after a failed self-check).
pub fn gpu_ns_in(
    x: &[f32],
    rows: usize,
    cols: usize,
    cfg: &NsConfig,
    precision: Precision,
) -> (Vec<f32>, Precision) {
    let ctx = context().unwrap();
    let plan = GpuNewtonSchulz::with_precision(ctx, rows, cols, cfg, precision).unwrap();
    let input = GpuMatrix::from_slice(ctx, rows, cols, x).unwrap();
    let out = GpuMatrix::zeros(ctx, rows, cols).unwrap();
    plan.run(ctx, &input, &out).unwrap();
    (out.read(ctx).unwrap(), plan.precision())
}

/// `α·op(A)·op(B) + β·D` through the kernels' own API (tiled: no split-k), with `flags`, on
/// `engine`.
pub fn kernel_product(
    ctx: &GpuContext,
    (m, k, n): (usize, usize, usize),
    flags: u32,
    (alpha, beta): (f32, f32),
    (a, b, d): (&GpuMatrix, &GpuMatrix, &GpuMatrix),
    engine: Option<FastEngine>,
) -> Vec<f32> {
    let device = ctx.device();
    let params = MatmulParams {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        flags,
        alpha,
        beta,
        ..MatmulParams::default()
    };
    let u = uniform_buffer(device, "test params", &params);
    let out = GpuMatrix::zeros(ctx, m, n).unwrap();
    let kernels = ctx.kernels();
    let bg = kernels.matmul.bind_group(
        device,
        &u,
        a.binding(),
        b.binding(),
        d.binding(),
        out.binding(),
    );
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        kernels.dispatch_product(&mut pass, &bg, m as u32, n as u32, engine);
    }
    ctx.queue().submit([encoder.finish()]);
    out.read(ctx).unwrap()
}
