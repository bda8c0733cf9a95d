//! One Muon step at 8×8; see `muon_cortex_m::probe`.
#![no_std]
#![no_main]

#[cortex_m_rt::entry]
fn main() -> ! {
    muon_cortex_m::probe::muon::<8, 8>()
}
