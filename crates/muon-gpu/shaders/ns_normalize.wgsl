// Newton–Schulz input scaling, in place: X ← s·X with s computed from ‖X‖_F (written by
// frobenius_norm.wgsl) exactly as muon_core's `NsConfig::input_scale`:
//     f = norm_scale·‖X‖_F;  s = 0 if ‖X‖_F = 0, else 1 / max(f, eps)   (mode 0, ClampMax)
//                                                  or 1 / (f + eps)      (mode 1, AddEps)
// The zero matrix therefore stays zero (and Newton–Schulz returns zero). ‖X‖_F comes as its
// factors s·√q (frobenius_norm.wgsl): when norm_scale·‖X‖_F exceeds f32 (entries near
// f32::MAX), eps no longer matters and s = (1/s)·(1/(norm_scale·√q)), as the core's f64 norm
// gives, instead of 1/inf = 0.
// Element-wise, one element per thread, 256 threads per workgroup, grid folded into 2-D.

struct NormalizeParams {
    len: u32,         // number of elements of X
    mode: u32,        // 0: ClampMax, 1: AddEps
    eps: f32,         // NsConfig::eps
    norm_scale: f32,  // NsConfig::norm_scale
}

@group(0) @binding(0) var<uniform> params: NormalizeParams; // length and normalisation rule
@group(0) @binding(1) var<storage, read> norm: array<f32>;   // (‖X‖_F, s, √q): ‖X‖_F = s·√q
@group(0) @binding(2) var<storage, read_write> x: array<f32>; // X, scaled in place

const F32_MAX: f32 = 3.40282347e38;

fn input_scale(s: f32, r: f32) -> f32 {
    if (s == 0.0) { return 0.0; }
    let scaled = params.norm_scale * s * r;
    if (!(scaled <= F32_MAX)) { return (1.0 / s) * (1.0 / (params.norm_scale * r)); }
    var denom = scaled + params.eps;
    if (params.mode == 0u) { denom = max(scaled, params.eps); }
    if (denom > 0.0) { return 1.0 / denom; }
    return 0.0;
}

@compute @workgroup_size(256, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.x + wid.y * nwg.x) * 256u + lid;
    if (i >= params.len) { return; }
    x[i] = x[i] * input_scale(norm[1], norm[2]);
}
