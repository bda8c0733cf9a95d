// Row-wise softmax cross-entropy and its gradient with respect to the logits. Row r of the
// `rows × cols` logits Z holds one sample's scores over `cols` classes, its class is
// target[r] and its weight weight[r]:
//     P[r] = softmax(Z[r]),   grad[r][c] = weight[r] · (P[r][c] − [c = target[r]]),
//     stats[r] = (P[r][target], −ln P[r][target], 1 if target is the strict arg-max else 0,
//                 weight[r] · −ln P[r][target]).
// The loss is computed as ln Σ exp(z − max) + max − z_target (no log of an underflowed
// probability). A target at or past `cols` has no class: its one-hot and stats are zero.
// One workgroup of 256 threads per row (grid folded into 2-D); each thread walks the columns
// with stride 256 and the workgroup reduces max, Σ exp and the count of rivals in shared memory.

struct XentParams {
    rows: u32,  // samples
    cols: u32,  // classes
    _pad0: u32, // padding to 16 bytes
    _pad1: u32, // padding to 16 bytes
}

@group(0) @binding(0) var<uniform> params: XentParams;   // shapes
@group(0) @binding(1) var<storage, read> logits: array<f32>;       // rows × cols
@group(0) @binding(2) var<storage, read> targets: array<u32>;      // rows class indices
@group(0) @binding(3) var<storage, read> weights: array<f32>;      // rows weights
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;   // rows × cols
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;  // rows × 4

const WG: u32 = 256u;
const LOWEST: f32 = -3.40282347e38;

var<workgroup> red_f: array<f32, 256>;
var<workgroup> red_u: array<u32, 256>;

@compute @workgroup_size(256, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // The row is the same for the whole workgroup, so the barriers below stay uniform.
    let row = wid.x + wid.y * nwg.x;
    if (row >= params.rows) { return; }
    let cols = params.cols;
    let base = row * cols;
    let t = targets[row];
    let has_target = t < cols;
    let walk = trips(lid, cols, WG); // this thread's columns: lid, lid + WG, …

    // max
    var m = LOWEST;
    for (var j = 0u; j < walk; j++) {
        let c = lid + j * WG;
        m = max(m, logits[base + c]);
    }
    red_f[lid] = m;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) { red_f[lid] = max(red_f[lid], red_f[lid + s]); }
        workgroupBarrier();
    }
    let mx = red_f[0];
    workgroupBarrier();

    // Σ exp(z − max)
    var sum = 0.0;
    for (var j = 0u; j < walk; j++) {
        let c = lid + j * WG;
        sum += exp(logits[base + c] - mx);
    }
    red_f[lid] = sum;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) { red_f[lid] = red_f[lid] + red_f[lid + s]; }
        workgroupBarrier();
    }
    let total = red_f[0];

    // rivals: other classes scoring at least the target's
    var zt = LOWEST;
    if (has_target) { zt = logits[base + t]; }
    var rivals = 0u;
    for (var j = 0u; j < walk; j++) {
        let c = lid + j * WG;
        if (c != t && logits[base + c] >= zt) { rivals += 1u; }
    }
    red_u[lid] = rivals;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) { red_u[lid] = red_u[lid] + red_u[lid + s]; }
        workgroupBarrier();
    }

    let w = weights[row];
    let inv = 1.0 / total;
    for (var j = 0u; j < walk; j++) {
        let c = lid + j * WG;
        var p = exp(logits[base + c] - mx) * inv;
        if (c == t) { p = p - 1.0; }
        grad[base + c] = w * p;
    }
    if (lid == 0u) {
        if (has_target) {
            let nll = log(total) + mx - zt;
            stats[row * 4u] = exp(zt - mx) * inv;
            stats[row * 4u + 1u] = nll;
            stats[row * 4u + 2u] = select(0.0, 1.0, red_u[0] == 0u);
            stats[row * 4u + 3u] = w * nll;
        } else {
            stats[row * 4u] = 0.0;
            stats[row * 4u + 1u] = 0.0;
            stats[row * 4u + 2u] = 0.0;
            stats[row * 4u + 3u] = 0.0;
        }
    }
}
