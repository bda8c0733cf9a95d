//! The optimizers the experiments compare, each on the CPU core or on the GPU.
//!
//! [`Stepper`] steps a host matrix: the core on the CPU, or (one-step experiment) the GPU
//! optimizer with an upload of the gradient and a readback of `W` per step; SGD there always
//! steps on the CPU core. [`DeviceStepper`] is the resident form the multi-step and Zipf
//! experiments use on the GPU (`crate::device`): parameter, gradient and state stay on the
//! device and a step is recorded into the caller's pass; SGD runs the example's own kernel
//! (`crate::sgd_kernel`).

use muon::cpu::adam::AdamConfig;
use muon::cpu::muon::MuonConfig;
use muon::cpu::sgd::SgdConfig;
use muon::cpu::{MatRef, Optimizer};
use muon::gpu::{GpuAdam, GpuContext, GpuMatrix, GpuMuon, GpuParamGroup};

use crate::error::ExampleError;
use crate::memory::Dense;
use crate::sgd_kernel::SgdKernel;

/// Where optimizer steps run.
#[derive(Clone, Debug)]
pub enum Backend {
    /// The `no_std` CPU core.
    Cpu,
    /// The wgpu kernels on this context (boxed: the context is large, the CPU variant empty).
    Gpu(Box<GpuContext>),
}

impl Backend {
    /// `"cpu"` or `"gpu (<adapter name>)"`.
    pub fn describe(&self) -> String {
        match self {
            Self::Cpu => "cpu".to_string(),
            Self::Gpu(ctx) => format!("gpu ({})", ctx.adapter_info().name),
        }
    }
}

/// An optimizer choice with its hyper-parameters, built into a [`Stepper`] per run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerSpec {
    /// Gradient descent / SGD with momentum (`torch.optim.SGD`).
    Sgd(SgdConfig),
    /// Adam (`torch.optim.Adam`); SignGD is Adam with betas (0, 0).
    Adam(AdamConfig),
    /// Muon (`torch.optim.Muon`).
    Muon(MuonConfig),
}

/// Steps one parameter matrix.
pub trait Stepper {
    /// Updates `w` in place from `grad` (same shape).
    fn step(&mut self, w: &mut Dense, grad: &Dense) -> Result<(), ExampleError>;
    /// Reports deferred errors (the GPU checks NaN/Inf flags here).
    fn finish(&mut self) -> Result<(), ExampleError> {
        Ok(())
    }
}

impl OptimizerSpec {
    /// A stepper for a `rows × cols` parameter whose initial value is `w0`.
    pub fn build(self, backend: &Backend, w0: &Dense) -> Result<Box<dyn Stepper>, ExampleError> {
        Ok(match (self, backend) {
            (Self::Sgd(c), _) => CpuStepper::boxed(c.build()?, w0)?,
            (Self::Adam(c), Backend::Cpu) => CpuStepper::boxed(c.build()?, w0)?,
            (Self::Muon(c), Backend::Cpu) => CpuStepper::boxed(c.build()?, w0)?,
            (Self::Adam(c), Backend::Gpu(ctx)) => {
                GpuStepper::boxed(ctx, GpuAdam::from_config(ctx, c)?, w0)?
            }
            (Self::Muon(c), Backend::Gpu(ctx)) => {
                GpuStepper::boxed(ctx, GpuMuon::from_config(ctx, c)?, w0)?
            }
        })
    }
}

/// Any core optimizer, its state one flat buffer ([`Optimizer::state_len`]).
struct CpuStepper<O> {
    opt: O,
    state: Vec<f32>,
}

impl<O: Optimizer + 'static> CpuStepper<O> {
    fn boxed(opt: O, w0: &Dense) -> Result<Box<dyn Stepper>, ExampleError> {
        let state = vec![0.0; O::state_len(w0.rows, w0.cols)?];
        Ok(Box::new(Self { opt, state }))
    }
}

impl<O: Optimizer> Stepper for CpuStepper<O> {
    fn step(&mut self, w: &mut Dense, grad: &Dense) -> Result<(), ExampleError> {
        let (rows, cols) = (w.rows, w.cols);
        let slots = O::slots(&mut self.state, rows, cols)?;
        self.opt
            .step(w.view_mut()?, MatRef::new(rows, cols, &grad.data)?, slots)?;
        Ok(())
    }
}

/// Any GPU parameter group with one parameter, `W`, and its gradient buffer.
struct GpuStepper {
    ctx: GpuContext,
    w: GpuMatrix,
    g: GpuMatrix,
    group: Box<dyn GpuParamGroup>,
}

impl GpuStepper {
    fn boxed(
        ctx: &GpuContext,
        mut group: impl GpuParamGroup + 'static,
        w0: &Dense,
    ) -> Result<Box<dyn Stepper>, ExampleError> {
        let w = GpuMatrix::from_slice(ctx, w0.rows, w0.cols, &w0.data)?;
        let g = GpuMatrix::zeros(ctx, w0.rows, w0.cols)?;
        group.add_param(&w, &g)?;
        Ok(Box::new(Self {
            ctx: GpuContext::clone(ctx),
            w,
            g,
            group: Box::new(group),
        }))
    }
}

impl Stepper for GpuStepper {
    fn step(&mut self, w: &mut Dense, grad: &Dense) -> Result<(), ExampleError> {
        self.g.write(&self.ctx, &grad.data)?;
        self.group.step();
        w.data = self.w.read(&self.ctx)?;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ExampleError> {
        Ok(self.group.check()?)
    }
}

/// An optimizer bound to one device-resident parameter and gradient: [`DeviceStepper::encode`]
/// records a step into a compute pass the caller owns (so the model's kernels and the step
/// share one submission), nothing is uploaded or read back.
pub struct DeviceStepper {
    opt: Resident,
}

/// A muon-gpu parameter group, or the example's own SGD kernel (muon-gpu has no SGD).
enum Resident {
    Group(Box<dyn GpuParamGroup>),
    Sgd(SgdKernel),
}

impl OptimizerSpec {
    /// The resident stepper for parameter `w` and its gradient buffer `g` (same shape).
    ///
    /// # Errors
    /// Invalid hyper-parameters, a shape mismatch or a GPU error.
    pub fn build_resident(
        self,
        ctx: &GpuContext,
        w: &GpuMatrix,
        g: &GpuMatrix,
    ) -> Result<DeviceStepper, ExampleError> {
        let opt = match self {
            Self::Sgd(c) => Resident::Sgd(SgdKernel::new(ctx, c, w, g)?),
            Self::Adam(c) => Resident::group(GpuAdam::from_config(ctx, c)?, w, g)?,
            Self::Muon(c) => Resident::group(GpuMuon::from_config(ctx, c)?, w, g)?,
        };
        Ok(DeviceStepper { opt })
    }
}

impl DeviceStepper {
    /// Records one step into `pass`.
    pub fn encode(&self, pass: &mut muon::gpu::wgpu::ComputePass<'_>) {
        match &self.opt {
            Resident::Group(group) => group.encode(pass),
            Resident::Sgd(k) => k.encode(pass),
        }
    }

    /// Reports steps skipped for a non-finite gradient (Adam, Muon; reads flags back).
    ///
    /// # Errors
    /// [`muon::gpu::GpuError::NonFiniteGradients`] or a readback error.
    pub fn finish(&mut self) -> Result<(), ExampleError> {
        if let Resident::Group(group) = &mut self.opt {
            group.check()?;
        }
        Ok(())
    }
}

impl Resident {
    /// `group` with `w` (gradient `g`) registered.
    fn group(
        mut group: impl GpuParamGroup + 'static,
        w: &GpuMatrix,
        g: &GpuMatrix,
    ) -> Result<Self, ExampleError> {
        group.add_param(w, g)?;
        Ok(Self::Group(Box::new(group)))
    }
}
