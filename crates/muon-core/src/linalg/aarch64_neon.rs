//! NEON products for AArch64 (NEON is part of every AArch64 application target, so there is
//! nothing to detect): the same blocked algorithm as the x86-64 AVX2 kernel, with
//! `float32x4_t` vectors.
//!
//! - the depth is cut into `KC = 256` slices, rows of `A` into `MC = 240`-row blocks;
//! - a 16-column panel of the right operand is read in place when the operand is row-major,
//!   at most [`DIRECT_MAX_COLS`] wide and the panel is full; otherwise it is packed into a
//!   16 KiB stack buffer, zero-padded past the last column (NEON has no masked loads);
//! - an `R`×16 micro-kernel (`R ≤ 6`) keeps `4R ≤ 24` of the 32 vector registers as
//!   accumulators, multiplying four panel vectors by one element of each row of `A` per depth
//!   step (`fmla` by scalar); a narrower tile is stored through a small buffer.
//!
//! Each output element is a sequential fused multiply-add over its depth slice: the same
//! order, hence the same bits, as the AVX2 kernel, and within a few ulps of the sum of
//! `|terms|` of the portable one. The tests compare it with the portable kernel under
//! `qemu-aarch64` in `.ci/run`; its speed on AArch64 hardware is not measured (no such
//! machine here).

use core::arch::aarch64::{float32x4_t, vaddq_f32, vdupq_n_f32, vfmaq_n_f32, vld1q_f32, vst1q_f32};
use core::mem::MaybeUninit;

/// Rows of `A` per micro-kernel call (at most).
const MR: usize = 6;
/// Columns of the right operand per panel (four `float32x4_t`).
const NR: usize = 16;
/// Depth of one panel.
const KC: usize = 256;
/// Rows of `A` swept per panel (a multiple of `MR`).
const MC: usize = 240;
/// Row-major right operands at most this many columns wide are read in place, not packed.
const DIRECT_MAX_COLS: usize = 128;

/// Products with fewer multiply-adds than this stay on the portable path.
pub(super) const MIN_WORK: usize = 512; // 8³

/// One packed `KC × NR` panel, row-major, left uninitialised: [`pack`] writes the first `kc`
/// rows and [`kernel`] reads only those.
#[repr(C, align(16))]
struct Panel([MaybeUninit<f32>; KC * NR]);

/// Where the right operand's element `(p, j)` lives: `data[p * row_stride + j * col_stride]`.
#[derive(Clone, Copy)]
struct Operand<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

/// `out (m×n) = A (m×k) · B (k×n)`, all row-major. Returns `false`, leaving `out` untouched,
/// when a slice is shorter than its shape.
pub(super) fn matmul(a: &[f32], b: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) -> bool {
    if !fits(a, m, k) || !fits(b, k, n) || !fits(out, m, n) {
        return false;
    }
    let b = Operand {
        data: b,
        row_stride: n,
        col_stride: 1,
    };
    // SAFETY: the slices hold their shapes (checked above).
    unsafe { gemm(a, k, b, out, m, k, n, None) };
    true
}

/// `out (m×m) = X (m×n) · Xᵀ`: the upper triangle by the blocked kernel, mirrored. Returns
/// `false`, leaving `out` untouched, when a slice is too short.
pub(super) fn gram(x: &[f32], out: &mut [f32], m: usize, n: usize) -> bool {
    if !gram_upper_rows(x, out, m, n, 0, m) {
        return false;
    }
    mirror_skipped(out, m);
    true
}

/// Rows `row0..row0 + rows` of the upper triangle of `X (m×n) · Xᵀ` (and of whatever lower
/// part the tiles cover) into `out`, which holds just those rows (`rows × m`); the caller
/// mirrors the whole matrix with [`mirror_skipped`] once every row is done. `row0` must be a
/// multiple of 6 (the row tile), so the tiles line up with a single-call product. Returns
/// `false`, leaving `out` untouched, when a slice is too short.
pub(super) fn gram_upper_rows(
    x: &[f32],
    out: &mut [f32],
    m: usize,
    n: usize,
    row0: usize,
    rows: usize,
) -> bool {
    let in_range = row0.checked_add(rows).is_some_and(|end| end <= m) && row0.is_multiple_of(MR);
    if !in_range || !fits(x, m, n) || !fits(out, rows, m) {
        return false;
    }
    // Xᵀ as the right operand: its element (p, j) is X[j][p].
    let xt = Operand {
        data: x,
        row_stride: 1,
        col_stride: n,
    };
    // SAFETY:  rows row0..row0+rows of X exist; out holds rows × m.
    unsafe { gemm(&x[row0 * n..], n, xt, out, rows, n, m, Some(row0)) };
    true
}

/// `out (m×m) = S · S` for an exactly symmetric `S (m×m)` (so `S·S = S·Sᵀ`, its Gram matrix):
/// the upper triangle with `S` itself as the row-major right operand (no transposed reads),
/// mirrored. Returns `false`, leaving `out` untouched, when a slice is
/// too short.
pub(super) fn square_symmetric(s: &[f32], out: &mut [f32], m: usize) -> bool {
    if !square_symmetric_upper_rows(s, out, m, 0, m) {
        return false;
    }
    mirror_skipped(out, m);
    true
}

/// Rows `row0..row0 + rows` of [`square_symmetric`]'s upper triangle, as
/// [`gram_upper_rows`] for `X·Xᵀ`.
pub(super) fn square_symmetric_upper_rows(
    s: &[f32],
    out: &mut [f32],
    m: usize,
    row0: usize,
    rows: usize,
) -> bool {
    let in_range = row0.checked_add(rows).is_some_and(|end| end <= m) && row0.is_multiple_of(MR);
    if !in_range || !fits(s, m, m) || !fits(out, rows, m) {
        return false;
    }
    let right = Operand {
        data: s,
        row_stride: m,
        col_stride: 1,
    };
    // SAFETY:  rows row0..row0+rows of S exist; out holds rows × m.
    unsafe { gemm(&s[row0 * m..], m, right, out, rows, m, m, Some(row0)) };
    true
}

/// Whether `s` holds a `rows × cols` matrix (without overflow).
fn fits(s: &[f32], rows: usize, cols: usize) -> bool {
    rows.checked_mul(cols).is_some_and(|len| s.len() >= len)
}

/// Copies the upper triangle onto the lower one where [`gemm`] in `upper` mode skipped a
/// tile: in row `i`, the columns below `⌊⌊i/MR⌋·MR / NR⌋·NR` (see the AVX2 module).
pub(super) fn mirror_skipped(out: &mut [f32], m: usize) {
    for i in 0..m {
        let cut = (i / MR * MR) / NR * NR;
        for j in 0..cut {
            out[i * m + j] = out[j * m + i];
        }
    }
}

/// The blocked product `out (m×n) = A (m×k, row stride lda) · B`; with `upper = Some(row0)`
/// (`row0`: the index of `a`'s first row in the whole symmetric product), only tiles
/// touching the upper triangle are computed.
///
/// # Safety
/// `a` holds `m` rows of stride `lda ≥ k`, `b` holds `k × n` under its strides, and `out`
/// holds `m × n`.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm(
    a: &[f32],
    lda: usize,
    b: Operand<'_>,
    out: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
    upper: Option<usize>,
) {
    if k == 0 {
        out[..m * n].fill(0.0);
        return;
    }
    let in_place = b.col_stride == 1 && n <= DIRECT_MAX_COLS;
    let mut panel = Panel([MaybeUninit::uninit(); KC * NR]);
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        for i_blk in (0..m).step_by(MC) {
            let i_end = (i_blk + MC).min(m);
            for j0 in (0..n).step_by(NR) {
                let cols = NR.min(n - j0);
                if upper.is_some_and(|row0| row0 + i_blk >= j0 + cols) {
                    continue;
                }
                let (bp, ldb) = if in_place && cols == NR {
                    // SAFETY: row p0, columns j0..j0+NR of B lie inside its k × n elements.
                    (
                        unsafe { b.data.as_ptr().add(p0 * b.row_stride + j0) },
                        b.row_stride,
                    )
                } else {
                    // SAFETY: the caller's contract on b's shape.
                    unsafe { pack(&mut panel, b, p0, kc, j0, cols) };
                    (panel.0.as_ptr().cast::<f32>(), NR)
                };
                for i0 in (i_blk..i_end).step_by(MR) {
                    if upper.is_some_and(|row0| row0 + i0 >= j0 + cols) {
                        break;
                    }
                    let tile = Tile {
                        kc,
                        cols,
                        overwrite: p0 == 0,
                    };
                    // SAFETY: rows i0.. of A have lda ≥ p0 + kc columns; bp points at kc rows of
                    // NR readable floats (full panel of B, or the packed panel); out holds rows
                    // i0.. with n ≥ j0 + cols columns.
                    unsafe {
                        let ap = a.as_ptr().add(i0 * lda + p0);
                        let cp = out.as_mut_ptr().add(i0 * n + j0);
                        match MR.min(i_end - i0) {
                            6 => kernel::<6>(ap, lda, bp, ldb, cp, n, tile),
                            5 => kernel::<5>(ap, lda, bp, ldb, cp, n, tile),
                            4 => kernel::<4>(ap, lda, bp, ldb, cp, n, tile),
                            3 => kernel::<3>(ap, lda, bp, ldb, cp, n, tile),
                            2 => kernel::<2>(ap, lda, bp, ldb, cp, n, tile),
                            _ => kernel::<1>(ap, lda, bp, ldb, cp, n, tile),
                        }
                    }
                }
            }
        }
    }
}

/// Copies `B[p0..p0+kc, j0..j0+cols]` into the panel, zero-padding columns past `cols`.
///
/// # Safety
/// `b` holds every element `(p, j)` with `p < p0 + kc`, `j < j0 + cols` under its strides.
unsafe fn pack(panel: &mut Panel, b: Operand<'_>, p0: usize, kc: usize, j0: usize, cols: usize) {
    let dst = panel.0.as_mut_ptr().cast::<f32>();
    let src = b.data.as_ptr();
    // SAFETY: the panel has KC ≥ kc rows of NR floats; source indices are the caller's.
    unsafe {
        for c in 0..NR {
            let d = dst.add(c);
            if c < cols {
                let s = src.add(p0 * b.row_stride + (j0 + c) * b.col_stride);
                for p in 0..kc {
                    *d.add(p * NR) = *s.add(p * b.row_stride);
                }
            } else {
                for p in 0..kc {
                    *d.add(p * NR) = 0.0;
                }
            }
        }
    }
}

/// One micro-kernel call's depth, column count (≤ NR), and whether to overwrite or accumulate.
#[derive(Clone, Copy)]
struct Tile {
    kc: usize,
    cols: usize,
    overwrite: bool,
}

/// `C[..R, ..cols] (+)= A[..R, ..kc] · B[..kc, ..NR]`, `B` rows `ldb` apart.
///
/// # Safety
/// `a` points at `R` rows of stride `lda` with `kc` readable floats each; `b` at `kc` rows of
/// stride `ldb` with `NR` readable floats each; `c` at `R` rows of stride `ldc` with
/// `tile.cols` floats each.
#[inline]
unsafe fn kernel<const R: usize>(
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    tile: Tile,
) {
    // SAFETY (the whole body): the caller's contract; NEON is part of the target.
    unsafe {
        let mut acc: [[float32x4_t; 4]; R] = [[vdupq_n_f32(0.0); 4]; R];
        for p in 0..tile.kc {
            let bp = b.add(p * ldb);
            let bv = [
                vld1q_f32(bp),
                vld1q_f32(bp.add(4)),
                vld1q_f32(bp.add(8)),
                vld1q_f32(bp.add(12)),
            ];
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = *a.add(r * lda + p);
                for (h, acc) in acc.iter_mut().enumerate() {
                    *acc = vfmaq_n_f32(*acc, bv[h], av);
                }
            }
        }
        if tile.cols == NR {
            for (r, acc) in acc.iter().enumerate() {
                for (h, &v) in acc.iter().enumerate() {
                    let dst = c.add(r * ldc + 4 * h);
                    let v = if tile.overwrite {
                        v
                    } else {
                        vaddq_f32(vld1q_f32(dst), v)
                    };
                    vst1q_f32(dst, v);
                }
            }
            return;
        }
        let mut tmp = [0.0f32; NR];
        for (r, acc) in acc.iter().enumerate() {
            for (h, &v) in acc.iter().enumerate() {
                vst1q_f32(tmp.as_mut_ptr().add(4 * h), v);
            }
            for (j, &v) in tmp.iter().take(tile.cols).enumerate() {
                let dst = c.add(r * ldc + j);
                *dst = if tile.overwrite { v } else { *dst + v };
            }
        }
    }
}
