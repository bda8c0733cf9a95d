// The element-wise halves of a Muon step (muon_core::muon::Muon::step), around Newton–Schulz:
//   `momentum`: B ← B + (1 − μ)(G − B);  U = G + μ(B − G) (Nesterov) or U = B  → written to `update`
//   `apply`:    W ← W·(1 − lr·wd) − lr'·O, with O the Newton–Schulz output in `update`
// B, U and W saturate at ±f32::MAX as the core's do (muon_core's `saturate`): finite gradients
// of any size (±3e38) leave the momentum and the weight finite.
// Both are no-ops while the parameter's status says its gradient has a NaN/Inf this step
// (check_status.wgsl runs first), so the parameter and the momentum stay untouched.
//
// This file is the part both builds share: the uniforms, the status and the arithmetic of one
// element. `muon_update.wgsl` (one f32 per array element) and `muon_update_vec4.wgsl` (vec4
// loads and stores) follow it with their views of G, B, U and W (bindings 1–4); both run
// every element through `momentum_element` and `apply_element`, so they store the same bits.
// 256 threads per workgroup, grid folded into 2-D.

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
    bad: u32,       // non-zero: this step's gradient holds a NaN/Inf (see check_status.wgsl)
    skipped: u32,   // not used here
    last_bad: u32,  // not used here
    steps: u32,     // not used here
}

@group(0) @binding(0) var<uniform> params: MuonParams;              // hyper-parameters
@group(0) @binding(5) var<storage, read> status: Status;             // the parameter's status

// The largest finite f32.
const F32_MAX: f32 = 0x1.fffffep+127f;

// x clamped to [−f32::MAX, f32::MAX], written as the core's `x.max(−MAX).min(MAX)`: ±∞ becomes
// ±f32::MAX, finite values keep their bits.
fn saturate_f32(x: f32) -> f32 {
    let lo = select(-F32_MAX, x, x > -F32_MAX);
    return select(F32_MAX, lo, lo < F32_MAX);
}

// One element's momentum half from its gradient g and momentum b: the new (B, U).
fn momentum_element(g: f32, b_old: f32) -> vec2<f32> {
    let mu = params.momentum;
    let b = saturate_f32(b_old + (1.0 - mu) * (g - b_old));
    if (params.nesterov != 0u) {
        return vec2<f32>(b, saturate_f32(g + mu * (b - g)));
    }
    return vec2<f32>(b, b);
}

// One element's apply half: the new W from W and the orthogonalised update O.
fn apply_element(w: f32, o: f32) -> f32 {
    return saturate_f32(w * params.decay - params.lr * o);
}

// Whether this step is skipped: its gradient holds a NaN/Inf (check_status.wgsl).
fn skipped() -> bool {
    return status.bad != 0u;
}
