//! Which x86-64 instruction-set extensions this CPU offers, detected at run time.
//!
//! The crate is `no_std`, so `std::is_x86_feature_detected!` is not available; `cpuid` and
//! `xgetbv` are, and are all the detection needs. The answer is cached in an atomic.

use core::sync::atomic::{AtomicU8, Ordering};

/// Whether this CPU runs the AVX2 + FMA kernels (detected once, then cached; `true` at
/// compile time when the crate is built with both features, e.g. `-C target-cpu=native`).
pub(crate) fn avx2_fma() -> bool {
    if cfg!(all(target_feature = "avx2", target_feature = "fma")) {
        return true;
    }
    const UNKNOWN: u8 = 0;
    const NO: u8 = 1;
    const YES: u8 = 2;
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
    match STATE.load(Ordering::Relaxed) {
        NO => false,
        YES => true,
        _ => {
            let ok = detect();
            STATE.store(if ok { YES } else { NO }, Ordering::Relaxed);
            ok
        }
    }
}

/// AVX2 and FMA in the CPU, and the OS saving the YMM registers (XCR0 bits 1 and 2).
fn detect() -> bool {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    const FMA: u32 = 1 << 12;
    const OSXSAVE: u32 = 1 << 27;
    const AVX: u32 = 1 << 28;
    const AVX2: u32 = 1 << 5;
    // SAFETY: every x86-64 CPU has CPUID. (Recent Rust declares these intrinsics safe, older
    // releases `unsafe`: the block keeps the crate building with its declared `rust-version`.)
    #[allow(unused_unsafe)]
    let (leaf1, max_leaf, leaf7) = unsafe { (__cpuid(1), __cpuid(0).eax, __cpuid_count(7, 0)) };
    if leaf1.ecx & (FMA | OSXSAVE | AVX) != FMA | OSXSAVE | AVX {
        return false;
    }
    if max_leaf < 7 || leaf7.ebx & AVX2 == 0 {
        return false;
    }
    // SAFETY: OSXSAVE is set, so XGETBV is available.
    let xcr0 = unsafe { xgetbv0() };
    xcr0 & 0b110 == 0b110
}

/// XCR0, the OS-enabled register state.
#[target_feature(enable = "xsave")]
unsafe fn xgetbv0() -> u64 {
    // SAFETY: the caller checked OSXSAVE.
    unsafe { core::arch::x86_64::_xgetbv(0) }
}
