//! The tiled products in both block geometries (`ProductTiles::Small`, 64×64, and `Large`,
//! 128×128): the same bits in both, and the core's results within rounding; and products
//! flagged `MatmulParams::SYMMETRIC` (half the blocks, mirrored) against unflagged ones.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::sync::{Mutex, PoisonError};

use common::{
    context, core_gram, core_matmul, core_ns, data, gpu_ns, gpu_ns_in, kernel_product, rel_err,
    transpose, upload_operands,
};
use muon_core::newton_schulz::NsConfig;
use muon_gpu::kernels::MatmulParams;
use muon_gpu::{FastEngine, GpuContext, GpuMatrix, Precision, ProductTiles, ops};

/// As in tests/kernels.rs: f32 sums in another order than the core's.
const PRODUCT_TOL: f64 = 1e-5;
/// Products of `f16`-rounded operands (relative rounding 2⁻¹¹ each) against the `f32` core.
const PRODUCT_F16_TOL: f64 = 2e-3;
const NS_TOL: f64 = 1e-4;

/// Runs `f` in 64×64 and in 128×128 blocks, asserts the results are the same bits, returns
/// them; leaves the context at `Auto`.
fn in_both(ctx: &GpuContext, what: &str, f: impl Fn() -> Vec<f32>) -> Vec<f32> {
    // The setting is the shared context's: one test at a time switches it.
    static SWITCHING: Mutex<()> = Mutex::new(());
    let _one = SWITCHING.lock().unwrap_or_else(PoisonError::into_inner);
    ctx.set_product_tiles(ProductTiles::Small).unwrap();
    assert_eq!(ctx.product_tiles(), ProductTiles::Small);
    let small = f();
    ctx.set_product_tiles(ProductTiles::Large).unwrap();
    assert_eq!(ctx.product_tiles(), ProductTiles::Large);
    let large = f();
    ctx.set_product_tiles(ProductTiles::Auto).unwrap();
    assert_eq!(ctx.product_tiles(), ProductTiles::Auto);
    assert_eq!(small.len(), large.len(), "{what}");
    for (i, (s, l)) in small.iter().zip(&large).enumerate() {
        assert_eq!(
            s.to_bits(),
            l.to_bits(),
            "{what}: element {i}: {s} (64) vs {l} (128)"
        );
    }
    small
}

// Every product in both geometries (the setting is the shared context's: `in_both` switches it
// for one test at a time).
#[test]
fn both_geometries_give_the_same_bits_and_match_the_core() {
    let Some(ctx) = context() else { return };
    let name = ctx.adapter_info().name.to_ascii_lowercase();
    if name.contains("llvmpipe") {
        // lavapipe's limits (1024 threads, 32 KiB) allow them: CI must run them.
        assert!(ctx.kernels().large_tiles_supported(), "{name}");
    }
    if !ctx.kernels().large_tiles_supported() {
        eprintln!("this adapter cannot run 128×128 blocks: only the refusal is tested");
        assert!(ctx.set_product_tiles(ProductTiles::Large).is_err());
        assert_eq!(ctx.product_tiles(), ProductTiles::Auto);
        return;
    }
    eprintln!("ran the 128x128 product blocks");

    // Shapes cut inside each quadrant of a 128 block (rows/columns 64..127), k not a multiple
    // of the slice (16) or of a run (4), several blocks each way.
    for (i, &(m, k, n)) in [
        (1, 1, 1),
        (7, 37, 3),
        (100, 45, 150),
        (129, 33, 257),
        (200, 130, 64),
    ]
    .iter()
    .enumerate()
    {
        let a = data(m * k, 500 + i as u64);
        let b = data(k * n, 600 + i as u64);
        let want = core_matmul(&a, &b, m, k, n);
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let (ga, gb) = upload_operands(ctx, (&a, &b), (m, k, n), (ta, tb));
            let out = GpuMatrix::zeros(ctx, m, n).unwrap();
            let what = format!("matmul {m}x{k}x{n} trans ({ta},{tb})");
            let got = in_both(ctx, &what, || {
                ops::matmul(ctx, &ga, ta, &gb, tb, &out).unwrap();
                out.read(ctx).unwrap()
            });
            let e = rel_err(&got, &want);
            assert!(e < PRODUCT_TOL, "{what}: rel err {e}");
        }
    }

    // Gram products: blocks above the diagonal mirrored, both orientations.
    for (i, &(r, c)) in [(130, 67), (67, 130), (257, 20)].iter().enumerate() {
        let x = data(r * c, 700 + i as u64);
        let gx = GpuMatrix::from_slice(ctx, r, c, &x).unwrap();
        for trans in [false, true] {
            let (o, xs) = if trans {
                (c, transpose(&x, r, c))
            } else {
                (r, x.clone())
            };
            let want = core_gram(&xs, o, xs.len() / o);
            let out = GpuMatrix::zeros(ctx, o, o).unwrap();
            let what = format!("gram {r}x{c} trans {trans}");
            let got = in_both(ctx, &what, || {
                ops::gram(ctx, &gx, trans, &out).unwrap();
                out.read(ctx).unwrap()
            });
            let e = rel_err(&got, &want);
            assert!(e < PRODUCT_TOL, "{what}: rel err {e}");
        }
    }

    // Newton–Schulz (Gram and step kernels), wide and tall, in f32 and f16 operands.
    let cfg = NsConfig::default();
    for (i, &(r, c)) in [(150, 300), (300, 150)].iter().enumerate() {
        let x = data(r * c, 800 + i as u64);
        let want = core_ns(&x, r, c, &cfg);
        let what = format!("newton_schulz {r}x{c}");
        let got = in_both(ctx, &what, || gpu_ns(&x, r, c, &cfg));
        let e = rel_err(&got, &want);
        assert!(e < NS_TOL, "{what}: rel err {e}");
        let what = format!("newton_schulz {r}x{c} f16");
        in_both(ctx, &what, || gpu_ns_in(&x, r, c, &cfg, Precision::F16).0);
    }
}

// Newton–Schulz's `f16` plan flags its Gram product and `A·A` symmetric: the flagged product
// must give the unflagged one's bits (and the lower blocks must be written: the output starts
// at zero). The one test of this binary that uses tensor cores where they exist.
#[test]
fn symmetric_products_give_the_full_products_bits() {
    let Some(ctx) = context() else { return };
    let engine = ctx.check_fast_path().unwrap().engine();
    for (i, &(n, k)) in [(1, 5), (70, 33), (257, 130), (300, 17)].iter().enumerate() {
        let x = data(n * k, 900 + i as u64);
        let dd = data(n * n, 950 + i as u64);
        // A symmetric D: its upper triangle mirrored.
        let mut d = dd.clone();
        for r in 0..n {
            for c in 0..r {
                d[r * n + c] = dd[c * n + r];
            }
        }
        let gx = GpuMatrix::from_slice(ctx, n, k, &x).unwrap();
        let xt = transpose(&x, n, k);
        let gxt = GpuMatrix::from_slice(ctx, k, n, &xt).unwrap();
        let gd = GpuMatrix::from_slice(ctx, n, n, &d).unwrap();
        // What both products compute: 1.5·X·Xᵀ − 0.5·D, on the core.
        let xxt = core_matmul(&x, &xt, n, k, n);
        let want: Vec<f32> = xxt.iter().zip(&d).map(|(p, d)| 1.5 * p - 0.5 * d).collect();
        for eng in [None, engine] {
            // X·Xᵀ (B = X stored transposed), and XᵀX from the k×n transpose (A transposed).
            for (flags, a, b) in [
                (MatmulParams::TRANS_B, &gx, &gx),
                (MatmulParams::TRANS_A, &gxt, &gxt),
            ] {
                let what = format!("{n}x{k} flags {flags} engine {eng:?}");
                let run = |f: u32| kernel_product(ctx, (n, k, n), f, (1.5, -0.5), (a, b, &gd), eng);
                let full = in_both(ctx, &what, || run(flags));
                let sym = in_both(ctx, &what, || run(flags | MatmulParams::SYMMETRIC));
                // The full product is the product (so two empty outputs cannot pass).
                let tol = if eng.is_none() {
                    PRODUCT_TOL
                } else {
                    PRODUCT_F16_TOL
                };
                let e = rel_err(&full, &want);
                assert!(e < tol, "{what}: full product rel err {e}");
                if eng == Some(FastEngine::TensorCores) {
                    // Tensor cores may order a tile's sums differently for (r, c) and (c, r).
                    let e = rel_err(&sym, &full);
                    assert!(e < 1e-6, "{what}: rel err {e}");
                } else {
                    // Element (c, r) sums the products of (r, c) in the same order.
                    let same = full
                        .iter()
                        .zip(&sym)
                        .all(|(f, s)| f.to_bits() == s.to_bits());
                    assert!(same, "{what}: {full:?} vs {sym:?}");
                }
            }
        }
    }
}
