//! Which x86-64 instruction-set extensions this CPU offers, detected at run time.
//!
//! The crate is `no_std`, so `std::is_x86_feature_detected!` is not available; `cpuid` and
//! `xgetbv` are, and are all the detection needs. The answer is detected once and cached in an
//! atomic.

use core::sync::atomic::{AtomicU8, Ordering};

/// Whether this CPU runs the AVX2 + FMA kernels (`true` at compile time when the crate is
/// built with both features, e.g. `-C target-cpu=native`).
pub(crate) fn avx2_fma() -> bool {
    cfg!(all(target_feature = "avx2", target_feature = "fma")) || detected() & AVX2_FMA != 0
}

/// Whether this CPU runs the AVX-512F kernels: the CPU has AVX-512F and the OS saves the mask
/// and `zmm` registers (`true` at compile time when the crate is built with the feature).
pub(crate) fn avx512f() -> bool {
    cfg!(target_feature = "avx512f") || detected() & AVX512F != 0
}

/// Bits of [`detected`]'s answer.
const AVX2_FMA: u8 = 1;
const AVX512F: u8 = 2;
/// Set once the answer is known (so a CPU with neither feature is not detected again).
const KNOWN: u8 = 0x80;

/// What [`detect`] found, detected once and cached.
fn detected() -> u8 {
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Ordering::Relaxed) {
        0 => {
            let found = detect() | KNOWN;
            STATE.store(found, Ordering::Relaxed);
            found
        }
        found => found,
    }
}

/// The CPU's AVX2 + FMA and AVX-512F bits ([`AVX2_FMA`], [`AVX512F`]), each only if the OS
/// saves the registers it needs (XCR0 bits 1–2 for `ymm`, and 5–7 as well for the mask and
/// `zmm` registers).
fn detect() -> u8 {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    const FMA: u32 = 1 << 12;
    const OSXSAVE: u32 = 1 << 27;
    const AVX: u32 = 1 << 28;
    const AVX2: u32 = 1 << 5;
    const AVX512F_BIT: u32 = 1 << 16;
    const YMM_STATE: u64 = 0b110;
    const ZMM_STATE: u64 = 0b1110_0110;
    // SAFETY: every x86-64 CPU has CPUID. (Recent Rust declares these intrinsics safe, older
    // releases `unsafe`: the block keeps the crate building with its declared `rust-version`.)
    #[allow(unused_unsafe)]
    let (leaf1, max_leaf, leaf7) = unsafe { (__cpuid(1), __cpuid(0).eax, __cpuid_count(7, 0)) };
    if leaf1.ecx & (OSXSAVE | AVX) != OSXSAVE | AVX || max_leaf < 7 {
        return 0;
    }
    // SAFETY: OSXSAVE is set, so XGETBV is available.
    let xcr0 = unsafe { xgetbv0() };
    let mut found = 0;
    if leaf1.ecx & FMA != 0 && leaf7.ebx & AVX2 != 0 && xcr0 & YMM_STATE == YMM_STATE {
        found |= AVX2_FMA;
    }
    if leaf7.ebx & AVX512F_BIT != 0 && xcr0 & ZMM_STATE == ZMM_STATE {
        found |= AVX512F;
    }
    found
}

/// XCR0, the OS-enabled register state.
#[target_feature(enable = "xsave")]
unsafe fn xgetbv0() -> u64 {
    // SAFETY: the caller checked OSXSAVE.
    unsafe { core::arch::x86_64::_xgetbv(0) }
}
