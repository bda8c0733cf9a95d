//! One `MixedOptimizer` step (32×32 embedding, 32×32 matrix, bias of 32); see
//! `muon_cortex_m::probe`.
#![no_std]
#![no_main]

use muon_core::mixed::{MixedOptimizer, ParamRole};
use muon_core::muon::Muon;

/// The sizes of the probe's arrays: embedding state, Muon scratch, bias state.
const EMBEDDING: usize = MixedOptimizer::<3>::state_len(32, 32, ParamRole::AdamW);
const SCRATCH: usize = Muon::scratch_len(32, 32);
const BIAS: usize = MixedOptimizer::<3>::state_len(1, 32, ParamRole::Auto);

#[cortex_m_rt::entry]
fn main() -> ! {
    muon_cortex_m::probe::mixed::<32, 32, EMBEDDING, SCRATCH, BIAS>()
}
