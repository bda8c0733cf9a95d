//! Fuzzes `check_restore` of the shared rule checks (`crates/muon-core/tests/rule/mod.rs`):
//! no panic, an error changes nothing, finite input gives finite output.
#![no_main]

#[path = "../../crates/muon-core/tests/rule/mod.rs"]
mod rule;

libfuzzer_sys::fuzz_target!(|data: &[u8]| rule::check_restore(data));
