//! Timing one operation at one size: on the CPU core (wall clock) and on the GPU (timestamp
//! queries for the kernels, wall clock for the host round trip).

use std::time::{Duration, Instant};

use muon::cpu::adam::AdamConfig;
use muon::cpu::linalg::matmul;
use muon::cpu::muon::MuonConfig;
use muon::cpu::newton_schulz::{NsConfig, newton_schulz, ns_scratch_len};
use muon::cpu::{MatMut, MatRef, MuonError, Optimizer};
use muon::gpu::{
    GpuAdam, GpuContext, GpuError, GpuMatrix, GpuMuon, GpuNewtonSchulz, GpuParamGroup, GpuTimer,
    Precision,
};

use crate::common::gpu::GpuMatmul;
use crate::common::{matmul_flops, ns_flops, random_vec};

/// Bytes one AdamW parameter update reads and writes with `f32` state.
pub const ADAM_BYTES_PER_PARAM: u64 = 28;

/// An operation on `n × n` matrices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// `C = A·B`.
    Matmul,
    /// Newton–Schulz, `torch.optim.Muon`'s settings (quintic, 5 steps).
    NewtonSchulz,
    /// One Muon step (torch defaults).
    MuonStep,
    /// One AdamW step (torch defaults, `f32` moments).
    AdamStep,
    /// `C = A·B` with `f16` operands, `f32` sums (tensor cores where the adapter has them).
    MatmulF16,
    /// Newton–Schulz with [`Precision::F16`] products.
    NewtonSchulzF16,
    /// One Muon step with [`Precision::F16`] Newton–Schulz.
    MuonStepF16,
}

impl Op {
    /// Every operation, in report order.
    pub const ALL: [Op; 7] = [
        Op::Matmul,
        Op::NewtonSchulz,
        Op::MuonStep,
        Op::AdamStep,
        Op::MatmulF16,
        Op::NewtonSchulzF16,
        Op::MuonStepF16,
    ];

    /// The name used in tables, JSON and `--ops`.
    pub fn name(self) -> &'static str {
        match self {
            Op::Matmul => "matmul",
            Op::NewtonSchulz => "newton_schulz",
            Op::MuonStep => "muon_step",
            Op::AdamStep => "adam_step",
            Op::MatmulF16 => "matmul_f16",
            Op::NewtonSchulzF16 => "newton_schulz_f16",
            Op::MuonStepF16 => "muon_step_f16",
        }
    }

    /// The operation's name in `benches/torch_reference.py` (PyTorch's AdamW for the Adam
    /// step: the bench times AdamW's defaults; the `f16` variants compare with the same
    /// operation in each of torch's modes).
    pub fn torch_name(self) -> &'static str {
        match self {
            Op::AdamStep => "adamw_step",
            Op::MatmulF16 => "matmul",
            Op::NewtonSchulzF16 => "newton_schulz",
            Op::MuonStepF16 => "muon_step",
            other => other.name(),
        }
    }

    /// The `f32` operation this one is a precision variant of, and its precision.
    fn base(self) -> (Op, Precision) {
        match self {
            Op::MatmulF16 => (Op::Matmul, Precision::F16),
            Op::NewtonSchulzF16 => (Op::NewtonSchulz, Precision::F16),
            Op::MuonStepF16 => (Op::MuonStep, Precision::F16),
            other => (other, Precision::F32),
        }
    }

    /// Parses a name from [`Op::name`].
    pub fn parse(s: &str) -> Result<Op, String> {
        Op::ALL
            .into_iter()
            .find(|op| op.name() == s.trim())
            .ok_or_else(|| format!("unknown operation `{s}`"))
    }

    /// FLOPs of one call at size `n` (`None` for the element-wise Adam step): `2n³` for the
    /// product, the Newton–Schulz count for NS and the Muon step.
    pub fn flops(self, n: usize) -> Option<u64> {
        match self.base().0 {
            Op::Matmul => Some(matmul_flops(n, n, n)),
            Op::NewtonSchulz | Op::MuonStep => Some(ns_flops(n, n, NsConfig::default().steps)),
            Op::AdamStep | Op::MatmulF16 | Op::NewtonSchulzF16 | Op::MuonStepF16 => None,
        }
    }

    /// Bytes one call moves, where that is the figure of merit (the Adam step).
    pub fn bytes(self, n: usize) -> Option<u64> {
        match self.base().0 {
            Op::AdamStep => Some(ADAM_BYTES_PER_PARAM * (n * n) as u64),
            _ => None,
        }
    }
}

/// Summary of repeated timings.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    /// Median, milliseconds.
    pub median_ms: f64,
    /// Fastest, milliseconds.
    pub min_ms: f64,
    /// Slowest, milliseconds.
    pub max_ms: f64,
    /// Number of timings.
    pub samples: usize,
}

impl Stats {
    /// Summarises `times` (at least one).
    pub fn of(times: &[Duration]) -> Stats {
        let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let len = ms.len();
        let median = match len {
            0 => f64::NAN,
            _ if len % 2 == 1 => ms[len / 2],
            _ => 0.5 * (ms[len / 2 - 1] + ms[len / 2]),
        };
        Stats {
            median_ms: median,
            min_ms: ms.first().copied().unwrap_or(f64::NAN),
            max_ms: ms.last().copied().unwrap_or(f64::NAN),
            samples: len,
        }
    }
}

/// How many timed repetitions fit in `budget_s` when one takes `first`, in `min..=max`.
fn reps_for(first: Duration, budget_s: f64, min: usize, max: usize) -> usize {
    let per = first.as_secs_f64().max(1e-9);
    ((budget_s / per) as usize).clamp(min.min(max), max)
}

/// Records `r` in `result` unless an error is already there.
fn keep_first_error<E>(result: &mut Result<(), E>, r: Result<(), E>) {
    if result.is_ok() {
        *result = r;
    }
}

/// Times `f` after one untimed call: median of up to `reps` calls within `budget_s`.
fn time_wall(reps: usize, budget_s: f64, min: usize, mut f: impl FnMut()) -> Stats {
    let start = Instant::now();
    f();
    let first = start.elapsed();
    let reps = reps_for(first, budget_s, min, reps);
    let times: Vec<Duration> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    Stats::of(&times)
}

/// Wall-clock time of `op` at size `n` on the CPU core (single thread); `None` for the `f16`
/// variants (the core computes in `f32` only).
pub fn cpu_time(op: Op, n: usize, reps: usize, budget_s: f64) -> Result<Option<Stats>, MuonError> {
    let a = random_vec(n * n, 1);
    let b = random_vec(n * n, 2);
    let stats = match op {
        Op::MatmulF16 | Op::NewtonSchulzF16 | Op::MuonStepF16 => return Ok(None),
        Op::Matmul => {
            let mut out = vec![0.0; n * n];
            let (ra, rb) = (MatRef::new(n, n, &a)?, MatRef::new(n, n, &b)?);
            let mut result = Ok(());
            let stats = time_wall(reps, budget_s, 1, || {
                keep_first_error(
                    &mut result,
                    MatMut::new(n, n, &mut out).and_then(|o| matmul(ra, rb, o)),
                );
            });
            result?;
            stats
        }
        Op::NewtonSchulz => {
            let cfg = NsConfig::default();
            let mut out = vec![0.0; n * n];
            let mut scratch = vec![0.0; ns_scratch_len(n, n)];
            let input = MatRef::new(n, n, &a)?;
            let mut result = Ok(());
            let stats = time_wall(reps, budget_s, 1, || {
                let r = MatMut::new(n, n, &mut out)
                    .and_then(|o| newton_schulz(input, o, &mut scratch, &cfg));
                keep_first_error(&mut result, r);
            });
            result?;
            stats
        }
        Op::MuonStep => cpu_step(MuonConfig::new().build()?, n, &a, &b, reps, budget_s)?,
        Op::AdamStep => cpu_step(AdamConfig::adamw().build()?, n, &a, &b, reps, budget_s)?,
    };
    Ok(Some(stats))
}

/// Wall-clock steps of any core optimizer on an `n × n` parameter (`param0`) with gradient
/// `grad`, its state one flat buffer.
fn cpu_step<O: Optimizer>(
    opt: O,
    n: usize,
    param0: &[f32],
    grad: &[f32],
    reps: usize,
    budget_s: f64,
) -> Result<Stats, MuonError> {
    let mut param = param0.to_vec();
    let mut state = vec![0.0; O::state_len(n, n)?];
    let grad = MatRef::new(n, n, grad)?;
    let mut result = Ok(());
    let stats = time_wall(reps, budget_s, 1, || {
        let r = MatMut::new(n, n, &mut param)
            .and_then(|p| Ok((p, O::slots(&mut state, n, n)?)))
            .and_then(|(p, slots)| opt.step(p, grad, slots));
        keep_first_error(&mut result, r);
    });
    result?;
    Ok(stats)
}

/// Which clock the GPU kernel times come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpuClock {
    /// Timestamp queries around each compute pass (device time only).
    Timestamps,
    /// Wall clock around one submission and a wait (includes submission latency).
    Wall,
}

impl GpuClock {
    /// The name used in the report.
    pub fn name(self) -> &'static str {
        match self {
            GpuClock::Timestamps => "timestamp-query",
            GpuClock::Wall => "wall-clock",
        }
    }
}

/// GPU timings of one operation at one size.
#[derive(Clone, Copy, Debug)]
pub struct GpuTimes {
    /// The kernels alone, data resident on the device.
    pub kernel: Stats,
    /// Upload the inputs, the kernels, read the result to the host (wall clock).
    pub round_trip: Stats,
}

/// One operation set up on the device.
enum GpuJob {
    Matmul(GpuMatmul, Vec<f32>, Vec<f32>),
    NewtonSchulz(Box<GpuNewtonSchulz>, GpuMatrix, GpuMatrix, Vec<f32>),
    /// An optimizer step: the group, its parameter and gradient, the gradient's host data.
    Step(Box<dyn GpuParamGroup>, GpuMatrix, GpuMatrix, Vec<f32>),
}

impl GpuJob {
    fn new(ctx: &GpuContext, op: Op, n: usize) -> Result<GpuJob, GpuError> {
        let a = random_vec(n * n, 1);
        let b = random_vec(n * n, 2);
        let (base, precision) = op.base();
        let engine = match precision {
            Precision::F32 => None,
            Precision::F16 => ctx.check_fast_path()?.engine(),
        };
        Ok(match base {
            Op::Matmul => GpuJob::Matmul(GpuMatmul::new(ctx, (n, n, n), &a, &b, engine)?, a, b),
            Op::NewtonSchulz => {
                let plan =
                    GpuNewtonSchulz::with_precision(ctx, n, n, &NsConfig::default(), precision)?;
                let x = GpuMatrix::from_slice(ctx, n, n, &a)?;
                let out = GpuMatrix::zeros(ctx, n, n)?;
                // The pass-only timing iterates on the plan's own input buffer.
                plan.run(ctx, &x, &out)?;
                GpuJob::NewtonSchulz(Box::new(plan), x, out, a)
            }
            Op::MuonStep => {
                let param = GpuMatrix::from_slice(ctx, n, n, &a)?;
                let grad = GpuMatrix::from_slice(ctx, n, n, &b)?;
                let mut opt = GpuMuon::from_config(ctx, MuonConfig::new())?;
                opt.set_precision(precision)?;
                opt.add_param(&param, &grad)?;
                GpuJob::Step(Box::new(opt), param, grad, b)
            }
            Op::AdamStep => {
                let param = GpuMatrix::from_slice(ctx, n, n, &a)?;
                let grad = GpuMatrix::from_slice(ctx, n, n, &b)?;
                let mut opt = GpuAdam::from_config(ctx, AdamConfig::adamw())?;
                opt.add_param(&param, &grad)?;
                GpuJob::Step(Box::new(opt), param, grad, b)
            }
            Op::MatmulF16 | Op::NewtonSchulzF16 | Op::MuonStepF16 => {
                unreachable!("base() maps the f16 variants to their f32 operation")
            }
        })
    }

    /// Records the kernels alone.
    fn encode(&self, ctx: &GpuContext, pass: &mut wgpu::ComputePass<'_>) {
        match self {
            GpuJob::Matmul(plan, ..) => plan.encode(ctx, pass),
            GpuJob::NewtonSchulz(plan, ..) => plan.encode(ctx.kernels(), pass),
            GpuJob::Step(opt, ..) => opt.encode(pass),
        }
    }

    /// Submits one timed (or untimed) pass of the kernels; does not wait.
    fn submit(&self, ctx: &GpuContext, timer: Option<(&GpuTimer, u32)>) {
        let mut encoder = ctx
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("bench_report"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("bench_report"),
                timestamp_writes: timer.map(|(t, i)| t.pass_writes(i)),
            });
            self.encode(ctx, &mut pass);
        }
        ctx.queue().submit([encoder.finish()]);
    }

    /// Host data in, the kernels, the result out to the host; waits.
    fn round_trip(&self, ctx: &GpuContext) -> Result<(), GpuError> {
        match self {
            GpuJob::Matmul(plan, a, b) => {
                plan.a.write(ctx, a)?;
                plan.b.write(ctx, b)?;
                plan.submit(ctx);
                plan.c.read(ctx)?;
            }
            GpuJob::NewtonSchulz(plan, x, out, host) => {
                x.write(ctx, host)?;
                plan.run(ctx, x, out)?;
                out.read(ctx)?;
            }
            GpuJob::Step(opt, param, grad, host) => {
                grad.write(ctx, host)?;
                opt.step();
                param.read(ctx)?;
            }
        }
        Ok(())
    }
}

/// Times `op` at size `n` on the device: kernels (timestamps when `clock` says so, at least
/// three repetitions) and the host round trip.
pub fn gpu_time(
    ctx: &GpuContext,
    clock: GpuClock,
    op: Op,
    n: usize,
    reps: usize,
    budget_s: f64,
) -> Result<GpuTimes, GpuError> {
    let job = GpuJob::new(ctx, op, n)?;
    // Warm-up (first use of the pipelines and buffers), timed to size the repetitions.
    job.submit(ctx, None);
    ctx.wait()?;
    let start = Instant::now();
    job.submit(ctx, None);
    ctx.wait()?;
    let kernel_reps = reps_for(start.elapsed(), budget_s, 3, reps);
    let kernel = match clock {
        GpuClock::Timestamps => {
            let timer = GpuTimer::new(ctx, kernel_reps as u32)?;
            let count = timer.capacity().min(kernel_reps as u32);
            for i in 0..count {
                job.submit(ctx, Some((&timer, i)));
            }
            let mut encoder =
                ctx.device()
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("bench_report resolve"),
                    });
            timer.resolve(&mut encoder, count);
            ctx.queue().submit([encoder.finish()]);
            let times = timer.read(ctx, count)?;
            Stats::of(&times[..count as usize])
        }
        GpuClock::Wall => {
            let mut times = Vec::with_capacity(kernel_reps);
            for _ in 0..kernel_reps {
                let t = Instant::now();
                job.submit(ctx, None);
                ctx.wait()?;
                times.push(t.elapsed());
            }
            Stats::of(&times)
        }
    };
    let mut result = Ok(());
    let round_trip = time_wall(reps, budget_s, 3, || {
        keep_first_error(&mut result, job.round_trip(ctx));
    });
    result?;
    Ok(GpuTimes { kernel, round_trip })
}
