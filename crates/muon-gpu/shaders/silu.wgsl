// SiLU activation and its backward pass, element-wise over `len` elements:
//     forward:  x[i] = h[i] · sigmoid(h[i])
//     backward: x[i] = x[i] · s(h[i]) (1 + h[i] (1 − s(h[i])))   (x holds dL/da, becomes dL/dh)
// One element per thread, 256 threads per workgroup, grid folded into 2-D.

struct SiluParams {
    len: u32,    // elements of h and x
    _pad0: u32,  // padding to 16 bytes
    _pad1: u32,  // padding
    _pad2: u32,  // padding
}

@group(0) @binding(0) var<uniform> params: SiluParams;         // length
@group(0) @binding(1) var<storage, read> h: array<f32>;         // pre-activations
@group(0) @binding(2) var<storage, read_write> x: array<f32>;   // activations / gradient

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256, 1, 1)
fn forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = index(wid, nwg, lid);
    if (i >= params.len) { return; }
    let v = h[i];
    x[i] = v / (1.0 + exp(-v));
}

@compute @workgroup_size(256, 1, 1)
fn backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = index(wid, nwg, lid);
    if (i >= params.len) { return; }
    let v = h[i];
    let s = 1.0 / (1.0 + exp(-v));
    x[i] = x[i] * (s * (1.0 + v * (1.0 - s)));
}
