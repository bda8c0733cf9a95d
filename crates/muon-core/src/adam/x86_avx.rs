//! The Adam update with `f32` moments on x86-64, eight lanes per AVX instruction.
//!
//! [`Lanes`] for `__m256`, and the entry point that checks the CPU at run time (AVX2 + FMA,
//! the check the product kernels use, [`crate::x86_features`]) and runs
//! [`super::lanes::update`] compiled with AVX. The portable loop pays for a scalar `sqrtss` per element (`libm`'s, written in
//! inline assembly, which blocks auto-vectorisation); here `vsqrtps` and `vdivps` do eight.

use core::arch::x86_64::{
    __m256, _CMP_GT_OQ, _mm256_add_ps, _mm256_and_ps, _mm256_cmp_ps, _mm256_div_ps,
    _mm256_loadu_ps, _mm256_max_ps, _mm256_min_ps, _mm256_mul_ps, _mm256_set1_ps,
    _mm256_setzero_ps, _mm256_sqrt_ps, _mm256_storeu_ps, _mm256_sub_ps,
};

use super::Update;
use super::lanes::{Lanes, update};

impl Lanes for __m256 {
    const N: usize = 8;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller's contract (AVX, N readable floats).
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller's contract (AVX, N writable floats).
        unsafe { _mm256_storeu_ps(p, self) }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: AVX is available (the caller's contract).
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm256_add_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm256_sub_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm256_mul_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn div(self, b: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm256_div_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn sqrt(self) -> Self {
        // SAFETY: as above.
        unsafe { _mm256_sqrt_ps(self) }
    }
    #[inline(always)]
    unsafe fn max(self, b: Self) -> Self {
        // `vmaxps` returns its second operand where either is NaN: `b` for a NaN `self`, as
        // `f32::max`. SAFETY: as above.
        unsafe { _mm256_max_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn min(self, b: Self) -> Self {
        // SAFETY: as above (`vminps`, NaN handling as `max`).
        unsafe { _mm256_min_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn where_positive(self, d: Self) -> Self {
        // SAFETY: as above. The ordered compare is false for NaN.
        unsafe { _mm256_and_ps(self, _mm256_cmp_ps::<_CMP_GT_OQ>(d, _mm256_setzero_ps())) }
    }
}

/// Elements per vector on this CPU: 8, or 0 when it fails the AVX2 + FMA check (then [`update_f32`] does
/// nothing).
#[cfg(test)]
pub(super) fn lanes() -> usize {
    if crate::x86_features::avx2_fma() {
        <__m256 as Lanes>::N
    } else {
        0
    }
}

/// Updates the longest prefix of whole eight-element chunks and returns its length (0 when
/// the CPU fails the AVX2 + FMA check; the kernel needs only AVX, but one detection serves
/// both SIMD paths, so CPUs with AVX and no AVX2, from 2011–2012, take the portable loop). The caller updates the rest with the portable loop.
pub(super) fn update_f32(
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    u: &Update,
) -> usize {
    let n = param.len().min(grad.len()).min(m.len()).min(v.len());
    let chunks = n / <__m256 as Lanes>::N;
    if !crate::x86_features::avx2_fma() {
        return 0;
    }
    // SAFETY: AVX is available (checked above; AVX2 implies it) and every slice holds at
    // least `chunks · 8` elements.
    unsafe { update_avx(param, grad, m, v, u, chunks) };
    chunks * <__m256 as Lanes>::N
}

/// [`update`] compiled with AVX.
///
/// # Safety
/// AVX is available and each slice holds at least `chunks · 8` elements.
#[target_feature(enable = "avx")]
unsafe fn update_avx(
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    u: &Update,
    chunks: usize,
) {
    // SAFETY: the caller's contract.
    unsafe { update::<__m256>(param, grad, m, v, u, chunks) }
}
