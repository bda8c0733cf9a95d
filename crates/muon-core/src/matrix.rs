//! Matrix types: the fixed-size [`Matrix`] and the slice views [`MatRef`] / [`MatMut`].

use crate::MuonError;

/// A fixed-size `R × C` matrix of `f32`, stored row-major (`data[row][col]`).
///
/// `#[repr(C)]` and [`bytemuck::Pod`]: its bytes are exactly `R · C` little- or big-endian
/// `f32` values in row-major order, so it can be saved, restored and DMA'd bytewise.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Matrix<const R: usize, const C: usize> {
    /// Rows of the matrix; `data[r][c]` is the element at row `r`, column `c`.
    pub data: [[f32; C]; R],
}

// SAFETY: `Matrix` is `repr(C)` around a single `[[f32; C]; R]`, which is `Pod` (no padding,
// every bit pattern valid); the wrapper adds neither padding nor invariants.
#[allow(unsafe_code)]
unsafe impl<const R: usize, const C: usize> bytemuck::Zeroable for Matrix<R, C> {}
// SAFETY: see above.
#[allow(unsafe_code)]
unsafe impl<const R: usize, const C: usize> bytemuck::Pod for Matrix<R, C> {}

impl<const R: usize, const C: usize> Default for Matrix<R, C> {
    fn default() -> Self {
        Self::ZERO
    }
}

impl<const R: usize, const C: usize> Matrix<R, C> {
    /// Number of rows.
    pub const ROWS: usize = R;
    /// Number of columns.
    pub const COLS: usize = C;
    /// The all-zero matrix.
    pub const ZERO: Self = Self {
        data: [[0.0; C]; R],
    };

    /// Builds a matrix from its rows.
    #[must_use]
    pub const fn from_rows(data: [[f32; C]; R]) -> Self {
        Self { data }
    }

    /// Builds a matrix whose element `(r, c)` is `f(r, c)`.
    #[must_use]
    pub fn from_fn(mut f: impl FnMut(usize, usize) -> f32) -> Self {
        let mut m = Self::ZERO;
        for (r, row) in m.data.iter_mut().enumerate() {
            for (c, x) in row.iter_mut().enumerate() {
                *x = f(r, c);
            }
        }
        m
    }

    /// The `R × R` identity when square (`I[r][c] = 1` iff `r == c`); for `R ≠ C` the ones sit
    /// on the leading diagonal.
    #[must_use]
    pub fn identity() -> Self {
        Self::from_fn(|r, c| if r == c { 1.0 } else { 0.0 })
    }

    /// The elements as one row-major slice of length `R · C`.
    #[must_use]
    pub fn as_slice(&self) -> &[f32] {
        self.data.as_flattened()
    }

    /// The elements as one mutable row-major slice of length `R · C`.
    #[must_use]
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        self.data.as_flattened_mut()
    }

    /// A read-only slice view (`R × C`).
    #[must_use]
    pub fn as_ref(&self) -> MatRef<'_> {
        MatRef {
            rows: R,
            cols: C,
            data: self.as_slice(),
        }
    }

    /// A mutable slice view (`R × C`).
    #[must_use]
    pub fn as_mut(&mut self) -> MatMut<'_> {
        MatMut {
            rows: R,
            cols: C,
            data: self.as_mut_slice(),
        }
    }

    /// The transpose, `C × R`.
    #[must_use]
    pub fn transpose(&self) -> Matrix<C, R> {
        Matrix::<C, R>::from_fn(|r, c| self.data[c][r])
    }
}

/// Checks `rows × cols` against a slice length.
fn check_len(rows: usize, cols: usize, len: usize) -> Result<(), MuonError> {
    if rows == 0 || cols == 0 {
        return Err(MuonError::EmptyMatrix);
    }
    let expected = rows.checked_mul(cols).ok_or(MuonError::SizeOverflow)?;
    if expected != len {
        return Err(MuonError::LengthMismatch {
            what: "matrix data",
            expected,
            found: len,
        });
    }
    Ok(())
}

/// A read-only `rows × cols` row-major matrix view over a slice.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    rows: usize,
    cols: usize,
    data: &'a [f32],
}

impl<'a> MatRef<'a> {
    /// Views `data` as a `rows × cols` row-major matrix.
    ///
    /// # Errors
    /// [`MuonError::EmptyMatrix`] if a dimension is zero, [`MuonError::LengthMismatch`] if
    /// `data.len() != rows · cols`.
    pub fn new(rows: usize, cols: usize, data: &'a [f32]) -> Result<Self, MuonError> {
        check_len(rows, cols, data.len())?;
        Ok(Self { rows, cols, data })
    }

    /// Views `data` as a `1 × len` row vector (biases, gains: the element-wise optimizers'
    /// parameters).
    ///
    /// # Errors
    /// [`MuonError::EmptyMatrix`] if `data` is empty.
    pub fn vector(data: &'a [f32]) -> Result<Self, MuonError> {
        Self::new(1, data.len(), data)
    }

    /// Number of rows.
    #[must_use]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    #[must_use]
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `(rows, cols)`.
    #[must_use]
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The row-major elements.
    #[must_use]
    pub fn as_slice(&self) -> &'a [f32] {
        self.data
    }
}

/// A mutable `rows × cols` row-major matrix view over a slice.
#[derive(Debug)]
pub struct MatMut<'a> {
    rows: usize,
    cols: usize,
    data: &'a mut [f32],
}

impl<'a> MatMut<'a> {
    /// Views `data` as a mutable `rows × cols` row-major matrix.
    ///
    /// # Errors
    /// [`MuonError::EmptyMatrix`] if a dimension is zero, [`MuonError::LengthMismatch`] if
    /// `data.len() != rows · cols`.
    pub fn new(rows: usize, cols: usize, data: &'a mut [f32]) -> Result<Self, MuonError> {
        check_len(rows, cols, data.len())?;
        Ok(Self { rows, cols, data })
    }

    /// Views `data` as a mutable `1 × len` row vector.
    ///
    /// # Errors
    /// [`MuonError::EmptyMatrix`] if `data` is empty.
    pub fn vector(data: &'a mut [f32]) -> Result<Self, MuonError> {
        Self::new(1, data.len(), data)
    }

    /// Number of rows.
    #[must_use]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    #[must_use]
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `(rows, cols)`.
    #[must_use]
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The row-major elements.
    #[must_use]
    pub fn as_slice(&self) -> &[f32] {
        self.data
    }

    /// The row-major elements, mutable.
    #[must_use]
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        self.data
    }

    /// A read-only view of the same matrix.
    #[must_use]
    pub fn as_ref(&self) -> MatRef<'_> {
        MatRef {
            rows: self.rows,
            cols: self.cols,
            data: self.data,
        }
    }

    /// Reborrows the view for a shorter lifetime.
    #[must_use]
    pub fn reborrow(&mut self) -> MatMut<'_> {
        MatMut {
            rows: self.rows,
            cols: self.cols,
            data: self.data,
        }
    }

    /// Consumes the view, returning the slice.
    #[must_use]
    pub fn into_slice(self) -> &'a mut [f32] {
        self.data
    }
}
