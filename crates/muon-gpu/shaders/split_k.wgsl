// Split-k's chunk sums, shared by gram.wgsl, ns_step.wgsl and matmul.wgsl (compiled after
// tile_product.wgsl, before the kernel): a product of few output blocks, or over a very long
// inner dimension, has each (block, chunk) workgroup store its block's sum over one chunk of
// the inner terms into `partials`, then adds each output's chunk sums in a second pass (the
// rule: src/kernels/split_k.rs). Each kernel declares the binding
//     var<storage, read_write> partials: array<f32>; // chunks · outputs sums
// (binding 4 in gram.wgsl and ns_step.wgsl, 5 in matmul.wgsl, after its output); the tiled
// path binds a placeholder there.

// The chunks of `chunk` terms that cover `k` terms.
fn chunk_count(k: u32, chunk: u32) -> u32 {
    return (k + chunk - 1u) / chunk;
}

// Output e's sum over its `chunks` chunk sums (`outputs` apart), in chunk order.
fn chunk_total(e: u32, outputs: u32, chunks: u32) -> f32 {
    var acc = 0.0;
    for (var c = 0u; c < chunks; c++) {
        acc += partials[c * outputs + e];
    }
    return acc;
}
