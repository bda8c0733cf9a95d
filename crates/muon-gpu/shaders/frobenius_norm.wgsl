// Frobenius norm ‖X‖_F = sqrt(Σ x²) as a two-level tree reduction (core WGSL has no f32
// atomics):
//   `partial_sums`: `num_partials` workgroups (≤ 1024) walk X with a grid stride; each thread
//                   sums its squares, the workgroup reduces its 256 sums in a shared-memory
//                   tree and writes partials[workgroup];
//   `finish`:       one workgroup reduces the partials the same way and writes norm[0].
// Dispatch `partial_sums` with (num_partials, 1, 1) workgroups, then `finish` with (1, 1, 1).

struct NormParams {
    len: u32,           // number of elements of X
    num_partials: u32,  // workgroups of the first pass (1..=1024)
    _pad0: u32,         // padding
    _pad1: u32,         // padding
}

@group(0) @binding(0) var<uniform> params: NormParams;          // length, partial count
@group(0) @binding(1) var<storage, read> x: array<f32>;          // X (any shape, flat)
@group(0) @binding(2) var<storage, read_write> partials: array<f32>; // per-workgroup Σx² (≥ num_partials)
@group(0) @binding(3) var<storage, read_write> norm: array<f32>;     // norm[0] = ‖X‖_F (output)

var<workgroup> sums: array<f32, 256>; // one partial sum per thread

// Tree-reduces `sums` to sums[0]; every thread of the workgroup must call it.
fn reduce_workgroup(lid: u32) {
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) { sums[lid] += sums[lid + s]; }
        workgroupBarrier();
    }
}

@compute @workgroup_size(256, 1, 1)
fn partial_sums(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    var acc = 0.0;
    let stride = params.num_partials * 256u;
    for (var i = wid.x * 256u + lid; i < params.len; i += stride) {
        let v = x[i];
        acc += v * v;
    }
    sums[lid] = acc;
    workgroupBarrier();
    reduce_workgroup(lid);
    if (lid == 0u) { partials[wid.x] = sums[0]; }
}

@compute @workgroup_size(256, 1, 1)
fn finish(@builtin(local_invocation_index) lid: u32) {
    var acc = 0.0;
    for (var i = lid; i < params.num_partials; i += 256u) {
        acc += partials[i];
    }
    sums[lid] = acc;
    workgroupBarrier();
    reduce_workgroup(lid);
    if (lid == 0u) { norm[0] = sqrt(sums[0]); }
}
