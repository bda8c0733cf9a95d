// Symmetric Gram product with a fused epilogue:
//     G = alpha · X·Xᵀ + beta · D     (trans = 0: X is m×k)
//     G = alpha · Xᵀ·X + beta · D     (trans = 1: X is k×m)
// G and D are m×m, row-major f32. When beta == 0, D is not read.
//
// Newton–Schulz uses it twice per iteration: A = X·Xᵀ (or XᵀX for tall X), then the
// polynomial part B = c·A·Aᵀ + b·A (A is symmetric, so A·Aᵀ = A²).
//
// G is symmetric, so only the 64×64 blocks on or above the diagonal are computed; each
// off-diagonal block is written twice (G[i][j] and G[j][i]). Workgroups that land below the
// diagonal return at once. Tiling: tile_product.wgsl (compiled in front of this file; 8×8
// threads, 8×8 per thread, k-slices of 16 through workgroup memory); all loads and stores are
// bounds-checked; the block grid is folded into 2-D so it may exceed 65,535 blocks.
//
// Split-k (`split_partial`, then `split_reduce`; binding 4 is used by these only): for a long
// inner dimension and few output blocks (a 1×N vector's Gram is one block of one element),
// `main` would walk all of k in a single workgroup. Instead each (block, chunk) workgroup sums
// one chunk of KC = 4096 (partials[chunk·m·m ..]), and one 256-thread workgroup per element of
// G then tree-reduces that element's chunk sums and applies the epilogue. No invocation loops
// over more than KC of k, so the product also stays under lavapipe's per-invocation loop cap.

struct GramParams {
    m: u32,      // order of G (rows of X, or columns when trans = 1)
    k: u32,      // inner dimension
    trans: u32,  // 0: G = X·Xᵀ with X m×k; 1: G = Xᵀ·X with X k×m
    _pad0: u32,  // padding
    alpha: f32,  // scale of the product
    beta: f32,   // scale of D (0: D is ignored)
    _pad1: u32,  // padding to 32 bytes
    _pad2: u32,  // padding to 32 bytes
}

@group(0) @binding(0) var<uniform> params: GramParams;     // shape, orientation, alpha, beta
@group(0) @binding(1) var<storage, read> x: array<f32>;     // X
@group(0) @binding(2) var<storage, read> d: array<f32>;     // D, m×m (read only if beta != 0)
@group(0) @binding(3) var<storage, read_write> g: array<f32>; // G, m×m (output)
@group(0) @binding(4) var<storage, read_write> partials: array<f32>; // split-k only: chunks·m·m sums

const KC: u32 = 4096u; // split-k: inner dimension per chunk (a multiple of TK)

// Element (r, kk) of op(X) (op(X) = X or Xᵀ, m×k), zero outside.
fn load_x(r: u32, kk: u32) -> f32 {
    if (r >= params.m || kk >= params.k) { return 0.0; }
    if (params.trans != 0u) { return x[kk * params.m + r]; }
    return x[r * params.k + kk];
}

// Stages element e of the k-slice at k0: L = op(X) (rows row0..) and R = op(X)ᵀ (columns
// col0.. of R are rows col0.. of op(X)).
fn stage(k0: u32, row0: u32, col0: u32, e: u32) {
    var r: u32; var kk: u32;
    if (params.trans != 0u) { kk = e / TILE; r = e % TILE; } else { r = e / TK; kk = e % TK; }
    set_l(kk, r, load_x(row0 + r, k0 + kk));
    set_r(kk, r, load_x(col0 + r, k0 + kk));
}

@compute @workgroup_size(8, 8, 1)
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

    let m = params.m;
    for (var e = 0u; e < PER * PER; e++) {
        let p = block_pos(lid3, e);
        let r = row0 + p.x;
        let col = col0 + p.y;
        if (r >= m || col >= m) { continue; }
        let v = params.alpha * block_value(&acc, e);
        let upper = r * m + col;
        var w = v;
        if (params.beta != 0.0) { w += params.beta * d[upper]; }
        g[upper] = w;
        if (bi != bj) {
            let lower = col * m + r;
            var w2 = v;
            if (params.beta != 0.0) { w2 += params.beta * d[lower]; }
            g[lower] = w2;
        }
    }
}

// Split-k, pass 1: workgroup (block, chunk) writes its block's sum over k in
// [chunk·KC, min(k, (chunk + 1)·KC)) to partials[chunk·m·m ..], mirrored like `main`.
// Dispatch blocks² · ceil(k / KC) workgroups (folded into 2-D).
@compute @workgroup_size(8, 8, 1)
fn split_partial(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid3: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let m = params.m;
    let tiles = (m + TILE - 1u) / TILE;
    let chunks = (params.k + KC - 1u) / KC;
    let index = block_index(wid, nwg);
    if (index >= tiles * tiles * chunks) { return; }
    let chunk = index / (tiles * tiles);
    let bi = (index % (tiles * tiles)) / tiles;
    let bj = index % tiles;
    if (bj < bi) { return; } // lower triangle: mirrored by block (bj, bi)
    let row0 = bi * TILE;
    let col0 = bj * TILE;
    let k_begin = chunk * KC;
    var acc = tile_product(row0, col0, k_begin, min(params.k, k_begin + KC), lid3, lid);

    let base = chunk * m * m;
    for (var e = 0u; e < PER * PER; e++) {
        let p = block_pos(lid3, e);
        let r = row0 + p.x;
        let col = col0 + p.y;
        if (r >= m || col >= m) { continue; }
        let v = block_value(&acc, e);
        partials[base + r * m + col] = v;
        if (bi != bj) { partials[base + col * m + r] = v; }
    }
}

var<workgroup> sums: array<f32, 256>; // split_reduce: one partial sum per thread

// Split-k, pass 2: workgroup e (one per element of G, m² of them, folded into 2-D) sums the
// element's ceil(k / KC) chunk sums (thread t takes chunks t, t + 256, …, then a tree) and
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
    let chunks = (params.k + KC - 1u) / KC;
    var acc = 0.0;
    for (var c = lid; c < chunks; c += 256u) {
        acc += partials[c * m * m + e];
    }
    sums[lid] = acc;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) { sums[lid] += sums[lid + s]; }
        workgroupBarrier();
    }
    if (lid == 0u) {
        var v = params.alpha * sums[0];
        if (params.beta != 0.0) { v += params.beta * d[e]; }
        g[e] = v;
    }
}
