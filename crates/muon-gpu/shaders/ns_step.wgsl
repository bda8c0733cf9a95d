// One Newton–Schulz polynomial step, given B = b·A + c·A² from gram.wgsl:
//     side = 0 (wide X, A = X·Xᵀ):  X' = a·X + B·X     (B is rows×rows)
//     side = 1 (tall X, A = Xᵀ·X):  X' = a·X + X·B     (B is cols×cols)
// X and X' are rows×cols, row-major f32; X' must be a different buffer from X.
//
// The tiled product of tile_product.wgsl (compiled in front of this file: 64×64 or 128×128
// output blocks, 8×8 per thread, k-slices of 16 through workgroup memory), with
// bounds-checked loads and stores, the block grid folded into 2-D, and the `a·X` term fused
// into the store.

struct NsStepParams {
    rows: u32,  // rows of X
    cols: u32,  // columns of X
    side: u32,  // 0: B multiplies from the left; 1: from the right
    a: f32,     // this iteration's linear coefficient
}

@group(0) @binding(0) var<storage, read> params: NsStepParams; // shape, side, coefficient a (storage: see matmul_io.wgsl)
@group(0) @binding(1) var<storage, read> bmat: array<f32>;    // B, square, symmetric
@group(0) @binding(2) var<storage, read> x: array<f32>;       // X, rows×cols
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // X', rows×cols

// The inner dimension: rows (side = 0) or cols (side = 1).
fn inner_dim() -> u32 {
    if (params.side != 0u) { return params.cols; }
    return params.rows;
}

// Both operands are row-major and untransposed: the left (B when side = 0, X when side = 1;
// rows × inner) runs along k, the right (X when side = 0, B when side = 1; inner × cols)
// along its columns.
fn l_along_k() -> bool {
    return true;
}

fn r_along_k() -> bool {
    return false;
}

fn l_run(i: u32, kk: u32) -> Run {
    let inner = inner_dim();
    return run_in(i * inner + kk, i < params.rows, kk, inner);
}

fn r_run(kk: u32, j: u32) -> Run {
    return run_in(kk * params.cols + j, kk < inner_dim(), j, params.cols);
}

fn l_load(index: u32) -> f32 {
    if (params.side == 0u) { return bmat[index]; }
    return x[index];
}

fn r_load(index: u32) -> f32 {
    if (params.side == 0u) { return x[index]; }
    return bmat[index];
}

// The step needs nothing beyond (r, c) to store an output.
struct Epilogue {
    unused: u32,  // (WGSL structs need a member)
}

// X'[r][c] = v + a · X[r][c], inside X' only.
fn store(r: u32, col: u32, v: f32, how: Epilogue) {
    if (r >= params.rows || col >= params.cols) { return; }
    let idx = r * params.cols + col;
    out[idx] = v + params.a * x[idx];
}

@compute @workgroup_size(WG, WG, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid3: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let rows = params.rows;
    let cols = params.cols;
    let tiles_n = (cols + TILE - 1u) / TILE;
    let tiles_m = (rows + TILE - 1u) / TILE;
    let tile = block_index(wid, nwg);
    if (tile >= tiles_m * tiles_n) { return; }
    let row0 = (tile / tiles_n) * TILE;
    let col0 = (tile % tiles_n) * TILE;
    var acc = tile_product(row0, col0, 0u, inner_dim(), lid3, lid);
    store_block(&acc, row0, col0, lid3, Epilogue(0u));
}
