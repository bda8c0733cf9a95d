//! One struct per WGSL kernel in `shaders/`, each holding its pipeline(s) and bind-group
//! layout, created once per [`crate::GpuContext`].
//!
//! Every kernel has the same host-side shape: a `#[repr(C)]` uniform struct mirroring the
//! WGSL one, `bind_group(..)` to bind buffers (do this once, outside the step loop) and
//! `dispatch(pass, ..)` that records into a compute pass the caller owns, so any number of
//! kernels go into one submission. A faster kernel replaces one struct here and nothing else.
//! The mechanics they share (compiling, binding, dispatch sizing) live in one private module.

mod adam_update;
mod check_finite;
mod common;
mod frobenius_norm;
mod gram;
mod matmul;
mod muon_update;
mod ns_normalize;
mod ns_step;
mod sources;

pub use adam_update::{AdamParams, AdamUpdate, MAX_SCALAR_TABLE, scalar_table};
pub use check_finite::{CheckFinite, CheckParams};
pub use frobenius_norm::{FrobeniusNorm, MAX_PARTIALS, NormParams};
pub use gram::{Gram, GramParams};
pub use matmul::{Matmul, MatmulParams};
pub use muon_update::{MuonParams, MuonUpdate};
pub use ns_normalize::{NormalizeParams, NsNormalize};
pub use ns_step::{NsStep, NsStepParams};

use crate::GpuError;

pub(crate) use common::storage_buffer_zeroed;
pub use common::{MAX_WORKGROUPS_PER_DIM, grid_2d, uniform_buffer};
pub(crate) use gram::GramCall;

/// Every kernel's pipeline for one device.
#[derive(Debug)]
pub struct Kernels {
    /// `matmul.wgsl`.
    pub matmul: Matmul,
    /// `gram.wgsl`.
    pub gram: Gram,
    /// `ns_normalize.wgsl`.
    pub ns_normalize: NsNormalize,
    /// `ns_step.wgsl`.
    pub ns_step: NsStep,
    /// `frobenius_norm.wgsl`.
    pub frobenius_norm: FrobeniusNorm,
    /// `check_finite.wgsl`.
    pub check_finite: CheckFinite,
    /// `muon_update.wgsl`.
    pub muon_update: MuonUpdate,
    /// `adam_update.wgsl`.
    pub adam_update: AdamUpdate,
}

impl Kernels {
    /// Compiles every kernel, catching validation errors in an error scope.
    ///
    /// # Errors
    /// [`GpuError::Shader`] with the device's message.
    pub fn new(device: &wgpu::Device) -> Result<Self, GpuError> {
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let kernels = Self {
            matmul: Matmul::new(device),
            gram: Gram::new(device),
            ns_normalize: NsNormalize::new(device),
            ns_step: NsStep::new(device),
            frobenius_norm: FrobeniusNorm::new(device),
            check_finite: CheckFinite::new(device),
            muon_update: MuonUpdate::new(device),
            adam_update: AdamUpdate::new(device),
        };
        match pollster::block_on(scope.pop()) {
            Some(e) => Err(GpuError::Shader(e.to_string())),
            None => Ok(kernels),
        }
    }
}
