//! The mechanics every kernel's host half shares: compiling a WGSL program, binding buffers
//! in order, sizing and recording dispatches, and the scratch/uniform buffers they use.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// The most workgroups one dispatch may have in one dimension (WebGPU's default limit).
pub const MAX_WORKGROUPS_PER_DIM: u32 = 65_535;

/// Threads per workgroup of the element-wise kernels.
pub(crate) const ELEMENTWISE_WG: u32 = 256;

/// Output block edge of the tiled product kernels with [`ProductTiles::Small`] (`TILE` in
/// `tile_product.wgsl` with `WG = 8`).
pub(crate) const TILE: u32 = 64;

/// Output block edge with [`ProductTiles::Large`] (`WG = 16`).
const LARGE_TILE: u32 = 128;

/// Threads per workgroup with [`ProductTiles::Large`]: 16×16.
const LARGE_THREADS: u32 = 256;

/// Workgroup memory of the tile core with [`ProductTiles::Large`], bytes: two k-slices of 16
/// rows of 33 `vec4<f32>` (128 columns plus one vec4 of padding).
const LARGE_WORKGROUP_BYTES: u32 = 2 * 16 * 33 * 16;

/// [`ProductTiles::Auto`] takes 128×128 blocks for an output of at least this many of them
/// (an `m × n` output with `m·n ≥ 2048²`) and both sides at least 128, 64×64 otherwise: a
/// small output in large blocks leaves most of a GPU idle, and a thin one wastes most of each
/// block. A first rule, not yet measured on hardware (`benches/gpu_machine.sh`
/// times both geometries: `MUON_PRODUCT_TILES`).
const LARGE_MIN_BLOCKS: u32 = 256;

/// The output blocks of the tiled `f32` products (matmul, Gram, the Newton–Schulz step, and
/// [`crate::Precision::F16`] emulated). Both geometries give the same bits: each output sums
/// its terms in `k` order either way. See [`crate::GpuContext::set_product_tiles`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProductTiles {
    /// [`ProductTiles::Large`] where the adapter allows it and the output has at least 256
    /// large blocks (`m·n ≥ 2048²`) and both sides at least 128, else [`ProductTiles::Small`].
    #[default]
    Auto,
    /// 64×64 blocks, 64 threads per workgroup (8×8 outputs each), 8.5 KiB of workgroup memory.
    Small,
    /// 128×128 blocks, 256 threads per workgroup (8×8 outputs each), 16.5 KiB of workgroup
    /// memory: half the operand loads per multiply-add of [`ProductTiles::Small`].
    Large,
}

impl ProductTiles {
    /// Whether `device`'s limits allow [`ProductTiles::Large`] (256 threads per workgroup, 16
    /// on each side, 16.5 KiB of workgroup memory; WebGPU's defaults allow 16 KiB).
    #[must_use]
    pub fn large_supported(device: &wgpu::Device) -> bool {
        Self::large_fits(&device.limits())
    }

    /// Whether `limits` allow [`ProductTiles::Large`].
    fn large_fits(limits: &wgpu::Limits) -> bool {
        LARGE_THREADS <= limits.max_compute_invocations_per_workgroup
            && 16 <= limits.max_compute_workgroup_size_x
            && 16 <= limits.max_compute_workgroup_size_y
            && LARGE_WORKGROUP_BYTES <= limits.max_compute_workgroup_storage_size
    }

    fn code(self) -> u8 {
        match self {
            Self::Auto => 0,
            Self::Small => 1,
            Self::Large => 2,
        }
    }

    fn from_code(code: u8) -> Self {
        match code {
            1 => Self::Small,
            2 => Self::Large,
            _ => Self::Auto,
        }
    }
}

/// The product-tile setting of one device's kernels, shared by the three tiled kernels.
#[derive(Debug)]
pub(crate) struct TileChoice {
    setting: AtomicU8,
    /// Whether the 128×128 pipelines exist ([`ProductTiles::large_supported`]).
    large: bool,
}

impl TileChoice {
    pub(crate) fn new(large: bool) -> Self {
        Self {
            setting: AtomicU8::new(ProductTiles::Auto.code()),
            large,
        }
    }

    pub(crate) fn large_supported(&self) -> bool {
        self.large
    }

    pub(crate) fn setting(&self) -> ProductTiles {
        ProductTiles::from_code(self.setting.load(Ordering::Relaxed))
    }

    /// Sets `tiles`; `false` (and nothing changed) for [`ProductTiles::Large`] without support.
    pub(crate) fn set(&self, tiles: ProductTiles) -> bool {
        if tiles == ProductTiles::Large && !self.large {
            return false;
        }
        self.setting.store(tiles.code(), Ordering::Relaxed);
        true
    }

    /// The geometry an `m × n` output runs in now: [`ProductTiles::Small`] or
    /// [`ProductTiles::Large`].
    pub(crate) fn pick(&self, m: u32, n: u32) -> ProductTiles {
        match self.setting() {
            ProductTiles::Auto
                if self.large
                    && m >= LARGE_TILE
                    && n >= LARGE_TILE
                    && m.div_ceil(LARGE_TILE)
                        .saturating_mul(n.div_ceil(LARGE_TILE))
                        >= LARGE_MIN_BLOCKS =>
            {
                ProductTiles::Large
            }
            ProductTiles::Large => ProductTiles::Large,
            _ => ProductTiles::Small,
        }
    }
}

/// One entry point of a tiled product compiled in both geometries (the large one only where
/// the device allows it), dispatched in the geometry [`TileChoice::pick`] gives.
#[derive(Debug)]
pub(crate) struct Tiled {
    small: wgpu::ComputePipeline,
    large: Option<wgpu::ComputePipeline>,
    choice: Arc<TileChoice>,
}

impl Tiled {
    /// Entry point `entry` of `small` and of `large` (the same kernel in 128×128 blocks,
    /// `None` where unsupported), with pipeline constants `constants`.
    pub(crate) fn new(
        device: &wgpu::Device,
        small: &Program,
        large: Option<&Program>,
        entry: &str,
        constants: &[(&str, f64)],
        choice: &Arc<TileChoice>,
    ) -> Self {
        Self {
            small: small.pipeline_with(device, entry, constants),
            large: large.map(|p| p.pipeline_with(device, entry, constants)),
            choice: Arc::clone(choice),
        }
    }

    /// Records the kernel for an `m × n` output.
    pub(crate) fn record(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_group: &wgpu::BindGroup,
        m: u32,
        n: u32,
    ) {
        match (self.choice.pick(m, n), &self.large) {
            (ProductTiles::Large, Some(large)) => {
                let groups = m.div_ceil(LARGE_TILE) * n.div_ceil(LARGE_TILE);
                record(pass, large, bind_group, groups);
            }
            _ => record(pass, &self.small, bind_group, tile_groups(m, n)),
        }
    }
}

/// Folds `workgroups` into a 2-D grid `(x, y)` with `x ≤ 65,535`; the kernels linearise it
/// back as `wid.x + wid.y · num_workgroups.x` and skip the overshoot.
#[must_use]
pub fn grid_2d(workgroups: u32) -> (u32, u32) {
    let x = workgroups.clamp(1, MAX_WORKGROUPS_PER_DIM);
    (x, workgroups.div_ceil(x))
}

/// Workgroups for `len` elements at one element per thread.
pub(crate) fn elementwise_groups(len: u32) -> u32 {
    len.div_ceil(ELEMENTWISE_WG)
}

/// Workgroups for an `m × n` output in 64×64 blocks ([`ProductTiles::Small`]).
pub(crate) fn tile_groups(m: u32, n: u32) -> u32 {
    m.div_ceil(TILE) * n.div_ceil(TILE)
}

/// Records `pipeline` over `workgroups` workgroups (folded into 2-D by [`grid_2d`]) with
/// `bind_group` at group 0.
pub(crate) fn record(
    pass: &mut wgpu::ComputePass<'_>,
    pipeline: &wgpu::ComputePipeline,
    bind_group: &wgpu::BindGroup,
    workgroups: u32,
) {
    pass.set_pipeline(pipeline);
    pass.set_bind_group(0, bind_group, &[]);
    let (x, y) = grid_2d(workgroups);
    pass.dispatch_workgroups(x, y, 1);
}

/// How a kernel sees one binding.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Access {
    /// `var<uniform>`.
    Uniform,
    /// `var<storage, read>`.
    Read,
    /// `var<storage, read_write>`.
    ReadWrite,
}

/// Whether wgpu gives every loop of the crate's kernels a counter that ends it after 2⁶⁴
/// trips (its default, "loop bounding": a loop that never ends is undefined behaviour in
/// SPIR-V and Metal, and a driver may compile it into anything).
///
/// The crate's loops need none: each has a form that ends whatever the parameters and buffer
/// contents (a counter stepping by one towards any bound, halving towards zero, or stepping
/// by a constant towards a constant; strides over run-time bounds count their trips first,
/// `shaders/trips.wgsl`), which `tests/shaders.rs` checks on every program as compiled. The
/// counters cost a variable and a branch per trip, and since the variable persists across a
/// loop's entries, a compiler cannot prove the trip count of an inner loop and may keep it
/// rolled (wgpu issue #7698: pipelines 100× slower with it). Every other check stays on:
/// array and buffer indices are clamped as before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LoopBounding {
    /// No counters (the default).
    #[default]
    Off,
    /// wgpu's counters, as for any shader (`MUON_LOOP_BOUNDING=on`): for measuring what they
    /// cost, and a way back should a driver ever disagree.
    On,
}

/// The device the kernels are compiled for and how ([`LoopBounding`]). A kernel's
/// constructor takes it where it would take the device, which it derefs to, for making its
/// pipelines and buffers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Compiler<'a> {
    device: &'a wgpu::Device,
    bounding: LoopBounding,
}

impl<'a> Compiler<'a> {
    pub(crate) fn new(device: &'a wgpu::Device, bounding: LoopBounding) -> Self {
        Self { device, bounding }
    }

    /// The shader module of WGSL `source`.
    fn module(&self, label: &'static str, source: &str) -> wgpu::ShaderModule {
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        };
        match self.bounding {
            LoopBounding::On => self.device.create_shader_module(desc),
            LoopBounding::Off => {
                let mut checks = wgpu::ShaderRuntimeChecks::checked();
                checks.force_loop_bounding = false;
                // SAFETY: with loop bounding off, wgpu requires shaders without infinite loops.
                // `source` is one of the crate's programs (`sources.rs`; `Program` is
                // crate-private), and every loop in each has a form that ends for any
                // parameters and buffer contents: `tests/shaders.rs`,
                // `every_loop_ends_for_any_parameters`, checks the texts as compiled. WGSL
                // has no recursion. All other runtime checks stay on.
                unsafe { self.device.create_shader_module_trusted(desc, checks) }
            }
        }
    }
}

impl std::ops::Deref for Compiler<'_> {
    type Target = wgpu::Device;

    fn deref(&self) -> &wgpu::Device {
        self.device
    }
}

/// One WGSL program: its module and the bind-group layout of its bindings `0..` (group 0,
/// in the order of the [`Access`] list), from which the kernel makes one pipeline per entry
/// point. Create it inside [`super::Kernels::new`]'s error scope.
#[derive(Debug)]
pub(crate) struct Program {
    label: &'static str,
    module: wgpu::ShaderModule,
    layout: wgpu::BindGroupLayout,
}

impl Program {
    /// Compiles `source` and lays out its bindings.
    pub(crate) fn new(
        device: &Compiler<'_>,
        label: &'static str,
        source: &str,
        access: &[Access],
    ) -> Self {
        Self {
            label,
            module: device.module(label, source),
            layout: bind_group_layout(device, label, access),
        }
    }

    /// Compiles a tiled product in both geometries: `small` (64×64 blocks) with its layout,
    /// and `large` (128×128) with the same layout where `choice` allows it.
    pub(crate) fn tiled(
        device: &Compiler<'_>,
        label: &'static str,
        small: &str,
        large: &str,
        access: &[Access],
        choice: &TileChoice,
    ) -> (Self, Option<Self>) {
        let program = Self::new(device, label, small, access);
        let wide = choice
            .large_supported()
            .then(|| Self::with_layout_of(device, label, large, &program));
        (program, wide)
    }

    /// Compiles `source` with `other`'s bind-group layout (the same bindings), so one bind
    /// group serves pipelines of both.
    pub(crate) fn with_layout_of(
        device: &Compiler<'_>,
        label: &'static str,
        source: &str,
        other: &Program,
    ) -> Self {
        Self {
            label,
            module: device.module(label, source),
            layout: other.layout.clone(),
        }
    }

    /// The compute pipeline of entry point `entry`.
    pub(crate) fn pipeline(&self, device: &wgpu::Device, entry: &str) -> wgpu::ComputePipeline {
        self.pipeline_with(device, entry, &[])
    }

    /// The compute pipeline of entry point `entry` with the program's `override` constants
    /// set to `constants` (name, value).
    pub(crate) fn pipeline_with(
        &self,
        device: &wgpu::Device,
        entry: &str,
        constants: &[(&str, f64)],
    ) -> wgpu::ComputePipeline {
        let label = format!("{}/{entry}", self.label);
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&label),
            bind_group_layouts: &[Some(&self.layout)],
            immediate_size: 0,
        });
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: Some(&layout),
            module: &self.module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                // Every kernel writes its workgroup memory before reading it.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        })
    }

    /// A bind group binding `buffers` (each a whole buffer or a range of one, such as a
    /// [`crate::GpuMatrix::binding`]), in order, to bindings `0..`.
    pub(crate) fn bind(
        &self,
        device: &wgpu::Device,
        buffers: &[wgpu::BufferBinding<'_>],
    ) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry<'_>> = (0u32..)
            .zip(buffers)
            .map(|(binding, b)| wgpu::BindGroupEntry {
                binding,
                resource: wgpu::BindingResource::Buffer(b.clone()),
            })
            .collect();
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(self.label),
            layout: &self.layout,
            entries: &entries,
        })
    }
}

/// A bind-group layout of bindings `0..` (group 0, visible to compute), in `access` order.
fn bind_group_layout(
    device: &wgpu::Device,
    label: &str,
    access: &[Access],
) -> wgpu::BindGroupLayout {
    let entries: Vec<wgpu::BindGroupLayoutEntry> = (0u32..)
        .zip(access)
        .map(|(binding, a)| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match a {
                    Access::Uniform => wgpu::BufferBindingType::Uniform,
                    Access::Read => wgpu::BufferBindingType::Storage { read_only: true },
                    Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(label),
        entries: &entries,
    })
}

/// `buffer` bound whole (for the kernels' own uniforms and scratch).
pub(crate) fn whole(buffer: &wgpu::Buffer) -> wgpu::BufferBinding<'_> {
    buffer.as_entire_buffer_binding()
}

/// A parameter block holding `value` (writable later with `Queue::write_buffer`), usable as a
/// uniform binding and as a read-only storage binding: the tiled products ([`super::Matmul`],
/// [`super::Gram`], [`super::NsStep`]) read their parameters from storage, the other kernels
/// from a uniform.
pub fn uniform_buffer<T: bytemuck::Pod>(
    device: &wgpu::Device,
    label: &str,
    value: &T,
) -> wgpu::Buffer {
    buffer_init(
        device,
        label,
        bytemuck::bytes_of(value),
        wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
    )
}

/// A buffer holding `contents` (padded to whole 4-byte words, at least one), as wgpu's
/// `DeviceExt::create_buffer_init`, except that a buffer the device could not create (out of
/// memory, beyond its limits, device lost) is returned invalid, its error left to the caller's
/// error scope or the context's handler, instead of panicking on the failed mapping.
pub(crate) fn buffer_init(
    device: &wgpu::Device,
    label: &str,
    contents: &[u8],
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    let size = (contents.len() as u64)
        .next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT)
        .max(wgpu::COPY_BUFFER_ALIGNMENT);
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage,
        mapped_at_creation: true,
    });
    if let Ok(mut view) = buffer.get_mapped_range_mut(..) {
        view.slice(..contents.len()).copy_from_slice(contents);
    }
    buffer.unmap();
    buffer
}

/// A zeroed storage buffer of `bytes` bytes (at least 4); wgpu zero-fills new buffers.
pub(crate) fn storage_buffer_zeroed(
    device: &wgpu::Device,
    label: &str,
    bytes: u64,
) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(4),
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_folds_above_the_dimension_limit() {
        assert_eq!(grid_2d(0), (1, 0));
        assert_eq!(grid_2d(1), (1, 1));
        assert_eq!(grid_2d(65_535), (65_535, 1));
        assert_eq!(grid_2d(65_536), (65_535, 2));
        let (x, y) = grid_2d(262_144);
        assert!(x * y >= 262_144 && x <= MAX_WORKGROUPS_PER_DIM);
    }

    #[test]
    fn auto_takes_large_blocks_from_256_of_them() {
        let choice = TileChoice::new(true);
        assert_eq!(choice.setting(), ProductTiles::Auto);
        assert_eq!(choice.pick(2048, 2048), ProductTiles::Large);
        assert_eq!(choice.pick(2048, 1920), ProductTiles::Small);
        assert_eq!(choice.pick(128, 128 * 256), ProductTiles::Large);
        assert_eq!(choice.pick(128, 128 * 255), ProductTiles::Small);
        assert_eq!(choice.pick(127, 1 << 20), ProductTiles::Small);
        assert_eq!(choice.pick(1 << 20, 127), ProductTiles::Small);
        assert_eq!(choice.pick(u32::MAX, u32::MAX), ProductTiles::Large);
        assert!(choice.set(ProductTiles::Small));
        assert_eq!(choice.pick(8192, 8192), ProductTiles::Small);
        assert!(choice.set(ProductTiles::Large));
        assert_eq!(choice.setting(), ProductTiles::Large);
        assert_eq!(choice.pick(1, 1), ProductTiles::Large);
    }

    #[test]
    fn large_blocks_are_refused_without_support() {
        let choice = TileChoice::new(false);
        assert!(!choice.set(ProductTiles::Large));
        assert_eq!(choice.setting(), ProductTiles::Auto);
        assert_eq!(choice.pick(8192, 8192), ProductTiles::Small);
        assert!(choice.set(ProductTiles::Small));
        assert_eq!(choice.setting(), ProductTiles::Small);
    }

    #[test]
    fn large_blocks_need_256_threads_16_wide_and_16_5_kib() {
        let roomy = wgpu::Limits {
            max_compute_workgroup_storage_size: 32 << 10,
            ..wgpu::Limits::default()
        };
        assert!(ProductTiles::large_fits(&roomy));
        // WebGPU's defaults: 256 threads, but 16 KiB of workgroup memory.
        assert!(!ProductTiles::large_fits(&wgpu::Limits::default()));
        let exact = wgpu::Limits {
            max_compute_workgroup_storage_size: LARGE_WORKGROUP_BYTES,
            ..wgpu::Limits::default()
        };
        assert!(ProductTiles::large_fits(&exact));
        for short in [
            wgpu::Limits {
                max_compute_invocations_per_workgroup: 255,
                ..roomy.clone()
            },
            wgpu::Limits {
                max_compute_workgroup_size_x: 15,
                ..roomy.clone()
            },
            wgpu::Limits {
                max_compute_workgroup_size_y: 15,
                ..roomy.clone()
            },
        ] {
            assert!(!ProductTiles::large_fits(&short), "{short:?}");
        }
    }

    #[test]
    fn large_workgroup_memory_matches_wgsl() {
        // TK · ROW4 vec4s of each operand, ROW4 = 2·WG + 1 with WG = 16.
        assert_eq!(LARGE_WORKGROUP_BYTES, 2 * 16 * (2 * 16 + 1) * 16);
        assert!(super::super::sources::MATMUL_LARGE.starts_with("const WG: u32 = 16u;"));
        assert!(super::super::sources::MATMUL.starts_with("const WG: u32 = 8u;"));
        assert!(super::super::sources::GRAM.contains("const TK: u32 = 16u;"));
    }
}
