// What every element-wise kernel shares (the finite check, Muon's halves, Adam), compiled in
// front of each of them, in both builds (`*_vec4.wgsl` and the one-element files; see
// src/kernels/elementwise.rs). Each kernel's parameters start with `len`, its element count.

// The vec4 build's group (elements per thread: 4, or 8 for Adam's 16-bit moments) in the
// one-element pipeline that takes the elements that build leaves (the last `len % TAIL_GROUP`);
// 0 in the one-element pipeline that takes every element. Set by the host (`Lanes`).
override TAIL_GROUP: u32 = 0u;

// The first element a one-element dispatch covers: 0, or the first past the whole groups.
// (A constant divisor of 0 would not validate, hence the max.)
fn first_element() -> u32 {
    let whole = params.len - params.len % max(TAIL_GROUP, 1u);
    return select(0u, whole, TAIL_GROUP != 0u);
}

// The index of this thread in the folded 2-D grid of 256-thread workgroups.
fn thread_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}
