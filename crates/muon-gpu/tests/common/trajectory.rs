//! The core's optimizers beside the GPU ones: one parameter's CPU state, and multi-step
//! trajectories that feed both the same gradients and compare the weights afterwards.

use super::{context, data, rel_err};
use muon_core::adam::{Adam, AdamConfig, AdamSlots, MomentStorage};
use muon_core::muon::{Muon, MuonConfig, MuonSlots};
use muon_core::{MatMut, MatRef, MuonError};
use muon_gpu::{GpuAdam, GpuMatrix, GpuMuon, MomentFormat};

/// The core's Muon state for one parameter.
pub struct CpuMuon {
    pub w: Vec<f32>,
    pub momentum: Vec<f32>,
    pub scratch: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
}

impl CpuMuon {
    pub fn new(w: Vec<f32>, rows: usize, cols: usize) -> Self {
        Self {
            momentum: vec![0.0; w.len()],
            scratch: vec![0.0; Muon::scratch_len(rows, cols)],
            w,
            rows,
            cols,
        }
    }

    pub fn step(&mut self, muon: &Muon, g: &[f32]) -> Result<(), MuonError> {
        muon.step(
            MatMut::new(self.rows, self.cols, &mut self.w).unwrap(),
            MatRef::new(self.rows, self.cols, g).unwrap(),
            MuonSlots {
                momentum: &mut self.momentum,
                scratch: &mut self.scratch,
            },
        )
    }
}

/// The core's Adam state for one parameter, moments stored as `S`.
pub struct CpuAdam<S: MomentStorage = f32> {
    pub w: Vec<f32>,
    pub m: Vec<S>,
    pub v: Vec<S>,
    pub t: u32,
}

impl<S: MomentStorage> CpuAdam<S> {
    pub fn new(w: Vec<f32>) -> Self {
        Self {
            m: vec![S::ZERO; w.len()],
            v: vec![S::ZERO; w.len()],
            t: 0,
            w,
        }
    }

    /// The moments widened to `f32` (the second moment as `v`, decoded by `load_v`).
    pub fn moments(&self) -> (Vec<f32>, Vec<f32>) {
        (
            self.m.iter().map(|s| s.load()).collect(),
            self.v.iter().map(|s| s.load_v()).collect(),
        )
    }

    pub fn step(&mut self, adam: &Adam, g: &[f32]) -> Result<(), MuonError> {
        adam.step(
            MatMut::vector(&mut self.w).unwrap(),
            MatRef::vector(g).unwrap(),
            AdamSlots {
                step: &mut self.t,
                m: &mut self.m,
                v: &mut self.v,
            },
        )
    }
}

/// Muon over 20 steps: each step's Newton–Schulz output differs from the core's by ~1e-5
/// relative, and the parameter accumulates lr-sized updates of it, so the weights agree to
/// far better than 1e-4 relative; 1e-4 leaves room for adapters with other rounding.
pub const MUON_TRAJ_TOL: f64 = 1e-4;

/// Adam is element-wise with the same operation order as the core and the core's own
/// bias-correction scalars; only FMA contraction and sqrt/div rounding differ: 1e-5 relative
/// (and the moments to 1e-5).
pub const ADAM_TRAJ_TOL: f64 = 1e-5;

/// Relative (Frobenius) tolerance of Adam moments stored as `format`: [`ADAM_TRAJ_TOL`] for
/// `f32`; one unit in the last place of the 16-bit format for `f16` (2⁻¹⁰) and `bf16` (2⁻⁷).
/// The GPU and the core compute the `f32` value before rounding to within an ulp or two
/// (hardware that fuses multiply-adds differs from the core by that), and where the two
/// straddle a rounding boundary the stored moments differ by one 16-bit ulp: seen on an
/// NVIDIA H200 (v: 1.3e-5 with f16 moments), never on lavapipe, which does not fuse. A wrong
/// update is off by far more than an ulp everywhere.
pub fn moment_tol(format: MomentFormat) -> f64 {
    match format {
        MomentFormat::F32 => ADAM_TRAJ_TOL,
        MomentFormat::F16 => 2f64.powi(-10),
        MomentFormat::Bf16 => 2f64.powi(-7),
    }
}

/// Runs `steps` Muon steps on both sides and asserts the weights and momenta agree; returns
/// each parameter's relative weight error (empty when skipped for want of an adapter).
pub fn muon_trajectory(cfg: MuonConfig, shapes: &[(usize, usize)], steps: usize) -> Vec<f64> {
    let Some(ctx) = context() else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    let muon = cfg.build().unwrap();
    let mut gpu = GpuMuon::new(ctx, muon);
    let mut cpu = Vec::new();
    let mut grads = Vec::new();
    let mut params = Vec::new();
    for (i, &(r, c)) in shapes.iter().enumerate() {
        let w0 = data(r * c, 1000 + i as u64);
        let p = GpuMatrix::from_slice(ctx, r, c, &w0).unwrap();
        let g = GpuMatrix::zeros(ctx, r, c).unwrap();
        assert_eq!(gpu.add_param(&p, &g).unwrap(), i);
        cpu.push(CpuMuon::new(w0, r, c));
        grads.push(g);
        params.push(p);
    }
    for step in 0..steps {
        for (i, (g, c)) in grads.iter().zip(cpu.iter_mut()).enumerate() {
            let gd = data(g.len(), (step * 100 + i) as u64 + 7);
            g.write(ctx, &gd).unwrap();
            c.step(&muon, &gd).unwrap();
        }
        gpu.step();
    }
    for (i, (p, c)) in params.iter().zip(&cpu).enumerate() {
        let got = p.read(ctx).unwrap();
        let e = rel_err(&got, &c.w);
        errs.push(e);
        assert!(
            e < MUON_TRAJ_TOL,
            "{:?} after {steps} steps: rel err {e}",
            p.shape()
        );
        let mom = gpu.momentum(i).unwrap();
        assert!(
            rel_err(&mom, &c.momentum) < 1e-6,
            "{:?} momentum",
            p.shape()
        );
    }
    let status = gpu.status().unwrap();
    assert!(
        status
            .iter()
            .all(|s| s.steps == steps as u32 && s.skipped_steps == 0)
    );
    gpu.check().unwrap();
    errs
}

/// Runs `steps` Adam steps on both sides (zero gradients on every seventh step) and asserts
/// weights and moments agree; returns each parameter's relative weight error.
pub fn adam_trajectory(cfg: AdamConfig, shapes: &[(usize, usize)], steps: usize) -> Vec<f64> {
    adam_trajectory_stored::<f32>(cfg, shapes, steps, MomentFormat::F32)
}

/// [`adam_trajectory`] with the moments stored as `S` on the CPU and `format` on the GPU.
pub fn adam_trajectory_stored<S: MomentStorage>(
    cfg: AdamConfig,
    shapes: &[(usize, usize)],
    steps: usize,
    format: MomentFormat,
) -> Vec<f64> {
    let Some(ctx) = context() else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    let adam = cfg.build().unwrap();
    let mut gpu = GpuAdam::with_moments(ctx, adam, format);
    let mut cpu = Vec::new();
    let mut grads = Vec::new();
    let mut params = Vec::new();
    for (i, &(r, c)) in shapes.iter().enumerate() {
        let w0 = data(r * c, 2000 + i as u64);
        let p = GpuMatrix::from_slice(ctx, r, c, &w0).unwrap();
        let g = GpuMatrix::zeros(ctx, r, c).unwrap();
        gpu.add_param(&p, &g).unwrap();
        cpu.push(CpuAdam::<S>::new(w0));
        grads.push(g);
        params.push(p);
    }
    for step in 0..steps {
        for (i, (g, c)) in grads.iter().zip(cpu.iter_mut()).enumerate() {
            let mut gd = data(g.len(), (step * 100 + i) as u64 + 9);
            if step % 7 == 3 {
                gd.iter_mut().for_each(|x| *x = 0.0); // zero gradients on some steps
            }
            g.write(ctx, &gd).unwrap();
            c.step(&adam, &gd).unwrap();
        }
        gpu.step();
    }
    for (i, (p, c)) in params.iter().zip(&cpu).enumerate() {
        let got = p.read(ctx).unwrap();
        let e = rel_err(&got, &c.w);
        errs.push(e);
        assert!(e < ADAM_TRAJ_TOL, "{:?}: rel err {e}", p.shape());
        let (m, v) = gpu.moments(i).unwrap();
        let (cm, cv) = c.moments();
        let (em, ev) = (rel_err(&m, &cm), rel_err(&v, &cv));
        let tol = moment_tol(format);
        assert!(
            em < tol && ev < tol,
            "{:?} {format:?} moments: rel err {em}, {ev}",
            p.shape()
        );
    }
    assert!(
        gpu.status()
            .unwrap()
            .iter()
            .all(|s| s.steps == steps as u32)
    );
    errs
}
