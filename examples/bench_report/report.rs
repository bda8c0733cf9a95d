//! The report: measurements, tables on stdout, crossover sizes, JSON, baseline comparison.

use serde_json::{Value, json};

use crate::cli::Args;
use crate::measure::{GpuClock, GpuTimes, Op, Stats};

/// Version of the JSON layout; bumped only when a key changes meaning or disappears.
pub const SCHEMA: &str = "muon-bench-report/1";

/// The schema of `benches/torch_reference.py`'s JSON, which `--torch` reads.
pub const TORCH_SCHEMA: &str = "muon-torch-reference/1";

/// Everything measured for one operation at one size.
#[derive(Clone, Debug)]
pub struct Measurement {
    /// The operation.
    pub op: Op,
    /// The size (`n × n`).
    pub n: usize,
    /// CPU core time, if measured.
    pub cpu: Option<Stats>,
    /// Why there is no CPU time.
    pub cpu_note: Option<String>,
    /// GPU times, if measured.
    pub gpu: Option<GpuTimes>,
    /// Why there are no GPU times.
    pub gpu_note: Option<String>,
}

impl Measurement {
    /// An empty measurement.
    pub fn new(op: Op, n: usize) -> Self {
        Self {
            op,
            n,
            cpu: None,
            cpu_note: None,
            gpu: None,
            gpu_note: None,
        }
    }

    /// The work per call in the unit of its throughput: FLOPs, or bytes for AdamW.
    fn work(&self) -> Option<(f64, &'static str)> {
        match (self.op.flops(self.n), self.op.bytes(self.n)) {
            (Some(f), _) => Some((f as f64, "FLOP")),
            (None, Some(b)) => Some((b as f64, "B")),
            _ => None,
        }
    }

    /// Throughput (per second) at a median time in milliseconds.
    fn rate(&self, ms: f64) -> Option<f64> {
        self.work().map(|(w, _)| w / (ms * 1e-3))
    }

    fn gpu_kernel_ms(&self) -> Option<f64> {
        self.gpu.map(|g| g.kernel.median_ms)
    }

    fn gpu_round_trip_ms(&self) -> Option<f64> {
        self.gpu.map(|g| g.round_trip.median_ms)
    }

    fn cpu_ms(&self) -> Option<f64> {
        self.cpu.map(|c| c.median_ms)
    }

    fn to_json(&self) -> Value {
        let stats = |s: Option<Stats>| {
            s.map(|s| {
                json!({
                    "median_ms": s.median_ms,
                    "min_ms": s.min_ms,
                    "max_ms": s.max_ms,
                    "samples": s.samples,
                })
            })
        };
        let per_s = |ms: Option<f64>| ms.and_then(|ms| self.rate(ms));
        let ratio = |num: Option<f64>, den: Option<f64>| num.zip(den).map(|(a, b)| a / b);
        json!({
            "op": self.op.name(),
            "n": self.n,
            "flops": self.op.flops(self.n),
            "bytes": self.op.bytes(self.n),
            "cpu": stats(self.cpu),
            "cpu_note": self.cpu_note,
            "gpu_kernel": stats(self.gpu.map(|g| g.kernel)),
            "gpu_round_trip": stats(self.gpu.map(|g| g.round_trip)),
            "gpu_note": self.gpu_note,
            "throughput_unit": self.work().map(|(_, u)| format!("{u}/s")),
            "cpu_per_s": per_s(self.cpu_ms()),
            "gpu_kernel_per_s": per_s(self.gpu_kernel_ms()),
            "gpu_round_trip_per_s": per_s(self.gpu_round_trip_ms()),
            "speedup_gpu_kernel_vs_cpu": ratio(self.cpu_ms(), self.gpu_kernel_ms()),
            "speedup_gpu_round_trip_vs_cpu": ratio(self.cpu_ms(), self.gpu_round_trip_ms()),
        })
    }
}

/// The CPU/GPU crossover of one operation.
#[derive(Clone, Debug)]
pub struct Crossover {
    op: Op,
    scanned: Vec<usize>,
    kernel: Option<usize>,
    round_trip: Option<usize>,
}

/// The smallest scanned size from which the GPU is faster at every larger scanned size.
fn crossover_of(
    points: &[Measurement],
    gpu_ms: impl Fn(&Measurement) -> Option<f64>,
) -> Option<usize> {
    let mut best = None;
    for m in points.iter().rev() {
        match (m.cpu_ms(), gpu_ms(m)) {
            (Some(c), Some(g)) if g < c => best = Some(m.n),
            _ => break,
        }
    }
    best
}

/// Collected results and how they were taken.
pub struct Report {
    command: Vec<String>,
    settings: Value,
    adapter: Option<Value>,
    clock: GpuClock,
    results: Vec<Measurement>,
    crossovers: Vec<Crossover>,
    torch: Vec<Value>,
}

impl Report {
    /// A report for `args` on `adapter` (if any, with the status of its `f16` path).
    pub fn new(args: &Args, adapter: Option<(&wgpu::AdapterInfo, &str)>, clock: GpuClock) -> Self {
        let settings = json!({
            "sizes": args.sizes,
            "ops": args.ops.iter().map(|o| o.name()).collect::<Vec<_>>(),
            "reps": args.reps,
            "budget_s": args.budget_s,
            "cpu_max": args.cpu_max,
            "crossover_max": args.crossover_max,
        });
        let adapter = adapter.map(|(i, fast_path)| {
            json!({
                "fast_path": fast_path,
                "name": i.name,
                "backend": format!("{:?}", i.backend),
                "device_type": format!("{:?}", i.device_type),
                "driver": i.driver,
                "driver_info": i.driver_info,
            })
        });
        Self {
            command: std::env::args().collect(),
            settings,
            adapter,
            clock,
            results: Vec::new(),
            crossovers: Vec::new(),
            torch: Vec::new(),
        }
    }

    /// Prints the machine, the adapter and the conventions.
    pub fn print_header(&self) {
        let m = machine();
        println!("muon bench_report ({SCHEMA})");
        println!(
            "machine: {} ({} threads, {} {})",
            m["cpu"].as_str().unwrap_or("?"),
            m["threads"],
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        match &self.adapter {
            Some(a) => println!(
                "adapter: {} ({}, {}, {} {}); GPU kernel clock: {}; {}",
                a["name"].as_str().unwrap_or("?"),
                a["backend"].as_str().unwrap_or("?"),
                a["device_type"].as_str().unwrap_or("?"),
                a["driver"].as_str().unwrap_or("?"),
                a["driver_info"].as_str().unwrap_or(""),
                self.clock.name(),
                a["fast_path"].as_str().unwrap_or("")
            ),
            None => println!("adapter: none"),
        }
        println!(
            "FLOPs: matmul 2n³; Newton–Schulz and Muon step 5·(4m²n + 2m³) = 30n³ for n×n \
             (nominal dense count); AdamW: 28 bytes per parameter. CPU: muon-core, one thread."
        );
    }

    /// Adds one measurement.
    pub fn push_result(&mut self, m: Measurement) {
        self.results.push(m);
    }

    /// Prints the rows of size `n`.
    pub fn print_size(&self, n: usize) {
        println!("\nn = {n}");
        println!(
            "  {:<14} {:>14} {:>14} {:>16} {:>14} {:>14} {:>9}",
            "op",
            "gpu kernel ms",
            "gpu rate",
            "gpu+transfer ms",
            "cpu core ms",
            "cpu rate",
            "cpu/gpu"
        );
        for m in self.results.iter().filter(|m| m.n == n) {
            let ms = |v: Option<f64>, note: &Option<String>| match (v, note) {
                (Some(v), _) => format!("{v:.4}"),
                (None, Some(n)) if n.starts_with("skipped") => "skipped".to_owned(),
                (None, Some(n)) if n == "no adapter" => "-".to_owned(),
                _ => "error".to_owned(),
            };
            let rate = |v: Option<f64>| match (v.and_then(|ms| m.rate(ms)), m.work()) {
                (Some(r), Some((_, "FLOP"))) if r >= 1e11 => format!("{:.2} TFLOP/s", r / 1e12),
                (Some(r), Some((_, "FLOP"))) => format!("{:.2} GFLOP/s", r / 1e9),
                (Some(r), Some(_)) => format!("{:.1} GB/s", r / 1e9),
                _ => "-".to_owned(),
            };
            let ratio = match (m.cpu_ms(), m.gpu_kernel_ms()) {
                (Some(c), Some(g)) => format!("{:.3}×", c / g),
                _ => "-".to_owned(),
            };
            println!(
                "  {:<14} {:>14} {:>14} {:>16} {:>14} {:>14} {:>9}",
                m.op.name(),
                ms(m.gpu_kernel_ms(), &m.gpu_note),
                rate(m.gpu_kernel_ms()),
                ms(m.gpu_round_trip_ms(), &m.gpu_note),
                ms(m.cpu_ms(), &m.cpu_note),
                rate(m.cpu_ms()),
                ratio
            );
            for note in [&m.cpu_note, &m.gpu_note].into_iter().flatten() {
                if note.starts_with("error") {
                    println!("    {}: {note}", m.op.name());
                }
            }
        }
    }

    /// Computes and stores the crossover of `op` from the scan `points` (ascending sizes).
    pub fn push_crossover(&mut self, op: Op, points: &[Measurement]) {
        self.crossovers.push(Crossover {
            op,
            scanned: points.iter().map(|m| m.n).collect(),
            kernel: crossover_of(points, Measurement::gpu_kernel_ms),
            round_trip: crossover_of(points, Measurement::gpu_round_trip_ms),
        });
    }

    /// Prints the crossover sizes.
    pub fn print_crossover(&self) {
        println!(
            "\nCPU/GPU crossover (smallest scanned n from which the GPU is faster at every larger scanned n)"
        );
        for c in &self.crossovers {
            let say = |v: Option<usize>| match v {
                Some(n) if Some(&n) == c.scanned.first() => format!("n ≤ {n}"),
                Some(n) => format!("n = {n}"),
                None => format!("not below {}", c.scanned.last().copied().unwrap_or(0)),
            };
            println!(
                "  {:<14} kernels: {:<14} with upload+readback: {:<14} (scanned {:?})",
                c.op.name(),
                say(c.kernel),
                say(c.round_trip),
                c.scanned
            );
        }
    }

    /// Prints the ratio of this run's medians to those of an earlier report.
    pub fn print_baseline(&self, baseline: &Value) {
        println!(
            "\nchange against the baseline (this run / baseline, median times; < 1 is faster)"
        );
        let empty = Vec::new();
        let rows = baseline["results"].as_array().unwrap_or(&empty);
        for m in &self.results {
            let old = rows
                .iter()
                .find(|r| r["op"] == m.op.name() && r["n"].as_u64() == Some(m.n as u64));
            let Some(old) = old else { continue };
            let cmp = |now: Option<f64>, key: &str| match (now, old[key]["median_ms"].as_f64()) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.3}", a / b),
                _ => "-".to_owned(),
            };
            println!(
                "  {:<14} n = {:<5} gpu kernel {:>7}  gpu+transfer {:>7}  cpu {:>7}",
                m.op.name(),
                m.n,
                cmp(m.gpu_kernel_ms(), "gpu_kernel"),
                cmp(m.gpu_round_trip_ms(), "gpu_round_trip"),
                cmp(m.cpu_ms(), "cpu")
            );
        }
    }

    /// Compares this run's GPU kernel medians with a `benches/torch_reference.py` report
    /// (`muon-torch-reference/1`) taken on the same machine: prints, per operation and size
    /// both measured, PyTorch's median in each mode and the ratio of our time to it (> 1:
    /// slower; a throughput fraction is its inverse), and keeps the rows for the JSON.
    ///
    /// # Errors
    /// A report of another schema, or one without a `results` list.
    pub fn compare_torch(&mut self, torch: &Value) -> Result<(), String> {
        let rows = torch_rows(torch)?;
        println!(
            "\nagainst PyTorch {} on {} (our GPU kernel median ÷ PyTorch's median; > 1 is slower)",
            torch["torch"].as_str().unwrap_or("?"),
            torch["device_name"].as_str().unwrap_or("?"),
        );
        println!(
            "  {:<14} {:>6} {:>12} {:>24} {:>24} {:>24}",
            "op", "n", "ours ms", "f32 (TF32 off) ms, ÷", "tf32 ms, ÷", "bf16 ms, ÷"
        );
        for m in &self.results {
            let Some(ours) = m.gpu_kernel_ms() else {
                continue;
            };
            let mut modes = serde_json::Map::new();
            let mut cells = Vec::new();
            for mode in ["f32", "tf32", "bf16"] {
                let theirs = rows
                    .iter()
                    .find(|r| {
                        r["op"] == m.op.torch_name()
                            && r["mode"] == mode
                            && r["n"].as_u64() == Some(m.n as u64)
                    })
                    .and_then(|r| r["median_ms"].as_f64())
                    .filter(|&t| t > 0.0);
                cells.push(match theirs {
                    Some(t) => format!("{t:.4}, {:.2}×", ours / t),
                    None => "-".to_owned(),
                });
                if let Some(t) = theirs {
                    modes.insert(
                        mode.to_owned(),
                        json!({"torch_median_ms": t, "time_ratio": ours / t}),
                    );
                }
            }
            if modes.is_empty() {
                continue;
            }
            println!(
                "  {:<14} {:>6} {:>12.4} {:>24} {:>24} {:>24}",
                m.op.name(),
                m.n,
                ours,
                cells[0],
                cells[1],
                cells[2]
            );
            self.torch.push(json!({
                "op": m.op.name(),
                "n": m.n,
                "gpu_kernel_median_ms": ours,
                "torch": modes,
            }));
        }
        Ok(())
    }

    /// The report as JSON (keys sorted: `serde_json`'s map is a `BTreeMap`).
    pub fn to_json(&self) -> Value {
        let unix_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        json!({
            "schema": SCHEMA,
            "command": self.command,
            "unix_time": unix_time,
            "machine": machine(),
            "adapter": self.adapter,
            "gpu_kernel_clock": self.clock.name(),
            "settings": self.settings,
            "flop_counts": {
                "matmul": "2·n³",
                "newton_schulz": "steps·(4m²n + 2m³), m = min, n = max of the shape; 5 steps",
                "muon_step": "its Newton–Schulz count (element-wise parts not counted)",
                "adam_step": "no FLOPs; 28 bytes per parameter (f32 param, grad, m, v)",
            },
            "results": self.results.iter().map(Measurement::to_json).collect::<Vec<_>>(),
            "crossover": self.crossovers.iter().map(|c| json!({
                "op": c.op.name(),
                "scanned": c.scanned,
                "gpu_kernel": c.kernel,
                "gpu_round_trip": c.round_trip,
            })).collect::<Vec<_>>(),
            "torch_comparison": self.torch,
        })
    }
}

/// The result rows of a `benches/torch_reference.py` report.
///
/// # Errors
/// A report of another schema, or one without a `results` list.
pub fn torch_rows(torch: &Value) -> Result<&Vec<Value>, String> {
    if torch["schema"] != TORCH_SCHEMA {
        return Err(format!(
            "not a {TORCH_SCHEMA} report (schema {})",
            torch["schema"]
        ));
    }
    torch["results"]
        .as_array()
        .ok_or_else(|| "the PyTorch report has no results list".to_owned())
}

/// The CPU model (from `/proc/cpuinfo` where there is one), thread count, OS and architecture.
fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let threads = std::thread::available_parallelism().map_or(0, usize::from);
    json!({
        "cpu": cpu,
        "threads": threads,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}
