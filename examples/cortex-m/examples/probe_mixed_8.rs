//! One `MixedOptimizer` step (8×8 embedding, 8×8 matrix, bias of 8); see
//! `muon_cortex_m::probe`.
#![no_std]
#![no_main]

use muon_core::mixed::{MixedOptimizer, ParamRole};
use muon_core::muon::Muon;

/// The sizes of the probe's arrays: embedding state, Muon scratch, bias state.
const EMBEDDING: usize = MixedOptimizer::<3>::state_len(8, 8, ParamRole::AdamW);
const SCRATCH: usize = Muon::scratch_len(8, 8);
const BIAS: usize = MixedOptimizer::<3>::state_len(1, 8, ParamRole::Auto);

#[cortex_m_rt::entry]
fn main() -> ! {
    muon_cortex_m::probe::mixed::<8, 8, EMBEDDING, SCRATCH, BIAS>()
}
