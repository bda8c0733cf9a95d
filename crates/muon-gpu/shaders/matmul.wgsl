// Tiled matrix product with a fused epilogue:
//     C = alpha · op(A) · op(B) + beta · D        (row-major f32; op = identity or transpose)
// op(A) is m×k, op(B) is k×n, C and D are m×n. When beta == 0, D is not read (any buffer
// may be bound there).
//
// Tiling: tile_product.wgsl (compiled in front of this file): each workgroup (8×8 threads,
// 8×8 outputs each) computes a 64×64 block of C over k-slices of 16; this file stages op(A)
// and op(B) into it and stores the block. Every load and store is bounds-checked, so any shape works (1×N, N×1,
// non-multiples of 64); the block grid is folded into 2-D so more than 65,535 blocks work.
//
// ROUND_F16 (a pipeline constant, default false) rounds every operand to f16 as it is loaded
// (quantizeToF16: f16 subnormals flush to zero), products still accumulating in f32: the
// numerics of the tensor-core kernel (matmul_coop.wgsl) on adapters without one.
//
// Uniforms and bindings: matmul_io.wgsl, compiled in front of this file (after
// tile_product.wgsl).

override ROUND_F16: bool = false;

// An operand as the product sees it: itself, or rounded to f16 (see ROUND_F16).
fn operand(v: f32) -> f32 {
    if (ROUND_F16) { return quantizeToF16(v); }
    return v;
}

fn load_a(row: u32, kk: u32) -> f32 {
    if (row >= params.m || kk >= params.k) { return 0.0; }
    if ((params.flags & 1u) != 0u) { return operand(a[kk * params.m + row]); }
    return operand(a[row * params.k + kk]);
}

fn load_b(kk: u32, col: u32) -> f32 {
    if (kk >= params.k || col >= params.n) { return 0.0; }
    if ((params.flags & 2u) != 0u) { return operand(b[col * params.k + kk]); }
    return operand(b[kk * params.n + col]);
}

// Stages element e of the k-slice at k0 of L = op(A) and of R = op(B).
fn stage(k0: u32, row0: u32, col0: u32, e: u32) {
    // Pick the mapping whose consecutive threads read consecutive addresses.
    var ar: u32; var ak: u32;
    if ((params.flags & 1u) != 0u) { ak = e / TILE; ar = e % TILE; } else { ar = e / TK; ak = e % TK; }
    set_l(ak, ar, load_a(row0 + ar, k0 + ak));
    var bc: u32; var bk: u32;
    if ((params.flags & 2u) != 0u) { bc = e / TK; bk = e % TK; } else { bk = e / TILE; bc = e % TILE; }
    set_r(bk, bc, load_b(k0 + bk, col0 + bc));
}

@compute @workgroup_size(8, 8, 1)
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
    let row0 = (tile / tiles_n) * TILE;
    let col0 = (tile % tiles_n) * TILE;
    var acc = tile_product(row0, col0, 0u, params.k, lid3, lid);

    for (var e = 0u; e < PER * PER; e++) {
        let p = block_pos(lid3, e);
        let r = row0 + p.x;
        let col = col0 + p.y;
        if (r >= params.m || col >= params.n) { continue; }
        let idx = r * params.n + col;
        var v = params.alpha * block_value(&acc, e);
        if (params.beta != 0.0) { v += params.beta * d[idx]; }
        c[idx] = v;
    }
}
