//! Dense `f32` kernels on row-major slices: products, Gram matrices and the Frobenius norm.
//!
//! These are the building blocks of Newton–Schulz and the reference the GPU kernels are
//! tested against. Accumulation is in `f32` with eight independent partial sums per dot
//! product (vectorisable, deterministic); norms accumulate in `f64`.
//!
//! # Kernels
//! The products run on one of several [`CpuKernel`]s: the portable one (every target, the
//! reference), AVX-512F or AVX2 + FMA on x86-64 CPUs that have them (detected at run time with
//! `cpuid`), NEON on AArch64. The best supported one is used unless [`force_cpu_kernel`] picks
//! another, which keeps every path testable and measurable on one machine (the benches read
//! `MUON_CPU_KERNEL=portable|avx2|avx512|neon`).

use core::sync::atomic::{AtomicU8, Ordering};

use crate::{MatMut, MatRef, MuonError};

// SIMD intrinsics and raw pointers, confined to these modules (the crate denies unsafe code).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[allow(unsafe_code)]
mod blocked;

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86_avx2;

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86_avx512;

#[cfg(target_arch = "aarch64")]
#[allow(unsafe_code)]
mod aarch64_neon;

#[cfg(feature = "parallel")]
mod parallel;

/// A family of matrix-product kernels the core can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CpuKernel {
    /// Plain Rust, every target: the reference the others are tested against.
    Portable,
    /// x86-64 with AVX2 and FMA (detected at run time): a blocked 6×16 register-tile kernel.
    Avx2Fma,
    /// AArch64 NEON (part of every AArch64 application target): a blocked 6×16 kernel.
    Neon,
    /// x86-64 with AVX-512F (detected at run time, with the OS saving the `zmm` registers): a
    /// blocked 12×32 register-tile kernel. Gives the same bits as [`CpuKernel::Avx2Fma`].
    Avx512,
}

impl CpuKernel {
    /// Every kernel family, supported here or not.
    pub const ALL: [CpuKernel; 4] = [
        CpuKernel::Portable,
        CpuKernel::Avx2Fma,
        CpuKernel::Neon,
        CpuKernel::Avx512,
    ];

    /// A short name: `portable`, `avx2`, `neon`, `avx512` (what `MUON_CPU_KERNEL` accepts in
    /// the benches).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            CpuKernel::Portable => "portable",
            CpuKernel::Avx2Fma => "avx2",
            CpuKernel::Neon => "neon",
            CpuKernel::Avx512 => "avx512",
        }
    }

    /// The kernel named `name` (as [`CpuKernel::name`] spells it), if any.
    #[must_use]
    pub fn from_name(name: &str) -> Option<CpuKernel> {
        CpuKernel::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether this build, on this CPU, can run the kernel.
    #[must_use]
    pub fn is_supported(self) -> bool {
        match self {
            CpuKernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            CpuKernel::Avx2Fma => crate::x86_features::avx2_fma(),
            #[cfg(target_arch = "x86_64")]
            CpuKernel::Avx512 => crate::x86_features::avx512f(),
            #[cfg(target_arch = "aarch64")]
            CpuKernel::Neon => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The fastest kernel this CPU supports.
    #[must_use]
    pub fn best() -> CpuKernel {
        if CpuKernel::Avx512.is_supported() {
            CpuKernel::Avx512
        } else if CpuKernel::Avx2Fma.is_supported() {
            CpuKernel::Avx2Fma
        } else if CpuKernel::Neon.is_supported() {
            CpuKernel::Neon
        } else {
            CpuKernel::Portable
        }
    }
}

/// The forced kernel: 0 for none (use [`CpuKernel::best`]), else 1 + its index in
/// [`CpuKernel::ALL`].
static FORCED: AtomicU8 = AtomicU8::new(0);

/// Makes every later product in this process run on `kernel`, or on the best supported one
/// again with `None`. Meant for tests and benchmarks (comparing paths on one machine); the
/// setting is process-wide.
///
/// # Errors
/// [`MuonError::UnsupportedKernel`] if this CPU or target cannot run `kernel` (nothing changes).
pub fn force_cpu_kernel(kernel: Option<CpuKernel>) -> Result<(), MuonError> {
    let code = match kernel {
        None => 0,
        Some(k) if k.is_supported() => {
            1 + CpuKernel::ALL.iter().position(|&x| x == k).unwrap_or(0) as u8
        }
        Some(k) => return Err(MuonError::UnsupportedKernel { kernel: k.name() }),
    };
    FORCED.store(code, Ordering::Relaxed);
    Ok(())
}

/// The kernel [`force_cpu_kernel`] set, if any (`None`: the products use
/// [`CpuKernel::best`]).
#[must_use]
pub fn forced_cpu_kernel() -> Option<CpuKernel> {
    match FORCED.load(Ordering::Relaxed) {
        0 => None,
        code => CpuKernel::ALL.get(usize::from(code - 1)).copied(),
    }
}

/// The kernel the products run on now: the forced one, else [`CpuKernel::best`].
#[must_use]
pub fn cpu_kernel() -> CpuKernel {
    forced_cpu_kernel().unwrap_or_else(CpuKernel::best)
}

/// The kernel for the next product. Targets with no accelerated kernel (the Cortex-M
/// firmware) resolve it at compile time: no atomic load, no dispatch code.
#[inline]
fn selected() -> CpuKernel {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        cpu_kernel()
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        CpuKernel::Portable
    }
}

/// Dot product of two equal-length slices, eight partial sums.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// `y += alpha · x` over equal-length slices.
#[inline]
pub(crate) fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// Rows of `A` handled together by [`matmul_raw`]: each row of `B` loaded from cache feeds
/// four output rows.
const MATMUL_ROWS: usize = 4;
/// Columns of the output handled together: four output row chunks of this many `f32` (4 KiB)
/// stay in L1 while the rows of `B` stream past.
const MATMUL_COLS: usize = 256;

/// Raw `out (m×n) = A (m×k) · B (k×n)`; lengths are the caller's contract (slices shorter than
/// the shapes say leave `out` untouched).
///
/// Runs on the [selected](cpu_kernel) kernel for products of at least 8³ multiply-adds;
/// smaller ones (and every target without an accelerated kernel) run [`matmul_portable`].
///
/// With the `parallel` feature, large products are split across threads first.
pub(crate) fn matmul_raw(a: &[f32], b: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
    let kernel = selected();
    #[cfg(feature = "parallel")]
    if parallel::matmul(kernel, a, b, out, m, k, n) {
        return;
    }
    matmul_with(kernel, a, b, out, m, k, n);
}

/// `(a, b, out, m, k, n)`: `out (m×n) = A (m×k) · B (k×n)`; `false` if it could not run.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
type MatmulFn = fn(&[f32], &[f32], &mut [f32], usize, usize, usize) -> bool;

/// `(x, out_rows, m, n, row0, rows, shared)`: rows `row0..row0 + rows` of the upper triangle
/// of `X (m×n) · Xᵀ`, packing `Xᵀ`'s panels into `shared` if given; `false` if it could not
/// run.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
type GramRowsFn =
    fn(&[f32], &mut [f32], usize, usize, usize, usize, Option<&blocked::SharedPanels<'_>>) -> bool;

/// `(s, out_rows, m, row0, rows, shared)`: rows of the upper triangle of `S·S`, packing `S`'s
/// panels into `shared` if given.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
type SquareRowsFn =
    fn(&[f32], &mut [f32], usize, usize, usize, Option<&blocked::SharedPanels<'_>>) -> bool;

/// `(a, b, out, (m, k, n), bands, me, shared)`: band `me` of `A·B`, then what the other bands
/// leave, through shared panels if given ([`blocked::matmul_bands`]); `false` if it could not
/// run.
#[cfg(all(
    feature = "parallel",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
type MatmulBandsFn = fn(
    &[f32],
    &[f32],
    &blocked::Output<'_>,
    (usize, usize, usize),
    &[blocked::Band],
    usize,
    Option<&blocked::SharedPanels<'_>>,
) -> bool;

/// The blocked driver's products on one accelerated kernel (see the [`blocked`](mod@blocked) driver).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[derive(Clone, Copy)]
struct Blocked {
    matmul: MatmulFn,
    gram: fn(&[f32], &mut [f32], usize, usize) -> bool,
    square_symmetric: fn(&[f32], &mut [f32], usize) -> bool,
    #[cfg_attr(not(feature = "parallel"), allow(dead_code))]
    gram_upper_rows: GramRowsFn,
    /// Rows of the upper triangle of `S·S`.
    #[cfg_attr(not(feature = "parallel"), allow(dead_code))]
    square_symmetric_upper_rows: SquareRowsFn,
    /// Mirrors what the upper-row products skipped.
    #[cfg_attr(not(feature = "parallel"), allow(dead_code))]
    mirror_skipped: fn(&mut [f32], usize),
    /// One band of a plain product and what the others leave, through panels shared between
    /// bands if given.
    #[cfg(feature = "parallel")]
    matmul_bands: MatmulBandsFn,
    /// `(row0, rows, start, (k, n))`: a band of a plain product, for `matmul_bands`.
    #[cfg(feature = "parallel")]
    band: fn(usize, usize, usize, (usize, usize)) -> blocked::Band,
    /// The kernel's panel width `NR` (what [`blocked::SharedPanels`] are cut for).
    #[cfg(feature = "parallel")]
    panel_width: usize,
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
impl Blocked {
    /// The products of micro-kernel `K`.
    fn of<K: blocked::MicroKernel>() -> Blocked {
        Blocked {
            matmul: blocked::matmul::<K>,
            gram: blocked::gram::<K>,
            square_symmetric: blocked::square_symmetric::<K>,
            gram_upper_rows: blocked::gram_upper_rows::<K>,
            square_symmetric_upper_rows: blocked::square_symmetric_upper_rows::<K>,
            mirror_skipped: blocked::mirror_skipped::<K>,
            #[cfg(feature = "parallel")]
            matmul_bands: blocked::matmul_bands::<K>,
            #[cfg(feature = "parallel")]
            band: blocked::Band::new::<K>,
            #[cfg(feature = "parallel")]
            panel_width: K::NR,
        }
    }
}

/// The blocked products of an accelerated `kernel`; `None` for the portable one (and for a
/// kernel of another architecture).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn blocked(kernel: CpuKernel) -> Option<Blocked> {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        CpuKernel::Avx2Fma => Some(Blocked::of::<x86_avx2::Avx2>()),
        #[cfg(target_arch = "x86_64")]
        CpuKernel::Avx512 => Some(Blocked::of::<x86_avx512::Avx512>()),
        #[cfg(target_arch = "aarch64")]
        CpuKernel::Neon => Some(Blocked::of::<aarch64_neon::Neon>()),
        _ => None,
    }
}

/// Runs an accelerated product (`run`, which says whether it could) when `kernel` has one
/// and the product's `m·k·n` multiply-adds reach [`blocked::MIN_WORK`] (below it the portable
/// kernel is as fast); returns whether it ran. One rule for every kernel and product.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline]
fn accelerated(
    kernel: CpuKernel,
    (m, k, n): (usize, usize, usize),
    run: impl FnOnce(Blocked) -> bool,
) -> bool {
    m.saturating_mul(k).saturating_mul(n) >= blocked::MIN_WORK && blocked(kernel).is_some_and(run)
}

/// [`matmul_raw`] on `kernel` (which must be supported; an unsupported one falls back to the
/// portable kernel).
#[inline]
fn matmul_with(
    kernel: CpuKernel,
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) {
    let _ = kernel;
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    if accelerated(kernel, (m, k, n), |p| (p.matmul)(a, b, out, m, k, n)) {
        return;
    }
    matmul_portable(a, b, out, m, k, n);
}

/// The portable `out (m×n) = A (m×k) · B (k×n)`, the reference for the accelerated kernels.
///
/// Register- and cache-blocked "axpy" form: for a block of four rows of `A` and a chunk of
/// columns, each row of `B` is read once and accumulated into four output rows, which
/// vectorises without intrinsics and cuts traffic from `B` fourfold.
///
/// Written with exact-size chunk iterators instead of indexing, so the compiled kernel has no
/// bounds-check panic paths (the `no_std` firmware path must be panic-free); slices shorter
/// than the shapes say leave `out` untouched instead of panicking.
fn matmul_portable(a: &[f32], b: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
    let (Some(a), Some(b), Some(out)) = (
        a.get(..m.wrapping_mul(k)),
        b.get(..k.wrapping_mul(n)),
        out.get_mut(..m.wrapping_mul(n)),
    ) else {
        debug_assert!(false, "matmul_raw: a slice is shorter than its shape");
        return;
    };
    out.fill(0.0);
    if k == 0 || n == 0 {
        return;
    }
    let mut rows = a.chunks_exact(k).zip(out.chunks_exact_mut(n));
    for _ in 0..m / MATMUL_ROWS {
        let (Some((a0, r0)), Some((a1, r1)), Some((a2, r2)), Some((a3, r3))) =
            (rows.next(), rows.next(), rows.next(), rows.next())
        else {
            break;
        };
        let out_chunks = r0
            .chunks_mut(MATMUL_COLS)
            .zip(r1.chunks_mut(MATMUL_COLS))
            .zip(r2.chunks_mut(MATMUL_COLS))
            .zip(r3.chunks_mut(MATMUL_COLS));
        for (block, (((o0, o1), o2), o3)) in out_chunks.enumerate() {
            let j0 = block * MATMUL_COLS;
            let a_cols = a0.iter().zip(a1).zip(a2).zip(a3);
            for ((((&a0p, &a1p), &a2p), &a3p), b_row) in a_cols.zip(b.chunks_exact(n)) {
                let b_row = b_row.get(j0..).unwrap_or(&[]);
                for ((((x0, x1), x2), x3), &bv) in o0
                    .iter_mut()
                    .zip(o1.iter_mut())
                    .zip(o2.iter_mut())
                    .zip(o3.iter_mut())
                    .zip(b_row)
                {
                    *x0 += a0p * bv;
                    *x1 += a1p * bv;
                    *x2 += a2p * bv;
                    *x3 += a3p * bv;
                }
            }
        }
    }
    for (a_row, out_row) in rows {
        for (&aip, b_row) in a_row.iter().zip(b.chunks_exact(n)) {
            axpy(aip, b_row, out_row);
        }
    }
}

/// Raw symmetric `out (m×m) = X (m×n) · Xᵀ`; short slices leave `out` untouched.
///
/// Dispatched like [`matmul_raw`]: the selected accelerated kernel where it applies, else
/// [`gram_portable`].
pub(crate) fn gram_raw(x: &[f32], out: &mut [f32], m: usize, n: usize) {
    let kernel = selected();
    #[cfg(feature = "parallel")]
    if parallel::symmetric(kernel, x, out, m, parallel::Symmetric::Gram { n }) {
        return;
    }
    gram_with(kernel, x, out, m, n);
}

/// [`gram_raw`] on `kernel`.
#[inline]
fn gram_with(kernel: CpuKernel, x: &[f32], out: &mut [f32], m: usize, n: usize) {
    let _ = kernel;
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    if accelerated(kernel, (m, m, n), |p| (p.gram)(x, out, m, n)) {
        return;
    }
    gram_portable(x, out, m, n);
}

/// Raw `out (m×m) = S · S` for a symmetric `S (m×m)`, which equals its Gram matrix `S·Sᵀ`
/// (the `A²` of Newton–Schulz); short slices leave `out` untouched.
///
/// The accelerated kernels read `S` row-major as the right operand (no transposed reads);
/// the portable path is [`gram_portable`], so on targets without an accelerated kernel this
/// is exactly [`gram_raw`]. `S` must be exactly symmetric (as [`gram_raw`]'s output is).
pub(crate) fn square_symmetric_raw(s: &[f32], out: &mut [f32], m: usize) {
    let kernel = selected();
    #[cfg(feature = "parallel")]
    if parallel::symmetric(kernel, s, out, m, parallel::Symmetric::Square) {
        return;
    }
    square_symmetric_with(kernel, s, out, m);
}

/// [`square_symmetric_raw`] on `kernel`.
#[inline]
fn square_symmetric_with(kernel: CpuKernel, s: &[f32], out: &mut [f32], m: usize) {
    let _ = kernel;
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    if accelerated(kernel, (m, m, m), |p| (p.square_symmetric)(s, out, m)) {
        return;
    }
    gram_portable(s, out, m, m);
}

/// The portable Gram matrix: the upper triangle by row dot products, mirrored; the reference
/// for the accelerated kernels.
///
/// Panic-free like [`matmul_portable`]: short slices leave `out` untouched.
fn gram_portable(x: &[f32], out: &mut [f32], m: usize, n: usize) {
    let (Some(x), Some(out)) = (x.get(..m.wrapping_mul(n)), out.get_mut(..m.wrapping_mul(m)))
    else {
        debug_assert!(false, "gram_raw: a slice is shorter than its shape");
        return;
    };
    if n == 0 {
        out.fill(0.0);
        return;
    }
    for (i, xi) in x.chunks_exact(n).enumerate() {
        for (j, xj) in x.chunks_exact(n).enumerate().skip(i) {
            let v = dot(xi, xj);
            if let Some(o) = out.get_mut(i * m + j) {
                *o = v;
            }
            if let Some(o) = out.get_mut(j * m + i) {
                *o = v;
            }
        }
    }
}

/// Frobenius norm `‖x‖_F = √Σ x²`, accumulated in `f64` so large matrices lose no precision.
/// Saturates to `f32::INFINITY` if the norm exceeds `f32::MAX`.
#[must_use]
pub fn frobenius_norm(x: &[f32]) -> f32 {
    frobenius_norm_f64(x) as f32
}

/// The Frobenius norm in `f64` (never overflows for finite `f32` input).
pub(crate) fn frobenius_norm_f64(x: &[f32]) -> f64 {
    let mut acc = 0.0f64;
    for &v in x {
        acc += f64::from(v) * f64::from(v);
    }
    crate::math::sqrt(acc)
}

/// `out = A · B` for `A: m×k`, `B: k×n`, `out: m×n`.
///
/// # Errors
/// [`MuonError::ShapeMismatch`] if the inner dimensions or the output shape disagree.
pub fn matmul(a: MatRef<'_>, b: MatRef<'_>, mut out: MatMut<'_>) -> Result<(), MuonError> {
    if a.cols() != b.rows() {
        return Err(MuonError::ShapeMismatch {
            what: "b",
            expected: (a.cols(), b.cols()),
            found: b.shape(),
        });
    }
    if out.shape() != (a.rows(), b.cols()) {
        return Err(MuonError::ShapeMismatch {
            what: "out",
            expected: (a.rows(), b.cols()),
            found: out.shape(),
        });
    }
    matmul_raw(
        a.as_slice(),
        b.as_slice(),
        out.as_mut_slice(),
        a.rows(),
        a.cols(),
        b.cols(),
    );
    Ok(())
}

/// `out = X · Xᵀ` (the Gram matrix of the rows), `X: m×n`, `out: m×m`, symmetric.
///
/// # Errors
/// [`MuonError::ShapeMismatch`] if `out` is not `m×m`.
pub fn gram(x: MatRef<'_>, mut out: MatMut<'_>) -> Result<(), MuonError> {
    if out.shape() != (x.rows(), x.rows()) {
        return Err(MuonError::ShapeMismatch {
            what: "out",
            expected: (x.rows(), x.rows()),
            found: out.shape(),
        });
    }
    gram_raw(x.as_slice(), out.as_mut_slice(), x.rows(), x.cols());
    Ok(())
}

/// Raw transpose: `out (n×m) = xᵀ` for `x: m×n`; short slices leave `out` untouched.
///
/// Panic-free like [`matmul_portable`]: iterators instead of indexing.
pub(crate) fn transpose_raw(x: &[f32], out: &mut [f32], m: usize, n: usize) {
    let (Some(x), Some(out)) = (x.get(..m.wrapping_mul(n)), out.get_mut(..m.wrapping_mul(n)))
    else {
        debug_assert!(false, "transpose_raw: a slice is shorter than its shape");
        return;
    };
    if n == 0 {
        return;
    }
    // Row i of x is column i of out: every m-th element from index i.
    for (i, row) in x.chunks_exact(n).enumerate() {
        let column = out.iter_mut().skip(i).step_by(m.max(1));
        for (o, &v) in column.zip(row) {
            *o = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_matches_hand_computation() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2×3
        let b = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0]; // 3×2
        let mut out = [0.0; 4];
        matmul(
            MatRef::new(2, 3, &a).unwrap(),
            MatRef::new(3, 2, &b).unwrap(),
            MatMut::new(2, 2, &mut out).unwrap(),
        )
        .unwrap();
        assert_eq!(out, [58.0, 64.0, 139.0, 154.0]);
    }

    /// Shapes that exercise the four-row blocks, the row tail and a partial column chunk.
    #[test]
    fn blocked_matmul_matches_naive_triple_loop() {
        let (m, k, n) = (9, 5, MATMUL_COLS + 44);
        let a: [f32; 45] = core::array::from_fn(|i| (i as f32 * 0.37).sin());
        let b: [f32; 5 * (MATMUL_COLS + 44)] = core::array::from_fn(|i| (i as f32 * 0.11).cos());
        let mut out = [f32::NAN; 9 * (MATMUL_COLS + 44)];
        matmul_portable(&a, &b, &mut out, m, k, n);
        for i in 0..m {
            for j in 0..n {
                let naive: f32 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
                assert!((out[i * n + j] - naive).abs() < 1e-5, "({i},{j})");
            }
        }
    }

    #[test]
    fn matmul_rejects_bad_inner_dimension() {
        let a = [0.0; 6];
        let mut out = [0.0; 4];
        let err = matmul(
            MatRef::new(2, 3, &a).unwrap(),
            MatRef::new(2, 3, &a).unwrap(),
            MatMut::new(2, 2, &mut out).unwrap(),
        );
        assert!(matches!(err, Err(MuonError::ShapeMismatch { .. })));
    }

    #[test]
    fn gram_is_x_times_x_transpose() {
        let x: [f32; 6] = [1.0, 2.0, 3.0, -1.0, 0.5, 2.0];
        let mut g = [0.0; 4];
        gram(
            MatRef::new(2, 3, &x).unwrap(),
            MatMut::new(2, 2, &mut g).unwrap(),
        )
        .unwrap();
        assert_eq!(g, [14.0, 6.0, 6.0, 5.25]);
    }

    /// Agreement with the portable kernel to a few ulps of the sum of |terms| (≤ depth).
    fn close(got: &[f32], want: &[f32], depth: usize) -> bool {
        got.iter()
            .zip(want)
            .all(|(g, w)| (g - w).abs() <= 4.0 * f32::EPSILON * depth.max(1) as f32)
    }

    /// The supported kernels, printed (run with `--nocapture` to see which paths a machine
    /// tested; `.ci/run` does).
    fn supported(test: &str) -> std::vec::Vec<CpuKernel> {
        let kernels: std::vec::Vec<CpuKernel> = CpuKernel::ALL
            .into_iter()
            .filter(|k| k.is_supported())
            .collect();
        let names: std::vec::Vec<&str> = kernels.iter().map(|k| k.name()).collect();
        let skipped: std::vec::Vec<&str> = CpuKernel::ALL
            .into_iter()
            .filter(|k| !k.is_supported())
            .map(CpuKernel::name)
            .collect();
        std::println!("{test}: ran kernels {names:?}; not supported here: {skipped:?}");
        kernels
    }

    /// Every supported kernel against the portable one, through the same dispatch the library
    /// uses, on shapes with row tails (m % 6), column tails (n % 16), several depth slices
    /// (k > 256), several row blocks (m > 144), the in-place and the packed right operand
    /// (n ≤ 64 and n > 64), and sizes under the accelerated kernels' minimum.
    #[test]
    fn every_supported_kernel_matches_portable() {
        use crate::test_data::data;
        let shapes = [
            (3, 4, 5),
            (7, 3, 5),
            (16, 16, 16),
            (13, 300, 17),
            (12, 100, 32),
            (6, 513, 16),
            (1, 600, 33),
            (40, 70, 1),
            (64, 64, 64),
            (9, 20, 200),
            (250, 520, 19),
            (70, 260, 150),
        ];
        for kernel in supported("every_supported_kernel_matches_portable") {
            for &(m, k, n) in &shapes {
                let a = data(m * k, 1);
                let b = data(k * n, 2);
                let mut got = std::vec![f32::NAN; m * n];
                let mut want = std::vec![f32::NAN; m * n];
                matmul_with(kernel, &a, &b, &mut got, m, k, n);
                matmul_portable(&a, &b, &mut want, m, k, n);
                assert!(close(&got, &want, k), "{kernel:?} matmul {m}x{k}x{n}");

                // Gram of the m×k left operand, and the square of that (symmetric) Gram matrix.
                let mut g = std::vec![f32::NAN; m * m];
                let mut g_want = std::vec![f32::NAN; m * m];
                gram_with(kernel, &a, &mut g, m, k);
                gram_portable(&a, &mut g_want, m, k);
                assert!(close(&g, &g_want, k), "{kernel:?} gram {m}x{k}");
                let mut sq = std::vec![f32::NAN; m * m];
                let mut sq_want = std::vec![f32::NAN; m * m];
                square_symmetric_with(kernel, &g, &mut sq, m);
                gram_portable(&g, &mut sq_want, m, m);
                let scale = g.iter().fold(0.0f32, |acc, v| acc.max(v.abs()));
                let tol = 4.0 * f32::EPSILON * (m as f32) * scale * scale;
                for (x, y) in sq.iter().zip(&sq_want) {
                    assert!((x - y).abs() <= tol, "{kernel:?} square {m}: {x} vs {y}");
                }
                for i in 0..m {
                    for j in 0..m {
                        assert_eq!(g[i * m + j], g[j * m + i], "{kernel:?} gram symmetric");
                        assert_eq!(sq[i * m + j], sq[j * m + i], "{kernel:?} square symmetric");
                    }
                }
            }
        }
    }

    /// The threaded products equal the single-threaded ones bit for bit (same kernel per band).
    #[cfg(feature = "parallel")]
    #[test]
    fn threaded_products_equal_single_threaded() {
        use crate::test_data::data;
        let kernel = selected();
        // Each product at least `parallel::MIN_WORK` (192³) multiply-adds: matmul m·k·n, the
        // Gram and square products half of m²·k and m³.
        // The plain product with its bands sharing their panels (several row blocks per band),
        // with one row block per band (nothing shared), and with a right operand read in place;
        // on the selected kernel and on the portable one (whose bands are plain products).
        for (m, k, n) in [(492, 480, 240), (200, 192, 200), (600, 400, 48)] {
            let a = data(m * k, 4);
            let b = data(k * n, 5);
            for kernel in [kernel, CpuKernel::Portable] {
                let mut got = std::vec![f32::NAN; m * n];
                let mut want = std::vec![f32::NAN; m * n];
                assert!(parallel::matmul(kernel, &a, &b, &mut got, m, k, n));
                matmul_with(kernel, &a, &b, &mut want, m, k, n);
                assert_eq!(got, want, "{kernel:?} {m}x{k}x{n}");
            }
        }
        let (m, k) = (492, 480);
        let a = data(m * k, 4);
        let mut g = std::vec![f32::NAN; m * m];
        let mut g_want = std::vec![f32::NAN; m * m];
        let gram_split =
            parallel::symmetric(kernel, &a, &mut g, m, parallel::Symmetric::Gram { n: k });
        gram_with(kernel, &a, &mut g_want, m, k);
        let mut sq = std::vec![f32::NAN; m * m];
        let mut sq_want = std::vec![f32::NAN; m * m];
        let square_split =
            parallel::symmetric(kernel, &g_want, &mut sq, m, parallel::Symmetric::Square);
        square_symmetric_with(kernel, &g_want, &mut sq_want, m);
        // The portable kernel has no row-band Gram: it declines and stays single-threaded.
        assert_eq!(gram_split, kernel != CpuKernel::Portable);
        assert_eq!(square_split, kernel != CpuKernel::Portable);
        if gram_split {
            assert_eq!(g, g_want);
            assert_eq!(sq, sq_want);
        }
        std::println!(
            "threaded_products_equal_single_threaded: kernel {}",
            kernel.name()
        );
    }

    #[test]
    fn forcing_a_kernel_selects_it_and_unsupported_ones_are_refused() {
        assert_eq!(CpuKernel::from_name("portable"), Some(CpuKernel::Portable));
        assert_eq!(CpuKernel::from_name("avx512"), Some(CpuKernel::Avx512));
        assert_eq!(CpuKernel::from_name("sse"), None);
        force_cpu_kernel(Some(CpuKernel::Portable)).unwrap();
        assert_eq!(cpu_kernel(), CpuKernel::Portable);
        force_cpu_kernel(None).unwrap();
        assert_eq!(cpu_kernel(), CpuKernel::best());
        assert_eq!(forced_cpu_kernel(), None);
        // Exactly the kernels this architecture and CPU have are supported.
        #[cfg(target_arch = "x86_64")]
        let supported = [
            true,
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
            false,
            std::is_x86_feature_detected!("avx512f"),
        ];
        #[cfg(target_arch = "aarch64")]
        let supported = [true, false, true, false];
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        let supported = [true, false, false, false];
        for (kernel, want) in CpuKernel::ALL.into_iter().zip(supported) {
            assert_eq!(kernel.is_supported(), want, "{}", kernel.name());
            if want {
                // Forcing a kernel is reported as forced, even the one `best` would pick.
                force_cpu_kernel(Some(kernel)).unwrap();
                assert_eq!(forced_cpu_kernel(), Some(kernel));
                assert_eq!(cpu_kernel(), kernel);
            }
        }
        force_cpu_kernel(None).unwrap();
        for kernel in CpuKernel::ALL {
            if !kernel.is_supported() {
                assert_eq!(
                    force_cpu_kernel(Some(kernel)),
                    Err(MuonError::UnsupportedKernel {
                        kernel: kernel.name()
                    })
                );
                assert_eq!(cpu_kernel(), CpuKernel::best());
            }
        }
        // The widest kernel the CPU supports is the default.
        let expected = if cfg!(target_arch = "x86_64") && CpuKernel::Avx512.is_supported() {
            CpuKernel::Avx512
        } else if cfg!(target_arch = "x86_64") && CpuKernel::Avx2Fma.is_supported() {
            CpuKernel::Avx2Fma
        } else if cfg!(target_arch = "aarch64") {
            CpuKernel::Neon
        } else {
            CpuKernel::Portable
        };
        assert_eq!(CpuKernel::best(), expected);
    }

    /// Dispatch: `*_with(kernel)` gives exactly the bits of the kernel it names (the portable
    /// one below the accelerated kernels' size threshold), so a forced kernel really runs.
    /// The kernels' results differ in rounding (FMA, summation order), so running the wrong
    /// one shows.
    #[test]
    fn products_run_on_the_kernel_they_are_given() {
        use crate::test_data::data;
        let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<std::vec::Vec<_>>();
        for (m, k) in [(24, 40), (4, 4)] {
            let a = data(m * k, 11);
            let b = data(k * m, 12);
            let mut portable = std::vec![0.0f32; m * m];
            let mut routed = std::vec![f32::NAN; m * m];
            matmul_portable(&a, &b, &mut portable, m, k, m);
            matmul_with(CpuKernel::Portable, &a, &b, &mut routed, m, k, m);
            assert_eq!(bits(&routed), bits(&portable), "matmul {m}x{k}");
            let mut gram_p = std::vec![0.0f32; m * m];
            gram_portable(&a, &mut gram_p, m, k);
            gram_with(CpuKernel::Portable, &a, &mut routed, m, k);
            assert_eq!(bits(&routed), bits(&gram_p), "gram {m}x{k}");
            let mut square_p = std::vec![0.0f32; m * m];
            gram_portable(&gram_p, &mut square_p, m, m);
            square_symmetric_with(CpuKernel::Portable, &gram_p, &mut routed, m);
            assert_eq!(bits(&routed), bits(&square_p), "square {m}");
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            for kernel in CpuKernel::ALL.into_iter().filter(|k| k.is_supported()) {
                let Some(products) = blocked(kernel) else {
                    assert_eq!(kernel, CpuKernel::Portable);
                    continue;
                };
                let name = kernel.name();
                let big = m * m * k >= blocked::MIN_WORK;
                let mut fast = std::vec![0.0f32; m * m];
                assert!((products.matmul)(&a, &b, &mut fast, m, k, m));
                matmul_with(kernel, &a, &b, &mut routed, m, k, m);
                let want = if big { &fast } else { &portable };
                assert_eq!(bits(&routed), bits(want), "{name} matmul {m}x{k}");
                if big {
                    assert_ne!(bits(&fast), bits(&portable), "the kernels must differ here");
                }
                assert!((products.gram)(&a, &mut fast, m, k));
                gram_with(kernel, &a, &mut routed, m, k);
                let want = if big { &fast } else { &gram_p };
                assert_eq!(bits(&routed), bits(want), "{name} gram {m}x{k}");
                assert!((products.square_symmetric)(&gram_p, &mut fast, m));
                square_symmetric_with(kernel, &gram_p, &mut routed, m);
                let want = if m * m * m >= blocked::MIN_WORK {
                    &fast
                } else {
                    &square_p
                };
                assert_eq!(bits(&routed), bits(want), "{name} square {m}");
            }
        }
    }

    /// An empty inner or outer dimension: zeros (or nothing), no panic.
    #[test]
    fn products_with_an_empty_dimension() {
        let mut out = [f32::NAN; 6];
        matmul_portable(&[], &[], &mut out, 2, 0, 3);
        assert_eq!(out, [0.0; 6]);
        let mut none: [f32; 0] = [];
        matmul_portable(&[1.0, 2.0], &[], &mut none, 2, 1, 0);
        let mut g = [f32::NAN; 4];
        gram_portable(&[], &mut g, 2, 0);
        assert_eq!(g, [0.0; 4]);
    }

    #[test]
    fn dot_handles_remainders() {
        let a: [f32; 11] = core::array::from_fn(|i| i as f32);
        let b = [1.0f32; 11];
        assert_eq!(dot(&a, &b), 55.0);
    }

    #[test]
    fn frobenius_of_3_4_is_5() {
        assert_eq!(frobenius_norm(&[3.0, 4.0]), 5.0);
    }
}
