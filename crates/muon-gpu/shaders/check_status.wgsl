// The NaN/Inf policy on the device, without any readback inside a step.
//   `check`:  a NaN or ±Inf gradient element (found from its bits, so fast-math compilers
//             cannot fold the test away) records its index with
//             atomicMax(bad, 0xFFFFFFFF − index), so `bad` ends up encoding the FIRST bad index
//             and stays 0 when every element is finite. One element per thread in
//             check_finite.wgsl, four (one vec4 load) in check_finite_vec4.wgsl; both follow
//             this file.
//   `commit`: one thread, after the parameter's update kernels (which are no-ops while
//             bad != 0): a bad step bumps `skipped` and keeps its encoded index in `last_bad`;
//             a good step bumps `steps`; then `bad` is reset for the next step.
// The host reads `skipped`/`last_bad` on request (GpuMuon::check, GpuAdam::check).

struct Status {
    bad: atomic<u32>,   // this step: 0, or 0xFFFFFFFF − (first non-finite index)
    skipped: u32,       // steps skipped since the host last cleared the report
    last_bad: u32,      // `bad` of the latest skipped step
    steps: u32,         // steps applied (Adam's t)
}

struct CheckParams {
    len: u32,    // number of gradient elements
    _pad0: u32,  // padding
    _pad1: u32,  // padding
    _pad2: u32,  // padding
}

@group(0) @binding(0) var<uniform> params: CheckParams;          // gradient length
@group(0) @binding(2) var<storage, read_write> status: Status;    // the parameter's status

// Records element i's index if the element (its bits) is a NaN or ±Inf.
fn check_bits(i: u32, bits: u32) {
    if ((bits & 0x7f800000u) == 0x7f800000u) {
        atomicMax(&status.bad, 0xffffffffu - i);
    }
}

@compute @workgroup_size(1, 1, 1)
fn commit() {
    let bad = atomicLoad(&status.bad);
    // Both counts saturate at u32::MAX, as muon-core's step count does.
    if (bad != 0u) {
        if (status.skipped != 0xffffffffu) { status.skipped += 1u; }
        status.last_bad = bad;
    } else if (status.steps != 0xffffffffu) {
        status.steps += 1u;
    }
    atomicStore(&status.bad, 0u);
}
