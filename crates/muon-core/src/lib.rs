//! # muon-core
//!
//! `no_std`, allocation-free optimizer kernels: Newton–Schulz orthogonalisation, the Muon
//! update, Adam/AdamW and SGD. The behaviour, defaults and validation follow PyTorch's
//! `torch.optim.Muon`, `torch.optim.Adam`, `torch.optim.AdamW` and `torch.optim.SGD`.
//!
//! Every kernel comes in two faces over one implementation:
//!
//! * fixed-size, const-generic [`Matrix<R, C>`](Matrix) values with the scratch space each
//!   operation needs held in the state types ([`muon::MuonState`], [`adam::AdamState`]), so a
//!   microcontroller needs no heap;
//! * slice views ([`MatRef`], [`MatMut`]) for matrices of any size, with caller-provided
//!   scratch (a `Vec` in `std` code).
//!
//! [`mixed::MixedOptimizer`] steps a whole model at once: up to a fixed number of parameters of
//! different shapes, matrices to Muon and vectors to AdamW, with every state in the caller's
//! memory (no heap, a fixed-capacity [`heapless::Vec`] of slots).
//!
//! All matrices are `f32` and row-major.
//!
//! # The rule: finite in, finite out; an error changes nothing
//! For every config that `build()` accepts and every finite parameter, gradient and state:
//!
//! * a step that returns `Ok` leaves the parameter and the state finite;
//! * a step that returns `Err` leaves the parameter and the state bit for bit as they were
//!   (the step count included); so does [`newton_schulz::newton_schulz`] with its output.
//!
//! This holds for [`adam::Adam::step`] (f32 moments; with `f16`/`bf16` moments the stored
//! moments are also bounded by the format's range), [`muon::Muon::step`], [`sgd::Sgd::step`],
//! their fixed-size forms and Newton–Schulz. It is kept by three means:
//!
//! * `build()` refuses configs whose arithmetic cannot be finite, naming the field and its
//!   bound (for example a decoupled decay factor `1 − lr·wd` outside `[0, 1]`);
//! * the arithmetic is made safe where PyTorch's is not: values near `f32::MAX` saturate
//!   instead of overflowing, a zero Adam denominator (`eps = 0`) gives no update instead of
//!   0/0, Newton–Schulz normalises tiny and huge inputs in `f64`; each module's "Finite in,
//!   finite out" section lists how that differs from PyTorch, which it matches wherever
//!   PyTorch's own result is finite;
//! * state restored from bytes is checked: every state type has a `validate()` refusing NaN,
//!   ±∞ and a negative second moment ([`MuonError::InvalidState`]), and `from_bytes` runs it.
//!
//! `tests/adversarial.rs` checks the rule over random configs, shapes, extreme values and
//! states inside `cargo test`; the cargo-fuzz targets in the repository's `fuzz/` folder check it
//! at length (`docs/reliability.md` records the runs).
//!
//! ```
//! use muon_core::{Matrix, MuonConfig, MuonState};
//!
//! let muon = MuonConfig::new().with_lr(0.02).build()?;
//! let mut weight = Matrix::<4, 8>::ZERO;
//! let mut state = MuonState::<4, 8>::new();
//! let grad = Matrix::<4, 8>::from_fn(|r, c| (r as f32 - c as f32) * 0.1);
//! muon.step_fixed(&mut weight, &grad, &mut state)?;
//! assert!(weight.as_slice().iter().any(|w| *w != 0.0));
//! # Ok::<(), muon_core::MuonError>(())
//! ```
//!
//! The crate has no `unsafe` code except the x86-64 SIMD kernels (the AVX2/FMA matrix
//! kernels in `linalg::x86_avx2`, the AVX Adam update in `adam::x86_avx`, with their run-time
//! CPU detection) and the AArch64 NEON Adam update (`adam::aarch64_neon`); each is tested
//! against the portable code.
#![no_std]
#![deny(missing_docs)]
#![deny(unsafe_code)]

// Unit tests may allocate; the library never does. The optional `parallel` feature uses
// `std` and rayon's thread pool (handing out work allocates; the kernels themselves never do).
#[cfg(any(test, feature = "parallel"))]
extern crate std;

pub mod adam;
mod error;
pub mod linalg;
mod math;
mod matrix;
pub mod mixed;
pub mod muon;
pub mod newton_schulz;
mod optimizer;
pub mod schedule;
pub mod sgd;
pub mod spectrum;
#[cfg(test)]
mod test_data;
mod validate;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86_features;

pub use adam::{Adam, AdamConfig, AdamSlots, AdamState};
pub use error::MuonError;
pub use matrix::{MatMut, MatRef, Matrix};
pub use muon::{Muon, MuonConfig, MuonSlots, MuonState};
pub use newton_schulz::NsConfig;
pub use optimizer::Optimizer;
pub use sgd::{Sgd, SgdConfig, SgdSlots, SgdState};
