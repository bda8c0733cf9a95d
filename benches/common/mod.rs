//! Shared set-up for the criterion benches: sizes, FLOP counts, inputs, per-size criterion
//! settings, the GPU context, and the CPU peers (faer, nalgebra) of Newton–Schulz.
//!
//! Each bench binary uses a subset of this module, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod gpu;
pub mod peers;

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, SamplingMode};

/// Square sizes `n` (an `n × n` matrix) of the matrix groups: 16 to 4096.
pub const SIZES: [usize; 9] = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

/// Largest size the CPU implementations run at. One 2048² Newton–Schulz is 5 · 6 · 2048³ ≈ 258
/// GFLOP: tens of seconds to minutes per iteration on one core of a small machine, and criterion
/// needs at least ten, so those sizes are left to the GPU.
pub const CPU_MAX: usize = 1024;

/// From this size on a group takes ten flat samples with short warm-up and measurement times.
pub const LARGE: usize = 512;

/// FLOPs of `C = A·B` for `A: m×k`, `B: k×n` (one multiply and one add per term).
#[must_use]
pub fn matmul_flops(m: usize, k: usize, n: usize) -> u64 {
    2 * (m as u64) * (k as u64) * (n as u64)
}

/// FLOPs of Newton–Schulz on an `rows × cols` input, the count every report uses.
///
/// With `m = min(rows, cols)`, `n = max(rows, cols)`, each step is `A = X·Xᵀ` (`2m²n`),
/// `A²` (`2m³`) and `B·X` (`2m²n`): `4m²n + 2m³` per step, the nominal dense count. The
/// element-wise parts (normalisation, `bA`, `aX`) are `O(mn)` and not counted, and neither is
/// the saving of implementations that compute only one triangle of the symmetric `A` and `A²`
/// (muon-core does), so all implementations are compared on the same work.
#[must_use]
pub fn ns_flops(rows: usize, cols: usize, steps: u32) -> u64 {
    let (m, n) = (rows.min(cols) as u64, rows.max(cols) as u64);
    u64::from(steps) * (4 * m * m * n + 2 * m * m * m)
}

/// Deterministic pseudo-random values in `[-1, 1)` (SplitMix64), so every run and every
/// implementation sees the same matrix.
#[must_use]
pub fn random_vec(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            // 24 random bits → [0, 1) exactly representable in f32, then [-1, 1).
            ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// `‖a − b‖_F / ‖b‖_F` in `f64` (`‖a − b‖_F` when `b` is zero).
#[must_use]
pub fn rel_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "rel_diff: lengths differ");
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let d = f64::from(x) - f64::from(y);
        num += d * d;
        den += f64::from(y) * f64::from(y);
    }
    if den == 0.0 {
        num.sqrt()
    } else {
        (num / den).sqrt()
    }
}

/// Settings for size `n`: from [`LARGE`] on, ten flat samples (each sample the same number of
/// iterations, so a 1 s iteration costs ten iterations, not the 55 of linear sampling), 1 s
/// warm-up and `measurement` of measurement. Smaller sizes keep criterion's defaults or the
/// command line's `--warm-up-time`/`--measurement-time`/`--sample-size`.
pub fn configure_for_size(group: &mut BenchmarkGroup<'_, WallTime>, n: usize, measurement: u64) {
    if n >= LARGE {
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(measurement));
    }
}

/// Applies `MUON_CPU_KERNEL` (`portable`, `avx2`, `avx512`, `neon`; unset: the best this CPU supports)
/// to muon-core's products and prints the kernel the `cpu` ids run on. Panics on an unknown
/// or unsupported name, so a forced run never silently measures another path.
pub fn select_cpu_kernel() {
    use muon::cpu::linalg::{CpuKernel, cpu_kernel, force_cpu_kernel};
    if let Ok(name) = std::env::var("MUON_CPU_KERNEL") {
        let kernel = CpuKernel::from_name(&name).unwrap_or_else(|| {
            panic!("MUON_CPU_KERNEL={name}: not portable, avx2, avx512 or neon")
        });
        force_cpu_kernel(Some(kernel)).unwrap_or_else(|e| panic!("MUON_CPU_KERNEL={name}: {e}"));
    }
    eprintln!(
        "muon-core products run on the {} kernel",
        cpu_kernel().name()
    );
}

/// Prints, once per group, which sizes an implementation skips and why.
pub fn note_cpu_skip(group: &str) {
    eprintln!(
        "{group}: CPU ids skip sizes above {CPU_MAX} (one iteration takes tens of seconds to \
         minutes on a few cores; criterion needs at least ten)"
    );
}

/// One `rows × cols` parameter and its state (one flat buffer) for any core optimizer.
pub struct CpuParam<O> {
    /// The parameter, row-major.
    pub param: Vec<f32>,
    state: Vec<f32>,
    rows: usize,
    cols: usize,
    optimizer: std::marker::PhantomData<O>,
}

impl<O: muon::cpu::Optimizer> CpuParam<O> {
    /// The parameter `param` (`rows·cols` elements) with fresh state.
    pub fn new(rows: usize, cols: usize, param: &[f32]) -> Self {
        let len = O::state_len(rows, cols).expect("a non-empty shape");
        Self {
            param: param.to_vec(),
            state: vec![0.0; len],
            rows,
            cols,
            optimizer: std::marker::PhantomData,
        }
    }

    /// One step of `opt` from `grad`.
    pub fn step(&mut self, opt: &O, grad: &[f32]) {
        use muon::cpu::{MatMut, MatRef};
        let (rows, cols) = (self.rows, self.cols);
        let slots = O::slots(&mut self.state, rows, cols).expect("state sized by state_len");
        opt.step(
            MatMut::new(rows, cols, &mut self.param).expect("param shape"),
            MatRef::new(rows, cols, grad).expect("grad shape"),
            slots,
        )
        .expect("muon-core step");
    }
}
