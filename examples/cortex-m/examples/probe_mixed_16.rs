//! One `MixedOptimizer` step (16×16 embedding, 16×16 matrix, bias of 16); see
//! `muon_cortex_m::probe`.
#![no_std]
#![no_main]

use muon_core::mixed::{MixedOptimizer, ParamRole};
use muon_core::muon::Muon;

/// The sizes of the probe's arrays: embedding state, Muon scratch, bias state.
const EMBEDDING: usize = MixedOptimizer::<3>::state_len(16, 16, ParamRole::AdamW);
const SCRATCH: usize = Muon::scratch_len(16, 16);
const BIAS: usize = MixedOptimizer::<3>::state_len(1, 16, ParamRole::Auto);

#[cortex_m_rt::entry]
fn main() -> ! {
    muon_cortex_m::probe::mixed::<16, 16, EMBEDDING, SCRATCH, BIAS>()
}
