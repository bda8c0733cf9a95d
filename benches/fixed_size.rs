//! The const-generic (`Matrix<R, C>`, no heap) core kernels at the sizes an embedded user
//! runs: 4×4 to 64×64, `cpu` id only.
//!
//! Groups: `fixed/newton_schulz` (`newton_schulz` on `Matrix` views with a stack scratch;
//! FLOPs as [`common::ns_flops`]), `fixed/muon_step` (`Muon::step_fixed` with a `MuonState`;
//! the step's Newton–Schulz FLOPs) and `fixed/adam_step` (`Adam::step_fixed` with an
//! `AdamState`, `f32` moments; parameters per second).
//!
//! ```text
//! cargo bench --bench fixed_size
//! ```

mod common;

use std::hint::black_box;

use common::{ns_flops, random_vec};
use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use muon::cpu::Matrix;
use muon::cpu::adam::{Adam, AdamConfig, AdamState};
use muon::cpu::muon::{Muon, MuonConfig, MuonState};
use muon::cpu::newton_schulz::{NsConfig, newton_schulz, ns_scratch_len};

/// A deterministic `N × N` matrix with entries in `[-1, 1)`.
fn random_matrix<const N: usize>(seed: u64) -> Matrix<N, N> {
    let v = random_vec(N * N, seed);
    Matrix::from_fn(|i, j| v[i * N + j])
}

/// The parameter label: `"N×N"`.
fn label<const N: usize>() -> String {
    format!("{N}x{N}")
}

fn ns_fixed<const N: usize>(group: &mut BenchmarkGroup<'_, WallTime>, cfg: &NsConfig) {
    let input = random_matrix::<N>(1);
    let mut out = Matrix::<N, N>::ZERO;
    // `ns_scratch_len(N, N)` = 4·N² floats: four matrices on the stack.
    let mut scratch = [Matrix::<N, N>::ZERO; 4];
    assert_eq!(4 * N * N, ns_scratch_len(N, N), "scratch layout");
    group.throughput(Throughput::Elements(ns_flops(N, N, cfg.steps)));
    group.bench_function(BenchmarkId::new("cpu", label::<N>()), |b| {
        b.iter(|| {
            newton_schulz(
                black_box(&input).as_ref(),
                out.as_mut(),
                bytemuck::cast_slice_mut(&mut scratch),
                cfg,
            )
            .expect("muon-core newton_schulz");
        });
    });
}

fn muon_fixed<const N: usize>(group: &mut BenchmarkGroup<'_, WallTime>, muon: &Muon) {
    let mut param = random_matrix::<N>(3);
    let grad = random_matrix::<N>(4);
    let mut state = MuonState::<N, N>::new();
    group.throughput(Throughput::Elements(ns_flops(N, N, muon.config().ns.steps)));
    group.bench_function(BenchmarkId::new("cpu", label::<N>()), |b| {
        b.iter(|| {
            muon.step_fixed(&mut param, black_box(&grad), &mut state)
                .expect("muon-core Muon step");
        });
    });
}

fn adam_fixed<const N: usize>(group: &mut BenchmarkGroup<'_, WallTime>, adam: &Adam) {
    let mut param = random_matrix::<N>(5);
    let grad = random_matrix::<N>(6);
    let mut state = AdamState::<N, N, f32>::new();
    group.throughput(Throughput::Elements((N * N) as u64));
    group.bench_function(BenchmarkId::new("cpu", label::<N>()), |b| {
        b.iter(|| {
            adam.step_fixed(&mut param, black_box(&grad), &mut state)
                .expect("muon-core AdamW step");
        });
    });
}

fn bench_fixed_newton_schulz(c: &mut Criterion) {
    common::select_cpu_kernel();
    let cfg = NsConfig::default();
    let mut group = c.benchmark_group("fixed/newton_schulz");
    ns_fixed::<4>(&mut group, &cfg);
    ns_fixed::<8>(&mut group, &cfg);
    ns_fixed::<16>(&mut group, &cfg);
    ns_fixed::<32>(&mut group, &cfg);
    ns_fixed::<64>(&mut group, &cfg);
    group.finish();
}

fn bench_fixed_muon_step(c: &mut Criterion) {
    let muon = MuonConfig::new()
        .build()
        .expect("torch's Muon defaults are valid");
    let mut group = c.benchmark_group("fixed/muon_step");
    muon_fixed::<4>(&mut group, &muon);
    muon_fixed::<8>(&mut group, &muon);
    muon_fixed::<16>(&mut group, &muon);
    muon_fixed::<32>(&mut group, &muon);
    muon_fixed::<64>(&mut group, &muon);
    group.finish();
}

fn bench_fixed_adam_step(c: &mut Criterion) {
    let adam = AdamConfig::adamw()
        .build()
        .expect("torch's AdamW defaults are valid");
    let mut group = c.benchmark_group("fixed/adam_step");
    adam_fixed::<4>(&mut group, &adam);
    adam_fixed::<8>(&mut group, &adam);
    adam_fixed::<16>(&mut group, &adam);
    adam_fixed::<32>(&mut group, &adam);
    adam_fixed::<64>(&mut group, &adam);
    group.finish();
}

criterion_group!(
    benches,
    bench_fixed_newton_schulz,
    bench_fixed_muon_step,
    bench_fixed_adam_step
);
criterion_main!(benches);
