//! Matrix multiply `C = A·B` of `n × n` matrices, 16 to 4096.
//!
//! Ids: `cpu` (`muon_core::linalg::matmul`; threaded with `--features parallel`), `faer`
//! (`Par::Seq`) and `nalgebra` (`gemm`), single-threaded; `faer-threaded` (`Par::rayon(0)`,
//! every core); `gpu` (the `matmul.wgsl` kernel, inputs resident; timed by waiting for the
//! device) and `gpu+readback` (upload `A` and `B`, the kernel, read `C` to the host).
//! Throughput is `2n³` FLOPs, so criterion's "elem/s" reads as FLOP/s.
//!
//! Before timing, every implementation's product is checked against muon-core's (relative
//! Frobenius difference below [`TOLERANCE`]) up to [`common::CPU_MAX`].
//!
//! ```text
//! cargo bench --bench matmul
//! cargo bench --bench matmul -- 'matmul/(cpu|faer)/(64|256)$'
//! ```

mod common;

use std::cell::OnceCell;
use std::hint::black_box;

use common::gpu::{GpuMatmul, gpu_for, time_submissions};
use common::peers::{
    faer_from_row_major, faer_to_row_major, nalgebra_from_row_major, nalgebra_to_row_major,
};
use common::{
    CPU_MAX, SIZES, configure_for_size, matmul_flops, note_cpu_skip, random_vec, rel_diff,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faer::linalg::matmul::matmul as faer_matmul;
use faer::{Accum, Mat, Par};
use muon::cpu::linalg::matmul;
use muon::cpu::{MatMut, MatRef};
use nalgebra::DMatrix;

/// Largest relative difference allowed between any product and muon-core's.
const TOLERANCE: f64 = 1e-5;

/// muon-core's `A·B` of row-major `n × n` matrices.
fn core_matmul(n: usize, a: &[f32], b: &[f32], out: &mut [f32]) {
    matmul(
        MatRef::new(n, n, a).expect("A shape"),
        MatRef::new(n, n, b).expect("B shape"),
        MatMut::new(n, n, out).expect("C shape"),
    )
    .expect("muon-core matmul");
}

/// Panics unless `got` matches `reference`, naming the implementation.
fn check(name: &str, n: usize, got: &[f32], reference: &[f32]) {
    let d = rel_diff(got, reference);
    assert!(
        d < TOLERANCE,
        "{name} matmul differs from muon-core's at {n}²: relative {d:e}"
    );
}

fn bench_matmul(c: &mut Criterion) {
    common::select_cpu_kernel();
    let mut group = c.benchmark_group("matmul");
    note_cpu_skip("matmul");
    for n in SIZES {
        configure_for_size(&mut group, n, 3);
        group.throughput(Throughput::Elements(matmul_flops(n, n, n)));
        // Set-up runs inside the closures, once, so ids a filter leaves out cost nothing.
        let inputs = OnceCell::new();
        let inputs = || inputs.get_or_init(|| (random_vec(n * n, 1), random_vec(n * n, 2)));
        let reference = OnceCell::new();
        let reference = || {
            reference.get_or_init(|| {
                let (a, b) = inputs();
                let mut out = vec![0.0; n * n];
                core_matmul(n, a, b, &mut out);
                out
            })
        };

        if n <= CPU_MAX {
            let mut out = vec![0.0; n * n];
            group.bench_with_input(BenchmarkId::new("cpu", n), &n, |bench, &n| {
                let (a, b) = inputs();
                bench.iter(|| core_matmul(n, black_box(a), black_box(b), &mut out));
            });
            let mut state = None;
            group.bench_with_input(BenchmarkId::new("faer", n), &n, |bench, &n| {
                let (a, b, out) = state.get_or_insert_with(|| {
                    let (a, b) = inputs();
                    let a = faer_from_row_major(n, n, a);
                    let b = faer_from_row_major(n, n, b);
                    let mut out = Mat::<f32>::zeros(n, n);
                    faer_matmul(out.as_mut(), Accum::Replace, &a, &b, 1.0, Par::Seq);
                    check("faer", n, &faer_to_row_major(out.as_ref()), reference());
                    (a, b, out)
                });
                bench.iter(|| {
                    faer_matmul(
                        out.as_mut(),
                        Accum::Replace,
                        black_box(&*a),
                        black_box(&*b),
                        1.0,
                        Par::Seq,
                    );
                });
            });
            let mut state = None;
            group.bench_with_input(BenchmarkId::new("faer-threaded", n), &n, |bench, &n| {
                let (a, b, out) = state.get_or_insert_with(|| {
                    let (a, b) = inputs();
                    let a = faer_from_row_major(n, n, a);
                    let b = faer_from_row_major(n, n, b);
                    let mut out = Mat::<f32>::zeros(n, n);
                    faer_matmul(out.as_mut(), Accum::Replace, &a, &b, 1.0, Par::rayon(0));
                    check("faer", n, &faer_to_row_major(out.as_ref()), reference());
                    (a, b, out)
                });
                bench.iter(|| {
                    faer_matmul(
                        out.as_mut(),
                        Accum::Replace,
                        black_box(&*a),
                        black_box(&*b),
                        1.0,
                        Par::rayon(0),
                    );
                });
            });
            let mut state = None;
            group.bench_with_input(BenchmarkId::new("nalgebra", n), &n, |bench, &n| {
                let (a, b, out) = state.get_or_insert_with(|| {
                    let (a, b) = inputs();
                    let a = nalgebra_from_row_major(n, n, a);
                    let b = nalgebra_from_row_major(n, n, b);
                    let mut out = DMatrix::<f32>::zeros(n, n);
                    out.gemm(1.0, &a, &b, 0.0);
                    check("nalgebra", n, &nalgebra_to_row_major(&out), reference());
                    (a, b, out)
                });
                bench.iter(|| out.gemm(1.0, black_box(&*a), black_box(&*b), 0.0));
            });
        }

        if let Some(gpu) = gpu_for(n) {
            let ctx = &gpu.ctx;
            let plan = OnceCell::new();
            let plan = || {
                plan.get_or_init(|| {
                    let (a, b) = inputs();
                    let plan =
                        GpuMatmul::new(ctx, (n, n, n), a, b, None).expect("GPU matmul set-up");
                    plan.submit(ctx);
                    let got = plan.c.read(ctx).expect("read GPU result");
                    if n <= CPU_MAX {
                        // The GPU accumulates in a different order: allow f32 rounding of
                        // n-term sums.
                        let d = rel_diff(&got, reference());
                        assert!(
                            d < 1e-4,
                            "GPU matmul differs from muon-core's at {n}²: {d:e}"
                        );
                    }
                    plan
                })
            };
            group.bench_with_input(BenchmarkId::new("gpu", n), &n, |bench, _| {
                let plan = plan();
                bench.iter_custom(|iters| time_submissions(ctx, iters, || plan.submit(ctx)));
            });
            group.bench_with_input(BenchmarkId::new("gpu+readback", n), &n, |bench, _| {
                let plan = plan();
                let (a, b) = inputs();
                bench.iter(|| {
                    plan.a.write(ctx, black_box(a)).expect("upload A");
                    plan.b.write(ctx, black_box(b)).expect("upload B");
                    plan.submit(ctx);
                    black_box(plan.c.read(ctx).expect("read GPU result"))
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_matmul);
criterion_main!(benches);
