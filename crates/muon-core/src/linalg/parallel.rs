//! Large products split across the CPU's cores (the `parallel` feature, `std` only).
//!
//! Each product is cut into bands of output rows, one per thread of rayon's current pool
//! (`rayon::scope`; the thread running the scope takes the last band), and every band runs
//! the selected single-thread kernel, so a threaded result equals the single-threaded one bit
//! for bit. The symmetric products (`X·Xᵀ`, `S·S`) compute only their upper triangle, whose
//! rows hold unequal work: their bands are cut so each holds about the same area of the
//! triangle, and the lower triangle is mirrored once every band is done.
//!
//! When each band spans several row blocks, the bands share the right operand's packed panels
//! ([`SharedPanels`]): the first band to reach a panel packs it into a heap buffer as large as
//! the operand, the others read it there, and the bands of a plain product start their sweeps
//! at their own shares of the panels so they pack different ones (a symmetric product's bands
//! start apart anyway: each skips the panels left of its rows). Before, every band packed every
//! panel once per row block; sharing made the threaded 512³ product about 5% and the 1024³
//! one 7% faster on 2 vCPUs, `X·Xᵀ` at 1024² 0–3% (within the noise; `docs/performance.md`,
//! 2026-12-07). A band
//! never waits on another: it packs a private copy of a panel another band is still packing.
//!
//! A plain product's bands also end together ([`Band`](blocked::Band)): a band done with its own
//! rows takes what is left of the others' last depth slice, one unit (a row block's tiles of one
//! panel) at a time from the back, while their owners work from the front. The threads of a virtual
//! machine's cores do not run at one speed: with the rows cut in equal halves, one band of a 512³
//! product often ended 0.1–0.45 ms (5–20%) before the other, which the product then waited for;
//! with the units taken, the bands end within microseconds of each other and the threaded product
//! is 2–8% faster at 384–1024 on 2 vCPUs (`docs/performance.md`, 2026-12-07, "bands that end
//! together"). A unit runs on whichever thread takes it with the same multiply-adds in the same
//! order: the same bits. The symmetric products' bands do not take each other's work (yet):
//! Newton–Schulz is well ahead of faer there anyway.
//!
//! The pool's threads persist between products (rayon's global pool, or the pool a caller
//! `install`s; `RAYON_NUM_THREADS` sizes the global one), so handing a band to another thread
//! costs microseconds, where starting a scoped thread cost about 50 µs here. Inside a caller's
//! own rayon work the bands are stolen like any other job: no extra threads. Only products of
//! at least [`MIN_WORK`] multiply-adds are split.

use core::sync::atomic::AtomicU8;

use super::CpuKernel;
use super::blocked::{self, Output, SharedPanels};

/// Products with fewer multiply-adds than this (`192³`, about 0.2 ms on one core) run on one
/// thread. Measured on 2 vCPUs (`docs/performance.md`, 2026-12-01): with rayon's pool, two
/// threads made a 256² Newton–Schulz and 192³–512³ products faster than one thread, and
/// faster than scoped threads started per product above the old 384³ threshold.
pub(super) const MIN_WORK: usize = 7_077_888; // 192³

/// Rows in a symmetric product's band are a multiple of this (of every accelerated kernel's
/// row tile: 6 for AVX2 and NEON, 12 for AVX-512), so its bands line up with the tiles of a
/// single-threaded product, whose grid decides which tiles the triangle skips. A plain
/// product's bands are cut at any row: each output element gets the same multiply-adds in
/// the same order whichever tile holds its row, and 512 rows split as 256 + 256, not the
/// 252 + 260 that whole tiles allow (the pair waits on the longer band).
const ROW_STEP: usize = 12;

/// The number of threads to use: those of the rayon pool the caller runs in.
fn threads() -> usize {
    rayon::current_num_threads()
}

/// Band boundaries for `rows` rows on `t` threads: even bands, or, with `triangle`, bands of
/// about equal upper-triangle area (row `i` of an `rows`-wide upper triangle holds `rows − i`
/// elements), each a multiple of [`ROW_STEP`] (the last is `rows`).
fn bands(rows: usize, t: usize, triangle: bool) -> impl Iterator<Item = (usize, usize)> {
    let cut = move |b: usize| -> usize {
        if b >= t {
            return rows;
        }
        let frac = b as f64 / t as f64;
        let at = if triangle {
            // Area above row r: rows²/2 − (rows − r)²/2; equal shares give r = rows(1 − √(1 − b/t)).
            rows as f64 * (1.0 - (1.0 - frac).sqrt())
        } else {
            rows as f64 * frac
        };
        // The nearest tile boundary for a triangle (not the one below: 128 rows of 256 would
        // floor to 120, leaving the other band 136); the nearest row otherwise.
        let step = if triangle { ROW_STEP } else { 1 };
        (((at / step as f64).round() as usize) * step).min(rows)
    };
    (0..t)
        .map(move |b| (cut(b), cut(b + 1)))
        .filter(|(a, b)| a != b) // cuts never decrease: drop the empty bands
}

/// How many threads a product of `work` multiply-adds over `rows` output rows gets (1: don't
/// split).
fn split_for(work: usize, rows: usize) -> usize {
    if work < MIN_WORK {
        return 1;
    }
    threads().min(rows / (2 * ROW_STEP)).max(1)
}

/// Runs every job on the current rayon pool, the last one on the calling thread and the others
/// handed to the pool, and returns when all are done. Which thread runs a job changes no
/// result: each runs exactly once, on its own band.
fn run_all<J: FnOnce() + Send>(jobs: std::vec::Vec<J>) {
    rayon::scope(|scope| {
        let mut jobs = jobs.into_iter().peekable();
        while let Some(job) = jobs.next() {
            if jobs.peek().is_some() {
                scope.spawn(move |_| job());
            } else {
                job();
            }
        }
    });
}

/// `out (m×n) = A (m×k) · B (k×n)` in row bands on several threads; `false` (nothing done)
/// when the product is too small to split or a slice is short.
pub(super) fn matmul(
    kernel: CpuKernel,
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) -> bool {
    // An empty dimension is no work, so `t` is 1 then.
    let t = split_for(m.saturating_mul(k).saturating_mul(n), m);
    if t < 2 || a.len() < m * k || b.len() < k * n || out.len() < m * n {
        return false;
    }
    let out = &mut out[..m * n];
    let cuts: std::vec::Vec<(usize, usize)> = bands(m, t, false).collect();
    let Some(products) = super::blocked(kernel) else {
        // The portable kernel: each band's rows as a product of their own.
        let mut rest = out;
        let jobs: std::vec::Vec<_> = cuts
            .iter()
            .map(|&(r0, r1)| {
                let (band, tail) = core::mem::take(&mut rest).split_at_mut((r1 - r0) * n);
                rest = tail;
                let a_band = &a[r0 * k..r1 * k];
                move || super::matmul_with(kernel, a_band, b, band, r1 - r0, k, n)
            })
            .collect();
        run_all(jobs);
        return true;
    };
    // Shared panels where they pay (several row blocks per band, a packed operand).
    let mut room = Room::new(products.panel_width, (m, t), (k, n), true);
    let shared = room.as_mut().and_then(Room::panels);
    let shared = shared.as_ref();
    let panels = shared.map_or(0, SharedPanels::panels);
    let count = cuts.len();
    let bands: std::vec::Vec<_> = cuts
        .iter()
        .enumerate()
        .map(|(i, &(r0, r1))| (products.band)(r0, r1 - r0, start_panel(i, count, panels), (k, n)))
        .collect();
    let out = Output::new(out);
    let mut verdicts = std::vec![false; count];
    let (bands, out) = (&bands, &out);
    let jobs: std::vec::Vec<_> = verdicts
        .iter_mut()
        .enumerate()
        .map(|(i, verdict)| {
            move || *verdict = (products.matmul_bands)(a, b, out, (m, k, n), bands, i, shared)
        })
        .collect();
    run_all(jobs);
    verdicts.iter().all(|&v| v)
}

/// The panel band `i` of `count` starts each depth slice at, out of `panels`: evenly apart, so
/// each band packs its own share of the shared panels first.
fn start_panel(i: usize, count: usize, panels: usize) -> usize {
    i * panels / count
}

/// Heap room for the [`SharedPanels`] of one threaded product: storage as large as the right
/// operand, and a flag per panel.
struct Room {
    /// The panels' floats (capacity only: the bands write what they read).
    storage: std::vec::Vec<f32>,
    /// One flag per panel, all free.
    state: std::vec::Vec<AtomicU8>,
    /// Panel width, operand shape and layout, as [`SharedPanels::new`] takes them.
    nr: usize,
    /// See `nr`.
    shape: (usize, usize),
    /// See `nr`.
    row_major: bool,
}

impl Room {
    /// Room for the panels of a `k × n` right operand (`row_major`, or transposed) in panels
    /// `nr` wide, for an `m`-row product on `t` bands; `None` where sharing does not pay: a
    /// band sweeping the operand only once (one row block per band: sharing only adds
    /// cross-core reads), or an operand read in place (nothing packed).
    fn new(
        nr: usize,
        (m, t): (usize, usize),
        (k, n): (usize, usize),
        row_major: bool,
    ) -> Option<Room> {
        if blocked::one_row_block(m / t, k) {
            return None;
        }
        let (floats, flags) = SharedPanels::sizes(nr, k, n, row_major)?;
        Some(Room {
            storage: std::vec::Vec::with_capacity(floats),
            state: (0..flags).map(|_| AtomicU8::new(0)).collect(),
            nr,
            shape: (k, n),
            row_major,
        })
    }

    /// The panels, for the bands of one product.
    fn panels(&mut self) -> Option<SharedPanels<'_>> {
        let storage = self.storage.spare_capacity_mut();
        SharedPanels::new(storage, &self.state, self.nr, self.shape, self.row_major)
    }
}

/// Which symmetric product [`symmetric`] computes.
#[derive(Clone, Copy)]
pub(super) enum Symmetric {
    /// `X (m×n) · Xᵀ`.
    Gram {
        /// Columns of `X`.
        n: usize,
    },
    /// `S · S` for an exactly symmetric `S (m×m)`.
    Square,
}

/// A symmetric product on several threads: bands of equal upper-triangle area, each band's
/// upper rows by the accelerated `kernel`, then one mirror. `false` (nothing done) when the
/// product is too small, the kernel has no row-band entry point (the portable one), or a slice
/// is short.
pub(super) fn symmetric(
    kernel: CpuKernel,
    x: &[f32],
    out: &mut [f32],
    m: usize,
    what: Symmetric,
) -> bool {
    let depth = match what {
        Symmetric::Gram { n } => n,
        Symmetric::Square => m,
    };
    // The triangle is about half the product's work.
    let t = split_for(m.saturating_mul(m).saturating_mul(depth) / 2, m);
    // A short `x` is refused by every band's kernel (the same length check in each), so
    // nothing is written then either; `out` is split here and must be checked here.
    if t < 2 || out.len() < m * m {
        return false;
    }
    let Some(products) = super::blocked(kernel) else {
        return false;
    };
    // The right operand: `Xᵀ` (`depth × m`, transposed) or `S` itself (row-major).
    let row_major = matches!(what, Symmetric::Square);
    let mut room = Room::new(products.panel_width, (m, t), (depth, m), row_major);
    let shared = room.as_mut().and_then(Room::panels);
    let shared = shared.as_ref();
    let upper_rows = move |band: &mut [f32], r0: usize, rows: usize| match what {
        Symmetric::Gram { .. } => (products.gram_upper_rows)(x, band, m, depth, r0, rows, shared),
        Symmetric::Square => (products.square_symmetric_upper_rows)(x, band, m, r0, rows, shared),
    };
    let out = &mut out[..m * m];
    // Every band done (the last one on this thread), then one verdict over all of them.
    let cuts: std::vec::Vec<(usize, usize)> = bands(m, t, true).collect();
    let mut verdicts = std::vec![false; cuts.len()];
    let mut rest = &mut *out;
    let jobs: std::vec::Vec<_> = cuts
        .iter()
        .zip(verdicts.iter_mut())
        .map(|(&(r0, r1), verdict)| {
            let (band, tail) = core::mem::take(&mut rest).split_at_mut((r1 - r0) * m);
            rest = tail;
            move || *verdict = upper_rows(band, r0, r1 - r0)
        })
        .collect();
    run_all(jobs);
    let ok = verdicts.iter().all(|&v| v);
    if ok {
        (products.mirror_skipped)(out, m);
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_cover_every_row_once_on_tile_boundaries() {
        for &(rows, t, triangle) in &[
            (1000, 2, true),
            (1000, 3, false),
            (37, 4, true),
            (12, 8, false),
        ] {
            let b: std::vec::Vec<_> = bands(rows, t, triangle).collect();
            assert_eq!(b.first().map(|x| x.0), Some(0));
            assert_eq!(b.last().map(|x| x.1), Some(rows));
            for w in b.windows(2) {
                assert_eq!(w[0].1, w[1].0);
            }
            let step = if triangle { ROW_STEP } else { 1 };
            assert!(b.iter().all(|&(r0, _)| r0 % step == 0));
        }
        // Equal triangle area: the first of two bands is the shorter one (~29% of the rows).
        let b: std::vec::Vec<_> = bands(1200, 2, true).collect();
        assert_eq!(b[0], (0, 348));
        // Even bands, cut at any row: 512 rows as 256 + 256, 1000 on 3 threads as 333 + 334 + 333.
        let b: std::vec::Vec<_> = bands(512, 2, false).collect();
        assert_eq!(b, [(0, 256), (256, 512)]);
        let b: std::vec::Vec<_> = bands(1000, 3, false).collect();
        assert_eq!(b, [(0, 333), (333, 667), (667, 1000)]);
        // A triangle's cut at the nearest tile boundary: 600 rows' equal-area cut, 175.7, goes
        // to 180, not down to 168.
        let b: std::vec::Vec<_> = bands(600, 2, true).collect();
        assert_eq!(b[0], (0, 180));
        // More threads than row tiles, or than rows: no empty band.
        assert!(bands(12, 8, true).all(|(r0, r1)| r0 < r1));
        assert!(bands(5, 8, false).all(|(r0, r1)| r0 < r1));
    }

    #[test]
    fn bands_start_their_panels_evenly_apart() {
        let starts = |count: usize, panels: usize| -> std::vec::Vec<usize> {
            (0..count).map(|i| start_panel(i, count, panels)).collect()
        };
        assert_eq!(starts(2, 64), [0, 32]);
        assert_eq!(starts(3, 65), [0, 21, 43]);
        assert_eq!(starts(4, 2), [0, 0, 1, 1]);
    }

    /// Room for shared panels only where each band holds more than one row block and the
    /// right operand is packed; what it holds is cut for the operand it was made for.
    #[test]
    fn room_only_where_sharing_pays() {
        let mc = blocked::MC;
        // 400 deep (256-deep slices): two bands of MC + 1 rows: room; of MC rows: none; a
        // 64-wide row-major operand (read in place): none; a transposed one that narrow: room.
        let mut room = Room::new(16, (2 * mc + 2, 2), (400, 100), true).expect("room");
        let panels = room.panels().expect("panels");
        assert_eq!(panels.panels(), 7);
        assert!(Room::new(16, (2 * mc + 1, 2), (400, 100), true).is_none());
        assert!(Room::new(16, (2 * mc + 2, 2), (400, 64), true).is_none());
        let mut narrow = Room::new(16, (2 * mc + 2, 2), (400, 64), false).expect("room");
        assert_eq!(narrow.panels().expect("panels").panels(), 4);
        // Bands of 200 rows 150 deep are one block each (their slices fit a block's budget):
        // none; bands of 130 rows 300 deep (one deeper slice) are two blocks each: room.
        assert!(Room::new(16, (400, 2), (150, 200), true).is_none());
        assert!(Room::new(16, (260, 2), (300, 260), true).is_some());
    }

    /// When `matmul` splits: from `MIN_WORK` multiply-adds on, with at least two row-tile
    /// pairs per thread, and only on a machine with several threads; otherwise, and for short
    /// slices or an empty dimension, it declines (`false`) and writes nothing.
    #[test]
    fn matmul_splits_exactly_when_it_pays() {
        use crate::test_data::data;
        let kernel = super::super::selected();
        let several = threads() >= 2;
        let run = |m: usize, k: usize, n: usize, short: usize| {
            let a = data(m * k, 1);
            let b = data(k * n, 2);
            let mut out = std::vec![7.0f32; m * n];
            let split = matmul(kernel, &a[short..], &b, &mut out, m, k, n);
            if !split {
                assert!(out.iter().all(|&x| x == 7.0), "{m}x{k}x{n}: written");
            }
            split
        };
        assert_eq!(run(192, 192, 192, 0), several); // exactly MIN_WORK
        assert!(!run(191, 192, 192, 0)); // one row short of it
        assert!(!run(48, 8, 48, 0)); // rows enough, work far too little
        assert!(!run(16, 2000, 2000, 0)); // work enough, under one row-tile pair
        assert!(!run(192, 192, 192, 1)); // A one element short
        let (m, k, n) = (192, 192, 192);
        let (a, b) = (data(m * k, 1), data(k * n, 2));
        let mut out = std::vec![7.0f32; m * n];
        assert!(!matmul(kernel, &a, &b[1..], &mut out, m, k, n));
        assert!(!matmul(kernel, &a, &b, &mut out[1..], m, k, n));
        assert!(!matmul(kernel, &[], &[], &mut out, m, 0, n));
        assert!(!matmul(kernel, &a, &[], &mut [], m, k, 0));
        assert!(out.iter().all(|&x| x == 7.0));
        // A symmetric product does half the multiply-adds (the upper triangle): 192² · 384 / 2
        // is exactly MIN_WORK, 192³ / 2 below it. The portable kernel never splits them.
        let x = data(192 * 384, 3);
        let mut g = std::vec![7.0f32; 192 * 192];
        assert!(!symmetric(
            kernel,
            &x,
            &mut g,
            192,
            Symmetric::Gram { n: 192 }
        ));
        assert!(g.iter().all(|&v| v == 7.0));
        let splits = several && kernel != CpuKernel::Portable;
        assert_eq!(
            symmetric(kernel, &x, &mut g, 192, Symmetric::Gram { n: 384 }),
            splits
        );
        let gram = Symmetric::Gram { n: 384 };
        assert!(!symmetric(kernel, &x[1..], &mut g, 192, gram));
        assert!(!symmetric(kernel, &x, &mut g[1..], 192, gram));
    }
}
