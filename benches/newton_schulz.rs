//! Newton–Schulz orthogonalisation (quintic, 5 steps, `torch.optim.Muon`'s settings) on
//! `n × n` inputs, 16 to 4096.
//!
//! Ids: `cpu` (muon-core; threaded with `--features parallel`), `faer` and `nalgebra` (the
//! same algorithm, [`common::peers`], one thread), `faer-threaded` (faer on every core),
//! `gpu` (muon-gpu kernels: copy in, normalise, 5 steps, copy out; timed by waiting for the
//! device) and `gpu+readback` (upload the input, the kernels, read the result to the host).
//! Throughput is in FLOPs ([`common::ns_flops`]: `5 · (4m²n + 2m³)`, `30n³` for a square
//! input), so criterion's "elem/s" reads as FLOP/s.
//!
//! Before timing, each peer's output is checked against muon-core's on the same input
//! (relative Frobenius difference below [`PEER_TOLERANCE`]), and the GPU's below
//! [`GPU_TOLERANCE`] up to [`common::CPU_MAX`].
//!
//! ```text
//! cargo bench --bench newton_schulz                               # everything
//! cargo bench --bench newton_schulz -- 'newton_schulz/(cpu|faer|nalgebra)/(16|64|256)$'
//! ```

mod common;

use common::gpu::{gpu_for, time_submissions};
use common::peers::{
    FaerNs, NalgebraNs, faer_from_row_major, faer_to_row_major, nalgebra_from_row_major,
    nalgebra_to_row_major,
};
use common::{CPU_MAX, SIZES, configure_for_size, note_cpu_skip, ns_flops, random_vec, rel_diff};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use muon::cpu::newton_schulz::{NsConfig, newton_schulz, ns_scratch_len};
use muon::cpu::{MatMut, MatRef};
use muon::gpu::{GpuMatrix, GpuNewtonSchulz};
use std::cell::OnceCell;
use std::hint::black_box;
use std::sync::Once;

/// Largest relative difference allowed between a CPU peer's output and muon-core's.
const PEER_TOLERANCE: f64 = 1e-4;
/// Largest relative difference allowed between the GPU's output and muon-core's.
const GPU_TOLERANCE: f64 = 1e-3;

/// muon-core's Newton–Schulz of a row-major `rows × cols` matrix.
fn core_ns(rows: usize, cols: usize, input: &[f32], cfg: &NsConfig) -> Vec<f32> {
    let mut out = vec![0.0; rows * cols];
    let mut scratch = vec![0.0; ns_scratch_len(rows, cols)];
    newton_schulz(
        MatRef::new(rows, cols, input).expect("input shape"),
        MatMut::new(rows, cols, &mut out).expect("output shape"),
        &mut scratch,
        cfg,
    )
    .expect("muon-core newton_schulz");
    out
}

/// Panics unless `out` (peer `name`'s result) matches muon-core's `reference`.
fn check_peer(name: &str, out: &[f32], reference: &[f32]) {
    let d = rel_diff(out, reference);
    assert!(
        d < PEER_TOLERANCE,
        "{name} Newton–Schulz differs from muon-core's: relative {d:e}"
    );
}

/// Checks both peers' tall path (transpose in, transpose out) once, on a 48×24 input.
fn check_tall_shape(cfg: &NsConfig) {
    static DONE: Once = Once::new();
    DONE.call_once(|| {
        let (rows, cols) = (48, 24);
        let input = random_vec(rows * cols, 7);
        let reference = core_ns(rows, cols, &input, cfg);
        let mut faer_ns = FaerNs::new(rows, cols, *cfg);
        let x = faer_from_row_major(rows, cols, &input);
        check_peer(
            "faer",
            &faer_to_row_major(faer_ns.run(x.as_ref())),
            &reference,
        );
        let mut na_ns = NalgebraNs::new(rows, cols, *cfg);
        let x = nalgebra_from_row_major(rows, cols, &input);
        check_peer(
            "nalgebra",
            &nalgebra_to_row_major(na_ns.run(&x)),
            &reference,
        );
    });
}

fn bench_newton_schulz(c: &mut Criterion) {
    common::select_cpu_kernel();
    let cfg = NsConfig::default();
    let mut group = c.benchmark_group("newton_schulz");
    note_cpu_skip("newton_schulz");
    for n in SIZES {
        configure_for_size(&mut group, n, 5);
        group.throughput(Throughput::Elements(ns_flops(n, n, cfg.steps)));
        // Set-up runs inside the closures, once, so ids a filter leaves out cost nothing.
        let input = OnceCell::new();
        let input = || input.get_or_init(|| random_vec(n * n, 1));
        let reference = OnceCell::new();
        let reference = || reference.get_or_init(|| core_ns(n, n, input(), &cfg));

        if n <= CPU_MAX {
            let mut state = None;
            group.bench_with_input(BenchmarkId::new("cpu", n), &n, |b, &n| {
                let (out, scratch) = state
                    .get_or_insert_with(|| (vec![0.0; n * n], vec![0.0; ns_scratch_len(n, n)]));
                b.iter(|| {
                    newton_schulz(
                        MatRef::new(n, n, black_box(input())).expect("input shape"),
                        MatMut::new(n, n, out).expect("output shape"),
                        scratch,
                        &cfg,
                    )
                    .expect("muon-core newton_schulz");
                });
            });
            let mut state = None;
            group.bench_with_input(BenchmarkId::new("faer", n), &n, |b, &n| {
                let (x, ns) = state.get_or_insert_with(|| {
                    check_tall_shape(&cfg);
                    let x = faer_from_row_major(n, n, input());
                    let mut ns = FaerNs::new(n, n, cfg);
                    check_peer("faer", &faer_to_row_major(ns.run(x.as_ref())), reference());
                    (x, ns)
                });
                b.iter(|| {
                    black_box(ns.run(black_box(x.as_ref())));
                });
            });
            let mut state = None;
            group.bench_with_input(BenchmarkId::new("faer-threaded", n), &n, |b, &n| {
                let (x, ns) = state.get_or_insert_with(|| {
                    let x = faer_from_row_major(n, n, input());
                    let mut ns = FaerNs::new(n, n, cfg).threaded();
                    check_peer("faer", &faer_to_row_major(ns.run(x.as_ref())), reference());
                    (x, ns)
                });
                b.iter(|| {
                    black_box(ns.run(black_box(x.as_ref())));
                });
            });
            let mut state = None;
            group.bench_with_input(BenchmarkId::new("nalgebra", n), &n, |b, &n| {
                let (x, ns) = state.get_or_insert_with(|| {
                    check_tall_shape(&cfg);
                    let x = nalgebra_from_row_major(n, n, input());
                    let mut ns = NalgebraNs::new(n, n, cfg);
                    check_peer("nalgebra", &nalgebra_to_row_major(ns.run(&x)), reference());
                    (x, ns)
                });
                b.iter(|| {
                    black_box(ns.run(black_box(x)));
                });
            });
        }

        if let Some(gpu) = gpu_for(n) {
            let ctx = &gpu.ctx;
            let state = OnceCell::new();
            let state = || {
                state.get_or_init(|| {
                    let plan =
                        GpuNewtonSchulz::new(ctx, n, n, &cfg).expect("GPU Newton–Schulz plan");
                    let x = GpuMatrix::from_slice(ctx, n, n, input()).expect("upload input");
                    let out = GpuMatrix::zeros(ctx, n, n).expect("GPU output");
                    plan.run(ctx, &x, &out).expect("GPU Newton–Schulz");
                    let got = out.read(ctx).expect("read GPU result");
                    if n <= CPU_MAX {
                        let d = rel_diff(&got, reference());
                        assert!(
                            d < GPU_TOLERANCE,
                            "GPU Newton–Schulz differs from muon-core's at {n}²: relative {d:e}"
                        );
                    } else {
                        assert!(got.iter().all(|v| v.is_finite()), "GPU result not finite");
                    }
                    (plan, x, out)
                })
            };
            group.bench_with_input(BenchmarkId::new("gpu", n), &n, |b, _| {
                let (plan, x, out) = state();
                b.iter_custom(|iters| {
                    time_submissions(ctx, iters, || {
                        plan.run(ctx, x, out).expect("GPU Newton–Schulz");
                    })
                });
            });
            group.bench_with_input(BenchmarkId::new("gpu+readback", n), &n, |b, _| {
                let (plan, x, out) = state();
                b.iter(|| {
                    x.write(ctx, black_box(input())).expect("upload input");
                    plan.run(ctx, x, out).expect("GPU Newton–Schulz");
                    black_box(out.read(ctx).expect("read GPU result"))
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_newton_schulz);
criterion_main!(benches);
