//! One-step probes: the smallest programs that make one Muon, one Adam or one `MixedOptimizer`
//! step at `R × C`, used
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
//! The mixed probe steps a three-layer model through one [`MixedOptimizer`]: an `R × C`
//! embedding (AdamW), an `R × C` matrix (Muon) and a bias of `R` (AdamW); its `state_bytes`
//! count the three states and the shared Muon scratch.
//!
//! The baseline probe does the same with the step replaced by a no-op, so
//! `text(probe) − text(baseline)` is the flash the core adds. The probes print without
//! `core::fmt`; a probe binary that still contains a panic symbol therefore means the core's
//! step has a reachable panic (see `measure.sh`).

use core::hint::black_box;
use core::mem::size_of;

use muon_core::adam::{Adam, AdamConfig, AdamState};
use muon_core::mixed::{MixedOptimizer, ParamRole};
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
    (rows, cols): (usize, usize),
    state_bytes: usize,
    param_grad_bytes: usize,
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
    con.usize(param_grad_bytes);
    con.str(" stack_peak=");
    con.usize(peak.unwrap_or(stack.depth()));
    con.str(if ok { " ok=1\n" } else { " ok=0\n" });
    crate::exit(ok)
}

/// Bytes of one `R × C` parameter and its gradient.
const fn matrix_pair<const R: usize, const C: usize>() -> usize {
    2 * size_of::<Matrix<R, C>>()
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
    report(
        "baseline",
        (R, C),
        0,
        matrix_pair::<R, C>(),
        &stack,
        peak,
        result,
    )
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
    report(
        "muon",
        (R, C),
        state_bytes,
        matrix_pair::<R, C>(),
        &stack,
        peak,
        result,
    )
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
    report(
        "adam",
        (R, C),
        state_bytes,
        matrix_pair::<R, C>(),
        &stack,
        peak,
        result,
    )
}

/// One step of the three-layer model through a [`MixedOptimizer`], out of line so that the stack
/// probe measures all of its frames.
#[inline(never)]
fn mixed_step<const R: usize, const C: usize>(
    opt: &mut MixedOptimizer<'_, 3>,
    params: (&mut Matrix<R, C>, &mut Matrix<R, C>, &mut Matrix<1, R>),
    grads: (&Matrix<R, C>, &Matrix<R, C>, &Matrix<1, R>),
) -> Result<(), MuonError> {
    opt.step(
        &mut [params.0.as_mut(), params.1.as_mut(), params.2.as_mut()],
        &[grads.0.as_ref(), grads.1.as_ref(), grads.2.as_ref()],
    )
}

/// Registers the three-layer model (embedding AdamW, matrix Muon, bias AdamW) in `opt`.
fn register<'s, const R: usize, const C: usize>(
    opt: &mut MixedOptimizer<'s, 3>,
    embedding: &'s mut [f32],
    matrix: &'s mut [f32],
    bias: &'s mut [f32],
) -> Result<(), MuonError> {
    opt.add(R, C, ParamRole::AdamW, embedding)?;
    opt.add(R, C, ParamRole::Auto, matrix)?;
    opt.add(1, R, ParamRole::Auto, bias)?;
    Ok(())
}

/// One [`MixedOptimizer`] step (torch's Muon and AdamW defaults, f32 state) over an `R × C`
/// embedding (AdamW), an `R × C` matrix (Muon) and a bias of `R` (AdamW).
///
/// `S1` must be `2·R·C` (the embedding's AdamW state), `S2` `Muon::scratch_len(R, C)` and `B`
/// `2·R` (the bias's AdamW state): stable Rust cannot compute array lengths from generic
/// parameters, so the `probe_mixed_*` binaries pass them; [`MixedOptimizer::add`] checks them.
pub fn mixed<const R: usize, const C: usize, const S1: usize, const S2: usize, const B: usize>() -> !
{
    let (mut embedding, embedding_grad) = inputs::<R, C>();
    let (mut matrix, matrix_grad) = inputs::<R, C>();
    let mut bias = black_box(Matrix::<1, R>::from_fn(|_, c| c as f32 * 0.01));
    let bias_grad = black_box(Matrix::<1, R>::from_fn(|_, c| 0.5 - c as f32 * 0.1));
    let mut embedding_state = [0.0f32; S1];
    let mut matrix_state = Matrix::<R, C>::ZERO;
    let mut bias_state = [0.0f32; B];
    let mut scratch = [0.0f32; S2];
    let state_bytes = size_of::<f32>() * (S1 + S2 + B) + size_of::<Matrix<R, C>>();
    let param_grad_bytes = 2 * (2 * size_of::<Matrix<R, C>>() + size_of::<Matrix<1, R>>());
    let configs = MuonConfig::new()
        .build()
        .and_then(|muon| Ok((muon, AdamConfig::adamw().build()?)));
    let (muon, adamw) = match configs {
        Ok(pair) => pair,
        Err(e) => report(
            "mixed",
            (R, C),
            state_bytes,
            param_grad_bytes,
            &StackProbe::paint(0),
            None,
            Err(e),
        ),
    };
    let mut opt = MixedOptimizer::<3>::new(muon, adamw, &mut scratch);
    let registered = register::<R, C>(
        &mut opt,
        &mut embedding_state,
        matrix_state.as_mut_slice(),
        &mut bias_state,
    );
    let stack = StackProbe::paint(PAINT_DEPTH);
    let result = registered.and_then(|()| {
        mixed_step(
            &mut opt,
            (&mut embedding, &mut matrix, &mut bias),
            (&embedding_grad, &matrix_grad, &bias_grad),
        )
    });
    let peak = stack.peak();
    black_box((&embedding, &matrix, &bias));
    report(
        "mixed",
        (R, C),
        state_bytes,
        param_grad_bytes,
        &stack,
        peak,
        result,
    )
}
