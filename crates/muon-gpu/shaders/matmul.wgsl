// Tiled matrix product with a fused epilogue:
//     C = alpha · op(A) · op(B) + beta · D        (row-major f32; op = identity or transpose)
// op(A) is m×k, op(B) is k×n, C and D are m×n. When beta == 0, D is not read (any buffer
// may be bound there). Flag bit 2 (SYMMETRIC, m = n) says op(A)·op(B) is symmetric (a Gram
// product X·Xᵀ, or A·A with A symmetric): only the blocks on and above the diagonal are
// computed, each stored twice (C[r][c], and C[c][r] with D[c][r]).
//
// Tiling: tile_product.wgsl (compiled in front of this file): each workgroup (8×8 or 16×16
// threads, 8×8 outputs each) computes a 64×64 or 128×128 block of C over k-slices of 16;
// this file stages op(A) and op(B) into it (`l_run`, `r_run`: where a run of 4 elements lies
// and how much of it exists) and stores the block (`store`). Every load and store is
// bounds-checked, so any shape works (1×N, N×1, non-multiples of the block); the block grid
// is folded into 2-D so more than 65,535 blocks work.
//
// Split-k (`split_partial`, then `split_reduce`; only these touch `partials`, where the tiled
// path binds a placeholder): a product of few output blocks would leave most of a GPU idle,
// and one over a very long k would have a few workgroups walk all of it, so each (block,
// chunk) workgroup sums one chunk of `params.chunk` terms into partials[chunk·m·n ..]
// (mirrored like `main` for a symmetric product), and a thread per element then adds its
// chunk sums in chunk order and stores alpha · Σ + beta · D (the rule: src/kernels/split_k.rs).
//
// ROUND_F16 (a pipeline constant, default false) rounds every operand to f16 as it is loaded
// (quantizeToF16: f16 subnormals flush to zero), products still accumulating in f32: the
// numerics of the tensor-core kernel (matmul_coop.wgsl) on adapters without one.
//
// Parameters and bindings 0..=4: matmul_io.wgsl, compiled in front of this file (after
// tile_product.wgsl and split_k.wgsl).

@group(0) @binding(5) var<storage, read_write> partials: array<f32>; // split-k only: chunks · m·n sums (split_k.wgsl)

override ROUND_F16: bool = false;

// An operand as the product sees it: itself, or rounded to f16 (see ROUND_F16).
fn operand(v: f32) -> f32 {
    if (ROUND_F16) { return quantizeToF16(v); }
    return v;
}

// L = op(A): A stored m×k runs along k; stored transposed (k×m), along the rows of op(A).
fn l_along_k() -> bool {
    return (params.flags & 1u) == 0u;
}

fn l_run(i: u32, kk: u32) -> Run {
    if (l_along_k()) { return run_in(i * params.k + kk, i < params.m, kk, params.k); }
    return run_in(kk * params.m + i, kk < params.k, i, params.m);
}

fn l_load(index: u32) -> f32 {
    return operand(a[index]);
}

// R = op(B): B stored n×k (transposed) runs along k; stored k×n, along the columns.
fn r_along_k() -> bool {
    return (params.flags & 2u) != 0u;
}

fn r_run(kk: u32, j: u32) -> Run {
    if (r_along_k()) { return run_in(j * params.k + kk, j < params.n, kk, params.k); }
    return run_in(kk * params.n + j, kk < params.k, j, params.n);
}

fn r_load(index: u32) -> f32 {
    return operand(b[index]);
}

// How a block's outputs are stored: mirrored too (a block above the diagonal of a symmetric
// product), and into C with the epilogue (split = false) or into the chunk sums at `base`.
struct Epilogue {
    mirror: bool,  // also store C[c][r] (with D[c][r])
    split: bool,   // store the raw sum into partials (split-k pass 1)
    base: u32,     // split-k: offset of this chunk's sums in partials
}

// C[r][c] = alpha · v + beta · D[r][c] (and C[c][r] = alpha · v + beta · D[c][r] when
// mirrored), or the raw chunk sum v into partials[base ..]; inside C only.
fn store(r: u32, col: u32, v: f32, how: Epilogue) {
    if (r >= params.m || col >= params.n) { return; }
    if (how.split) {
        partials[how.base + r * params.n + col] = v;
        if (how.mirror) { partials[how.base + col * params.n + r] = v; }
        return;
    }
    let w = params.alpha * v;
    let idx = r * params.n + col;
    if (params.beta != 0.0) { c[idx] = w + params.beta * d[idx]; } else { c[idx] = w; }
    if (how.mirror) {
        let t = col * params.n + r;
        if (params.beta != 0.0) { c[t] = w + params.beta * d[t]; } else { c[t] = w; }
    }
}

@compute @workgroup_size(WG, WG, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid3: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let tiles_n = (params.n + TILE - 1u) / TILE;
    let tiles_m = (params.m + TILE - 1u) / TILE;
    let tile = block_index(wid, nwg);
    if (tile >= tiles_m * tiles_n) { return; }
    let bi = tile / tiles_n;
    let bj = tile % tiles_n;
    // A symmetric product: the blocks below the diagonal are mirrored by those above it.
    let symmetric = (params.flags & 4u) != 0u;
    if (symmetric & (bj < bi)) { return; }
    let row0 = bi * TILE;
    let col0 = bj * TILE;
    var acc = tile_product(row0, col0, 0u, params.k, lid3, lid);
    store_block(&acc, row0, col0, lid3, Epilogue(symmetric & (bi != bj), false, 0u));
}

// Split-k, pass 1: workgroup (block, chunk) writes its block's sum over k in
// [chunk·C, min(k, (chunk + 1)·C)) (C = params.chunk) to partials[chunk·m·n ..]; for a
// symmetric product the blocks below the diagonal return at once and those above store
// mirrored, as in `main`. Dispatch tiles · ceil(k / chunk) workgroups (folded into 2-D).
@compute @workgroup_size(WG, WG, 1)
fn split_partial(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid3: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let tiles_n = (params.n + TILE - 1u) / TILE;
    let tiles = ((params.m + TILE - 1u) / TILE) * tiles_n;
    let chunks = chunk_count(params.k, params.chunk);
    let index = block_index(wid, nwg);
    if (index >= tiles * chunks) { return; }
    let chunk = index / tiles;
    let bi = (index % tiles) / tiles_n;
    let bj = (index % tiles) % tiles_n;
    let symmetric = (params.flags & 4u) != 0u;
    if (symmetric & (bj < bi)) { return; }
    let row0 = bi * TILE;
    let col0 = bj * TILE;
    let k_begin = chunk * params.chunk;
    var acc = tile_product(row0, col0, k_begin, min(params.k, k_begin + params.chunk), lid3, lid);
    let base = chunk * params.m * params.n;
    store_block(&acc, row0, col0, lid3, Epilogue(symmetric & (bi != bj), true, base));
}

// Split-k, pass 2: thread e (one per element of C, 256 per workgroup, the grid folded into
// 2-D) adds the element's chunk sums in chunk order and stores alpha · Σ + beta · D.
@compute @workgroup_size(256, 1, 1)
fn split_reduce(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let len = params.m * params.n;
    let e = block_index(wid, nwg) * 256u + lid;
    if (e >= len) { return; }
    let w = params.alpha * chunk_total(e, len, chunk_count(params.k, params.chunk));
    if (params.beta != 0.0) { c[e] = w + params.beta * d[e]; } else { c[e] = w; }
}
