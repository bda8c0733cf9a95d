//! No matching adapter is an error, not a panic (own binary: it sets an env variable).

#[test]
fn no_matching_adapter_is_an_error() {
    // SAFETY: the only test in this binary, so no other thread reads the environment.
    unsafe { std::env::set_var(muon_gpu::ADAPTER_ENV, "no-such-adapter-0f3a9c") };
    assert!(matches!(
        muon_gpu::GpuContext::new(),
        Err(muon_gpu::GpuError::NoAdapter)
    ));
}
