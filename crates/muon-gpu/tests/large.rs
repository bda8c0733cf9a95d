//! Parity with `muon-core` at training sizes: 4096×4096 and 8192×4096 by default.
//!
//! `#[ignore]`d in the default test run: the CPU reference alone needs minutes per
//! Newton–Schulz at these sizes on a 2-core machine, and a software adapter as long again.
//! Run them on a real GPU (or on lavapipe, patiently) with
//!
//! ```text
//! cargo test --release -p muon-gpu --test large -- --ignored --nocapture --test-threads 1
//! ```
//!
//! `MUON_LARGE_SIZES=4096x4096,8192x4096,4096x8192` picks the shapes (rows×cols),
//! `MUON_LARGE_MUON_STEPS` (default 2) the length of the Muon trajectory and
//! `MUON_LARGE_MUON_SIZES` (default: the same shapes) its shapes. Each test prints its
//! relative errors and wall times so a run can be quoted. With `MUON_DUMP_DIR` set, the
//! Newton–Schulz test writes its input and the core's, the `f32` and the `f16` outputs there
//! as raw little-endian `f32` (`ns_{rows}x{cols}_{input,core,f32,f16}.f32`) for
//! `benches/ns_accuracy.py` to take singular values of.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::Instant;

use common::trajectory::{adam_trajectory, muon_trajectory};
use common::{context, core_ns, data, gpu_ns_in, rel_err};
use muon_core::adam::AdamConfig;
use muon_core::muon::MuonConfig;
use muon_core::newton_schulz::NsConfig;
use muon_gpu::Precision;

/// Newton–Schulz tolerance at these sizes: each product sums 4096–8192 terms in a different
/// order on each side, so rounding differences grow ~√k over the small-size bound of 1e-4
/// in kernels.rs; 3e-4 relative (Frobenius) leaves a margin over that.
const LARGE_NS_TOL: f64 = 3e-4;

/// The same bound for `f16` operands (tensor cores): 2.1e-3–2.4e-3 was measured at small
/// sizes on the emulated engine (tests/precision.rs); rounding grows slowly with k, so 2e-2.
const LARGE_NS_F16_TOL: f64 = 2e-2;

/// Shapes from environment variable `var` (`RxC,RxC,…`), or `default`.
fn shapes_from(var: &str, default: &str) -> Vec<(usize, usize)> {
    let spec = std::env::var(var).unwrap_or_else(|_| default.into());
    spec.split(',')
        .map(|s| {
            let (r, c) = s
                .trim()
                .split_once('x')
                .unwrap_or_else(|| panic!("{var}: {s:?} is not RxC"));
            let parse = |v: &str| -> usize {
                v.parse()
                    .unwrap_or_else(|_| panic!("{var}: {v:?} is not a number"))
            };
            (parse(r), parse(c))
        })
        .collect()
}

/// The shapes to run: `MUON_LARGE_SIZES` (`RxC,RxC,…`) or 4096×4096 and 8192×4096.
fn sizes() -> Vec<(usize, usize)> {
    shapes_from("MUON_LARGE_SIZES", "4096x4096,8192x4096")
}

fn muon_steps() -> usize {
    std::env::var("MUON_LARGE_MUON_STEPS").map_or(2, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("MUON_LARGE_MUON_STEPS: {v:?} is not a number"))
    })
}

#[test]
#[ignore = "minutes per size; run with --ignored (see the file's header)"]
fn newton_schulz_matches_core_at_large_sizes() {
    let Some(ctx) = context() else { return };
    let name = &ctx.adapter_info().name;
    let dump = std::env::var_os("MUON_DUMP_DIR").map(std::path::PathBuf::from);
    for (r, c) in sizes() {
        let x = data(r * c, 42);
        let cfg = NsConfig::default();
        let t = Instant::now();
        let want = core_ns(&x, r, c, &cfg);
        let cpu_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let (got, _) = gpu_ns_in(&x, r, c, &cfg, Precision::F32);
        let gpu_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let (got16, ran_in) = gpu_ns_in(&x, r, c, &cfg, Precision::F16);
        let gpu16_s = t.elapsed().as_secs_f64();
        let e = rel_err(&got, &want);
        let e16 = rel_err(&got16, &want);
        let d16 = rel_err(&got16, &got);
        eprintln!(
            "NS {r}x{c} on {name}: f32 rel err {e:.2e}; f16 ({ran_in:?}, {}) rel err {e16:.2e}, \
             from the f32 result {d16:.2e}; core {cpu_s:.1} s, gpu incl. upload+readback \
             f32 {gpu_s:.2} s, f16 {gpu16_s:.2} s",
            ctx.fast_path_status()
        );
        if let Some(dir) = &dump {
            for (tag, v) in [
                ("input", &x),
                ("core", &want),
                ("f32", &got),
                ("f16", &got16),
            ] {
                let path = dir.join(format!("ns_{r}x{c}_{tag}.f32"));
                std::fs::write(&path, bytemuck::cast_slice::<f32, u8>(v)).unwrap();
            }
        }
        assert!(e < LARGE_NS_TOL, "{r}x{c}: rel err {e}");
        assert!(e16 < LARGE_NS_F16_TOL, "{r}x{c}: f16 rel err {e16}");
    }
}

#[test]
#[ignore = "minutes per size; run with --ignored (see the file's header)"]
fn muon_trajectory_matches_core_at_large_sizes() {
    let steps = muon_steps();
    let default =
        std::env::var("MUON_LARGE_SIZES").unwrap_or_else(|_| "4096x4096,8192x4096".into());
    for shape in shapes_from("MUON_LARGE_MUON_SIZES", &default) {
        let t = Instant::now();
        let errs = muon_trajectory(MuonConfig::new().with_lr(0.02), &[shape], steps);
        eprintln!(
            "Muon {}x{} × {steps} steps: weight rel err {errs:?} ({:.1} s both sides)",
            shape.0,
            shape.1,
            t.elapsed().as_secs_f64()
        );
    }
}

#[test]
#[ignore = "minutes per size; run with --ignored (see the file's header)"]
fn adamw_trajectory_matches_core_at_large_sizes() {
    let shapes = sizes();
    let t = Instant::now();
    let errs = adam_trajectory(AdamConfig::adamw().with_lr(1e-2), &shapes, 20);
    eprintln!(
        "AdamW {shapes:?} × 20 steps: weight rel err {errs:?} ({:.1} s both sides)",
        t.elapsed().as_secs_f64()
    );
}
