// The Adam step with vec4 loads and stores (after elementwise.wgsl and adam_step.wgsl): each thread moves whole
// 16-byte words of every array, so the step reads and writes each byte once in as few
// memory instructions as the hardware has. The host binds the first `len − len % 4` (f32
// moments) or `len − len % 8` (16-bit moments) elements here and runs the rest through
// adam_update.wgsl compiled with TAIL_GROUP.
//   main       four elements per thread, f32 moments;
//   main_half  eight elements per thread (one vec4 of moment words), 16-bit moments.
// Every element goes through `adam_element` as in the one-element build: the same bits.

@group(0) @binding(2) var<storage, read> grad: array<vec4<f32>>;         // g, 4 elements each
@group(0) @binding(3) var<storage, read_write> param: array<vec4<f32>>;  // w, 4 elements each
@group(0) @binding(4) var<storage, read_write> m: array<vec4<u32>>;      // first moment, 4 words each
@group(0) @binding(5) var<storage, read_write> v: array<vec4<u32>>;      // second moment, 4 words each

// The four elements q·4 .. q·4 + 3 from their widened moments: writes the weights, returns
// the new moments as (m, v) columns.
fn update4(q: u32, s: vec2<f32>, m_old: vec4<f32>, v_old: vec4<f32>) -> mat2x4<f32> {
    let g = grad[q];
    let w = param[q];
    var w_new: vec4<f32>;
    var m_new: vec4<f32>;
    var v_new: vec4<f32>;
    for (var c = 0u; c < 4u; c++) {
        let r = adam_element(s, g[c], w[c], m_old[c], v_old[c]);
        w_new[c] = r.x;
        m_new[c] = r.y;
        v_new[c] = r.z;
    }
    param[q] = w_new;
    return mat2x4<f32>(m_new, v_new);
}

@compute @workgroup_size(256, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let q = thread_index(wid, nwg, lid);
    if (q >= params.len / 4u || skipped()) { return; }
    let r = update4(q, step_scalars(next_step()), bitcast<vec4<f32>>(m[q]), bitcast<vec4<f32>>(v[q]));
    m[q] = bitcast<vec4<u32>>(r[0]);
    v[q] = bitcast<vec4<u32>>(r[1]);
}

// Widens four 16-bit moments, two words' worth: (low, high) of `w.x`, then of `w.y`.
fn load16_4(w: vec2<u32>) -> vec4<f32> {
    return vec4<f32>(load16(w.x & 0xffffu), load16(w.x >> 16u), load16(w.y & 0xffffu), load16(w.y >> 16u));
}

// The same for second moments (load16_v).
fn load16_v4(w: vec2<u32>) -> vec4<f32> {
    return vec4<f32>(load16_v(w.x & 0xffffu), load16_v(w.x >> 16u), load16_v(w.y & 0xffffu), load16_v(w.y >> 16u));
}

// Rounds four first moments into two words (the inverse of load16_4).
fn store16_4(x: vec4<f32>) -> vec2<u32> {
    return vec2<u32>(store16(x.x) | (store16(x.y) << 16u), store16(x.z) | (store16(x.w) << 16u));
}

// The same for second moments (store16_v).
fn store16_v4(x: vec4<f32>) -> vec2<u32> {
    return vec2<u32>(store16_v(x.x) | (store16_v(x.y) << 16u), store16_v(x.z) | (store16_v(x.w) << 16u));
}

@compute @workgroup_size(256, 1, 1)
fn main_half(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let q = thread_index(wid, nwg, lid);
    if (q >= params.len / 8u || skipped()) { return; }
    let s = step_scalars(next_step());
    let mw = m[q];
    let vw = v[q];
    let lo = update4(2u * q, s, load16_4(mw.xy), load16_v4(vw.xy));
    let hi = update4(2u * q + 1u, s, load16_4(mw.zw), load16_v4(vw.zw));
    m[q] = vec4<u32>(store16_4(lo[0]), store16_4(hi[0]));
    v[q] = vec4<u32>(store16_v4(lo[1]), store16_v4(hi[1]));
}
