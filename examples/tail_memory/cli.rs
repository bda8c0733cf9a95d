//! Command-line parsing and validation: every bad argument is an [`ExampleError::Args`] with
//! a one-line reason, never a panic.

use std::path::PathBuf;

use muon::cpu::linalg::CpuKernel;

use crate::error::ExampleError;
use crate::memory::head_count;
use crate::multi_step::MultiStepParams;
use crate::one_step::OneStepParams;
use crate::paper::PaperParams;
use crate::zipf::ZipfParams;

/// Usage text for `--help`.
pub const USAGE: &str = "\
tail_memory: Muon vs Adam on linear associative memories with heavy-tailed classes
(S. Wang et al., \"Muon Outperforms Adam in Tail-End Associative Memory Learning\", 2025)

usage: cargo run --release --example tail_memory -- [options]

  --experiment one-step|multi-step|zipf|zipf-paper|all   (default all)
  --backend cpu|gpu|auto      where training runs (default auto: a hardware GPU if
                              wgpu finds one, else the CPU core; gpu also takes lavapipe)
  --cpu-kernel portable|avx2|avx512|neon
                              force muon-core's product kernel (default: the best this
                              CPU supports); the CPU backend and every CPU-side product
  --json PATH                 write every printed number as one JSON document
  --out DIR                   write CSV series and SVG plots

one-step (paper §5, Theorem 5.3):
  --classes K    classes = dimension, divisible by 3 (default 999)
  --alpha A      head probability mass in (0,1) (default 0.8)
  --beta B       head fraction of classes in (0,1) (default 0.2)
  --eps E        rho^eps threshold in (0,1) (default 0.1)
  --ns-steps N   Polar Express steps for Muon's exact U V^T (default 12)
multi-step (same memory, trained):
  --multi-classes K   classes = dimension, divisible by 3 (default 150)
  --steps N           training steps (default 300)
  --multi-lr-gd X --multi-lr-adam X --multi-lr-muon X   (defaults 50, 0.05, 0.1)
zipf (paper §4.3 on a linear memory):
  --groups G          frequency groups; classes = 2^G - 1 (default 7)
  --zipf-exponent S   class frequency ~ rank^-S (default 1.0)
  --dim D             embedding dimension, may be below the class count (default 128)
  --batch B           mini-batch size (default 32)
  --zipf-steps N      training steps (default 300)
  --seed S            embeddings and batches (default 0)
  --lr-adam X --lr-muon X --lr-sgd X   (defaults 0.3, 1.0, 30: each the best of a x~3 grid
                      for the mean population loss over the run; SGD momentum 0.9; no weight decay)
zipf-paper (paper §4.3's regime: rare tail classes, lr sweep, seeds):
  --paper-size cpu|quick|paper   preset (default cpu: 1023 classes, d 128, batch 32;
                      quick: 63 classes, d 16, batch 8; paper: 65535 classes, d 512,
                      batch 128, for a hardware GPU)
  --quick             same as --paper-size quick
  --paper-groups G --paper-dim D --paper-batch B   override the preset
  --paper-exposure X  mean draws of each rarest-group class over the run; sets the step
                      count (default 2)
  --paper-seeds N     seeds at each chosen rate (default 3)
";

/// Which experiments to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Experiments {
    /// Run the one-step experiment.
    pub one_step: bool,
    /// Run the multi-step experiment.
    pub multi_step: bool,
    /// Run the Zipf experiment.
    pub zipf: bool,
    /// Run the paper-regime Zipf experiment.
    pub zipf_paper: bool,
}

/// `--backend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// The CPU core.
    Cpu,
    /// The GPU; an error if there is no adapter.
    Gpu,
    /// The GPU if there is one, else the CPU with a notice.
    Auto,
}

/// Everything the command line chose.
#[derive(Clone, Debug, PartialEq)]
pub struct Args {
    /// Experiments to run.
    pub experiments: Experiments,
    /// Backend choice.
    pub backend: BackendChoice,
    /// `--cpu-kernel`: muon-core's product kernel, forced (`None`: the best this CPU supports).
    pub cpu_kernel: Option<CpuKernel>,
    /// `--json`.
    pub json: Option<PathBuf>,
    /// `--out`.
    pub out: Option<PathBuf>,
    /// One-step settings.
    pub one_step: OneStepParams,
    /// Multi-step settings.
    pub multi_step: MultiStepParams,
    /// Zipf settings.
    pub zipf: ZipfParams,
    /// Paper-regime settings.
    pub paper: PaperParams,
    /// `--help` was given.
    pub help: bool,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            experiments: Experiments {
                one_step: true,
                multi_step: true,
                zipf: true,
                zipf_paper: true,
            },
            backend: BackendChoice::Auto,
            cpu_kernel: None,
            json: None,
            out: None,
            one_step: OneStepParams {
                classes: 999,
                alpha: 0.8,
                beta: 0.2,
                eps: 0.1,
                ns_steps: 12,
            },
            multi_step: MultiStepParams {
                classes: 150,
                alpha: 0.8,
                beta: 0.2,
                steps: 300,
                lr_gd: 50.0,
                lr_adam: 0.05,
                lr_muon: 0.1,
            },
            zipf: ZipfParams {
                groups: 7,
                exponent: 1.0,
                dim: 128,
                batch: 32,
                steps: 300,
                seed: 0,
                lr_adam: 0.3,
                lr_muon: 1.0,
                lr_sgd: 30.0,
            },
            paper: PaperParams::CPU,
            help: false,
        }
    }
}

fn bad(msg: impl Into<String>) -> ExampleError {
    ExampleError::Args(msg.into())
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, ExampleError> {
    value
        .parse()
        .map_err(|_| bad(format!("{flag} expects a number, got {value:?}")))
}

/// Parses `args` (without the program name): `--flag value` or `--flag=value`.
pub fn parse(args: &[String]) -> Result<Args, ExampleError> {
    let mut a = Args::default();
    let mut i = 0;
    while i < args.len() {
        let (flag, inline) = match args[i].split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (args[i].clone(), None),
        };
        i += 1;
        if flag == "--help" || flag == "-h" {
            a.help = true;
            continue;
        }
        if flag == "--quick" {
            a.paper = PaperParams {
                seeds: a.paper.seeds,
                ..PaperParams::QUICK
            };
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => {
                let v = args
                    .get(i)
                    .ok_or_else(|| bad(format!("{flag} needs a value")))?
                    .clone();
                i += 1;
                v
            }
        };
        let v = value.as_str();
        match flag.as_str() {
            "--experiment" => {
                a.experiments = match v {
                    "one-step" => Experiments {
                        one_step: true,
                        multi_step: false,
                        zipf: false,
                        zipf_paper: false,
                    },
                    "multi-step" => Experiments {
                        one_step: false,
                        multi_step: true,
                        zipf: false,
                        zipf_paper: false,
                    },
                    "zipf" => Experiments {
                        one_step: false,
                        multi_step: false,
                        zipf: true,
                        zipf_paper: false,
                    },
                    "zipf-paper" => Experiments {
                        one_step: false,
                        multi_step: false,
                        zipf: false,
                        zipf_paper: true,
                    },
                    "all" => Experiments {
                        one_step: true,
                        multi_step: true,
                        zipf: true,
                        zipf_paper: true,
                    },
                    _ => return Err(bad(format!("unknown experiment {v:?}"))),
                }
            }
            "--backend" => {
                a.backend = match v {
                    "cpu" => BackendChoice::Cpu,
                    "gpu" => BackendChoice::Gpu,
                    "auto" => BackendChoice::Auto,
                    _ => return Err(bad(format!("unknown backend {v:?} (cpu, gpu or auto)"))),
                }
            }
            "--cpu-kernel" => {
                let kernel = CpuKernel::from_name(v).ok_or_else(|| {
                    bad(format!(
                        "unknown CPU kernel {v:?} (portable, avx2, avx512 or neon)"
                    ))
                })?;
                if !kernel.is_supported() {
                    return Err(bad(format!("this CPU cannot run the {v} kernel")));
                }
                a.cpu_kernel = Some(kernel);
            }
            "--json" => a.json = Some(PathBuf::from(v)),
            "--out" => a.out = Some(PathBuf::from(v)),
            "--classes" => a.one_step.classes = number(&flag, v)?,
            "--alpha" => {
                a.one_step.alpha = number(&flag, v)?;
                a.multi_step.alpha = a.one_step.alpha;
            }
            "--beta" => {
                a.one_step.beta = number(&flag, v)?;
                a.multi_step.beta = a.one_step.beta;
            }
            "--eps" => a.one_step.eps = number(&flag, v)?,
            "--ns-steps" => a.one_step.ns_steps = number(&flag, v)?,
            "--multi-classes" => a.multi_step.classes = number(&flag, v)?,
            "--steps" => a.multi_step.steps = number(&flag, v)?,
            "--multi-lr-gd" => a.multi_step.lr_gd = number(&flag, v)?,
            "--multi-lr-adam" => a.multi_step.lr_adam = number(&flag, v)?,
            "--multi-lr-muon" => a.multi_step.lr_muon = number(&flag, v)?,
            "--groups" => a.zipf.groups = number(&flag, v)?,
            "--zipf-exponent" => a.zipf.exponent = number(&flag, v)?,
            "--dim" => a.zipf.dim = number(&flag, v)?,
            "--batch" => a.zipf.batch = number(&flag, v)?,
            "--zipf-steps" => a.zipf.steps = number(&flag, v)?,
            "--seed" => a.zipf.seed = number(&flag, v)?,
            "--lr-adam" => a.zipf.lr_adam = number(&flag, v)?,
            "--lr-muon" => a.zipf.lr_muon = number(&flag, v)?,
            "--lr-sgd" => a.zipf.lr_sgd = number(&flag, v)?,
            "--paper-size" => {
                let preset = match v {
                    "cpu" => PaperParams::CPU,
                    "quick" => PaperParams::QUICK,
                    "paper" => PaperParams::PAPER,
                    _ => {
                        return Err(bad(format!(
                            "unknown --paper-size {v:?} (cpu, quick or paper)"
                        )));
                    }
                };
                a.paper = PaperParams {
                    seeds: a.paper.seeds,
                    ..preset
                };
            }
            "--paper-groups" => a.paper.groups = number(&flag, v)?,
            "--paper-dim" => a.paper.dim = number(&flag, v)?,
            "--paper-batch" => a.paper.batch = number(&flag, v)?,
            "--paper-exposure" => a.paper.exposure = number(&flag, v)?,
            "--paper-seeds" => a.paper.seeds = number(&flag, v)?,
            _ => return Err(bad(format!("unknown option {flag:?}"))),
        }
    }
    validate(&a)?;
    Ok(a)
}

fn open_unit(name: &str, x: f64) -> Result<(), ExampleError> {
    if x > 0.0 && x < 1.0 {
        Ok(())
    } else {
        Err(bad(format!("{name} must be in (0, 1), got {x}")))
    }
}

fn memory_classes(name: &str, k: usize, beta: f64) -> Result<(), ExampleError> {
    if k < 3 || !k.is_multiple_of(3) {
        return Err(bad(format!(
            "{name} must be a positive multiple of 3 (coupled embeddings are 3×3 block rotations), got {k}"
        )));
    }
    let head = (beta * k as f64 + 1e-9).floor() as usize;
    if head == 0 || head >= k || head != head_count(k, beta) {
        return Err(bad(format!(
            "{name} = {k} with beta = {beta} leaves no head or no tail class"
        )));
    }
    Ok(())
}

fn rate(name: &str, x: f32) -> Result<(), ExampleError> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(bad(format!("{name} must be a positive number, got {x}")))
    }
}

/// Range checks the parser cannot do flag by flag.
fn validate(a: &Args) -> Result<(), ExampleError> {
    open_unit("--alpha", a.one_step.alpha)?;
    open_unit("--beta", a.one_step.beta)?;
    open_unit("--eps", a.one_step.eps)?;
    memory_classes("--classes", a.one_step.classes, a.one_step.beta)?;
    memory_classes("--multi-classes", a.multi_step.classes, a.multi_step.beta)?;
    if a.one_step.ns_steps == 0 {
        return Err(bad("--ns-steps must be at least 1"));
    }
    if a.multi_step.steps == 0 || a.zipf.steps == 0 {
        return Err(bad("--steps and --zipf-steps must be at least 1"));
    }
    if !(1..=16).contains(&a.zipf.groups) {
        return Err(bad(format!(
            "--groups must be in 1..=16, got {}",
            a.zipf.groups
        )));
    }
    if !(a.zipf.exponent.is_finite() && a.zipf.exponent >= 0.0) {
        return Err(bad(format!(
            "--zipf-exponent must be >= 0, got {}",
            a.zipf.exponent
        )));
    }
    if a.zipf.dim == 0 || a.zipf.batch == 0 {
        return Err(bad("--dim and --batch must be at least 1"));
    }
    if !(2..=16).contains(&a.paper.groups) {
        return Err(bad(format!(
            "--paper-groups must be in 2..=16, got {}",
            a.paper.groups
        )));
    }
    if a.paper.dim == 0 || a.paper.batch == 0 || a.paper.seeds == 0 {
        return Err(bad(
            "--paper-dim, --paper-batch and --paper-seeds must be at least 1",
        ));
    }
    if !(a.paper.exposure.is_finite() && a.paper.exposure > 0.0) {
        return Err(bad(format!(
            "--paper-exposure must be a positive number, got {}",
            a.paper.exposure
        )));
    }
    for (name, x) in [
        ("--multi-lr-gd", a.multi_step.lr_gd),
        ("--multi-lr-adam", a.multi_step.lr_adam),
        ("--multi-lr-muon", a.multi_step.lr_muon),
        ("--lr-adam", a.zipf.lr_adam),
        ("--lr-muon", a.zipf.lr_muon),
        ("--lr-sgd", a.zipf.lr_sgd),
    ] {
        rate(name, x)?;
    }
    Ok(())
}
