// One Newton–Schulz polynomial step, given B = b·A + c·A² from gram.wgsl:
//     side = 0 (wide X, A = X·Xᵀ):  X' = a·X + B·X     (B is rows×rows)
//     side = 1 (tall X, A = Xᵀ·X):  X' = a·X + X·B     (B is cols×cols)
// X and X' are rows×cols, row-major f32; X' must be a different buffer from X.
//
// The tiled product of tile_product.wgsl (compiled in front of this file: 64×64 or 128×128
// output blocks, 8×8 per thread, k-slices of 16 through workgroup memory), with
// bounds-checked loads and stores, the block grid folded into 2-D, and the `a·X` term fused
// into the store.
//
// Split-k (`split_partial`, then `split_reduce`; only these touch split_k.wgsl's `partials`,
// where the tiled path binds a placeholder): an iterate of few output blocks (a 768² one has 144) would leave
// most of a GPU idle, so each (block, chunk) workgroup sums one chunk of `params.chunk` inner
// terms into partials[chunk·rows·cols ..], and a thread per element then adds its chunk sums
// in chunk order and stores the sum + a·X.

struct NsStepParams {
    rows: u32,   // rows of X
    cols: u32,   // columns of X
    side: u32,   // 0: B multiplies from the left; 1: from the right
    a: f32,      // this iteration's linear coefficient
    chunk: u32,  // split-k: inner terms per chunk, a multiple of TK (0: the tiled kernel)
    _pad0: u32,  // padding to 32 bytes
    _pad1: u32,  // padding to 32 bytes
    _pad2: u32,  // padding to 32 bytes
}

@group(0) @binding(0) var<storage, read> params: NsStepParams; // shape, side, coefficient a (storage: see matmul_io.wgsl)
@group(0) @binding(1) var<storage, read> bmat: array<f32>;    // B, square, symmetric
@group(0) @binding(2) var<storage, read> x: array<f32>;       // X, rows×cols
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // X', rows×cols
@group(0) @binding(4) var<storage, read_write> partials: array<f32>; // split-k only: chunks · rows·cols sums (split_k.wgsl)

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

// How a block's outputs are stored: into X' with the `a·X` term, or (split-k) the raw chunk
// sum into partials at `base`.
struct Epilogue {
    split: bool,  // store the raw sum into partials (split-k pass 1)
    base: u32,    // split-k: offset of this chunk's sums in partials
}

// X'[r][c] = v + a · X[r][c], or partials[base + r·cols + c] = v; inside X' only.
fn store(r: u32, col: u32, v: f32, how: Epilogue) {
    if (r >= params.rows || col >= params.cols) { return; }
    let idx = r * params.cols + col;
    if (how.split) {
        partials[how.base + idx] = v;
        return;
    }
    out[idx] = v + params.a * x[idx];
}

// The number of TILE×TILE output blocks of X'.
fn block_count() -> u32 {
    return ((params.rows + TILE - 1u) / TILE) * ((params.cols + TILE - 1u) / TILE);
}

// The first row and column of output block `tile` (blocks numbered row by row).
fn block_origin(tile: u32) -> vec2<u32> {
    let tiles_n = (params.cols + TILE - 1u) / TILE;
    return vec2<u32>((tile / tiles_n) * TILE, (tile % tiles_n) * TILE);
}

@compute @workgroup_size(WG, WG, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid3: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let tile = block_index(wid, nwg);
    if (tile >= block_count()) { return; }
    let o = block_origin(tile);
    var acc = tile_product(o.x, o.y, 0u, inner_dim(), lid3, lid);
    store_block(&acc, o.x, o.y, lid3, Epilogue(false, 0u));
}

// Split-k, pass 1: workgroup (block, chunk) writes its block's sum over the inner terms
// [chunk·C, min(inner, (chunk + 1)·C)) (C = params.chunk) to partials[chunk·rows·cols ..].
// Dispatch blocks · ceil(inner / chunk) workgroups (folded into 2-D).
@compute @workgroup_size(WG, WG, 1)
fn split_partial(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid3: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let blocks = block_count();
    let inner = inner_dim();
    let chunks = chunk_count(inner, params.chunk);
    let index = block_index(wid, nwg);
    if (index >= blocks * chunks) { return; }
    let chunk = index / blocks;
    let o = block_origin(index % blocks);
    let k_begin = chunk * params.chunk;
    var acc = tile_product(o.x, o.y, k_begin, min(inner, k_begin + params.chunk), lid3, lid);
    store_block(&acc, o.x, o.y, lid3, Epilogue(true, chunk * params.rows * params.cols));
}

// Split-k, pass 2: thread e (one per element of X', 256 per workgroup, the grid folded into
// 2-D) adds the element's chunk sums in chunk order and stores the sum + a·X.
@compute @workgroup_size(256, 1, 1)
fn split_reduce(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let len = params.rows * params.cols;
    let e = block_index(wid, nwg) * 256u + lid;
    if (e >= len) { return; }
    out[e] = chunk_total(e, len, chunk_count(inner_dim(), params.chunk)) + params.a * x[e];
}
