//! The one place that chooses how transcendental functions are computed.
//!
//! The crate is always `no_std`, so every kernel calls these wrappers over `libm` instead of
//! `f32` inherent methods (which need `std`). Keeping the choice here means a future `std`
//! fast path changes one file.

/// Square root.
#[inline]
pub(crate) fn sqrtf(x: f32) -> f32 {
    libm::sqrtf(x)
}

/// Square root in f64 (used for norms accumulated in f64).
#[inline]
pub(crate) fn sqrt(x: f64) -> f64 {
    libm::sqrt(x)
}

/// `x` raised to the integer power `n` (`n ≥ 0`), in f64 for bias corrections.
#[inline]
pub(crate) fn powi(x: f64, n: u32) -> f64 {
    // Exponentiation by squaring: ≤ 2·32 multiplications, a few f64 ulps from `pow`, and none
    // of `libm::pow`'s ~3 KiB of soft-float code on targets without an f64 FPU (Cortex-M4F).
    let (mut base, mut n, mut acc) = (x, n, 1.0f64);
    while n > 0 {
        if n & 1 == 1 {
            acc *= base;
        }
        base *= base;
        n >>= 1;
    }
    acc
}

/// Cosine in f64 (learning-rate schedules).
#[inline]
pub(crate) fn cos(x: f64) -> f64 {
    libm::cos(x)
}
