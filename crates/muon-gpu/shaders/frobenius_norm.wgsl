// Frobenius norm ‖X‖_F, scaled so that it never overflows where the true norm does not:
// each thread keeps (s, q) with s = max|x| seen and Σ x² = s²·q (the scaled sum of squares
// of LAPACK's nrm2), so entries up to f32::MAX give a finite s and q ≤ len. Two-level tree
// reduction (core WGSL has no f32 atomics), pairs merged by rescaling to the larger s:
//   `partial_sums`: `num_partials` workgroups (≤ 1024) walk X with a grid stride; each
//                   workgroup reduces its 256 pairs in shared memory and writes
//                   partials[2w], partials[2w + 1] = (s, q);
//   `finish`:       one workgroup reduces the partials the same way and writes
//                   norm = (s·√q, s, √q): ‖X‖_F (inf only if the norm itself exceeds f32),
//                   and its two factors, which ns_normalize.wgsl uses so that a norm beyond
//                   f32 still scales X like the core's f64 norm does.
// Dispatch `partial_sums` with (num_partials, 1, 1) workgroups, then `finish` with (1, 1, 1).

struct NormParams {
    len: u32,           // number of elements of X
    num_partials: u32,  // workgroups of the first pass (1..=1024)
    _pad0: u32,         // padding
    _pad1: u32,         // padding
}

@group(0) @binding(0) var<uniform> params: NormParams;          // length, partial count
@group(0) @binding(1) var<storage, read> x: array<f32>;          // X (any shape, flat)
@group(0) @binding(2) var<storage, read_write> partials: array<f32>; // per-workgroup (s, q) (≥ 2·num_partials)
@group(0) @binding(3) var<storage, read_write> norm: array<f32>;     // (‖X‖_F, s, √q) (output, ≥ 3)

var<workgroup> scales: array<f32, 256>; // one s per thread
var<workgroup> sums: array<f32, 256>;   // its q

// (s, q) of the union of two parts given as (s, q) pairs.
fn merge(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    let s = max(a.x, b.x);
    if (s == 0.0) { return vec2<f32>(0.0, 0.0); }
    let ra = a.x / s;
    let rb = b.x / s;
    return vec2<f32>(s, a.y * ra * ra + b.y * rb * rb);
}

// Tree-reduces the pairs to (scales[0], sums[0]); every thread of the workgroup must call it.
fn reduce_workgroup(lid: u32) {
    for (var h = 128u; h > 0u; h >>= 1u) {
        if (lid < h) {
            let m = merge(vec2<f32>(scales[lid], sums[lid]), vec2<f32>(scales[lid + h], sums[lid + h]));
            scales[lid] = m.x;
            sums[lid] = m.y;
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(256, 1, 1)
fn partial_sums(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    var acc = vec2<f32>(0.0, 0.0);
    let stride = params.num_partials * 256u;
    let first = wid.x * 256u + lid;
    for (var t = 0u; t < trips(first, params.len, stride); t++) {
        let i = first + t * stride;
        acc = merge(acc, vec2<f32>(abs(x[i]), 1.0)); // one element: s = |x|, q = 1
    }
    scales[lid] = acc.x;
    sums[lid] = acc.y;
    workgroupBarrier();
    reduce_workgroup(lid);
    if (lid == 0u) {
        partials[2u * wid.x] = scales[0];
        partials[2u * wid.x + 1u] = sums[0];
    }
}

@compute @workgroup_size(256, 1, 1)
fn finish(@builtin(local_invocation_index) lid: u32) {
    var acc = vec2<f32>(0.0, 0.0);
    for (var t = 0u; t < trips(lid, params.num_partials, 256u); t++) {
        let i = lid + t * 256u;
        acc = merge(acc, vec2<f32>(partials[2u * i], partials[2u * i + 1u]));
    }
    scales[lid] = acc.x;
    sums[lid] = acc.y;
    workgroupBarrier();
    reduce_workgroup(lid);
    if (lid == 0u) {
        let r = sqrt(sums[0]);
        norm[0] = scales[0] * r;
        norm[1] = scales[0];
        norm[2] = r;
    }
}
