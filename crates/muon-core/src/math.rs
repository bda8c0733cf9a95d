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

/// `x` clamped to the finite range `[−f32::MAX, f32::MAX]`: ±∞ become ±`f32::MAX`, every
/// finite value is returned unchanged (bit for bit, signed zeros included).
///
/// Every value a step stores (weights, moments, momentum buffers) passes through this, so an
/// overflow near `f32::MAX` saturates instead of turning into ±∞ and then NaN (the crate's
/// finiteness rule, in the crate docs). A NaN becomes `−f32::MAX`, but no step produces one
/// from finite input: the arithmetic before each clamp is arranged so that it cannot (no
/// `∞ − ∞`, `0 · ∞` or `0/0`).
// `max` then `min`, not `clamp`: the SIMD kernels use `vmaxps`/`vminps` (`fmaxnm`/`fminnm`),
// which map NaN as `f32::max`/`min` do (clamp keeps NaN), so both agree bit for bit on every
// input.
#[allow(clippy::manual_clamp)]
#[inline]
pub(crate) fn saturate(x: f32) -> f32 {
    x.max(-f32::MAX).min(f32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturate_clamps_infinities_and_keeps_finite_values_bit_for_bit() {
        assert_eq!(saturate(f32::INFINITY), f32::MAX);
        assert_eq!(saturate(f32::NEG_INFINITY), -f32::MAX);
        for x in [0.0f32, -0.0, 1.5, -2.5e-45, f32::MAX, -f32::MAX, 1e38] {
            assert_eq!(saturate(x).to_bits(), x.to_bits(), "{x}");
        }
    }
}
