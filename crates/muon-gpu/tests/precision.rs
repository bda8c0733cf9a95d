//! `Precision::F16`: its accuracy against the `f32` path and the CPU core, the fast-path
//! self-check, and the fallback to `f32` when that check fails (forced here, so it runs on
//! any adapter, lavapipe included).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::{context, core_ns, data, rel_err};
use muon_core::MatRef;
use muon_core::muon::MuonConfig;
use muon_core::newton_schulz::NsConfig;
use muon_core::spectrum::{singular_values, singular_values_scratch_len};
use muon_gpu::{
    FastEngine, FastPathStatus, GpuContext, GpuMatrix, GpuMuon, GpuNewtonSchulz, Precision,
};

/// Relative (Frobenius) distance allowed between the `f16`-operand and the `f32` result of
/// the default (quintic, 5-step) Newton–Schulz at these sizes. Measured on lavapipe
/// (emulated engine): 2.1e-3–2.4e-3 for the shapes below; f16's unit roundoff is 4.9e-4,
/// and the quintic amplifies a perturbation of a singular value by up to |p'(σ)| ≈ 3.4 per
/// step where σ is small.
const F16_NS_TOL: f64 = 1e-2;

/// The shapes: wide, tall, square, and edges that are not multiples of 64 or 128.
const SHAPES: [(usize, usize); 3] = [(96, 160), (160, 96), (130, 130)];

fn run_ns(ctx: &GpuContext, x: &[f32], r: usize, c: usize, precision: Precision) -> Vec<f32> {
    let plan = GpuNewtonSchulz::with_precision(ctx, r, c, &NsConfig::default(), precision).unwrap();
    let input = GpuMatrix::from_slice(ctx, r, c, x).unwrap();
    let out = GpuMatrix::zeros(ctx, r, c).unwrap();
    plan.run(ctx, &input, &out).unwrap();
    out.read(ctx).unwrap()
}

fn spectrum(x: &[f32], r: usize, c: usize) -> Vec<f64> {
    let m = r.min(c);
    let mut gram = vec![0.0; singular_values_scratch_len(r, c)];
    let mut s = vec![0.0; m];
    singular_values(MatRef::new(r, c, x).unwrap(), &mut gram, &mut s).unwrap();
    s
}

#[test]
fn self_check_passes_on_this_adapter_and_names_its_engine() {
    let Some(ctx) = context() else { return };
    let status = ctx.check_fast_path().unwrap();
    let want = if ctx.tensor_cores() {
        FastEngine::TensorCores
    } else {
        FastEngine::Emulated
    };
    assert_eq!(status, FastPathStatus::Ready(want), "{status}");
    assert_eq!(ctx.fast_path_status(), status);
    eprintln!("{}: {status}", ctx.adapter_info().name);
}

#[test]
fn f16_newton_schulz_is_close_to_f32_and_keeps_the_spectrum_band() {
    let Some(ctx) = context() else { return };
    for (i, &(r, c)) in SHAPES.iter().enumerate() {
        let x = data(r * c, 300 + i as u64);
        let want = core_ns(&x, r, c, &NsConfig::default());
        let f32_out = run_ns(ctx, &x, r, c, Precision::F32);
        let f16_out = run_ns(ctx, &x, r, c, Precision::F16);
        let e32 = rel_err(&f32_out, &want);
        let e16 = rel_err(&f16_out, &want);
        let (s32, s16) = (spectrum(&f32_out, r, c), spectrum(&f16_out, r, c));
        let band = |s: &[f64]| (s[s.len() - 1], s[0]);
        eprintln!(
            "{r}x{c}: f32 rel err {e32:.2e}, f16 {e16:.2e}; σ band f32 {:.3?}, f16 {:.3?}",
            band(&s32),
            band(&s16)
        );
        assert!(e32 < 1e-4, "{r}x{c}: f32 rel err {e32}");
        assert!(e16 < F16_NS_TOL, "{r}x{c}: f16 rel err {e16}");
        // f16 rounding moves no singular value far from where f32 puts it.
        for (a, b) in s32.iter().zip(&s16) {
            assert!((a - b).abs() < 0.05, "{r}x{c}: σ {a} (f32) vs {b} (f16)");
        }
        // And it is not the f32 path by accident: the operands were rounded.
        assert_ne!(f16_out, f32_out, "{r}x{c}: f16 plan gave the f32 result");
    }
}

#[test]
fn f16_newton_schulz_with_split_products_matches_the_core() {
    let Some(ctx) = context() else { return };
    // On the emulated engine all three products of 600 × 700 (and of its transpose) split
    // their inner dimension into chunks (the Gram product and A·A on their upper blocks only),
    // and the Gram product of 3 × 20,003 is long; on tensor cores they run tiled.
    for (i, &(r, c)) in [(600, 700), (700, 600), (3, 20_003)].iter().enumerate() {
        let x = data(r * c, 400 + i as u64);
        let want = core_ns(&x, r, c, &NsConfig::default());
        let f16_out = run_ns(ctx, &x, r, c, Precision::F16);
        let e16 = rel_err(&f16_out, &want);
        eprintln!("{r}x{c}: f16 rel err {e16:.2e}");
        assert!(e16 < F16_NS_TOL, "{r}x{c}: f16 rel err {e16}");
        assert_ne!(
            f16_out,
            run_ns(ctx, &x, r, c, Precision::F32),
            "{r}x{c}: f16 plan gave the f32 result"
        );
    }
}

#[test]
fn a_failed_self_check_falls_back_to_f32_once_and_says_so() {
    // A context of its own: the fault must reach the first self-check it runs.
    if context().is_none() {
        return;
    }
    let ctx = GpuContext::new().unwrap();
    ctx.inject_fast_path_fault();
    assert_eq!(ctx.fast_path_status(), FastPathStatus::Unchecked);
    let (r, c) = (70, 90);
    let x = data(r * c, 9);
    let plan =
        GpuNewtonSchulz::with_precision(&ctx, r, c, &NsConfig::default(), Precision::F16).unwrap();
    assert_eq!(plan.precision(), Precision::F32);
    assert_eq!(plan.engine(), None);
    let status = ctx.fast_path_status();
    let FastPathStatus::FellBack { reason, .. } = &status else {
        panic!("expected a fallback, got {status}");
    };
    assert!(reason.contains("CPU core"), "{reason}");
    // The fallback plan is the f32 plan, bit for bit.
    let input = GpuMatrix::from_slice(&ctx, r, c, &x).unwrap();
    let out = GpuMatrix::zeros(&ctx, r, c).unwrap();
    plan.run(&ctx, &input, &out).unwrap();
    assert_eq!(
        out.read(&ctx).unwrap(),
        run_ns(&ctx, &x, r, c, Precision::F32)
    );
    // The verdict is kept: no second check, the same status for every later request.
    assert_eq!(ctx.check_fast_path().unwrap(), status);
    let mut muon = GpuMuon::from_config(&ctx, MuonConfig::new()).unwrap();
    muon.set_precision(Precision::F16).unwrap();
    assert_eq!(muon.precision(), Precision::F32);
}

#[test]
fn set_precision_rebuilds_registered_params_and_keeps_their_momentum() {
    let Some(ctx) = context() else { return };
    let (r, c) = (48, 80);
    let w0 = data(r * c, 21);
    let g = data(r * c, 22);
    let run = |precision: Option<Precision>| {
        let p = GpuMatrix::from_slice(ctx, r, c, &w0).unwrap();
        let grad = GpuMatrix::from_slice(ctx, r, c, &g).unwrap();
        let mut muon = GpuMuon::from_config(ctx, MuonConfig::new().with_lr(0.02)).unwrap();
        muon.add_param(&p, &grad).unwrap();
        muon.step();
        if let Some(precision) = precision {
            muon.set_precision(precision).unwrap();
            assert_eq!(muon.precision(), precision);
        }
        muon.step();
        (p.read(ctx).unwrap(), muon.momentum(0).unwrap())
    };
    let (w32, m32) = run(None);
    let (w16, m16) = run(Some(Precision::F16));
    // Momentum does not go through Newton–Schulz: identical. Weights: close, not equal.
    assert_eq!(m16, m32);
    let e = rel_err(&w16, &w32);
    assert!(
        e > 0.0 && e < 1e-3,
        "weights after an f16 step: rel err {e}"
    );
    // Back to f32 reproduces the f32 run exactly.
    let (w_back, _) = run(Some(Precision::F32));
    assert_eq!(w_back, w32);
}

/// Coefficients the core accepts (finite) but whose iterates could outgrow the device's
/// numbers: the core reports such an iteration per call and leaves its state untouched, a
/// queued device step cannot be undone, so the device refuses them up front, per precision,
/// and registers nothing.
#[test]
fn coefficients_that_could_outgrow_the_device_numbers_are_refused() {
    use muon_core::MuonError;
    use muon_core::newton_schulz::NsCoefficients;
    use muon_gpu::GpuError;
    let Some(ctx) = context() else { return };
    let ns_with = |a: f32| NsConfig {
        coefficients: NsCoefficients::Fixed(a, 0.0, 0.0),
        ..NsConfig::default()
    };
    // a = 1e7, 5 steps: the iterate grows to 1e28 and A² beyond f32: refused in f32.
    // a = 10: bound 1e16 (A² at the last step), fine in f32 but not for f16 operands.
    let (diverging, large) = (ns_with(1e7), ns_with(10.0));
    assert!(diverging.magnitude_bound() > 1e30);
    assert!((1e4..1e30).contains(&large.magnitude_bound()));
    fn refused<T>(r: Result<T, GpuError>) -> bool {
        matches!(
            r,
            Err(GpuError::Core(MuonError::InvalidHyperParameter {
                name: "ns_coefficients",
                ..
            }))
        )
    }
    assert!(refused(GpuNewtonSchulz::with_precision(
        ctx,
        8,
        8,
        &diverging,
        Precision::F32
    )));
    assert!(refused(GpuNewtonSchulz::with_precision(
        ctx,
        8,
        8,
        &large,
        Precision::F16
    )));
    GpuNewtonSchulz::with_precision(ctx, 8, 8, &large, Precision::F32).unwrap();

    // Through the optimizer: `add_param` refuses and registers nothing; `set_precision`
    // refuses f16 for coefficients only f32 holds, and keeps f32.
    let p = GpuMatrix::zeros(ctx, 8, 8).unwrap();
    let g = GpuMatrix::zeros(ctx, 8, 8).unwrap();
    let mut muon = GpuMuon::from_config(ctx, MuonConfig::new().with_ns(diverging)).unwrap();
    assert!(refused(muon.add_param(&p, &g)));
    assert!(muon.is_empty());
    let mut muon = GpuMuon::from_config(ctx, MuonConfig::new().with_ns(large)).unwrap();
    muon.add_param(&p, &g).unwrap();
    assert!(refused(muon.set_precision(Precision::F16)));
    assert_eq!(muon.precision(), Precision::F32);
}
