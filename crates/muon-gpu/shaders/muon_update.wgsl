// Muon's element-wise halves with one f32 per array element (after elementwise.wgsl and
// muon_step.wgsl), one element per thread: every element where the vec4 build cannot be used
// (fewer than 4 elements, or a matrix at an offset not a multiple of 16 bytes), or, compiled
// with TAIL_GROUP = 4, the last `len % 4` elements it leaves.

@group(0) @binding(1) var<storage, read> grad: array<f32>;           // G
@group(0) @binding(2) var<storage, read_write> mom: array<f32>;      // B, the momentum buffer
@group(0) @binding(3) var<storage, read_write> update: array<f32>;   // U (momentum) / O (apply)
@group(0) @binding(4) var<storage, read_write> param: array<f32>;    // W

fn momentum_at(i: u32) {
    if (i >= params.len || skipped()) { return; }
    let r = momentum_element(grad[i], mom[i]);
    mom[i] = r.x;
    update[i] = r.y;
}

fn apply_at(i: u32) {
    if (i >= params.len || skipped()) { return; }
    param[i] = apply_element(param[i], update[i]);
}

@compute @workgroup_size(256, 1, 1)
fn momentum(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    momentum_at(first_element() + thread_index(wid, nwg, lid));
}

@compute @workgroup_size(256, 1, 1)
fn apply(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    apply_at(first_element() + thread_index(wid, nwg, lid));
}
