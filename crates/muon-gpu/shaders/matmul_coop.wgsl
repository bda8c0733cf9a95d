// Tensor-core matrix product (cooperative matrices) with the epilogue of matmul.wgsl:
//     C = alpha · op(A) · op(B) + beta · D      (row-major f32 in memory; op = identity or transpose)
// and its flags (transposes; a symmetric output computed on and above the diagonal only).
// The operands are rounded to f16 when staged; products accumulate in f32. Same uniforms and
// bindings as matmul.wgsl, so the host binds both kernels alike. When beta == 0, D is not read.
//
// Needs the adapter to offer 16×16×16 cooperative matrices with f16 A/B and an f32
// accumulator, f16 in shaders and subgroups (the host compiles this file only then).
//
// Tiling: one workgroup of 256 threads (8 subgroups of 32) computes a 128×128 block of C
// over k-slices of BK = 32. Each thread fetches its share of a slice into registers (4 runs
// of 4 consecutive elements of op(A)'s memory layout and 4 of op(B)'s, so neighbouring threads
// read neighbouring addresses whatever the transposes), converts it to f16 and stores it into
// workgroup memory; the fetch of the next slice is issued before the current slice's
// multiply-adds, so its memory latency overlaps them. Subgroup s owns the 32×64 sub-block at
// rows 32·(s / 2), columns 64·(s % 2): 2×4 accumulator tiles of 16×16, so each k-step of 16
// loads 2 A tiles and 4 B tiles for 8 multiply-adds. The rows of both staged tiles are padded
// by 8 halves (16 bytes), so the eight 16-byte rows one tile load reads fall in different
// banks, and every tile pointer and stride is a multiple of 16 bytes.
//
// Epilogue: each accumulator tile goes through a per-subgroup 16×16 f32 staging area in
// workgroup memory, from which the subgroup's threads apply alpha/beta and store the elements
// that lie inside C. Loads outside op(A) or op(B) read as zero, so any shape works (1×N, N×1,
// non-multiples of 128). Block grids are folded into 2-D (x ≤ 65,535) and linearised as in
// the other product kernels.
//
// The host compiles `enable f16; enable wgpu_cooperative_matrix;` and matmul_io.wgsl (the
// uniforms and bindings, shared with matmul.wgsl) in front of this file.

const SUBGROUP: u32 = 32u;  // threads per subgroup (the host compiles this kernel only then)
const THREADS: u32 = 256u; // threads per workgroup: 8 subgroups
const BM: u32 = 128u;      // block rows
const BN: u32 = 128u;      // block columns
const BK: u32 = 32u;       // k-slice depth
const LS: u32 = 40u;       // row stride of the staged op(A) slice, halves (BK + 8)
const RS: u32 = 136u;      // row stride of the staged op(B) slice, halves (BN + 8)

var<workgroup> l_s: array<f16, 5120>;  // 128 × LS: l_s[i·LS + kk] = op(A)[row0 + i][k0 + kk]
var<workgroup> r_s: array<f16, 4352>;  // 32 × RS:  r_s[kk·RS + j] = op(B)[k0 + kk][col0 + j]
var<workgroup> c_s: array<f32, 2048>;  // 8 subgroups × 16×16: one accumulator tile each

// One thread's share of a k-slice in registers: runs r = lid + t·THREADS (t = 0..3) of four
// consecutive elements in memory, of op(A) (a0..a3) and op(B) (b0..b3).
struct Fragment {
    a0: vec4<f32>,  // op(A) run lid
    a1: vec4<f32>,  // op(A) run lid + THREADS
    a2: vec4<f32>,  // op(A) run lid + 2·THREADS
    a3: vec4<f32>,  // op(A) run lid + 3·THREADS
    b0: vec4<f32>,  // op(B) run lid
    b1: vec4<f32>,  // op(B) run lid + THREADS
    b2: vec4<f32>,  // op(B) run lid + 2·THREADS
    b3: vec4<f32>,  // op(B) run lid + 3·THREADS
}

// Run r (0..1023) of the op(A) slice: its first element's (i, kk) in the slice. A stored
// m×k runs along kk (8 runs per row); stored transposed, along i (32 runs per kk).
fn a_run(r: u32) -> vec2<u32> {
    if ((params.flags & 1u) != 0u) { return vec2<u32>((r % 32u) * 4u, r / 32u); }
    return vec2<u32>(r / 8u, (r % 8u) * 4u);
}

// Run r (0..1023) of the op(B) slice: its first element's (kk, j). B stored k×n runs along j;
// stored transposed (n×k), along kk.
fn b_run(r: u32) -> vec2<u32> {
    if ((params.flags & 2u) != 0u) { return vec2<u32>((r % 8u) * 4u, r / 8u); }
    return vec2<u32>(r / 32u, (r % 32u) * 4u);
}

// How many of the 4 elements from `first` (along an axis of length `len`) exist, given that
// the run's other coordinate is inside (`inside`).
fn run_len(inside: bool, first: u32, len: u32) -> u32 {
    if (!inside || first >= len) { return 0u; }
    return min(4u, len - first);
}

// The run of op(A) at k0 (rows from row0) that run r names, zeros outside op(A).
fn fetch_a(k0: u32, row0: u32, r: u32) -> vec4<f32> {
    let p = a_run(r);
    var base: u32;
    var count: u32;
    if ((params.flags & 1u) != 0u) {
        base = (k0 + p.y) * params.m + row0 + p.x;
        count = run_len(k0 + p.y < params.k, row0 + p.x, params.m);
    } else {
        base = (row0 + p.x) * params.k + k0 + p.y;
        count = run_len(row0 + p.x < params.m, k0 + p.y, params.k);
    }
    if (count == 4u) { return vec4<f32>(a[base], a[base + 1u], a[base + 2u], a[base + 3u]); }
    var v = vec4<f32>(0.0);
    if (count > 0u) { v.x = a[base]; }
    if (count > 1u) { v.y = a[base + 1u]; }
    if (count > 2u) { v.z = a[base + 2u]; }
    return v;
}

// The run of op(B) at k0 (columns from col0) that run r names, zeros outside op(B).
fn fetch_b(k0: u32, col0: u32, r: u32) -> vec4<f32> {
    let p = b_run(r);
    var base: u32;
    var count: u32;
    if ((params.flags & 2u) != 0u) {
        base = (col0 + p.y) * params.k + k0 + p.x;
        count = run_len(col0 + p.y < params.n, k0 + p.x, params.k);
    } else {
        base = (k0 + p.x) * params.n + col0 + p.y;
        count = run_len(k0 + p.x < params.k, col0 + p.y, params.n);
    }
    if (count == 4u) { return vec4<f32>(b[base], b[base + 1u], b[base + 2u], b[base + 3u]); }
    var v = vec4<f32>(0.0);
    if (count > 0u) { v.x = b[base]; }
    if (count > 1u) { v.y = b[base + 1u]; }
    if (count > 2u) { v.z = b[base + 2u]; }
    return v;
}

// Stores run r of op(A) (values v) into the staged slice as f16.
fn put_a(r: u32, v: vec4<f32>) {
    let p = a_run(r);
    let h = vec4<f16>(v);
    if ((params.flags & 1u) != 0u) {
        l_s[p.x * LS + p.y] = h.x;
        l_s[(p.x + 1u) * LS + p.y] = h.y;
        l_s[(p.x + 2u) * LS + p.y] = h.z;
        l_s[(p.x + 3u) * LS + p.y] = h.w;
    } else {
        let o = p.x * LS + p.y;
        l_s[o] = h.x;
        l_s[o + 1u] = h.y;
        l_s[o + 2u] = h.z;
        l_s[o + 3u] = h.w;
    }
}

// Stores run r of op(B) (values v) into the staged slice as f16.
fn put_b(r: u32, v: vec4<f32>) {
    let p = b_run(r);
    let h = vec4<f16>(v);
    if ((params.flags & 2u) != 0u) {
        r_s[p.x * RS + p.y] = h.x;
        r_s[(p.x + 1u) * RS + p.y] = h.y;
        r_s[(p.x + 2u) * RS + p.y] = h.z;
        r_s[(p.x + 3u) * RS + p.y] = h.w;
    } else {
        let o = p.x * RS + p.y;
        r_s[o] = h.x;
        r_s[o + 1u] = h.y;
        r_s[o + 2u] = h.z;
        r_s[o + 3u] = h.w;
    }
}

// This thread's share of the slice at k0.
fn fetch(k0: u32, row0: u32, col0: u32, lid: u32) -> Fragment {
    return Fragment(
        fetch_a(k0, row0, lid),
        fetch_a(k0, row0, lid + THREADS),
        fetch_a(k0, row0, lid + 2u * THREADS),
        fetch_a(k0, row0, lid + 3u * THREADS),
        fetch_b(k0, col0, lid),
        fetch_b(k0, col0, lid + THREADS),
        fetch_b(k0, col0, lid + 2u * THREADS),
        fetch_b(k0, col0, lid + 3u * THREADS),
    );
}

// Stores this thread's share of a slice into workgroup memory.
fn put(f: Fragment, lid: u32) {
    put_a(lid, f.a0);
    put_a(lid + THREADS, f.a1);
    put_a(lid + 2u * THREADS, f.a2);
    put_a(lid + 3u * THREADS, f.a3);
    put_b(lid, f.b0);
    put_b(lid + THREADS, f.b1);
    put_b(lid + 2u * THREADS, f.b2);
    put_b(lid + 3u * THREADS, f.b3);
}

// Applies the epilogue to accumulator tile `acc` of subgroup `sg`, whose top-left element is
// C[r0][c0], and stores it mirrored too (C[c][r], with D[c][r]) when `mirror`. Every thread of
// the workgroup calls it (it holds workgroup barriers).
fn store_tile(acc: coop_mat16x16<f32, C>, sg: u32, lane: u32, r0: u32, c0: u32, mirror: bool) {
    let base = sg * 256u;
    let stride = 16u;
    coopStoreT(acc, &c_s[base], stride);
    workgroupBarrier();
    for (var e = lane; e < 256u; e += SUBGROUP) {
        let r = r0 + e / 16u;
        let col = c0 + e % 16u;
        if (r < params.m && col < params.n) {
            let w = params.alpha * c_s[base + e];
            let idx = r * params.n + col;
            if (params.beta != 0.0) { c[idx] = w + params.beta * d[idx]; } else { c[idx] = w; }
            if (mirror) {
                let t = col * params.n + r;
                if (params.beta != 0.0) { c[t] = w + params.beta * d[t]; } else { c[t] = w; }
            }
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(256, 1, 1)
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
    let bi = tile / tiles_n;
    let bj = tile % tiles_n;
    // A symmetric product (flag bit 2, BM = BN): blocks below the diagonal are mirrored by
    // those above it.
    let symmetric = (params.flags & 4u) != 0u;
    if (symmetric & (bj < bi)) { return; }
    let mirror = symmetric & (bi != bj);
    let row0 = bi * BM;
    let col0 = bj * BN;
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
    var frag = fetch(0u, row0, col0, lid);
    let slices = trips(0u, params.k, BK);
    for (var s = 0u; s < slices; s++) {
        put(frag, lid);
        workgroupBarrier();
        // The next slice's loads, in flight during this slice's multiply-adds.
        if (s + 1u < slices) { frag = fetch((s + 1u) * BK, row0, col0, lid); }
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
    store_tile(acc00, sg, lane, r0, c0, mirror);
    store_tile(acc01, sg, lane, r0, c0 + 16u, mirror);
    store_tile(acc02, sg, lane, r0, c0 + 32u, mirror);
    store_tile(acc03, sg, lane, r0, c0 + 48u, mirror);
    store_tile(acc10, sg, lane, r0 + 16u, c0, mirror);
    store_tile(acc11, sg, lane, r0 + 16u, c0 + 16u, mirror);
    store_tile(acc12, sg, lane, r0 + 16u, c0 + 32u, mirror);
    store_tile(acc13, sg, lane, r0 + 16u, c0 + 48u, mirror);
}
