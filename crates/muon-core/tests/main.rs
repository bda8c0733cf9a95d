//! muon-core's integration tests, one test binary (`autotests = false` in `Cargo.toml`): each
//! file is a module, so a change to the crate relinks one binary instead of one per file (the
//! mutation runs in `docs/mutants.md` rebuild it once per mutant). Run one file's tests with
//! `cargo test -p muon-core --test integration <module>::`, e.g. `moments::`.

mod adversarial;
mod finite_rows;
mod moments;
mod properties;
mod public_api;
mod rule;
mod schedule_reference;
mod sgd_reference;
mod torch_reference;
