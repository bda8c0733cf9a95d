//! One full Muon step (`torch.optim.Muon`'s defaults: momentum 0.95 with Nesterov, Newton–Schulz
//! quintic × 5, decoupled weight decay) on an `n × n` parameter, 16 to 4096.
//!
//! Ids: `cpu` (`muon_core::muon::Muon::step`, sizes up to [`common::CPU_MAX`]), `gpu`
//! (`GpuMuon::step`: gradient, momentum and parameter resident; timed by waiting for the
//! device) and `gpu+readback` (upload the gradient, the step, read the parameter to the host).
//! Throughput counts the step's Newton–Schulz FLOPs ([`common::ns_flops`]); the element-wise
//! momentum and update are `O(n²)` and not counted.
//!
//! ```text
//! cargo bench --bench muon_step
//! ```

mod common;

use std::cell::OnceCell;
use std::hint::black_box;

use common::gpu::{bench_gpu_step, gpu_for};
use common::{
    CPU_MAX, CpuParam, SIZES, configure_for_size, note_cpu_skip, ns_flops, random_vec, rel_diff,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use muon::cpu::muon::{Muon, MuonConfig};
use muon::gpu::{GpuMatrix, GpuMuon};

/// Largest relative difference allowed between the GPU's first update and the core's.
const GPU_TOLERANCE: f64 = 1e-3;

fn bench_muon_step(c: &mut Criterion) {
    common::select_cpu_kernel();
    let config = MuonConfig::new();
    let muon = config.build().expect("torch's Muon defaults are valid");
    let mut group = c.benchmark_group("muon_step");
    note_cpu_skip("muon_step");
    for n in SIZES {
        configure_for_size(&mut group, n, 5);
        group.throughput(Throughput::Elements(ns_flops(n, n, config.ns.steps)));
        // Set-up runs inside the closures, once, so ids a filter leaves out cost nothing.
        let data = OnceCell::new();
        let data = || data.get_or_init(|| (random_vec(n * n, 3), random_vec(n * n, 4)));

        if n <= CPU_MAX {
            let mut state = None;
            group.bench_with_input(BenchmarkId::new("cpu", n), &n, |b, &n| {
                let (param, grad) = data();
                let cpu = state.get_or_insert_with(|| CpuParam::<Muon>::new(n, n, param));
                b.iter(|| cpu.step(&muon, black_box(grad)));
            });
        }

        if let Some(gpu) = gpu_for(n) {
            let ctx = &gpu.ctx;
            let state = OnceCell::new();
            let state = || {
                state.get_or_init(|| {
                    let (param0, grad0) = data();
                    let param = GpuMatrix::from_slice(ctx, n, n, param0).expect("upload param");
                    let grad = GpuMatrix::from_slice(ctx, n, n, grad0).expect("upload grad");
                    let mut opt = GpuMuon::new(ctx, muon);
                    opt.add_param(&param, &grad).expect("register param");
                    opt.step();
                    let after = param.read(ctx).expect("read param");
                    if n <= CPU_MAX {
                        let mut cpu = CpuParam::<Muon>::new(n, n, param0);
                        cpu.step(&muon, grad0);
                        let delta = |p: &[f32]| -> Vec<f32> {
                            p.iter().zip(param0).map(|(a, b)| a - b).collect()
                        };
                        let d = rel_diff(&delta(&after), &delta(&cpu.param));
                        assert!(
                            d < GPU_TOLERANCE,
                            "GPU Muon update differs from muon-core's at {n}²: relative {d:e}"
                        );
                    }
                    (opt, param, grad)
                })
            };
            bench_gpu_step(
                &mut group,
                ctx,
                n,
                || &data().1,
                state,
                |opt| {
                    opt.step();
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench_muon_step);
criterion_main!(benches);
