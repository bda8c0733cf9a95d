//! `muon`: Muon and Adam optimizer kernels.
//!
//! Re-exports the `no_std` CPU core ([`core`]) and the WGSL GPU kernels ([`gpu`]).

pub use muon_core as core;
pub use muon_gpu as gpu;

/// Compiles and runs the code blocks of README.md as doctests, so the quick start stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
