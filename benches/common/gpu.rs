//! The GPU context the `gpu` and `gpu+readback` ids share, made once per bench binary.
//!
//! Without an adapter (`GpuContext::new()` → `GpuError::NoAdapter`) the GPU ids are skipped
//! with a message and the CPU ids still run. On a CPU rasteriser (lavapipe) the GPU ids stop
//! at [`CPU_ADAPTER_MAX`] unless `MUON_BENCH_GPU_MAX` says otherwise; `MUON_ADAPTER=none`
//! (matches no adapter) turns the GPU ids off.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId};
use muon::gpu::kernels::{MatmulParams, uniform_buffer};
use muon::gpu::{FastEngine, GpuContext, GpuError, GpuMatrix};

/// Largest GPU size on a CPU adapter (lavapipe): one 512² Newton–Schulz there takes seconds.
pub const CPU_ADAPTER_MAX: usize = 256;

/// Environment variable: the largest size the GPU ids run at.
pub const GPU_MAX_ENV: &str = "MUON_BENCH_GPU_MAX";

/// The shared context and the largest size to run on it.
pub struct Gpu {
    /// Device, queue and compiled kernels.
    pub ctx: GpuContext,
    /// GPU ids run at sizes up to this.
    pub max_size: usize,
}

/// The context, created on first use; `None` (after printing why) when there is none.
pub fn gpu() -> Option<&'static Gpu> {
    static GPU: OnceLock<Option<Gpu>> = OnceLock::new();
    GPU.get_or_init(|| match GpuContext::new() {
        Ok(ctx) => {
            let info = ctx.adapter_info();
            let default_max = if info.device_type == wgpu::DeviceType::Cpu {
                CPU_ADAPTER_MAX
            } else {
                usize::MAX
            };
            let max_size = std::env::var(GPU_MAX_ENV)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(default_max);
            eprintln!(
                "gpu ids on {} ({:?}, {:?}, driver {} {}){}",
                info.name,
                info.backend,
                info.device_type,
                info.driver,
                info.driver_info,
                if max_size == usize::MAX {
                    String::new()
                } else {
                    format!("; sizes up to {max_size} ({GPU_MAX_ENV} to change)")
                }
            );
            if !ctx.supports_timestamps() {
                eprintln!("note: no timestamp queries on this device (bench_report falls back to wall-clock)");
            }
            Some(Gpu { ctx, max_size })
        }
        Err(GpuError::NoAdapter) => {
            eprintln!("no GPU adapter: skipping the gpu and gpu+readback ids");
            None
        }
        Err(e) => {
            eprintln!("GPU unavailable ({e}): skipping the gpu and gpu+readback ids");
            None
        }
    })
    .as_ref()
}

/// The shared context when the GPU ids should run at size `n`.
pub fn gpu_for(n: usize) -> Option<&'static Gpu> {
    gpu().filter(|g| n <= g.max_size)
}

/// Times `iters` calls of `submit` (which records and submits GPU work without waiting),
/// then waits for the device before stopping the clock: the `iter_custom` body of the `gpu`
/// ids. Submissions queue back to back, so this is the sustained per-call cost.
pub fn time_submissions(ctx: &GpuContext, iters: u64, mut submit: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        submit();
    }
    ctx.wait()
        .expect("waiting for the GPU failed (device lost?)");
    start.elapsed()
}

/// Registers the two GPU ids of an optimizer-step bench: `gpu` (the step's kernels only) and
/// `gpu+readback` (upload the gradient, step, read the parameter back). `state` builds the
/// optimizer with its parameter and gradient buffers on first use (so ids a filter leaves out
/// cost nothing); `step` submits one step without waiting.
pub fn bench_gpu_step<'a, S: 'a>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    ctx: &GpuContext,
    n: usize,
    host_grad: impl Fn() -> &'a [f32],
    state: impl Fn() -> &'a (S, GpuMatrix, GpuMatrix),
    step: impl Fn(&S),
) {
    group.bench_with_input(BenchmarkId::new("gpu", n), &n, |b, _| {
        let (opt, _, _) = state();
        b.iter_custom(|iters| time_submissions(ctx, iters, || step(opt)));
    });
    group.bench_with_input(BenchmarkId::new("gpu+readback", n), &n, |b, _| {
        let (opt, param, grad) = state();
        let host_grad = host_grad();
        b.iter(|| {
            grad.write(ctx, black_box(host_grad)).expect("upload grad");
            step(opt);
            black_box(param.read(ctx).expect("read param"))
        });
    });
}

/// `C = A·B` on the device with its uniforms and bind group made once, so a timed call
/// records one dispatch and nothing else.
pub struct GpuMatmul {
    /// `A` (`m × k`).
    pub a: GpuMatrix,
    /// `B` (`k × n`).
    pub b: GpuMatrix,
    /// `C` (`m × n`).
    pub c: GpuMatrix,
    bind_group: wgpu::BindGroup,
    m: u32,
    n: u32,
    engine: Option<FastEngine>,
}

impl GpuMatmul {
    /// Uploads `A` (`m × k`) and `B` (`k × n`), row-major, and binds the product, run in
    /// `f32` (`engine = None`) or with `f16` operands on `engine`.
    ///
    /// # Errors
    /// [`GpuError`] from the uploads (shape, size limits).
    pub fn new(
        ctx: &GpuContext,
        (m, k, n): (usize, usize, usize),
        a: &[f32],
        b: &[f32],
        engine: Option<FastEngine>,
    ) -> Result<Self, GpuError> {
        let a = GpuMatrix::from_slice(ctx, m, k, a)?;
        let b = GpuMatrix::from_slice(ctx, k, n, b)?;
        let c = GpuMatrix::zeros(ctx, m, n)?;
        let to_u32 = |v: usize| {
            u32::try_from(v).map_err(|_| GpuError::Core(muon::cpu::MuonError::SizeOverflow))
        };
        let params = MatmulParams {
            m: to_u32(m)?,
            n: to_u32(n)?,
            k: to_u32(k)?,
            alpha: 1.0,
            ..MatmulParams::default()
        };
        let device = ctx.device();
        let uniforms = uniform_buffer(device, "bench matmul params", &params);
        // `D` is not read (beta = 0): `A` stands in for it.
        let bind_group = ctx.kernels().matmul.bind_group(
            device,
            &uniforms,
            a.binding(),
            b.binding(),
            a.binding(),
            c.binding(),
        );
        Ok(Self {
            a,
            b,
            c,
            bind_group,
            m: params.m,
            n: params.n,
            engine,
        })
    }

    /// Records the product into `pass`.
    pub fn encode(&self, ctx: &GpuContext, pass: &mut wgpu::ComputePass<'_>) {
        ctx.kernels()
            .dispatch_product(pass, &self.bind_group, self.m, self.n, self.engine);
    }

    /// Records and submits the product alone; does not wait.
    pub fn submit(&self, ctx: &GpuContext) {
        let mut encoder = ctx
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("bench matmul"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("bench matmul"),
                timestamp_writes: None,
            });
            self.encode(ctx, &mut pass);
        }
        ctx.queue().submit([encoder.finish()]);
    }
}
