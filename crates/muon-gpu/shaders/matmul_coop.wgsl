// Tensor-core matrix product (cooperative matrices) with the epilogue of matmul.wgsl:
//     C = alpha · op(A) · op(B) + beta · D      (row-major f32 in memory; op = identity or transpose)
// The operands are rounded to f16 when staged; products accumulate in f32. Same uniforms and
// bindings as matmul.wgsl, so the host binds both kernels alike. When beta == 0, D is not read.
//
// Needs the adapter to offer 16×16×16 cooperative matrices with f16 A/B and an f32
// accumulator, f16 in shaders and subgroups (the host compiles this file only then).
//
// Tiling: one workgroup computes a 128×128 block of C over k-slices of BK = 32. Its threads
// stage the slice of op(A) (128×32) and op(B) (32×128) into workgroup memory as f16, with
// neighbouring threads reading neighbouring addresses of whichever layout the operand has in
// memory. The workgroup is 8 subgroups of SUBGROUP threads (SUBGROUP is the adapter's fixed
// subgroup size, set by the host); subgroup s owns the 32×64 sub-block at rows 32·(s / 2),
// columns 64·(s % 2): 2×4 accumulator tiles of 16×16, so each k-step of 16 loads 2 A tiles
// and 4 B tiles for 8 multiply-adds. The rows of both staged tiles are padded by 8 halves
// (16 bytes), so the eight 16-byte rows one tile load reads fall in different banks, and
// every tile pointer and stride is a multiple of 16 bytes.
//
// Epilogue: each accumulator tile goes through a per-subgroup 16×16 f32 staging area in
// workgroup memory, from which the subgroup's threads apply alpha/beta and store the elements
// that lie inside C, so any shape works (1×N, N×1, non-multiples of 128). Block grids are
// folded into 2-D (x ≤ 65,535) and linearised as in the other product kernels.

enable f16;
enable wgpu_cooperative_matrix;

struct MatmulParams {
    m: u32,      // rows of op(A), C and D
    n: u32,      // columns of op(B), C and D
    k: u32,      // columns of op(A) = rows of op(B)
    flags: u32,  // bit 0: A is stored transposed (k×m); bit 1: B is stored transposed (n×k)
    alpha: f32,  // scale of the product
    beta: f32,   // scale of D (0: D is ignored)
    _pad0: u32,  // padding to 32 bytes
    _pad1: u32,  // padding to 32 bytes
}

@group(0) @binding(0) var<uniform> params: MatmulParams;   // shapes, flags, alpha, beta
@group(0) @binding(1) var<storage, read> a: array<f32>;     // A, m×k (or k×m if transposed)
@group(0) @binding(2) var<storage, read> b: array<f32>;     // B, k×n (or n×k if transposed)
@group(0) @binding(3) var<storage, read> d: array<f32>;     // D, m×n (read only if beta != 0)
@group(0) @binding(4) var<storage, read_write> c: array<f32>; // C, m×n (output)

// Threads per subgroup on this adapter; the workgroup is 8 subgroups.
override SUBGROUP: u32 = 32u;

const BM: u32 = 128u;  // block rows
const BN: u32 = 128u;  // block columns
const BK: u32 = 32u;   // k-slice depth
const LS: u32 = 40u;   // row stride of the staged op(A) slice, halves (BK + 8)
const RS: u32 = 136u;  // row stride of the staged op(B) slice, halves (BN + 8)

var<workgroup> l_s: array<f16, 5120>;  // 128 × LS: l_s[i·LS + kk] = op(A)[row0 + i][k0 + kk]
var<workgroup> r_s: array<f16, 4352>;  // 32 × RS:  r_s[kk·RS + j] = op(B)[k0 + kk][col0 + j]
var<workgroup> c_s: array<f32, 2048>;  // 8 subgroups × 16×16: one accumulator tile each

// op(A)[row][kk] as f16, zero outside.
fn load_a(row: u32, kk: u32) -> f16 {
    if (row >= params.m || kk >= params.k) { return f16(0.0); }
    if ((params.flags & 1u) != 0u) { return f16(a[kk * params.m + row]); }
    return f16(a[row * params.k + kk]);
}

// op(B)[kk][col] as f16, zero outside.
fn load_b(kk: u32, col: u32) -> f16 {
    if (kk >= params.k || col >= params.n) { return f16(0.0); }
    if ((params.flags & 2u) != 0u) { return f16(b[col * params.k + kk]); }
    return f16(b[kk * params.n + col]);
}

// Stages the k-slice at k0 of both operands; every thread of the workgroup calls it.
fn stage(k0: u32, row0: u32, col0: u32, lid: u32) {
    let threads = 8u * SUBGROUP;
    let trans_a = (params.flags & 1u) != 0u;
    let trans_b = (params.flags & 2u) != 0u;
    for (var e = lid; e < BM * BK; e += threads) {
        // Consecutive threads read consecutive addresses of A's memory layout.
        var i: u32; var kk: u32;
        if (trans_a) { kk = e / BM; i = e % BM; } else { i = e / BK; kk = e % BK; }
        l_s[i * LS + kk] = load_a(row0 + i, k0 + kk);
        var j: u32; var kb: u32;
        if (trans_b) { j = e / BK; kb = e % BK; } else { kb = e / BN; j = e % BN; }
        r_s[kb * RS + j] = load_b(k0 + kb, col0 + j);
    }
}

// Applies the epilogue to accumulator tile `acc` of subgroup `sg`, whose top-left element is
// C[r0][c0]. Every thread of the workgroup calls it (it holds workgroup barriers).
fn store_tile(acc: coop_mat16x16<f32, C>, sg: u32, lane: u32, r0: u32, c0: u32) {
    let base = sg * 256u;
    let stride = 16u;
    coopStoreT(acc, &c_s[base], stride);
    workgroupBarrier();
    for (var e = lane; e < 256u; e += SUBGROUP) {
        let r = r0 + e / 16u;
        let col = c0 + e % 16u;
        if (r < params.m && col < params.n) {
            let idx = r * params.n + col;
            var v = params.alpha * c_s[base + e];
            if (params.beta != 0.0) { v += params.beta * d[idx]; }
            c[idx] = v;
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(8u * SUBGROUP, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_id) sg: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let tiles_n = (params.n + BN - 1u) / BN;
    let tiles_m = (params.m + BM - 1u) / BM;
    let tile = wid.x + wid.y * nwg.x;
    if (tile >= tiles_m * tiles_n) { return; }
    let row0 = (tile / tiles_n) * BM;
    let col0 = (tile % tiles_n) * BN;
    let sr = (sg / 2u) * 32u; // this subgroup's rows in the block
    let sc = (sg % 2u) * 64u; // and columns

    var acc00 = coop_mat16x16<f32, C>();
    var acc01 = coop_mat16x16<f32, C>();
    var acc02 = coop_mat16x16<f32, C>();
    var acc03 = coop_mat16x16<f32, C>();
    var acc10 = coop_mat16x16<f32, C>();
    var acc11 = coop_mat16x16<f32, C>();
    var acc12 = coop_mat16x16<f32, C>();
    var acc13 = coop_mat16x16<f32, C>();
    let ls = LS;
    let rs = RS;
    for (var k0 = 0u; k0 < params.k; k0 += BK) {
        stage(k0, row0, col0, lid);
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk += 16u) {
            let ao0 = sr * LS + kk;
            let ao1 = (sr + 16u) * LS + kk;
            let a0 = coopLoadT<coop_mat16x16<f16, A>>(&l_s[ao0], ls);
            let a1 = coopLoadT<coop_mat16x16<f16, A>>(&l_s[ao1], ls);
            let bo = kk * RS + sc;
            let b0 = coopLoadT<coop_mat16x16<f16, B>>(&r_s[bo], rs);
            let b1 = coopLoadT<coop_mat16x16<f16, B>>(&r_s[bo + 16u], rs);
            let b2 = coopLoadT<coop_mat16x16<f16, B>>(&r_s[bo + 32u], rs);
            let b3 = coopLoadT<coop_mat16x16<f16, B>>(&r_s[bo + 48u], rs);
            acc00 = coopMultiplyAdd(a0, b0, acc00);
            acc01 = coopMultiplyAdd(a0, b1, acc01);
            acc02 = coopMultiplyAdd(a0, b2, acc02);
            acc03 = coopMultiplyAdd(a0, b3, acc03);
            acc10 = coopMultiplyAdd(a1, b0, acc10);
            acc11 = coopMultiplyAdd(a1, b1, acc11);
            acc12 = coopMultiplyAdd(a1, b2, acc12);
            acc13 = coopMultiplyAdd(a1, b3, acc13);
        }
        workgroupBarrier();
    }

    let r0 = row0 + sr;
    let c0 = col0 + sc;
    store_tile(acc00, sg, lane, r0, c0);
    store_tile(acc01, sg, lane, r0, c0 + 16u);
    store_tile(acc02, sg, lane, r0, c0 + 32u);
    store_tile(acc03, sg, lane, r0, c0 + 48u);
    store_tile(acc10, sg, lane, r0 + 16u, c0);
    store_tile(acc11, sg, lane, r0 + 16u, c0 + 16u);
    store_tile(acc12, sg, lane, r0 + 16u, c0 + 32u);
    store_tile(acc13, sg, lane, r0 + 16u, c0 + 48u);
}
