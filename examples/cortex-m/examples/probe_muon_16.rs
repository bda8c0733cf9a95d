//! One Muon step at 16×16; see `muon_cortex_m::probe`.
#![no_std]
#![no_main]

#[cortex_m_rt::entry]
fn main() -> ! {
    muon_cortex_m::probe::muon::<16, 16>()
}
