//! The example's error type: bad arguments, optimizer errors, GPU errors, output errors.

use std::fmt;

use muon::cpu::MuonError;
use muon::gpu::GpuError;

/// Everything that can stop a run; `main` prints it on one line and exits non-zero.
#[derive(Debug)]
pub enum ExampleError {
    /// A command-line argument is missing, unknown or out of range.
    Args(String),
    /// The CPU core rejected a call (bad shape, non-finite gradient, bad hyper-parameter).
    Core(MuonError),
    /// The GPU backend failed.
    Gpu(GpuError),
    /// Writing `--json` or `--out` files failed.
    Output(String),
    /// A training run's loss became NaN or infinite (a learning rate too large).
    Diverged(String),
}

impl fmt::Display for ExampleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Args(m) => write!(f, "bad arguments: {m} (see --help)"),
            Self::Core(e) => write!(f, "muon-core: {e}"),
            Self::Gpu(e) => write!(f, "GPU: {e}"),
            Self::Output(m) => write!(f, "output: {m}"),
            Self::Diverged(m) => write!(f, "diverged: {m}"),
        }
    }
}

impl std::error::Error for ExampleError {}

impl From<MuonError> for ExampleError {
    fn from(e: MuonError) -> Self {
        Self::Core(e)
    }
}

impl From<GpuError> for ExampleError {
    fn from(e: GpuError) -> Self {
        Self::Gpu(e)
    }
}

impl From<std::io::Error> for ExampleError {
    fn from(e: std::io::Error) -> Self {
        Self::Output(e.to_string())
    }
}

impl ExampleError {
    /// Whether this error means the run diverged (a non-finite loss or gradient), which a
    /// learning-rate sweep records as an infinite loss rather than a failure.
    pub fn is_divergence(&self) -> bool {
        matches!(
            self,
            Self::Diverged(_)
                | Self::Core(MuonError::NonFiniteGradient { .. })
                | Self::Gpu(GpuError::NonFiniteGradients(_))
        )
    }
}
