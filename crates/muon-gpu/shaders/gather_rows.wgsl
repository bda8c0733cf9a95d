// Gather rows by index: out[r][c] = src[index[r]][c] for an `rows × cols` output taken from a
// `src_rows × cols` source (both row-major). An index at or past `src_rows` gives a zero row
// (the host cannot check indices that live on the device; a zero row is the harmless reading).
// Element-wise, one element per thread, 256 threads per workgroup, grid folded into 2-D.

struct GatherParams {
    rows: u32,      // rows of out = number of indices
    cols: u32,      // row length of src and out
    src_rows: u32,  // rows of src
    _pad: u32,      // padding to 16 bytes
}

@group(0) @binding(0) var<uniform> params: GatherParams; // shapes
@group(0) @binding(1) var<storage, read> index: array<u32>;        // rows indices into src
@group(0) @binding(2) var<storage, read> src: array<f32>;          // src_rows × cols
@group(0) @binding(3) var<storage, read_write> out: array<f32>;    // rows × cols

@compute @workgroup_size(256, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.x + wid.y * nwg.x) * 256u + lid;
    if (i >= params.rows * params.cols) { return; }
    let r = i / params.cols;
    let c = i - r * params.cols;
    let s = index[r];
    if (s >= params.src_rows) {
        out[i] = 0.0;
    } else {
        out[i] = src[s * params.cols + c];
    }
}
