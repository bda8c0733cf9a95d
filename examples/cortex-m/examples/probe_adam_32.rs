//! One Adam step (f32 moments) at 32×32; see `muon_cortex_m::probe`.
#![no_std]
#![no_main]

#[cortex_m_rt::entry]
fn main() -> ! {
    muon_cortex_m::probe::adam::<32, 32>()
}
