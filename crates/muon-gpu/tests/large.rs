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
//! `MUON_LARGE_SIZES=4096x4096,8192x4096,4096x8192` picks the shapes (rows×cols) and
//! `MUON_LARGE_MUON_STEPS` (default 2) the length of the Muon trajectory. Each test prints its
//! relative errors and wall times so a run can be quoted.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::Instant;

use common::trajectory::{adam_trajectory, muon_trajectory};
use common::{context, core_ns, data, gpu_ns, rel_err};
use muon_core::adam::AdamConfig;
use muon_core::muon::MuonConfig;
use muon_core::newton_schulz::NsConfig;

/// Newton–Schulz tolerance at these sizes: each product sums 4096–8192 terms in a different
/// order on each side, so rounding differences grow ~√k over the small-size bound of 1e-4
/// in kernels.rs; 3e-4 relative (Frobenius) leaves a margin over that.
const LARGE_NS_TOL: f64 = 3e-4;

/// The shapes to run: `MUON_LARGE_SIZES` (`RxC,RxC,…`) or 4096×4096 and 8192×4096.
fn sizes() -> Vec<(usize, usize)> {
    let spec = std::env::var("MUON_LARGE_SIZES").unwrap_or_else(|_| "4096x4096,8192x4096".into());
    spec.split(',')
        .map(|s| {
            let (r, c) = s
                .trim()
                .split_once('x')
                .unwrap_or_else(|| panic!("MUON_LARGE_SIZES: {s:?} is not RxC"));
            let parse = |v: &str| -> usize {
                v.parse()
                    .unwrap_or_else(|_| panic!("MUON_LARGE_SIZES: {v:?} is not a number"))
            };
            (parse(r), parse(c))
        })
        .collect()
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
    for (r, c) in sizes() {
        let x = data(r * c, 42);
        let cfg = NsConfig::default();
        let t = Instant::now();
        let want = core_ns(&x, r, c, &cfg);
        let cpu_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let got = gpu_ns(&x, r, c, &cfg);
        let gpu_s = t.elapsed().as_secs_f64();
        let e = rel_err(&got, &want);
        eprintln!(
            "NS {r}x{c} on {name}: rel err {e:.2e}; core {cpu_s:.1} s, gpu incl. upload+readback {gpu_s:.2} s"
        );
        assert!(e < LARGE_NS_TOL, "{r}x{c}: rel err {e}");
    }
}

#[test]
#[ignore = "minutes per size; run with --ignored (see the file's header)"]
fn muon_trajectory_matches_core_at_large_sizes() {
    let steps = muon_steps();
    for shape in sizes() {
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
