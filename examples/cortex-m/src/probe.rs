//! One-step probes: the smallest programs that make one Muon or one Adam step at `R × C`, used
//! to measure what the core costs in flash and stack (`examples/probe_*.rs`, driven by
//! `measure.sh`).
//!
//! Each probe builds the config, fills a parameter and a gradient, paints the stack, makes one
//! step through an `#[inline(never)]` call, and prints one line:
//!
//! ```text
//! probe=muon rows=16 cols=16 state_bytes=6144 param_grad_bytes=2048 stack_peak=304 ok=1
//! ```
//!
//! The baseline probe does the same with the step replaced by a no-op, so
//! `text(probe) − text(baseline)` is the flash the core adds. The probes print without
//! `core::fmt`; a probe binary that still contains a panic symbol therefore means the core's
//! step has a reachable panic (see `measure.sh`).

use core::hint::black_box;
use core::mem::size_of;

use muon_core::adam::{Adam, AdamConfig, AdamState};
use muon_core::muon::{Muon, MuonConfig, MuonState};
use muon_core::{Matrix, MuonError};

use crate::console::Console;
use crate::stack::StackProbe;

/// How much stack below the probe's frame is painted (far more than any step needs).
const PAINT_DEPTH: usize = 64 * 1024;

/// Deterministic, non-trivial parameter and gradient, hidden from the optimiser.
fn inputs<const R: usize, const C: usize>() -> (Matrix<R, C>, Matrix<R, C>) {
    let param = Matrix::from_fn(|r, c| ((r * 7 + c * 3) % 11) as f32 * 0.01 - 0.05);
    let grad = Matrix::from_fn(|r, c| ((r * 5 + c * 13) % 17) as f32 * 0.1 - 0.8);
    (black_box(param), black_box(grad))
}

/// Prints the probe's result line and exits (success iff the step succeeded and the stack
/// measurement is valid).
fn report(
    name: &str,
    rows: usize,
    cols: usize,
    state_bytes: usize,
    stack: &StackProbe,
    peak: Option<usize>,
    result: Result<(), MuonError>,
) -> ! {
    let ok = result.is_ok() && peak.is_some();
    let mut con = Console::stdout();
    con.str("probe=");
    con.str(name);
    con.str(" rows=");
    con.usize(rows);
    con.str(" cols=");
    con.usize(cols);
    con.str(" state_bytes=");
    con.usize(state_bytes);
    con.str(" param_grad_bytes=");
    con.usize(2 * rows * cols * size_of::<f32>());
    con.str(" stack_peak=");
    con.usize(peak.unwrap_or(stack.depth()));
    con.str(if ok { " ok=1\n" } else { " ok=0\n" });
    crate::exit(ok)
}

/// The baseline's stand-in for a step: keeps its arguments alive and does nothing.
#[inline(never)]
fn no_step<const R: usize, const C: usize>(
    param: &mut Matrix<R, C>,
    grad: &Matrix<R, C>,
) -> Result<(), MuonError> {
    black_box(param);
    black_box(grad);
    Ok(())
}

/// One Muon step, out of line so that the stack probe measures all of its frames.
#[inline(never)]
fn muon_step<const R: usize, const C: usize>(
    muon: &Muon,
    param: &mut Matrix<R, C>,
    grad: &Matrix<R, C>,
    state: &mut MuonState<R, C>,
) -> Result<(), MuonError> {
    muon.step_fixed(param, grad, state)
}

/// One Adam step, out of line so that the stack probe measures all of its frames.
#[inline(never)]
fn adam_step<const R: usize, const C: usize>(
    adam: &Adam,
    param: &mut Matrix<R, C>,
    grad: &Matrix<R, C>,
    state: &mut AdamState<R, C, f32>,
) -> Result<(), MuonError> {
    adam.step_fixed(param, grad, state)
}

/// Baseline: everything a probe does except the optimizer.
pub fn baseline<const R: usize, const C: usize>() -> ! {
    let (mut param, grad) = inputs::<R, C>();
    let stack = StackProbe::paint(PAINT_DEPTH);
    let result = no_step(&mut param, &grad);
    let peak = stack.peak();
    black_box(&param);
    report("baseline", R, C, 0, &stack, peak, result)
}

/// One Muon step (torch defaults) at `R × C`.
pub fn muon<const R: usize, const C: usize>() -> ! {
    let (mut param, grad) = inputs::<R, C>();
    let mut state = MuonState::<R, C>::new();
    let config = MuonConfig::new().build();
    let stack = StackProbe::paint(PAINT_DEPTH);
    let result = match &config {
        Ok(muon) => muon_step(muon, &mut param, &grad, &mut state),
        Err(e) => Err(*e),
    };
    let peak = stack.peak();
    black_box(&param);
    let state_bytes = size_of::<MuonState<R, C>>();
    report("muon", R, C, state_bytes, &stack, peak, result)
}

/// One Adam step (torch defaults, f32 moments) at `R × C`.
pub fn adam<const R: usize, const C: usize>() -> ! {
    let (mut param, grad) = inputs::<R, C>();
    let mut state = AdamState::<R, C, f32>::new();
    let config = AdamConfig::adam().build();
    let stack = StackProbe::paint(PAINT_DEPTH);
    let result = match &config {
        Ok(adam) => adam_step(adam, &mut param, &grad, &mut state),
        Err(e) => Err(*e),
    };
    let peak = stack.peak();
    black_box(&param);
    let state_bytes = size_of::<AdamState<R, C, f32>>();
    report("adam", R, C, state_bytes, &stack, peak, result)
}
