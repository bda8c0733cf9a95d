//! `MUON_SPLIT_K=long`: only long products split; the products that the default rule splits
//! to fill the GPU (a general product, a Gram product, Newton–Schulz) run tiled and still
//! match the core (own binary: it sets an env variable).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::{core_gram, core_matmul, core_ns, data, rel_err};
use muon_core::newton_schulz::NsConfig;
use muon_gpu::{GpuContext, GpuError, GpuMatrix, GpuNewtonSchulz, ops};

#[test]
fn split_k_long_runs_medium_products_tiled() {
    // SAFETY: the only test in this binary, and no thread has started that reads the
    // environment.
    unsafe { std::env::set_var(muon_gpu::SPLIT_K_ENV, "long") };
    let ctx = match GpuContext::new() {
        Ok(ctx) => ctx,
        Err(GpuError::NoAdapter) => {
            assert!(
                std::env::var("MUON_REQUIRE_ADAPTER").map_or(true, |v| v != "1"),
                "MUON_REQUIRE_ADAPTER=1 but no GPU adapter was found"
            );
            eprintln!("skipping: no GPU adapter (set MUON_REQUIRE_ADAPTER=1 to fail instead)");
            return;
        }
        Err(e) => panic!("GPU context creation failed: {e}"),
    };
    assert!(!ctx.kernels().split_fill());
    // A product of 4 blocks over 700 terms (2 chunks by default): tiled here.
    let (m, k, n) = (100, 700, 90);
    let (a, b) = (data(m * k, 1), data(k * n, 2));
    let ga = GpuMatrix::from_slice(&ctx, m, k, &a).unwrap();
    let gb = GpuMatrix::from_slice(&ctx, k, n, &b).unwrap();
    let out = GpuMatrix::zeros(&ctx, m, n).unwrap();
    ops::matmul(&ctx, &ga, false, &gb, false, &out).unwrap();
    let e = rel_err(&out.read(&ctx).unwrap(), &core_matmul(&a, &b, m, k, n));
    assert!(e < 1e-5, "matmul: rel err {e}");
    // A Gram product of order 100 over 600 terms (2 chunks by default), and Newton–Schulz of
    // 600 × 700 (all three products split by default): tiled here.
    let (r, c) = (100, 600);
    let x = data(r * c, 3);
    let gx = GpuMatrix::from_slice(&ctx, r, c, &x).unwrap();
    let out = GpuMatrix::zeros(&ctx, r, r).unwrap();
    ops::gram(&ctx, &gx, false, &out).unwrap();
    let e = rel_err(&out.read(&ctx).unwrap(), &core_gram(&x, r, c));
    assert!(e < 1e-5, "gram: rel err {e}");
    let (r, c) = (600, 700);
    let x = data(r * c, 4);
    let cfg = NsConfig::default();
    let ns = GpuNewtonSchulz::new(&ctx, r, c, &cfg).unwrap();
    let input = GpuMatrix::from_slice(&ctx, r, c, &x).unwrap();
    let output = GpuMatrix::zeros(&ctx, r, c).unwrap();
    ns.run(&ctx, &input, &output).unwrap();
    let e = rel_err(&output.read(&ctx).unwrap(), &core_ns(&x, r, c, &cfg));
    assert!(e < 1e-4, "newton-schulz: rel err {e}");
}
