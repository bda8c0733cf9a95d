//! The AVX-512 micro-kernel for x86-64, chosen at run time.
//!
//! The blocking is the shared driver's ([`super::blocked`](mod@super::blocked)); this module is the `R`×32
//! register tile (`R ≤ 12`, a compile-time constant): `2R ≤ 24` of the 32 `zmm` registers hold
//! accumulators, and each depth step loads two `__m512` of the panel and broadcasts one element
//! of each of `R` rows of `A` against them. A panel narrower than 32 columns is loaded and
//! stored under `__mmask16` lane masks (masked-off lanes are never touched, so nothing past the
//! last column is read), so it is read in place like a full one; one at most 16 columns wide
//! runs as an `R`×16 tile (`R ≤ 24`, one accumulator per row: [`MicroKernel::tile_narrow`]).
//! Used only when the CPU reports
//! AVX-512F and the OS saves the `zmm` and mask registers ([`crate::x86_features`]) and
//! [`super::CpuKernel::Avx512`] is selected.
//!
//! Each element is the same sequence of fused multiply-adds as in the AVX2 kernel (the shared
//! driver fixes the depth slices), so the two give the same bits. The tests check that, and
//! agreement with the portable kernel, on every CPU that has AVX-512 (natively on an Intel
//! Xeon, 2026-12-08), and under Miri with AVX-512 enabled in `.ci/run` (CI's machines have
//! AVX2 only). Its speed on that Xeon is in `docs/performance.md`.

use core::arch::x86_64::{
    __m512, __mmask16, _mm512_add_ps, _mm512_fmadd_ps, _mm512_mask_storeu_ps,
    _mm512_maskz_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps,
};

use super::blocked::{MicroKernel, Tile};

/// Rows of `A` per micro-kernel call (at most).
const MR: usize = 12;
/// Columns of the right operand per panel (two `__m512`).
const NR: usize = 32;

/// The AVX-512F register tile.
pub(super) struct Avx512;

// SAFETY: `tile` and `tile_packing` touch exactly the elements their contract names (lane
// masks keep loads and stores inside `cols`; the panel copy writes `kc × NR` floats of `dst`),
// and `supported` is the CPU's and OS's AVX-512F answer.
unsafe impl MicroKernel for Avx512 {
    const MR: usize = MR;
    const NR: usize = NR;
    const MASKED_TAIL: bool = true;
    /// From 512 floats (2 KiB), half the AVX2 kernel's threshold: every 64-byte load or store
    /// of a row 16 bytes off a line straddles two lines here (half of AVX2's 32-byte ones do).
    /// With `B` and `C` 16 bytes off a line (a `Vec<f32>` here), the shifted grid took 2% off
    /// a 512³ product, 3% at 640³ and 7% at 768³ and 896³, and added 1–6% at 256³–448³ (medians
    /// of 11 rounds, the two grids in one process; Intel Xeon with AVX-512, 2026-12-08;
    /// `docs/performance.md`).
    const ALIGN_MIN_STRIDE: usize = 512;

    fn supported() -> bool {
        crate::x86_features::avx512f()
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn tile(rows: usize, t: Tile) {
        // SAFETY: the caller's contract.
        unsafe { dispatch::<false>(rows, t, core::ptr::null_mut()) }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn tile_narrow(rows: usize, t: Tile) {
        let [mask, _] = lane_masks(t.cols);
        // `narrow::<R>` for `R = rows` (1..=24).
        macro_rules! by_rows {
            ($($r:literal)+) => {
                match rows {
                    $($r => narrow::<$r>(t, mask),)+
                    _ => narrow::<1>(t, mask),
                }
            };
        }
        // SAFETY: the caller's contract.
        unsafe { by_rows!(24 23 22 21 20 19 18 17 16 15 14 13 12 11 10 9 8 7 6 5 4 3 2) }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn tile_packing(rows: usize, t: Tile, dst: *mut f32) {
        // SAFETY: the caller's contract.
        unsafe { dispatch::<true>(rows, t, dst) }
    }

    /// The AVX2 kernel's 8×8 transposes, four per depth octet (AVX-512F implies AVX2 and FMA,
    /// both for the compiler and on every CPU that has it).
    #[target_feature(enable = "avx512f")]
    unsafe fn pack_columns(dst: *mut f32, src: *const f32, ld: usize, kc: usize, cols: usize) {
        // SAFETY: the caller's contract.
        unsafe { super::x86_avx2::pack_columns::<NR>(dst, src, ld, kc, cols) }
    }

    /// The AVX2 kernel's (see [`MicroKernel::pack_columns`] here).
    #[target_feature(enable = "avx512f")]
    unsafe fn transpose8(src: *const f32, dst: *mut f32, ld: usize) {
        // SAFETY: the caller's contract.
        unsafe { super::x86_avx2::transpose8_in_memory(src, dst, ld) }
    }
}

/// [`kernel`] for `rows` rows (`1..=MR`), copying the panel into `dst` iff `PACK`.
///
/// # Safety
/// As [`kernel`].
#[target_feature(enable = "avx512f")]
unsafe fn dispatch<const PACK: bool>(rows: usize, t: Tile, dst: *mut f32) {
    // SAFETY: the caller's contract.
    unsafe {
        match rows {
            12 => kernel::<12, PACK>(t, dst),
            11 => kernel::<11, PACK>(t, dst),
            10 => kernel::<10, PACK>(t, dst),
            9 => kernel::<9, PACK>(t, dst),
            8 => kernel::<8, PACK>(t, dst),
            7 => kernel::<7, PACK>(t, dst),
            6 => kernel::<6, PACK>(t, dst),
            5 => kernel::<5, PACK>(t, dst),
            4 => kernel::<4, PACK>(t, dst),
            3 => kernel::<3, PACK>(t, dst),
            2 => kernel::<2, PACK>(t, dst),
            _ => kernel::<1, PACK>(t, dst),
        }
    }
}

/// Lane masks for a panel `cols` wide (`≤ NR`): bit `l` of half `h` is set iff `16h + l < cols`.
fn lane_masks(cols: usize) -> [__mmask16; 2] {
    let bits: u32 = if cols >= NR {
        u32::MAX
    } else {
        (1u32 << cols) - 1
    };
    [bits as __mmask16, (bits >> 16) as __mmask16]
}

/// `C[..R, ..cols] (+)= A[..R, ..kc] · B[..kc, ..cols]`, `B` rows `ldb` apart. With `PACK`,
/// each row of `B` the tile loads is also stored to `dst` as `NR` floats, zero past `cols`
/// (the masked loads' off lanes): the packed panel of [`MicroKernel::tile_packing`].
///
/// # Safety
/// AVX-512F is available; `tile`'s pointers as [`Tile`] describes them, for `R` rows; with
/// `PACK`, `dst` holds `kc × NR` writable floats.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn kernel<const R: usize, const PACK: bool>(tile: Tile, dst: *mut f32) {
    let Tile {
        a,
        lda,
        b,
        ldb,
        c,
        ldc,
        ..
    } = tile;
    let mut acc: [[__m512; 2]; R] = [[_mm512_setzero_ps(); 2]; R];
    // One path for full and narrow tiles: an AVX-512 load or store under a mask costs what the
    // plain one does (unlike AVX2's `vmaskmovps`), and a full tile's masks are all ones.
    let [m0, m1] = lane_masks(tile.cols);
    // SAFETY (the loop and the stores): the caller's contract; masked loads and stores touch
    // only the `cols` existing columns. The second half of a narrow tile may start past the end
    // of its row's allocation, so its address is formed with `wrapping_add` (no access happens
    // there: its lanes are all masked off).
    unsafe {
        for p in 0..tile.kc {
            let b0 = _mm512_maskz_loadu_ps(m0, b.add(p * ldb));
            let b1 = _mm512_maskz_loadu_ps(m1, b.add(p * ldb).wrapping_add(16));
            if PACK {
                _mm512_storeu_ps(dst.add(p * NR), b0);
                _mm512_storeu_ps(dst.add(p * NR + 16), b1);
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*a.add(r * lda + p));
                acc[0] = _mm512_fmadd_ps(av, b0, acc[0]);
                acc[1] = _mm512_fmadd_ps(av, b1, acc[1]);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let dst = c.add(r * ldc);
            let (v0, v1) = if tile.overwrite {
                (acc[0], acc[1])
            } else {
                (
                    _mm512_add_ps(_mm512_maskz_loadu_ps(m0, dst), acc[0]),
                    _mm512_add_ps(_mm512_maskz_loadu_ps(m1, dst.wrapping_add(16)), acc[1]),
                )
            };
            _mm512_mask_storeu_ps(dst, m0, v0);
            _mm512_mask_storeu_ps(dst.wrapping_add(16), m1, v1);
        }
    }
}

/// `C[..R, ..cols] (+)= A[..R, ..kc] · B[..kc, ..cols]` for a panel at most 16 columns wide
/// (`mask`: the first of [`lane_masks`]`(cols)`), `R ≤ 24`: one `__m512` accumulator per row
/// (24 of the 32 `zmm` registers), one masked load of the panel and `R` broadcasts per depth
/// step. Twenty-four rows make as many multiply-adds per step as [`kernel`]'s twelve rows by
/// two vectors, all of them on existing columns.
///
/// # Safety
/// AVX-512F is available; `tile`'s pointers as [`Tile`] describes them, for `R` rows, with
/// `tile.cols ≤ 16`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn narrow<const R: usize>(tile: Tile, mask: __mmask16) {
    let Tile {
        a,
        lda,
        b,
        ldb,
        c,
        ldc,
        ..
    } = tile;
    let mut acc = [_mm512_setzero_ps(); R];
    // SAFETY (the loop and the stores): the caller's contract; masked loads and stores touch
    // only the `cols ≤ 16` existing columns of each row.
    unsafe {
        for p in 0..tile.kc {
            let b0 = _mm512_maskz_loadu_ps(mask, b.add(p * ldb));
            for (r, acc) in acc.iter_mut().enumerate() {
                *acc = _mm512_fmadd_ps(_mm512_set1_ps(*a.add(r * lda + p)), b0, *acc);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let dst = c.add(r * ldc);
            let v = if tile.overwrite {
                *acc
            } else {
                _mm512_add_ps(_mm512_maskz_loadu_ps(mask, dst), *acc)
            };
            _mm512_mask_storeu_ps(dst, mask, v);
        }
    }
}
