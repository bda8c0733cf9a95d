//! The crate's one error type.

use std::fmt;

use muon_core::MuonError;

/// One parameter's skipped steps, in a [`GpuError::NonFiniteGradients`] report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkippedSteps {
    /// The parameter: its index in the optimizer `check()` was called on.
    pub param: usize,
    /// Flat (row-major) index of the first non-finite element in the latest skipped step.
    pub index: usize,
    /// Steps skipped for this parameter since its last report.
    pub skipped_steps: u32,
}

/// Everything that can go wrong in a `muon-gpu` call.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum GpuError {
    /// No GPU adapter (or none matching `MUON_ADAPTER` / `WGPU_BACKEND`) is available.
    NoAdapter,
    /// The adapter refused to create a device.
    RequestDevice(String),
    /// The same errors as the CPU core: invalid hyper-parameters, shape or length mismatches,
    /// empty matrices.
    Core(MuonError),
    /// A buffer would be larger than the device allows (its storage-binding or buffer limit),
    /// or than the kernels' `u32` indexing allows (2³¹ `f32`, 8 GiB).
    BufferTooLarge {
        /// Which buffer.
        what: &'static str,
        /// Its size in bytes.
        bytes: u64,
        /// The limit in bytes.
        max: u64,
    },
    /// A product's inner dimension is longer than one invocation of the tiled product kernels
    /// may walk on this adapter: Mesa's llvmpipe (lavapipe) ends every shader loop after
    /// 65,535 iterations per invocation, about 174,000 inner terms, and the product would be
    /// silently wrong. Hardware GPUs have no such cap ([`crate::GpuContext::max_tiled_inner`]).
    InnerDimensionTooLong {
        /// Which product.
        what: &'static str,
        /// Its inner dimension (the number of terms each output sums).
        inner: usize,
        /// The adapter's limit.
        max: usize,
    },
    /// A buffer that must be distinct from another is the same buffer (for example a
    /// parameter passed as its own gradient).
    AliasedBuffers {
        /// Which buffers.
        what: &'static str,
    },
    /// A matrix made by one [`crate::GpuContext`] was used with another (not a clone of it):
    /// buffers cannot cross devices.
    ForeignContext {
        /// Which argument.
        what: &'static str,
    },
    /// A matrix view's byte offset ([`crate::GpuMatrix::from_buffer_range`]) is not a
    /// multiple of the device's `min_storage_buffer_offset_alignment` (nor of 4): the range
    /// could not be bound as storage.
    MisalignedOffset {
        /// The offset, in bytes.
        offset: u64,
        /// The alignment it must be a multiple of, in bytes.
        alignment: u64,
    },
    /// A matrix view ([`crate::GpuMatrix::from_buffer_range`]) reaches past the end of its
    /// buffer.
    RangeOutOfBounds {
        /// The view's byte offset.
        offset: u64,
        /// The view's size in bytes (`rows·cols·4`).
        bytes: u64,
        /// The buffer's size in bytes.
        buffer_size: u64,
    },
    /// A buffer handed to [`crate::GpuMatrix::from_buffer_range`] lacks usages the kernels need
    /// (`STORAGE` to be bound, `COPY_SRC` and `COPY_DST` to be read and written).
    MissingUsage {
        /// The usages it lacks.
        missing: wgpu::BufferUsages,
    },
    /// A matrix passed to `add_param` / `add` overlaps (shares bytes with) a parameter or a
    /// gradient already registered with this optimizer: a parameter registered twice would
    /// take two steps per step, and two parameters cannot hold their gradients in the same
    /// bytes. Views of one pooled buffer at disjoint ranges are fine.
    AlreadyRegistered {
        /// `"param"` or `"grad"`: the argument that is already registered.
        what: &'static str,
        /// The index (in this optimizer) of the parameter that holds it.
        index: usize,
    },
    /// Parameters whose gradients held a NaN or an infinity in one or more steps since the
    /// last `check()`: every one of them, in parameter order. Those steps left the parameter
    /// and its optimizer state untouched (the core's `NonFiniteGradient` policy, reported on
    /// request because the device does not stop for it); the reports returned here are
    /// cleared, no other.
    NonFiniteGradients(Vec<SkippedSteps>),
    /// Optimizer state given to a `set_*` call (a checkpoint being restored) that no step can
    /// produce: a NaN or infinite value, a negative second moment, or a value that overflows
    /// the 16-bit moment format it would be stored in. Nothing was written.
    InvalidState {
        /// Which state (`momentum`, `m`, `v`).
        what: &'static str,
        /// Flat (row-major) index of the first bad element.
        index: usize,
        /// The element.
        value: f32,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// State for one optimizer handed to a parameter of the other
    /// ([`crate::GpuOptimizer::set_state`]): Muon's momentum for an AdamW parameter, or the
    /// reverse. Nothing was written.
    StateKindMismatch {
        /// The parameter, as indexed in the optimizer.
        param: usize,
        /// The optimizer that parameter belongs to (`Muon` or `AdamW`).
        optimizer: &'static str,
    },
    /// A WGSL module or pipeline failed validation on this device.
    Shader(String),
    /// The device ran out of memory (a buffer, bind group or submission could not be
    /// allocated). Nothing the failing call would have made exists.
    OutOfMemory(String),
    /// wgpu refused an operation as invalid (a WebGPU validation error): a misuse the crate's
    /// own checks did not catch, or one made with the device outside this crate. Reported by
    /// the call that made it or, for an operation that returns no `Result` (a step), by the
    /// next fallible call on the context ([`crate::GpuContext::device_status`]).
    Validation(String),
    /// An error inside wgpu or the driver (WebGPU's internal error), reported like
    /// [`GpuError::Validation`].
    Internal(String),
    /// The device is lost (destroyed, reset by the driver, or its GPU removed): every later
    /// call on the context returns this. Make a new [`crate::GpuContext`] and restore the
    /// last checkpoint.
    DeviceLost(String),
    /// Mapping a buffer for readback failed, or waiting for the device failed.
    Readback(String),
    /// The device does not support timestamp queries.
    TimestampsUnsupported,
    /// A setting this device cannot run (its limits or features do not allow it).
    Unsupported {
        /// The setting.
        what: &'static str,
        /// What the device lacks.
        reason: String,
    },
    /// A parameter handle that does not belong to this optimizer.
    UnknownParam(usize),
    /// A parameter group that does not exist, or cannot be added
    /// ([`crate::GpuOptimizer::add_group`], [`crate::GpuOptimizer::add_to`]).
    InvalidGroup {
        /// The group's index.
        group: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoAdapter => f.write_str(
                "no GPU adapter found (check MUON_ADAPTER / WGPU_BACKEND, or install a Vulkan driver such as lavapipe)",
            ),
            Self::RequestDevice(e) => write!(f, "the adapter refused to create a device: {e}"),
            Self::Core(e) => write!(f, "{e}"),
            Self::BufferTooLarge { what, bytes, max } => write!(
                f,
                "`{what}` needs {bytes} bytes, more than the device allows in one buffer ({max} bytes)"
            ),
            Self::InnerDimensionTooLong { what, inner, max } => write!(
                f,
                "`{what}` sums {inner} terms per output, more than this adapter's shader loops allow ({max})"
            ),
            Self::AliasedBuffers { what } => write!(f, "{what} must be different buffers"),
            Self::ForeignContext { what } => write!(
                f,
                "the {what} was made by another GpuContext (another device)"
            ),
            Self::MisalignedOffset { offset, alignment } => write!(
                f,
                "matrix offset {offset} is not a multiple of the device's storage offset alignment ({alignment} bytes)"
            ),
            Self::RangeOutOfBounds {
                offset,
                bytes,
                buffer_size,
            } => write!(
                f,
                "a matrix of {bytes} bytes at offset {offset} does not fit in a buffer of {buffer_size} bytes"
            ),
            Self::MissingUsage { missing } => write!(
                f,
                "the buffer lacks usages the kernels need: {missing:?} (create it with STORAGE | COPY_SRC | COPY_DST)"
            ),
            Self::AlreadyRegistered { what, index } => write!(
                f,
                "this {what} overlaps the parameter or gradient of parameter {index}"
            ),
            Self::NonFiniteGradients(reports) => {
                write!(
                    f,
                    "NaN or infinite gradients, steps skipped (parameters and state left unchanged):"
                )?;
                for r in reports {
                    write!(
                        f,
                        " parameter {} ({} step(s), element {});",
                        r.param, r.skipped_steps, r.index
                    )?;
                }
                Ok(())
            }
            Self::InvalidState {
                what,
                index,
                value,
                reason,
            } => write!(
                f,
                "`{what}` element {index} is {value:e}, {reason}; no step can produce it, nothing was written"
            ),
            Self::StateKindMismatch { param, optimizer } => write!(
                f,
                "parameter {param} belongs to {optimizer}; the state given is for the other optimizer"
            ),
            Self::Shader(e) => write!(f, "shader validation failed: {e}"),
            Self::OutOfMemory(e) => write!(f, "the device is out of memory: {e}"),
            Self::Validation(e) => write!(f, "wgpu validation error: {e}"),
            Self::Internal(e) => write!(f, "internal wgpu or driver error: {e}"),
            Self::DeviceLost(e) => write!(f, "the device is lost: {e}"),
            Self::Readback(e) => write!(f, "readback failed: {e}"),
            Self::TimestampsUnsupported => {
                f.write_str("the device does not support timestamp queries")
            }
            Self::Unsupported { what, reason } => write!(f, "{what} is not supported: {reason}"),
            Self::UnknownParam(id) => write!(f, "parameter handle {id} does not belong to this optimizer"),
            Self::InvalidGroup { group, reason } => write!(f, "parameter group {group}: {reason}"),
        }
    }
}

impl std::error::Error for GpuError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Core(e) => Some(e),
            _ => None,
        }
    }
}

impl From<wgpu::Error> for GpuError {
    fn from(e: wgpu::Error) -> Self {
        match e {
            wgpu::Error::OutOfMemory { .. } => Self::OutOfMemory(e.to_string()),
            wgpu::Error::Validation { description, .. } => Self::Validation(description),
            wgpu::Error::Internal { description, .. } => Self::Internal(description),
        }
    }
}

impl From<MuonError> for GpuError {
    fn from(e: MuonError) -> Self {
        Self::Core(e)
    }
}
