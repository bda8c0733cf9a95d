//! [`GpuMatrix`]: a row-major `f32` matrix resident in a device buffer, whole or a range of
//! it (a view into a pooled buffer).

use crate::kernels::buffer_init;
use muon_core::{MatRef, MuonError};

use crate::readback::read_f32_at;
use crate::{GpuContext, GpuError};

/// A row-major `rows × cols` `f32` matrix in a device storage buffer: the `rows·cols·4` bytes
/// from [`GpuMatrix::offset`] on.
///
/// Matrices made by [`GpuMatrix::zeros`] and [`GpuMatrix::from_slice`] own a buffer of their
/// own at offset 0. [`GpuMatrix::from_buffer_range`] views a range of a buffer the caller
/// owns, such as the `(buffer, offset, size)` slices a pooled allocator hands out (burn's and
/// cubecl's wgpu backends): every kernel binds exactly that range (`wgpu::BufferBinding` with
/// its offset and size), and [`GpuMatrix::read`], [`GpuMatrix::write`] and every copy use only
/// it, so the rest of the buffer is never read or written.
///
/// Vectors (biases, norm gains) are `1 × n` or `n × 1` matrices. Cloning shares the buffer.
/// Data crosses to the host only through [`GpuMatrix::read`] and [`GpuMatrix::write`].
#[derive(Clone, Debug)]
pub struct GpuMatrix {
    buffer: wgpu::Buffer,
    /// Byte offset of element `(0, 0)` in `buffer`.
    offset: u64,
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
            offset: 0,
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
            offset: 0,
            rows,
            cols,
            context: ctx.id(),
        })
    }

    /// Views the first `rows·cols·4` bytes of a buffer the caller already has (for example a
    /// gradient written by its own kernels): [`GpuMatrix::from_buffer_range`] at offset 0. A
    /// larger buffer is allowed; the bytes past the matrix are never read or written.
    ///
    /// # Errors
    /// As [`GpuMatrix::from_buffer_range`].
    pub fn from_buffer(
        ctx: &GpuContext,
        buffer: wgpu::Buffer,
        rows: usize,
        cols: usize,
    ) -> Result<Self, GpuError> {
        Self::from_buffer_range(ctx, buffer, 0, rows, cols)
    }

    /// Views the `rows·cols·4` bytes of `buffer` from byte `offset` on as a row-major
    /// `rows × cols` matrix: a parameter, gradient or operand that lives in a pooled buffer
    /// next to others. Kernels bind only this range and never write outside it.
    ///
    /// The rules are WebGPU's for binding a range as storage, checked here so that a bad view
    /// is a typed error now rather than a wgpu validation failure at the first step:
    /// - `offset` is a multiple of the device's `min_storage_buffer_offset_alignment` (and of
    ///   4, wgpu's copy alignment) — [`GpuError::MisalignedOffset`];
    /// - the range lies inside the buffer — [`GpuError::RangeOutOfBounds`];
    /// - its size fits one storage binding and the kernels' indexing —
    ///   [`GpuError::BufferTooLarge`];
    /// - the buffer has `STORAGE`, `COPY_SRC` and `COPY_DST` usage ([`MATRIX_USAGES`]: bound
    ///   by the kernels, copied in and out) — [`GpuError::MissingUsage`];
    /// - the buffer belongs to `ctx`'s device — [`GpuError::ForeignContext`] (checked by
    ///   binding the range once on `ctx`'s device inside an error scope; it catches a buffer of
    ///   another device of the same `wgpu::Instance`).
    ///
    /// Several views may share one buffer. A parameter and its own gradient must still be in
    /// different buffers (one dispatch binds the parameter writable and the gradient
    /// read-only, and WebGPU forbids both uses of one buffer in a dispatch): the optimizers
    /// refuse that with [`GpuError::AliasedBuffers`], and overlapping views with
    /// [`GpuError::AlreadyRegistered`].
    ///
    /// # Errors
    /// Those above, and [`MuonError::EmptyMatrix`] (as [`GpuError::Core`]) for a zero
    /// dimension.
    pub fn from_buffer_range(
        ctx: &GpuContext,
        buffer: wgpu::Buffer,
        offset: u64,
        rows: usize,
        cols: usize,
    ) -> Result<Self, GpuError> {
        let bytes = matrix_bytes(rows, cols)?;
        ctx.check_size("matrix", bytes)?;
        let alignment = storage_offset_alignment(ctx.device());
        if !offset.is_multiple_of(alignment) {
            return Err(GpuError::MisalignedOffset { offset, alignment });
        }
        let end = offset.checked_add(bytes);
        if end.is_none_or(|end| end > buffer.size()) {
            return Err(GpuError::RangeOutOfBounds {
                offset,
                bytes,
                buffer_size: buffer.size(),
            });
        }
        let missing = MATRIX_USAGES.difference(buffer.usage());
        if !missing.is_empty() {
            return Err(GpuError::MissingUsage { missing });
        }
        let matrix = Self {
            buffer,
            offset,
            rows,
            cols,
            context: ctx.id(),
        };
        check_same_device(ctx.device(), &matrix)?;
        Ok(matrix)
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
                .write_buffer(&self.buffer, self.offset, bytemuck::cast_slice(data));
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
        read_f32_at(ctx, &self.buffer, self.offset, self.len())
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

    /// The device buffer the matrix lives in: the whole buffer, of which the matrix is the
    /// [`GpuMatrix::byte_len`] bytes from [`GpuMatrix::offset`] on. Bind it with
    /// [`GpuMatrix::binding`], not whole.
    #[must_use]
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// Byte offset of the matrix in [`GpuMatrix::buffer`] (0 unless made by
    /// [`GpuMatrix::from_buffer_range`]).
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Size of the matrix in bytes (`rows·cols·4`).
    #[must_use]
    pub fn byte_len(&self) -> u64 {
        self.len() as u64 * 4
    }

    /// The matrix's range of its buffer as a binding (offset and size), for bind groups of
    /// the [`crate::kernels`].
    #[must_use]
    pub fn binding(&self) -> wgpu::BufferBinding<'_> {
        wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset,
            size: wgpu::BufferSize::new(self.byte_len()),
        }
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

    /// Whether two matrices live in one buffer (at any offsets).
    #[must_use]
    pub fn same_buffer(&self, other: &GpuMatrix) -> bool {
        self.buffer == other.buffer
    }

    /// Whether two matrices share at least one byte: the same buffer and intersecting ranges.
    #[must_use]
    pub fn overlaps(&self, other: &GpuMatrix) -> bool {
        self.same_buffer(other)
            && self.offset < other.offset + other.byte_len()
            && other.offset < self.offset + self.byte_len()
    }
}

/// The alignment, in bytes, of a matrix's offset in its buffer on `device`: its
/// `min_storage_buffer_offset_alignment`, and at least 4 (wgpu copies and queue writes move
/// whole 4-byte words).
#[must_use]
pub fn storage_offset_alignment(device: &wgpu::Device) -> u64 {
    u64::from(device.limits().min_storage_buffer_offset_alignment).max(wgpu::COPY_BUFFER_ALIGNMENT)
}

/// Binds `matrix`'s range once on `device` inside a validation error scope: wgpu refuses a
/// buffer of another device there (as a validation error, not a panic), which is reported as
/// [`GpuError::ForeignContext`]. The other rules were checked before, so that is the one
/// left.
fn check_same_device(device: &wgpu::Device, matrix: &GpuMatrix) -> Result<(), GpuError> {
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("GpuMatrix view check"),
        entries: &[wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: false },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }],
    });
    let _bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("GpuMatrix view check"),
        layout: &layout,
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(matrix.binding()),
        }],
    });
    match pollster::block_on(scope.pop()) {
        None => Ok(()),
        Some(e) => {
            log::debug!("muon-gpu: a buffer view failed to bind on this device: {e}");
            Err(GpuError::ForeignContext { what: "buffer" })
        }
    }
}
