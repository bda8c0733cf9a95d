//! The fast (`f16`-operand) product path and the self-check that guards it.
//!
//! [`Precision::F16`] runs every Newton–Schulz product with `f16` operands and `f32` sums:
//! on tensor cores ([`crate::kernels::TensorMatmul`], cooperative matrices) where the adapter
//! has them, else on the `f32` tiled kernel with its operands rounded to `f16` (same numerics,
//! no speed-up). A context checks that path once, on first use, against the CPU core: a few
//! products of awkward shapes (edges, transposes, the epilogue). If the results are off, the
//! context says so once (a `log` warning) and runs every later `F16` request in `f32`;
//! [`crate::GpuContext::fast_path_status`] tells which happened.

use std::fmt;

use muon_core::linalg::matmul;
use muon_core::{MatMut, MatRef};

use crate::kernels::{MatmulParams, storage_buffer_zeroed, uniform_buffer};
use crate::readback::read_f32;
use crate::{GpuContext, GpuError, GpuMatrix};

/// Arithmetic of the Newton–Schulz products (the element-wise parts are always `f32`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// `f32` operands and sums: the reference path, within rounding of the CPU core.
    #[default]
    F32,
    /// `f16` operands, `f32` sums: tensor cores where the adapter has them (like
    /// `torch.optim.Muon`'s bf16 Newton–Schulz, with 3 more mantissa bits and `f32`
    /// accumulation). After the Frobenius normalisation every entry of the input is at most 1
    /// in magnitude, and for the preset coefficients nothing the iteration forms exceeds ~40
    /// (`NsConfig::magnitude_bound`: 13.4 for the quintic, 38.9 for Polar Express), so `f16`'s
    /// range is no limit there; coefficients whose bound exceeds 1e4 are refused for `F16`.
    /// Its 11-bit mantissa is the limit. Checked once per context
    /// ([`crate::GpuContext::fast_path_status`]); falls back to `F32` if the check fails.
    F16,
}

/// Which kernel runs the `f16`-operand products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FastEngine {
    /// Cooperative matrices (`matmul_coop.wgsl`): tensor cores, on Vulkan adapters that
    /// report 16×16×16 `f16 → f32` cooperative matrices and 32-wide subgroups (NVIDIA).
    TensorCores,
    /// The `f32` tiled kernel with operands rounded to `f16` on load: the same numerics on an
    /// adapter without cooperative matrices, at `f32` speed.
    Emulated,
}

/// What a context does with [`Precision::F16`] requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FastPathStatus {
    /// Not used yet: the self-check runs the first time a plan asks for `F16`.
    Unchecked,
    /// The self-check passed: `F16` runs on this engine.
    Ready(FastEngine),
    /// The self-check failed: `F16` requests run in `F32` in this context.
    FellBack {
        /// The engine that failed.
        engine: FastEngine,
        /// What was wrong (the worst product, its error and the bound it broke).
        reason: String,
    },
}

impl FastPathStatus {
    /// The engine `F16` requests run on, or `None` (unchecked, or fell back to `f32`).
    #[must_use]
    pub fn engine(&self) -> Option<FastEngine> {
        match self {
            Self::Ready(engine) => Some(*engine),
            _ => None,
        }
    }
}

impl fmt::Display for FastPathStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unchecked => write!(f, "f16 path not checked yet"),
            Self::Ready(e) => write!(f, "f16 path ready ({e:?})"),
            Self::FellBack { engine, reason } => {
                write!(
                    f,
                    "f16 path ({engine:?}) failed its self-check, using f32: {reason}"
                )
            }
        }
    }
}

/// The per-context state behind [`crate::GpuContext::fast_path_status`].
#[derive(Debug)]
pub(crate) struct FastState {
    pub(crate) status: FastPathStatus,
    /// Test hook: corrupt the GPU results the self-check compares.
    pub(crate) inject_fault: bool,
}

impl FastState {
    pub(crate) fn new() -> Self {
        Self {
            status: FastPathStatus::Unchecked,
            inject_fault: false,
        }
    }
}

/// Allowed error of one self-check output, relative to `Σ_k |α·l_ik·r_kj| + |β·d_ij|`: the
/// two sides differ by summation order (about `k·2⁻²⁴` of that) and, where a driver converts
/// `f32 → f16` other than to nearest, by one `f16` unit (`2⁻¹¹`) per operand; a missing tile,
/// a wrong layout or a lost epilogue is off by a sizeable fraction of it.
const SELF_CHECK_TOL: f64 = 2e-3;

/// The self-check's products: `(m, k, n, flags, alpha, beta)`, shapes that cross the
/// kernels' block edges (64 and 128), with both transposes, the epilogue, and a symmetric
/// product (a Gram product `X·Xᵀ` with a symmetric `D`, as Newton–Schulz runs it).
const SELF_CHECK_CASES: [(usize, usize, usize, u32, f32, f32); 6] = [
    (1, 1, 1, 0, 1.0, 0.0),
    (17, 33, 5, 0, 1.0, 0.0),
    (130, 47, 129, MatmulParams::TRANS_A, -0.75, 0.0),
    (64, 200, 70, MatmulParams::TRANS_B, 1.0, 0.0),
    (129, 144, 257, 0, 2.0315, -4.775),
    (
        257,
        40,
        257,
        MatmulParams::TRANS_B | MatmulParams::SYMMETRIC,
        1.5,
        -0.5,
    ),
];

/// Deterministic test values in ±[1e-3, 1] (no `f16` subnormals, which the emulated path
/// flushes), from a 64-bit LCG seeded by `seed`.
fn check_values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let u = (s >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
            let mag = 1e-3 + 0.999 * u;
            if s & (1 << 20) == 0 { mag } else { -mag }
        })
        .collect()
}

/// `v` rounded to `f16` and back.
fn round_f16(v: f32) -> f32 {
    half::f16::from_f32(v).to_f32()
}

/// Row-major `rows × cols` → its transpose.
fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = v[r * cols + c];
        }
    }
    t
}

/// Runs the self-check of `engine` on `ctx`: `Ok(None)` if every product is within
/// [`SELF_CHECK_TOL`], `Ok(Some(reason))` if one is not.
///
/// # Errors
/// A [`GpuError`] if the device fails (allocation, readback): no verdict then.
pub(crate) fn self_check(
    ctx: &GpuContext,
    engine: FastEngine,
    inject_fault: bool,
) -> Result<Option<String>, GpuError> {
    let mut worst: Option<(f64, String)> = None;
    for (case, &(m, k, n, flags, alpha, beta)) in SELF_CHECK_CASES.iter().enumerate() {
        let seed = case as u64 * 3;
        let a = check_values(m * k, seed + 1); // stored k×m when TRANS_A
        let mut b = check_values(k * n, seed + 2); // stored n×k when TRANS_B
        let mut d = check_values(m * n, seed + 3);
        if flags & MatmulParams::SYMMETRIC != 0 {
            // X·Xᵀ (B = A, stored transposed) plus a symmetric D.
            b.clone_from(&a);
            d = symmetric_part(&d, n);
        }
        let mut got = gpu_product(ctx, engine, (m, k, n), flags, (alpha, beta), (&a, &b, &d))?;
        if inject_fault && let Some(first) = got.first_mut() {
            *first += 1.0;
        }
        // The CPU core on the same f16-rounded operands, untransposed.
        let mut l: Vec<f32> = a.iter().copied().map(round_f16).collect();
        if flags & MatmulParams::TRANS_A != 0 {
            l = transpose(&l, k, m);
        }
        let mut r: Vec<f32> = b.iter().copied().map(round_f16).collect();
        if flags & MatmulParams::TRANS_B != 0 {
            r = transpose(&r, n, k);
        }
        let abs_l: Vec<f32> = l.iter().map(|v| v.abs()).collect();
        let abs_r: Vec<f32> = r.iter().map(|v| v.abs()).collect();
        let mut prod = vec![0.0; m * n];
        let mut bound = vec![0.0; m * n];
        let core_product = |x: &[f32], y: &[f32], out: &mut [f32]| {
            matmul(
                MatRef::new(m, k, x)?,
                MatRef::new(k, n, y)?,
                MatMut::new(m, n, out)?,
            )
        };
        core_product(&l, &r, &mut prod)?;
        core_product(&abs_l, &abs_r, &mut bound)?;
        let epilogue = Epilogue { alpha, beta, d: &d };
        if let Some((err, i, want)) = worst_error(&got, &prod, &bound, &epilogue)
            && worst.as_ref().is_none_or(|(w, _)| err > *w)
        {
            let reason = format!(
                "product {m}×{k}·{k}×{n} (flags {flags}): element {i} is {} where the CPU \
                 core gives {want:.6e} (error {err:.2e} of its magnitude bound, allowed \
                 {SELF_CHECK_TOL:.0e})",
                got[i]
            );
            worst = Some((err, reason));
        }
    }
    Ok(worst.map(|(_, reason)| reason))
}

/// The `n × n` matrix whose upper triangle is `x`'s, mirrored below the diagonal.
fn symmetric_part(x: &[f32], n: usize) -> Vec<f32> {
    let mut s = x.to_vec();
    for r in 0..n {
        for c in 0..r {
            s[r * n + c] = x[c * n + r];
        }
    }
    s
}

/// The epilogue `α·P + β·D` of a checked product.
struct Epilogue<'a> {
    alpha: f32,
    beta: f32,
    d: &'a [f32],
}

/// The worst output of a product beyond [`SELF_CHECK_TOL`]: `(error, index, expected)`, the
/// error relative to the output's magnitude bound `|α|·Σ|l||r| + |β·d|` (`bound` holds
/// `Σ|l||r|`, `prod` the core's `Σ l·r`); `None` if every output is within it. A NaN output,
/// or a `got` of the wrong length, counts as an infinite error.
fn worst_error(
    got: &[f32],
    prod: &[f32],
    bound: &[f32],
    e: &Epilogue<'_>,
) -> Option<(f64, usize, f64)> {
    if got.len() != prod.len() {
        // A readback of the wrong length is a failed check, not a shorter one.
        return Some((f64::INFINITY, got.len().min(prod.len()), f64::NAN));
    }
    let mut worst: Option<(f64, usize, f64)> = None;
    for i in 0..got.len() {
        let (alpha, beta, d) = (f64::from(e.alpha), f64::from(e.beta), f64::from(e.d[i]));
        let want = alpha * f64::from(prod[i]) + beta * d;
        let scale = alpha.abs() * f64::from(bound[i]) + beta.abs() * d.abs();
        let err = (f64::from(got[i]) - want).abs() / scale.max(f64::MIN_POSITIVE);
        let err = if err.is_nan() { f64::INFINITY } else { err };
        if err > SELF_CHECK_TOL && worst.is_none_or(|(w, _, _)| err > w) {
            worst = Some((err, i, want));
        }
    }
    worst
}

/// `α·op(A)·op(B) + β·D` of `(m, k, n)` on `engine`, read back.
fn gpu_product(
    ctx: &GpuContext,
    engine: FastEngine,
    (m, k, n): (usize, usize, usize),
    flags: u32,
    (alpha, beta): (f32, f32),
    (a, b, d): (&[f32], &[f32], &[f32]),
) -> Result<Vec<f32>, GpuError> {
    let device = ctx.device();
    let ga = GpuMatrix::from_slice(ctx, m, k, a)?;
    let gb = GpuMatrix::from_slice(ctx, k, n, b)?;
    let gd = GpuMatrix::from_slice(ctx, m, n, d)?;
    let out = storage_buffer_zeroed(device, "self-check out", (m * n * 4) as u64);
    let params = MatmulParams {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        flags,
        alpha,
        beta,
        ..MatmulParams::default()
    };
    let u = uniform_buffer(device, "self-check params", &params);
    let kernels = ctx.kernels();
    let bg = kernels.matmul.bind_group(
        device,
        &u,
        ga.binding(),
        gb.binding(),
        gd.binding(),
        out.as_entire_buffer_binding(),
    );
    let (mu, nu) = (m as u32, n as u32);
    ctx.submit_pass("fast-path self-check", |pass| {
        kernels.dispatch_product(pass, &bg, mu, nu, Some(engine));
    });
    read_f32(ctx, &out, m * n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values_are_bounded_and_signed() {
        let v = check_values(10_000, 7);
        assert!(v.iter().all(|x| (1e-3..=1.0).contains(&x.abs())));
        let negative = v.iter().filter(|x| **x < 0.0).count();
        assert!((4_000..6_000).contains(&negative), "{negative}");
        assert_ne!(check_values(4, 1), check_values(4, 2));
    }

    #[test]
    fn transpose_swaps_indices() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2×3
        assert_eq!(transpose(&v, 2, 3), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }

    #[test]
    fn worst_error_measures_against_the_magnitude_bound() {
        // Two outputs: P = (2, −3) with Σ|l||r| = (4, 5); α = 0.5, β = −2, D = (1, 0.25):
        // expected (−1, −2), bounds 0.5·4 + 2·1 = 4 and 0.5·5 + 2·0.25 = 3.
        let (prod, bound) = ([2.0, -3.0], [4.0, 5.0]);
        let d = [1.0, 0.25];
        let e = Epilogue {
            alpha: 0.5,
            beta: -2.0,
            d: &d,
        };
        assert_eq!(worst_error(&[-1.0, -2.0], &prod, &bound, &e), None);
        // Within the tolerance of each bound: 1.9e-3 · 4 and 1.9e-3 · 3.
        assert_eq!(
            worst_error(&[-1.0 + 0.0076, -2.0 - 0.0057], &prod, &bound, &e),
            None
        );
        // Just over it on the second output only: 2.1e-3 · 3.
        let (err, i, want) = worst_error(&[-1.0, -2.0 + 0.0063], &prod, &bound, &e).unwrap();
        assert_eq!((i, want), (1, -2.0));
        assert!((err - 2.1e-3).abs() < 1e-6, "{err}");
        // The worse of two bad outputs; NaN is the worst.
        let (_, i, _) = worst_error(&[-1.04, -2.0 + 0.06], &prod, &bound, &e).unwrap();
        assert_eq!(i, 1);
        let (err, i, _) = worst_error(&[f32::NAN, -2.03], &prod, &bound, &e).unwrap();
        assert_eq!((err, i), (f64::INFINITY, 0));
        // Fewer outputs than the product has: a failure, not a shorter comparison.
        let (err, i, _) = worst_error(&[-1.0], &prod, &bound, &e).unwrap();
        assert_eq!((err, i), (f64::INFINITY, 1));
    }

    #[test]
    fn only_a_ready_status_has_an_engine() {
        for engine in [FastEngine::TensorCores, FastEngine::Emulated] {
            assert_eq!(FastPathStatus::Ready(engine).engine(), Some(engine));
            let fell_back = FastPathStatus::FellBack {
                engine,
                reason: String::new(),
            };
            assert_eq!(fell_back.engine(), None);
        }
        assert_eq!(FastPathStatus::Unchecked.engine(), None);
    }

    #[test]
    fn status_names_the_fallback() {
        let s = FastPathStatus::FellBack {
            engine: FastEngine::TensorCores,
            reason: "off".into(),
        };
        assert!(s.to_string().contains("using f32"));
    }
}
