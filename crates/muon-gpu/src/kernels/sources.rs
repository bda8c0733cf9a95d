//! The WGSL text of every program the crate compiles, exactly as compiled.
//!
//! WGSL has no `#include`: the product kernels are compiled with `shaders/tile_product.wgsl`
//! in front of them, once per block geometry (the `WG` constant in front of that), and the
//! element-wise kernels with `shaders/elementwise.wgsl`. `tests/shaders.rs` includes this file
//! and validates these texts, so the test sees what the device sees.
//!
//! Where the files live: in `crates/muon-gpu/shaders/`, inside this package, so that
//! `cargo package` ships them and `include_str!` finds them in the published crate too. The
//! workspace's top-level `shaders/` is a symbolic link to that folder, so a reader finds the
//! kernels where the project layout promises them while one copy of each file exists (a link
//! the other way round would leave the package without its kernels: cargo packages the files a
//! package holds, and a path leaving the package is not one of them).

/// An element-wise kernel: `shaders/elementwise.wgsl` (what every element-wise kernel shares),
/// then the kernel's files.
macro_rules! elementwise {
    ($($file:literal),+) => {
        concat!(
            include_str!("../../shaders/elementwise.wgsl"),
            $(include_str!(concat!("../../shaders/", $file))),+
        )
    };
}

/// `elementwise.wgsl` + `adam_step.wgsl` + `adam_update.wgsl` (one element per array element).
pub(crate) const ADAM_UPDATE: &str = elementwise!("adam_step.wgsl", "adam_update.wgsl");

/// `elementwise.wgsl` + `adam_step.wgsl` + `adam_update_vec4.wgsl` (vec4 loads and stores).
pub(crate) const ADAM_UPDATE_VEC4: &str = elementwise!("adam_step.wgsl", "adam_update_vec4.wgsl");

/// `elementwise.wgsl` + `check_status.wgsl` + `check_finite.wgsl` (one element per array
/// element).
pub(crate) const CHECK_FINITE: &str = elementwise!("check_status.wgsl", "check_finite.wgsl");

/// `elementwise.wgsl` + `check_status.wgsl` + `check_finite_vec4.wgsl` (vec4 loads).
pub(crate) const CHECK_FINITE_VEC4: &str =
    elementwise!("check_status.wgsl", "check_finite_vec4.wgsl");

/// `shaders/trips.wgsl` (loop trip counts) + `shaders/frobenius_norm.wgsl`.
pub(crate) const FROBENIUS_NORM: &str = concat!(
    include_str!("../../shaders/trips.wgsl"),
    include_str!("../../shaders/frobenius_norm.wgsl"),
);

/// `shaders/gather_rows.wgsl`.
pub(crate) const GATHER_ROWS: &str = include_str!("../../shaders/gather_rows.wgsl");

/// A tiled product kernel: the block geometry (`WG`, threads per workgroup edge: 8 for 64×64
/// blocks, 16 for 128×128), `shaders/trips.wgsl`, `shaders/tile_product.wgsl`, then the
/// kernel's files.
macro_rules! tiled {
    ($wg:literal, $($file:literal),+) => {
        concat!(
            "const WG: u32 = ", $wg, "u;\n",
            include_str!("../../shaders/trips.wgsl"),
            include_str!("../../shaders/tile_product.wgsl"),
            $(include_str!(concat!("../../shaders/", $file))),+
        )
    };
}

/// `tiled!`: `shaders/split_k.wgsl` + `shaders/gram.wgsl`, 64×64 blocks.
pub(crate) const GRAM: &str = tiled!(8, "split_k.wgsl", "gram.wgsl");

/// The same, 128×128 blocks.
pub(crate) const GRAM_LARGE: &str = tiled!(16, "split_k.wgsl", "gram.wgsl");

/// `tiled!`: `shaders/matmul_io.wgsl` + `shaders/split_k.wgsl` + `shaders/matmul.wgsl`,
/// 64×64 blocks.
pub(crate) const MATMUL: &str = tiled!(8, "matmul_io.wgsl", "split_k.wgsl", "matmul.wgsl");

/// The same, 128×128 blocks.
pub(crate) const MATMUL_LARGE: &str = tiled!(16, "matmul_io.wgsl", "split_k.wgsl", "matmul.wgsl");

/// `shaders/trips.wgsl` + `shaders/matmul_io.wgsl` + `shaders/matmul_coop.wgsl` (the
/// tensor-core product; compiled only on adapters that have cooperative matrices).
///
/// WGSL's enable directives must open the module, so they are here rather than in the file.
pub(crate) const MATMUL_COOP: &str = concat!(
    "enable f16;\nenable wgpu_cooperative_matrix;\n",
    include_str!("../../shaders/trips.wgsl"),
    include_str!("../../shaders/matmul_io.wgsl"),
    include_str!("../../shaders/matmul_coop.wgsl"),
);

/// `elementwise.wgsl` + `muon_step.wgsl` + `muon_update.wgsl` (one element per array element).
pub(crate) const MUON_UPDATE: &str = elementwise!("muon_step.wgsl", "muon_update.wgsl");

/// `elementwise.wgsl` + `muon_step.wgsl` + `muon_update_vec4.wgsl` (vec4 loads and stores).
pub(crate) const MUON_UPDATE_VEC4: &str = elementwise!("muon_step.wgsl", "muon_update_vec4.wgsl");

/// `shaders/ns_normalize.wgsl`.
pub(crate) const NS_NORMALIZE: &str = include_str!("../../shaders/ns_normalize.wgsl");

/// `shaders/scatter_add_rows.wgsl`.
pub(crate) const SCATTER_ADD_ROWS: &str = include_str!("../../shaders/scatter_add_rows.wgsl");

/// `shaders/silu.wgsl`.
pub(crate) const SILU: &str = include_str!("../../shaders/silu.wgsl");

/// `shaders/trips.wgsl` + `shaders/softmax_xent.wgsl`.
pub(crate) const SOFTMAX_XENT: &str = concat!(
    include_str!("../../shaders/trips.wgsl"),
    include_str!("../../shaders/softmax_xent.wgsl"),
);

/// `tiled!`: `shaders/split_k.wgsl` + `shaders/ns_step.wgsl`, 64×64 blocks.
pub(crate) const NS_STEP: &str = tiled!(8, "split_k.wgsl", "ns_step.wgsl");

/// The same, 128×128 blocks.
pub(crate) const NS_STEP_LARGE: &str = tiled!(16, "split_k.wgsl", "ns_step.wgsl");

/// Every program: its name and its text as compiled.
#[allow(
    dead_code,
    reason = "read by tests/shaders.rs, which includes this file"
)]
pub(crate) const PROGRAMS: [(&str, &str); 19] = [
    ("adam_update", ADAM_UPDATE),
    ("adam_update_vec4", ADAM_UPDATE_VEC4),
    ("check_finite", CHECK_FINITE),
    ("check_finite_vec4", CHECK_FINITE_VEC4),
    ("frobenius_norm", FROBENIUS_NORM),
    ("gather_rows", GATHER_ROWS),
    ("gram", GRAM),
    ("gram_large", GRAM_LARGE),
    ("matmul", MATMUL),
    ("matmul_large", MATMUL_LARGE),
    ("matmul_coop", MATMUL_COOP),
    ("muon_update", MUON_UPDATE),
    ("muon_update_vec4", MUON_UPDATE_VEC4),
    ("ns_normalize", NS_NORMALIZE),
    ("ns_step", NS_STEP),
    ("ns_step_large", NS_STEP_LARGE),
    ("scatter_add_rows", SCATTER_ADD_ROWS),
    ("silu", SILU),
    ("softmax_xent", SOFTMAX_XENT),
];
