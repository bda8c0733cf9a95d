//! One AdamW step (`torch.optim.AdamW`'s defaults, `f32` moments) on `n × n` parameters,
//! 16 to 4096 (256 to 16.8 M elements).
//!
//! Ids: `cpu` (`muon_core::adam::Adam::step`), `gpu` (`GpuAdam::step`: everything resident;
//! timed by waiting for the device) and `gpu+readback` (upload the gradient, the step, read
//! the parameter to the host). Throughput: parameters per second, and bytes per second at the
//! 28 bytes a parameter moves (read parameter, gradient, `m`, `v`; write parameter, `m`, `v`).
//!
//! ```text
//! cargo bench --bench adam_step
//! ```

mod common;

use std::cell::OnceCell;
use std::hint::black_box;

use common::gpu::{bench_gpu_step, gpu_for};
use common::{CpuParam, SIZES, configure_for_size, random_vec, rel_diff};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use muon::cpu::adam::{Adam, AdamConfig};
use muon::gpu::{GpuAdam, GpuMatrix};

/// Bytes one AdamW parameter update reads and writes with `f32` state.
const BYTES_PER_PARAM: u64 = 28;

/// Largest relative difference allowed between the GPU's first update and the core's.
const GPU_TOLERANCE: f64 = 1e-4;

fn bench_adam_step(c: &mut Criterion) {
    let adam = AdamConfig::adamw()
        .build()
        .expect("torch's AdamW defaults are valid");
    let mut group = c.benchmark_group("adam_step");
    for n in SIZES {
        let len = (n * n) as u64;
        configure_for_size(&mut group, n, 3);
        group.throughput(Throughput::ElementsAndBytes {
            elements: len,
            bytes: BYTES_PER_PARAM * len,
        });
        // Set-up runs inside the closures, once, so ids a filter leaves out cost nothing.
        let data = OnceCell::new();
        let data = || data.get_or_init(|| (random_vec(n * n, 5), random_vec(n * n, 6)));

        let mut state = None;
        group.bench_with_input(BenchmarkId::new("cpu", n), &n, |b, _| {
            let (param, grad) = data();
            let cpu = state.get_or_insert_with(|| CpuParam::<Adam>::new(1, param.len(), param));
            b.iter(|| cpu.step(&adam, black_box(grad)));
        });

        if let Some(gpu) = gpu_for(n) {
            let ctx = &gpu.ctx;
            let state = OnceCell::new();
            let state = || {
                state.get_or_init(|| {
                    let (param0, grad0) = data();
                    let param = GpuMatrix::from_slice(ctx, n, n, param0).expect("upload param");
                    let grad = GpuMatrix::from_slice(ctx, n, n, grad0).expect("upload grad");
                    let mut opt = GpuAdam::new(ctx, adam);
                    opt.add_param(&param, &grad).expect("register param");
                    opt.step();
                    let after = param.read(ctx).expect("read param");
                    let mut cpu = CpuParam::<Adam>::new(1, param0.len(), param0);
                    cpu.step(&adam, grad0);
                    let delta = |p: &[f32]| -> Vec<f32> {
                        p.iter().zip(param0).map(|(a, b)| a - b).collect()
                    };
                    let d = rel_diff(&delta(&after), &delta(&cpu.param));
                    assert!(
                        d < GPU_TOLERANCE,
                        "GPU AdamW update differs from muon-core's at {n}²: relative {d:e}"
                    );
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

criterion_group!(benches, bench_adam_step);
criterion_main!(benches);
