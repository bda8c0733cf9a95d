//! Device faults are `GpuError` values, never panics (issue 17 row 11): a destroyed (lost)
//! device, an error wgpu reports outside any call, and a readback larger than the device's
//! `max_buffer_size`.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::context;
use common::trajectory::CpuAdam;
use muon_core::adam::AdamConfig;
use muon_core::muon::MuonConfig;
use muon_gpu::{
    GpuAdam, GpuContext, GpuError, GpuMatrix, GpuOptimizer, MomentFormat, ParamRole, ParamState,
};

/// A context of its own on the adapter the shared one uses (this test destroys or limits
/// it), with `limits` applied over the adapter's own when given.
fn own_context(limits: Option<fn(wgpu::Limits) -> wgpu::Limits>) -> Option<GpuContext> {
    let shared = context()?;
    let Some(limits) = limits else {
        return Some(GpuContext::new().unwrap());
    };
    let name = shared.adapter_info().name.clone();
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let adapter = adapters
        .into_iter()
        .find(|a| a.get_info().name == name)
        .expect("the shared context's adapter");
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("limited"),
        required_limits: limits(adapter.limits()),
        ..Default::default()
    }))
    .unwrap();
    Some(GpuContext::from_device(device, queue).unwrap())
}

fn is_lost<T: std::fmt::Debug>(what: &str, r: Result<T, GpuError>) {
    assert!(
        matches!(r, Err(GpuError::DeviceLost(_))),
        "{what}: expected DeviceLost, got {r:?}"
    );
}

#[test]
fn a_destroyed_device_gives_typed_errors_not_panics() {
    let Some(ctx) = own_context(None) else { return };
    let muon = MuonConfig::new().build().unwrap();
    let adamw = AdamConfig::adamw().build().unwrap();
    let mut opt = GpuOptimizer::with_adamw_moments(&ctx, muon, adamw, MomentFormat::F16);
    let w = GpuMatrix::from_slice(&ctx, 4, 3, &common::data(12, 1)).unwrap();
    let g = GpuMatrix::from_slice(&ctx, 4, 3, &common::data(12, 2)).unwrap();
    let b = GpuMatrix::from_slice(&ctx, 1, 5, &common::data(5, 3)).unwrap();
    let bg = GpuMatrix::from_slice(&ctx, 1, 5, &common::data(5, 4)).unwrap();
    opt.add(&w, &g, ParamRole::Auto).unwrap();
    opt.add(&b, &bg, ParamRole::Auto).unwrap();
    opt.step();
    opt.check().unwrap();
    let state = opt.state(1).unwrap();
    let (w2, g2) = (
        GpuMatrix::zeros(&ctx, 2, 2).unwrap(),
        GpuMatrix::zeros(&ctx, 2, 2).unwrap(),
    );
    let (square, ns_out) = (
        GpuMatrix::zeros(&ctx, 4, 4).unwrap(),
        GpuMatrix::zeros(&ctx, 4, 3).unwrap(),
    );

    ctx.device().destroy();

    // Work that returns no Result does not panic; everything fallible says the device is lost.
    opt.step();
    opt.step();
    is_lost("check", opt.check());
    is_lost("state", opt.state(0));
    is_lost("state", opt.state(1));
    is_lost("set_state", opt.set_state(1, &state));
    is_lost(
        "set_state (Muon)",
        opt.set_state(
            0,
            &ParamState::Muon {
                momentum: vec![0.0; 12],
            },
        ),
    );
    is_lost("add", opt.add(&w2, &g2, ParamRole::Auto));
    is_lost("adamw status", opt.adamw().status());
    is_lost("muon momentum", opt.muon().momentum(0));
    is_lost("muon set_lr", opt.muon_mut().set_lr(1e-3));
    is_lost("adamw set_lr", opt.adamw_mut().set_lr(1e-3));
    is_lost("zeros", GpuMatrix::zeros(&ctx, 2, 2));
    is_lost("from_slice", GpuMatrix::from_slice(&ctx, 1, 2, &[1.0, 2.0]));
    is_lost("read", w.read(&ctx));
    is_lost("write", w.write(&ctx, &[0.0; 12]));
    is_lost("wait", ctx.wait());
    // One-shot kernels: they record and submit (no Result from wgpu), then report the loss.
    is_lost("frobenius_norm", muon_gpu::ops::frobenius_norm(&ctx, &w));
    let _ = muon_gpu::ops::matmul(&ctx, &w, false, &w, true, &square);
    is_lost("after matmul", ctx.device_status());
    let _ = muon_gpu::ops::newton_schulz(
        &ctx,
        &w,
        &ns_out,
        &muon_core::newton_schulz::NsConfig::default(),
    );
    is_lost("after newton_schulz", ctx.device_status());
    is_lost("device_status", ctx.device_status());
    // A new optimizer on the lost context: registering fails, stepping an empty one is fine.
    let mut fresh = GpuAdam::new(&ctx, adamw);
    is_lost("GpuAdam::add_param", fresh.add_param(&w2, &g2));
    assert!(fresh.is_empty());
}

#[test]
fn an_error_outside_any_call_is_reported_by_the_next_call() {
    let Some(ctx) = own_context(None) else { return };
    let max = ctx.device().limits().max_buffer_size;
    // Misuse of the device outside the crate, no error scope: wgpu's default handler would
    // panic; the context keeps the error for its next fallible call.
    let _too_big = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("too big"),
        size: max.saturating_add(4),
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    let m = GpuMatrix::zeros(&ctx, 2, 2);
    assert!(
        matches!(m, Err(GpuError::Validation(_))),
        "expected Validation, got {m:?}"
    );
    // Reported once: the context works on.
    ctx.device_status().unwrap();
    let m = GpuMatrix::from_slice(&ctx, 2, 2, &[1.0, 2.0, 3.0, 4.0]).unwrap();
    assert_eq!(m.read(&ctx).unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
}

/// `moments()` reads `m` and `v` together: on a device whose `max_buffer_size` holds one of
/// them but not both, the readback is split and gives the core's values.
#[test]
fn a_readback_larger_than_max_buffer_size_is_split() {
    const MAX: u64 = 1 << 20; // 1 MiB: Adam's scalar table (≤ 1 MiB) still fits
    let Some(ctx) = own_context(Some(|l| wgpu::Limits {
        max_buffer_size: MAX,
        max_storage_buffer_binding_size: MAX,
        ..l
    })) else {
        return;
    };
    assert_eq!(ctx.device().limits().max_buffer_size, MAX);
    let n = 200_000; // 800,000 bytes per moment, 1,600,000 together
    let adam = AdamConfig::adamw().with_lr(1e-2).build().unwrap();
    let w0 = common::data(n, 5);
    let grad = common::data(n, 6);
    let w = GpuMatrix::from_slice(&ctx, 1, n, &w0).unwrap();
    let g = GpuMatrix::from_slice(&ctx, 1, n, &grad).unwrap();
    let mut gpu = GpuAdam::new(&ctx, adam);
    gpu.add_param(&w, &g).unwrap();
    gpu.step();
    let mut cpu = CpuAdam::<f32>::new(w0);
    cpu.step(&adam, &grad).unwrap();
    let (m, v) = gpu.moments(0).unwrap();
    let (cm, cv) = cpu.moments();
    assert!(common::rel_err(&m, &cm) < 1e-6 && common::rel_err(&v, &cv) < 1e-6);
    assert!(common::rel_err(&w.read(&ctx).unwrap(), &cpu.w) < 1e-6);
    // A matrix beyond the limit is refused before any buffer is made.
    assert!(matches!(
        GpuMatrix::zeros(&ctx, 1, 300_000),
        Err(GpuError::BufferTooLarge { .. })
    ));
    ctx.device_status().unwrap();
}
