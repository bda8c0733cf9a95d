//! `muon`: Muon and Adam optimizer kernels.
//!
//! Re-exports the `no_std` CPU core ([`core`]) and the WGSL GPU kernels ([`gpu`]).

pub use muon_core as core;
pub use muon_gpu as gpu;

/// Compiles and runs the code blocks of README.md as doctests, so the quick start stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The code blocks of docs/gpu.md (the checkpoint example), compiled as doctests.
#[doc = include_str!("../docs/gpu.md")]
#[cfg(doctest)]
pub struct GpuDocDoctests;
