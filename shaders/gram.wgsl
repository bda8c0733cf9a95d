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
// diagonal return at once. Tiling as in matmul.wgsl (16×16 threads, 4×4 per thread, k-slices
// of 16 through workgroup memory); all loads and stores are bounds-checked; the block grid is
// linearised and folded into 2-D so it may exceed 65,535 blocks.

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

const TILE: u32 = 64u;
const TK: u32 = 16u;
const PER: u32 = 4u;

var<workgroup> row_tile: array<f32, 1024>; // [kk][i]: rows of op(X) in the block's row range
var<workgroup> col_tile: array<f32, 1024>; // [kk][j]: rows of op(X) in the block's column range

// Element (r, kk) of op(X) (op(X) = X or Xᵀ, m×k), zero outside.
fn load_x(r: u32, kk: u32) -> f32 {
    if (r >= params.m || kk >= params.k) { return 0.0; }
    if (params.trans != 0u) { return x[kk * params.m + r]; }
    return x[r * params.k + kk];
}

@compute @workgroup_size(16, 16, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid3: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let tiles = (params.m + TILE - 1u) / TILE;
    let tile = wid.x + wid.y * nwg.x;
    if (tile >= tiles * tiles) { return; }
    let bi = tile / tiles;
    let bj = tile % tiles;
    if (bj < bi) { return; } // lower triangle: mirrored by block (bj, bi)
    let row0 = bi * TILE;
    let col0 = bj * TILE;
    let tx = lid3.x;
    let ty = lid3.y;
    let trans = params.trans != 0u;

    var acc: array<f32, 16>;
    for (var i = 0u; i < 16u; i++) { acc[i] = 0.0; }

    for (var k0 = 0u; k0 < params.k; k0 += TK) {
        for (var l = 0u; l < 4u; l++) {
            let e = lid + l * 256u;
            var r: u32; var kk: u32;
            if (trans) { kk = e / TILE; r = e % TILE; } else { r = e / TK; kk = e % TK; }
            row_tile[kk * TILE + r] = load_x(row0 + r, k0 + kk);
            col_tile[kk * TILE + r] = load_x(col0 + r, k0 + kk);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            var ra: array<f32, 4>;
            var rb: array<f32, 4>;
            for (var i = 0u; i < PER; i++) {
                ra[i] = row_tile[kk * TILE + ty * PER + i];
                rb[i] = col_tile[kk * TILE + tx * PER + i];
            }
            for (var i = 0u; i < PER; i++) {
                for (var j = 0u; j < PER; j++) {
                    acc[i * PER + j] += ra[i] * rb[j];
                }
            }
        }
        workgroupBarrier();
    }

    let m = params.m;
    for (var i = 0u; i < PER; i++) {
        let r = row0 + ty * PER + i;
        if (r >= m) { continue; }
        for (var j = 0u; j < PER; j++) {
            let col = col0 + tx * PER + j;
            if (col >= m) { continue; }
            let upper = r * m + col;
            var v = params.alpha * acc[i * PER + j];
            if (params.beta != 0.0) { v += params.beta * d[upper]; }
            g[upper] = v;
            if (bi != bj) {
                let lower = col * m + r;
                var w = params.alpha * acc[i * PER + j];
                if (params.beta != 0.0) { w += params.beta * d[lower]; }
                g[lower] = w;
            }
        }
    }
}
