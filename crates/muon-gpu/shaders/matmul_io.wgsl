// The parameters and bindings of the general product C = alpha · op(A) · op(B) + beta · D,
// shared by matmul.wgsl (f32 tiles) and matmul_coop.wgsl (tensor cores), so one host layout
// and one bind group serve both. WGSL has no #include: the host compiles each kernel with this
// file in front of it (crates/muon-gpu/src/kernels/sources.rs).
// The parameters are a read-only storage buffer rather than a uniform: lavapipe (Mesa's CPU
// Vulkan driver, CI's adapter) recompiles a shader at every dispatch when branching on
// uniform values lets it shrink the shader by half (its "inlined uniforms"), which this tile
// loop's shape triggers (20 ms per dispatch); storage loads are never inlined.

struct MatmulParams {
    m: u32,      // rows of op(A), C and D
    n: u32,      // columns of op(B), C and D
    k: u32,      // columns of op(A) = rows of op(B)
    flags: u32,  // bit 0: A stored transposed (k×m); bit 1: B stored transposed (n×k); bit 2: symmetric output
    alpha: f32,  // scale of the product
    beta: f32,   // scale of D (0: D is ignored)
    chunk: u32,  // split-k (matmul.wgsl only): inner terms per chunk, a multiple of 16 (0: tiled)
    _pad0: u32,  // padding to 32 bytes
}

@group(0) @binding(0) var<storage, read> params: MatmulParams; // shapes, flags, alpha, beta
@group(0) @binding(1) var<storage, read> a: array<f32>;     // A, m×k (or k×m if transposed)
@group(0) @binding(2) var<storage, read> b: array<f32>;     // B, k×n (or n×k if transposed)
@group(0) @binding(3) var<storage, read> d: array<f32>;     // D, m×n (read only if beta != 0)
@group(0) @binding(4) var<storage, read_write> c: array<f32>; // C, m×n (output)
