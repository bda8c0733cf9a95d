//! `GpuMuon`, `GpuAdam` and `GpuOptimizer` against `muon-core`, step by step.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::trajectory::{
    ADAM_TRAJ_TOL, CpuAdam, CpuMuon, MUON_TRAJ_TOL, adam_trajectory, adam_trajectory_stored,
    moment_tol, muon_trajectory,
};
use common::{context, data, max_abs_err, rel_err};
use half::{bf16, f16};
use muon_core::MuonError;
use muon_core::adam::{AdamConfig, MomentStorage};
use muon_core::muon::{AdjustLr, MuonConfig};
use muon_core::newton_schulz::NsConfig;
use muon_gpu::{
    GpuAdam, GpuContext, GpuError, GpuMatrix, GpuMuon, GpuOptimizer, MomentFormat, ParamRole,
    ParamState, Precision, SkippedSteps,
};

const SMALL_SHAPES: [(usize, usize); 8] = [
    (1, 1),
    (1, 16),
    (16, 1),
    (8, 8),
    (33, 17),
    (17, 65),
    (64, 64),
    (100, 130),
];

#[test]
fn muon_20_steps_match_core_torch_defaults() {
    muon_trajectory(MuonConfig::new().with_lr(0.02), &SMALL_SHAPES, 20);
}

#[test]
fn muon_20_steps_match_core_other_settings() {
    let cfg = MuonConfig::new()
        .with_lr(0.01)
        .with_weight_decay(0.05)
        .with_momentum(0.9)
        .with_nesterov(false)
        .with_adjust_lr(AdjustLr::MatchRmsAdamW)
        .with_ns(NsConfig::keller_jordan());
    muon_trajectory(cfg, &[(3, 5), (70, 33), (33, 70)], 20);
    let pe = MuonConfig::new().with_ns(NsConfig::polar_express(5).unwrap());
    muon_trajectory(pe, &[(20, 45), (45, 20)], 20);
}

#[test]
fn a_buffer_registered_twice_is_refused() {
    let Some(ctx) = context() else { return };
    let m = |r, c| GpuMatrix::zeros(ctx, r, c).unwrap();
    let (w, gw, w2, gw2) = (m(4, 6), m(4, 6), m(4, 6), m(4, 6));
    let refused = |r: Result<usize, GpuError>, what: &str, index: usize| match r {
        Err(GpuError::AlreadyRegistered { what: w, index: i }) => {
            assert_eq!((w, i), (what, index));
        }
        other => panic!("expected AlreadyRegistered({what}, {index}), got {other:?}"),
    };
    let mut muon = GpuMuon::from_config(ctx, MuonConfig::new()).unwrap();
    assert_eq!(muon.add_param(&w, &gw).unwrap(), 0);
    refused(muon.add_param(&w, &gw2), "param", 0);
    refused(muon.add_param(&w2, &gw), "grad", 0);
    refused(muon.add_param(&gw, &w2), "param", 0);
    assert_eq!(muon.len(), 1, "nothing registered by a refusal");
    let mut adam = GpuAdam::from_config(ctx, AdamConfig::adamw()).unwrap();
    assert_eq!(adam.add_param(&w, &gw).unwrap(), 0);
    refused(adam.add_param(&w, &gw2), "param", 0);
    // Across the groups of one optimizer, by the optimizer's own index.
    let (b, gb) = (m(1, 6), m(1, 6));
    let mut opt = GpuOptimizer::new(
        ctx,
        MuonConfig::new().build().unwrap(),
        AdamConfig::adamw().build().unwrap(),
    );
    opt.add(&w, &gw, ParamRole::Auto).unwrap();
    opt.add(&b, &gb, ParamRole::Auto).unwrap();
    refused(opt.add(&b, &gw2, ParamRole::Muon), "param", 1);
    refused(opt.add(&w2, &gw, ParamRole::AdamW), "grad", 0);
    gb.write(ctx, &[1.0; 6]).unwrap();
    opt.step();
    assert_eq!(
        opt.adamw().status().unwrap()[0].steps,
        1,
        "one step, not two"
    );
}

#[test]
fn every_non_finite_report_is_read_before_it_is_cleared() {
    let Some(ctx) = context() else { return };
    let mut adam = GpuAdam::from_config(ctx, AdamConfig::adamw()).unwrap();
    let mut grads = Vec::new();
    for i in 0..3 {
        let p = GpuMatrix::zeros(ctx, 1, 4).unwrap();
        let g = GpuMatrix::zeros(ctx, 1, 4).unwrap();
        adam.add_param(&p, &g).unwrap();
        grads.push((p, g, i));
    }
    // Parameters 0 and 2 get a NaN gradient; 1 a finite one.
    for (_, g, i) in &grads {
        let v = if *i == 1 { 1.0 } else { f32::NAN };
        g.write(ctx, &[0.5, v, 0.5, 0.5]).unwrap();
    }
    adam.step();
    let report = |param| SkippedSteps {
        param,
        index: 1,
        skipped_steps: 1,
    };
    // Both reports in one list, both cleared; nothing else.
    assert_eq!(
        adam.check(),
        Err(GpuError::NonFiniteGradients(vec![report(0), report(2)]))
    );
    assert_eq!(adam.check(), Ok(()));
}

#[test]
fn matrices_of_another_context_are_refused() {
    let Some(ctx) = context() else { return };
    let other = GpuContext::new().unwrap(); // same adapter, another device
    let foreign = GpuMatrix::zeros(&other, 3, 4).unwrap();
    let local = GpuMatrix::zeros(ctx, 3, 4).unwrap();
    let refused = |r: Result<(), GpuError>, what: &str| match r {
        Err(GpuError::ForeignContext { what: w }) => assert_eq!(w, what),
        other => panic!("expected ForeignContext({what}), got {other:?}"),
    };
    refused(foreign.write(ctx, &[0.0; 12]), "matrix");
    refused(foreign.read(ctx).map(|_| ()), "matrix");
    let mut muon = GpuMuon::from_config(ctx, MuonConfig::new()).unwrap();
    refused(muon.add_param(&foreign, &local).map(|_| ()), "param");
    refused(muon.add_param(&local, &foreign).map(|_| ()), "grad");
    let mut adam = GpuAdam::from_config(ctx, AdamConfig::adamw()).unwrap();
    refused(adam.add_param(&local, &foreign).map(|_| ()), "grad");
    refused(
        muon_gpu::ops::matmul(ctx, &local, false, &foreign, true, &local),
        "b",
    );
    refused(
        muon_gpu::ops::frobenius_norm(ctx, &foreign).map(|_| ()),
        "x",
    );
    // Its own context still works with it.
    foreign.write(&other, &[1.0; 12]).unwrap();
    assert_eq!(foreign.read(&other).unwrap(), vec![1.0; 12]);
}

#[test]
fn adam_step_count_saturates_like_the_core() {
    let Some(ctx) = context() else { return };
    let adam = AdamConfig::adamw().with_lr(1e-2).build().unwrap();
    let (r, c) = (5, 7);
    // A checkpoint holding the core's saturated count (u32::MAX steps) and some moments.
    let mut cpu = CpuAdam::<f32>::new(data(r * c, 61));
    cpu.step(&adam, &data(r * c, 62)).unwrap();
    cpu.t = u32::MAX;
    let p = GpuMatrix::from_slice(ctx, r, c, &cpu.w).unwrap();
    let g = GpuMatrix::zeros(ctx, r, c).unwrap();
    let mut gpu = GpuAdam::from_config(ctx, AdamConfig::adamw().with_lr(1e-2)).unwrap();
    gpu.add_param(&p, &g).unwrap();
    let (m, v) = cpu.moments();
    gpu.set_moments(0, cpu.t, &m, &v).unwrap();
    for step in 0..3 {
        let gd = data(r * c, 70 + step);
        cpu.step(&adam, &gd).unwrap();
        g.write(ctx, &gd).unwrap();
        gpu.step();
    }
    assert_eq!(cpu.t, u32::MAX);
    assert_eq!(
        gpu.status().unwrap()[0].steps,
        u32::MAX,
        "the device count saturates too"
    );
    let e = rel_err(&p.read(ctx).unwrap(), &cpu.w);
    assert!(
        e < ADAM_TRAJ_TOL,
        "weights after steps at t = u32::MAX: rel err {e}"
    );
    assert!(p.read(ctx).unwrap().iter().all(|w| w.is_finite()));
}

#[test]
fn same_shape_params_share_their_newton_schulz_scratch() {
    // Interleaved shapes, each twice: every parameter still follows its own core trajectory
    // (the shared buffers are rewritten by each parameter in turn within one step).
    muon_trajectory(
        MuonConfig::new().with_lr(0.02),
        &[(33, 47), (20, 10), (33, 47), (20, 10), (47, 33)],
        5,
    );
    let Some(ctx) = context() else { return };
    let mut muon = GpuMuon::from_config(ctx, MuonConfig::new()).unwrap();
    let param = |r, c| {
        (
            GpuMatrix::zeros(ctx, r, c).unwrap(),
            GpuMatrix::zeros(ctx, r, c).unwrap(),
        )
    };
    let (p0, g0) = param(64, 96);
    muon.add_param(&p0, &g0).unwrap();
    let one = muon.scratch_bytes();
    // 2·64·96 + 2·64² floats, plus the norm's partial sums and result.
    assert!(one >= (2 * 64 * 96 + 2 * 64 * 64) * 4, "{one}");
    let (p1, g1) = param(64, 96);
    muon.add_param(&p1, &g1).unwrap();
    assert_eq!(
        muon.scratch_bytes(),
        one,
        "a second 64×96 parameter allocates nothing"
    );
    let (p2, g2) = param(96, 64);
    muon.add_param(&p2, &g2).unwrap();
    assert!(
        muon.scratch_bytes() > one,
        "another shape gets its own scratch"
    );
    let three = muon.scratch_bytes();
    muon.set_precision(Precision::F16).unwrap();
    assert_eq!(
        muon.scratch_bytes(),
        three,
        "a precision change reuses the scratch"
    );
}

#[test]
fn muon_one_step_matches_core_1031_by_513() {
    muon_trajectory(MuonConfig::new().with_lr(0.02), &[(1031, 513)], 1);
}

#[test]
fn muon_zero_gradient_only_decays() {
    let Some(ctx) = context() else { return };
    let muon = MuonConfig::new()
        .with_lr(0.1)
        .with_weight_decay(0.5)
        .build()
        .unwrap();
    let mut gpu = GpuMuon::new(ctx, muon);
    let (r, c) = (6, 10);
    let w0 = data(r * c, 5);
    let p = GpuMatrix::from_slice(ctx, r, c, &w0).unwrap();
    let g = GpuMatrix::zeros(ctx, r, c).unwrap();
    gpu.add_param(&p, &g).unwrap();
    let mut cpu = CpuMuon::new(w0.clone(), r, c);
    for _ in 0..3 {
        gpu.step();
        cpu.step(&muon, &vec![0.0; r * c]).unwrap();
    }
    let got = p.read(ctx).unwrap();
    assert!(got.iter().all(|v| v.is_finite()));
    assert!(max_abs_err(&got, &cpu.w) <= 1e-7, "{got:?} vs {:?}", cpu.w);
    assert!(gpu.momentum(0).unwrap().iter().all(|v| *v == 0.0));
}

#[test]
fn adamw_20_steps_match_core() {
    adam_trajectory(
        AdamConfig::adamw().with_lr(1e-2),
        &[(1, 1), (1, 1000), (1000, 1), (37, 300)],
        20,
    );
}

#[test]
fn adam_coupled_l2_20_steps_match_core() {
    adam_trajectory(
        AdamConfig::adam()
            .with_lr(3e-3)
            .with_betas(0.8, 0.95)
            .with_weight_decay(0.1),
        &[(3, 3), (129, 65)],
        20,
    );
}

#[test]
fn adam_above_65535_workgroups() {
    // 4097² elements need 65,569 workgroups of 256 threads: the folded 2-D grid.
    adam_trajectory(AdamConfig::adamw(), &[(4097, 4097)], 1);
}

#[test]
fn adam_16_bit_moments_match_core_storage() {
    // Odd lengths leave the last word's high half unused.
    let shapes = [(1, 1), (1, 999), (37, 300), (129, 65)];
    let adamw = AdamConfig::adamw().with_lr(1e-2);
    adam_trajectory_stored::<f16>(adamw, &shapes, 20, MomentFormat::F16);
    adam_trajectory_stored::<bf16>(adamw, &shapes, 20, MomentFormat::Bf16);
    let adam = AdamConfig::adam().with_lr(3e-3).with_weight_decay(0.1);
    adam_trajectory_stored::<bf16>(adam, &[(3, 3), (33, 17)], 20, MomentFormat::Bf16);
    // 16-bit moments in 2-D-folded grids: 2 × 65,535 × 256 + 1 elements.
    adam_trajectory_stored::<f16>(adamw, &[(1, 2 * 65_535 * 256 + 1)], 1, MomentFormat::F16);
}

/// With β1 = 0 and no weight decay, one step leaves `m = g` exactly on both sides, so the
/// stored first moment is `g` rounded by the format: the kernel's integer rounding must give
/// the core's (the `half` crate's) bits for ties, subnormals and overflow.
fn assert_first_moment_rounds_like_core<S: MomentStorage>(format: MomentFormat) {
    let Some(ctx) = context() else { return };
    let adam = AdamConfig::adamw()
        .with_betas(0.0, 0.999)
        .with_weight_decay(0.0)
        .build()
        .unwrap();
    let p = |e: i32| 2f32.powi(e);
    let mut g = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        1.0 + p(-11),       // f16 tie: to even (1.0)
        1.0 + 3.0 * p(-11), // f16 tie: to even (up)
        1.0 + p(-8),        // bf16 tie: to even (1.0)
        1.0 + 3.0 * p(-8),  // bf16 tie: to even (up)
        65504.0,            // f16 max
        65519.0,            // rounds down to f16 max
        65520.0,            // f16 overflow: saturates at its max
        -1e6,
        3.0e38,                      // bf16 rounds to its max, f16 saturates at its max
        f32::from_bits(0x7f7f_8000), // bf16 tie between its max and inf: saturates at its max
        f32::MAX,
        p(-14),          // smallest f16 normal
        p(-14) - p(-25), // rounds up to it
        p(-25),          // f16 tie between 0 and the smallest subnormal: 0
        3.0 * p(-25),    // tie between 1 and 2 subnormal units: 2
        1.0001 * p(-25), // just above the tie: 1 unit
        0.9999 * p(-25), // just below: 0
        -5.0 * p(-24),   // exact subnormal
        6.1e-5,
        1e-10,
        p(-126), // smallest f32 normal
    ];
    g.extend(data(1000, 77).iter().map(|x| x * 1e-3));
    g.extend(data(1000, 78).iter().map(|x| x * 1e3));
    let n = g.len();
    let param = GpuMatrix::from_slice(ctx, 1, n, &vec![0.5; n]).unwrap();
    let grad = GpuMatrix::from_slice(ctx, 1, n, &g).unwrap();
    let mut gpu = GpuAdam::with_moments(ctx, adam, format);
    gpu.add_param(&param, &grad).unwrap();
    gpu.step();
    let mut cpu = CpuAdam::<S>::new(vec![0.5; n]);
    cpu.step(&adam, &g).unwrap();
    let (got, _) = gpu.moments(0).unwrap();
    let (want, _) = cpu.moments();
    for ((gi, wi), x) in got.iter().zip(&want).zip(&g) {
        assert_eq!(
            gi.to_bits(),
            wi.to_bits(),
            "{format:?}: g = {x:e}: {gi:e} vs {wi:e}"
        );
    }
}

#[test]
fn sixteen_bit_moments_round_like_the_core() {
    assert_first_moment_rounds_like_core::<f16>(MomentFormat::F16);
    assert_first_moment_rounds_like_core::<bf16>(MomentFormat::Bf16);
}

#[test]
fn non_finite_gradient_skips_the_step_and_is_reported() {
    let Some(ctx) = context() else { return };
    let muon = MuonConfig::new().with_lr(0.05).build().unwrap();
    let adam = AdamConfig::adamw().with_lr(1e-2).build().unwrap();
    let mut opt = GpuOptimizer::new(ctx, muon, adam);
    let (r, c) = (5, 7);
    let (w0, b0) = (data(r * c, 1), data(c, 2));
    let w = GpuMatrix::from_slice(ctx, r, c, &w0).unwrap();
    let wg = GpuMatrix::zeros(ctx, r, c).unwrap();
    let b = GpuMatrix::from_slice(ctx, 1, c, &b0).unwrap();
    let bg = GpuMatrix::zeros(ctx, 1, c).unwrap();
    assert_eq!(opt.add(&w, &wg, ParamRole::Auto).unwrap(), 0);
    assert_eq!(opt.add(&b, &bg, ParamRole::Auto).unwrap(), 1);
    let mut cw = CpuMuon::new(w0, r, c);
    let mut cb = CpuAdam::<f32>::new(b0);
    for step in 0..4 {
        let mut gw = data(r * c, 50 + step);
        let mut gb = data(c, 60 + step);
        if step == 2 {
            gw[9] = f32::NAN;
            gw[20] = f32::INFINITY;
            gb[4] = f32::NEG_INFINITY;
        }
        wg.write(ctx, &gw).unwrap();
        bg.write(ctx, &gb).unwrap();
        let rw = cw.step(&muon, &gw);
        let rb = cb.step(&adam, &gb);
        if step == 2 {
            assert_eq!(rw, Err(MuonError::NonFiniteGradient { index: 9 }));
            assert_eq!(rb, Err(MuonError::NonFiniteGradient { index: 4 }));
            let before = (
                w.read(ctx).unwrap(),
                b.read(ctx).unwrap(),
                opt.muon().momentum(0).unwrap(),
            );
            opt.step();
            let after = (
                w.read(ctx).unwrap(),
                b.read(ctx).unwrap(),
                opt.muon().momentum(0).unwrap(),
            );
            assert_eq!(
                before, after,
                "a non-finite gradient must leave everything untouched"
            );
            // Every faulty parameter of every group, in one report (issue 17 row 5).
            assert_eq!(
                opt.check(),
                Err(GpuError::NonFiniteGradients(vec![
                    SkippedSteps {
                        param: 0,
                        index: 9,
                        skipped_steps: 1
                    },
                    SkippedSteps {
                        param: 1,
                        index: 4,
                        skipped_steps: 1
                    }
                ]))
            );
            assert!(opt.check().is_ok());
        } else {
            opt.step();
        }
    }
    // The skipped step is skipped on both sides, so the trajectories still agree.
    assert!(rel_err(&w.read(ctx).unwrap(), &cw.w) < MUON_TRAJ_TOL);
    assert!(rel_err(&b.read(ctx).unwrap(), &cb.w) < ADAM_TRAJ_TOL);
    assert_eq!(opt.adamw().status().unwrap()[0].steps, 3);
    assert_eq!(cb.t, 3);
}

#[test]
fn adam_reports_its_own_non_finite_gradient() {
    let Some(ctx) = context() else { return };
    let mut adam = GpuAdam::from_config(ctx, AdamConfig::adam()).unwrap();
    let p = GpuMatrix::from_slice(ctx, 1, 3, &[1.0, 2.0, 3.0]).unwrap();
    let g = GpuMatrix::from_slice(ctx, 1, 3, &[0.1, f32::NAN, 0.2]).unwrap();
    adam.add_param(&p, &g).unwrap();
    adam.step();
    adam.step();
    assert_eq!(p.read(ctx).unwrap(), vec![1.0, 2.0, 3.0]);
    let s = adam.status().unwrap()[0];
    assert_eq!(
        (s.steps, s.skipped_steps, s.last_bad_index),
        (0, 2, Some(1))
    );
    assert_eq!(
        adam.check(),
        Err(GpuError::NonFiniteGradients(vec![SkippedSteps {
            param: 0,
            index: 1,
            skipped_steps: 2
        }]))
    );
    assert_eq!(adam.status().unwrap()[0].skipped_steps, 0);
}

#[test]
fn param_groups_route_matrices_to_muon_and_the_rest_to_adamw() {
    let Some(ctx) = context() else { return };
    let muon = MuonConfig::new().with_lr(0.02).build().unwrap();
    let adam = AdamConfig::adamw()
        .with_lr(3e-3)
        .with_betas(0.9, 0.95)
        .build()
        .unwrap();
    let mut opt = GpuOptimizer::new(ctx, muon, adam);
    // hidden matrix, bias row, column vector, embedding (marked), forced-Muon vector.
    let specs = [
        ((24, 40), ParamRole::Auto, true),
        ((1, 40), ParamRole::Auto, false),
        ((24, 1), ParamRole::Auto, false),
        ((50, 24), ParamRole::AdamW, false),
        ((1, 8), ParamRole::Muon, true),
    ];
    let mut gpu = Vec::new();
    let mut cpu_m = Vec::new();
    let mut cpu_a = Vec::new();
    for (i, &((r, c), role, to_muon)) in specs.iter().enumerate() {
        let w0 = data(r * c, 300 + i as u64);
        let p = GpuMatrix::from_slice(ctx, r, c, &w0).unwrap();
        let g = GpuMatrix::zeros(ctx, r, c).unwrap();
        let id = opt.add(&p, &g, role).unwrap();
        assert_eq!(id, i);
        assert_eq!(
            opt.assigned(id).map(|a| a.group) == Some(GpuOptimizer::MUON),
            to_muon,
            "param {i}"
        );
        if to_muon {
            cpu_m.push((i, CpuMuon::new(w0, r, c)));
        } else {
            cpu_a.push((i, CpuAdam::<f32>::new(w0)));
        }
        gpu.push((p, g));
    }
    for step in 0..5 {
        for (i, (_, g)) in gpu.iter().enumerate() {
            let gd = data(g.len(), 400 + step * 10 + i as u64);
            g.write(ctx, &gd).unwrap();
            if let Some((_, c)) = cpu_m.iter_mut().find(|(j, _)| *j == i) {
                c.step(&muon, &gd).unwrap();
            }
            if let Some((_, c)) = cpu_a.iter_mut().find(|(j, _)| *j == i) {
                c.step(&adam, &gd).unwrap();
            }
        }
        opt.step(); // both groups, one submission
    }
    for (i, c) in &cpu_m {
        let e = rel_err(&gpu[*i].0.read(ctx).unwrap(), &c.w);
        assert!(e < MUON_TRAJ_TOL, "muon param {i}: {e}");
    }
    for (i, c) in &cpu_a {
        let e = rel_err(&gpu[*i].0.read(ctx).unwrap(), &c.w);
        assert!(e < ADAM_TRAJ_TOL, "adamw param {i}: {e}");
    }
    opt.check().unwrap();
}

#[test]
fn set_lr_matches_a_core_optimizer_with_that_lr() {
    let Some(ctx) = context() else { return };
    let mut gpu_m = GpuMuon::from_config(ctx, MuonConfig::new()).unwrap();
    let mut gpu_a = GpuAdam::from_config(ctx, AdamConfig::adamw()).unwrap();
    let (r, c) = (9, 4);
    let w0 = data(r * c, 11);
    let (pm, gm) = (
        GpuMatrix::from_slice(ctx, r, c, &w0).unwrap(),
        GpuMatrix::zeros(ctx, r, c).unwrap(),
    );
    let (pa, ga) = (
        GpuMatrix::from_slice(ctx, r, c, &w0).unwrap(),
        GpuMatrix::zeros(ctx, r, c).unwrap(),
    );
    gpu_m.add_param(&pm, &gm).unwrap();
    gpu_a.add_param(&pa, &ga).unwrap();
    let mut cm = CpuMuon::new(w0.clone(), r, c);
    let mut ca = CpuAdam::<f32>::new(w0);
    for (step, lr) in [0.02f32, 0.01, 0.005].into_iter().enumerate() {
        gpu_m.set_lr(lr).unwrap();
        gpu_a.set_lr(lr).unwrap();
        let muon = MuonConfig::new().with_lr(lr).build().unwrap();
        let adam = AdamConfig::adamw().with_lr(lr).build().unwrap();
        let gd = data(r * c, 500 + step as u64);
        gm.write(ctx, &gd).unwrap();
        ga.write(ctx, &gd).unwrap();
        cm.step(&muon, &gd).unwrap();
        ca.step(&adam, &gd).unwrap();
        gpu_m.step();
        gpu_a.step();
    }
    assert!(rel_err(&pm.read(ctx).unwrap(), &cm.w) < MUON_TRAJ_TOL);
    assert!(rel_err(&pa.read(ctx).unwrap(), &ca.w) < ADAM_TRAJ_TOL);
    assert!(matches!(
        gpu_m.set_lr(-1.0),
        Err(GpuError::Core(MuonError::InvalidHyperParameter { .. }))
    ));
}

#[test]
fn errors_match_the_core() {
    let Some(ctx) = context() else { return };
    let p = GpuMatrix::zeros(ctx, 3, 4).unwrap();
    let g = GpuMatrix::zeros(ctx, 4, 3).unwrap();
    let mut muon = GpuMuon::from_config(ctx, MuonConfig::new()).unwrap();
    assert!(matches!(
        muon.add_param(&p, &g),
        Err(GpuError::Core(MuonError::ShapeMismatch {
            what: "grad",
            ..
        }))
    ));
    assert!(matches!(
        muon.add_param(&p, &p),
        Err(GpuError::AliasedBuffers { .. })
    ));
    let mut adam = GpuAdam::from_config(ctx, AdamConfig::adamw()).unwrap();
    assert!(matches!(
        adam.add_param(&p, &g),
        Err(GpuError::Core(MuonError::ShapeMismatch { .. }))
    ));
    assert!(matches!(
        GpuMuon::from_config(ctx, MuonConfig::new().with_momentum(1.0)),
        Err(GpuError::Core(MuonError::InvalidHyperParameter {
            name: "momentum",
            ..
        }))
    ));
    assert!(matches!(
        GpuAdam::from_config(ctx, AdamConfig::adam().with_betas(0.9, 1.0)),
        Err(GpuError::Core(MuonError::InvalidHyperParameter { .. }))
    ));
    assert!(matches!(
        GpuMatrix::zeros(ctx, 0, 3),
        Err(GpuError::Core(MuonError::EmptyMatrix))
    ));
    assert!(matches!(
        GpuMatrix::from_slice(ctx, 2, 2, &[1.0; 3]),
        Err(GpuError::Core(MuonError::LengthMismatch { .. }))
    ));
    assert!(matches!(
        p.write(ctx, &[0.0; 5]),
        Err(GpuError::Core(MuonError::LengthMismatch { .. }))
    ));
    // One element more than the device can bind.
    let max = ctx.max_binding_bytes();
    let too_many = (max / 4 + 1) as usize;
    assert!(matches!(
        GpuMatrix::zeros(ctx, 1, too_many),
        Err(GpuError::BufferTooLarge { .. })
    ));
    assert!(muon.is_empty() && adam.is_empty());
}

#[test]
fn timestamp_helper_times_a_step_when_supported() {
    let Some(ctx) = context() else { return };
    if !ctx.supports_timestamps() {
        assert!(matches!(
            muon_gpu::GpuTimer::new(ctx, 1),
            Err(GpuError::TimestampsUnsupported)
        ));
        eprintln!("timestamps unsupported on this adapter");
        return;
    }
    let mut muon = GpuMuon::from_config(ctx, MuonConfig::new()).unwrap();
    let p = GpuMatrix::from_slice(ctx, 32, 48, &data(32 * 48, 1)).unwrap();
    let g = GpuMatrix::from_slice(ctx, 32, 48, &data(32 * 48, 2)).unwrap();
    muon.add_param(&p, &g).unwrap();
    // Capacity 4, two passes recorded: only those two are resolved and read.
    let timer = muon_gpu::GpuTimer::new(ctx, 4).unwrap();
    let mut encoder = ctx.device().create_command_encoder(&Default::default());
    for i in 0..2 {
        let mut pass = encoder.begin_compute_pass(&muon_gpu::wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes: Some(timer.pass_writes(i)),
        });
        muon.encode(&mut pass);
    }
    timer.resolve(&mut encoder, 2);
    ctx.queue().submit([encoder.finish()]);
    let times = timer.read(ctx, 2).unwrap();
    assert_eq!(times.len(), 2);
    assert!(
        times.iter().all(|t| *t > std::time::Duration::ZERO),
        "{times:?}"
    );
    eprintln!("muon step 32x48 on GPU: {times:?}");
    assert!(muon.status().unwrap()[0].steps == 2);
}

/// The gradient of parameter `i` at `step` in the checkpoint tests.
fn resume_grad(step: usize, i: usize, len: usize) -> Vec<f32> {
    data(len, (400 + 10 * step + i) as u64)
}

/// A checkpoint of `params` loaded into new buffers, with zeroed gradient buffers beside them.
fn restored_copies(ctx: &GpuContext, params: &[GpuMatrix]) -> (Vec<GpuMatrix>, Vec<GpuMatrix>) {
    params
        .iter()
        .map(|p| {
            let (r, c) = p.shape();
            let copy = GpuMatrix::from_slice(ctx, r, c, &p.read(ctx).unwrap()).unwrap();
            (copy, GpuMatrix::zeros(ctx, r, c).unwrap())
        })
        .unzip()
}

/// For each step in `steps`: writes [`resume_grad`] into each gradient buffer of `grads`,
/// hands the same gradient to `also(i, grad)` (a core optimizer, or a restored copy's buffers),
/// then runs `step`.
fn run_steps(
    ctx: &GpuContext,
    steps: std::ops::Range<usize>,
    grads: &[GpuMatrix],
    mut also: impl FnMut(usize, &[f32]),
    mut step: impl FnMut(),
) {
    for s in steps {
        for (i, g) in grads.iter().enumerate() {
            let gd = resume_grad(s, i, g.len());
            g.write(ctx, &gd).unwrap();
            also(i, &gd);
        }
        step();
    }
}

/// Asserts that an optimizer's weights and its restored copy's are equal bit for bit.
fn assert_same_weights(ctx: &GpuContext, params: &[GpuMatrix], params2: &[GpuMatrix]) {
    for (p, p2) in params.iter().zip(params2) {
        let (a, b) = (p.read(ctx).unwrap(), p2.read(ctx).unwrap());
        assert!(
            a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{:?}: the restored copy diverged",
            p.shape()
        );
    }
}

/// Checkpoints: Muon state moved from the core to a fresh GPU optimizer resumes the core's
/// trajectory, and state saved from one GPU optimizer resumes it bit for bit in another.
#[test]
fn muon_resumes_from_core_and_gpu_checkpoints() {
    let Some(ctx) = context() else { return };
    let muon = MuonConfig::new().with_lr(0.02).build().unwrap();
    let shapes = [(33, 17), (17, 65)];
    let mut cpu: Vec<CpuMuon> = shapes
        .iter()
        .enumerate()
        .map(|(i, &(r, c))| CpuMuon::new(data(r * c, 300 + i as u64), r, c))
        .collect();
    for step in 0..5 {
        for (i, c) in cpu.iter_mut().enumerate() {
            c.step(&muon, &resume_grad(step, i, c.w.len())).unwrap();
        }
    }
    // The core's state, restored on the device.
    let mut gpu = GpuMuon::new(ctx, muon);
    let mut params = Vec::new();
    let mut grads = Vec::new();
    for (i, c) in cpu.iter().enumerate() {
        let p = GpuMatrix::from_slice(ctx, c.rows, c.cols, &c.w).unwrap();
        let g = GpuMatrix::zeros(ctx, c.rows, c.cols).unwrap();
        assert_eq!(gpu.add_param(&p, &g).unwrap(), i);
        gpu.set_momentum(i, &c.momentum).unwrap();
        assert_eq!(gpu.momentum(i).unwrap(), c.momentum);
        params.push(p);
        grads.push(g);
    }
    run_steps(
        ctx,
        5..10,
        &grads,
        |i, gd| cpu[i].step(&muon, gd).unwrap(),
        || {
            gpu.step();
        },
    );
    for (i, (p, c)) in params.iter().zip(&cpu).enumerate() {
        let e = rel_err(&p.read(ctx).unwrap(), &c.w);
        assert!(
            e < MUON_TRAJ_TOL,
            "{:?} resumed from the core: {e}",
            p.shape()
        );
        assert!(rel_err(&gpu.momentum(i).unwrap(), &c.momentum) < 1e-6);
    }
    // A GPU checkpoint (weights and momentum), restored into a second optimizer.
    let (params2, grads2) = restored_copies(ctx, &params);
    let mut resumed = GpuMuon::new(ctx, muon);
    for (i, (p2, g2)) in params2.iter().zip(&grads2).enumerate() {
        resumed.add_param(p2, g2).unwrap();
        resumed.set_momentum(i, &gpu.momentum(i).unwrap()).unwrap();
    }
    run_steps(
        ctx,
        10..13,
        &grads,
        |i, gd| grads2[i].write(ctx, gd).unwrap(),
        || {
            gpu.step();
            resumed.step();
        },
    );
    assert_same_weights(ctx, &params, &params2);
}

/// As [`muon_resumes_from_core_and_gpu_checkpoints`] for Adam with moments stored as `S` on
/// the core and `format` on the device: the step count travels with the moments (the bias
/// corrections depend on it).
fn adam_resumes_from_checkpoints<S: MomentStorage>(format: MomentFormat) {
    let Some(ctx) = context() else { return };
    let adam = AdamConfig::adamw().with_lr(1e-2).build().unwrap();
    let shapes = [(1, 999), (37, 30)];
    let mut cpu: Vec<CpuAdam<S>> = shapes
        .iter()
        .enumerate()
        .map(|(i, &(r, c))| CpuAdam::new(data(r * c, 500 + i as u64)))
        .collect();
    for step in 0..7 {
        for (i, c) in cpu.iter_mut().enumerate() {
            c.step(&adam, &resume_grad(step, i, c.w.len())).unwrap();
        }
    }
    let mut gpu = GpuAdam::with_moments(ctx, adam, format);
    let mut params = Vec::new();
    let mut grads = Vec::new();
    for (i, (c, &(r, cols))) in cpu.iter().zip(&shapes).enumerate() {
        let p = GpuMatrix::from_slice(ctx, r, cols, &c.w).unwrap();
        let g = GpuMatrix::zeros(ctx, r, cols).unwrap();
        gpu.add_param(&p, &g).unwrap();
        let (m, v) = c.moments();
        gpu.set_moments(i, c.t, &m, &v).unwrap();
        assert_eq!(
            gpu.moments(i).unwrap(),
            (m, v),
            "{format:?}: stored as given"
        );
        params.push(p);
        grads.push(g);
    }
    assert!(gpu.status().unwrap().iter().all(|s| s.steps == 7));
    run_steps(
        ctx,
        7..13,
        &grads,
        |i, gd| cpu[i].step(&adam, gd).unwrap(),
        || {
            gpu.step();
        },
    );
    for (i, (p, c)) in params.iter().zip(&cpu).enumerate() {
        let e = rel_err(&p.read(ctx).unwrap(), &c.w);
        assert!(e < ADAM_TRAJ_TOL, "{format:?} {:?}: {e}", p.shape());
        let ((m, v), (cm, cv)) = (gpu.moments(i).unwrap(), c.moments());
        let (em, ev, tol) = (rel_err(&m, &cm), rel_err(&v, &cv), moment_tol(format));
        assert!(
            em < tol && ev < tol,
            "{format:?} moments: rel err {em}, {ev}"
        );
    }
    assert!(gpu.status().unwrap().iter().all(|s| s.steps == 13));
    // GPU to GPU: weights, moments and step count.
    let (params2, grads2) = restored_copies(ctx, &params);
    let mut resumed = GpuAdam::with_moments(ctx, adam, format);
    let steps = gpu.status().unwrap();
    for (i, (p2, g2)) in params2.iter().zip(&grads2).enumerate() {
        resumed.add_param(p2, g2).unwrap();
        let (m, v) = gpu.moments(i).unwrap();
        resumed.set_moments(i, steps[i].steps, &m, &v).unwrap();
    }
    run_steps(
        ctx,
        13..16,
        &grads,
        |i, gd| grads2[i].write(ctx, gd).unwrap(),
        || {
            gpu.step();
            resumed.step();
        },
    );
    assert_same_weights(ctx, &params, &params2);
    for i in 0..params.len() {
        assert_eq!(
            gpu.moments(i).unwrap(),
            resumed.moments(i).unwrap(),
            "{format:?}"
        );
    }
}

#[test]
fn adam_resumes_from_core_and_gpu_checkpoints() {
    adam_resumes_from_checkpoints::<f32>(MomentFormat::F32);
    adam_resumes_from_checkpoints::<f16>(MomentFormat::F16);
    adam_resumes_from_checkpoints::<bf16>(MomentFormat::Bf16);
}

#[test]
fn restoring_bad_state_is_refused_and_writes_nothing() {
    let Some(ctx) = context() else { return };
    let p = GpuMatrix::from_slice(ctx, 2, 3, &[1.0; 6]).unwrap();
    let g = GpuMatrix::zeros(ctx, 2, 3).unwrap();
    let mut muon = GpuMuon::from_config(ctx, MuonConfig::new()).unwrap();
    muon.add_param(&p, &g).unwrap();
    assert_eq!(
        muon.set_momentum(1, &[0.0; 6]),
        Err(GpuError::UnknownParam(1))
    );
    assert_eq!(
        muon.set_momentum(0, &[0.5; 5]),
        Err(GpuError::Core(MuonError::LengthMismatch {
            what: "momentum",
            expected: 6,
            found: 5
        }))
    );
    assert!(matches!(
        muon.set_momentum(0, &[0.5, 0.5, f32::NAN, 0.5, 0.5, 0.5]),
        Err(GpuError::InvalidState {
            what: "momentum",
            index: 2,
            ..
        })
    ));
    assert_eq!(muon.momentum(0).unwrap(), vec![0.0; 6]);

    let b = GpuMatrix::from_slice(ctx, 1, 4, &[1.0; 4]).unwrap();
    let bg = GpuMatrix::zeros(ctx, 1, 4).unwrap();
    let mut adam =
        GpuAdam::with_moments(ctx, AdamConfig::adamw().build().unwrap(), MomentFormat::F16);
    adam.add_param(&b, &bg).unwrap();
    let ok = [0.25; 4];
    let bad = |i: usize, x: f32| {
        let mut v = ok;
        v[i] = x;
        v
    };
    let refused = |e: Result<(), GpuError>, what: &str, index: usize, reason: &str| match e {
        Err(GpuError::InvalidState {
            what: w,
            index: i,
            reason: r,
            ..
        }) => assert!(w == what && i == index && r.contains(reason), "{w} {i} {r}"),
        other => panic!("expected InvalidState for {what}[{index}], got {other:?}"),
    };
    assert_eq!(
        adam.set_moments(2, 1, &ok, &ok),
        Err(GpuError::UnknownParam(2))
    );
    assert!(matches!(
        adam.set_moments(0, 1, &ok, &ok[..3]),
        Err(GpuError::Core(MuonError::LengthMismatch { what: "v", .. }))
    ));
    refused(
        adam.set_moments(0, 1, &bad(1, f32::INFINITY), &ok),
        "m",
        1,
        "not finite",
    );
    refused(
        adam.set_moments(0, 1, &ok, &bad(3, -1e-3)),
        "v",
        3,
        "negative",
    );
    refused(adam.set_moments(0, 1, &bad(0, 1e5), &ok), "m", 0, "f16");
    // f16 holds √v: 7e4 fits (√ ≈ 265), 5e9 does not (√ ≈ 70711 > 65504).
    refused(adam.set_moments(0, 1, &ok, &bad(2, 5e9)), "v", 2, "f16");
    assert_eq!(adam.moments(0).unwrap(), (vec![0.0; 4], vec![0.0; 4]));
    assert_eq!(adam.status().unwrap()[0].steps, 0);
    // bf16 holds what f16 cannot.
    let mut wide = GpuAdam::with_moments(
        ctx,
        AdamConfig::adamw().build().unwrap(),
        MomentFormat::Bf16,
    );
    wide.add_param(&b, &bg).unwrap();
    wide.set_moments(0, 4, &bad(0, 1e5), &ok).unwrap();
    assert_eq!(wide.moments(0).unwrap().0[0], bf16::from_f32(1e5).to_f32());
    assert_eq!(wide.status().unwrap()[0].steps, 4);
}

/// `GpuOptimizer::state` / `set_state`: a whole mixed model (Muon and AdamW parameters)
/// checkpointed and restored into a new optimizer continues bit for bit.
#[test]
fn grouped_optimizer_checkpoint_resumes_bit_for_bit() {
    let Some(ctx) = context() else { return };
    let muon = MuonConfig::new().with_lr(0.02).build().unwrap();
    let adamw = AdamConfig::adamw().with_lr(1e-2).build().unwrap();
    let layout = [
        ((12, 20), ParamRole::Auto),  // Muon
        ((1, 20), ParamRole::Auto),   // a bias: AdamW
        ((20, 12), ParamRole::AdamW), // an embedding, marked
    ];
    let mut opt = GpuOptimizer::new(ctx, muon, adamw);
    let mut params = Vec::new();
    let mut grads = Vec::new();
    for (i, &((r, c), role)) in layout.iter().enumerate() {
        let p = GpuMatrix::from_slice(ctx, r, c, &data(r * c, 700 + i as u64)).unwrap();
        let g = GpuMatrix::zeros(ctx, r, c).unwrap();
        opt.add(&p, &g, role).unwrap();
        params.push(p);
        grads.push(g);
    }
    run_steps(
        ctx,
        0..4,
        &grads,
        |_, _| {},
        || {
            opt.step();
        },
    );
    let states: Vec<ParamState> = (0..layout.len()).map(|i| opt.state(i).unwrap()).collect();
    assert!(matches!(&states[0], ParamState::Muon { momentum } if momentum.len() == 240));
    assert!(matches!(&states[1], ParamState::AdamW { step: 4, m, .. } if m.len() == 20));
    assert!(matches!(&states[2], ParamState::AdamW { step: 4, .. }));

    let (params2, grads2) = restored_copies(ctx, &params);
    let mut resumed = GpuOptimizer::new(ctx, muon, adamw);
    for (i, ((p2, g2), &(_, role))) in params2.iter().zip(&grads2).zip(&layout).enumerate() {
        resumed.add(p2, g2, role).unwrap();
        resumed.set_state(i, &states[i]).unwrap();
        assert_eq!(resumed.state(i).unwrap(), states[i]);
    }
    run_steps(
        ctx,
        4..7,
        &grads,
        |i, gd| grads2[i].write(ctx, gd).unwrap(),
        || {
            opt.step();
            resumed.step();
        },
    );
    assert_same_weights(ctx, &params, &params2);

    assert_eq!(
        resumed.set_state(0, &states[1]),
        Err(GpuError::StateKindMismatch {
            param: 0,
            optimizer: "Muon"
        })
    );
    assert_eq!(
        resumed.set_state(2, &states[0]),
        Err(GpuError::StateKindMismatch {
            param: 2,
            optimizer: "AdamW"
        })
    );
    assert_eq!(resumed.state(3), Err(GpuError::UnknownParam(3)));
    assert_eq!(
        resumed.set_state(3, &states[0]),
        Err(GpuError::UnknownParam(3))
    );
}
