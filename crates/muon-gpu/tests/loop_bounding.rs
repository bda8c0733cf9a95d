//! `MUON_LOOP_BOUNDING=on`: the kernels compiled with wgpu's loop counters give the same bits
//! as the default build without them, on every kernel whose loops `shaders/trips.wgsl`
//! rewrote (the tile core, Gram split-k, the norm, softmax cross-entropy). Own binary: it
//! sets an env variable.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::data;
use muon_core::newton_schulz::NsConfig;
use muon_gpu::kernels::LoopBounding;
use muon_gpu::{GpuContext, GpuError, GpuMatrix, GpuNewtonSchulz, ops};

/// A context made with `MUON_LOOP_BOUNDING` set to `value`, or `None` without an adapter
/// (a failure under `MUON_REQUIRE_ADAPTER=1`).
fn context_with(value: &str) -> Option<GpuContext> {
    // SAFETY: the only test in this binary, and no other thread reads the environment.
    unsafe { std::env::set_var(muon_gpu::LOOP_BOUNDING_ENV, value) };
    match GpuContext::new() {
        Ok(ctx) => Some(ctx),
        Err(GpuError::NoAdapter) => {
            assert!(
                std::env::var("MUON_REQUIRE_ADAPTER").map_or(true, |v| v != "1"),
                "MUON_REQUIRE_ADAPTER=1 but no GPU adapter was found"
            );
            eprintln!("skipping: no GPU adapter (set MUON_REQUIRE_ADAPTER=1 to fail instead)");
            None
        }
        Err(e) => panic!("GPU context creation failed: {e}"),
    }
}

/// Every output of the kernels whose loops changed, run on `ctx`.
fn outputs(ctx: &GpuContext) -> Vec<(&'static str, Vec<f32>)> {
    let mut out = Vec::new();
    // Newton–Schulz of 600 × 700: the norm, X·Xᵀ and A·A split, the step split.
    let (r, c) = (600, 700);
    let ns = GpuNewtonSchulz::new(ctx, r, c, &NsConfig::default()).unwrap();
    let input = GpuMatrix::from_slice(ctx, r, c, &data(r * c, 1)).unwrap();
    let result = GpuMatrix::zeros(ctx, r, c).unwrap();
    ns.run(ctx, &input, &result).unwrap();
    out.push(("newton_schulz 600x700", result.read(ctx).unwrap()));
    // A long Gram product: chunk sums reduced by the tree (order ≤ 64).
    let x = GpuMatrix::from_slice(ctx, 3, 40_000, &data(120_000, 2)).unwrap();
    let g = GpuMatrix::zeros(ctx, 3, 3).unwrap();
    ops::gram(ctx, &x, false, &g).unwrap();
    out.push(("gram 3x40000", g.read(ctx).unwrap()));
    // A tiled product cut inside its blocks and its last k-slice.
    let a = GpuMatrix::from_slice(ctx, 130, 203, &data(130 * 203, 3)).unwrap();
    let b = GpuMatrix::from_slice(ctx, 203, 70, &data(203 * 70, 4)).unwrap();
    let p = GpuMatrix::zeros(ctx, 130, 70).unwrap();
    ops::matmul(ctx, &a, false, &b, false, &p).unwrap();
    out.push(("matmul 130x203x70", p.read(ctx).unwrap()));
    // The norm with threads striding over several elements (more than 1024 · 256).
    let v = GpuMatrix::from_slice(ctx, 1, 300_000, &data(300_000, 5)).unwrap();
    out.push((
        "frobenius_norm",
        vec![ops::frobenius_norm(ctx, &v).unwrap()],
    ));
    // Softmax cross-entropy over more columns than one workgroup's threads.
    let (rows, cols) = (9, 1000);
    let z: Vec<f32> = data(rows * cols, 6).iter().map(|v| 40.0 * v).collect();
    let z = GpuMatrix::from_slice(ctx, rows, cols, &z).unwrap();
    let grad = GpuMatrix::zeros(ctx, rows, cols).unwrap();
    let targets: Vec<u32> = (0..rows as u32).map(|r| r * 97 % 1000).collect();
    let stats = ops::softmax_cross_entropy(ctx, &z, &targets, &[1.0; 9], &grad).unwrap();
    out.push(("softmax_xent grad", grad.read(ctx).unwrap()));
    out.push(("softmax_xent loss", stats.iter().map(|s| s.loss).collect()));
    out
}

#[test]
fn loop_counters_change_no_bit() {
    let Some(bounded) = context_with("on") else {
        return;
    };
    assert_eq!(bounded.kernels().loop_bounding(), LoopBounding::On);
    let Some(plain) = context_with("off") else {
        return;
    };
    assert_eq!(plain.kernels().loop_bounding(), LoopBounding::Off);
    for ((what, with), (_, without)) in outputs(&bounded).into_iter().zip(outputs(&plain)) {
        assert!(with.iter().all(|v| v.is_finite()), "{what}: not finite");
        let with: Vec<u32> = with.iter().map(|v| v.to_bits()).collect();
        let without: Vec<u32> = without.iter().map(|v| v.to_bits()).collect();
        assert_eq!(with, without, "{what}: counters changed the result");
    }
}
