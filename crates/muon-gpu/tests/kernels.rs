//! The linear-algebra kernels against `muon-core` on whatever adapter exists.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::{
    context, core_gram, core_matmul, core_ns, data, gpu_ns, kernel_product, rel_err, transpose,
    upload_operands,
};
use muon_core::newton_schulz::NsConfig;
use muon_core::{MatMut, MatRef, linalg};
use muon_gpu::{GpuMatrix, GpuNewtonSchulz, ops};

/// f32 products: the GPU sums each dot product in k order, the core in eight partial sums,
/// so elements differ by a few ulps of the sum of |terms|: 1e-5 relative (Frobenius) is
/// ample for k ≤ 1031.
const PRODUCT_TOL: f64 = 1e-5;

#[test]
fn matmul_matches_core_for_every_shape_and_transpose() {
    let Some(ctx) = context() else { return };
    let shapes = [
        (1, 1, 1),
        (1, 5, 1),
        (7, 1, 3),
        (3, 5, 7),
        (64, 64, 64),
        (65, 17, 130),
        (1, 300, 2),
        (129, 70, 1),
        // Blocks cut inside a thread's second quadrant (rows/columns 32..63 of a block).
        (37, 45, 99),
    ];
    for (i, &(m, k, n)) in shapes.iter().enumerate() {
        let a = data(m * k, 10 + i as u64);
        let b = data(k * n, 20 + i as u64);
        let want = core_matmul(&a, &b, m, k, n);
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let (ga, gb) = upload_operands(ctx, (&a, &b), (m, k, n), (ta, tb));
            let out = GpuMatrix::zeros(ctx, m, n).unwrap();
            ops::matmul(ctx, &ga, ta, &gb, tb, &out).unwrap();
            let got = out.read(ctx).unwrap();
            let e = rel_err(&got, &want);
            assert!(
                e < PRODUCT_TOL,
                "{m}x{k}x{n} trans ({ta},{tb}): rel err {e}"
            );
        }
    }
}

#[test]
fn matmul_split_k_matches_core() {
    let Some(ctx) = context() else { return };
    // Products of few blocks over at least 512 terms, and a long one, split their inner
    // dimension (unit-tested in kernels::matmul): 100×700×90 in 2 chunks, 130×1100×70 in 4,
    // 1×5000×3 in 19; each in every transpose, cut inside its blocks and its last chunk.
    for (i, &(m, k, n)) in [(100, 700, 90), (130, 1100, 70), (1, 5000, 3)]
        .iter()
        .enumerate()
    {
        let a = data(m * k, 40 + i as u64);
        let b = data(k * n, 50 + i as u64);
        let want = core_matmul(&a, &b, m, k, n);
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let (ga, gb) = upload_operands(ctx, (&a, &b), (m, k, n), (ta, tb));
            let out = GpuMatrix::zeros(ctx, m, n).unwrap();
            ops::matmul(ctx, &ga, ta, &gb, tb, &out).unwrap();
            let e = rel_err(&out.read(ctx).unwrap(), &want);
            // Sums of up to 5,000 terms in another order than the core's.
            assert!(e < 3e-5, "{m}x{k}x{n} trans ({ta},{tb}): rel err {e}");
        }
    }
}

#[test]
fn gram_matches_core_both_orientations() {
    let Some(ctx) = context() else { return };
    for (i, &(r, c)) in [
        (1, 1),
        (1, 9),
        (9, 1),
        (5, 3),
        (64, 65),
        (130, 67),
        (67, 130),
        (45, 20),
    ]
    .iter()
    .enumerate()
    {
        let x = data(r * c, 40 + i as u64);
        let gx = GpuMatrix::from_slice(ctx, r, c, &x).unwrap();
        // X·Xᵀ
        let mut want = vec![0.0; r * r];
        linalg::gram(
            MatRef::new(r, c, &x).unwrap(),
            MatMut::new(r, r, &mut want).unwrap(),
        )
        .unwrap();
        let out = GpuMatrix::zeros(ctx, r, r).unwrap();
        ops::gram(ctx, &gx, false, &out).unwrap();
        let got = out.read(ctx).unwrap();
        assert!(
            rel_err(&got, &want) < PRODUCT_TOL,
            "{r}x{c} X·Xᵀ: {}",
            rel_err(&got, &want)
        );
        for a in 0..r {
            for b in 0..r {
                assert_eq!(
                    got[a * r + b],
                    got[b * r + a],
                    "X·Xᵀ must be exactly symmetric"
                );
            }
        }
        // XᵀX
        let xt = transpose(&x, r, c);
        let mut want = vec![0.0; c * c];
        linalg::gram(
            MatRef::new(c, r, &xt).unwrap(),
            MatMut::new(c, c, &mut want).unwrap(),
        )
        .unwrap();
        let out = GpuMatrix::zeros(ctx, c, c).unwrap();
        ops::gram(ctx, &gx, true, &out).unwrap();
        let got = out.read(ctx).unwrap();
        assert!(
            rel_err(&got, &want) < PRODUCT_TOL,
            "{r}x{c} XᵀX: {}",
            rel_err(&got, &want)
        );
    }
}

#[test]
fn frobenius_norm_matches_core() {
    let Some(ctx) = context() else { return };
    // 300_000 elements: more than 1024 partials' worth, so threads stride.
    for (i, &len) in [1usize, 255, 256, 257, 70_000, 300_000].iter().enumerate() {
        let x = data(len, 70 + i as u64);
        let g = GpuMatrix::from_slice(ctx, 1, len, &x).unwrap();
        let got = ops::frobenius_norm(ctx, &g).unwrap();
        let want = linalg::frobenius_norm(&x);
        // f32 tree sums against the core's f64 sum: a few ulps.
        assert!(
            ((got - want) / want).abs() < 1e-5,
            "len {len}: {got} vs {want}"
        );
    }
    let zero = GpuMatrix::zeros(ctx, 3, 4).unwrap();
    assert_eq!(ops::frobenius_norm(ctx, &zero).unwrap(), 0.0);
    // Entries whose squares overflow f32 (1e20² = 1e40) and ones whose squares underflow it
    // (1e-25² = 1e-50): the scaled sum gives the norm the core's f64 sum gives.
    for scale in [1e20f32, 1e-25] {
        let x: Vec<f32> = data(70_000, 90).iter().map(|v| v * scale).collect();
        let g = GpuMatrix::from_slice(ctx, 1, x.len(), &x).unwrap();
        let got = ops::frobenius_norm(ctx, &g).unwrap();
        let want = linalg::frobenius_norm(&x);
        assert!(
            got.is_finite() && ((got - want) / want).abs() < 1e-5,
            "entries ×{scale:e}: {got} vs {want}"
        );
    }
}

#[test]
fn newton_schulz_of_huge_entries_matches_core() {
    let Some(_) = context() else { return };
    // ‖X‖_F ≈ 1.7e38·√(24·40/3): beyond f32, so only the scaled norm normalises it.
    let (r, c) = (24, 40);
    let x: Vec<f32> = data(r * c, 91).iter().map(|v| v * 1.7e38).collect();
    let cfg = NsConfig::default();
    let want = core_ns(&x, r, c, &cfg);
    let got = gpu_ns(&x, r, c, &cfg);
    assert!(got.iter().all(|v| v.is_finite()));
    let e = rel_err(&got, &want);
    assert!(e < NS_TOL, "rel err {e}");
    assert!(want.iter().any(|v| *v != 0.0), "the core does not zero it");
}

/// Newton–Schulz amplifies rounding (five rounds of cubic-then-quintic polynomials in f32 with
/// different summation orders): 1e-4 relative Frobenius error, measured at ≲ 2e-5.
const NS_TOL: f64 = 1e-4;

#[test]
fn newton_schulz_matches_core_small_and_medium_shapes() {
    let Some(_) = context() else { return };
    let shapes = [
        (1, 1),
        (1, 7),
        (7, 1),
        (2, 2),
        (3, 5),
        (5, 3),
        (16, 16),
        (64, 64),
        (65, 63),
        (63, 129),
        (130, 70),
        (1, 300),
        (300, 1),
    ];
    let configs = [
        NsConfig::default(),
        NsConfig::keller_jordan(),
        NsConfig::polar_express(6).unwrap(),
    ];
    for (i, &(r, c)) in shapes.iter().enumerate() {
        let x = data(r * c, 100 + i as u64);
        for cfg in &configs {
            let want = core_ns(&x, r, c, cfg);
            let got = gpu_ns(&x, r, c, cfg);
            let e = rel_err(&got, &want);
            assert!(e < NS_TOL, "{r}x{c} {:?}: rel err {e}", cfg.normalization);
        }
    }
}

#[test]
fn newton_schulz_of_zero_is_zero() {
    let Some(_) = context() else { return };
    for &(r, c) in &[(1, 1), (4, 9), (9, 4)] {
        let got = gpu_ns(&vec![0.0; r * c], r, c, &NsConfig::default());
        assert!(got.iter().all(|v| *v == 0.0), "{r}x{c}: {got:?}");
    }
}

#[test]
fn newton_schulz_matches_core_513_by_1031_both_orientations() {
    let Some(_) = context() else { return };
    let (r, c) = (513, 1031);
    let x = data(r * c, 7);
    let cfg = NsConfig::default();
    let want = core_ns(&x, r, c, &cfg);
    let got = gpu_ns(&x, r, c, &cfg);
    let e = rel_err(&got, &want);
    assert!(e < NS_TOL, "{r}x{c}: rel err {e}");
    // The tall orientation: the transpose's result is the result's transpose.
    let xt = transpose(&x, r, c);
    let got_t = gpu_ns(&xt, c, r, &cfg);
    let e = rel_err(&got_t, &transpose(&want, r, c));
    assert!(e < NS_TOL, "{c}x{r}: rel err {e}");
}

#[test]
fn more_than_65535_output_blocks() {
    let Some(ctx) = context() else { return };
    // A 1×N product with N/64 > 65,535 output blocks: the folded 2-D grid
    // (matmul, gram and ns_step share it; the element-wise kernels are covered by the
    // 4097² Adam test).
    let n = 64 * 65_536 + 3;
    let v = data(n, 3);
    let s = GpuMatrix::from_slice(ctx, 1, 1, &[1.5]).unwrap();
    let row = GpuMatrix::from_slice(ctx, 1, n, &v).unwrap();
    let want: Vec<f32> = v.iter().map(|x| 1.5 * x).collect();
    let out = GpuMatrix::zeros(ctx, 1, n).unwrap();
    ops::matmul(ctx, &s, false, &row, false, &out).unwrap();
    assert_eq!(out.read(ctx).unwrap(), want, "1xN");
}

/// Newton–Schulz of a 1×N and an N×1 input against the core.
fn assert_ns_of_long_vectors(n: usize, seed: u64) {
    let x = data(n, seed);
    let cfg = NsConfig::default();
    for (r, c) in [(1, n), (n, 1)] {
        let want = core_ns(&x, r, c, &cfg);
        let got = gpu_ns(&x, r, c, &cfg);
        let e = rel_err(&got, &want);
        assert!(e < NS_TOL, "{r}x{c}: rel err {e}");
    }
}

#[test]
fn newton_schulz_long_vectors() {
    let Some(_) = context() else { return };
    // 1×N and N×1: the Gram product is 1×1 with a long inner sum (the split-k path).
    assert_ns_of_long_vectors(20_003, 5);
}

#[test]
fn gram_split_k_for_long_skinny_products() {
    let Some(ctx) = context() else { return };
    // Long products of few blocks take the split-k path (chunk sums, then a reduction:
    // a tree per element up to order 64, a thread per element above); 1e-4: f32 sums of up
    // to 200k terms in different orders. 200,003 is beyond what one invocation of the tiled
    // kernel may loop over on lavapipe (~174,000: see `matmul_long_inner_dimension`). 65 and
    // 130 have several blocks, cut inside the last, and ragged last chunks.
    for (i, &(r, c)) in [
        (1, 200_003),
        (3, 40_000),
        (64, 16_385),
        (65, 16_400),
        (130, 40_001),
    ]
    .iter()
    .enumerate()
    {
        let x = data(r * c, 90 + i as u64);
        let want = core_gram(&x, r, c);
        let gx = GpuMatrix::from_slice(ctx, r, c, &x).unwrap();
        let out = GpuMatrix::zeros(ctx, r, r).unwrap();
        ops::gram(ctx, &gx, false, &out).unwrap();
        let got = out.read(ctx).unwrap();
        let e = rel_err(&got, &want);
        assert!(e < 1e-4, "{r}x{c} X·Xᵀ: rel err {e}");
        for a in 0..r {
            for b in 0..r {
                assert_eq!(got[a * r + b], got[b * r + a], "exactly symmetric");
            }
        }
        // XᵀX of the transpose: the same product through the other orientation.
        let gxt = GpuMatrix::from_slice(ctx, c, r, &transpose(&x, r, c)).unwrap();
        let out = GpuMatrix::zeros(ctx, r, r).unwrap();
        ops::gram(ctx, &gxt, true, &out).unwrap();
        let e = rel_err(&out.read(ctx).unwrap(), &want);
        assert!(e < 1e-4, "{c}x{r} XᵀX: rel err {e}");
    }
}

#[test]
fn gram_split_k_fills_the_gpu_at_medium_orders() {
    let Some(ctx) = context() else { return };
    // Fewer than 512 blocks on and above the diagonal over at least 512 terms: chunks of 256
    // or more until about 512 workgroups run. 100 over 600 terms: 2 chunks; 200 over 2000: 7
    // (ragged last chunk); 600 over 700: 2 of 9 blocks a side, cut inside the last; 1984 over
    // 520: the largest order that splits, 496 blocks. Against the core, exactly symmetric.
    for (i, &(r, c)) in [(100, 600), (200, 2000), (600, 700), (1984, 520)]
        .iter()
        .enumerate()
    {
        let x = data(r * c, 190 + i as u64);
        let want = core_gram(&x, r, c);
        for trans in [false, true] {
            let gx = if trans {
                GpuMatrix::from_slice(ctx, c, r, &transpose(&x, r, c)).unwrap()
            } else {
                GpuMatrix::from_slice(ctx, r, c, &x).unwrap()
            };
            let out = GpuMatrix::zeros(ctx, r, r).unwrap();
            ops::gram(ctx, &gx, trans, &out).unwrap();
            let got = out.read(ctx).unwrap();
            let e = rel_err(&got, &want);
            assert!(e < 1e-5, "{r}x{c} trans {trans}: rel err {e}");
            for a in 0..r {
                for b in a + 1..r {
                    assert_eq!(got[a * r + b], got[b * r + a], "exactly symmetric");
                }
            }
        }
    }
}

#[test]
fn newton_schulz_with_its_products_split() {
    let Some(_) = context() else { return };
    // 600 × 700: X·Xᵀ (order 600 over 700 terms), A·A (600 over 600) and the step (110 blocks
    // over 600 terms) all split in two, sharing one scratch; 700 × 600 runs XᵀX and X·B.
    // 130 × 1100: X·Xᵀ in 4 chunks, A·A and the step tiled (130 terms).
    for (r, c) in [(600, 700), (700, 600), (130, 1100)] {
        let x = data(r * c, r as u64);
        let cfg = NsConfig::default();
        let e = rel_err(&gpu_ns(&x, r, c, &cfg), &core_ns(&x, r, c, &cfg));
        assert!(e < NS_TOL, "{r}x{c}: rel err {e}");
    }
}

#[test]
fn newton_schulz_long_vectors_beyond_the_tiled_loop() {
    let Some(_) = context() else { return };
    // Beyond what one invocation of the tiled kernel may loop over on lavapipe (llvmpipe
    // stops a shader's loops after 65,535 iterations, ~174,000 inner terms of the tiled
    // product): the split-k path has no such cap.
    assert_ns_of_long_vectors(200_003, 6);
}

#[test]
fn newton_schulz_of_a_long_matrix_beyond_the_tiled_loop() {
    let Some(_) = context() else { return };
    // A 70 × 170,000 input: its Gram product (order 70) splits the 170,000 terms, which one
    // invocation of the tiled kernel could not walk on lavapipe (refused before split-k
    // covered orders above 64); the step products sum 70 terms. Two steps keep it short.
    let (r, c) = (70, 170_000);
    let x = data(r * c, 12);
    let cfg = NsConfig::default().with_steps(2);
    let e = rel_err(&gpu_ns(&x, r, c, &cfg), &core_ns(&x, r, c, &cfg));
    assert!(e < NS_TOL, "{r}x{c}: rel err {e}");
}

#[test]
fn matmul_long_inner_dimension() {
    let Some(ctx) = context() else { return };
    // A product of one block over 100,003 terms: split into chunks of at most 4,096 (the
    // tiled kernel would walk all of k in one invocation; on lavapipe, whose shaders stop
    // looping after 65,535 iterations per invocation, that allows ~174,000 terms). 1e-4: f32
    // sums of 100k terms in different orders.
    let (m, k, n) = (2, 100_003, 3);
    let a = data(m * k, 31);
    let b = data(k * n, 32);
    let want = core_matmul(&a, &b, m, k, n);
    let ga = GpuMatrix::from_slice(ctx, m, k, &a).unwrap();
    let gb = GpuMatrix::from_slice(ctx, k, n, &b).unwrap();
    let out = GpuMatrix::zeros(ctx, m, n).unwrap();
    ops::matmul(ctx, &ga, false, &gb, false, &out).unwrap();
    let e = rel_err(&out.read(ctx).unwrap(), &want);
    assert!(e < 1e-4, "{m}x{k}x{n}: rel err {e}");
}

#[test]
fn products_longer_than_the_adapter_can_loop_split() {
    let Some(ctx) = context() else { return };
    let Some(max) = ctx.max_tiled_inner() else {
        // Hardware adapters have no loop cap; only llvmpipe reports one.
        let name = ctx.adapter_info().name.to_ascii_lowercase();
        assert!(!name.contains("llvmpipe"), "{name}: llvmpipe without a cap");
        return;
    };
    // At the cap the tiled kernel (the kernels' own API: no split-k) still sums every term:
    // a dot product of ones is exact.
    let ones = vec![1.0; max];
    let a = GpuMatrix::from_slice(ctx, 1, max, &ones).unwrap();
    let b = GpuMatrix::from_slice(ctx, max, 1, &ones).unwrap();
    let tiled = kernel_product(ctx, (1, max, 1), 0, (1.0, 0.0), (&a, &b, &a), None);
    assert_eq!(tiled, [max as f32]);
    let out = GpuMatrix::zeros(ctx, 1, 1).unwrap();

    // Twice the cap, where the tiled kernel would stop short: `ops::matmul` splits it into
    // chunks (no invocation walks them all), and every term is still summed.
    let long = 2 * max;
    let a = GpuMatrix::from_slice(ctx, 1, long, &vec![1.0; long]).unwrap();
    let b = GpuMatrix::from_slice(ctx, long, 1, &vec![1.0; long]).unwrap();
    ops::matmul(ctx, &a, false, &b, false, &out).unwrap();
    assert_eq!(out.read(ctx).unwrap(), [long as f32]);
    // Gram products of orders up to 640 split the inner dimension into chunks of at most
    // 4,096 terms: no cap (and a larger order over this many terms is beyond lavapipe's
    // 128 MiB bindings anyway). A 65×k Gram product of ones, one term over the cap, sums k
    // in every element.
    let k = max + 1;
    let x = GpuMatrix::from_slice(ctx, 65, k, &vec![1.0; 65 * k]).unwrap();
    let g = GpuMatrix::zeros(ctx, 65, 65).unwrap();
    ops::gram(ctx, &x, false, &g).unwrap();
    assert!(
        g.read(ctx).unwrap().iter().all(|&v| v == k as f32),
        "gram 65×k"
    );
    let cfg = NsConfig::default();
    assert!(GpuNewtonSchulz::new(ctx, k, 65, &cfg).is_ok());
    assert!(GpuNewtonSchulz::new(ctx, 64, k, &cfg).is_ok());
    let g1 = GpuMatrix::zeros(ctx, 1, 1).unwrap();
    ops::gram(ctx, &a, false, &g1).unwrap();
    assert_eq!(g1.read(ctx).unwrap(), [long as f32], "gram 1×long");
}
