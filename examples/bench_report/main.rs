//! `bench_report`: the figures behind the README's performance section, for any machine.
//!
//! ```text
//! cargo run --release --example bench_report -- --sizes 256,1024,4096 --json report.json
//! cargo run --release --example bench_report -- --baseline report.json   # compare runs
//! ```
//!
//! For each size `n` and operation (matmul, Newton–Schulz, Muon step, AdamW step on `n × n`
//! matrices) it prints the GPU kernel time (timestamp queries, median of the repetitions), the
//! effective TFLOP/s (GB/s for AdamW), the GPU time with upload and readback, the CPU core's
//! time where feasible (`--cpu-max`), and the CPU/GPU crossover size from a scan of powers of
//! two. `--json` writes the same figures with stable, sorted keys (`muon-bench-report/1`), so
//! runs can be compared with `--baseline`. FLOP counts are those of the criterion benches
//! (`benches/common`), which this example shares.

#[path = "../../benches/common/mod.rs"]
mod common;

mod cli;
mod measure;
mod report;

use std::collections::BTreeMap;
use std::process::ExitCode;

use muon::gpu::{GpuContext, GpuError};

use cli::Args;
use measure::{GpuClock, Op, cpu_time, gpu_time};
use report::{Measurement, Report};

fn main() -> ExitCode {
    // SAFETY: first thing in main, before any other thread exists.
    unsafe { muon::gpu::quiet_headless_probe() };
    let args = match Args::parse() {
        Ok(Some(args)) => args,
        Ok(None) => return ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_report: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    // Read the files to compare with first, so a bad path fails before minutes of measuring.
    let baseline = args
        .baseline
        .as_deref()
        .map(|p| read_json(p, "baseline"))
        .transpose()?;
    let torch = args
        .torch
        .as_deref()
        .map(|p| {
            let v = read_json(p, "PyTorch report")?;
            report::torch_rows(&v).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok::<_, String>(v)
        })
        .transpose()?;
    let ctx = match GpuContext::new() {
        Ok(ctx) => Some(ctx),
        Err(GpuError::NoAdapter) => {
            eprintln!("no GPU adapter: CPU columns only");
            None
        }
        Err(e) => {
            eprintln!("GPU unavailable ({e}): CPU columns only");
            None
        }
    };
    let clock = match &ctx {
        Some(c) if c.supports_timestamps() => GpuClock::Timestamps,
        _ => GpuClock::Wall,
    };
    let fast_path = ctx.as_ref().map(|c| {
        let status = match c.check_fast_path() {
            Ok(status) => status.to_string(),
            Err(e) => format!("self-check error: {e}"),
        };
        match &c.kernels().tensor_error {
            Some(e) => format!("{status} (tensor-core kernel rejected: {e})"),
            None => status,
        }
    });
    let mut report = Report::new(
        args,
        ctx.as_ref()
            .map(|c| (c.adapter_info(), fast_path.as_deref().unwrap_or(""))),
        clock,
    );
    report.print_header();

    let mut cache: BTreeMap<(Op, usize), Measurement> = BTreeMap::new();
    let mut measure = |op: Op, n: usize| -> Measurement {
        cache
            .entry((op, n))
            .or_insert_with(|| measure_one(args, ctx.as_ref(), clock, op, n))
            .clone()
    };

    for &n in &args.sizes {
        for &op in &args.ops {
            report.push_result(measure(op, n));
        }
        report.print_size(n);
    }

    let mut scan: Vec<usize> = std::iter::successors(Some(16usize), |n| n.checked_mul(2))
        .take_while(|&n| n <= args.crossover_max)
        .collect();
    scan.extend(args.sizes.iter().filter(|&&n| n <= args.cpu_max));
    scan.sort_unstable();
    scan.dedup();
    if ctx.is_some() && !scan.is_empty() && args.cpu_max > 0 {
        for &op in &args.ops {
            let points: Vec<Measurement> = scan
                .iter()
                .filter(|&&n| n <= args.cpu_max)
                .map(|&n| measure(op, n))
                .collect();
            report.push_crossover(op, &points);
        }
        report.print_crossover();
    }

    if let Some(baseline) = &baseline {
        report.print_baseline(baseline);
    }
    if let (Some(torch), Some(path)) = (&torch, &args.torch) {
        report
            .compare_torch(torch)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report.to_json())?;
        std::fs::write(path, json + "\n")
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        println!("\nJSON written to {}", path.display());
    }
    Ok(())
}

/// Reads and parses the JSON file `path` (`what` names it in errors).
fn read_json(path: &std::path::Path, what: &str) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading {what} {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("parsing {what} {}: {e}", path.display()))
}

/// Measures `op` at size `n` on the CPU (when `n ≤ --cpu-max`) and the GPU (when there is
/// one), recording failures instead of stopping the report.
fn measure_one(
    args: &Args,
    ctx: Option<&GpuContext>,
    clock: GpuClock,
    op: Op,
    n: usize,
) -> Measurement {
    eprintln!("measuring {} at {n}×{n} …", op.name());
    let mut m = Measurement::new(op, n);
    if n <= args.cpu_max {
        match cpu_time(op, n, args.reps, args.budget_s) {
            Ok(Some(s)) => m.cpu = Some(s),
            Ok(None) => m.cpu_note = Some("not on the CPU core (f32 only)".to_owned()),
            Err(e) => m.cpu_note = Some(format!("error: {e}")),
        }
    } else {
        m.cpu_note = Some(format!("skipped: n > --cpu-max {}", args.cpu_max));
    }
    match ctx {
        Some(ctx) => match gpu_time(ctx, clock, op, n, args.reps, args.budget_s) {
            Ok(t) => m.gpu = Some(t),
            Err(e) => m.gpu_note = Some(format!("error: {e}")),
        },
        None => m.gpu_note = Some("no adapter".to_owned()),
    }
    m
}
