// The tiled-product core shared by matmul.wgsl, gram.wgsl and ns_step.wgsl. WGSL has no
// #include: the host compiles each of those kernels with this file in front of it
// (crates/muon-gpu/src/kernels/sources.rs), and tests/shaders.rs validates exactly that text.
//
// One workgroup (16×16 threads) computes one 64×64 block of a product L·R (L is m×k, R is
// k×n), marching over k in slices of TK = 16 staged through workgroup memory; each thread
// owns a 4×4 register block and accumulates in k order. The kernel supplies
//     fn stage_slice(k0: u32, row0: u32, col0: u32, lid: u32)
// which fills, for kk in 0..TK and i, j in 0..TILE (4 elements of each tile per thread):
//     l_tile[kk·TILE + i] = L[row0 + i][k0 + kk],  r_tile[kk·TILE + j] = R[k0 + kk][col0 + j]
// with zeros outside the matrices, so any shape works (1×N, N×1, non-multiples of 64).
// Block grids are linearised and folded into 2-D (x ≤ 65,535) by the host: see `block_index`.

const TILE: u32 = 64u;   // output block edge
const TK: u32 = 16u;     // k-slice depth
const PER: u32 = 4u;     // outputs per thread edge (TILE / 16 threads)

var<workgroup> l_tile: array<f32, 1024>; // [kk][i]: the k-slice of L's rows row0..row0+64
var<workgroup> r_tile: array<f32, 1024>; // [kk][j]: the k-slice of R's columns col0..col0+64

// The linear index of this workgroup in a grid folded into 2-D.
fn block_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// This thread's 4×4 block of Σ_{k_begin ≤ kk < k_end} L[r][kk]·R[kk][c], for
// r = row0 + ty·PER + i and c = col0 + tx·PER + j at acc[i·PER + j] ((tx, ty) = lid3.xy).
// Every thread of the workgroup must call it with the same row0, col0, k_begin and k_end;
// k_begin must be a multiple of TK, and k_end either the product's k or a multiple of TK.
fn tile_product(
    row0: u32,
    col0: u32,
    k_begin: u32,
    k_end: u32,
    lid3: vec3<u32>,
    lid: u32,
) -> array<f32, 16> {
    var acc: array<f32, 16>; // zero-initialised
    for (var k0 = k_begin; k0 < k_end; k0 += TK) {
        stage_slice(k0, row0, col0, lid);
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            var ra: array<f32, 4>;
            var rb: array<f32, 4>;
            for (var i = 0u; i < PER; i++) {
                ra[i] = l_tile[kk * TILE + lid3.y * PER + i];
                rb[i] = r_tile[kk * TILE + lid3.x * PER + i];
            }
            for (var i = 0u; i < PER; i++) {
                for (var j = 0u; j < PER; j++) {
                    acc[i * PER + j] += ra[i] * rb[j];
                }
            }
        }
        workgroupBarrier();
    }
    return acc;
}
