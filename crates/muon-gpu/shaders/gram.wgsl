// Symmetric Gram product with a fused epilogue:
//     G = alpha · X·Xᵀ + beta · D     (trans = 0: X is m×k)
//     G = alpha · Xᵀ·X + beta · D     (trans = 1: X is k×m)
// G and D are m×m, row-major f32. When beta == 0, D is not read.
//
// Newton–Schulz uses it twice per iteration: A = X·Xᵀ (or XᵀX for tall X), then the
// polynomial part B = c·A·Aᵀ + b·A (A is symmetric, so A·Aᵀ = A²).
//
// G is symmetric, so only the TILE×TILE blocks on or above the diagonal are computed; each
// off-diagonal block is written twice (G[i][j] and G[j][i]). Workgroups that land below the
// diagonal return at once. Tiling: tile_product.wgsl (compiled in front of this file; 64×64
// or 128×128 blocks, 8×8 per thread, k-slices of 16 through workgroup memory; both of its
// operands are op(X) here; split-k always in 64×64); all loads and stores are bounds-checked;
// the block grid is folded into 2-D so it may exceed 65,535 blocks.
//
// Split-k (`split_partial`, then `split_reduce` or `split_reduce_flat`; only these write
// split_k.wgsl's `partials`, where the tiled path binds a placeholder: one `store` serves
// both): with few output blocks (a 1×N vector's Gram is one block of one element;
// a 768² Gram has 78 blocks on and above the diagonal), `main` would leave most of a GPU idle
// and walk all of k in a few workgroups. Instead each (block, chunk) workgroup sums one chunk of
// `params.chunk` terms (partials[chunk·m·m ..]), and a second pass sums each element's chunk
// sums and applies the epilogue: a 256-thread tree per element for orders ≤ 64 (many chunks),
// a thread per element above (at most a few thousand chunks: the host bounds the scratch). No
// invocation loops over more than one chunk of k, so the product also stays under lavapipe's
// per-invocation loop cap when the chunks do.

struct GramParams {
    m: u32,      // order of G (rows of X, or columns when trans = 1)
    k: u32,      // inner dimension
    trans: u32,  // 0: G = X·Xᵀ with X m×k; 1: G = Xᵀ·X with X k×m
    chunk: u32,  // split-k: inner terms per chunk, a multiple of TK (0: the tiled kernel)
    alpha: f32,  // scale of the product
    beta: f32,   // scale of D (0: D is ignored)
    _pad1: u32,  // padding to 32 bytes
    _pad2: u32,  // padding to 32 bytes
}

@group(0) @binding(0) var<storage, read> params: GramParams; // shape, orientation, alpha, beta (storage: see matmul_io.wgsl)
@group(0) @binding(1) var<storage, read> x: array<f32>;     // X
@group(0) @binding(2) var<storage, read> d: array<f32>;     // D, m×m (read only if beta != 0)
@group(0) @binding(3) var<storage, read_write> g: array<f32>; // G, m×m (output)
@group(0) @binding(4) var<storage, read_write> partials: array<f32>; // split-k only: chunks · m² sums (split_k.wgsl)

// L = op(X) (m×k) and R = op(X)ᵀ. X stored m×k (trans = 0) runs along k in both; stored k×m,
// along the rows of op(X), which are the columns of R.
fn l_along_k() -> bool {
    return params.trans == 0u;
}

fn r_along_k() -> bool {
    return l_along_k();
}

// Where op(X)[r][kk] is and how much of the run from it exists.
fn x_run(r: u32, kk: u32) -> Run {
    if (params.trans == 0u) { return run_in(r * params.k + kk, r < params.m, kk, params.k); }
    return run_in(kk * params.m + r, kk < params.k, r, params.m);
}

fn l_run(i: u32, kk: u32) -> Run {
    return x_run(i, kk);
}

fn r_run(kk: u32, j: u32) -> Run {
    return x_run(j, kk);
}

fn l_load(index: u32) -> f32 {
    return x[index];
}

fn r_load(index: u32) -> f32 {
    return x[index];
}

// How a block's outputs are stored: mirrored below the diagonal (an off-diagonal block), and
// into G with the epilogue (split = false) or into the chunk sums at `base` (split-k).
struct Epilogue {
    mirror: bool,  // also store G[c][r] (a block above the diagonal)
    split: bool,   // store the raw sum into partials (split-k pass 1)
    base: u32,     // split-k: offset of this chunk's sums in partials
}

// G[r][c] (and G[c][r] when mirrored) = alpha · v + beta · D, or the raw chunk sum v into
// partials[base ..]; inside G only.
fn store(r: u32, col: u32, v: f32, how: Epilogue) {
    let m = params.m;
    if (r >= m || col >= m) { return; }
    let upper = r * m + col;
    let lower = col * m + r;
    if (how.split) {
        partials[how.base + upper] = v;
        if (how.mirror) { partials[how.base + lower] = v; }
        return;
    }
    let w = params.alpha * v;
    if (params.beta != 0.0) { g[upper] = w + params.beta * d[upper]; } else { g[upper] = w; }
    if (how.mirror) {
        if (params.beta != 0.0) { g[lower] = w + params.beta * d[lower]; } else { g[lower] = w; }
    }
}

@compute @workgroup_size(WG, WG, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid3: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let tiles = (params.m + TILE - 1u) / TILE;
    let tile = block_index(wid, nwg);
    if (tile >= tiles * tiles) { return; }
    let bi = tile / tiles;
    let bj = tile % tiles;
    if (bj < bi) { return; } // lower triangle: mirrored by block (bj, bi)
    let row0 = bi * TILE;
    let col0 = bj * TILE;
    var acc = tile_product(row0, col0, 0u, params.k, lid3, lid);
    store_block(&acc, row0, col0, lid3, Epilogue(bi != bj, false, 0u));
}

// Split-k, pass 1: workgroup (block, chunk) writes its block's sum over k in
// [chunk·C, min(k, (chunk + 1)·C)) (C = params.chunk) to partials[chunk·m·m ..], mirrored
// like `main`. Only the blocks on and above the diagonal have a workgroup: T = t(t + 1)/2 of
// them for t = ⌈m/TILE⌉, numbered row by row (the host splits only orders with t ≤ 31).
// Dispatch T · ceil(k / chunk) workgroups (folded into 2-D).
@compute @workgroup_size(WG, WG, 1)
fn split_partial(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid3: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let m = params.m;
    let tiles = (m + TILE - 1u) / TILE;
    let blocks = tiles * (tiles + 1u) / 2u;
    let chunks = chunk_count(params.k, params.chunk);
    let index = block_index(wid, nwg);
    if (index >= blocks * chunks) { return; }
    let chunk = index / blocks;
    // Block row bi holds tiles − bi blocks (bj = bi .. tiles − 1).
    var bi = 0u;
    var rest = index % blocks;
    for (var row = 0u; row < tiles; row++) {
        if (rest < tiles - row) { break; }
        rest -= tiles - row;
        bi = row + 1u;
    }
    let bj = bi + rest;
    let row0 = bi * TILE;
    let col0 = bj * TILE;
    let k_begin = chunk * params.chunk;
    var acc = tile_product(row0, col0, k_begin, min(params.k, k_begin + params.chunk), lid3, lid);
    store_block(&acc, row0, col0, lid3, Epilogue(bi != bj, true, chunk * m * m));
}

var<workgroup> sums: array<f32, 256>; // split_reduce: one partial sum per thread

// Split-k's epilogue: element e (flat, of G) = alpha · Σ + beta · D.
fn finish(e: u32, sum: f32) {
    var v = params.alpha * sum;
    if (params.beta != 0.0) { v += params.beta * d[e]; }
    g[e] = v;
}

// Split-k, pass 2 for orders ≤ 64: workgroup e (one per element of G, m² of them, folded into
// 2-D) sums the element's chunk sums (thread t takes chunks t, t + 256, …, then a tree) and
// stores alpha · Σ + beta · D.
@compute @workgroup_size(256, 1, 1)
fn split_reduce(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let m = params.m;
    let e = block_index(wid, nwg);
    if (e >= m * m) { return; }
    let chunks = chunk_count(params.k, params.chunk);
    var acc = 0.0;
    for (var t = 0u; t < trips(lid, chunks, 256u); t++) {
        acc += partials[(lid + t * 256u) * m * m + e];
    }
    sums[lid] = acc;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) { sums[lid] += sums[lid + s]; }
        workgroupBarrier();
    }
    if (lid == 0u) { finish(e, sums[0]); }
}

// Split-k, pass 2 for orders > 64: thread e (one per element of G, 256 per workgroup, the grid
// folded into 2-D) sums the element's chunk sums in chunk order and stores alpha · Σ + beta · D.
@compute @workgroup_size(256, 1, 1)
fn split_reduce_flat(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let m = params.m;
    let e = block_index(wid, nwg) * 256u + lid;
    if (e >= m * m) { return; }
    finish(e, chunk_total(e, m * m, chunk_count(params.k, params.chunk)));
}
