//! `GpuMuon`, `GpuAdam` and `GpuOptimizer` against `muon-core`, step by step.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::{context, data, max_abs_err, rel_err};
use muon_core::adam::{Adam, AdamConfig, AdamSlots};
use muon_core::muon::{AdjustLr, Muon, MuonConfig};
use muon_core::newton_schulz::NsConfig;
use muon_core::{MatMut, MatRef, MuonError};
use muon_gpu::{Assigned, GpuAdam, GpuError, GpuMatrix, GpuMuon, GpuOptimizer, ParamRole};

/// The core's Muon state for one parameter.
struct CpuMuon {
    w: Vec<f32>,
    momentum: Vec<f32>,
    scratch: Vec<f32>,
    rows: usize,
    cols: usize,
}

impl CpuMuon {
    fn new(w: Vec<f32>, rows: usize, cols: usize) -> Self {
        Self {
            momentum: vec![0.0; w.len()],
            scratch: vec![0.0; Muon::scratch_len(rows, cols)],
            w,
            rows,
            cols,
        }
    }

    fn step(&mut self, muon: &Muon, g: &[f32]) -> Result<(), MuonError> {
        muon.step(
            MatMut::new(self.rows, self.cols, &mut self.w).unwrap(),
            MatRef::new(self.rows, self.cols, g).unwrap(),
            &mut self.momentum,
            &mut self.scratch,
        )
    }
}

/// The core's Adam state for one parameter.
struct CpuAdam {
    w: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    t: u32,
}

impl CpuAdam {
    fn new(w: Vec<f32>) -> Self {
        Self {
            m: vec![0.0; w.len()],
            v: vec![0.0; w.len()],
            t: 0,
            w,
        }
    }

    fn step(&mut self, adam: &Adam, g: &[f32]) -> Result<(), MuonError> {
        adam.step(
            &mut self.w,
            g,
            AdamSlots {
                step: &mut self.t,
                m: &mut self.m,
                v: &mut self.v,
            },
        )
    }
}

/// Muon over 20 steps: each step's Newton–Schulz output differs from the core's by ~1e-5
/// relative, and the parameter accumulates lr-sized updates of it, so the weights agree to
/// far better than 1e-4 relative; 1e-4 leaves room for adapters with other rounding.
const MUON_TRAJ_TOL: f64 = 1e-4;

/// Adam is element-wise with the same operation order as the core and the core's own
/// bias-correction scalars; only FMA contraction and sqrt/div rounding differ: 1e-5 relative
/// (and the moments to 1e-5).
const ADAM_TRAJ_TOL: f64 = 1e-5;

fn muon_trajectory(cfg: MuonConfig, shapes: &[(usize, usize)], steps: usize) {
    let Some(ctx) = context() else { return };
    let muon = cfg.build().unwrap();
    let mut gpu = GpuMuon::new(ctx, muon);
    let mut cpu = Vec::new();
    let mut grads = Vec::new();
    let mut params = Vec::new();
    for (i, &(r, c)) in shapes.iter().enumerate() {
        let w0 = data(r * c, 1000 + i as u64);
        let p = GpuMatrix::from_slice(ctx, r, c, &w0).unwrap();
        let g = GpuMatrix::zeros(ctx, r, c).unwrap();
        assert_eq!(gpu.add_param(&p, &g).unwrap(), i);
        cpu.push(CpuMuon::new(w0, r, c));
        grads.push(g);
        params.push(p);
    }
    for step in 0..steps {
        for (i, (g, c)) in grads.iter().zip(cpu.iter_mut()).enumerate() {
            let gd = data(g.len(), (step * 100 + i) as u64 + 7);
            g.write(ctx, &gd).unwrap();
            c.step(&muon, &gd).unwrap();
        }
        gpu.step();
    }
    for (i, (p, c)) in params.iter().zip(&cpu).enumerate() {
        let got = p.read(ctx).unwrap();
        let e = rel_err(&got, &c.w);
        assert!(
            e < MUON_TRAJ_TOL,
            "{:?} after {steps} steps: rel err {e}",
            p.shape()
        );
        let mom = gpu.momentum(i).unwrap();
        assert!(
            rel_err(&mom, &c.momentum) < 1e-6,
            "{:?} momentum",
            p.shape()
        );
    }
    let status = gpu.status().unwrap();
    assert!(
        status
            .iter()
            .all(|s| s.steps == steps as u32 && s.skipped_steps == 0)
    );
    gpu.check().unwrap();
}

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

fn adam_trajectory(cfg: AdamConfig, shapes: &[(usize, usize)], steps: usize) {
    let Some(ctx) = context() else { return };
    let adam = cfg.build().unwrap();
    let mut gpu = GpuAdam::new(ctx, adam);
    let mut cpu = Vec::new();
    let mut grads = Vec::new();
    let mut params = Vec::new();
    for (i, &(r, c)) in shapes.iter().enumerate() {
        let w0 = data(r * c, 2000 + i as u64);
        let p = GpuMatrix::from_slice(ctx, r, c, &w0).unwrap();
        let g = GpuMatrix::zeros(ctx, r, c).unwrap();
        gpu.add_param(&p, &g).unwrap();
        cpu.push(CpuAdam::new(w0));
        grads.push(g);
        params.push(p);
    }
    for step in 0..steps {
        for (i, (g, c)) in grads.iter().zip(cpu.iter_mut()).enumerate() {
            let mut gd = data(g.len(), (step * 100 + i) as u64 + 9);
            if step % 7 == 3 {
                gd.iter_mut().for_each(|x| *x = 0.0); // zero gradients on some steps
            }
            g.write(ctx, &gd).unwrap();
            c.step(&adam, &gd).unwrap();
        }
        gpu.step();
    }
    for (i, (p, c)) in params.iter().zip(&cpu).enumerate() {
        let got = p.read(ctx).unwrap();
        let e = rel_err(&got, &c.w);
        assert!(e < ADAM_TRAJ_TOL, "{:?}: rel err {e}", p.shape());
        let (m, v) = gpu.moments(i).unwrap();
        assert!(rel_err(&m, &c.m) < ADAM_TRAJ_TOL && rel_err(&v, &c.v) < ADAM_TRAJ_TOL);
    }
    assert!(
        gpu.status()
            .unwrap()
            .iter()
            .all(|s| s.steps == steps as u32)
    );
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
    let mut cb = CpuAdam::new(b0);
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
            assert_eq!(
                opt.check(),
                Err(GpuError::NonFiniteGradient {
                    param: 0,
                    index: 9,
                    skipped_steps: 1
                })
            );
            // The AdamW group's report was cleared by the same check.
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
        Err(GpuError::NonFiniteGradient {
            param: 0,
            index: 1,
            skipped_steps: 2
        })
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
            matches!(opt.assigned(id), Some(Assigned::Muon(_))),
            to_muon,
            "param {i}"
        );
        if to_muon {
            cpu_m.push((i, CpuMuon::new(w0, r, c)));
        } else {
            cpu_a.push((i, CpuAdam::new(w0)));
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
    let mut ca = CpuAdam::new(w0);
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
    let timer = muon_gpu::GpuTimer::new(ctx, 2).unwrap();
    let mut encoder = ctx.device().create_command_encoder(&Default::default());
    for i in 0..2 {
        let mut pass = encoder.begin_compute_pass(&muon_gpu::wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes: Some(timer.pass_writes(i)),
        });
        muon.encode(&mut pass);
    }
    timer.resolve(&mut encoder);
    ctx.queue().submit([encoder.finish()]);
    let times = timer.read(ctx).unwrap();
    assert_eq!(times.len(), 2);
    eprintln!("muon step 32x48 on GPU: {times:?}");
    assert!(muon.status().unwrap()[0].steps == 2);
}
