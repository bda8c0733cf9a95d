//! The Adam update written once for any vector of `f32` lanes. `x86_avx` (`__m256`, eight
//! lanes) and `aarch64_neon` (`float32x4_t`, four) implement [`Lanes`] with one intrinsic per
//! operation and call [`update`] from a function compiled with their instruction set.
//!
//! The operations and their order are the portable loop's ([`super::update_portable`]), with
//! no fused multiply-add, so every lane's result is bit-identical to it (tested bit for bit).

use super::Update;

/// The `f32` vector operations the update needs, each one IEEE instruction per lane.
pub(super) trait Lanes: Copy {
    /// Lanes per vector.
    const N: usize;
    /// Loads `N` floats from `p` (unaligned).
    ///
    /// # Safety
    /// The vector's instruction set is available; `p` points at `N` readable floats.
    unsafe fn load(p: *const f32) -> Self;
    /// Stores the lanes at `p` (unaligned).
    ///
    /// # Safety
    /// The instruction set is available; `p` points at `N` writable floats.
    unsafe fn store(self, p: *mut f32);
    /// Every lane `x`.
    ///
    /// # Safety
    /// The instruction set is available (likewise for every method below).
    unsafe fn splat(x: f32) -> Self;
    /// `self + b`, lane by lane.
    ///
    /// # Safety
    /// As [`Lanes::splat`].
    unsafe fn add(self, b: Self) -> Self;
    /// `self − b`.
    ///
    /// # Safety
    /// As [`Lanes::splat`].
    unsafe fn sub(self, b: Self) -> Self;
    /// `self · b`.
    ///
    /// # Safety
    /// As [`Lanes::splat`].
    unsafe fn mul(self, b: Self) -> Self;
    /// `self / b`, correctly rounded.
    ///
    /// # Safety
    /// As [`Lanes::splat`].
    unsafe fn div(self, b: Self) -> Self;
    /// `√self`, correctly rounded.
    ///
    /// # Safety
    /// As [`Lanes::splat`].
    unsafe fn sqrt(self) -> Self;
    /// `max(self, b)` lane by lane, as `f32::max`: `b` where `self` is NaN.
    ///
    /// # Safety
    /// As [`Lanes::splat`].
    unsafe fn max(self, b: Self) -> Self;
    /// `min(self, b)` lane by lane, as `f32::min`: `b` where `self` is NaN.
    ///
    /// # Safety
    /// As [`Lanes::splat`].
    unsafe fn min(self, b: Self) -> Self;
    /// `self` where `d > 0`, `+0.0` elsewhere (NaN `d` included).
    ///
    /// # Safety
    /// As [`Lanes::splat`].
    unsafe fn where_positive(self, d: Self) -> Self;
}

/// Updates the first `chunks · V::N` elements. Always inlined, so that it is compiled with the
/// instruction set of the `#[target_feature]` function that calls it.
///
/// # Safety
/// `V`'s instruction set is available, and every slice holds at least `chunks · V::N` elements.
#[inline(always)]
pub(super) unsafe fn update<V: Lanes>(
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    u: &Update,
    chunks: usize,
) {
    let (wp, gp, mp, vp) = (
        param.as_mut_ptr(),
        grad.as_ptr(),
        m.as_mut_ptr(),
        v.as_mut_ptr(),
    );
    // SAFETY: the instruction set is available (the caller's contract), and o + N ≤ chunks · N
    // ≤ each slice's length for every chunk.
    unsafe {
        let (l2, omb1, b2, omb2) = (
            V::splat(u.l2),
            V::splat(u.one_minus_b1),
            V::splat(u.b2),
            V::splat(u.one_minus_b2),
        );
        let (bc2, eps, decay, step) = (
            V::splat(u.bc2_sqrt),
            V::splat(u.eps),
            V::splat(u.decay),
            V::splat(u.step_size),
        );
        let (zero, hi, lo) = (V::splat(0.0), V::splat(f32::MAX), V::splat(-f32::MAX));
        for c in 0..chunks {
            let o = c * V::N;
            let w = V::load(wp.add(o));
            // g ← g + l2·w
            let g = V::load(gp.add(o)).add(l2.mul(w));
            // m ← sat(m + (1 − β1)(g − m))
            let mo = V::load(mp.add(o));
            let mf = mo.add(omb1.mul(g.sub(mo))).max(lo).min(hi);
            // v ← clamp(β2·v + ((1 − β2)·g)·g, 0, MAX)
            let vf = b2
                .mul(V::load(vp.add(o)))
                .add(omb2.mul(g).mul(g))
                .max(zero)
                .min(hi);
            mf.store(mp.add(o));
            vf.store(vp.add(o));
            // ratio = sat(m / (√v / √(1 − β2ᵗ) + eps)), 0 where the denominator is 0
            let denom = vf.sqrt().div(bc2).add(eps);
            let ratio = mf.div(denom).max(lo).min(hi).where_positive(denom);
            // w ← sat(w·decay − step·ratio)
            w.mul(decay)
                .sub(step.mul(ratio))
                .max(lo)
                .min(hi)
                .store(wp.add(o));
        }
    }
}
