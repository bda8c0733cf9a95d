// One Adam/AdamW step, element-wise (muon_core::adam::Adam::step, torch semantics):
//   g ← g + l2·w                     (Adam, coupled L2; l2 = 0 for AdamW)
//   m ← m + (1 − β1)(g − m);  v ← β2·v + (1 − β2)·g²   (both saturated, see below)
//   w ← w·decay − step_size · m / (√v / √(1 − β2ᵗ) + eps)      (decay = 1 − lr·wd for AdamW)
// with t = status.steps + 1, step_size = lr · (1/(1 − β1ᵗ)) and (1/(1 − β1ᵗ), √(1 − β2ᵗ)) taken from a table the host filled
// once from muon_core's `Adam::scalars(t)` (bias corrections computed in f64, as the core);
// past the table's end the last entry is used when the table has converged (flag 1), otherwise
// they are computed here in f32.
// A no-op while the parameter's status says its gradient has a NaN/Inf this step.
//
// This file is the part both builds share: the uniforms, the table, the status, the moment
// formats and the arithmetic of one element (`adam_element`). `adam_update.wgsl` (one f32
// per array element) and `adam_update_vec4.wgsl` (vec4 loads and stores) follow it, each
// with its own view of the gradient, the parameter and the moments (bindings 2–5); both run
// every element through `adam_element`, so they store the same bits.
//
// The moments are stored as u32 words in one of three formats:
//   f32        one f32 per word (bit-cast);
//   16-bit     two 16-bit values per word, element 2k in the low half and 2k + 1 in the high
//              half: IEEE binary16 (format 1) or bfloat16 (format 2).
// Arithmetic is always f32; the 16-bit formats are widened exactly and rounded to nearest,
// ties to even, with integer operations (not pack2x16float, whose rounding WGSL leaves to the
// implementation), so every adapter stores the same bits as muon_core's MomentStorage.
// Nothing overflows (muon_core's MomentStorage): m and v saturate at ±f32::MAX in the step's
// arithmetic and at the format's largest finite value when stored; binary16 stores √v
// (decoded as r·r, exact), whose range is the gradient's rather than its square's.
// 256 threads per workgroup, grid folded into 2-D.

struct AdamParams {
    len: u32,         // number of elements
    table_len: u32,   // entries in `scalars` (t = 1..=table_len)
    converged: u32,   // 1: the table's last entry holds for every later t
    format: u32,      // moment storage: 0 f32, 1 binary16, 2 bfloat16
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
    bad: u32,       // non-zero: this step's gradient holds a NaN/Inf (see check_status.wgsl)
    skipped: u32,   // not used here
    last_bad: u32,  // not used here
    steps: u32,     // steps applied so far; this step is t = steps + 1
}

@group(0) @binding(0) var<uniform> params: AdamParams;               // hyper-parameters
@group(0) @binding(1) var<storage, read> scalars: array<vec2<f32>>;  // [t−1] = (1/(1 − β1ᵗ), √(1 − β2ᵗ))
@group(0) @binding(6) var<storage, read> status: Status;              // the parameter's status

// This step's t: steps + 1, saturating at u32::MAX like muon-core's count (a restored
// checkpoint may hold the core's saturated count).
fn next_step() -> u32 {
    if (status.steps == 0xffffffffu) { return status.steps; }
    return status.steps + 1u;
}

// (step_size, √(1 − β2ᵗ)) of step t, step_size = lr · (1 / (1 − β1ᵗ)): one f32 product,
// correctly rounded in WGSL as in muon_core's `Adam::scalars`, with lr from the uniforms, so a
// learning-rate schedule is a uniform write and the table never changes.
fn step_scalars(t: u32) -> vec2<f32> {
    var e: vec2<f32>;
    if (t <= params.table_len) {
        e = scalars[t - 1u];
    } else if (params.converged != 0u) {
        e = scalars[params.table_len - 1u];
    } else {
        let tf = f32(t);
        e = vec2<f32>(1.0 / (1.0 - pow(params.beta1, tf)), sqrt(1.0 - pow(params.beta2, tf)));
    }
    return vec2<f32>(below(params.lr * e.x, F32_MAX), e.y);
}

// Binary16 bits (low 16 bits of `h`) to f32, exactly (subnormals included).
fn f16_to_f32(h: u32) -> f32 {
    let sign = (h & 0x8000u) << 16u;
    let e = (h >> 10u) & 0x1fu;
    let mant = h & 0x3ffu;
    if (e == 0x1fu) { return bitcast<f32>(sign | 0x7f800000u | (mant << 13u)); }
    if (e == 0u) {
        // Subnormal: mant · 2⁻²⁴, a normal f32.
        let mag = f32(mant) * 5.9604644775390625e-8;
        return select(mag, -mag, sign != 0u);
    }
    return bitcast<f32>(sign | ((e + 112u) << 23u) | (mant << 13u));
}

// f32 to binary16 bits, round to nearest even, saturating: beyond ±65504 (an infinity
// included) to ±65504; NaN stays NaN.
fn f32_to_f16(x: f32) -> u32 {
    let b = bitcast<u32>(x);
    let sign = (b >> 16u) & 0x8000u;
    let a = b & 0x7fffffffu;
    if (a > 0x7f800000u) { return sign | 0x7e00u | ((a >> 13u) & 0x3ffu); }
    if (a >= 0x477ff000u) { return sign | 0x7bffu; }   // |x| ≥ 65520 would round to inf
    if (a >= 0x38800000u) {                             // |x| ≥ 2⁻¹⁴: normal
        let r = a + 0x0fffu + ((a >> 13u) & 1u);
        return sign | ((r - 0x38000000u) >> 13u);
    }
    let e = a >> 23u;
    if (e < 102u) { return sign; }                      // |x| < 2⁻²⁵ rounds to 0
    // Subnormal: the 24-bit significand in units of 2⁻²⁴, shifted by 126 − e ∈ [14, 24].
    let mant = (a & 0x7fffffu) | 0x800000u;
    let shift = 126u - e;
    let q = mant >> shift;
    let rem = mant & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    let up = rem > half || (rem == half && (q & 1u) == 1u);
    return sign | (q + select(0u, 1u, up));
}

// bfloat16 bits (low 16 bits of `h`) to f32, exactly.
fn bf16_to_f32(h: u32) -> f32 {
    return bitcast<f32>(h << 16u);
}

// f32 to bfloat16 bits, round to nearest even, saturating: what would round to ±inf (an
// infinity included) gives ±bf16::MAX (0x7f7f); NaN stays NaN (quiet).
fn f32_to_bf16(x: f32) -> u32 {
    let b = bitcast<u32>(x);
    if ((b & 0x7fffffffu) > 0x7f800000u) { return (b >> 16u) | 0x40u; }
    let h = (b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u;
    if ((h & 0x7fffu) == 0x7f80u) { return (h & 0x8000u) | 0x7f7fu; }
    return h;
}

// The largest finite f32: the moments saturate there (muon_core's `saturate`).
const F32_MAX: f32 = 0x1.fffffep+127f;

// `x < b ? x : b` and `x > b ? x : b`, as the core writes them (a NaN becomes the bound).
fn below(x: f32, b: f32) -> f32 { return select(b, x, x < b); }
fn above(x: f32, b: f32) -> f32 { return select(b, x, x > b); }

// One element's step from its gradient g, weight w and widened moments, with this step's
// scalars s = (step_size, √(1 − β2ᵗ)): the new (w, m, v).
fn adam_element(s: vec2<f32>, g_in: f32, w: f32, m_old: f32, v_old: f32) -> vec3<f32> {
    let g = g_in + params.l2 * w;
    let mf = above(below(m_old + (1.0 - params.beta1) * (g - m_old), F32_MAX), -F32_MAX);
    let vf = below(above(params.beta2 * v_old + (1.0 - params.beta2) * g * g, 0.0), F32_MAX);
    let denom = sqrt(vf) / s.y + params.eps;
    // As muon_core: the ratio saturates, and an element whose denominator is 0 (eps = 0 and
    // v = 0) is not moved (0/0 would be NaN); the weight saturates.
    let ratio = select(0.0, above(below(mf / denom, F32_MAX), -F32_MAX), denom > 0.0);
    let wf = above(below(w * params.decay - s.x * ratio, F32_MAX), -F32_MAX);
    return vec3<f32>(wf, mf, vf);
}

// Widens a 16-bit moment in the format `params.format` names (1: binary16, 2: bfloat16).
fn load16(h: u32) -> f32 {
    if (params.format == 1u) { return f16_to_f32(h); }
    return bf16_to_f32(h);
}

// Rounds a moment to the 16-bit format `params.format` names.
fn store16(x: f32) -> u32 {
    if (params.format == 1u) { return f32_to_f16(x); }
    return f32_to_bf16(x);
}

// The second moment v a stored 16-bit value encodes: binary16 holds r = √v.
fn load16_v(h: u32) -> f32 {
    if (params.format == 1u) {
        let r = f16_to_f32(h);
        return r * r;
    }
    return bf16_to_f32(h);
}

// Encodes a second moment v ≥ 0 in the 16-bit format: binary16 stores √v.
fn store16_v(v: f32) -> u32 {
    if (params.format == 1u) { return f32_to_f16(sqrt(v)); }
    return f32_to_bf16(v);
}

// Whether this step is skipped: its gradient holds a NaN/Inf (check_status.wgsl).
fn skipped() -> bool {
    return status.bad != 0u;
}
