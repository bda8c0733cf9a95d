//! # muon-gpu
//!
//! Muon and Adam/AdamW on the GPU through [wgpu], with parameters, gradients and optimizer
//! state resident on the device; data crosses to the host only on request
//! ([`GpuMatrix::read`], [`GpuMuon::check`], …). The kernels are WGSL files in the
//! workspace's top-level `shaders/` folder, one job each; the CPU crate `muon-core` is the
//! reference they are tested against, and its config types (`MuonConfig`, `AdamConfig`,
//! `NsConfig`) are used as they are: same hyper-parameters, defaults and validation.
//!
//! ```no_run
//! use muon_core::{adam::AdamConfig, muon::MuonConfig};
//! use muon_gpu::{GpuContext, GpuMatrix, GpuOptimizer, ParamRole};
//!
//! let ctx = GpuContext::new()?;
//! let w = GpuMatrix::from_slice(&ctx, 2, 3, &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6])?;
//! let w_grad = GpuMatrix::zeros(&ctx, 2, 3)?;
//! let bias = GpuMatrix::zeros(&ctx, 1, 3)?;
//! let bias_grad = GpuMatrix::zeros(&ctx, 1, 3)?;
//! let mut opt = GpuOptimizer::new(
//!     &ctx,
//!     MuonConfig::new().with_lr(0.02).build()?,
//!     AdamConfig::adamw().with_lr(3e-4).build()?,
//! );
//! opt.add(&w, &w_grad, ParamRole::Auto)?;       // a matrix: Muon
//! opt.add(&bias, &bias_grad, ParamRole::Auto)?; // a vector: AdamW
//! for _ in 0..10 {
//!     w_grad.write(&ctx, &[1.0, -1.0, 0.5, 0.0, 2.0, -0.5])?; // or your own kernels
//!     opt.step(); // one submission, no allocation, upload or readback
//! }
//! opt.check()?; // NaN/Inf gradients are reported here (those steps were skipped)
//! let weights = w.read(&ctx)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Your own device and pooled buffers
//! [`GpuContext::from_device`] runs muon-gpu on a device the application already has.
//! [`GpuMatrix::from_buffer_range`] views `rows × cols` `f32` at a byte offset of one of its
//! buffers (a range of a pooled allocator): the offset must be a multiple of
//! [`storage_offset_alignment`] (the device's `min_storage_buffer_offset_alignment`), the range
//! inside the buffer and within one storage binding, the buffer `STORAGE | COPY_SRC |
//! COPY_DST` ([`MATRIX_USAGES`]), each checked as a typed [`GpuError`]. Kernels bind only that
//! range and never read or write the bytes around it. Parameters may share one buffer and
//! gradients another; a parameter and its own gradient must be in different buffers
//! ([`GpuError::AliasedBuffers`]). `docs/gpu.md` and `examples/pooled_buffers` show it whole.
//!
//! # wgpu version
//! wgpu types are part of this API ([`GpuContext::from_device`], [`GpuMatrix::from_buffer`],
//! the [`kernels`]' bind groups), so an application sharing its device must depend on the
//! same wgpu major version as muon-gpu (or use the re-export [`wgpu`]): muon-gpu 0.1 uses
//! wgpu 30. Two majors do not mix (their `Device`s are different types). A new wgpu major is
//! a breaking release of muon-gpu (0.2 while it is 0.x), never a patch release.
//!
//! # NaN/Inf policy
//! As in the core, a step whose gradient holds a NaN or an infinity leaves that parameter and
//! its state untouched. On the device this is a flag computed before the update
//! (`check_status.wgsl`) that turns the update kernels into no-ops; the step is not stalled.
//! The `check()` methods read the flags back on request and return
//! [`GpuError::NonFiniteGradients`] listing every parameter with a report (of every group, for
//! [`GpuOptimizer`]), clearing exactly the reports returned; `status()` returns the raw
//! per-parameter counts.
//!
//! # Precision
//! [`GpuMuon::set_precision`] with [`Precision::F16`] runs Newton–Schulz with `f16` operands
//! and `f32` sums: on tensor cores (cooperative matrices) where the adapter has them, checked
//! once per context against the CPU core ([`GpuContext::check_fast_path`]), `f32` if that
//! check fails. `docs/gpu.md` has the accuracy and the engines.
//!
//! # Checkpoints
//! [`GpuMuon::momentum`], [`GpuAdam::moments`] and [`GpuAdam::status`] (for Adam's step
//! count) read each parameter's optimizer state; [`GpuMuon::set_momentum`] and
//! [`GpuAdam::set_moments`] restore it, validated ([`GpuError::InvalidState`]);
//! [`GpuOptimizer::state`] and [`GpuOptimizer::set_state`] do both for any group by the
//! optimizer's own index ([`ParamState`]). The values are the core's own state, so training
//! can move between `muon-core` and the device.
//!
//! # Numerics
//! All arithmetic is `f32`. Products accumulate per thread in `k` order (Gram products and
//! Newton–Schulz steps of few output blocks, or over very long inner dimensions, in chunks
//! whose sums are then added; `docs/gpu.md`), so results differ from the CPU core's (eight
//! partial sums) by rounding. The Frobenius norm is an `f32` tree reduction of scaled sums of
//! squares (`max|x|` and `Σ(x/max|x|)²`, as LAPACK's `nrm2`), so entries whose squares under-
//! or overflow `f32` (below about 1e-19, above about 1e19) normalise as with the core's `f64`
//! norm.
#![deny(missing_docs)]

mod adam;
mod context;
mod error;
mod fast_path;
mod group;
pub mod kernels;
mod matrix;
mod muon;
mod newton_schulz;
pub mod ops;
mod optimizer;
mod readback;
mod rollback;
mod status;
mod timing;

pub use adam::{GpuAdam, MomentFormat};
pub use context::{
    ADAPTER_ENV, GpuContext, LOOP_BOUNDING_ENV, PRODUCT_TILES_ENV, SPLIT_K_ENV, TENSOR_CORES_ENV,
    quiet_headless_probe,
};
pub use error::{GpuError, SkippedSteps};
pub use fast_path::{FastEngine, FastPathStatus, Precision};
pub use group::GpuParamGroup;
pub use kernels::ProductTiles;
pub use matrix::{GpuMatrix, MATRIX_USAGES, storage_offset_alignment};
pub use muon::GpuMuon;
pub use muon_core::mixed::ParamRole;
pub use newton_schulz::GpuNewtonSchulz;
pub use optimizer::{Assigned, GpuGroup, GpuOptimizer, ParamState};
pub use status::ParamStatus;
pub use timing::GpuTimer;

pub use muon_core;
pub use wgpu;
