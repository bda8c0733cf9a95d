// The gradient check with one f32 per array element (after check_status.wgsl): every element
// where the vec4 build cannot be used (fewer than 4 elements, or a gradient at an offset not a
// multiple of 16 bytes), and the last `len % 4` elements it leaves (`check_tail`).

@group(0) @binding(1) var<storage, read> grad: array<f32>;        // the gradient

@compute @workgroup_size(256, 1, 1)
fn check(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = thread_index(wid, nwg, lid);
    if (i >= params.len) { return; }
    check_bits(i, bitcast<u32>(grad[i]));
}

@compute @workgroup_size(256, 1, 1)
fn check_tail(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (params.len & ~3u) + thread_index(wid, nwg, lid);
    if (i >= params.len) { return; }
    check_bits(i, bitcast<u32>(grad[i]));
}
