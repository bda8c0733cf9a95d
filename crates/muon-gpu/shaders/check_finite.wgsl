// The gradient check with one f32 per array element (after elementwise.wgsl and
// check_status.wgsl): every element where the vec4 build cannot be used (fewer than 4
// elements, or a gradient at an offset not a multiple of 16 bytes), or, compiled with
// TAIL_GROUP = 4, the last `len % 4` elements it leaves.

@group(0) @binding(1) var<storage, read> grad: array<f32>;        // the gradient

@compute @workgroup_size(256, 1, 1)
fn check(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = first_element() + thread_index(wid, nwg, lid);
    if (i >= params.len) { return; }
    check_bits(i, bitcast<u32>(grad[i]));
}
