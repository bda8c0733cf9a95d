//! The crate's one error type.

use core::fmt;

/// Everything that can go wrong in a `muon-core` call.
///
/// On any error the parameter and the optimizer state are left exactly as they were.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum MuonError {
    /// A hyper-parameter is outside its valid range (checked once, when a config is built).
    InvalidHyperParameter {
        /// The hyper-parameter's name, as in PyTorch (`lr`, `betas`, `ns_steps`, …).
        name: &'static str,
        /// What the valid range is.
        reason: &'static str,
    },
    /// A slice does not have the length its shape requires.
    LengthMismatch {
        /// Which argument (`param`, `grad`, `momentum`, …).
        what: &'static str,
        /// The required number of elements.
        expected: usize,
        /// The number of elements given.
        found: usize,
    },
    /// Two matrices that must have the same shape do not.
    ShapeMismatch {
        /// Which argument.
        what: &'static str,
        /// The required `(rows, cols)`.
        expected: (usize, usize),
        /// The given `(rows, cols)`.
        found: (usize, usize),
    },
    /// The caller-provided scratch buffer is too small.
    ScratchTooSmall {
        /// The number of `f32` elements needed.
        needed: usize,
        /// The number given.
        found: usize,
    },
    /// The gradient holds a NaN or an infinity; nothing was changed.
    NonFiniteGradient {
        /// Flat (row-major) index of the first non-finite element.
        index: usize,
    },
    /// A matrix has zero rows or zero columns.
    EmptyMatrix,
    /// `rows × cols` (or a scratch size computed from it) overflows `usize`.
    SizeOverflow,
    /// A fixed-capacity optimizer already holds as many parameters as it can
    /// ([`MixedOptimizer::add`](crate::mixed::MixedOptimizer::add)).
    CapacityFull {
        /// The capacity.
        capacity: usize,
    },
    /// A step over several parameters got a different number of parameters or gradients than
    /// were registered ([`MixedOptimizer::step`](crate::mixed::MixedOptimizer::step)).
    ParamCountMismatch {
        /// Which argument (`params` or `grads`).
        what: &'static str,
        /// The number of registered parameters.
        expected: usize,
        /// The number given.
        found: usize,
    },
    /// Parameter `param` of a step over several parameters, or its gradient, does not have the
    /// shape it was registered with.
    ParamShapeMismatch {
        /// Index of the parameter (registration order).
        param: usize,
        /// Which argument (`param` or `grad`).
        what: &'static str,
        /// The registered `(rows, cols)`.
        expected: (usize, usize),
        /// The given `(rows, cols)`.
        found: (usize, usize),
    },
    /// The gradient of parameter `param` of a step over several parameters holds a NaN or an
    /// infinity; no parameter and no state was changed.
    NonFiniteParamGradient {
        /// Index of the parameter (registration order).
        param: usize,
        /// Flat (row-major) index of the first non-finite element of its gradient.
        index: usize,
    },
    /// [`crate::linalg::force_cpu_kernel`] named a kernel this CPU or target cannot run.
    UnsupportedKernel {
        /// The kernel's name ([`crate::linalg::CpuKernel::name`]).
        kernel: &'static str,
    },
    /// Optimizer state holds a value no step can produce: NaN, ±∞, or a negative second
    /// moment `v`. Returned by the state types' `validate()` and `from_bytes`.
    InvalidState {
        /// Which part of the state (`m`, `v`, `momentum`, `momentum_buf`).
        what: &'static str,
        /// Flat (row-major) index of the first bad element.
        index: usize,
        /// The bad value.
        value: f32,
    },
    /// Newton–Schulz's iteration produced a NaN or ±∞ from a finite input, which only
    /// coefficients that make it diverge can do (the validated defaults and Polar Express
    /// cannot); the parameter, the state and the output were left unchanged.
    NonFiniteResult,
}

impl fmt::Display for MuonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidHyperParameter { name, reason } => {
                write!(f, "invalid hyper-parameter `{name}`: {reason}")
            }
            Self::LengthMismatch {
                what,
                expected,
                found,
            } => write!(f, "`{what}` has {found} elements, expected {expected}"),
            Self::ShapeMismatch {
                what,
                expected,
                found,
            } => write!(
                f,
                "`{what}` is {}×{}, expected {}×{}",
                found.0, found.1, expected.0, expected.1
            ),
            Self::ScratchTooSmall { needed, found } => {
                write!(f, "scratch holds {found} f32 values, needs {needed}")
            }
            Self::NonFiniteGradient { index } => write!(
                f,
                "gradient element {index} is NaN or infinite; parameter and state left unchanged"
            ),
            Self::EmptyMatrix => f.write_str("matrix has zero rows or zero columns"),
            Self::SizeOverflow => f.write_str("rows × cols overflows usize"),
            Self::CapacityFull { capacity } => {
                write!(f, "the optimizer already holds its {capacity} parameters")
            }
            Self::ParamCountMismatch {
                what,
                expected,
                found,
            } => write!(
                f,
                "`{what}` holds {found} matrices, expected one per registered parameter ({expected})"
            ),
            Self::ParamShapeMismatch {
                param,
                what,
                expected,
                found,
            } => write!(
                f,
                "`{what}` of parameter {param} is {}×{}, expected {}×{}",
                found.0, found.1, expected.0, expected.1
            ),
            Self::NonFiniteParamGradient { param, index } => write!(
                f,
                "gradient element {index} of parameter {param} is NaN or infinite; \
                 parameters and state left unchanged"
            ),
            Self::UnsupportedKernel { kernel } => {
                write!(
                    f,
                    "the `{kernel}` kernel is not supported on this CPU or target"
                )
            }
            Self::InvalidState { what, index, value } => write!(
                f,
                "state `{what}` element {index} is {value}: not finite, or a negative second moment"
            ),
            Self::NonFiniteResult => f.write_str(
                "Newton–Schulz diverged to a non-finite value; parameter and state left unchanged",
            ),
        }
    }
}

impl core::error::Error for MuonError {}
