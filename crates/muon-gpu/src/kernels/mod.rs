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
mod elementwise;
mod frobenius_norm;
mod gather_rows;
mod gram;
mod matmul;
mod muon_update;
mod ns_normalize;
mod ns_step;
mod scatter_add_rows;
mod silu;
mod softmax_xent;
mod sources;
mod split_k;

pub use adam_update::{AdamParams, AdamUpdate, MAX_SCALAR_TABLE, scalar_table};
pub use check_finite::{CheckFinite, CheckParams};
pub use frobenius_norm::{FrobeniusNorm, MAX_PARTIALS, NormParams};
pub use gather_rows::{GatherParams, GatherRows};
pub use gram::{Gram, GramParams};
pub(crate) use matmul::{COOP_WORKGROUP_THREADS, MatmulCall};
pub use matmul::{Matmul, MatmulParams, TensorMatmul};
pub use muon_update::{MuonParams, MuonUpdate};
pub use ns_normalize::{NormalizeParams, NsNormalize};
pub use ns_step::{NsStep, NsStepParams};
pub use scatter_add_rows::{ScatterAddRows, ScatterParams};
pub use silu::{Silu, SiluParams};
pub use softmax_xent::{SoftmaxXent, XENT_STATS_PER_ROW, XentParams};

use std::sync::Arc;

use crate::{FastEngine, GpuError};
use common::{Compiler, TileChoice};

pub use common::{LoopBounding, MAX_WORKGROUPS_PER_DIM, ProductTiles, grid_2d, uniform_buffer};
pub(crate) use common::{buffer_init, storage_buffer_zeroed, whole};
pub use elementwise::ElementwiseBindGroups;
pub(crate) use gram::{GramCall, GramScratch};
pub(crate) use ns_step::NsStepCall;

/// Every kernel's pipeline for one device.
#[derive(Debug)]
pub struct Kernels {
    /// `matmul.wgsl`.
    pub matmul: Matmul,
    /// `matmul_coop.wgsl`, on a device with cooperative matrices (see
    /// [`crate::GpuContext::tensor_cores`]); `None` elsewhere.
    pub tensor: Option<TensorMatmul>,
    /// Why the tensor-core kernel is missing on a device that has cooperative matrices (the
    /// driver rejected it); the context then runs `f16` products emulated.
    pub tensor_error: Option<String>,
    /// `gram.wgsl`.
    pub gram: Gram,
    /// `ns_normalize.wgsl`.
    pub ns_normalize: NsNormalize,
    /// `ns_step.wgsl`.
    pub ns_step: NsStep,
    /// `frobenius_norm.wgsl`.
    pub frobenius_norm: FrobeniusNorm,
    /// `check_status.wgsl` with `check_finite.wgsl` / `check_finite_vec4.wgsl`.
    pub check_finite: CheckFinite,
    /// `muon_step.wgsl` with `muon_update.wgsl` / `muon_update_vec4.wgsl`.
    pub muon_update: MuonUpdate,
    /// `adam_step.wgsl` with `adam_update.wgsl` / `adam_update_vec4.wgsl`.
    pub adam_update: AdamUpdate,
    /// `gather_rows.wgsl`.
    pub gather_rows: GatherRows,
    /// `softmax_xent.wgsl`.
    pub softmax_xent: SoftmaxXent,
    /// `scatter_add_rows.wgsl`.
    pub scatter_add_rows: ScatterAddRows,
    /// `silu.wgsl`.
    pub silu: Silu,
    /// The block geometry of `matmul`, `gram` and `ns_step` (shared with them).
    tiles: Arc<TileChoice>,
    /// Whether products of few blocks split their inner dimension to fill the GPU
    /// (`split_k`); fixed when the context is made, before any plan sizes its scratch.
    split_fill: std::sync::atomic::AtomicBool,
    /// How the programs were compiled.
    loop_bounding: LoopBounding,
}

impl Kernels {
    /// Compiles every kernel, catching validation errors in an error scope; the tensor-core
    /// product too when `tensor_cores` says the device can run it (it must then have
    /// `SHADER_F16`, `SUBGROUP` and `EXPERIMENTAL_COOPERATIVE_MATRIX`, and 32-wide subgroups).
    ///
    /// Loops compiled without wgpu's counters ([`LoopBounding::Off`]).
    ///
    /// # Errors
    /// [`GpuError::Shader`] with the device's message.
    pub fn new(device: &wgpu::Device, tensor_cores: bool) -> Result<Self, GpuError> {
        Self::with_loop_bounding(device, tensor_cores, LoopBounding::default())
    }

    /// [`Kernels::new`], with wgpu's loop counters where `bounding` is [`LoopBounding::On`].
    ///
    /// # Errors
    /// [`GpuError::Shader`] with the device's message.
    pub fn with_loop_bounding(
        device: &wgpu::Device,
        tensor_cores: bool,
        bounding: LoopBounding,
    ) -> Result<Self, GpuError> {
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let tiles = Arc::new(TileChoice::new(ProductTiles::large_supported(device)));
        let device = &Compiler::new(device, bounding);
        let matmul = Matmul::new(device, &tiles);
        // The experimental kernel in a scope of its own: a driver that rejects it costs the
        // fast path, not the context.
        let (tensor, tensor_error) = if tensor_cores {
            let inner = device.push_error_scope(wgpu::ErrorFilter::Validation);
            let t = TensorMatmul::new(device, &matmul);
            match pollster::block_on(inner.pop()) {
                None => (Some(t), None),
                Some(e) => {
                    log::warn!("muon-gpu: tensor-core kernel rejected, f16 runs emulated: {e}");
                    (None, Some(e.to_string()))
                }
            }
        } else {
            (None, None)
        };
        let kernels = Self {
            matmul,
            tensor,
            tensor_error,
            gram: Gram::new(device, &tiles),
            ns_normalize: NsNormalize::new(device),
            ns_step: NsStep::new(device, &tiles),
            frobenius_norm: FrobeniusNorm::new(device),
            check_finite: CheckFinite::new(device),
            muon_update: MuonUpdate::new(device),
            adam_update: AdamUpdate::new(device),
            gather_rows: GatherRows::new(device),
            softmax_xent: SoftmaxXent::new(device),
            scatter_add_rows: ScatterAddRows::new(device),
            silu: Silu::new(device),
            tiles,
            split_fill: std::sync::atomic::AtomicBool::new(true),
            loop_bounding: bounding,
        };
        match pollster::block_on(scope.pop()) {
            Some(e) => Err(GpuError::Shader(e.to_string())),
            None => Ok(kernels),
        }
    }

    /// Whether the Gram products and Newton–Schulz steps of few output blocks split their
    /// inner dimension to fill the GPU (the default), or only long products split
    /// (`MUON_SPLIT_K=long`, read when a context is made; for measuring the rule).
    #[must_use]
    pub fn split_fill(&self) -> bool {
        self.split_fill.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the programs carry wgpu's loop counters ([`LoopBounding`]).
    #[must_use]
    pub fn loop_bounding(&self) -> LoopBounding {
        self.loop_bounding
    }

    /// Sets [`Kernels::split_fill`]; only before any product is planned (the split decides
    /// the size of a plan's scratch), so only where the context is made.
    pub(crate) fn set_split_fill(&self, fill: bool) {
        self.split_fill
            .store(fill, std::sync::atomic::Ordering::Relaxed);
    }

    /// The block geometry the tiled products (`matmul`, `gram`, `ns_step`) are set to.
    #[must_use]
    pub fn product_tiles(&self) -> ProductTiles {
        self.tiles.setting()
    }

    /// Whether this device runs [`ProductTiles::Large`] ([`ProductTiles::large_supported`]).
    #[must_use]
    pub fn large_tiles_supported(&self) -> bool {
        self.tiles.large_supported()
    }

    /// Sets the block geometry of the tiled products for every later dispatch (every user of
    /// this device's kernels). The results are the same bits in either geometry.
    ///
    /// # Errors
    /// [`GpuError::Unsupported`] for [`ProductTiles::Large`] on a device whose limits do not
    /// allow it; the setting is then unchanged.
    pub fn set_product_tiles(&self, tiles: ProductTiles) -> Result<(), GpuError> {
        if self.tiles.set(tiles) {
            Ok(())
        } else {
            Err(GpuError::Unsupported {
                what: "ProductTiles::Large",
                reason: "the device allows fewer than 256 threads or 16.5 KiB of workgroup \
                         memory per workgroup"
                    .to_owned(),
            })
        }
    }

    /// Records a general product `C = α·op(A)·op(B) + β·D` for an `m × n` output, bound with
    /// [`Matmul::bind_group`]: in `f32` for `engine = None`, else with `f16` operands on that
    /// engine (tensor cores when this device has them, else emulated). Pass the engine
    /// [`crate::GpuContext::check_fast_path`] reported `Ready`.
    pub fn dispatch_product(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        m: u32,
        n: u32,
        engine: Option<FastEngine>,
    ) {
        match (engine, &self.tensor) {
            (None, _) => self.matmul.dispatch(pass, bind_group, m, n),
            (Some(FastEngine::TensorCores), Some(t)) => t.dispatch(pass, bind_group, m, n),
            (Some(_), _) => self.matmul.dispatch_f16(pass, bind_group, m, n),
        }
    }

    /// As [`Kernels::dispatch_product`] for a product bound by `Matmul::call` (split-k where
    /// its shape takes it; bound tiled-only for the tensor cores).
    pub(crate) fn dispatch_product_call(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        call: &MatmulCall,
        engine: Option<FastEngine>,
    ) {
        match (engine, &self.tensor) {
            (None, _) => self.matmul.dispatch_call(pass, call, false),
            (Some(FastEngine::TensorCores), Some(t)) => t.dispatch_call(pass, call),
            (Some(_), _) => self.matmul.dispatch_call(pass, call, true),
        }
    }
}
