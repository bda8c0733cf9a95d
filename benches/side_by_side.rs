//! muon-core against faer and nalgebra in interleaved rounds, for shared, noisy machines.
//!
//! Criterion measures one id after another, so a neighbour that starts compiling halfway
//! through a group moves one side of a ratio and not the other. This bench times every
//! implementation once per round, rounds after one another (the order rotating each round),
//! and reports each one's median time over the rounds and the median of the per-round ratios,
//! so a slow spell costs both sides of a ratio alike.
//!
//! ```text
//! cargo bench --bench side_by_side -- --op matmul --sizes 256,512,1024 --rounds 9
//! cargo bench --bench side_by_side -- --op newton_schulz --sizes 16,64,256
//! cargo bench --features parallel --bench side_by_side -- --threaded --sizes 512,1024
//! ```
//!
//! Single-threaded (the default): the core without threads against faer (`Par::Seq`) and
//! nalgebra. `--threaded`: the core's `cpu` products (threaded when built with `--features
//! parallel`; the bench says which) against faer on every core (`Par::rayon(0)`). A round
//! gives each implementation about `--budget-ms` of calls (calibrated once per size) and
//! counts the mean time per call; before timing, each peer's result is checked against the
//! core's. Output: one Markdown row per size, with the command's settings and the kernel on
//! the first lines.

mod common;

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use common::peers::{FaerNs, NalgebraNs, faer_from_row_major, nalgebra_from_row_major};
use common::peers::{faer_to_row_major, nalgebra_to_row_major};
use common::{random_vec, rel_diff};
use faer::linalg::matmul::matmul as faer_matmul;
use faer::{Accum, Mat, Par};
use muon::cpu::linalg::matmul;
use muon::cpu::newton_schulz::{NsConfig, newton_schulz, ns_scratch_len};
use muon::cpu::{MatMut, MatRef};
use nalgebra::DMatrix;

/// Largest relative difference allowed between a peer's result and the core's.
const TOLERANCE: f64 = 1e-4;

/// What to time, from the command line.
struct Args {
    op: Op,
    sizes: Vec<usize>,
    rounds: usize,
    budget: Duration,
    threaded: bool,
}

/// The operation under comparison.
#[derive(Clone, Copy, PartialEq)]
enum Op {
    Matmul,
    NewtonSchulz,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Self::Matmul => "matmul",
            Self::NewtonSchulz => "newton_schulz",
        }
    }
}

const USAGE: &str = "usage: side_by_side [--op matmul|newton_schulz] [--sizes 16,64,...] \
[--rounds N] [--budget-ms MS] [--threaded]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        op: Op::Matmul,
        sizes: vec![16, 32, 64, 128, 256, 512, 1024],
        rounds: 7,
        budget: Duration::from_millis(200),
        threaded: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            // `cargo bench` passes `--bench` to every bench binary.
            "--bench" => {}
            "--op" => {
                args.op = match value()?.as_str() {
                    "matmul" => Op::Matmul,
                    "newton_schulz" => Op::NewtonSchulz,
                    other => return Err(format!("unknown --op {other}\n{USAGE}")),
                }
            }
            "--sizes" => {
                args.sizes = value()?
                    .split(',')
                    .map(|s| match s.trim().parse::<usize>() {
                        Ok(n) if n > 0 => Ok(n),
                        _ => Err(format!("--sizes: {s:?} is not a positive size")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--rounds" => {
                args.rounds = match value()?.parse() {
                    Ok(r) if r > 0 => r,
                    _ => return Err(format!("--rounds must be a positive count\n{USAGE}")),
                }
            }
            "--budget-ms" => {
                args.budget = match value()?.parse() {
                    Ok(ms) if ms > 0 => Duration::from_millis(ms),
                    _ => return Err(format!("--budget-ms must be positive\n{USAGE}")),
                }
            }
            "--threaded" => args.threaded = true,
            "--help" | "-h" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(args)
}

/// A closure that runs the operation once.
type Run<'a> = Box<dyn FnMut() + 'a>;

/// One implementation under comparison: its name, the operation, its calls per round and its
/// per-round times (seconds per call).
struct Contender<'a> {
    name: &'static str,
    run: Run<'a>,
    calls: u32,
    times: Vec<f64>,
}

impl Contender<'_> {
    /// Mean seconds per call over `calls` calls.
    fn time(&mut self, calls: u32) -> f64 {
        let start = Instant::now();
        for _ in 0..calls {
            (self.run)();
        }
        start.elapsed().as_secs_f64() / f64::from(calls)
    }
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        (xs[mid - 1] + xs[mid]) / 2.0
    }
}

/// `seconds` in the unit that suits it.
fn show(seconds: f64) -> String {
    if seconds < 1e-6 {
        format!("{:.0} ns", seconds * 1e9)
    } else if seconds < 1e-3 {
        format!("{:.2} µs", seconds * 1e6)
    } else if seconds < 1.0 {
        format!("{:.3} ms", seconds * 1e3)
    } else {
        format!("{seconds:.3} s")
    }
}

/// Panics unless a peer's row-major result matches the core's.
fn check(op: Op, name: &str, n: usize, got: &[f32], core: &[f32]) {
    let d = rel_diff(got, core);
    assert!(
        d < TOLERANCE,
        "{} {name} differs from muon-core's at {n}²: relative {d:e}",
        op.name()
    );
}

/// The contenders for `op` at size `n`, each checked once against the core.
fn contenders<'a>(args: &Args, n: usize, data: &'a Data) -> Vec<Contender<'a>> {
    let par = if args.threaded {
        Par::rayon(0)
    } else {
        Par::Seq
    };
    let reference = core_result(args.op, n, data);
    let mut list: Vec<(&'static str, Run<'a>)> = Vec::new();
    match args.op {
        Op::Matmul => {
            let mut out = vec![0.0f32; n * n];
            let core = move || {
                matmul(
                    MatRef::new(n, n, &data.a).expect("A shape"),
                    MatRef::new(n, n, &data.b).expect("B shape"),
                    MatMut::new(n, n, &mut out).expect("C shape"),
                )
                .expect("muon-core matmul");
                black_box(&mut out);
            };
            list.push(("muon-core", Box::new(core)));

            let (fa, fb) = (&data.faer_a, &data.faer_b);
            let product = move |fc: &mut Mat<f32>| {
                faer_matmul(
                    fc.as_mut(),
                    Accum::Replace,
                    fa.as_ref(),
                    fb.as_ref(),
                    1.0,
                    par,
                );
            };
            let mut fc = Mat::<f32>::zeros(n, n);
            product(&mut fc);
            check(
                args.op,
                "faer",
                n,
                &faer_to_row_major(fc.as_ref()),
                &reference,
            );
            list.push((
                "faer",
                Box::new(move || {
                    product(&mut fc);
                    black_box(&mut fc);
                }),
            ));
            if !args.threaded {
                let (na, nb) = (&data.nalgebra_a, &data.nalgebra_b);
                let mut nc = DMatrix::<f32>::zeros(n, n);
                nc.gemm(1.0, na, nb, 0.0);
                check(
                    args.op,
                    "nalgebra",
                    n,
                    &nalgebra_to_row_major(&nc),
                    &reference,
                );
                list.push((
                    "nalgebra",
                    Box::new(move || {
                        nc.gemm(1.0, na, nb, 0.0);
                        black_box(&mut nc);
                    }),
                ));
            }
        }
        Op::NewtonSchulz => {
            let cfg = NsConfig::default();
            let mut out = vec![0.0f32; n * n];
            let mut scratch = vec![0.0f32; ns_scratch_len(n, n)];
            let core = move || {
                newton_schulz(
                    MatRef::new(n, n, &data.a).expect("input shape"),
                    MatMut::new(n, n, &mut out).expect("output shape"),
                    &mut scratch,
                    &cfg,
                )
                .expect("muon-core newton_schulz");
                black_box(&mut out);
            };
            list.push(("muon-core", Box::new(core)));

            let fa = &data.faer_a;
            let mut faer = FaerNs::new(n, n, cfg);
            if args.threaded {
                faer = faer.threaded();
            }
            check(
                args.op,
                "faer",
                n,
                &faer_to_row_major(faer.run(fa.as_ref())),
                &reference,
            );
            list.push((
                "faer",
                Box::new(move || {
                    black_box(faer.run(fa.as_ref()));
                }),
            ));
            if !args.threaded {
                let na = &data.nalgebra_a;
                let mut nalgebra = NalgebraNs::new(n, n, cfg);
                check(
                    args.op,
                    "nalgebra",
                    n,
                    &nalgebra_to_row_major(nalgebra.run(na)),
                    &reference,
                );
                list.push((
                    "nalgebra",
                    Box::new(move || {
                        black_box(nalgebra.run(na));
                    }),
                ));
            }
        }
    }
    list.into_iter()
        .map(|(name, run)| Contender {
            name,
            run,
            calls: 1,
            times: Vec::new(),
        })
        .collect()
}

/// The core's result for `op` on `data` (row-major `n × n`), the peers' reference.
fn core_result(op: Op, n: usize, data: &Data) -> Vec<f32> {
    let mut out = vec![0.0f32; n * n];
    let dst = MatMut::new(n, n, &mut out).expect("output shape");
    match op {
        Op::Matmul => matmul(
            MatRef::new(n, n, &data.a).expect("A shape"),
            MatRef::new(n, n, &data.b).expect("B shape"),
            dst,
        )
        .expect("muon-core matmul"),
        Op::NewtonSchulz => newton_schulz(
            MatRef::new(n, n, &data.a).expect("input shape"),
            dst,
            &mut vec![0.0f32; ns_scratch_len(n, n)],
            &NsConfig::default(),
        )
        .expect("muon-core newton_schulz"),
    }
    out
}

/// The inputs of one size, in each library's layout.
struct Data {
    a: Vec<f32>,
    b: Vec<f32>,
    faer_a: Mat<f32>,
    faer_b: Mat<f32>,
    nalgebra_a: DMatrix<f32>,
    nalgebra_b: DMatrix<f32>,
}

impl Data {
    fn new(n: usize) -> Self {
        let a = random_vec(n * n, 1);
        let b = random_vec(n * n, 2);
        Self {
            faer_a: faer_from_row_major(n, n, &a),
            faer_b: faer_from_row_major(n, n, &b),
            nalgebra_a: nalgebra_from_row_major(n, n, &a),
            nalgebra_b: nalgebra_from_row_major(n, n, &b),
            a,
            b,
        }
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    common::select_cpu_kernel();
    let threads = if cfg!(feature = "parallel") {
        "threaded (feature `parallel`)"
    } else {
        "one thread"
    };
    println!(
        "{}: {} rounds, about {} ms per implementation per round; muon-core on {threads}, peers {}",
        args.op.name(),
        args.rounds,
        args.budget.as_millis(),
        if args.threaded {
            "on every core (faer Par::rayon(0))"
        } else {
            "single-threaded"
        },
    );
    for &n in &args.sizes {
        let data = Data::new(n);
        let mut list = contenders(&args, n, &data);
        if n == args.sizes[0] {
            let names: Vec<&str> = list.iter().map(|c| c.name).collect();
            let ratios: Vec<String> = names[1..].iter().map(|p| format!("core ÷ {p}")).collect();
            println!("| n | {} | {} |", names.join(" | "), ratios.join(" | "));
            println!("|---:|{}", "---:|".repeat(2 * names.len() - 1));
        }
        // Calibrate: calls per round so each takes about the budget (one call at least).
        for c in &mut list {
            let once = c.time(1).max(1e-9);
            let calls = (args.budget.as_secs_f64() / once).clamp(1.0, 1e6);
            c.calls = calls as u32;
        }
        let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); list.len()];
        for round in 0..args.rounds {
            let k = list.len();
            for i in 0..k {
                let c = &mut list[(i + round) % k];
                let t = c.time(c.calls);
                c.times.push(t);
            }
            let core = list[0].times[round];
            for (j, c) in list.iter().enumerate().skip(1) {
                ratios[j].push(core / c.times[round]);
            }
        }
        let medians: Vec<String> = list
            .iter_mut()
            .map(|c| show(median(&mut c.times)))
            .collect();
        let ratio_cells: Vec<String> = ratios
            .iter_mut()
            .skip(1)
            .map(|r| format!("{:.2}×", median(r)))
            .collect();
        println!(
            "| {n} | {} | {} |",
            medians.join(" | "),
            ratio_cells.join(" | ")
        );
    }
    ExitCode::SUCCESS
}
