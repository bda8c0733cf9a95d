//! Deterministic pseudo-random test inputs for the unit tests (compiled only for tests).

use std::vec::Vec;

/// `len` values in `[-1, 1)` from an xorshift generator seeded with `seed`.
pub(crate) fn data(len: usize, seed: u32) -> Vec<f32> {
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
