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
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
    cached(&STATE, || detect().avx2_fma)
}

/// Whether this CPU runs the AVX-512F kernels: the CPU has AVX-512F and the OS saves the
/// mask and `zmm` registers (detected once, then cached; `true` at compile time when the
/// crate is built with the feature).
pub(crate) fn avx512f() -> bool {
    if cfg!(target_feature = "avx512f") {
        return true;
    }
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
    cached(&STATE, || detect().avx512f)
}

const UNKNOWN: u8 = 0;
const NO: u8 = 1;
const YES: u8 = 2;

/// The answer cached in `state`, or `detect`'s, stored there.
fn cached(state: &AtomicU8, detect: impl FnOnce() -> bool) -> bool {
    match state.load(Ordering::Relaxed) {
        NO => false,
        YES => true,
        _ => {
            let ok = detect();
            state.store(if ok { YES } else { NO }, Ordering::Relaxed);
            ok
        }
    }
}

/// What [`detect`] found.
struct Features {
    avx2_fma: bool,
    avx512f: bool,
}

/// The CPU's AVX2, FMA and AVX-512F bits, each only if the OS saves the registers it needs
/// (XCR0 bits 1–2 for `ymm`, and 5–7 as well for the mask and `zmm` registers).
fn detect() -> Features {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    const FMA: u32 = 1 << 12;
    const OSXSAVE: u32 = 1 << 27;
    const AVX: u32 = 1 << 28;
    const AVX2: u32 = 1 << 5;
    const AVX512F: u32 = 1 << 16;
    const YMM_STATE: u64 = 0b110;
    const ZMM_STATE: u64 = 0b1110_0110;
    let none = Features {
        avx2_fma: false,
        avx512f: false,
    };
    // SAFETY: every x86-64 CPU has CPUID. (Recent Rust declares these intrinsics safe, older
    // releases `unsafe`: the block keeps the crate building with its declared `rust-version`.)
    #[allow(unused_unsafe)]
    let (leaf1, max_leaf, leaf7) = unsafe { (__cpuid(1), __cpuid(0).eax, __cpuid_count(7, 0)) };
    if leaf1.ecx & (OSXSAVE | AVX) != OSXSAVE | AVX || max_leaf < 7 {
        return none;
    }
    // SAFETY: OSXSAVE is set, so XGETBV is available.
    let xcr0 = unsafe { xgetbv0() };
    Features {
        avx2_fma: leaf1.ecx & FMA != 0 && leaf7.ebx & AVX2 != 0 && xcr0 & YMM_STATE == YMM_STATE,
        avx512f: leaf7.ebx & AVX512F != 0 && xcr0 & ZMM_STATE == ZMM_STATE,
    }
}

/// XCR0, the OS-enabled register state.
#[target_feature(enable = "xsave")]
unsafe fn xgetbv0() -> u64 {
    // SAFETY: the caller checked OSXSAVE.
    unsafe { core::arch::x86_64::_xgetbv(0) }
}
