//! Split-k: when a tiled product (the Gram product, the Newton–Schulz step) divides its inner
//! dimension into chunks summed by separate workgroups, then adds the chunk sums in a second
//! pass.
//!
//! The tiled kernels run one 64-thread workgroup per 64×64 output block. A product of few
//! blocks leaves a large GPU mostly idle (a 768² Newton–Schulz iterate has 144 blocks, its
//! Gram product 78 on and above the diagonal: one or two warps on each multiprocessor of a
//! 132-SM card, where a multiprocessor needs several to hide its latencies), and a product
//! over a very long inner dimension has a few workgroups each walk all of it (seconds, which
//! a display driver's watchdog ends; beyond lavapipe's per-invocation loop cap). Both split.
//! The rule is a first one from occupancy arithmetic, not yet measured on hardware
//! (`benches/gpu_machine.sh` times Newton–Schulz at 1024, where it applies).

/// The longest chunk, in inner terms, unless the scratch bound asks for longer ones: no
/// invocation walks more.
pub(crate) const MAX_CHUNK: u32 = 4096;

/// The shortest chunk made to fill the GPU (16 k-slices of 16 terms): shorter ones would spend
/// more on storing and adding their sums than on the products.
pub(crate) const MIN_CHUNK: u32 = 256;

/// Products of fewer 64×64 blocks than this split their inner dimension until about this many
/// workgroups run (chunks of at least [`MIN_CHUNK`] terms); larger ones have blocks enough and
/// run tiled (in 128×128 blocks from 2048², `ProductTiles`).
pub(crate) const TARGET_BLOCKS: u32 = 512;

/// The chunk sums take `chunks · outputs` floats; more chunks than fit in this many (64 MiB)
/// are merged into longer ones.
pub(crate) const MAX_SCRATCH: u64 = 16 << 20;

/// How a product of `blocks` output blocks over `k` inner terms, with `outputs` floats of
/// output, splits: `(chunks, chunk)` (chunk a multiple of 16, no chunk empty), or `None` where
/// it runs tiled. Without `fill` (`MUON_SPLIT_K=long`, for measuring the rule) only long
/// products split, into chunks of at most [`MAX_CHUNK`] terms.
pub(crate) fn split(blocks: u32, k: u32, outputs: u64, fill: bool) -> Option<(u32, u32)> {
    if blocks >= TARGET_BLOCKS {
        return None;
    }
    // Enough chunks to fill the GPU, none shorter than MIN_CHUNK; and enough that none is
    // longer than MAX_CHUNK; then as many as the scratch holds.
    let fill = if fill {
        TARGET_BLOCKS.div_ceil(blocks.max(1)).min(k / MIN_CHUNK)
    } else {
        0
    };
    let fit = (MAX_SCRATCH / outputs.max(1)).max(1);
    let chunks = u64::from(fill.max(k.div_ceil(MAX_CHUNK))).min(fit);
    // Chunks of a multiple of 16 terms (whole k-slices), then as many as they need.
    let chunk = u64::from(k).div_ceil(chunks.max(1)).next_multiple_of(16);
    let chunks = u64::from(k).div_ceil(chunk.max(1));
    (chunks >= 2).then_some((chunks as u32, chunk as u32))
}

/// Blocks on and above the diagonal of an order-`m` symmetric product in 64×64 blocks
/// (saturating: any count beyond `u32` is far above the split threshold): the work of a
/// product that computes only those.
pub(crate) fn upper_blocks(m: u32) -> u32 {
    let t = m.div_ceil(super::common::TILE);
    t.saturating_mul(t + 1) / 2
}

/// Bytes of chunk sums a product split as `split` into `outputs` floats each needs.
pub(crate) fn bytes(split: Option<(u32, u32)>, outputs: u64) -> u64 {
    split.map_or(0, |(chunks, _)| u64::from(chunks) * outputs * 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_whole_slices() {
        assert_eq!(MAX_CHUNK % 16, 0, "a multiple of the k-slice depth TK");
        assert_eq!(MIN_CHUNK % 16, 0, "a multiple of the k-slice depth TK");
    }

    #[test]
    fn no_split_without_two_chunks_or_with_blocks_enough() {
        assert_eq!(split(1, 0, 1, true), None);
        assert_eq!(split(1, 511, 1, true), None);
        assert_eq!(split(1, 512, 1, true), Some((2, 256)));
        assert_eq!(split(511, 1 << 20, 1, true), Some((256, 4096)));
        assert_eq!(split(512, 1 << 20, 1, true), None);
        assert_eq!(bytes(None, 100), 0);
        assert_eq!(bytes(Some((3, 256)), 100), 1200);
    }

    #[test]
    fn upper_blocks_count_the_triangle() {
        assert_eq!(upper_blocks(1), 1);
        assert_eq!(upper_blocks(64), 1);
        assert_eq!(upper_blocks(65), 3);
        assert_eq!(upper_blocks(768), 78);
        assert_eq!(upper_blocks(1984), 496);
        assert_eq!(upper_blocks(u32::MAX), u32::MAX / 2);
    }

    #[test]
    fn without_fill_only_long_products_split() {
        assert_eq!(split(1, 4096, 1, false), None);
        assert_eq!(split(1, 4097, 1, false), Some((2, 2064)));
        assert_eq!(split(100, 3072, 1, false), None);
        assert_eq!(split(100, 3072, 1, true), Some((6, 512)));
        assert_eq!(split(1, 1 << 20, 1, false), Some((256, 4096)));
    }
}
