// One Newton–Schulz polynomial step, given B = b·A + c·A² from gram.wgsl:
//     side = 0 (wide X, A = X·Xᵀ):  X' = a·X + B·X     (B is rows×rows)
//     side = 1 (tall X, A = Xᵀ·X):  X' = a·X + X·B     (B is cols×cols)
// X and X' are rows×cols, row-major f32; X' must be a different buffer from X.
//
// The tiled product of tile_product.wgsl (compiled in front of this file: 64×64 output block
// per 8×8 workgroup, 8×8 per thread, k-slices of 16 through workgroup memory), with
// bounds-checked loads and stores, the block grid folded into 2-D, and the `a·X` term fused
// into the store.

struct NsStepParams {
    rows: u32,  // rows of X
    cols: u32,  // columns of X
    side: u32,  // 0: B multiplies from the left; 1: from the right
    a: f32,     // this iteration's linear coefficient
}

@group(0) @binding(0) var<uniform> params: NsStepParams;     // shape, side, coefficient a
@group(0) @binding(1) var<storage, read> bmat: array<f32>;    // B, square, symmetric
@group(0) @binding(2) var<storage, read> x: array<f32>;       // X, rows×cols
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // X', rows×cols

// Left operand (rows × inner): B when side = 0, X when side = 1.
fn load_left(r: u32, kk: u32, inner: u32) -> f32 {
    if (r >= params.rows || kk >= inner) { return 0.0; }
    if (params.side == 0u) { return bmat[r * inner + kk]; }
    return x[r * params.cols + kk];
}

// Right operand (inner × cols): X when side = 0, B when side = 1.
fn load_right(kk: u32, col: u32, inner: u32) -> f32 {
    if (kk >= inner || col >= params.cols) { return 0.0; }
    if (params.side == 0u) { return x[kk * params.cols + col]; }
    return bmat[kk * params.cols + col];
}

// The inner dimension: rows (side = 0) or cols (side = 1).
fn inner_dim() -> u32 {
    if (params.side != 0u) { return params.cols; }
    return params.rows;
}

// Stages element e of the k-slice at k0 of the left and right operands.
fn stage(k0: u32, row0: u32, col0: u32, e: u32) {
    let inner = inner_dim();
    // Both operands are row-major and untransposed: left reads along k, right along cols.
    let ar = e / TK;
    let ak = e % TK;
    set_l(ak, ar, load_left(row0 + ar, k0 + ak, inner));
    let bk = e / TILE;
    let bc = e % TILE;
    set_r(bk, bc, load_right(k0 + bk, col0 + bc, inner));
}

@compute @workgroup_size(8, 8, 1)
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

    for (var e = 0u; e < PER * PER; e++) {
        let p = block_pos(lid3, e);
        let r = row0 + p.x;
        let col = col0 + p.y;
        if (r >= rows || col >= cols) { continue; }
        let idx = r * cols + col;
        out[idx] = block_value(&acc, e) + params.a * x[idx];
    }
}
