//! The optimizers the experiments compare, each on the CPU core or on the GPU.
//!
//! The model math (logits, softmax, gradient) runs on the CPU; the optimizer step runs where
//! the backend says. On the GPU, `W`, its momentum/moments and the gradient buffer stay
//! resident: each step uploads the gradient, runs one submission and reads `W` back for the
//! next forward pass (the example's model is on the CPU; a GPU model would skip both copies).
//! SGD has no GPU kernel, so GD/SGD always step on the CPU core.

use muon::cpu::adam::AdamConfig;
use muon::cpu::muon::MuonConfig;
use muon::cpu::sgd::SgdConfig;
use muon::cpu::{MatRef, Optimizer};
use muon::gpu::{GpuAdam, GpuContext, GpuMatrix, GpuMuon, GpuParamGroup};

use crate::error::ExampleError;
use crate::memory::Dense;

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
