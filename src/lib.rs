//! `muon`: Muon, Adam/AdamW and SGD optimizer kernels, on the CPU and on any GPU.
//!
//! The everyday types are here at the top: the optimizers and their configs, states and
//! slice views, the [`Optimizer`] trait they share, the matrix types and the error. The whole
//! `no_std` CPU core is [`cpu`] (the `muon-core` crate: Newton–Schulz, products, spectra), the
//! wgpu kernels are [`gpu`] (the `muon-gpu` crate).
//!
//! ```
//! use muon::{Matrix, MuonConfig, MuonState};
//!
//! let muon = MuonConfig::new().with_lr(0.02).build()?;
//! let mut weight = Matrix::<4, 8>::ZERO;
//! let mut state = MuonState::<4, 8>::new();
//! let grad = Matrix::<4, 8>::from_fn(|r, c| (r as f32 - c as f32) * 0.1);
//! muon.step_fixed(&mut weight, &grad, &mut state)?;
//! # Ok::<(), muon::MuonError>(())
//! ```

pub use muon_core::adam::{Adam, AdamConfig, AdamSlots, AdamState, MomentStorage};
pub use muon_core::muon::{AdjustLr, Muon, MuonConfig, MuonSlots, MuonState};
pub use muon_core::newton_schulz::{NsConfig, newton_schulz, ns_scratch_len};
pub use muon_core::sgd::{Sgd, SgdConfig, SgdSlots, SgdState};
pub use muon_core::{MatMut, MatRef, Matrix, MuonError, Optimizer};

/// The `no_std` CPU core, whole (the `muon-core` crate).
pub use muon_core as cpu;
/// The wgpu kernels (the `muon-gpu` crate).
pub use muon_gpu as gpu;

/// Compiles and runs the code blocks of README.md as doctests, so the quick start stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The code blocks of docs/gpu.md (the checkpoint example), compiled as doctests.
#[doc = include_str!("../docs/gpu.md")]
#[cfg(doctest)]
pub struct GpuDocDoctests;
