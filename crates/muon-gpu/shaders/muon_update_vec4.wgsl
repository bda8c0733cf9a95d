// Muon's element-wise halves with vec4 loads and stores (after elementwise.wgsl and
// muon_step.wgsl): four elements per thread, over the first `len − len % 4` elements (the
// host binds those here and runs the rest through muon_update.wgsl compiled with
// TAIL_GROUP = 4).

@group(0) @binding(1) var<storage, read> grad: array<vec4<f32>>;          // G, 4 elements each
@group(0) @binding(2) var<storage, read_write> mom: array<vec4<f32>>;     // B, 4 elements each
@group(0) @binding(3) var<storage, read_write> update: array<vec4<f32>>;  // U / O, 4 elements each
@group(0) @binding(4) var<storage, read_write> param: array<vec4<f32>>;   // W, 4 elements each

@compute @workgroup_size(256, 1, 1)
fn momentum(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let q = thread_index(wid, nwg, lid);
    if (q >= params.len / 4u || skipped()) { return; }
    let g = grad[q];
    let b = mom[q];
    var b_new: vec4<f32>;
    var u_new: vec4<f32>;
    for (var c = 0u; c < 4u; c++) {
        let r = momentum_element(g[c], b[c]);
        b_new[c] = r.x;
        u_new[c] = r.y;
    }
    mom[q] = b_new;
    update[q] = u_new;
}

@compute @workgroup_size(256, 1, 1)
fn apply(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let q = thread_index(wid, nwg, lid);
    if (q >= params.len / 4u || skipped()) { return; }
    let w = param[q];
    let o = update[q];
    var w_new: vec4<f32>;
    for (var c = 0u; c < 4u; c++) {
        w_new[c] = apply_element(w[c], o[c]);
    }
    param[q] = w_new;
}
