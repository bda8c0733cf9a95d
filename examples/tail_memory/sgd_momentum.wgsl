// SGD with momentum, torch.optim.SGD's rule (no dampening), as muon_core's `Sgd::step`:
//     g ← g + wd·w;  b ← μ·b + g (b starts at 0, so the first step sets b = g);
//     d = g + μ·b (Nesterov) or b;  w ← w − lr·d.   Without momentum (μ = 0) d = g.
// Element-wise, one element per thread, 256 threads per workgroup, grid folded into 2-D.

struct SgdParams {
    len: u32,           // elements of w, g and b
    momentum: f32,      // μ
    lr: f32,            // learning rate
    weight_decay: f32,  // wd (coupled, added to the gradient)
    nesterov: u32,      // 1: Nesterov
    _pad0: u32,         // padding to 32 bytes
    _pad1: u32,         // padding
    _pad2: u32,         // padding
}

@group(0) @binding(0) var<uniform> params: SgdParams;        // hyper-parameters
@group(0) @binding(1) var<storage, read_write> w: array<f32>; // parameter, updated in place
@group(0) @binding(2) var<storage, read> g: array<f32>;       // gradient
@group(0) @binding(3) var<storage, read_write> b: array<f32>; // momentum buffer

@compute @workgroup_size(256, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.x + wid.y * nwg.x) * 256u + lid;
    if (i >= params.len) { return; }
    let gi = g[i] + params.weight_decay * w[i];
    var d = gi;
    if (params.momentum > 0.0) {
        let bi = params.momentum * b[i] + gi;
        b[i] = bi;
        d = bi;
        if (params.nesterov == 1u) { d = gi + params.momentum * bi; }
    }
    w[i] = w[i] - params.lr * d;
}
