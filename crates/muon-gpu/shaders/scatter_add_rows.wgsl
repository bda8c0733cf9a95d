// Scatter-add rows by index (the backward pass of a row gather / embedding lookup):
//     out[c][k] = Σ_{j : index[j] = c} src[j][k]     for every row c of out,
// summed in j order; rows no index names are zero, indices at or past `out_rows` are ignored.
// One thread per output element walks the `rows` indices (deterministic, no atomics), so the
// cost is out_rows · cols · rows; 256 threads per workgroup, grid folded into 2-D.

struct ScatterParams {
    rows: u32,      // rows of src = number of indices
    cols: u32,      // row length of src and out
    out_rows: u32,  // rows of out
    _pad: u32,      // padding to 16 bytes
}

@group(0) @binding(0) var<uniform> params: ScatterParams;       // shapes
@group(0) @binding(1) var<storage, read> index: array<u32>;      // rows indices into out
@group(0) @binding(2) var<storage, read> src: array<f32>;        // rows × cols
@group(0) @binding(3) var<storage, read_write> out: array<f32>;  // out_rows × cols

@compute @workgroup_size(256, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.x + wid.y * nwg.x) * 256u + lid;
    if (i >= params.out_rows * params.cols) { return; }
    let c = i / params.cols;
    let k = i - c * params.cols;
    var sum = 0.0;
    for (var j = 0u; j < params.rows; j++) {
        if (index[j] == c) { sum += src[j * params.cols + k]; }
    }
    out[i] = sum;
}
