// The Adam step with one f32 per array element (after elementwise.wgsl and adam_step.wgsl):
// every element where the vec4 build cannot be used (a matrix shorter than one vec4 group, or
// at an offset not a multiple of 16 bytes), or, compiled with TAIL_GROUP set, the last
// elements the vec4 build leaves.
//   main       one element per thread, f32 moments;
//   main_half  two elements per thread (one moment word), 16-bit moments.

@group(0) @binding(2) var<storage, read> grad: array<f32>;            // g
@group(0) @binding(3) var<storage, read_write> param: array<f32>;     // w
@group(0) @binding(4) var<storage, read_write> m: array<u32>;         // first moment (see the formats)
@group(0) @binding(5) var<storage, read_write> v: array<u32>;         // second moment (see the formats)

// Steps element i from its widened moments; writes the weight, returns the new (m, v).
fn update(i: u32, s: vec2<f32>, m_old: f32, v_old: f32) -> vec2<f32> {
    let r = adam_element(s, grad[i], param[i], m_old, v_old);
    param[i] = r.x;
    return r.yz;
}

// Element i with f32 moments.
fn step_f32(i: u32) {
    if (i >= params.len || skipped()) { return; }
    let r = update(i, step_scalars(next_step()), bitcast<f32>(m[i]), bitcast<f32>(v[i]));
    m[i] = bitcast<u32>(r.x);
    v[i] = bitcast<u32>(r.y);
}

// Elements 2k and 2k + 1 (where it exists) with 16-bit moments: moment word k.
fn step_half(k: u32) {
    let i = 2u * k;
    if (i >= params.len || skipped()) { return; }
    let s = step_scalars(next_step());
    let mw = m[k];
    let vw = v[k];
    let lo = update(i, s, load16(mw & 0xffffu), load16_v(vw & 0xffffu));
    var m_hi = mw >> 16u;
    var v_hi = vw >> 16u;
    if (i + 1u < params.len) {
        let hi = update(i + 1u, s, load16(m_hi), load16_v(v_hi));
        m_hi = store16(hi.x);
        v_hi = store16_v(hi.y);
    }
    m[k] = store16(lo.x) | (m_hi << 16u);
    v[k] = store16_v(lo.y) | (v_hi << 16u);
}

@compute @workgroup_size(256, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    step_f32(first_element() + thread_index(wid, nwg, lid));
}

@compute @workgroup_size(256, 1, 1)
fn main_half(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // TAIL_GROUP is even, so the first element starts a moment word.
    step_half(first_element() / 2u + thread_index(wid, nwg, lid));
}
