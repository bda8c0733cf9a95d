// One Adam/AdamW step, element-wise (muon_core::adam::Adam::step, torch semantics):
//   g ← g + l2·w                     (Adam, coupled L2; l2 = 0 for AdamW)
//   m ← m + (1 − β1)(g − m);  v ← β2·v + (1 − β2)·g²
//   w ← w·decay − step_size · m / (√v / √(1 − β2ᵗ) + eps)      (decay = 1 − lr·wd for AdamW)
// with t = status.steps + 1 and (step_size, √(1 − β2ᵗ)) taken from a table the host filled
// once from muon_core's `Adam::scalars(t)` (bias corrections computed in f64, as the core);
// past the table's end the last entry is used when the table has converged (flag 1), otherwise
// they are computed here in f32.
// A no-op while the parameter's status says its gradient has a NaN/Inf this step.
// One element per thread, 256 threads per workgroup, grid folded into 2-D.

struct AdamParams {
    len: u32,         // number of elements
    table_len: u32,   // entries in `scalars` (t = 1..=table_len)
    converged: u32,   // 1: the table's last entry holds for every later t
    _pad0: u32,       // padding
    lr: f32,          // learning rate (for the f32 fallback)
    beta1: f32,       // β1
    beta2: f32,       // β2
    eps: f32,         // eps
    decay: f32,       // 1 − lr·wd (AdamW) or 1 (Adam)
    l2: f32,          // wd (Adam) or 0 (AdamW)
    _pad1: u32,       // padding to 48 bytes
    _pad2: u32,       // padding to 48 bytes
}

struct Status {
    bad: u32,       // non-zero: this step's gradient holds a NaN/Inf (see check_finite.wgsl)
    skipped: u32,   // not used here
    last_bad: u32,  // not used here
    steps: u32,     // steps applied so far; this step is t = steps + 1
}

@group(0) @binding(0) var<uniform> params: AdamParams;               // hyper-parameters
@group(0) @binding(1) var<storage, read> scalars: array<vec2<f32>>;  // [t−1] = (step_size, √(1 − β2ᵗ))
@group(0) @binding(2) var<storage, read> grad: array<f32>;            // g
@group(0) @binding(3) var<storage, read_write> param: array<f32>;     // w
@group(0) @binding(4) var<storage, read_write> m: array<f32>;         // first moment
@group(0) @binding(5) var<storage, read_write> v: array<f32>;         // second moment
@group(0) @binding(6) var<storage, read> status: Status;              // the parameter's status

fn step_scalars(t: u32) -> vec2<f32> {
    if (t <= params.table_len) { return scalars[t - 1u]; }
    if (params.converged != 0u) { return scalars[params.table_len - 1u]; }
    let tf = f32(t);
    return vec2<f32>(params.lr / (1.0 - pow(params.beta1, tf)), sqrt(1.0 - pow(params.beta2, tf)));
}

@compute @workgroup_size(256, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.x + wid.y * nwg.x) * 256u + lid;
    if (i >= params.len || status.bad != 0u) { return; }
    let s = step_scalars(status.steps + 1u);
    let w = param[i];
    let g = grad[i] + params.l2 * w;
    let mf = m[i] + (1.0 - params.beta1) * (g - m[i]);
    let vf = params.beta2 * v[i] + (1.0 - params.beta2) * g * g;
    m[i] = mf;
    v[i] = vf;
    let denom = sqrt(vf) / s.y + params.eps;
    param[i] = w * params.decay - s.x * (mf / denom);
}
