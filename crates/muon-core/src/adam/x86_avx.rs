//! The Adam update with `f32` moments, eight elements per AVX instruction, for x86-64.
//!
//! The portable loop ([`super::update_portable`]) is the reference. This kernel performs the
//! same IEEE operations in the same order on eight lanes, with no fused multiply-add (Rust
//! never contracts `a * b + c`, and neither does this code), so its results are bit-identical
//! to the portable loop's: the tests compare bits. Square root and division are correctly
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

#[cfg(test)]
mod tests {
    use super::super::{AdamConfig, Update, update_portable};
    use super::*;
    use std::vec::Vec;

    fn data(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// Ten steps of both kernels from the same state: parameters and moments equal bit for
    /// bit, for Adam (coupled L2) and AdamW, on lengths with and without a remainder, with
    /// zeros, tiny and huge gradients (`g²` overflowing to infinity) among them.
    #[test]
    fn avx_update_is_bit_identical_to_the_portable_loop() {
        if !crate::x86_features::avx2_fma() {
            return;
        }
        let configs = [
            AdamConfig::adam().with_lr(1e-2).with_weight_decay(0.1),
            AdamConfig::adamw().with_lr(3e-3).with_betas(0.8, 0.99),
            AdamConfig::adamw().with_betas(0.0, 0.0).with_eps(0.0),
        ];
        for config in configs {
            let adam = config.build().unwrap();
            for len in [8, 16, 24, 40, 1000] {
                let mut w_ref = data(len, 1);
                let (mut m_ref, mut v_ref) = (std::vec![0.0f32; len], std::vec![0.0f32; len]);
                let (mut w, mut m, mut v) = (w_ref.clone(), m_ref.clone(), v_ref.clone());
                for t in 1..=10u32 {
                    let mut g = data(len, 10 + t);
                    g[0] = 0.0;
                    g[len / 2] = 1e-30;
                    g[len - 1] = if t % 2 == 0 { 3e20 } else { -1e-3 };
                    let u = Update::new(adam.config(), &adam.scalars(t));
                    update_portable(&mut w_ref, &g, &mut m_ref, &mut v_ref, &u);
                    assert_eq!(update_f32(&mut w, &g, &mut m, &mut v, &u), len);
                    let bits = |x: &[f32]| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&w), bits(&w_ref), "{config:?} len {len} step {t}: w");
                    assert_eq!(bits(&m), bits(&m_ref), "m");
                    assert_eq!(bits(&v), bits(&v_ref), "v");
                }
            }
        }
    }

    #[test]
    fn only_whole_chunks_are_taken() {
        if !crate::x86_features::avx2_fma() {
            return;
        }
        let u = Update::new(
            &AdamConfig::adamw(),
            &AdamConfig::adamw().build().unwrap().scalars(1),
        );
        let (mut w, g, mut m, mut v) = ([1.0f32; 13], [0.5f32; 13], [0.0f32; 13], [0.0f32; 13]);
        assert_eq!(
            update_f32(&mut w[..7], &g[..7], &mut m[..7], &mut v[..7], &u),
            0
        );
        assert_eq!(w, [1.0; 13]);
        assert_eq!(update_f32(&mut w, &g, &mut m, &mut v, &u), 8);
        assert!(w[..8].iter().all(|&x| x < 1.0) && w[8..] == [1.0; 5]);
    }
}
