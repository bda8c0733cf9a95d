//! Adam's moments on the device stay finite for a gradient of any finite size and match the
//! core's (issue 17 row 3), and a checkpoint read from an optimizer restores into it (row 4).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::context;
use common::trajectory::{CpuAdam, moment_tol};
use half::{bf16, f16};
use muon_core::adam::{AdamConfig, MomentStorage};
use muon_core::muon::MuonConfig;
use muon_gpu::{
    Assigned, GpuAdam, GpuContext, GpuMatrix, GpuOptimizer, MomentFormat, ParamRole, ParamState,
};

/// Gradients of about 0.1 with, per step `t`, the sizes the issue names: a spike of 1e4 in
/// element 3 at step 5, a constant 1e5 in elements 0..3, and some extreme elements (1e21,
/// −3e38, f32::MAX at step 7) whose squares overflow f32.
fn gradient(len: usize, t: usize) -> Vec<f32> {
    let mut g: Vec<f32> = common::data(len, 500 + t as u64)
        .iter()
        .map(|x| 0.1 * x)
        .collect();
    g[..3].fill(1e5);
    if t == 5 {
        g[3] = 1e4;
    }
    if t == 7 {
        g[4] = 1e21;
        g[5] = -3e38;
        g[6] = f32::MAX;
    }
    g
}

/// Whether `ctx` is lavapipe (llvmpipe), which does not fuse multiply-adds: there the device
/// must give the core's bits exactly.
fn exact(ctx: &GpuContext) -> bool {
    ctx.adapter_info()
        .name
        .to_ascii_lowercase()
        .contains("llvmpipe")
}

/// `steps` steps of [`gradient`] on the device and in the core with moments stored as `S` /
/// `format`: everything finite, and equal (bit for bit on lavapipe, to one 16-bit ulp
/// elsewhere, see `moment_tol`).
fn spikes_match_core<S: MomentStorage>(format: MomentFormat, steps: usize) {
    let Some(ctx) = context() else { return };
    let adam = AdamConfig::adam().with_lr(1e-3).build().unwrap();
    let len = 37; // odd: the last 16-bit word's high half is unused
    let w0 = common::data(len, 3);
    let param = GpuMatrix::from_slice(ctx, 1, len, &w0).unwrap();
    let grad = GpuMatrix::zeros(ctx, 1, len).unwrap();
    let mut gpu = GpuAdam::with_moments(ctx, adam, format);
    gpu.add_param(&param, &grad).unwrap();
    let mut cpu = CpuAdam::<S>::new(w0);
    for t in 0..steps {
        let g = gradient(len, t);
        grad.write(ctx, &g).unwrap();
        gpu.step();
        cpu.step(&adam, &g).unwrap();
    }
    let w = param.read(ctx).unwrap();
    let (m, v) = gpu.moments(0).unwrap();
    let (cm, cv) = cpu.moments();
    for (name, got, want) in [("w", &w, &cpu.w), ("m", &m, &cm), ("v", &v, &cv)] {
        assert!(
            got.iter().all(|x| x.is_finite()),
            "{format:?} {name}: {got:?}"
        );
        assert!(
            want.iter().all(|x| x.is_finite()),
            "{format:?} core {name}: {want:?}"
        );
        if exact(ctx) {
            let bits = |x: &[f32]| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(got),
                bits(want),
                "{format:?} {name} after {steps} steps"
            );
        } else {
            let e = common::rel_err(got, want);
            assert!(e < moment_tol(format), "{format:?} {name}: rel err {e}");
        }
    }
    gpu.check().unwrap();
}

#[test]
fn spikes_and_huge_constant_gradients_stay_finite_and_match_the_core() {
    spikes_match_core::<f32>(MomentFormat::F32, 40);
    spikes_match_core::<f16>(MomentFormat::F16, 40);
    spikes_match_core::<bf16>(MomentFormat::Bf16, 40);
}

/// Row 4: after the row-3 gradients (v saturated, m saturated in f16), every parameter's
/// `state` goes back into the same optimizer through `set_state`, and the optimizer then
/// continues exactly as one that was never checkpointed.
fn checkpoint_restores_into_its_optimizer(format: MomentFormat) {
    let Some(ctx) = context() else { return };
    let muon = MuonConfig::new().with_lr(0.02).build().unwrap();
    let adamw = AdamConfig::adamw().with_lr(1e-2).build().unwrap();
    let shapes = [((8, 6), ParamRole::Auto), ((1, 37), ParamRole::Auto)];
    let make = || {
        let mut opt = GpuOptimizer::with_adamw_moments(ctx, muon, adamw, format);
        let mut pairs = Vec::new();
        for (i, &((r, c), role)) in shapes.iter().enumerate() {
            let p = GpuMatrix::from_slice(ctx, r, c, &common::data(r * c, 40 + i as u64)).unwrap();
            let g = GpuMatrix::zeros(ctx, r, c).unwrap();
            opt.add(&p, &g, role).unwrap();
            pairs.push((p, g));
        }
        (opt, pairs)
    };
    let (mut opt, pairs) = make();
    let (twin, twin_pairs) = make();
    assert_eq!(
        opt.assigned(1),
        Some(Assigned {
            group: GpuOptimizer::ADAMW,
            index: 0
        })
    );
    let run = |opt: &GpuOptimizer, pairs: &[(GpuMatrix, GpuMatrix)], t: usize| {
        for (p, g) in pairs {
            let grad = gradient(p.len(), t);
            g.write(ctx, &grad).unwrap();
        }
        opt.step();
    };
    for t in 0..12 {
        run(&opt, &pairs, t);
        run(&twin, &twin_pairs, t);
    }
    opt.check().unwrap();
    for i in 0..shapes.len() {
        let state = opt.state(i).unwrap();
        if let ParamState::AdamW { m, v, .. } = &state {
            assert!(m.iter().chain(v).all(|x| x.is_finite()), "{format:?}");
        }
        opt.set_state(i, &state)
            .unwrap_or_else(|e| panic!("{format:?}: parameter {i}'s own checkpoint: {e}"));
        assert_eq!(
            opt.state(i).unwrap(),
            state,
            "{format:?}: restored bit for bit"
        );
    }
    for t in 12..20 {
        run(&opt, &pairs, t);
        run(&twin, &twin_pairs, t);
    }
    for (i, ((p, _), (q, _))) in pairs.iter().zip(&twin_pairs).enumerate() {
        assert_eq!(
            p.read(ctx).unwrap(),
            q.read(ctx).unwrap(),
            "{format:?} param {i}"
        );
        assert_eq!(opt.state(i).unwrap(), twin.state(i).unwrap());
    }
}

#[test]
fn a_checkpoint_from_state_restores_into_its_optimizer() {
    checkpoint_restores_into_its_optimizer(MomentFormat::F32);
    checkpoint_restores_into_its_optimizer(MomentFormat::F16);
    checkpoint_restores_into_its_optimizer(MomentFormat::Bf16);
}

/// Row 4 for Muon: gradients of ±3e38 drive the momentum `B ← B + (1 − μ)(G − B)` towards
/// −3e38, then `G − B` overflows. The momentum saturates at ±f32::MAX as the core's does, so it
/// stays finite, equals the core's (bit for bit on lavapipe), and the checkpoint read from the
/// optimizer restores into it.
#[test]
fn muon_momentum_saturates_like_the_core_and_its_checkpoint_restores() {
    let Some(ctx) = context() else { return };
    let muon = MuonConfig::new().build().unwrap();
    let adamw = AdamConfig::adamw().build().unwrap();
    let mut opt = GpuOptimizer::new(ctx, muon, adamw);
    let p = GpuMatrix::zeros(ctx, 3, 3).unwrap();
    let g = GpuMatrix::zeros(ctx, 3, 3).unwrap();
    opt.add(&p, &g, ParamRole::Muon).unwrap();
    let mut core = vec![0.0f32; 9];
    let mu = muon.config().momentum;
    let mut feed = |opt: &mut GpuOptimizer, value: f32, steps: usize| {
        g.write(ctx, &[value; 9]).unwrap();
        for _ in 0..steps {
            opt.step();
            for b in &mut core {
                // The core's `saturate` (no NaN arises here, so `clamp` is the same).
                *b = (*b + (1.0 - mu) * (value - *b)).clamp(-f32::MAX, f32::MAX);
            }
        }
    };
    feed(&mut opt, -3e38, 200);
    feed(&mut opt, 3e38, 1);
    let momentum = opt.muon().momentum(0).unwrap();
    assert!(momentum.iter().all(|x| x.is_finite()), "{momentum:?}");
    assert!(
        core.contains(&f32::MAX),
        "the core's momentum saturated: {core:?}"
    );
    if exact(ctx) {
        assert_eq!(momentum, core);
    }
    let w = p.read(ctx).unwrap();
    assert!(w.iter().all(|x| x.is_finite()), "{w:?}");
    let state = opt.state(0).unwrap();
    opt.set_state(0, &state).unwrap();
    assert_eq!(opt.state(0).unwrap(), state);
    opt.check().unwrap();
}
