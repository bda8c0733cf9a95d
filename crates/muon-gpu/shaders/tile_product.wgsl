// The tiled-product core shared by matmul.wgsl, gram.wgsl and ns_step.wgsl. WGSL has no
// #include: the host compiles each of those kernels with this file in front of it
// (crates/muon-gpu/src/kernels/sources.rs), and tests/shaders.rs validates exactly that text.
//
// One workgroup (8×8 = 64 threads) computes one 64×64 block of a product L·R (L is m×k, R is
// k×n), marching over k in slices of TK = 16 staged through workgroup memory. Each thread owns
// an 8×8 register block, split into four 4×4 quadrants 32 rows/columns apart: thread (tx, ty)
// holds rows  ty·4 + {0..3} and 32 + ty·4 + {0..3}, columns tx·4 + {0..3} and 32 + tx·4 + {0..3}
// of the block. Per k the thread reads two vec4 of L and two of R from workgroup memory for 64
// fused multiply-adds (a 4×4-per-thread tile needs twice the reads per FMA); the split layout
// makes neighbouring threads read neighbouring vec4s (no bank conflicts) and store
// neighbouring columns. Accumulation runs in k order.
//
// The kernel supplies
//     fn stage(k0: u32, row0: u32, col0: u32, e: u32)
// which, for the staging index e in 0..TILE·TK, stores one element of each tile:
//     set_l(kk, i, L[row0 + i][k0 + kk]),  set_r(kk, j, R[k0 + kk][col0 + j])
// for some (kk, i) and (kk, j) that e names (each kernel picks the mapping whose neighbouring
// threads read neighbouring addresses), with zeros outside the matrices, so any shape works
// (1×N, N×1, non-multiples of 64). Block grids are linearised and folded into 2-D
// (x ≤ 65,535) by the host: see `block_index`.
//
// Loops are unrolled by hand four-fold: besides saving loop overhead, this keeps the number
// of loop iterations per invocation low, which matters on lavapipe (Mesa's CPU driver), whose
// shaders stop looping after ~65k iterations per invocation.

const TILE: u32 = 64u;     // output block edge
const TK: u32 = 16u;       // k-slice depth
const THREADS: u32 = 64u;  // invocations per workgroup (8×8)
const PER: u32 = 8u;       // outputs per thread edge
const HALF: u32 = 32u;     // offset of a thread's second quadrant row/column

var<workgroup> l_tile: array<vec4<f32>, 256>; // [kk·16 + i/4][i%4] = L[row0 + i][k0 + kk]
var<workgroup> r_tile: array<vec4<f32>, 256>; // [kk·16 + j/4][j%4] = R[k0 + kk][col0 + j]

// The accumulators of one thread: quadrant q = 2·qi + qj (qi, qj ∈ {0, 1}); in each,
// column ii of the matrix is the row ii of the quadrant (a vec4 over its 4 columns).
alias Block = array<mat4x4<f32>, 4>;

// The linear index of this workgroup in a grid folded into 2-D.
fn block_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// Stores L[row0 + i][k0 + kk] (i < TILE, kk < TK) in the staged slice.
fn set_l(kk: u32, i: u32, v: f32) {
    l_tile[kk * 16u + i / 4u][i % 4u] = v;
}

// Stores R[k0 + kk][col0 + j] (j < TILE, kk < TK) in the staged slice.
fn set_r(kk: u32, j: u32, v: f32) {
    r_tile[kk * 16u + j / 4u][j % 4u] = v;
}

// Row offset in the block of this thread's quadrant row qi (0 or 1), row ii (0..3).
fn block_row(lid3: vec3<u32>, qi: u32, ii: u32) -> u32 {
    return qi * HALF + lid3.y * 4u + ii;
}

// Column offset in the block of this thread's quadrant column qj (0 or 1), column jj (0..3).
fn block_col(lid3: vec3<u32>, qj: u32, jj: u32) -> u32 {
    return qj * HALF + lid3.x * 4u + jj;
}

// The block offset (row, column) of this thread's output e (0 ≤ e < PER·PER): quadrant
// e / 16, row (e / 4) % 4 and column e % 4 within it.
fn block_pos(lid3: vec3<u32>, e: u32) -> vec2<u32> {
    let q = e / 16u;
    return vec2<u32>(block_row(lid3, q / 2u, (e / 4u) % 4u), block_col(lid3, q % 2u, e % 4u));
}

// This thread's output e (see `block_pos`) from the accumulators of `tile_product`.
fn block_value(acc: ptr<function, Block>, e: u32) -> f32 {
    return (*acc)[e / 16u][(e / 4u) % 4u][e % 4u];
}

// acc + a ⊗ b: the outer product of 4 rows of L and 4 columns of R added to one quadrant.
fn outer_fma(acc: mat4x4<f32>, a: vec4<f32>, b: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(
        fma(vec4<f32>(a.x), b, acc[0]),
        fma(vec4<f32>(a.y), b, acc[1]),
        fma(vec4<f32>(a.z), b, acc[2]),
        fma(vec4<f32>(a.w), b, acc[3]),
    );
}

// One k of the staged slice: the thread's two row vec4s times its two column vec4s.
fn product_step(acc: ptr<function, Block>, kk: u32, lid3: vec3<u32>) {
    let a0 = l_tile[kk * 16u + lid3.y];
    let a1 = l_tile[kk * 16u + 8u + lid3.y];
    let b0 = r_tile[kk * 16u + lid3.x];
    let b1 = r_tile[kk * 16u + 8u + lid3.x];
    (*acc)[0] = outer_fma((*acc)[0], a0, b0);
    (*acc)[1] = outer_fma((*acc)[1], a0, b1);
    (*acc)[2] = outer_fma((*acc)[2], a1, b0);
    (*acc)[3] = outer_fma((*acc)[3], a1, b1);
}

// This thread's 8×8 block of Σ_{k_begin ≤ kk < k_end} L[r][kk]·R[kk][c]: for e in 0..64,
// element (r, c) = (row0, col0) + block_pos(lid3, e) is block_value(&acc, e). Every thread of the workgroup must call it with the same row0,
// col0, k_begin and k_end; k_begin must be a multiple of TK, and k_end either the
// product's k or a multiple of TK.
fn tile_product(
    row0: u32,
    col0: u32,
    k_begin: u32,
    k_end: u32,
    lid3: vec3<u32>,
    lid: u32,
) -> Block {
    var acc: Block; // zero-initialised
    for (var k0 = k_begin; k0 < k_end; k0 += TK) {
        // TILE·TK / THREADS = 16 staging indices per thread, four per iteration.
        for (var l = 0u; l < 16u; l += 4u) {
            stage(k0, row0, col0, lid + l * THREADS);
            stage(k0, row0, col0, lid + (l + 1u) * THREADS);
            stage(k0, row0, col0, lid + (l + 2u) * THREADS);
            stage(k0, row0, col0, lid + (l + 3u) * THREADS);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk += 4u) {
            product_step(&acc, kk, lid3);
            product_step(&acc, kk + 1u, lid3);
            product_step(&acc, kk + 2u, lid3);
            product_step(&acc, kk + 3u, lid3);
        }
        workgroupBarrier();
    }
    return acc;
}
