//! `pooled_buffers`: muon-gpu inside an application that owns its wgpu device and keeps its
//! tensors in pooled buffers.
//!
//! ```text
//! cargo run --example pooled_buffers
//! ```
//!
//! The application creates its own `wgpu::Instance`, adapter and device (with the same major
//! wgpu as muon-gpu: see "wgpu versions" in `docs/gpu.md`), and hands tensors out of two
//! buffers the way burn's and cubecl's wgpu pools do, as `(buffer, offset, size)` ranges at
//! the device's storage offset alignment: one pool for the weights, one for the gradients, each
//! also holding the application's own data between them. Muon trains the two weight matrices
//! and AdamW the three vectors, through [`GpuOptimizer`] on a context made by
//! [`GpuContext::from_device`], for a few steps; the gradients stand in for the application's
//! backward pass (a fixed pseudo-random sequence written into the gradient pool).
//!
//! It then checks, and exits non-zero if any check fails: each parameter against `muon-core`
//! stepped with the same gradients (the GPU tests' tolerances: 1e-4 relative for Muon, 1e-5
//! for AdamW), and every byte of both pools outside the parameters and gradients unchanged. CI
//! runs it on lavapipe (`.ci/run`).

use std::process::ExitCode;

use muon::gpu::{
    GpuContext, GpuError, GpuMatrix, GpuOptimizer, MATRIX_USAGES, ParamRole,
    storage_offset_alignment,
};
use muon::{Adam, AdamConfig, MatMut, MatRef, Muon, MuonConfig, Optimizer};

/// Steps trained.
const STEPS: u64 = 10;
/// Relative (Frobenius) tolerance of a Muon parameter against the core after [`STEPS`].
const MUON_TOL: f64 = 1e-4;
/// The same for AdamW (element-wise, the core's operation order).
const ADAMW_TOL: f64 = 1e-5;

/// The model: name and shape of each parameter. Matrices go to Muon, vectors to AdamW.
const PARAMS: [(&str, usize, usize); 5] = [
    ("layer1.weight", 32, 16),
    ("layer1.bias", 1, 32),
    ("norm.gain", 1, 32),
    ("layer2.weight", 8, 32),
    ("layer2.bias", 1, 8),
];

/// Elements of application data (for instance activations) allocated between the tensors.
const OTHER_DATA: usize = 37;

fn main() -> ExitCode {
    // SAFETY: first thing in `main`, before any other thread exists.
    unsafe { muon::gpu::quiet_headless_probe() };
    match run() {
        Ok(true) => {
            println!("PASS");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("FAIL: the pooled-buffer run does not match the core (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// A bump allocator over one buffer, handing out `(offset, size)` ranges at the device's
/// storage offset alignment, as a pooled tensor allocator does.
struct Pool {
    buffer: wgpu::Buffer,
    alignment: u64,
    next: u64,
}

impl Pool {
    fn new(device: &wgpu::Device, label: &str, bytes: u64) -> Self {
        Self {
            buffer: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                // What muon-gpu needs of a parameter or gradient buffer (bound as storage,
                // copied in and out); an application's pool usually has these anyway.
                usage: MATRIX_USAGES,
                mapped_at_creation: false,
            }),
            alignment: storage_offset_alignment(device),
            next: 0,
        }
    }

    /// The next aligned range of `len` `f32`, or `None` when the pool is full.
    fn alloc(&mut self, len: usize) -> Option<(u64, u64)> {
        let offset = self.next.next_multiple_of(self.alignment);
        let size = len as u64 * 4;
        (offset + size <= self.buffer.size()).then(|| {
            self.next = offset + size;
            (offset, size)
        })
    }
}

/// Deterministic values in [-1, 1) (xorshift64*), standing in for real data.
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            ((s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect()
}

/// ‖got − want‖_F / ‖want‖_F, in f64.
fn rel_err(got: &[f32], want: &[f32]) -> f64 {
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (g, w) in got.iter().zip(want) {
        num += (f64::from(*g) - f64::from(*w)).powi(2);
        den += f64::from(*w).powi(2);
    }
    num.sqrt() / den.sqrt().max(1e-30)
}

/// One parameter's reference state in the core.
enum CpuState {
    /// The core's Muon state, one flat buffer (`Optimizer::state_len`).
    Muon(Vec<f32>),
    /// The core's AdamW state, one flat buffer.
    AdamW(Vec<f32>),
}

/// One parameter: its views in the pools and its reference in the core.
struct Param {
    name: &'static str,
    rows: usize,
    cols: usize,
    weight: GpuMatrix,
    grad: GpuMatrix,
    cpu_weight: Vec<f32>,
    cpu: CpuState,
}

/// The whole run; `Ok(false)` when a check fails.
fn run() -> Result<bool, Box<dyn std::error::Error>> {
    // The application's own wgpu setup.
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        ..Default::default()
    }))
    .map_err(|_| GpuError::NoAdapter)?;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("application"),
        required_limits: adapter.limits(),
        ..Default::default()
    }))?;
    let info = adapter.get_info();
    println!(
        "adapter: {} ({:?}, {:?})",
        info.name, info.backend, info.device_type
    );
    // muon-gpu on the same device (the handles are shared, the application keeps its own).
    let ctx = GpuContext::from_device(device.clone(), queue.clone())?;
    let alignment = storage_offset_alignment(&device);
    println!("storage offset alignment: {alignment} bytes");

    // Two pools big enough for every tensor, the application's data and the padding.
    let elements: usize = PARAMS.iter().map(|(_, r, c)| r * c + OTHER_DATA).sum();
    let bytes = (elements as u64 * 4 + 2 * PARAMS.len() as u64 * alignment).next_multiple_of(4);
    let mut weights = Pool::new(&device, "weights pool", bytes);
    let mut grads = Pool::new(&device, "gradients pool", bytes);
    // Fill both with the application's own bytes, which must survive training untouched.
    let fill: Vec<u32> = (0..(bytes / 4) as u32).map(|i| 0x7FC0_0000 | i).collect();
    for pool in [&weights, &grads] {
        queue.write_buffer(&pool.buffer, 0, bytemuck::cast_slice(&fill));
    }

    let muon = MuonConfig::new().with_lr(0.02).build()?;
    let adamw = AdamConfig::adamw().with_lr(3e-3).build()?;
    let mut opt = GpuOptimizer::new(&ctx, muon, adamw);
    let mut params = Vec::new();
    let mut ranges = Vec::new(); // (pool index, offset, size) of every parameter and gradient
    for (i, &(name, rows, cols)) in PARAMS.iter().enumerate() {
        let mut view = |pool: &mut Pool, which: usize| -> Result<GpuMatrix, GpuError> {
            let (offset, size) = pool.alloc(rows * cols).ok_or(GpuError::BufferTooLarge {
                what: "pool",
                bytes: pool.next,
                max: pool.buffer.size(),
            })?;
            ranges.push((which, offset, size));
            // The application's data next to the tensor.
            let _application_data = pool.alloc(OTHER_DATA);
            GpuMatrix::from_buffer_range(&ctx, pool.buffer.clone(), offset, rows, cols)
        };
        let weight = view(&mut weights, 0)?;
        let grad = view(&mut grads, 1)?;
        let w0 = values(rows * cols, 100 + i as u64);
        weight.write(&ctx, &w0)?;
        let index = opt.add(&weight, &grad, ParamRole::Auto)?;
        let cpu = match opt.assigned(index) {
            Some(a) if a.group == GpuOptimizer::MUON => {
                CpuState::Muon(vec![0.0; Muon::state_len(rows, cols)?])
            }
            _ => CpuState::AdamW(vec![0.0; Adam::state_len(rows, cols)?]),
        };
        println!(
            "{name:>14} {rows:>3}x{cols:<3} at byte {:>6} of the weights pool, {}",
            weight.offset(),
            match cpu {
                CpuState::Muon(_) => "Muon",
                CpuState::AdamW(_) => "AdamW",
            }
        );
        params.push(Param {
            name,
            rows,
            cols,
            weight,
            grad,
            cpu_weight: w0,
            cpu,
        });
    }

    for step in 0..STEPS {
        for (i, p) in params.iter_mut().enumerate() {
            // The application's backward pass would write this gradient on the device.
            let g = values(p.rows * p.cols, 1000 * (step + 1) + i as u64);
            p.grad.write(&ctx, &g)?;
            core_step(&muon, &adamw, p, &g)?;
        }
        opt.step(); // every parameter, one submission
    }
    opt.check()?; // no step was skipped for a non-finite gradient

    let mut ok = true;
    println!("after {STEPS} steps, against muon-core:");
    for p in &params {
        let got = p.weight.read(&ctx)?;
        let err = rel_err(&got, &p.cpu_weight);
        let tol = match p.cpu {
            CpuState::Muon(_) => MUON_TOL,
            CpuState::AdamW(_) => ADAMW_TOL,
        };
        let pass = err < tol;
        ok &= pass;
        println!(
            "{:>14}: relative error {err:.2e} (tolerance {tol:.0e}) {}",
            p.name,
            if pass { "ok" } else { "MISMATCH" }
        );
    }
    for (which, pool) in [&weights, &grads].into_iter().enumerate() {
        let len = (pool.buffer.size() / 4) as usize;
        let whole = GpuMatrix::from_buffer(&ctx, pool.buffer.clone(), 1, len)?;
        let after = whole.read(&ctx)?;
        let changed = after
            .iter()
            .zip(&fill)
            .enumerate()
            .filter(|&(w, (a, b))| {
                let byte = w as u64 * 4;
                let inside = ranges
                    .iter()
                    .any(|&(p, off, size)| p == which && byte >= off && byte < off + size);
                !inside && a.to_bits() != *b
            })
            .count();
        println!(
            "{}: {changed} words outside the tensors changed",
            ["weights pool", "gradients pool"][which]
        );
        ok &= changed == 0;
    }
    Ok(ok)
}

/// The core's step of parameter `p` with gradient `g`.
fn core_step(muon: &Muon, adamw: &Adam, p: &mut Param, g: &[f32]) -> Result<(), GpuError> {
    match &mut p.cpu {
        CpuState::Muon(state) => step_with(muon, state, p.rows, p.cols, &mut p.cpu_weight, g),
        CpuState::AdamW(state) => step_with(adamw, state, p.rows, p.cols, &mut p.cpu_weight, g),
    }
}

/// One core step of any optimizer, its state one flat buffer.
fn step_with<O: Optimizer>(
    opt: &O,
    state: &mut [f32],
    rows: usize,
    cols: usize,
    w: &mut [f32],
    g: &[f32],
) -> Result<(), GpuError> {
    let slots = O::slots(state, rows, cols)?;
    opt.step(
        MatMut::new(rows, cols, w)?,
        MatRef::new(rows, cols, g)?,
        slots,
    )?;
    Ok(())
}
