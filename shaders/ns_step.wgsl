// One Newton–Schulz polynomial step, given B = b·A + c·A² from gram.wgsl:
//     side = 0 (wide X, A = X·Xᵀ):  X' = a·X + B·X     (B is rows×rows)
//     side = 1 (tall X, A = Xᵀ·X):  X' = a·X + X·B     (B is cols×cols)
// X and X' are rows×cols, row-major f32; X' must be a different buffer from X.
//
// A tiled product as in matmul.wgsl (64×64 output block per 16×16 workgroup, 4×4 per thread,
// k-slices of 16 through workgroup memory, bounds-checked loads and stores, block grid folded
// into 2-D), with the `a·X` term fused into the store.

struct NsStepParams {
    rows: u32,  // rows of X
    cols: u32,  // columns of X
    side: u32,  // 0: B multiplies from the left; 1: from the right
    a: f32,     // this iteration's linear coefficient
}

@group(0) @binding(0) var<uniform> params: NsStepParams;     // shape, side, coefficient a
@group(0) @binding(1) var<storage, read> bmat: array<f32>;    // B, square, symmetric
@group(0) @binding(2) var<storage, read> x: array<f32>;       // X, rows×cols
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // X', rows×cols

const TILE: u32 = 64u;
const TK: u32 = 16u;
const PER: u32 = 4u;

var<workgroup> a_tile: array<f32, 1024>; // [kk][row] of the left operand
var<workgroup> b_tile: array<f32, 1024>; // [kk][col] of the right operand

// Left operand (rows × inner): B when side = 0, X when side = 1.
fn load_left(r: u32, kk: u32, inner: u32) -> f32 {
    if (r >= params.rows || kk >= inner) { return 0.0; }
    if (params.side == 0u) { return bmat[r * inner + kk]; }
    return x[r * params.cols + kk];
}

// Right operand (inner × cols): X when side = 0, B when side = 1.
fn load_right(kk: u32, col: u32, inner: u32) -> f32 {
    if (kk >= inner || col >= params.cols) { return 0.0; }
    if (params.side == 0u) { return x[kk * params.cols + col]; }
    return bmat[kk * params.cols + col];
}

@compute @workgroup_size(16, 16, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid3: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let rows = params.rows;
    let cols = params.cols;
    var inner = rows;
    if (params.side != 0u) { inner = cols; }
    let tiles_n = (cols + TILE - 1u) / TILE;
    let tiles_m = (rows + TILE - 1u) / TILE;
    let tile = wid.x + wid.y * nwg.x;
    if (tile >= tiles_m * tiles_n) { return; }
    let row0 = (tile / tiles_n) * TILE;
    let col0 = (tile % tiles_n) * TILE;
    let tx = lid3.x;
    let ty = lid3.y;

    var acc: array<f32, 16>;
    for (var i = 0u; i < 16u; i++) { acc[i] = 0.0; }

    for (var k0 = 0u; k0 < inner; k0 += TK) {
        for (var l = 0u; l < 4u; l++) {
            let e = lid + l * 256u;
            // Both operands are row-major and untransposed: left reads along k, right along cols.
            let ar = e / TK;
            let ak = e % TK;
            a_tile[ak * TILE + ar] = load_left(row0 + ar, k0 + ak, inner);
            let bk = e / TILE;
            let bc = e % TILE;
            b_tile[bk * TILE + bc] = load_right(k0 + bk, col0 + bc, inner);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            var ra: array<f32, 4>;
            var rb: array<f32, 4>;
            for (var i = 0u; i < PER; i++) {
                ra[i] = a_tile[kk * TILE + ty * PER + i];
                rb[i] = b_tile[kk * TILE + tx * PER + i];
            }
            for (var i = 0u; i < PER; i++) {
                for (var j = 0u; j < PER; j++) {
                    acc[i * PER + j] += ra[i] * rb[j];
                }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < PER; i++) {
        let r = row0 + ty * PER + i;
        if (r >= rows) { continue; }
        for (var j = 0u; j < PER; j++) {
            let col = col0 + tx * PER + j;
            if (col >= cols) { continue; }
            let idx = r * cols + col;
            out[idx] = acc[i * PER + j] + params.a * x[idx];
        }
    }
}
