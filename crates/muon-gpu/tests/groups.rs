//! `GpuOptimizer` with any number of parameter groups, each with its own configuration and a
//! learning rate changed every step (a schedule), against the core.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::trajectory::{ADAM_TRAJ_TOL, CpuAdam, CpuMuon, MUON_TRAJ_TOL};
use common::{context, data, rel_err};
use muon_core::adam::{Adam, AdamConfig};
use muon_core::muon::{Muon, MuonConfig};
use muon_core::schedule::{Cosine, Linear, LrSchedule};
use muon_gpu::{
    GpuAdam, GpuContext, GpuError, GpuMatrix, GpuMuon, GpuOptimizer, ParamRole, ParamState,
};

/// Linear warm-up from 1% over 10 steps, then cosine decay to 10% of `base` at step 100
/// (`LinearLR` then `CosineAnnealingLR` in a `SequentialLR`), from the core's schedules.
fn warmup_cosine(base: f32, t: usize) -> f32 {
    let warmup = Linear::warmup(base, 0.01, 10).unwrap();
    let cosine = Cosine::new(base, 90)
        .unwrap()
        .with_eta_min(0.1 * base)
        .unwrap();
    warmup.then(10, cosine).lr(t as u32)
}

/// Lavapipe does not fuse multiply-adds, so its Adam trajectory is the core's bit for bit;
/// hardware that fuses differs by rounding (see `ADAM_TRAJ_TOL`).
fn exact_adapter(ctx: &GpuContext) -> bool {
    ctx.adapter_info().device_type == wgpu::DeviceType::Cpu
}

/// Three groups — Muon, AdamW with weight decay, AdamW without (biases) — each on its own
/// schedule, 100 steps, every step one `set_lr` per group and one submission.
#[test]
fn three_groups_on_a_warmup_cosine_schedule_follow_the_core() {
    let Some(ctx) = context() else { return };
    let (muon_base, adamw_base, bias_base) = (0.02f32, 3e-3f32, 1e-2f32);
    let mut muon = MuonConfig::new()
        .with_weight_decay(0.1)
        .with_lr(muon_base)
        .build()
        .unwrap();
    let mut adamw = AdamConfig::adamw().with_lr(adamw_base).build().unwrap();
    let mut bias = AdamConfig::adamw()
        .with_weight_decay(0.0)
        .with_lr(bias_base)
        .build()
        .unwrap();
    let mut opt = GpuOptimizer::new(ctx, muon, adamw);
    let no_decay = opt.add_group(GpuAdam::new(ctx, bias)).unwrap();
    assert_eq!((no_decay, opt.groups()), (2, 3));

    // (shape, group): a matrix to Muon, an embedding to AdamW, a bias to the no-decay group.
    let specs = [
        ((6, 5), GpuOptimizer::MUON),
        ((7, 4), GpuOptimizer::ADAMW),
        ((1, 9), no_decay),
    ];
    let mut params = Vec::new();
    for (i, &((r, c), group)) in specs.iter().enumerate() {
        let w0 = data(r * c, 40 + i as u64);
        let p = GpuMatrix::from_slice(ctx, r, c, &w0).unwrap();
        let g = GpuMatrix::zeros(ctx, r, c).unwrap();
        assert_eq!(opt.add_to(group, &p, &g).unwrap(), i);
        assert_eq!(opt.assigned(i).map(|a| a.group), Some(group));
        params.push((p, g, w0));
    }
    let mut cpu_muon = CpuMuon::new(params[0].2.clone(), 6, 5);
    let mut cpu_adamw = CpuAdam::<f32>::new(params[1].2.clone());
    let mut cpu_bias = CpuAdam::<f32>::new(params[2].2.clone());

    for t in 0..100 {
        let lrs = [
            warmup_cosine(muon_base, t),
            warmup_cosine(adamw_base, t),
            warmup_cosine(bias_base, t),
        ];
        for (group, lr) in lrs.iter().enumerate() {
            opt.set_lr(group, *lr).unwrap();
        }
        muon.set_lr(lrs[0]).unwrap();
        adamw.set_lr(lrs[1]).unwrap();
        bias.set_lr(lrs[2]).unwrap();
        let grads: Vec<Vec<f32>> = params
            .iter()
            .enumerate()
            .map(|(i, (p, _, _))| data(p.len(), (t * 10 + i) as u64 + 3))
            .collect();
        for ((_, g, _), gd) in params.iter().zip(&grads) {
            g.write(ctx, gd).unwrap();
        }
        cpu_muon.step(&muon, &grads[0]).unwrap();
        cpu_adamw.step(&adamw, &grads[1]).unwrap();
        cpu_bias.step(&bias, &grads[2]).unwrap();
        opt.step();
    }
    opt.check().unwrap();
    assert_eq!(
        opt.group(no_decay).map(|g| g.as_dyn().lr()),
        Some(warmup_cosine(bias_base, 99))
    );

    let got: Vec<Vec<f32>> = params
        .iter()
        .map(|(p, _, _)| p.read(ctx).unwrap())
        .collect();
    let e = rel_err(&got[0], &cpu_muon.w);
    assert!(
        e < MUON_TRAJ_TOL,
        "Muon after 100 scheduled steps: rel err {e}"
    );
    for (i, cpu) in [(1, &cpu_adamw), (2, &cpu_bias)] {
        if exact_adapter(ctx) {
            assert_eq!(got[i], cpu.w, "AdamW group param {i}: not bit-identical");
        } else {
            let e = rel_err(&got[i], &cpu.w);
            assert!(e < ADAM_TRAJ_TOL, "AdamW group param {i}: rel err {e}");
        }
        let Ok(ParamState::AdamW { step, .. }) = opt.state(i) else {
            panic!("param {i} is an AdamW parameter");
        };
        assert_eq!(step, 100);
    }
    // The schedule did change the result: a constant lr lands elsewhere.
    assert_ne!(cpu_bias.w, constant_lr_bias(bias_base, &params[2].2));
}

/// The no-decay parameter after 100 steps at a constant `lr` (same gradients).
fn constant_lr_bias(lr: f32, w0: &[f32]) -> Vec<f32> {
    let adam: Adam = AdamConfig::adamw()
        .with_weight_decay(0.0)
        .with_lr(lr)
        .build()
        .unwrap();
    let mut cpu = CpuAdam::<f32>::new(w0.to_vec());
    for t in 0..100 {
        cpu.step(&adam, &data(w0.len(), (t * 10 + 2) as u64 + 3))
            .unwrap();
    }
    cpu.w
}

#[test]
fn set_lr_errors_change_nothing() {
    let Some(ctx) = context() else { return };
    let muon: Muon = MuonConfig::new().build().unwrap();
    let mut opt = GpuOptimizer::new(ctx, muon, AdamConfig::adamw().build().unwrap());
    assert!(matches!(
        opt.set_lr(GpuOptimizer::ADAMW, -1.0),
        Err(GpuError::Core(_))
    ));
    assert_eq!(opt.adamw().lr(), 1e-3);
    assert!(matches!(
        opt.set_lr(5, 0.1),
        Err(GpuError::InvalidGroup { group: 5, .. })
    ));
}

#[test]
fn groups_are_checked() {
    let Some(ctx) = context() else { return };
    let muon: Muon = MuonConfig::new().build().unwrap();
    let adamw: Adam = AdamConfig::adamw().build().unwrap();
    let mut opt = GpuOptimizer::new(ctx, muon, adamw);
    let p = GpuMatrix::zeros(ctx, 3, 3).unwrap();
    let g = GpuMatrix::zeros(ctx, 3, 3).unwrap();
    assert!(matches!(
        opt.add_to(3, &p, &g),
        Err(GpuError::InvalidGroup { group: 3, .. })
    ));

    // A group that already holds parameters would bypass the cross-group checks.
    let mut used = GpuMuon::new(ctx, muon);
    used.add_param(&p, &g).unwrap();
    assert!(matches!(
        opt.add_group(used),
        Err(GpuError::InvalidGroup { .. })
    ));

    // The same buffers in two groups of one optimizer.
    let second = opt.add_group(GpuAdam::new(ctx, adamw)).unwrap();
    assert_eq!(opt.add(&p, &g, ParamRole::Auto).unwrap(), 0);
    assert!(matches!(
        opt.add_to(second, &p, &g),
        Err(GpuError::AlreadyRegistered { .. })
    ));

    // State of the wrong kind names the parameter by its index in the optimizer.
    let q = GpuMatrix::zeros(ctx, 1, 4).unwrap();
    let qg = GpuMatrix::zeros(ctx, 1, 4).unwrap();
    assert_eq!(opt.add_to(second, &q, &qg).unwrap(), 1);
    let err = opt.set_state(
        1,
        &ParamState::Muon {
            momentum: vec![0.0; 4],
        },
    );
    assert!(
        matches!(
            err,
            Err(GpuError::StateKindMismatch {
                param: 1,
                optimizer: "AdamW"
            })
        ),
        "{err:?}"
    );
    assert!(matches!(opt.state(2), Err(GpuError::UnknownParam(2))));

    // A group made on another context.
    let other = GpuContext::new().unwrap();
    assert!(matches!(
        opt.add_group(GpuMuon::new(&other, muon)),
        Err(GpuError::ForeignContext { .. })
    ));
}
