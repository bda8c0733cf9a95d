//! Build script: puts `memory.x` on the linker path for `cortex-m-rt`, and runs the training
//! in `src/train.rs` on the build machine to produce the values the firmware must reproduce
//! (`$OUT_DIR/expected.rs`). Generating them here, rather than checking them in, means they
//! can never be stale: every change to the training code or to `muon-core` re-runs this.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

// The very same source file the firmware compiles.
#[allow(dead_code)]
#[path = "src/train.rs"]
mod train;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);

    // Linker memory layout for cortex-m-rt's link.x.
    fs::copy("memory.x", out.join("memory.x"))?;
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=src/train.rs");

    // The host run. Cargo re-runs this script when muon-core (a build dependency) changes.
    let report = train::run().map_err(|e| format!("host training run failed: {e}"))?;
    let host = env::var("HOST").unwrap_or_else(|_| String::from("unknown host"));
    fs::write(out.join("expected.rs"), render(&report, &host)?)?;
    Ok(())
}

/// Rust source for a `Report` constant; floats are written as bit patterns so the firmware
/// sees exactly the host's values.
fn render(r: &train::Report, host: &str) -> Result<String, std::fmt::Error> {
    let mut s = String::new();
    writeln!(
        s,
        "/// The target triple of the machine that computed [`EXPECTED`]."
    )?;
    writeln!(s, "pub const HOST: &str = {host:?};")?;
    writeln!(
        s,
        "/// `train::run()` as computed on the build machine by `build.rs`."
    )?;
    writeln!(
        s,
        "pub const EXPECTED: crate::train::Report = crate::train::Report {{"
    )?;
    writeln!(s, "    class_prob: {},", floats(&r.class_prob))?;
    for (name, run) in [("muon", &r.muon), ("adam", &r.adam)] {
        writeln!(s, "    {name}: crate::train::RunResult {{")?;
        writeln!(s, "        initial_loss: {},", floats(&run.initial_loss))?;
        writeln!(s, "        final_loss: {},", floats(&run.final_loss))?;
        writeln!(
            s,
            "        final_objective: {},",
            float(run.final_objective)
        )?;
        writeln!(s, "        weights: muon_core::Matrix::from_rows([")?;
        for row in &run.weights.data {
            writeln!(s, "            {},", floats(row))?;
        }
        writeln!(s, "        ]),")?;
        writeln!(s, "    }},")?;
    }
    let m = &r.mixed;
    writeln!(s, "    mixed: crate::train::MixedResult {{")?;
    writeln!(s, "        initial_loss: {},", floats(&m.initial_loss))?;
    writeln!(s, "        final_loss: {},", floats(&m.final_loss))?;
    writeln!(s, "        final_objective: {},", float(m.final_objective))?;
    for (name, rows) in [
        ("embedding", &m.embedding.data[..]),
        ("memory", &m.memory.data[..]),
    ] {
        writeln!(s, "        {name}: muon_core::Matrix::from_rows([")?;
        for row in rows {
            writeln!(s, "            {},", floats(row))?;
        }
        writeln!(s, "        ]),")?;
    }
    writeln!(
        s,
        "        bias: muon_core::Matrix::from_rows([{}]),",
        floats(&m.bias.data[0])
    )?;
    writeln!(s, "    }},")?;
    writeln!(s, "}};")?;
    Ok(s)
}

/// One `f32` as an exact constant expression (with its decimal value as a comment).
fn float(x: f32) -> String {
    format!("f32::from_bits({:#010x}) /* {x:e} */", x.to_bits())
}

/// An `f32` array literal.
fn floats(xs: &[f32]) -> String {
    let items: Vec<String> = xs.iter().map(|&x| float(x)).collect();
    format!("[{}]", items.join(", "))
}
