// The tiled-product core shared by matmul.wgsl, gram.wgsl and ns_step.wgsl. WGSL has no
// #include: the host compiles each of those kernels with this file in front of it
// (crates/muon-gpu/src/kernels/sources.rs), and tests/shaders.rs validates exactly that text.
//
// One workgroup of WG×WG threads computes one TILE×TILE block (TILE = 8·WG: 64×64 with 64
// threads, or 128×128 with 256) of a product L·R (L is m×k, R is k×n), marching over k in
// slices of TK = 16 staged through workgroup memory. Each thread owns an 8×8 register block,
// split into four 4×4 quadrants HALF = TILE/2 rows/columns apart: thread (tx, ty) holds rows
// ty·4 + {0..3} and HALF + ty·4 + {0..3}, columns tx·4 + {0..3} and HALF + tx·4 + {0..3} of the
// block. Per k the thread reads two vec4 of L and two of R from workgroup memory for 64 fused
// multiply-adds (a 4×4-per-thread tile needs twice the reads per FMA); the split layout makes
// neighbouring threads read neighbouring vec4s. Accumulation runs in k order, so both
// geometries give the same bits.
//
// Staging. A slice of each operand is RUNS = TILE·TK/4 runs of 4 elements that are consecutive
// in the operand's memory: along k when the operand is stored with k fastest (L row-major, R
// transposed), else along its rows (L) or columns (R). Thread t fetches runs t, t + THREADS,
// … (4 runs of each operand with 64 threads, 2 with 256), so neighbouring threads read
// neighbouring addresses whatever the layout, and the fetch of the next slice is issued before
// the current slice's multiply-adds so its memory latency overlaps them. The staged rows are
// padded by one vec4 (TILE + 4 floats apart): a run along k stores 4 elements one staged row apart, and without
// the padding a warp's stores would fall into 2 of the 32 banks (16-way conflicts); with it
// they fall into 16 banks at most two deep. Runs along the rows store one aligned vec4.
//
// The kernel supplies, for L (and the same with r_/R for the right operand, (kk, j) for (i, kk)):
//     fn l_along_k() -> bool          whether L's runs go along k (else along its rows)
//     fn l_run(i: u32, kk: u32) -> Run   where L[i][kk] is in memory and how many of the 4
//                                     elements from it (along the run) exist
//     fn l_load(index: u32) -> f32    the element at that memory index (any rounding applied)
// and, for the epilogue,
//     fn store(r: u32, c: u32, v: f32, how: Epilogue)
// which stores Σ_k L[r][k]·R[k][c] = v (r, c absolute; possibly outside the product, which
// `store` must skip), with its own `Epilogue` struct for whatever else it needs. Loads
// outside the operands read as zero, so any shape works (1×N, N×1, non-multiples of TILE).
// Block grids are linearised and folded into 2-D (x ≤ 65,535) by the host: see `block_index`.
//
// Every index into the accumulators is a constant (the epilogue too: `store_block` hands the
// 64 values over one by one), so a compiler can keep them in registers without unrolling
// anything. Loops are unrolled by hand four-fold: besides saving loop overhead, this keeps
// the number of loop iterations per invocation low, which matters on lavapipe (Mesa's CPU
// driver), whose shaders stop looping after ~65k iterations per invocation.

// WG (threads per workgroup edge: 8 for 64×64 blocks, 16 for 128×128) is a `const` the host
// compiles in front of this file (kernels/sources.rs), one program per geometry.
const TILE: u32 = 8u * WG;      // output block edge
const TK: u32 = 16u;            // k-slice depth
const THREADS: u32 = WG * WG;   // invocations per workgroup
const HALF: u32 = 4u * WG;      // offset of a thread's second quadrant row/column
const ROW4: u32 = 2u * WG + 1u; // vec4s per staged row: TILE / 4 + 1 (one vec4 of padding)
const RUNS: u32 = TILE * TK / 4u; // runs of 4 elements per operand per slice
const PER_THREAD: u32 = RUNS / THREADS; // runs per operand per thread: 4 (WG = 8) or 2 (WG = 16)

var<workgroup> l_tile: array<vec4<f32>, TK * ROW4>; // [kk·ROW4 + i/4][i%4] = L[row0 + i][k0 + kk]
var<workgroup> r_tile: array<vec4<f32>, TK * ROW4>; // [kk·ROW4 + j/4][j%4] = R[k0 + kk][col0 + j]

// The accumulators of one thread: quadrant q = 2·qi + qj (qi, qj ∈ {0, 1}); in each,
// column ii of the matrix is the row ii of the quadrant (a vec4 over its 4 columns).
alias Block = array<mat4x4<f32>, 4>;

// A run of an operand in memory: the index of its first element and how many of its 4
// elements lie inside the operand (0..4).
struct Run {
    base: u32,   // memory index of the first element
    count: u32,  // elements of the 4 inside the operand
}

// The run of `len`-long rows whose first element is `first` along the row, given whether its
// other coordinate is inside the operand: how many elements exist, with index `base`.
fn run_in(base: u32, inside: bool, first: u32, len: u32) -> Run {
    if (!inside || first >= len) { return Run(base, 0u); }
    return Run(base, min(4u, len - first));
}

// One thread's share of a k-slice: runs t + THREADS·s of L (l0..l3) and of R (r0..r3), for
// s < PER_THREAD (l2, l3, r2, r3 stay unused with 256 threads).
struct Fragment {
    l0: vec4<f32>,  // L run t
    l1: vec4<f32>,  // L run t + THREADS
    l2: vec4<f32>,  // L run t + 2·THREADS (PER_THREAD = 4 only)
    l3: vec4<f32>,  // L run t + 3·THREADS (PER_THREAD = 4 only)
    r0: vec4<f32>,  // R run t
    r1: vec4<f32>,  // R run t + THREADS
    r2: vec4<f32>,  // R run t + 2·THREADS (PER_THREAD = 4 only)
    r3: vec4<f32>,  // R run t + 3·THREADS (PER_THREAD = 4 only)
}

// The linear index of this workgroup in a grid folded into 2-D.
fn block_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// Run s (0..RUNS) of a slice: the (row or column, kk) of its first element, for runs along k
// (TK/4 runs per row of the block) or along the block's rows or columns (TILE/4 runs per kk).
fn run_pos(s: u32, along_k: bool) -> vec2<u32> {
    if (along_k) { return vec2<u32>(s / (TK / 4u), (s % (TK / 4u)) * 4u); }
    return vec2<u32>((s % (TILE / 4u)) * 4u, s / (TILE / 4u));
}

// Element `index` of L's memory (`left`) or of R's.
fn load(left: bool, index: u32) -> f32 {
    if (left) { return l_load(index); }
    return r_load(index);
}

// The elements of `run` of L (`left`) or of R, zeros past its end.
fn load_run(left: bool, run: Run) -> vec4<f32> {
    if (run.count == 4u) {
        return vec4<f32>(load(left, run.base), load(left, run.base + 1u), load(left, run.base + 2u), load(left, run.base + 3u));
    }
    var v = vec4<f32>(0.0);
    if (run.count > 0u) { v.x = load(left, run.base); }
    if (run.count > 1u) { v.y = load(left, run.base + 1u); }
    if (run.count > 2u) { v.z = load(left, run.base + 2u); }
    return v;
}

// Run s of L's slice at k0 (rows from row0).
fn fetch_l(k0: u32, row0: u32, s: u32) -> vec4<f32> {
    let p = run_pos(s, l_along_k());
    return load_run(true, l_run(row0 + p.x, k0 + p.y));
}

// Run s of R's slice at k0 (columns from col0).
fn fetch_r(k0: u32, col0: u32, s: u32) -> vec4<f32> {
    let p = run_pos(s, r_along_k());
    return load_run(false, r_run(k0 + p.y, col0 + p.x));
}

// Stores run s of a slice (values v) into `tile` (l_tile or r_tile: WGSL cannot take a
// pointer to either, so `left` picks one).
fn put_run(left: bool, along_k: bool, s: u32, v: vec4<f32>) {
    let p = run_pos(s, along_k);
    if (along_k) {
        // Four staged rows kk .. kk + 3, one element each at block row/column p.x.
        let o = p.y * ROW4 + p.x / 4u;
        let c = p.x % 4u;
        if (left) {
            l_tile[o][c] = v.x;
            l_tile[o + ROW4][c] = v.y;
            l_tile[o + 2u * ROW4][c] = v.z;
            l_tile[o + 3u * ROW4][c] = v.w;
        } else {
            r_tile[o][c] = v.x;
            r_tile[o + ROW4][c] = v.y;
            r_tile[o + 2u * ROW4][c] = v.z;
            r_tile[o + 3u * ROW4][c] = v.w;
        }
    } else {
        let o = p.y * ROW4 + p.x / 4u;
        if (left) { l_tile[o] = v; } else { r_tile[o] = v; }
    }
}

// This thread's share of the slice at k0.
fn fetch(k0: u32, row0: u32, col0: u32, lid: u32) -> Fragment {
    var f: Fragment;
    f.l0 = fetch_l(k0, row0, lid);
    f.l1 = fetch_l(k0, row0, lid + THREADS);
    f.r0 = fetch_r(k0, col0, lid);
    f.r1 = fetch_r(k0, col0, lid + THREADS);
    if (PER_THREAD > 2u) {
        f.l2 = fetch_l(k0, row0, lid + 2u * THREADS);
        f.l3 = fetch_l(k0, row0, lid + 3u * THREADS);
        f.r2 = fetch_r(k0, col0, lid + 2u * THREADS);
        f.r3 = fetch_r(k0, col0, lid + 3u * THREADS);
    }
    return f;
}

// Stores this thread's share of a slice into workgroup memory.
fn put(f: Fragment, lid: u32) {
    let lk = l_along_k();
    let rk = r_along_k();
    put_run(true, lk, lid, f.l0);
    put_run(true, lk, lid + THREADS, f.l1);
    put_run(false, rk, lid, f.r0);
    put_run(false, rk, lid + THREADS, f.r1);
    if (PER_THREAD > 2u) {
        put_run(true, lk, lid + 2u * THREADS, f.l2);
        put_run(true, lk, lid + 3u * THREADS, f.l3);
        put_run(false, rk, lid + 2u * THREADS, f.r2);
        put_run(false, rk, lid + 3u * THREADS, f.r3);
    }
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
    let a0 = l_tile[kk * ROW4 + lid3.y];
    let a1 = l_tile[kk * ROW4 + WG + lid3.y];
    let b0 = r_tile[kk * ROW4 + lid3.x];
    let b1 = r_tile[kk * ROW4 + WG + lid3.x];
    (*acc)[0] = outer_fma((*acc)[0], a0, b0);
    (*acc)[1] = outer_fma((*acc)[1], a0, b1);
    (*acc)[2] = outer_fma((*acc)[2], a1, b0);
    (*acc)[3] = outer_fma((*acc)[3], a1, b1);
}

// This thread's 8×8 block of Σ_{k_begin ≤ kk < k_end} L[r][kk]·R[kk][c], for `store_block`.
// Every thread of the workgroup must call it with the same row0, col0, k_begin and k_end;
// k_begin must be a multiple of TK, and k_end either the product's k or a multiple of TK.
fn tile_product(
    row0: u32,
    col0: u32,
    k_begin: u32,
    k_end: u32,
    lid3: vec3<u32>,
    lid: u32,
) -> Block {
    var acc: Block; // zero-initialised
    var frag = fetch(k_begin, row0, col0, lid);
    let slices = trips(k_begin, k_end, TK);
    for (var s = 0u; s < slices; s++) {
        put(frag, lid);
        workgroupBarrier();
        // The next slice's loads, in flight during this slice's multiply-adds.
        if (s + 1u < slices) { frag = fetch(k_begin + (s + 1u) * TK, row0, col0, lid); }
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

// Row ii of a quadrant (4 consecutive outputs from (r, c)) to the kernel's `store`.
fn store_row(v: vec4<f32>, r: u32, c: u32, how: Epilogue) {
    store(r, c, v.x, how);
    store(r, c + 1u, v.y, how);
    store(r, c + 2u, v.z, how);
    store(r, c + 3u, v.w, how);
}

// One 4×4 quadrant whose top-left output is (r, c) to the kernel's `store`.
fn store_quadrant(q: mat4x4<f32>, r: u32, c: u32, how: Epilogue) {
    store_row(q[0], r, c, how);
    store_row(q[1], r + 1u, c, how);
    store_row(q[2], r + 2u, c, how);
    store_row(q[3], r + 3u, c, how);
}

// Hands each of this thread's 64 outputs of the block at (row0, col0) to the kernel's
// `store(r, c, v, how)`, with absolute (r, c).
fn store_block(acc: ptr<function, Block>, row0: u32, col0: u32, lid3: vec3<u32>, how: Epilogue) {
    let r = row0 + lid3.y * 4u;
    let c = col0 + lid3.x * 4u;
    store_quadrant((*acc)[0], r, c, how);
    store_quadrant((*acc)[1], r, c + HALF, how);
    store_quadrant((*acc)[2], r + HALF, c, how);
    store_quadrant((*acc)[3], r + HALF, c + HALF, how);
}
