//! Parity with PyTorch: every Newton–Schulz output, Adam/AdamW step and Muon step recorded in
//! `tests/data/torch_vectors.json` (PyTorch 2.9, float64; `tests/data/README.md` says how it was
//! recorded and how to record it again), or in the file named by the environment variable
//! `MUON_TORCH_VECTORS`.
//!
//! # Tolerance
//! The references are float64; this crate computes in float32 (unit roundoff u ≈ 6e-8).
//! We compare by relative Frobenius error `‖ours − ref‖ / ‖ref‖`, checked after every step.
//! Observed maxima (this file, `--nocapture`) are in brackets; bounds leave ~3–10× margin.
//! - Newton–Schulz, full rank: products over ≤ 64 terms per entry, five quintic steps:
//!   bound 5e-6 [9e-7]. Rank-deficient input: the exactly-zero singular values come out of
//!   f32 rounding at ~u·‖X‖ and the quintic's slope near 0 (a = 3.44 per step, ≈ 480× over
//!   five) amplifies them: bound 1e-4 [1.4e-5].
//! - Adam/AdamW: element-wise, a few roundings per step: parameters within 2e-6 [2.3e-7]
//!   (≈ a few ulps per step over 12 steps), and the *change* since the start within 5e-4
//!   [6.4e-5], which is dominated by rounding the O(1) parameters while they move by ~1e-3;
//!   it still catches any error of ≥ 0.05% in the update (wrong bias correction, eps
//!   placement, decay kind).
//! - Muon: the change since the start (8 steps, Newton–Schulz each) within 5e-5 [7.4e-6].

use muon_core::adam::{AdamConfig, AdamSlots};
use muon_core::muon::{AdjustLr, Muon, MuonConfig, MuonSlots};
use muon_core::newton_schulz::{NsConfig, newton_schulz, ns_scratch_len};
use muon_core::{MatMut, MatRef};
use serde_json::Value;

const NS_TOL: f64 = 5e-6;
const NS_RANK_DEFICIENT_TOL: f64 = 1e-4;
const ADAM_TOL: f64 = 2e-6;
const ADAM_CHANGE_TOL: f64 = 5e-4;
const MUON_TOL: f64 = 5e-5;

fn vectors() -> Value {
    let path = std::env::var("MUON_TORCH_VECTORS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/torch_vectors.json").to_string()
    });
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read reference vectors {path}: {e}"));
    serde_json::from_str(&text).expect("reference vectors are valid JSON")
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn shape(case: &Value) -> (usize, usize) {
    let s = case["shape"].as_array().expect("shape");
    match s.as_slice() {
        [r, c] => (
            r.as_u64().expect("rows") as usize,
            c.as_u64().expect("cols") as usize,
        ),
        [n] => (1, n.as_u64().expect("len") as usize),
        _ => panic!("unsupported shape {s:?}"),
    }
}

/// `‖a − b‖ / max(‖b‖, tiny)` in f64.
fn rel_err(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - y).powi(2))
        .sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    num.sqrt() / den.sqrt().max(1e-300)
}

/// Relative error of the change since `init`.
fn rel_change_err(ours: &[f32], reference: &[f64], init: &[f64]) -> f64 {
    let d_ours: Vec<f32> = ours
        .iter()
        .zip(init)
        .map(|(o, i)| (f64::from(*o) - i) as f32)
        .collect();
    let d_ref: Vec<f64> = reference.iter().zip(init).map(|(r, i)| r - i).collect();
    rel_err(&d_ours, &d_ref)
}

fn hyper_f32(case: &Value, name: &str) -> Option<f32> {
    case["hyper"]
        .get(name)
        .and_then(Value::as_f64)
        .map(|x| x as f32)
}

#[test]
fn newton_schulz_matches_torch() {
    let v = vectors();
    let cases = v["newton_schulz"].as_array().expect("newton_schulz cases");
    assert!(!cases.is_empty());
    for case in cases {
        let rows = case["rows"].as_u64().expect("rows") as usize;
        let cols = case["cols"].as_u64().expect("cols") as usize;
        let input = f32s(&case["input"]);
        let expected = f64s(&case["output"]);
        let mut out = vec![f32::NAN; rows * cols];
        let mut scratch = vec![0.0; ns_scratch_len(rows, cols)];
        // The recorded NS normalises with ‖X‖ + 1e-7: Keller Jordan's form.
        newton_schulz(
            MatRef::new(rows, cols, &input).expect("input"),
            MatMut::new(rows, cols, &mut out).expect("out"),
            &mut scratch,
            &NsConfig::keller_jordan(),
        )
        .expect("newton_schulz");
        if expected.iter().all(|x| *x == 0.0) {
            assert!(out.iter().all(|x| *x == 0.0), "zero in, zero out: {out:?}");
            continue;
        }
        let err = rel_err(&out, &expected);
        let rank_deficient = case
            .get("note")
            .and_then(Value::as_str)
            .is_some_and(|n| n.starts_with("rank"));
        let tol = if rank_deficient {
            NS_RANK_DEFICIENT_TOL
        } else {
            NS_TOL
        };
        assert!(
            err < tol,
            "NS {rows}×{cols} {:?}: rel err {err:e}",
            case.get("note")
        );
    }
}

#[test]
fn adam_and_adamw_trajectories_match_torch() {
    let v = vectors();
    let cases = v["adam"].as_array().expect("adam cases");
    assert!(!cases.is_empty());
    for case in cases {
        let name = case["optimizer"].as_str().expect("optimizer");
        let mut cfg = match name {
            "torch.optim.Adam" => AdamConfig::adam(),
            "torch.optim.AdamW" => AdamConfig::adamw(),
            other => panic!("unknown optimizer {other}"),
        };
        if let Some(lr) = hyper_f32(case, "lr") {
            cfg = cfg.with_lr(lr);
        }
        if let Some(betas) = case["hyper"].get("betas") {
            let b = f32s(betas);
            cfg = cfg.with_betas(b[0], b[1]);
        }
        if let Some(eps) = hyper_f32(case, "eps") {
            cfg = cfg.with_eps(eps);
        }
        if let Some(wd) = hyper_f32(case, "weight_decay") {
            cfg = cfg.with_weight_decay(wd);
        }
        let adam = cfg.build().expect("valid config");
        let init64 = f64s(&case["init"]);
        let mut w = f32s(&case["init"]);
        let (mut m, mut vv, mut t) = (vec![0.0f32; w.len()], vec![0.0f32; w.len()], 0u32);
        let grads = case["grads"].as_array().expect("grads");
        let after = case["params_after_each_step"].as_array().expect("params");
        for (step, (g, reference)) in grads.iter().zip(after).enumerate() {
            let g = f32s(g);
            adam.step(
                MatMut::vector(&mut w).expect("param"),
                MatRef::vector(&g).expect("grad"),
                AdamSlots {
                    step: &mut t,
                    m: &mut m,
                    v: &mut vv,
                },
            )
            .expect("step");
            let reference = f64s(reference);
            let err = rel_err(&w, &reference);
            let change_err = rel_change_err(&w, &reference, &init64);
            assert!(
                err < ADAM_TOL,
                "{name} {:?} step {step}: rel err {err:e}",
                case["hyper"]
            );
            assert!(
                change_err < ADAM_CHANGE_TOL,
                "{name} {:?} step {step}: change rel err {change_err:e}",
                case["hyper"]
            );
        }
    }
}

#[test]
fn muon_trajectories_match_torch() {
    let v = vectors();
    let cases = v["muon"].as_array().expect("muon cases");
    assert!(!cases.is_empty());
    for case in cases {
        let (rows, cols) = shape(case);
        let mut cfg = MuonConfig::new();
        if let Some(lr) = hyper_f32(case, "lr") {
            cfg = cfg.with_lr(lr);
        }
        if let Some(wd) = hyper_f32(case, "weight_decay") {
            cfg = cfg.with_weight_decay(wd);
        }
        if let Some(mu) = hyper_f32(case, "momentum") {
            cfg = cfg.with_momentum(mu);
        }
        if let Some(n) = case["hyper"].get("nesterov").and_then(Value::as_bool) {
            cfg = cfg.with_nesterov(n);
        }
        match case["hyper"].get("adjust_lr_fn").and_then(Value::as_str) {
            None | Some("original") => {}
            Some("match_rms_adamw") => cfg = cfg.with_adjust_lr(AdjustLr::MatchRmsAdamW),
            Some(other) => panic!("unknown adjust_lr_fn {other}"),
        }
        let muon = cfg.build().expect("valid config");
        let init64 = f64s(&case["init"]);
        let mut w = f32s(&case["init"]);
        let mut momentum = vec![0.0f32; w.len()];
        let mut scratch = vec![0.0f32; Muon::scratch_len(rows, cols)];
        let grads = case["grads"].as_array().expect("grads");
        let after = case["params_after_each_step"].as_array().expect("params");
        assert_eq!(grads.len(), after.len());
        for (step, (g, reference)) in grads.iter().zip(after).enumerate() {
            let g = f32s(g);
            muon.step(
                MatMut::new(rows, cols, &mut w).expect("param"),
                MatRef::new(rows, cols, &g).expect("grad"),
                MuonSlots {
                    momentum: &mut momentum,
                    scratch: &mut scratch,
                },
            )
            .expect("step");
            let err = rel_change_err(&w, &f64s(reference), &init64);
            assert!(
                err < MUON_TOL,
                "Muon {rows}×{cols} {:?} step {step}: rel err {err:e}",
                case["hyper"]
            );
        }
    }
}
