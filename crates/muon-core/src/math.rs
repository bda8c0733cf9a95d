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
    libm::pow(x, f64::from(n))
}
