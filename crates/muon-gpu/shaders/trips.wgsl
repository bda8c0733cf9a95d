// Loop trip counts, shared by the kernels whose loops stride by more than one (compiled in
// front of them: crates/muon-gpu/src/kernels/sources.rs).
//
// The crate compiles its kernels without wgpu's loop-bounding counters (kernels/common.rs),
// which is sound only if every loop ends whatever the parameters. `for (i = b; i < e; i += s)`
// does not when i + s wraps past 2³² before reaching e, so such loops count their trips
// instead: `for (var t = 0u; t < trips(b, e, s); t++)` with i = b + t·s. tests/shaders.rs
// checks that every loop in every program has one of the forms that always end.

// The trips of `for (var i = begin; i < end; i += step)` without wrapping: ⌈(end − begin) / step⌉,
// 0 when begin ≥ end or step = 0.
fn trips(begin: u32, end: u32, step: u32) -> u32 {
    if (begin >= end || step == 0u) { return 0u; }
    let span = end - begin;
    return span / step + select(0u, 1u, span % step != 0u);
}
