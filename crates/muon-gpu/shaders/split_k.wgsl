// Split-k's chunk sums, shared by gram.wgsl and ns_step.wgsl (compiled after
// tile_product.wgsl, before the kernel): a product of few output blocks, or over a very long
// inner dimension, has each (block, chunk) workgroup store its block's sum over one chunk of
// the inner terms into `partials`, then adds each output's chunk sums in a second pass (the
// rule: src/kernels/split_k.rs). The tiled path binds a placeholder here.

@group(0) @binding(4) var<storage, read_write> partials: array<f32>; // split-k only: chunks · outputs sums

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
