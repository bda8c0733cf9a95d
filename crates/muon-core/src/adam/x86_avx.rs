//! The Adam update with `f32` moments, eight elements per AVX instruction, for x86-64.
//!
//! The portable loop ([`super::update_portable`]) is the reference. This kernel performs the
//! same IEEE operations in the same order on eight lanes, with no fused multiply-add (Rust
//! never contracts `a * b + c`, and neither does this code), so its results are bit-identical
//! to the portable loop's: the tests in the parent module compare bits. Square root and division are correctly
//! rounded in both. The portable loop pays for a scalar `sqrtss` per element (`libm`'s,
//! written in inline assembly, which blocks auto-vectorisation); here `vsqrtps` and `vdivps`
//! do eight.

use core::arch::x86_64::{
    __m256, _mm256_add_ps, _mm256_div_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_set1_ps,
    _mm256_sqrt_ps, _mm256_storeu_ps, _mm256_sub_ps,
};

use super::Update;

/// Lanes per `__m256`.
const LANES: usize = 8;

/// Elements per vector on this CPU: 8, or 0 when it lacks AVX (then [`update_f32`] does
/// nothing).
#[cfg(test)]
pub(super) fn lanes() -> usize {
    if crate::x86_features::avx2_fma() {
        LANES
    } else {
        0
    }
}

/// Updates the longest prefix of whole eight-element chunks and returns its length (0 when
/// the CPU lacks AVX: detected with the AVX2 + FMA kernels, [`crate::x86_features`]). The
/// caller updates the rest with the portable loop.
pub(super) fn update_f32(
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    u: &Update,
) -> usize {
    let n = param.len().min(grad.len()).min(m.len()).min(v.len());
    let chunks = n / LANES;
    if chunks == 0 || !crate::x86_features::avx2_fma() {
        return 0;
    }
    // SAFETY: AVX is available (checked above; AVX2 implies it) and every slice holds at
    // least `chunks · LANES` elements.
    unsafe { update_avx(param, grad, m, v, u, chunks) };
    chunks * LANES
}

/// # Safety
/// AVX is available and each slice holds at least `chunks · LANES` elements.
#[target_feature(enable = "avx")]
unsafe fn update_avx(
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    u: &Update,
    chunks: usize,
) {
    let splat = |x: f32| _mm256_set1_ps(x);
    let (l2, omb1, b2, omb2) = (
        splat(u.l2),
        splat(u.one_minus_b1),
        splat(u.b2),
        splat(u.one_minus_b2),
    );
    let (bc2, eps, decay, step) = (
        splat(u.bc2_sqrt),
        splat(u.eps),
        splat(u.decay),
        splat(u.step_size),
    );
    let (wp, gp, mp, vp) = (
        param.as_mut_ptr(),
        grad.as_ptr(),
        m.as_mut_ptr(),
        v.as_mut_ptr(),
    );
    for c in 0..chunks {
        let o = c * LANES;
        // SAFETY: o + LANES ≤ chunks · LANES ≤ each slice's length (the caller's contract).
        unsafe {
            let w: __m256 = _mm256_loadu_ps(wp.add(o));
            // g ← g + l2·w
            let g = _mm256_add_ps(_mm256_loadu_ps(gp.add(o)), _mm256_mul_ps(l2, w));
            // m ← m + (1 − β1)(g − m)
            let mo = _mm256_loadu_ps(mp.add(o));
            let mf = _mm256_add_ps(mo, _mm256_mul_ps(omb1, _mm256_sub_ps(g, mo)));
            // v ← β2·v + ((1 − β2)·g)·g
            let vf = _mm256_add_ps(
                _mm256_mul_ps(b2, _mm256_loadu_ps(vp.add(o))),
                _mm256_mul_ps(_mm256_mul_ps(omb2, g), g),
            );
            _mm256_storeu_ps(mp.add(o), mf);
            _mm256_storeu_ps(vp.add(o), vf);
            // w ← w·decay − step·(m / (√v / √(1 − β2ᵗ) + eps))
            let denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vf), bc2), eps);
            let w = _mm256_sub_ps(
                _mm256_mul_ps(w, decay),
                _mm256_mul_ps(step, _mm256_div_ps(mf, denom)),
            );
            _mm256_storeu_ps(wp.add(o), w);
        }
    }
}
