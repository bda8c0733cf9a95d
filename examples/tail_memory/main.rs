//! `cargo run --release --example tail_memory`: Muon vs Adam on linear associative memories
//! with heavy-tailed classes, reproducing S. Wang et al., "Muon Outperforms Adam in Tail-End
//! Associative Memory Learning" (2025) — see `examples/tail_memory/README.md`.
//!
//! Four experiments (`--experiment`): the one-step balance `ϱ^ε` of GD, SignGD and Muon
//! (Theorem 5.3), multi-step training of the same memory (loss, gap, spectrum isotropy), a
//! Zipf-distributed classification memory (accuracy per frequency group), and the same in the
//! paper's regime (rare tail classes, learning-rate sweeps, seeds) for a linear and an FFN
//! memory. Training runs on the GPU, model and optimizer resident, when a hardware adapter
//! exists (`--backend auto`), else on the CPU core.

mod cli;
mod device;
mod device_batch;
mod device_ffn;
mod error;
mod ffn;
mod memory;
mod multi_step;
mod one_step;
mod optim;
mod paper;
mod progress;
mod report;
mod rng;
mod sgd_kernel;
mod spectrum;
mod zipf;

use std::process::ExitCode;
use std::time::Instant;

use serde_json::{Value, json};

use crate::cli::{Args, BackendChoice};
use crate::error::ExampleError;
use crate::memory::EmbeddingKind;
use crate::optim::Backend;
use crate::progress::Progress;

/// Parses the arguments and runs; bad arguments exit with status 2, other failures with 1.
fn main() -> ExitCode {
    // SAFETY: first thing in main, before any other thread exists.
    unsafe { muon::gpu::quiet_headless_probe() };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match cli::parse(&argv).and_then(|args| {
        if args.help {
            print!("{}", cli::USAGE);
            Ok(())
        } else {
            run(&args)
        }
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ ExampleError::Args(_)) => {
            eprintln!("tail_memory: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("tail_memory: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Picks the backend. `auto` takes a hardware GPU if there is one; with none, or only a
/// software rasteriser (Mesa's lavapipe reports `DeviceType::Cpu` and is slower than the CPU
/// core here), it runs on the CPU core with a one-line notice. `gpu` takes any adapter.
fn backend(choice: BackendChoice) -> Result<Backend, ExampleError> {
    match choice {
        BackendChoice::Cpu => Ok(Backend::Cpu),
        BackendChoice::Gpu => Ok(Backend::Gpu(Box::new(muon::gpu::GpuContext::new()?))),
        BackendChoice::Auto => match muon::gpu::GpuContext::new() {
            Ok(ctx) if ctx.adapter_info().device_type == muon::gpu::wgpu::DeviceType::Cpu => {
                eprintln!(
                    "tail_memory: only a software GPU adapter found ({}); running on the CPU core \
                     (--backend gpu to use it)",
                    ctx.adapter_info().name
                );
                Ok(Backend::Cpu)
            }
            Ok(ctx) => Ok(Backend::Gpu(Box::new(ctx))),
            Err(e @ muon::gpu::GpuError::NoAdapter) => {
                eprintln!("tail_memory: {e}; running on the CPU core");
                Ok(Backend::Cpu)
            }
            Err(e) => {
                eprintln!("tail_memory: GPU unusable ({e}); running on the CPU core");
                Ok(Backend::Cpu)
            }
        },
    }
}

/// Runs `f` for both embedding kinds on two threads and returns the results in kind order.
fn per_kind<T: Send>(
    f: impl Fn(EmbeddingKind) -> Result<T, ExampleError> + Sync,
) -> Result<Vec<(&'static str, T)>, ExampleError> {
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = EmbeddingKind::ALL
            .into_iter()
            .map(|kind| (kind.name(), s.spawn(move || f(kind))))
            .collect();
        handles
            .into_iter()
            .map(|(name, h)| {
                let r = h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
                r.map(|v| (name, v))
            })
            .collect()
    })
}

/// Runs the chosen experiments, prints their tables and writes `--json` / `--out`.
fn run(args: &Args) -> Result<(), ExampleError> {
    let start = Instant::now();
    muon::cpu::linalg::force_cpu_kernel(args.cpu_kernel)?;
    let backend = backend(args.backend)?;
    println!(
        "backend: {} (CPU products on muon-core's {} kernel)\n",
        backend.describe(),
        muon::cpu::linalg::cpu_kernel().name()
    );
    let mut doc = serde_json::Map::new();

    if args.experiments.one_step {
        let t = Instant::now();
        let p = &args.one_step;
        let bar = Progress::new("one-step", 2 * one_step::METHODS);
        let results = per_kind(|kind| one_step::run(p, kind, &backend, &bar))?;
        bar.finish();
        let (table, mut json) = report::one_step(p, &results);
        let seconds = t.elapsed().as_secs_f64();
        println!("{table}({seconds:.1} s)\n");
        json["seconds"] = json!(seconds);
        doc.insert("one_step".into(), json);
    }

    let mut multi = None;
    if args.experiments.multi_step {
        let t = Instant::now();
        let p = &args.multi_step;
        let bar = Progress::new("multi-step", 2 * 3 * p.steps);
        let results = per_kind(|kind| multi_step::run(p, kind, &backend, &bar))?;
        bar.finish();
        let (table, mut json) = report::multi_step(p, &results);
        let seconds = t.elapsed().as_secs_f64();
        println!("{table}({seconds:.1} s)\n");
        json["seconds"] = json!(seconds);
        doc.insert("multi_step".into(), json);
        multi = Some(results);
    }

    let mut zipf_runs = None;
    if args.experiments.zipf {
        let t = Instant::now();
        let task = zipf::Task::new(&args.zipf);
        // The tuned rates, then every rate divided by 10 (a rate not tuned for the tail): on
        // the linear memory Muon's advantage shows as robustness to the learning rate.
        let passes = [("tuned", 1.0), ("lr_div_10", 0.1)];
        let bar = Progress::new("zipf", passes.len() * 3 * args.zipf.steps);
        let mut tables = Vec::new();
        let mut json_passes = serde_json::Map::new();
        for (name, scale) in passes {
            let p = args.zipf.scaled_rates(scale);
            let runs = zipf::run(&p, &task, &backend, &bar)?;
            let (table, json) = report::zipf(&p, &runs);
            tables.push(format!("zipf [{name}] {table}"));
            json_passes.insert(name.into(), json);
            if zipf_runs.is_none() {
                zipf_runs = Some((p, runs));
            }
        }
        bar.finish();
        let seconds = t.elapsed().as_secs_f64();
        println!("{}({seconds:.1} s)\n", tables.join("\n"));
        json_passes.insert("seconds".into(), json!(seconds));
        doc.insert("zipf".into(), Value::Object(json_passes));
    }

    let mut paper_result = None;
    if args.experiments.zipf_paper {
        let t = Instant::now();
        let p = &args.paper;
        let bar = Progress::new("zipf-paper", p.total_steps());
        let result = paper::run(p, &backend, &bar)?;
        bar.finish();
        let (table, mut json) = report::zipf_paper(&result);
        let seconds = t.elapsed().as_secs_f64();
        println!("{table}({seconds:.1} s)\n");
        json["seconds"] = json!(seconds);
        doc.insert("zipf_paper".into(), json);
        paper_result = Some(result);
    }

    let seconds = start.elapsed().as_secs_f64();
    println!("total: {seconds:.1} s on {}", backend.describe());
    doc.insert(
        "meta".into(),
        json!({
            "backend": backend.describe(),
            "cpu_kernel": muon::cpu::linalg::cpu_kernel().name(),
            "seconds": seconds,
        }),
    );
    if let Some(dir) = &args.out {
        let written = report::write_files(
            dir,
            multi.as_ref(),
            zipf_runs.as_ref().map(|(p, r)| (p, r.as_slice())),
        )?;
        let mut written = written;
        if let Some(r) = &paper_result {
            written.extend(report::write_paper_files(dir, r)?);
        }
        println!("wrote {} files to {}", written.len(), dir.display());
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&Value::Object(doc))
            .map_err(|e| ExampleError::Output(e.to_string()))?;
        std::fs::write(path, text)
            .map_err(|e| ExampleError::Output(format!("{}: {e}", path.display())))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
