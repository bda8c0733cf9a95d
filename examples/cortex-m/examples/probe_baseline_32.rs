//! Baseline for the size probes: everything but the optimizer step at 32×32; see `muon_cortex_m::probe`.
#![no_std]
#![no_main]

#[cortex_m_rt::entry]
fn main() -> ! {
    muon_cortex_m::probe::baseline::<32, 32>()
}
