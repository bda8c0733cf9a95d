// The element-wise halves of a Muon step (muon_core::muon::Muon::step), around Newton–Schulz:
//   `momentum`: B ← B + (1 − μ)(G − B);  U = G + μ(B − G) (Nesterov) or U = B  → written to `update`
//   `apply`:    W ← W·(1 − lr·wd) − lr'·O, with O the Newton–Schulz output in `update`
// B, U and W saturate at ±f32::MAX as the core's do (muon_core's `saturate`): finite gradients
// of any size (±3e38) leave the momentum and the weight finite.
// Both are no-ops while the parameter's status says its gradient has a NaN/Inf this step
// (check_finite.wgsl runs first), so the parameter and the momentum stay untouched.
// One element per thread, 256 threads per workgroup, grid folded into 2-D.

struct MuonParams {
    len: u32,        // number of elements of W, G, B and the update
    nesterov: u32,   // 1: Nesterov, 0: plain momentum
    momentum: f32,   // μ
    decay: f32,      // 1 − lr·weight_decay
    lr: f32,         // adjusted learning rate lr' (muon_core::muon::adjusted_lr)
    _pad0: u32,      // padding
    _pad1: u32,      // padding
    _pad2: u32,      // padding
}

struct Status {
    bad: u32,       // non-zero: this step's gradient holds a NaN/Inf (see check_finite.wgsl)
    skipped: u32,   // not used here
    last_bad: u32,  // not used here
    steps: u32,     // not used here
}

@group(0) @binding(0) var<uniform> params: MuonParams;              // hyper-parameters
@group(0) @binding(1) var<storage, read> grad: array<f32>;           // G
@group(0) @binding(2) var<storage, read_write> mom: array<f32>;      // B, the momentum buffer
@group(0) @binding(3) var<storage, read_write> update: array<f32>;   // U (momentum) / O (apply)
@group(0) @binding(4) var<storage, read_write> param: array<f32>;    // W
@group(0) @binding(5) var<storage, read> status: Status;             // the parameter's status

// The largest finite f32.
const F32_MAX: f32 = 0x1.fffffep+127f;

// x clamped to [−f32::MAX, f32::MAX], written as the core's `x.max(−MAX).min(MAX)`: ±∞ becomes
// ±f32::MAX, finite values keep their bits.
fn saturate_f32(x: f32) -> f32 {
    let lo = select(-F32_MAX, x, x > -F32_MAX);
    return select(F32_MAX, lo, lo < F32_MAX);
}

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256, 1, 1)
fn momentum(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = index(wid, nwg, lid);
    if (i >= params.len || status.bad != 0u) { return; }
    let g = grad[i];
    let mu = params.momentum;
    let b = saturate_f32(mom[i] + (1.0 - mu) * (g - mom[i]));
    mom[i] = b;
    if (params.nesterov != 0u) {
        update[i] = saturate_f32(g + mu * (b - g));
    } else {
        update[i] = b;
    }
}

@compute @workgroup_size(256, 1, 1)
fn apply(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = index(wid, nwg, lid);
    if (i >= params.len || status.bad != 0u) { return; }
    param[i] = saturate_f32(param[i] * params.decay - params.lr * update[i]);
}
