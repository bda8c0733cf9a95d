//! [`GpuMuon`]: Muon with parameters, gradients and state resident on the device.

#[cfg(doc)]
use muon_core::MuonError;
use muon_core::muon::{Muon, MuonConfig};

use crate::fast_path::Precision;
use crate::kernels::{ElementwiseBindGroups, MuonParams, storage_buffer_zeroed, uniform_buffer};
use crate::newton_schulz::{GpuNewtonSchulz, NsScratch, check_magnitude};
use crate::readback::read_f32;
use crate::rollback::add_or_roll_back;
use crate::status::{GuardedParam, ParamStatus, check_statuses, check_unregistered, read_statuses};
use crate::{GpuContext, GpuError, GpuMatrix};

/// One parameter's device state and bind groups.
#[derive(Debug)]
struct MuonSlot {
    guard: GuardedParam,
    momentum: wgpu::Buffer,
    muon_params: wgpu::Buffer,
    ns: GpuNewtonSchulz,
    momentum_bg: ElementwiseBindGroups,
    apply_bg: ElementwiseBindGroups,
}

/// Muon (`muon_core::muon::Muon` semantics and hyper-parameters) on the device.
///
/// Register each parameter with its gradient buffer once ([`GpuMuon::add_param`]: this
/// allocates the momentum and Newton–Schulz scratch and builds every bind group); then each
/// [`GpuMuon::step`] records all parameters into one compute pass and one submission, with no
/// allocation, upload or readback. Write the gradients into the registered gradient buffers
/// (your own kernels, or [`GpuMatrix::write`]) before each step.
///
/// A NaN or infinite gradient makes that parameter's step a no-op on the device (parameter and
/// momentum untouched, as in the core); [`GpuMuon::check`] reports it on request.
#[derive(Debug)]
pub struct GpuMuon {
    ctx: GpuContext,
    muon: Muon,
    precision: Precision,
    /// Parameters of one shape share one Newton–Schulz scratch (a step records them one after
    /// another): the first one's plan holds it.
    slots: Vec<MuonSlot>,
}

impl GpuMuon {
    /// An optimizer with no parameters yet.
    #[must_use]
    pub fn new(ctx: &GpuContext, muon: Muon) -> Self {
        Self {
            ctx: ctx.clone(),
            muon,
            precision: Precision::F32,
            slots: Vec::new(),
        }
    }

    /// Sets the precision of the Newton–Schulz products for every parameter, registered or
    /// not (default [`Precision::F32`]). Rebuilds the registered parameters' Newton–Schulz
    /// plans; parameters and momenta are kept. [`Precision::F16`] runs the context's
    /// fast-path self-check now if it has not run, and stays `f32` if it failed
    /// ([`GpuMuon::precision`] then says `F32`).
    ///
    /// # Errors
    /// [`GpuError::Core`] (`ns_coefficients`) if the Newton–Schulz coefficients could
    /// outgrow `precision`'s numbers (see [`GpuNewtonSchulz::with_precision`]); a
    /// [`GpuError`] from the device during the self-check; as [`GpuMuon::add_param`] for
    /// the rebuilt plans. On an error the optimizer keeps its previous precision and plans.
    pub fn set_precision(&mut self, precision: Precision) -> Result<(), GpuError> {
        check_magnitude(&self.muon.config().ns, precision)?;
        if precision == Precision::F16 {
            // The verdict, even with no parameter yet, so that `precision()` only reads it.
            self.ctx.check_fast_path()?;
        }
        let plans = self
            .slots
            .iter()
            .map(|s| {
                let scratch = s.ns.scratch().clone();
                GpuNewtonSchulz::with_scratch(&self.ctx, &self.muon.config().ns, precision, scratch)
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (slot, ns) in self.slots.iter_mut().zip(plans) {
            let (momentum_bg, apply_bg) = bind_slot(
                &self.ctx,
                &slot.guard,
                &slot.momentum,
                &slot.muon_params,
                &ns,
            );
            slot.ns = ns;
            slot.momentum_bg = momentum_bg;
            slot.apply_bg = apply_bg;
        }
        self.precision = precision;
        Ok(())
    }

    /// The precision the Newton–Schulz products run in: as set, or `F32` when `F16` was set
    /// and the context's fast path failed its self-check.
    #[must_use]
    pub fn precision(&self) -> Precision {
        match self.precision {
            Precision::F16 if self.ctx.fast_path_status().engine().is_some() => Precision::F16,
            _ => Precision::F32,
        }
    }

    /// Validates `config` (the core's checks) and returns the optimizer.
    ///
    /// # Errors
    /// [`GpuError::Core`] with [`MuonError::InvalidHyperParameter`].
    pub fn from_config(ctx: &GpuContext, config: MuonConfig) -> Result<Self, GpuError> {
        Ok(Self::new(ctx, config.build()?))
    }

    /// The context this optimizer's buffers live on.
    #[must_use]
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// The hyper-parameters.
    #[must_use]
    pub fn config(&self) -> &MuonConfig {
        self.muon.config()
    }

    /// Bytes of device memory the Newton–Schulz scratch of all parameters takes: one scratch
    /// per distinct parameter shape (`2·rows·cols + 2·min(rows, cols)²` floats, plus up to
    /// 64 MiB of chunk sums for a shape whose products split their inner dimension: a short
    /// side of at most 1984 and a long one of at least 512), shared by the parameters of that
    /// shape, since a step runs them one after another.
    #[must_use]
    pub fn scratch_bytes(&self) -> u64 {
        let mut shapes = Vec::new();
        let mut bytes = 0;
        for s in &self.slots {
            let scratch = s.ns.scratch();
            if !shapes.contains(&scratch.shape()) {
                shapes.push(scratch.shape());
                bytes += scratch.bytes();
            }
        }
        bytes
    }

    /// The registration of parameter `index` (for cross-group checks).
    pub(crate) fn guard(&self, index: usize) -> Option<&GuardedParam> {
        self.slots.get(index).map(|s| &s.guard)
    }

    /// Number of registered parameters.
    #[must_use]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no parameter is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Registers `param` and the buffer its gradient will be written to; returns its index.
    ///
    /// # Errors
    /// [`MuonError::ShapeMismatch`] (as [`GpuError::Core`]) if the shapes differ, or
    /// `InvalidHyperParameter { name: "ns_coefficients", .. }` if the configuration's
    /// Newton–Schulz coefficients could outgrow the device's numbers
    /// ([`GpuNewtonSchulz::with_precision`]),
    /// [`GpuError::AliasedBuffers`] if they share a buffer, [`GpuError::AlreadyRegistered`]
    /// if either is already a parameter or gradient of this optimizer, [`GpuError::OutOfMemory`],
    /// [`GpuError::DeviceLost`] or another device error (the parameter is then not
    /// registered), [`GpuError::BufferTooLarge`] if
    /// the Newton–Schulz scratch does not fit the device, [`GpuError::InnerDimensionTooLong`]
    /// for a matrix longer than this adapter's products allow (llvmpipe only).
    pub fn add_param(&mut self, param: &GpuMatrix, grad: &GpuMatrix) -> Result<usize, GpuError> {
        let ctx = self.ctx.clone();
        add_or_roll_back(
            &ctx,
            self,
            |this| &mut this.slots,
            |this| this.add_param_unscoped(param, grad),
        )
    }

    /// [`Self::add_param`] without the error scopes.
    fn add_param_unscoped(
        &mut self,
        param: &GpuMatrix,
        grad: &GpuMatrix,
    ) -> Result<usize, GpuError> {
        check_unregistered(self.slots.iter().map(|s| &s.guard), param, grad)?;
        let guard = GuardedParam::new(&self.ctx, param, grad)?;
        let (rows, cols) = param.shape();
        let shared = self
            .slots
            .iter()
            .map(|s| s.ns.scratch())
            .find(|n| n.shape() == (rows, cols));
        let scratch = match shared {
            Some(shared) => shared.clone(),
            None => NsScratch::new(&self.ctx, rows, cols)?,
        };
        let ns = GpuNewtonSchulz::with_scratch(
            &self.ctx,
            &self.muon.config().ns,
            self.precision,
            scratch,
        )?;
        let device = self.ctx.device();
        let momentum = storage_buffer_zeroed(device, "muon momentum", u64::from(guard.len()) * 4);
        let muon_params = uniform_buffer(
            device,
            "muon params",
            &MuonParams::new(&self.muon, rows, cols),
        );
        let (momentum_bg, apply_bg) = bind_slot(&self.ctx, &guard, &momentum, &muon_params, &ns);
        self.slots.push(MuonSlot {
            guard,
            momentum,
            muon_params,
            ns,
            momentum_bg,
            apply_bg,
        });
        Ok(self.slots.len() - 1)
    }

    /// Records one step of every parameter into `pass` (a pass the caller owns, so other
    /// work can share the submission).
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        let k = self.ctx.kernels();
        for s in &self.slots {
            s.guard.encode(k, pass, |pass| {
                k.muon_update.dispatch_momentum(pass, &s.momentum_bg);
                s.ns.encode(k, pass);
                k.muon_update.dispatch_apply(pass, &s.apply_bg);
            });
        }
    }

    /// One step of every parameter in one submission. Does not wait for the device.
    pub fn step(&self) -> wgpu::SubmissionIndex {
        self.ctx.submit_pass("muon step", |pass| self.encode(pass))
    }

    /// Changes the learning rate (for schedules): validated as the core does, then 32 bytes
    /// per parameter are queued for upload before the next step.
    ///
    /// # Errors
    /// [`MuonError::InvalidHyperParameter`] (as [`GpuError::Core`]), [`GpuError::DeviceLost`]
    /// or another device error; nothing changes then.
    pub fn set_lr(&mut self, lr: f32) -> Result<(), GpuError> {
        let muon = self.muon.config().with_lr(lr).build()?;
        self.ctx.scoped(|| {
            for s in &self.slots {
                let (rows, cols) = s.guard.param.shape();
                let p = MuonParams::new(&muon, rows, cols);
                self.ctx
                    .queue()
                    .write_buffer(&s.muon_params, 0, bytemuck::bytes_of(&p));
            }
        })?;
        self.muon = muon;
        Ok(())
    }

    /// Reads every parameter's step record (waits for the device).
    ///
    /// # Errors
    /// [`GpuError::Readback`].
    pub fn status(&self) -> Result<Vec<ParamStatus>, GpuError> {
        read_statuses(&self.ctx, self.slots.iter().map(|s| &s.guard))
    }

    /// Reports skipped steps: `Err(`[`GpuError::NonFiniteGradients`]`)` listing every
    /// parameter whose gradient held a NaN/Inf since the last check (its steps were skipped,
    /// parameter and momentum untouched), and clears exactly those reports. Waits for the
    /// device.
    ///
    /// # Errors
    /// [`GpuError::NonFiniteGradients`], [`GpuError::Readback`] or a device error (then
    /// nothing is cleared).
    pub fn check(&mut self) -> Result<(), GpuError> {
        check_statuses(&self.ctx, self.slots.iter().map(|s| &s.guard))
    }

    /// Reads parameter `index`'s momentum buffer (waits for the device): the parameter's whole
    /// Muon state (the core's `MuonState::momentum`; Muon keeps no step count). Save it to
    /// checkpoint, restore it with [`GpuMuon::set_momentum`].
    ///
    /// # Errors
    /// [`GpuError::UnknownParam`] or [`GpuError::Readback`].
    pub fn momentum(&self, index: usize) -> Result<Vec<f32>, GpuError> {
        let s = self.slots.get(index).ok_or(GpuError::UnknownParam(index))?;
        read_f32(&self.ctx, &s.momentum, s.guard.param.len())
    }

    /// Validates a momentum for parameter `index` as [`GpuMuon::set_momentum`] does.
    pub(crate) fn check_momentum(&self, index: usize, momentum: &[f32]) -> Result<(), GpuError> {
        let s = self.slots.get(index).ok_or(GpuError::UnknownParam(index))?;
        s.guard.check_state("momentum", momentum)
    }

    /// Restores parameter `index`'s momentum buffer (`f32`, one per parameter element,
    /// row-major): to resume from a checkpoint ([`GpuMuon::momentum`]) or to move training
    /// from the core (`MuonState::momentum`, or the `momentum` slice of `Muon::step`) to the
    /// device. Queued like [`GpuMatrix::write`]: it lands before the next submission.
    ///
    /// # Errors
    /// [`GpuError::UnknownParam`]; [`MuonError::LengthMismatch`] (as [`GpuError::Core`]) if
    /// `momentum` is not as long as the parameter; [`GpuError::InvalidState`] for a NaN or
    /// infinite element; [`GpuError::DeviceLost`] or another device error. On any error
    /// nothing is written.
    pub fn set_momentum(&mut self, index: usize, momentum: &[f32]) -> Result<(), GpuError> {
        self.check_momentum(index, momentum)?;
        let s = self.slots.get(index).ok_or(GpuError::UnknownParam(index))?;
        self.ctx.scoped(|| {
            self.ctx
                .queue()
                .write_buffer(&s.momentum, 0, bytemuck::cast_slice(momentum));
        })
    }
}

/// The momentum and apply bind groups of one parameter with Newton–Schulz plan `ns`.
fn bind_slot(
    ctx: &GpuContext,
    guard: &GuardedParam,
    momentum: &wgpu::Buffer,
    muon_params: &wgpu::Buffer,
    ns: &GpuNewtonSchulz,
) -> (ElementwiseBindGroups, ElementwiseBindGroups) {
    let device = ctx.device();
    let k = ctx.kernels();
    let bind = |x: &wgpu::Buffer| {
        k.muon_update.bind_group(
            device,
            muon_params,
            guard.grad.binding(),
            momentum,
            x,
            guard.param.binding(),
            guard.status(),
            guard.len(),
        )
    };
    (bind(ns.input()), bind(ns.output()))
}
