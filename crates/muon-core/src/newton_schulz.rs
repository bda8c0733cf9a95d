//! Newton–Schulz orthogonalisation: `X ↦ ≈ U Vᵀ` for `X = U Σ Vᵀ`.
//!
//! # Algorithm
//! For an `r × c` input with `m = min(r, c)`, `n = max(r, c)`:
//! 1. work on `X` (`m × n`): the input, transposed when `r > c` (fewer FLOPs: the Gram
//!    matrix is `m × m`);
//! 2. normalise: `X ← X / max(s‖X‖_F, eps)` ([`NsNormalization::ClampMax`], PyTorch) or
//!    `X ← X / (s‖X‖_F + eps)` ([`NsNormalization::AddEps`], Keller Jordan's original and
//!    Polar Express), with `s` = [`NsConfig::norm_scale`];
//! 3. `steps` times, with that step's coefficients `(a, b, c)`:
//!    `A = X Xᵀ`, `B = bA + cA²`, `X ← aX + B X`, which maps every singular value `σ` to
//!    `aσ + bσ³ + cσ⁵`;
//! 4. transpose back when `r > c`.
//!
//! The zero matrix (or any with `‖X‖_F = 0`) returns the zero matrix, never NaN.
//!
//! # Finite in, finite out (where this differs from PyTorch)
//! The norm is accumulated in `f64` and the input is normalised with an `f32` factor
//! `1 / max(s‖X‖_F, eps)` when that factor is a normal `f32`, which covers every case PyTorch
//! computes finitely (bit for bit as before). When it is not (`eps = 0` or subnormal and a
//! norm below ~3e-39, e.g. a momentum decayed into subnormals, or a norm beyond ~1e38), each
//! element is normalised in `f64` instead: the output is the orthogonalised tiny (or huge)
//! matrix, where PyTorch's `1/‖X‖` is +∞ and the output is NaN. Coefficients that make the
//! iteration diverge are the one way left to a non-finite result: it is returned as
//! [`MuonError::NonFiniteResult`] and nothing is written.
//!
//! With the quintic `(3.4445, −4.7750, 2.0315)` and 5 steps the output singular values land
//! in about `[0.5, 1.2]` by design (fast, not exact). The Polar Express schedule drives them
//! to about `[0.84, 1.12]` in 5 steps and `[0.994, 1.001]` in 6 or more.
//!
//! # References
//! - PyTorch `torch/optim/_muon.py` (`_zeropower_via_newtonschulz`).
//! - K. Jordan et al., "Muon: An optimizer for hidden layers in neural networks" (2024).
//! - N. Amsel, D. Persson, C. Musco, R. M. Gower, "The Polar Express: Optimal Matrix Sign
//!   Methods and Their Application to the Muon Algorithm" (2025), Algorithm 1.

use crate::linalg::{
    frobenius_norm_f64, gram_raw, matmul_raw, square_symmetric_raw, transpose_raw,
};
use crate::{MatMut, MatRef, MuonError, validate};

/// Keller Jordan's quintic coefficients, PyTorch's default: `(3.4445, −4.7750, 2.0315)`.
pub const QUINTIC: (f32, f32, f32) = (3.4445, -4.7750, 2.0315);

/// The Polar Express degree-5 schedule (Amsel et al. 2025, Algorithm 1), in `f64` as
/// published, before the safety factor.
const POLAR_EXPRESS_RAW: [(f64, f64, f64); 8] = [
    (8.28721201814563, -23.595886519098837, 17.300387312530933),
    (4.107059111542203, -2.9478499167379106, 0.5448431082926601),
    (3.9486908534822946, -2.908902115962949, 0.5518191394370137),
    (3.3184196573706015, -2.488488024314874, 0.51004894012372),
    (2.300652019954817, -1.6689039845747493, 0.4188073119525673),
    (1.891301407787398, -1.2679958271945868, 0.37680408948524835),
    (1.8750014808534479, -1.2500016453999487, 0.3750001645474248),
    (1.875, -1.25, 0.375),
];

/// Safety factor of Algorithm 1: every polynomial but the last is evaluated at `x / 1.01`
/// (so `a/1.01`, `b/1.01³`, `c/1.01⁵`), and the input norm is multiplied by 1.01.
const POLAR_EXPRESS_SAFETY: f64 = 1.01;

const fn polar_express_table() -> [(f32, f32, f32); 8] {
    let mut out = [(0.0f32, 0.0f32, 0.0f32); 8];
    let s = POLAR_EXPRESS_SAFETY;
    let mut i = 0;
    while i < 8 {
        let (a, b, c) = POLAR_EXPRESS_RAW[i];
        out[i] = if i < 7 {
            (
                (a / s) as f32,
                (b / (s * s * s)) as f32,
                (c / (s * s * s * s * s)) as f32,
            )
        } else {
            (a as f32, b as f32, c as f32)
        };
        i += 1;
    }
    out
}

/// The Polar Express per-step coefficients with Algorithm 1's safety factor applied; a run
/// longer than the table repeats its last entry `(1.875, −1.25, 0.375)`.
pub const POLAR_EXPRESS: [(f32, f32, f32); 8] = polar_express_table();

/// Which polynomial each Newton–Schulz step applies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NsCoefficients {
    /// The same `(a, b, c)` at every step.
    Fixed(f32, f32, f32),
    /// Step `i` uses entry `min(i, len − 1)`: a per-step schedule such as [`POLAR_EXPRESS`].
    Schedule(&'static [(f32, f32, f32)]),
}

/// How the input is scaled before the iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NsNormalization {
    /// `X / max(s‖X‖_F, eps)`, as `torch.optim.Muon`.
    ClampMax,
    /// `X / (s‖X‖_F + eps)`, as Keller Jordan's original and Polar Express.
    AddEps,
}

/// Newton–Schulz settings. Build with [`NsConfig::default`] (PyTorch's),
/// [`NsConfig::keller_jordan`] or [`NsConfig::polar_express`], adjust the public fields if
/// needed, and check with [`NsConfig::validate`] (done by `MuonConfig::build`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NsConfig {
    /// The polynomial(s).
    pub coefficients: NsCoefficients,
    /// Number of iterations (`≥ 1`). PyTorch's default: 5.
    pub steps: u32,
    /// Guard against division by zero in the normalisation (`≥ 0`). PyTorch's default: 1e-7.
    pub eps: f32,
    /// How `eps` enters the normalisation.
    pub normalization: NsNormalization,
    /// Multiplier `s` on the Frobenius norm (`> 0`): 1 normally, 1.01 for Polar Express.
    pub norm_scale: f32,
}

impl Default for NsConfig {
    /// `torch.optim.Muon`'s: quintic, 5 steps, eps 1e-7, `X / max(‖X‖_F, eps)`.
    fn default() -> Self {
        Self {
            coefficients: NsCoefficients::Fixed(QUINTIC.0, QUINTIC.1, QUINTIC.2),
            steps: 5,
            eps: 1e-7,
            normalization: NsNormalization::ClampMax,
            norm_scale: 1.0,
        }
    }
}

impl NsConfig {
    /// Keller Jordan's original: quintic, 5 steps, `X / (‖X‖_F + 1e-7)`.
    #[must_use]
    pub fn keller_jordan() -> Self {
        Self {
            normalization: NsNormalization::AddEps,
            ..Self::default()
        }
    }

    /// Polar Express (Amsel et al. 2025, Algorithm 1) with `steps` iterations:
    /// `X / (1.01‖X‖_F + 1e-7)`, then the [`POLAR_EXPRESS`] schedule.
    ///
    /// # Errors
    /// [`MuonError::InvalidHyperParameter`] if `steps == 0`.
    pub fn polar_express(steps: u32) -> Result<Self, MuonError> {
        let cfg = Self {
            coefficients: NsCoefficients::Schedule(&POLAR_EXPRESS),
            steps,
            eps: 1e-7,
            normalization: NsNormalization::AddEps,
            norm_scale: POLAR_EXPRESS_SAFETY as f32,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// The same settings with `steps` iterations.
    #[must_use]
    pub fn with_steps(mut self, steps: u32) -> Self {
        self.steps = steps;
        self
    }

    /// The coefficients `(a, b, c)` of iteration `step` (0-based).
    #[must_use]
    pub fn coefficients_at(&self, step: u32) -> (f32, f32, f32) {
        match self.coefficients {
            NsCoefficients::Fixed(a, b, c) => (a, b, c),
            NsCoefficients::Schedule(table) => {
                let i = (step as usize).min(table.len().saturating_sub(1));
                table.get(i).copied().unwrap_or(QUINTIC)
            }
        }
    }

    /// The factor the input is multiplied by before the iteration, given its Frobenius norm:
    /// `1 / max(s·‖X‖_F, eps)` or `1 / (s·‖X‖_F + eps)`, rounded to `f32`. Zero when the norm
    /// is zero (the output is then zero); `+∞` when the factor exceeds `f32::MAX` (a norm
    /// below ~3e-39 with an `eps` as small), in which case [`newton_schulz`] normalises in
    /// `f64` instead of using it.
    #[must_use]
    pub fn input_scale(&self, frobenius: f32) -> f32 {
        self.input_scale_f64(f64::from(frobenius)) as f32
    }

    /// [`NsConfig::input_scale`] in `f64`, from a norm kept in `f64`, so a matrix whose norm
    /// overflows `f32` (entries near `f32::MAX`) is still scaled, not zeroed, and one whose
    /// norm is subnormal gets a finite factor.
    fn input_scale_f64(&self, frobenius: f64) -> f64 {
        if frobenius == 0.0 {
            return 0.0;
        }
        let scaled = f64::from(self.norm_scale) * frobenius;
        let eps = f64::from(self.eps);
        let denom = match self.normalization {
            NsNormalization::ClampMax => scaled.max(eps),
            NsNormalization::AddEps => scaled + eps,
        };
        // A validated config has `denom > 0`; an unvalidated one (`norm_scale` ≤ 0) gets 0.
        if denom > 0.0 { 1.0 / denom } else { 0.0 }
    }

    /// An upper bound, in exact arithmetic, on the spectral norm of every matrix the
    /// iteration forms (`X`, `A = X Xᵀ`, `A²`, `B = bA + cA²`, `B X`, `a X`), hence on the
    /// magnitude of every entry it computes, for any input: the normalisation leaves the
    /// iterate with Frobenius norm, hence spectral norm, at most `1 / norm_scale`.
    ///
    /// Each step maps every singular value `σ` of `X` to `|p(σ)|`, `p(x) = ax + bx³ + cx⁵`,
    /// so the largest one after a step is at most `max |p|` over `[0, M]` for the bound `M`
    /// before it (found exactly from `p`'s critical points). `+∞` when the bound does not fit
    /// an `f64`. Host-side arithmetic (no step calls it): a backend whose number format is
    /// narrower than the core's can refuse coefficients whose iterates it cannot hold
    /// (muon-gpu does); the core itself reports a diverged iteration per call
    /// ([`MuonError::NonFiniteResult`]). About 13 for the quintic, where `B`'s two terms,
    /// bounded separately, dominate.
    #[must_use]
    pub fn magnitude_bound(&self) -> f64 {
        // The bound M on the iterate's spectral norm is monotone in the step (each step's
        // image of [0, M] grows with M), so once a repeating polynomial leaves M unchanged,
        // or M has stopped growing, no later step raises the bound: stop there. More than
        // CAP steps without settling (a bound still creeping up) give +∞, conservatively.
        const CAP: u32 = 10_000;
        let repeats_from = match self.coefficients {
            NsCoefficients::Fixed(..) => 0,
            NsCoefficients::Schedule(t) => t.len().saturating_sub(1) as u32,
        };
        // The normalised input's Frobenius norm, hence its spectral norm, is at most 1/s.
        let mut m = 1.0 / f64::from(self.norm_scale);
        let mut bound = m;
        for step in 0..self.steps {
            if step == CAP {
                return f64::INFINITY;
            }
            let (a, b, c) = self.coefficients_at(step);
            let (a, b, c) = (f64::from(a), f64::from(b), f64::from(c));
            let m2 = m * m;
            let poly = b.abs() * m2 + c.abs() * m2 * m2;
            bound = bound.max(m2.max(m2 * m2).max(poly).max(poly * m).max(a.abs() * m));
            let next = odd_quintic_max(a, b, c, m);
            // `next` is never NaN for a finite `m` (no ∞ − ∞ arises in `p`), so `max` keeps it.
            bound = bound.max(next);
            if !bound.is_finite() {
                return f64::INFINITY;
            }
            if step >= repeats_from && next <= m {
                return bound;
            }
            m = next;
        }
        bound
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`MuonError::InvalidHyperParameter`] naming the first bad field.
    pub fn validate(&self) -> Result<(), MuonError> {
        if self.steps == 0 {
            return Err(MuonError::InvalidHyperParameter {
                name: "ns_steps",
                reason: "must be >= 1",
            });
        }
        validate::non_negative("eps", self.eps)?;
        validate::positive("norm_scale", self.norm_scale)?;
        let finite = |(a, b, c): (f32, f32, f32)| a.is_finite() && b.is_finite() && c.is_finite();
        let ok = match self.coefficients {
            NsCoefficients::Fixed(a, b, c) => finite((a, b, c)),
            NsCoefficients::Schedule(t) => !t.is_empty() && t.iter().all(|&abc| finite(abc)),
        };
        if ok {
            Ok(())
        } else {
            Err(MuonError::InvalidHyperParameter {
                name: "ns_coefficients",
                reason: "must be finite (and a schedule non-empty)",
            })
        }
    }
}

/// `max |p(x)|` over `x ∈ [0, m]` for `p(x) = ax + bx³ + cx⁵`: the larger of `|p|` at `m`
/// and at `p`'s critical points inside the interval (`p(0) = 0`). `p'(x) = a + 3bx² + 5cx⁴`
/// is a quadratic in `y = x²`.
fn odd_quintic_max(a: f64, b: f64, c: f64, m: f64) -> f64 {
    let p = |x: f64| x * (a + x * x * (b + c * x * x));
    let mut best = p(m).abs();
    // Critical points strictly inside: `y = 0` is `x = 0` (`p = 0`) and `y = m²` is `x = m`.
    let inside = 0.0..m * m;
    let mut consider = |y: f64| {
        if inside.contains(&y) {
            best = best.max(p(libm::sqrt(y)).abs());
        }
    };
    if c == 0.0 {
        if b != 0.0 {
            consider(-a / (3.0 * b));
        }
    } else {
        // 5c·y² + 3b·y + a = 0, its roots in the form that does not cancel: with
        // q = −(3b + sign(b)·√disc)/2 they are q/(5c) and a/q. The textbook form loses the
        // small root entirely when 20|ac| ≪ 9b² (a = −b = 1.2e19, c = 1.2e-30 gave 0 for the
        // critical point at y = 1/3).
        let disc = 9.0 * b * b - 20.0 * a * c;
        if disc >= 0.0 {
            let q = -0.5 * (3.0 * b + libm::copysign(libm::sqrt(disc), b));
            consider(q / (5.0 * c));
            if q != 0.0 {
                consider(a / q);
            }
        }
    }
    best
}

/// Number of `f32` scratch elements [`newton_schulz`] needs for an `rows × cols` input:
/// `2·rows·cols + 2·min(rows, cols)²` (the iterate, its successor, `A` and `B`).
///
/// Saturates at `usize::MAX` (which no slice satisfies) when the size overflows `usize`;
/// [`ns_scratch_len_checked`] reports that as an error instead.
#[must_use]
pub const fn ns_scratch_len(rows: usize, cols: usize) -> usize {
    match ns_scratch_len_checked(rows, cols) {
        Ok(len) => len,
        Err(_) => usize::MAX,
    }
}

/// [`ns_scratch_len`], or [`MuonError::SizeOverflow`] when it overflows `usize`.
///
/// # Errors
/// [`MuonError::SizeOverflow`].
pub const fn ns_scratch_len_checked(rows: usize, cols: usize) -> Result<usize, MuonError> {
    let m = if rows < cols { rows } else { cols };
    // 2·r·c + 2·m² = 2·(r·c + m²), each step checked.
    let (Some(rc), Some(mm)) = (rows.checked_mul(cols), m.checked_mul(m)) else {
        return Err(MuonError::SizeOverflow);
    };
    let Some(sum) = rc.checked_add(mm) else {
        return Err(MuonError::SizeOverflow);
    };
    match sum.checked_mul(2) {
        Some(len) => Ok(len),
        None => Err(MuonError::SizeOverflow),
    }
}

/// Orthogonalises `input` into `out` (same shape).
///
/// `scratch` needs at least [`ns_scratch_len`]`(rows, cols)` elements; its contents on entry
/// do not matter.
///
/// # Errors
/// [`MuonError::ShapeMismatch`] if `out`'s shape differs, [`MuonError::ScratchTooSmall`],
/// [`MuonError::InvalidHyperParameter`] if `cfg` does not validate, or
/// [`MuonError::NonFiniteResult`] if the iteration diverged (coefficients that do not keep
/// the singular values bounded); on any error `out` is untouched.
pub fn newton_schulz(
    input: MatRef<'_>,
    mut out: MatMut<'_>,
    scratch: &mut [f32],
    cfg: &NsConfig,
) -> Result<(), MuonError> {
    if out.shape() != input.shape() {
        return Err(MuonError::ShapeMismatch {
            what: "out",
            expected: input.shape(),
            found: out.shape(),
        });
    }
    cfg.validate()?;
    let (rows, cols) = input.shape();
    validate::scratch(ns_scratch_len_checked(rows, cols)?, scratch.len())?;
    let result = iterate(input.as_slice(), rows, cols, scratch, cfg)?;
    write_result(result, out.as_mut_slice(), rows, cols);
    Ok(())
}

/// Writes [`iterate`]'s result into the `rows × cols` `out`: the iterate transposed back
/// when `rows > cols`, copied otherwise, zeros for `None`.
pub(crate) fn write_result(result: Option<&[f32]>, out: &mut [f32], rows: usize, cols: usize) {
    match result {
        None => out.fill(0.0),
        Some(x) if rows > cols => transpose_raw(x, out, cols, rows),
        Some(x) => copy(x, out),
    }
}

/// Runs the iteration on the `rows × cols` `input` (shapes, scratch and `cfg` already
/// checked) and returns its result inside `scratch`, as the `m × n` iterate (`input`
/// transposed when `rows > cols`), or `None` when the input's norm is 0 (the result is
/// zero). Only `scratch` is written.
///
/// # Errors
/// [`MuonError::NonFiniteResult`] if the result holds a NaN or ±∞.
pub(crate) fn iterate<'s>(
    input: &[f32],
    rows: usize,
    cols: usize,
    scratch: &'s mut [f32],
    cfg: &NsConfig,
) -> Result<Option<&'s [f32]>, MuonError> {
    let tall = rows > cols;
    let (m, n) = if tall { (cols, rows) } else { (rows, cols) };
    let Some(WorkAreas {
        x,
        next,
        gram: a_mat,
        poly: b_mat,
    }) = split_scratch(scratch, m, n)
    else {
        debug_assert!(false, "newton_schulz: scratch shorter than ns_scratch_len");
        return Err(MuonError::ScratchTooSmall {
            needed: ns_scratch_len(rows, cols),
            found: 0,
        });
    };

    let scale = cfg.input_scale_f64(frobenius_norm_f64(input));
    if scale == 0.0 {
        return Ok(None);
    }
    if tall {
        transpose_raw(input, x, rows, cols);
    } else {
        copy(input, x);
    }
    let scale32 = scale as f32;
    if scale32.is_normal() {
        x.iter_mut().for_each(|v| *v *= scale32);
    } else {
        // The factor is not a normal f32 (a norm below ~3e-39 with eps as small, or beyond
        // ~1e38): each |x|·scale ≤ 1/s is exact enough in f64 and fits f32.
        x.iter_mut()
            .for_each(|v| *v = (f64::from(*v) * scale) as f32);
    }

    let mut x: &mut [f32] = x;
    let mut next: &mut [f32] = next;
    for step in 0..cfg.steps {
        let (a, b, c) = cfg.coefficients_at(step);
        // A = X Xᵀ (symmetric), then B = bA + cA² (A² = A Aᵀ since A is symmetric).
        gram_raw(x, a_mat, m, n);
        square_symmetric_raw(a_mat, b_mat, m);
        for (bv, av) in b_mat.iter_mut().zip(a_mat.iter()) {
            *bv = b * av + c * *bv;
        }
        // next = a X + B X
        matmul_raw(b_mat, x, next, m, m, n);
        for (nv, xv) in next.iter_mut().zip(x.iter()) {
            *nv += a * xv;
        }
        core::mem::swap(&mut x, &mut next);
    }
    if x.iter().fold(true, |ok, v| ok & v.is_finite()) {
        Ok(Some(x))
    } else {
        Err(MuonError::NonFiniteResult)
    }
}

/// The four work areas of [`iterate`], carved out of its scratch by [`split_scratch`].
struct WorkAreas<'s> {
    /// The iterate `X`, `m × n`.
    x: &'s mut [f32],
    /// The next iterate, `m × n`.
    next: &'s mut [f32],
    /// `A = X Xᵀ`, `m × m`.
    gram: &'s mut [f32],
    /// `B = bA + cA²`, `m × m`.
    poly: &'s mut [f32],
}

/// The [`WorkAreas`] of [`iterate`] for an `m × n` (`m ≤ n`) iterate, in this order in
/// `scratch`: `X`, the next `X` (`m·n` each), `A` and `B` (`m·m` each); `None` if `scratch` is
/// too short.
///
/// Written without panicking operations (here and in [`copy`]) so that no panic path is
/// compiled into a step whatever the optimiser inlines: the firmware check in
/// `examples/cortex-m/measure.sh` relies on it.
fn split_scratch(scratch: &mut [f32], m: usize, n: usize) -> Option<WorkAreas<'_>> {
    let (x, rest) = scratch.split_at_mut_checked(m.checked_mul(n)?)?;
    let (next, rest) = rest.split_at_mut_checked(x.len())?;
    let (gram, rest) = rest.split_at_mut_checked(m.checked_mul(m)?)?;
    let poly = rest.get_mut(..gram.len())?;
    Some(WorkAreas {
        x,
        next,
        gram,
        poly,
    })
}

/// `dst ← src` over their common length (equal here; a zip, so it cannot panic).
fn copy(src: &[f32], dst: &mut [f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polar_express_table_applies_safety_factor_except_last() {
        let (a0, b0, c0) = POLAR_EXPRESS[0];
        assert!((a0 - (8.28721201814563 / 1.01) as f32).abs() < 1e-6);
        assert!((b0 - (-23.595886519098837 / 1.030301) as f32).abs() < 1e-5);
        assert!((c0 - (17.300387312530933 / 1.0510100501) as f32).abs() < 1e-5);
        assert_eq!(POLAR_EXPRESS[7], (1.875, -1.25, 0.375));
    }

    /// What the schedule is for (Amsel et al., Algorithm 1 with `ℓ = 10⁻³`): its eight
    /// polynomials, composed, send every singular value in `[10⁻³, 1]` to within `10⁻³` of 1.
    /// A wrong sign, digit or row order in any entry breaks this.
    #[test]
    fn polar_express_schedule_converges_every_singular_value_to_one() {
        for k in 0..=3000 {
            let mut x = 10f64.powf(-3.0 + f64::from(k) / 1000.0);
            for &(a, b, c) in &POLAR_EXPRESS {
                let (a, b, c) = (f64::from(a), f64::from(b), f64::from(c));
                x = a * x + b * x * x * x + c * x * x * x * x * x;
            }
            assert!(
                (x - 1.0).abs() < 1e-3,
                "sigma 1e{}: {x}",
                -3.0 + f64::from(k) / 1000.0
            );
        }
    }

    /// Every singular value `σ ≤ 1/s` of the normalised input follows `σ → |p(σ)|`; the bound
    /// must cover every value (and each matrix's norm) that orbit reaches, at every step.
    fn assert_bounds_every_orbit(cfg: &NsConfig) -> f64 {
        let bound = cfg.magnitude_bound();
        let start = 1.0 / f64::from(cfg.norm_scale);
        for k in 0..=2000 {
            let mut x = start * f64::from(k) / 2000.0;
            for step in 0..cfg.steps.min(50) {
                let (a, b, c) = cfg.coefficients_at(step);
                let (a, b, c) = (f64::from(a), f64::from(b), f64::from(c));
                let x2 = x * x;
                let poly = b * x2 + c * x2 * x2;
                for v in [x, x2, x2 * x2, poly, poly * x, a * x] {
                    assert!(v.abs() <= bound * (1.0 + 1e-12), "{cfg:?}: {v} > {bound}");
                }
                x = a * x + poly * x;
            }
            assert!(x.abs() <= bound * (1.0 + 1e-12), "{cfg:?}: {x} > {bound}");
        }
        bound
    }

    #[test]
    fn magnitude_bound_covers_the_iteration_and_is_tight_for_the_presets() {
        let quintic = assert_bounds_every_orbit(&NsConfig::default());
        assert!((13.0..14.0).contains(&quintic), "{quintic}");
        let pe = assert_bounds_every_orbit(&NsConfig::polar_express(8).unwrap());
        assert!((10.0..100.0).contains(&pe), "{pe}");
        // Growth: x → 2x for 10 steps: the last step's iterate has norm 2⁹, its A² 2³⁶.
        let double = NsConfig {
            coefficients: NsCoefficients::Fixed(2.0, 0.0, 0.0),
            steps: 10,
            ..NsConfig::default()
        };
        assert_eq!(assert_bounds_every_orbit(&double), 2f64.powi(36));
        // A norm scale below 1 leaves a larger input: 1/0.5 = 2, squared in A.
        let half = NsConfig {
            coefficients: NsCoefficients::Fixed(1.0, 0.0, 0.0),
            steps: 3,
            norm_scale: 0.5,
            ..NsConfig::default()
        };
        assert_eq!(assert_bounds_every_orbit(&half), 16.0);
        // A cubic (c = 0): 3x − x³ peaks at its critical point x = 1 (value 2) and is 2 at
        // x = 2 again, so the iterate's norm settles at 2 and A² at 16.
        let cubic = NsConfig {
            coefficients: NsCoefficients::Fixed(3.0, -1.0, 0.0),
            steps: 4,
            ..NsConfig::default()
        };
        assert_eq!(assert_bounds_every_orbit(&cubic), 16.0);
        // The linear term dominating: m = 2, a·X = 200 (p(2) = 192, A² = 16, B·X = 8).
        let linear = NsConfig {
            coefficients: NsCoefficients::Fixed(100.0, -1.0, 0.0),
            steps: 1,
            norm_scale: 0.5,
            ..NsConfig::default()
        };
        assert_eq!(assert_bounds_every_orbit(&linear), 200.0);
    }

    /// `odd_quintic_max` against a dense sampling of `|p|` on `[0, m]`: never below it, and
    /// above it by no more than the sampling's own error (the maximum may fall between
    /// samples). Covers critical points inside and outside the interval, none (negative
    /// discriminant), a cubic (`c = 0`), a linear map and negative leading terms.
    #[test]
    fn odd_quintic_max_is_the_maximum_of_p_on_the_interval() {
        let polys = [
            (QUINTIC.0, QUINTIC.1, QUINTIC.2),
            POLAR_EXPRESS[0],
            POLAR_EXPRESS[3],
            (3.0, -1.0, 0.0),
            (-2.0, 3.0, 0.0),
            (1.0, 0.0, -0.7),
            (0.5, 1.0, 2.0),
            (0.0, 1.0, -1.0),
            (2.0, 0.0, 0.0),
            (-1.0, 4.0, -2.5),
            // The larger critical point is the extremum: p dips to −0.93 at x ≈ 0.943,
            // below p(1) = −0.9 (and the local maximum near x = 0.106 is tiny).
            (0.1, -3.0, 2.0),
            // A tiny quintic term: the critical point y = x² ≈ 1/3 is the small root of a
            // quadratic whose textbook formula cancels to 0 (found by the fuzzer).
            (1.234375e19, -1.234375e19, 1.234375e-30),
        ];
        for (a, b, c) in polys {
            let (a, b, c) = (f64::from(a), f64::from(b), f64::from(c));
            let p = |x: f64| x * (a + x * x * (b + c * x * x));
            for m in [0.3, 0.8, 1.0, 1.3, 2.5] {
                let n = 200_000;
                let sampled = (0..=n)
                    .map(|i| p(m * f64::from(i) / f64::from(n)).abs())
                    .fold(0.0f64, f64::max);
                let exact = odd_quintic_max(a, b, c, m);
                assert!(
                    exact >= sampled * (1.0 - 1e-12) && exact <= sampled * (1.0 + 1e-6) + 1e-12,
                    "p = ({a}, {b}, {c}) on [0, {m}]: {exact} vs sampled {sampled}"
                );
            }
        }
    }

    /// Coefficients whose iteration overflows f32 (`a = −b = 1.2e19`, a tiny `c`: the first
    /// step maps σ = 1/√3 to 4.7e18, the second cubes it) are bounded above 1e30, so muon-gpu
    /// refuses them and the rule checks expect the core's `NonFiniteResult`. The fuzzer found
    /// a bound of 1.2e19 here while the quadratic for `p`'s critical points cancelled.
    #[test]
    fn magnitude_bound_sees_a_critical_point_behind_a_tiny_quintic_term() {
        let cfg = NsConfig {
            coefficients: NsCoefficients::Fixed(1.234375e19, -1.234375e19, 1.234375e-30),
            steps: 5,
            ..NsConfig::default()
        };
        let bound = cfg.magnitude_bound();
        assert!(bound > 1e30, "{bound}");
    }

    /// Each term of the bound, alone in front: `B·X` (`|b|m² + |c|m⁴` times `m`) here.
    #[test]
    fn magnitude_bound_counts_each_term() {
        // m = 2: A² = 16, B·X = (4 + 16)·2 = 40, |p(2)| = |8 − 32| = 24.
        let cfg = NsConfig {
            coefficients: NsCoefficients::Fixed(0.0, 1.0, -1.0),
            steps: 1,
            norm_scale: 0.5,
            ..NsConfig::default()
        };
        assert_eq!(assert_bounds_every_orbit(&cfg), 40.0);
    }

    #[test]
    fn magnitude_bound_of_diverging_or_endless_iterations() {
        let huge = NsConfig {
            coefficients: NsCoefficients::Fixed(1e30, 0.0, 0.0),
            steps: 20,
            ..NsConfig::default()
        };
        assert_eq!(huge.magnitude_bound(), f64::INFINITY);
        // u32::MAX steps of a settling polynomial: answered at once, as for 5 steps.
        let long = NsConfig::default().with_steps(u32::MAX);
        assert_eq!(
            long.magnitude_bound(),
            NsConfig::default().magnitude_bound()
        );
        let long_pe = NsConfig::polar_express(u32::MAX).unwrap();
        assert_eq!(
            long_pe.magnitude_bound(),
            NsConfig::polar_express(8).unwrap().magnitude_bound()
        );
        // Growth without end: past 10 000 steps the answer is +∞ rather than a loop of
        // u32::MAX steps; up to there, the bound ((1 + 1e-6)^4e4 ≈ 1.04 for A²).
        let creeping = |steps| NsConfig {
            coefficients: NsCoefficients::Fixed(1.0 + 1e-6, 0.0, 0.0),
            steps,
            ..NsConfig::default()
        };
        assert_eq!(creeping(u32::MAX).magnitude_bound(), f64::INFINITY);
        assert_eq!(creeping(10_001).magnitude_bound(), f64::INFINITY);
        let capped = creeping(10_000).magnitude_bound();
        assert!((1.03..1.05).contains(&capped), "{capped}");
    }

    #[test]
    fn schedule_repeats_last_entry() {
        let cfg = NsConfig::polar_express(10).unwrap();
        assert_eq!(cfg.coefficients_at(9), (1.875, -1.25, 0.375));
        assert_eq!(cfg.coefficients_at(0), POLAR_EXPRESS[0]);
    }

    #[test]
    fn zero_steps_is_rejected() {
        assert!(NsConfig::polar_express(0).is_err());
        assert!(NsConfig::default().with_steps(0).validate().is_err());
    }

    #[test]
    fn huge_entries_are_scaled_not_zeroed() {
        let input = [
            f32::MAX / 2.0,
            f32::MAX / 2.0,
            -f32::MAX / 2.0,
            f32::MAX / 2.0,
        ];
        let mut out = [0.0f32; 4];
        let mut scratch = [0.0f32; ns_scratch_len(2, 2)];
        newton_schulz(
            MatRef::new(2, 2, &input).unwrap(),
            MatMut::new(2, 2, &mut out).unwrap(),
            &mut scratch,
            &NsConfig::default(),
        )
        .unwrap();
        assert!(
            out.iter().all(|x| x.is_finite() && x.abs() > 0.3),
            "{out:?}"
        );
    }

    #[test]
    fn zero_matrix_gives_zero() {
        let input = [0.0f32; 6];
        let mut out = [1.0f32; 6];
        let mut scratch = [f32::NAN; ns_scratch_len(2, 3)];
        newton_schulz(
            MatRef::new(2, 3, &input).unwrap(),
            MatMut::new(2, 3, &mut out).unwrap(),
            &mut scratch,
            &NsConfig::default(),
        )
        .unwrap();
        assert_eq!(out, [0.0; 6]);
    }
}
