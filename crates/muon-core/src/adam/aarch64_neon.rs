//! The Adam update with `f32` moments, four elements per NEON instruction, for AArch64.
//!
//! The twin of `x86_avx` (built instead of it on AArch64 targets with NEON, which every
//! AArch64 application processor has): the portable loop's IEEE operations in the same order,
//! no fused multiply-add, so its results are bit-identical to the portable loop's (the tests
//! in the parent module compare bits; `.ci/run` runs them for `aarch64-unknown-linux-gnu`
//! under `qemu-aarch64`). `libm`'s scalar `fsqrt` is inline assembly, which keeps the
//! portable loop from vectorising; here `fsqrt` and `fdiv` take four lanes. Speed on AArch64
//! hardware is not measured (no such machine here).

use core::arch::aarch64::{
    float32x4_t, vaddq_f32, vdivq_f32, vdupq_n_f32, vld1q_f32, vmulq_f32, vsqrtq_f32, vst1q_f32,
    vsubq_f32,
};

use super::Update;

/// Lanes per `float32x4_t`.
const LANES: usize = 4;

/// Elements per vector: NEON is part of the target, so always 4.
#[cfg(test)]
pub(super) fn lanes() -> usize {
    LANES
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
    let chunks = n / LANES;
    // SAFETY: NEON is part of the target (the module's cfg); the intrinsic touches no memory.
    let splat = |x: f32| unsafe { vdupq_n_f32(x) };
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
        // SAFETY: NEON is enabled for this target (the module's cfg), and o + LANES ≤
        // chunks · LANES ≤ each slice's length.
        unsafe {
            let w: float32x4_t = vld1q_f32(wp.add(o));
            // g ← g + l2·w
            let g = vaddq_f32(vld1q_f32(gp.add(o)), vmulq_f32(l2, w));
            // m ← m + (1 − β1)(g − m)
            let mo = vld1q_f32(mp.add(o));
            let mf = vaddq_f32(mo, vmulq_f32(omb1, vsubq_f32(g, mo)));
            // v ← β2·v + ((1 − β2)·g)·g
            let vf = vaddq_f32(
                vmulq_f32(b2, vld1q_f32(vp.add(o))),
                vmulq_f32(vmulq_f32(omb2, g), g),
            );
            vst1q_f32(mp.add(o), mf);
            vst1q_f32(vp.add(o), vf);
            // w ← w·decay − step·(m / (√v / √(1 − β2ᵗ) + eps))
            let denom = vaddq_f32(vdivq_f32(vsqrtq_f32(vf), bc2), eps);
            let w = vsubq_f32(vmulq_f32(w, decay), vmulq_f32(step, vdivq_f32(mf, denom)));
            vst1q_f32(wp.add(o), w);
        }
    }
    chunks * LANES
}
