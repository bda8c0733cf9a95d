//! [`GpuMatrix`]: a row-major `f32` matrix resident in a device buffer.

use crate::kernels::buffer_init;
use muon_core::{MatRef, MuonError};

use crate::readback::read_f32;
use crate::{GpuContext, GpuError};

/// A row-major `rows × cols` `f32` matrix in a device storage buffer.
///
/// Vectors (biases, norm gains) are `1 × n` or `n × 1` matrices. Cloning shares the buffer.
/// Data crosses to the host only through [`GpuMatrix::read`] and [`GpuMatrix::write`].
#[derive(Clone, Debug)]
pub struct GpuMatrix {
    buffer: wgpu::Buffer,
    rows: usize,
    cols: usize,
    /// [`GpuContext::id`] of the context that made it: using it with another is refused.
    context: u64,
}

/// Usages every matrix buffer has: bound by kernels, copied in and out.
pub const MATRIX_USAGES: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// The most elements one kernel buffer may hold (8 GiB of `f32`): the kernels index with
/// `u32`, and a folded grid may step up to 2²⁴ elements past the end before its bounds check.
pub(crate) const MAX_KERNEL_ELEMENTS: u64 = 1 << 31;

/// Bytes of a `rows × cols` matrix, with the core's errors for empty or overflowing shapes.
pub(crate) fn matrix_bytes(rows: usize, cols: usize) -> Result<u64, GpuError> {
    if rows == 0 || cols == 0 {
        return Err(MuonError::EmptyMatrix.into());
    }
    let len = rows.checked_mul(cols).ok_or(MuonError::SizeOverflow)?;
    let bytes = (len as u64).checked_mul(4).ok_or(MuonError::SizeOverflow)?;
    Ok(bytes)
}

impl GpuMatrix {
    /// A zero matrix.
    ///
    /// # Errors
    /// [`MuonError::EmptyMatrix`] (as [`GpuError::Core`]) for a zero dimension,
    /// [`GpuError::BufferTooLarge`] beyond the device's limits; [`GpuError::OutOfMemory`],
    /// [`GpuError::DeviceLost`] or another device error ([`GpuContext::device_status`]).
    pub fn zeros(ctx: &GpuContext, rows: usize, cols: usize) -> Result<Self, GpuError> {
        let bytes = matrix_bytes(rows, cols)?;
        ctx.check_size("matrix", bytes)?;
        let buffer = ctx.scoped(|| {
            ctx.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some("GpuMatrix"),
                size: bytes,
                usage: MATRIX_USAGES,
                mapped_at_creation: false,
            })
        })?;
        Ok(Self {
            buffer,
            rows,
            cols,
            context: ctx.id(),
        })
    }

    /// Uploads `data` (row-major, `rows·cols` values).
    ///
    /// # Errors
    /// As [`GpuMatrix::zeros`], plus [`MuonError::LengthMismatch`] if `data` has the wrong
    /// length.
    pub fn from_slice(
        ctx: &GpuContext,
        rows: usize,
        cols: usize,
        data: &[f32],
    ) -> Result<Self, GpuError> {
        let bytes = matrix_bytes(rows, cols)?;
        MatRef::new(rows, cols, data)?;
        ctx.check_size("matrix", bytes)?;
        let buffer = ctx.scoped(|| {
            buffer_init(
                ctx.device(),
                "GpuMatrix",
                bytemuck::cast_slice(data),
                MATRIX_USAGES,
            )
        })?;
        Ok(Self {
            buffer,
            rows,
            cols,
            context: ctx.id(),
        })
    }

    /// Wraps a buffer the caller already has (for example a gradient written by its own
    /// kernels). It needs `STORAGE`, `COPY_SRC` and `COPY_DST` usage and at least
    /// `rows·cols·4` bytes.
    ///
    /// # Errors
    /// As [`GpuMatrix::zeros`], plus [`MuonError::LengthMismatch`] if the buffer is too small
    /// or lacks a usage.
    pub fn from_buffer(
        ctx: &GpuContext,
        buffer: wgpu::Buffer,
        rows: usize,
        cols: usize,
    ) -> Result<Self, GpuError> {
        let bytes = matrix_bytes(rows, cols)?;
        ctx.check_size("matrix", bytes)?;
        if buffer.size() < bytes || !buffer.usage().contains(MATRIX_USAGES) {
            return Err(MuonError::LengthMismatch {
                what: "buffer",
                expected: rows * cols,
                found: (buffer.size() / 4) as usize,
            }
            .into());
        }
        Ok(Self {
            buffer,
            rows,
            cols,
            context: ctx.id(),
        })
    }

    /// Overwrites the matrix with `data` (queued; it lands before the next submission).
    ///
    /// # Errors
    /// [`MuonError::LengthMismatch`] if `data.len() != rows·cols`,
    /// [`GpuError::ForeignContext`] if `ctx` is not the context that made the matrix;
    /// [`GpuError::DeviceLost`] or another device error ([`GpuContext::device_status`]).
    pub fn write(&self, ctx: &GpuContext, data: &[f32]) -> Result<(), GpuError> {
        self.check_context(ctx, "matrix")?;
        MatRef::new(self.rows, self.cols, data).map_err(|_| MuonError::LengthMismatch {
            what: "data",
            expected: self.len(),
            found: data.len(),
        })?;
        ctx.scoped(|| {
            ctx.queue()
                .write_buffer(&self.buffer, 0, bytemuck::cast_slice(data));
        })
    }

    /// Copies the matrix to the host (waits for all submitted work).
    ///
    /// # Errors
    /// [`GpuError::Readback`] if mapping fails, [`GpuError::ForeignContext`] if `ctx` is not
    /// the context that made the matrix; [`GpuError::DeviceLost`] or another device error
    /// ([`GpuContext::device_status`]).
    pub fn read(&self, ctx: &GpuContext) -> Result<Vec<f32>, GpuError> {
        self.check_context(ctx, "matrix")?;
        read_f32(ctx, &self.buffer, self.len())
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

    /// Number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Number of elements as the kernels' `u32` (exact: creation checks the size against
    /// [`GpuContext::check_size`], which caps it at [`MAX_KERNEL_ELEMENTS`]).
    pub(crate) fn len_u32(&self) -> u32 {
        u32::try_from(self.len()).unwrap_or(u32::MAX)
    }

    /// Always `false`: a matrix has at least one element.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The device buffer.
    #[must_use]
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// `Err(`[`GpuError::ForeignContext`]`)` naming `what` unless this matrix was made by
    /// `ctx` (or a clone of it): a buffer of one device cannot be used on another.
    pub(crate) fn check_context(
        &self,
        ctx: &GpuContext,
        what: &'static str,
    ) -> Result<(), GpuError> {
        if self.context == ctx.id() {
            Ok(())
        } else {
            Err(GpuError::ForeignContext { what })
        }
    }

    /// Whether two matrices share one buffer.
    #[must_use]
    pub fn same_buffer(&self, other: &GpuMatrix) -> bool {
        self.buffer == other.buffer
    }
}
