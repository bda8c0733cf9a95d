// The gradient check with vec4 loads (after elementwise.wgsl and check_status.wgsl): four
// elements per thread over the first `len − len % 4` elements; check_finite.wgsl compiled with
// TAIL_GROUP = 4 takes the rest. Of a group's non-finite elements only the first can be the
// step's first, so only it is recorded.

@group(0) @binding(1) var<storage, read> grad: array<vec4<u32>>;  // the gradient's bits, 4 elements each

@compute @workgroup_size(256, 1, 1)
fn check(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let q = thread_index(wid, nwg, lid);
    if (q >= params.len / 4u) { return; }
    let bits = grad[q];
    let bad = (bits & vec4<u32>(0x7f800000u)) == vec4<u32>(0x7f800000u);
    if (!any(bad)) { return; }
    let c = select(select(select(3u, 2u, bad.z), 1u, bad.y), 0u, bad.x);
    check_bits(4u * q + c, bits[c]);
}
