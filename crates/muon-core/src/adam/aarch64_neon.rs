//! The Adam update with `f32` moments on AArch64, four lanes per NEON instruction.
//!
//! [`Lanes`] for `float32x4_t` (NEON is part of every AArch64 application-processor target,
//! so there is nothing to detect), and the entry point that runs [`super::lanes::update`].
//! `libm`'s scalar `fsqrt` is inline assembly, which keeps the portable loop from
//! vectorising; here `fsqrt` and `fdiv` take four lanes. The bit-identity tests run for
//! `aarch64-unknown-linux-gnu` under `qemu-aarch64` in `.ci/run`; speed on AArch64 hardware is
//! not measured (no such machine here).

use core::arch::aarch64::{
    float32x4_t, vaddq_f32, vandq_u32, vcgtzq_f32, vdivq_f32, vdupq_n_f32, vld1q_f32, vmaxnmq_f32,
    vminnmq_f32, vmulq_f32, vreinterpretq_f32_u32, vreinterpretq_u32_f32, vsqrtq_f32, vst1q_f32,
    vsubq_f32,
};

use super::Update;
use super::lanes::{Lanes, update};

impl Lanes for float32x4_t {
    const N: usize = 4;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller's contract (N readable floats; NEON is part of the target).
        unsafe { vld1q_f32(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller's contract (N writable floats).
        unsafe { vst1q_f32(p, self) }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: NEON is part of the target.
        unsafe { vdupq_n_f32(x) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        // SAFETY: as above.
        unsafe { vaddq_f32(self, b) }
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        // SAFETY: as above.
        unsafe { vsubq_f32(self, b) }
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        // SAFETY: as above.
        unsafe { vmulq_f32(self, b) }
    }
    #[inline(always)]
    unsafe fn div(self, b: Self) -> Self {
        // SAFETY: as above.
        unsafe { vdivq_f32(self, b) }
    }
    #[inline(always)]
    unsafe fn sqrt(self) -> Self {
        // SAFETY: as above.
        unsafe { vsqrtq_f32(self) }
    }
    #[inline(always)]
    unsafe fn max(self, b: Self) -> Self {
        // `fmaxnm` (IEEE maxNum) returns the number where one operand is NaN, as `f32::max`.
        // SAFETY: as above.
        unsafe { vmaxnmq_f32(self, b) }
    }
    #[inline(always)]
    unsafe fn min(self, b: Self) -> Self {
        // SAFETY: as above (`fminnm`).
        unsafe { vminnmq_f32(self, b) }
    }
    #[inline(always)]
    unsafe fn where_positive(self, d: Self) -> Self {
        // `fcmgt` against zero is false for NaN. SAFETY: as above.
        unsafe { vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(self), vcgtzq_f32(d))) }
    }
}

/// Elements per vector: always 4.
#[cfg(test)]
pub(super) fn lanes() -> usize {
    <float32x4_t as Lanes>::N
}

/// Updates the longest prefix of whole four-element chunks and returns its length; the
/// caller updates the rest with the portable loop.
pub(super) fn update_f32(
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    u: &Update,
) -> usize {
    let n = param.len().min(grad.len()).min(m.len()).min(v.len());
    let chunks = n / <float32x4_t as Lanes>::N;
    // SAFETY: NEON is part of the target, and every slice holds at least `chunks · 4` elements.
    unsafe { update::<float32x4_t>(param, grad, m, v, u, chunks) };
    chunks * <float32x4_t as Lanes>::N
}
