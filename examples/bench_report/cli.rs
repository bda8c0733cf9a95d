//! Command-line options of `bench_report`.

use std::path::PathBuf;

use crate::measure::Op;

/// What to measure and where to write it.
#[derive(Debug)]
pub struct Args {
    /// Square sizes `n` of the report rows.
    pub sizes: Vec<usize>,
    /// Operations to measure.
    pub ops: Vec<Op>,
    /// Most timed repetitions per measurement (medians are over these).
    pub reps: usize,
    /// Seconds one measurement may take; fewer repetitions (at least one, three on the GPU)
    /// when a single one is slow.
    pub budget_s: f64,
    /// Largest `n` the CPU core is timed at (0: never).
    pub cpu_max: usize,
    /// The crossover scan runs powers of two from 16 to this (0: no scan).
    pub crossover_max: usize,
    /// Where to write the JSON report.
    pub json: Option<PathBuf>,
    /// An earlier JSON report to compare with.
    pub baseline: Option<PathBuf>,
    /// A `benches/torch_reference.py` JSON report from the same machine to compare with.
    pub torch: Option<PathBuf>,
}

/// The usage text.
pub const USAGE: &str = "\
usage: cargo run --release --example bench_report -- [options]

  --sizes LIST          square sizes n, comma-separated        (default 256,1024,4096)
  --ops LIST            matmul,newton_schulz,muon_step,adam_step (default all)
  --reps N              timed repetitions per measurement      (default 20)
  --budget-s SECONDS    time one measurement may take          (default 10)
  --cpu-max N           largest n the CPU core is timed at     (default 1024; 0 = never)
  --crossover-max N     CPU/GPU crossover scan 16, 32, .. N     (default 512; 0 = no scan)
  --json PATH           write the report as JSON (stable keys: muon-bench-report/1)
  --baseline PATH       compare with an earlier --json report
  --torch PATH          compare GPU kernel times with benches/torch_reference.py --json PATH
                        (run on the same machine)
  -h, --help            this text

GPU kernel times come from timestamp queries (median of the repetitions); without
TIMESTAMP_QUERY they are wall-clock times of single waited submissions. MUON_ADAPTER picks
the adapter by name; with no adapter only the CPU columns are filled.";

impl Args {
    /// Parses `std::env::args()`: `Ok(None)` for `--help` (usage printed), `Err` with a
    /// message for bad options.
    pub fn parse() -> Result<Option<Self>, String> {
        let mut args = Self {
            sizes: vec![256, 1024, 4096],
            ops: Op::ALL.to_vec(),
            reps: 20,
            budget_s: 10.0,
            cpu_max: 1024,
            crossover_max: 512,
            json: None,
            baseline: None,
            torch: None,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            if flag == "-h" || flag == "--help" {
                println!("{USAGE}");
                return Ok(None);
            }
            let mut value = || {
                it.next()
                    .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))
            };
            match flag.as_str() {
                "--sizes" => args.sizes = parse_list(&value()?, "--sizes", parse_size)?,
                "--ops" => args.ops = parse_list(&value()?, "--ops", Op::parse)?,
                "--reps" => args.reps = parse_number(&value()?, "--reps")?.max(1),
                "--budget-s" => {
                    let v = value()?;
                    args.budget_s = v
                        .parse::<f64>()
                        .ok()
                        .filter(|s| s.is_finite() && *s > 0.0)
                        .ok_or_else(|| format!("--budget-s: `{v}` is not a positive number"))?;
                }
                "--cpu-max" => args.cpu_max = parse_number(&value()?, "--cpu-max")?,
                "--crossover-max" => {
                    args.crossover_max = parse_number(&value()?, "--crossover-max")?;
                }
                "--json" => args.json = Some(PathBuf::from(value()?)),
                "--baseline" => args.baseline = Some(PathBuf::from(value()?)),
                "--torch" => args.torch = Some(PathBuf::from(value()?)),
                other => return Err(format!("unknown option `{other}`\n\n{USAGE}")),
            }
        }
        Ok(Some(args))
    }
}

fn parse_number(s: &str, flag: &str) -> Result<usize, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{flag}: `{s}` is not a non-negative integer"))
}

fn parse_size(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=65_536).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is not a size in 1..=65536")),
    }
}

fn parse_list<T>(
    s: &str,
    flag: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let items: Vec<T> = s
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| parse(p).map_err(|e| format!("{flag}: {e}")))
        .collect::<Result<_, _>>()?;
    if items.is_empty() {
        return Err(format!("{flag}: empty list"));
    }
    Ok(items)
}
