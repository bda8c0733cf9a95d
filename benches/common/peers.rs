//! Newton–Schulz written with faer and with nalgebra: the same algorithm as
//! `muon_core::newton_schulz::newton_schulz`, so the benches compare implementations, not
//! algorithms.
//!
//! For an `rows × cols` input, `m = min`, `n = max`:
//! 1. `X` = the input, transposed when tall (`m × n`);
//! 2. `X ← X · cfg.input_scale(‖X‖_F)` (the core's own normalisation rule);
//! 3. per step with `(a, b, c) = cfg.coefficients_at(step)`: `A = X·Xᵀ`, `B = b·A + c·A·A`,
//!    `X ← a·X + B·X`;
//! 4. transposed back when tall.
//!
//! Both peers run single-threaded (faer with `Par::Seq`, nalgebra through `matrixmultiply`
//! without its `threading` feature), like the core without its `parallel` feature; faer can
//! also run threaded ([`FaerNs::threaded`], `Par::rayon(0)`: one thread per core), to compare
//! with the core's `parallel` feature. Buffers are allocated once per shape,
//! as the core's caller provides its scratch once.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par, Scale};
use muon_core::newton_schulz::NsConfig;
use nalgebra::{DMatrix, DMatrixView};

/// Newton–Schulz with faer (column-major `Mat<f32>`, general matrix products).
pub struct FaerNs {
    cfg: NsConfig,
    par: Par,
    tall: bool,
    x: Mat<f32>,
    next: Mat<f32>,
    a: Mat<f32>,
    b: Mat<f32>,
    out: Mat<f32>,
}

impl FaerNs {
    /// Buffers for an `rows × cols` input.
    #[must_use]
    pub fn new(rows: usize, cols: usize, cfg: NsConfig) -> Self {
        let (m, n) = (rows.min(cols), rows.max(cols));
        Self {
            cfg,
            par: Par::Seq,
            tall: rows > cols,
            x: Mat::zeros(m, n),
            next: Mat::zeros(m, n),
            a: Mat::zeros(m, m),
            b: Mat::zeros(m, m),
            out: Mat::zeros(rows, cols),
        }
    }

    /// The same, with faer's products on all cores (`Par::rayon(0)`).
    #[must_use]
    pub fn threaded(mut self) -> Self {
        self.par = Par::rayon(0);
        self
    }

    /// Orthogonalises `input` (the shape given to [`FaerNs::new`]); returns the result.
    pub fn run(&mut self, input: faer::MatRef<'_, f32>) -> faer::MatRef<'_, f32> {
        if self.tall {
            self.x.copy_from(input.transpose());
        } else {
            self.x.copy_from(input);
        }
        let scale = self.cfg.input_scale(self.x.norm_l2());
        self.x *= Scale(scale);
        for step in 0..self.cfg.steps {
            let (ca, cb, cc) = self.cfg.coefficients_at(step);
            matmul(
                self.a.as_mut(),
                Accum::Replace,
                self.x.as_ref(),
                self.x.transpose(),
                1.0,
                self.par,
            );
            self.b.copy_from(&self.a);
            self.b *= Scale(cb);
            matmul(
                self.b.as_mut(),
                Accum::Add,
                self.a.as_ref(),
                self.a.as_ref(),
                cc,
                self.par,
            );
            self.next.copy_from(&self.x);
            self.next *= Scale(ca);
            matmul(
                self.next.as_mut(),
                Accum::Add,
                self.b.as_ref(),
                self.x.as_ref(),
                1.0,
                self.par,
            );
            std::mem::swap(&mut self.x, &mut self.next);
        }
        if self.tall {
            self.out.copy_from(self.x.transpose());
        } else {
            self.out.copy_from(&self.x);
        }
        self.out.as_ref()
    }
}

/// Newton–Schulz with nalgebra (column-major `DMatrix<f32>`, `gemm`).
pub struct NalgebraNs {
    cfg: NsConfig,
    tall: bool,
    x: DMatrix<f32>,
    next: DMatrix<f32>,
    a: DMatrix<f32>,
    b: DMatrix<f32>,
    out: DMatrix<f32>,
}

impl NalgebraNs {
    /// Buffers for an `rows × cols` input.
    #[must_use]
    pub fn new(rows: usize, cols: usize, cfg: NsConfig) -> Self {
        let (m, n) = (rows.min(cols), rows.max(cols));
        Self {
            cfg,
            tall: rows > cols,
            x: DMatrix::zeros(m, n),
            next: DMatrix::zeros(m, n),
            a: DMatrix::zeros(m, m),
            b: DMatrix::zeros(m, m),
            out: DMatrix::zeros(rows, cols),
        }
    }

    /// Orthogonalises `input` (the shape given to [`NalgebraNs::new`]); returns the result.
    pub fn run(&mut self, input: &DMatrix<f32>) -> &DMatrix<f32> {
        if self.tall {
            input.transpose_to(&mut self.x);
        } else {
            self.x.copy_from(input);
        }
        let scale = self.cfg.input_scale(self.x.norm());
        self.x *= scale;
        let (m, n) = self.x.shape();
        for step in 0..self.cfg.steps {
            let (ca, cb, cc) = self.cfg.coefficients_at(step);
            // Xᵀ as a strided view of X's column-major storage (no copy): element (j, i) of
            // Xᵀ is X's (i, j), stored at i + j·m.
            let xt = DMatrixView::from_slice_with_strides(self.x.as_slice(), n, m, m, 1);
            self.a.gemm(1.0, &self.x, &xt, 0.0);
            self.b.copy_from(&self.a);
            self.b.gemm(cc, &self.a, &self.a, cb);
            self.next.copy_from(&self.x);
            self.next.gemm(1.0, &self.b, &self.x, ca);
            std::mem::swap(&mut self.x, &mut self.next);
        }
        if self.tall {
            self.x.transpose_to(&mut self.out);
        } else {
            self.out.copy_from(&self.x);
        }
        &self.out
    }
}

/// A row-major slice as a faer matrix.
#[must_use]
pub fn faer_from_row_major(rows: usize, cols: usize, data: &[f32]) -> Mat<f32> {
    Mat::from_fn(rows, cols, |i, j| data[i * cols + j])
}

/// A row-major slice as a nalgebra matrix.
#[must_use]
pub fn nalgebra_from_row_major(rows: usize, cols: usize, data: &[f32]) -> DMatrix<f32> {
    DMatrix::from_row_slice(rows, cols, data)
}

/// A faer matrix as a row-major vector.
#[must_use]
pub fn faer_to_row_major(m: faer::MatRef<'_, f32>) -> Vec<f32> {
    let (rows, cols) = m.shape();
    (0..rows)
        .flat_map(|i| (0..cols).map(move |j| m[(i, j)]))
        .collect()
}

/// A nalgebra matrix as a row-major vector.
#[must_use]
pub fn nalgebra_to_row_major(m: &DMatrix<f32>) -> Vec<f32> {
    let (rows, cols) = m.shape();
    (0..rows)
        .flat_map(|i| (0..cols).map(move |j| m[(i, j)]))
        .collect()
}
