//! [`GpuContext`]: the adapter, device, queue and every compute pipeline, made once.

use std::sync::{Arc, Mutex, PoisonError};

use crate::GpuError;
use crate::fast_path::{FastEngine, FastPathStatus, FastState, self_check};
use crate::kernels::{COOP_WORKGROUP_THREADS, Gram, Kernels, LoopBounding, ProductTiles};
use crate::matrix::MAX_KERNEL_ELEMENTS;

/// Environment variable choosing the adapter: an index into [`GpuContext::adapters`]
/// (`MUON_ADAPTER=1`: the second of two identical GPUs), or else a case-insensitive substring
/// of the adapter's name (`MUON_ADAPTER=nvidia`).
pub const ADAPTER_ENV: &str = "MUON_ADAPTER";

/// Environment variable: `MUON_TENSOR_CORES=0` (or `off`) keeps a context off cooperative
/// matrices even where the adapter has them ([`crate::Precision::F16`] then runs on the
/// emulated engine).
pub const TENSOR_CORES_ENV: &str = "MUON_TENSOR_CORES";

/// Environment variable: the block geometry of the tiled `f32` products for every context
/// made while it is set: `64` (or `small`), `128` (or `large`), `auto` (the default). For
/// benchmarking both; [`GpuContext::set_product_tiles`] does the same in code.
pub const PRODUCT_TILES_ENV: &str = "MUON_PRODUCT_TILES";

/// Environment variable: `MUON_SPLIT_K=long` makes only products over long inner dimensions
/// split them (into chunks of at most 4,096 terms), for every context made while it is set;
/// `auto` (the default) also splits the products of few output blocks (Gram products,
/// Newton–Schulz steps, general products on the `f32` and emulated `f16` kernels) to fill the
/// GPU. For measuring that rule; [`crate::kernels::Kernels::split_fill`]
/// says which a context runs. The results differ by rounding only.
pub const SPLIT_K_ENV: &str = "MUON_SPLIT_K";

/// Environment variable: `MUON_LOOP_BOUNDING=on` compiles the kernels of every context made
/// while it is set with wgpu's loop counters ([`crate::kernels::LoopBounding::On`]); `off`
/// (the default) without. For measuring what the counters cost; the results are the same
/// bits either way.
pub const LOOP_BOUNDING_ENV: &str = "MUON_LOOP_BOUNDING";

/// One device and queue with every kernel's pipeline compiled once.
///
/// Cheap to clone (all handles are reference-counted). Create it once and share it: the
/// optimizers, matrices and kernels all work through it.
#[derive(Clone, Debug)]
pub struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    kernels: Arc<Kernels>,
    fast: Arc<Mutex<FastState>>,
    health: Arc<Mutex<DeviceHealth>>,
    id: u64,
}

/// What the device reported outside the crate's error scopes: filled by the callbacks that
/// [`GpuContext`] installs (so wgpu's default handler, which panics, never runs), read by
/// [`GpuContext::device_status`].
#[derive(Debug, Default)]
struct DeviceHealth {
    /// Why the device was lost, once it is.
    lost: Option<String>,
    /// The first error no scope caught (from an operation that returns no `Result`, such as
    /// a step's submission), until a fallible call reports it.
    uncaptured: Option<GpuError>,
}

/// The next [`GpuContext::id`].
static NEXT_CONTEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl GpuContext {
    /// Picks an adapter and creates a device with the adapter's own limits (the wgpu defaults
    /// cap storage bindings at 128 MiB and buffers at 256 MiB).
    ///
    /// Adapter choice: the backends in `WGPU_BACKEND` (default: Vulkan, Metal and DX12;
    /// `WGPU_BACKEND=gl` for OpenGL, which is not probed otherwise, so a headless machine
    /// prints nothing), narrowed by `MUON_ADAPTER` when set (an index into
    /// [`GpuContext::adapters`], or a case-insensitive name substring); then discrete GPUs
    /// first, then integrated, virtual, CPU (lavapipe) and others. wgpu's own environment
    /// switches (`WGPU_VALIDATION`, `WGPU_DEBUG`, …) apply. Without a hardware driver visible
    /// (a container without graphics capability) this is lavapipe if installed: check
    /// [`GpuContext::adapter_info`]'s `device_type`.
    ///
    /// # Errors
    /// [`GpuError::NoAdapter`] when nothing matches (never a panic),
    /// [`GpuError::RequestDevice`], or [`GpuError::Shader`] if a kernel fails validation.
    pub fn new() -> Result<Self, GpuError> {
        pollster::block_on(Self::new_async())
    }

    /// The `async` form of [`GpuContext::new`].
    ///
    /// # Errors
    /// See [`GpuContext::new`].
    pub async fn new_async() -> Result<Self, GpuError> {
        let adapters = enumerate().await;
        let wanted = std::env::var(ADAPTER_ENV).ok();
        let mut chosen: Vec<wgpu::Adapter> = match wanted.as_deref().map(str::trim) {
            Some(w) if w.parse::<usize>().is_ok() => {
                let i = w.parse::<usize>().unwrap_or(usize::MAX);
                adapters.into_iter().nth(i).into_iter().collect()
            }
            Some(w) => {
                let w = w.to_lowercase();
                adapters
                    .into_iter()
                    .filter(|a| a.get_info().name.to_lowercase().contains(&w))
                    .collect()
            }
            None => adapters,
        };
        chosen.sort_by_key(|a| adapter_rank(&a.get_info()));
        let adapter = chosen.into_iter().next().ok_or(GpuError::NoAdapter)?;
        Self::from_adapter(&adapter).await
    }

    /// Every adapter [`GpuContext::new`] chooses from, in the order `MUON_ADAPTER=<index>`
    /// counts them (wgpu's enumeration order).
    #[must_use]
    pub fn adapters() -> Vec<wgpu::AdapterInfo> {
        pollster::block_on(enumerate())
            .iter()
            .map(wgpu::Adapter::get_info)
            .collect()
    }

    /// Creates a device on `adapter` with the adapter's limits, plus timestamp queries when
    /// the adapter has them, and cooperative matrices (tensor cores) for
    /// [`crate::Precision::F16`] when it has the 16×16×16 `f16 → f32` kind and 32-wide
    /// subgroups (see [`GpuContext::tensor_cores`]; `MUON_TENSOR_CORES=0` declines them).
    ///
    /// # Errors
    /// [`GpuError::RequestDevice`] or [`GpuError::Shader`].
    pub async fn from_adapter(adapter: &wgpu::Adapter) -> Result<Self, GpuError> {
        let coop = tensor_cores_supported(adapter);
        let mut required_features = adapter.features() & wgpu::Features::TIMESTAMP_QUERY;
        if coop {
            required_features |= COOP_FEATURES;
        }
        let experimental_features = if coop {
            // SAFETY: wgpu asks callers of its experimental features to acknowledge that they
            // may hold bugs. The feature is used by one kernel (matmul_coop.wgsl), which the
            // context checks against the CPU core before first use and drops on a mismatch.
            unsafe { wgpu::ExperimentalFeatures::enabled() }
        } else {
            wgpu::ExperimentalFeatures::disabled()
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("muon-gpu"),
                required_features,
                required_limits: adapter.limits(),
                experimental_features,
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::RequestDevice(e.to_string()))?;
        Self::build(device, queue, coop)
    }

    /// Wraps a device and queue the caller already has (its limits are used as they are:
    /// request the adapter's limits when creating it to allow large matrices). Such a context
    /// does not use cooperative matrices ([`crate::Precision::F16`] runs emulated). It
    /// replaces the device's uncaptured-error handler and device-lost callback with its own
    /// (see [`GpuContext::device_status`]).
    ///
    /// # Errors
    /// [`GpuError::Shader`] if a kernel fails validation on this device.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Result<Self, GpuError> {
        Self::build(device, queue, false)
    }

    fn build(
        device: wgpu::Device,
        queue: wgpu::Queue,
        tensor_cores: bool,
    ) -> Result<Self, GpuError> {
        let health = Arc::new(Mutex::new(DeviceHealth::default()));
        let sink = Arc::clone(&health);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut h = sink.lock().unwrap_or_else(PoisonError::into_inner);
            if h.uncaptured.is_none() {
                h.uncaptured = Some(GpuError::from(e));
            }
        }));
        let sink = Arc::clone(&health);
        device.set_device_lost_callback(move |reason, message| {
            let reason = if message.is_empty() {
                format!("{reason:?}")
            } else {
                format!("{reason:?}: {message}")
            };
            sink.lock().unwrap_or_else(PoisonError::into_inner).lost = Some(reason);
        });
        let kernels = Arc::new(Kernels::with_loop_bounding(
            &device,
            tensor_cores,
            loop_bounding_env(),
        )?);
        apply_product_tiles_env(&kernels);
        apply_split_k_env(&kernels);
        let info = device.adapter_info();
        Ok(Self {
            device,
            queue,
            info,
            kernels,
            fast: Arc::new(Mutex::new(FastState::new())),
            health,
            id: NEXT_CONTEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Sets the output blocks of the tiled `f32` products (`matmul`, Gram and the
    /// Newton–Schulz step, in `f32` and `f16` emulated) for every later step of this context
    /// and its clones: [`ProductTiles::Auto`] (the default) takes 128×128 blocks for outputs of
    /// at least 2048² elements with both sides at least 128, where the device allows them,
    /// 64×64 otherwise. Results are the same bits in every geometry; only speed differs.
    /// `MUON_PRODUCT_TILES` sets it when a context is made.
    ///
    /// # Errors
    /// [`GpuError::Unsupported`] for [`ProductTiles::Large`] on a device whose limits do not
    /// allow 256-thread workgroups with 16.5 KiB of workgroup memory (the setting is then
    /// unchanged).
    pub fn set_product_tiles(&self, tiles: ProductTiles) -> Result<(), GpuError> {
        self.kernels.set_product_tiles(tiles)
    }

    /// The current setting of [`GpuContext::set_product_tiles`].
    #[must_use]
    pub fn product_tiles(&self) -> ProductTiles {
        self.kernels.product_tiles()
    }

    /// Whether this context runs [`crate::Precision::F16`] products on cooperative matrices
    /// (tensor cores); `false` means they run emulated on the `f32` kernels.
    #[must_use]
    pub fn tensor_cores(&self) -> bool {
        self.kernels.tensor.is_some()
    }

    /// What [`crate::Precision::F16`] requests get in this context (without running the
    /// self-check; [`GpuContext::check_fast_path`] runs it).
    #[must_use]
    pub fn fast_path_status(&self) -> FastPathStatus {
        self.fast
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .status
            .clone()
    }

    /// Runs the fast path's self-check if it has not run in this context (any clone of it)
    /// and returns the verdict. On a failed check the context logs a warning, once, and runs
    /// every later [`crate::Precision::F16`] request in `f32`.
    ///
    /// # Errors
    /// A [`GpuError`] if the device fails during the check (the status stays
    /// [`FastPathStatus::Unchecked`], and the next use checks again).
    pub fn check_fast_path(&self) -> Result<FastPathStatus, GpuError> {
        let mut state = self.fast.lock().unwrap_or_else(PoisonError::into_inner);
        if state.status == FastPathStatus::Unchecked {
            let engine = if self.tensor_cores() {
                FastEngine::TensorCores
            } else {
                FastEngine::Emulated
            };
            state.status = match self_check(self, engine, state.inject_fault)? {
                None => FastPathStatus::Ready(engine),
                Some(reason) => {
                    log::warn!(
                        "muon-gpu: the f16 product path ({engine:?}) on {} failed its \
                         self-check against the CPU core; f16 requests run in f32 in this \
                         context: {reason}",
                        self.info.name
                    );
                    FastPathStatus::FellBack { engine, reason }
                }
            };
        }
        Ok(state.status.clone())
    }

    /// The engine [`crate::Precision::F16`] products run on in this context, or `None` when
    /// they must run in `f32` (the self-check failed). Runs the self-check on first use.
    pub(crate) fn fast_engine(&self) -> Result<Option<FastEngine>, GpuError> {
        Ok(match self.check_fast_path()? {
            FastPathStatus::Ready(engine) => Some(engine),
            _ => None,
        })
    }

    /// Test hook: makes this context's self-check (if it has not run yet) see corrupted GPU
    /// results, so that the fallback to `f32` can be tested on any adapter.
    #[doc(hidden)]
    pub fn inject_fast_path_fault(&self) {
        self.fast
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .inject_fault = true;
    }

    /// This context's identity, shared by its clones and by no other context (two contexts
    /// made by [`GpuContext::new`] are two devices, whose buffers cannot be mixed).
    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The device.
    #[must_use]
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The queue.
    #[must_use]
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// The adapter's name, backend and type.
    #[must_use]
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// Every kernel's pipeline, compiled once for this device.
    #[must_use]
    pub fn kernels(&self) -> &Kernels {
        &self.kernels
    }

    /// The largest buffer, in bytes, that a kernel can bind: the smaller of the device's
    /// `max_buffer_size` and `max_storage_buffer_binding_size`.
    #[must_use]
    pub fn max_binding_bytes(&self) -> u64 {
        let l = self.device.limits();
        l.max_buffer_size.min(l.max_storage_buffer_binding_size)
    }

    /// Whether the device records GPU timestamps ([`crate::GpuTimer`]).
    #[must_use]
    pub fn supports_timestamps(&self) -> bool {
        self.device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Blocks until the device has finished all submitted work.
    ///
    /// # Errors
    /// [`GpuError::DeviceLost`], an error the device reported since the last fallible call
    /// ([`GpuContext::device_status`]), or [`GpuError::Readback`] if the wait fails.
    pub fn wait(&self) -> Result<(), GpuError> {
        self.device_status()?;
        let polled = self.device.poll(wgpu::PollType::wait_indefinitely());
        self.device_status()?;
        polled
            .map(|_| ())
            .map_err(|e| GpuError::Readback(e.to_string()))
    }

    /// The device's health: [`GpuError::DeviceLost`] once it is lost (then always), else the
    /// first error it reported outside any of the crate's error scopes since the last call
    /// (an out-of-memory, validation or internal error from an operation that returns no
    /// `Result`, such as [`crate::GpuAdam::step`]'s submission), reported once. Every
    /// fallible call of the crate starts with this check, so such an error surfaces as a
    /// `GpuError` from the next call (`check()`, a readback), never as a panic.
    ///
    /// # Errors
    /// As described.
    pub fn device_status(&self) -> Result<(), GpuError> {
        self.health(true)
    }

    /// [`GpuContext::device_status`], polling the device only when asked or when an error is
    /// pending: wgpu calls the device-lost callback from its maintenance, which a
    /// non-blocking poll runs (a destroyed device is reported lost once its queue is empty),
    /// and a loss explains the errors that come with it, so it is reported first.
    fn health(&self, poll: bool) -> Result<(), GpuError> {
        let pending = {
            let h = self.health.lock().unwrap_or_else(PoisonError::into_inner);
            h.lost.is_none() && h.uncaptured.is_some()
        };
        if poll || pending {
            let _ = self.device.poll(wgpu::PollType::Poll);
        }
        let mut h = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(reason) = &h.lost {
            return Err(GpuError::DeviceLost(reason.clone()));
        }
        match h.uncaptured.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Runs `f` (device work: creating buffers, writing, submitting) inside out-of-memory,
    /// validation and internal error scopes, after checking [`GpuContext::device_status`]:
    /// the first error the device reports for it is returned as a [`GpuError`] (a lost device
    /// first), with `f`'s result dropped.
    pub(crate) fn scoped<T>(&self, f: impl FnOnce() -> T) -> Result<T, GpuError> {
        self.health(false)?;
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let out = f();
        // Popped innermost first; each future resolves at once on native backends.
        let internal = internal.pop();
        let validation = validation.pop();
        let oom = oom.pop();
        let errors = [
            pollster::block_on(oom),
            pollster::block_on(validation),
            pollster::block_on(internal),
        ];
        match errors.into_iter().flatten().next() {
            Some(e) => {
                // A lost device explains the error: report the loss.
                self.health(true)?;
                Err(GpuError::from(e))
            }
            None => {
                self.health(false)?;
                Ok(out)
            }
        }
    }

    /// Records one compute pass with `record` and submits it alone. Does not wait.
    pub(crate) fn submit_pass(
        &self,
        label: &str,
        record: impl FnOnce(&mut wgpu::ComputePass<'_>),
    ) -> wgpu::SubmissionIndex {
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(label),
                timestamp_writes: None,
            });
            record(&mut pass);
        }
        self.queue.submit([encoder.finish()])
    }

    /// The longest inner dimension (terms summed per output) that one invocation of the tiled
    /// product kernels (matmul, Gram, Newton–Schulz) may walk on this adapter: `Some` on
    /// Mesa's llvmpipe (lavapipe), whose shaders stop looping after 65,535 iterations per
    /// invocation (measured: 174,764 terms; the limit keeps a margin), `None` (no cap) on
    /// every other adapter. Products of fewer than 512 blocks of 64×64 (Gram products of order
    /// up to 1984) and products over more than 4,096 terms split their inner dimension into
    /// chunks and are capped by the chunk length only (within lavapipe's 128 MiB bindings the
    /// chunks stay far below the cap).
    #[must_use]
    pub fn max_tiled_inner(&self) -> Option<usize> {
        self.info
            .name
            .to_ascii_lowercase()
            .contains("llvmpipe")
            .then_some(LLVMPIPE_MAX_TILED_INNER)
    }

    /// Checks an `m × m` Gram product over `inner` terms like [`Self::check_walk`] (orders up
    /// to 1984 split).
    pub(crate) fn check_gram_inner(
        &self,
        what: &'static str,
        m: usize,
        inner: usize,
    ) -> Result<(), GpuError> {
        let walk = Gram::longest_walk(m as u32, inner as u32, self.kernels.split_fill()) as usize;
        self.check_walk(what, inner, walk)
    }

    /// Checks that a product over `inner` terms, of which one invocation sums `walk` (all of
    /// them on the tiled kernels, one chunk on a split-k path), runs correctly on this adapter
    /// ([`Self::max_tiled_inner`]), naming it `what` in the error.
    pub(crate) fn check_walk(
        &self,
        what: &'static str,
        inner: usize,
        walk: usize,
    ) -> Result<(), GpuError> {
        match self.max_tiled_inner() {
            Some(max) if walk > max => Err(GpuError::InnerDimensionTooLong { what, inner, max }),
            _ => Ok(()),
        }
    }

    /// Checks that a buffer of `bytes` fits the device and the kernels' `u32` indexing
    /// ([`MAX_KERNEL_ELEMENTS`] `f32`), naming it `what` in the error.
    pub(crate) fn check_size(&self, what: &'static str, bytes: u64) -> Result<(), GpuError> {
        let max = self.max_binding_bytes().min(MAX_KERNEL_ELEMENTS * 4);
        if bytes > max {
            return Err(GpuError::BufferTooLarge { what, bytes, max });
        }
        Ok(())
    }
}

/// [`GpuContext::max_tiled_inner`] on llvmpipe: the tiled kernels count six loop iterations per
/// k-slice of 16 against llvmpipe's 65,535, so 174,760 terms fit; 160,000 leaves a margin.
const LLVMPIPE_MAX_TILED_INNER: usize = 160_000;

/// Keeps adapter probing quiet on a headless Linux machine: Mesa's Vulkan drivers (lavapipe
/// included) print `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` when
/// wgpu's instance enables the Wayland surface extension and that variable is unset. If it is
/// unset, this sets it to the temporary directory (where no Wayland socket is found, silently).
/// Does nothing where it is set, and on other systems.
///
/// # Safety
/// It changes the process environment, with [`std::env::set_var`]'s contract: call it before
/// any other thread that might read or write the environment runs (first thing in `main`).
pub unsafe fn quiet_headless_probe() {
    if cfg!(all(
        unix,
        not(target_vendor = "apple"),
        not(target_os = "android")
    )) && std::env::var_os("XDG_RUNTIME_DIR").is_none()
    {
        // SAFETY: the caller guarantees no other thread touches the environment now.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
}

/// The features the tensor-core product needs.
const COOP_FEATURES: wgpu::Features = wgpu::Features::SHADER_F16
    .union(wgpu::Features::SUBGROUP)
    .union(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX);

/// The subgroup width `matmul_coop.wgsl` is written for.
const COOP_SUBGROUP: u32 = 32;

/// Workgroup memory of `matmul_coop.wgsl`, bytes: the f16 slices of both operands and eight
/// 16×16 f32 staging tiles.
const COOP_WORKGROUP_BYTES: u32 = 5120 * 2 + 4352 * 2 + 2048 * 4;

/// Whether the tensor-core product can run on `adapter`: it needs [`COOP_FEATURES`],
/// 16×16×16 cooperative matrices with `f16` operands and an `f32` accumulator (so far only
/// Vulkan reports those: Metal's simdgroup matrices are 8×8), a fixed subgroup width of 32
/// (the kernel's workgroup is 8 such subgroups, 256 threads, and its staging is laid out for
/// that), and room for that workgroup. `MUON_TENSOR_CORES=0` or `off` declines it.
fn tensor_cores_supported(adapter: &wgpu::Adapter) -> bool {
    if std::env::var(TENSOR_CORES_ENV).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "0" | "off" | "false"
        )
    }) {
        return false;
    }
    if !adapter.features().contains(COOP_FEATURES) {
        return false;
    }
    let info = adapter.get_info();
    if info.backend != wgpu::Backend::Vulkan
        || info.subgroup_min_size != COOP_SUBGROUP
        || info.subgroup_max_size != COOP_SUBGROUP
    {
        return false;
    }
    let shape = adapter.cooperative_matrix_properties().iter().any(|p| {
        (p.m_size, p.n_size, p.k_size) == (16, 16, 16)
            && p.ab_type == wgpu::CooperativeScalarType::F16
            && p.cr_type == wgpu::CooperativeScalarType::F32
    });
    let limits = adapter.limits();
    let fits = COOP_WORKGROUP_THREADS <= limits.max_compute_invocations_per_workgroup
        && COOP_WORKGROUP_THREADS <= limits.max_compute_workgroup_size_x
        && COOP_WORKGROUP_BYTES <= limits.max_compute_workgroup_storage_size;
    shape && fits
}

/// Applies `MUON_PRODUCT_TILES` to a new context's kernels; a value it cannot use is reported
/// with a warning and leaves [`ProductTiles::Auto`].
fn apply_product_tiles_env(kernels: &Kernels) {
    let Ok(value) = std::env::var(PRODUCT_TILES_ENV) else {
        return;
    };
    let Some(tiles) = parse_product_tiles(&value) else {
        log::warn!("muon-gpu: {PRODUCT_TILES_ENV}={value} is not 64, 128 or auto; using auto");
        return;
    };
    if let Err(e) = kernels.set_product_tiles(tiles) {
        log::warn!("muon-gpu: {PRODUCT_TILES_ENV}: {e}; using auto");
    }
}

/// Applies [`SPLIT_K_ENV`] to freshly compiled kernels; a value it does not know is logged and
/// ignored.
fn apply_split_k_env(kernels: &Kernels) {
    let Ok(value) = std::env::var(SPLIT_K_ENV) else {
        return;
    };
    match parse_split_fill(&value) {
        Some(fill) => kernels.set_split_fill(fill),
        None => log::warn!("muon-gpu: {SPLIT_K_ENV}={value} is not auto or long; using auto"),
    }
}

/// [`LOOP_BOUNDING_ENV`]'s setting; a value it does not know is logged and ignored.
fn loop_bounding_env() -> LoopBounding {
    let Ok(value) = std::env::var(LOOP_BOUNDING_ENV) else {
        return LoopBounding::default();
    };
    parse_loop_bounding(&value).unwrap_or_else(|| {
        log::warn!("muon-gpu: {LOOP_BOUNDING_ENV}={value} is not on or off; using off");
        LoopBounding::default()
    })
}

/// A [`LOOP_BOUNDING_ENV`] value: `on`/`1`, `off`/`0` (any case), else `None`.
fn parse_loop_bounding(value: &str) -> Option<LoopBounding> {
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "1" => Some(LoopBounding::On),
        "off" | "0" => Some(LoopBounding::Off),
        _ => None,
    }
}

/// Whether [`SPLIT_K_ENV`]'s `value` asks for the fill rule: `auto` yes, `long` no.
fn parse_split_fill(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "auto" => Some(true),
        "long" => Some(false),
        _ => None,
    }
}

/// A `MUON_PRODUCT_TILES` value: `64`/`small`, `128`/`large`, `auto` (any case), else `None`.
fn parse_product_tiles(value: &str) -> Option<ProductTiles> {
    match value.trim().to_ascii_lowercase().as_str() {
        "64" | "small" => Some(ProductTiles::Small),
        "128" | "large" => Some(ProductTiles::Large),
        "auto" => Some(ProductTiles::Auto),
        _ => None,
    }
}

/// Every adapter of the backends in `WGPU_BACKEND` (default: the native APIs, not OpenGL),
/// with wgpu's environment switches applied to the instance.
async fn enumerate() -> Vec<wgpu::Adapter> {
    let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY);
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends;
    let instance = wgpu::Instance::new(desc);
    instance.enumerate_adapters(backends).await
}

/// Lower is better: discrete GPUs first, CPU rasterisers late; native APIs before OpenGL.
fn adapter_rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let ty = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    let backend = u8::from(info.backend == wgpu::Backend::Gl);
    (ty, backend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_k_values() {
        assert_eq!(parse_split_fill("auto"), Some(true));
        assert_eq!(parse_split_fill(" LONG "), Some(false));
        assert_eq!(parse_split_fill("off"), None);
        assert_eq!(parse_split_fill(""), None);
    }

    #[test]
    fn loop_bounding_values() {
        assert_eq!(parse_loop_bounding("on"), Some(LoopBounding::On));
        assert_eq!(parse_loop_bounding(" ON "), Some(LoopBounding::On));
        assert_eq!(parse_loop_bounding("1"), Some(LoopBounding::On));
        assert_eq!(parse_loop_bounding("Off"), Some(LoopBounding::Off));
        assert_eq!(parse_loop_bounding("0"), Some(LoopBounding::Off));
        assert_eq!(parse_loop_bounding("auto"), None);
        assert_eq!(parse_loop_bounding(""), None);
    }

    #[test]
    fn product_tiles_values() {
        assert_eq!(parse_product_tiles("64"), Some(ProductTiles::Small));
        assert_eq!(parse_product_tiles(" Small "), Some(ProductTiles::Small));
        assert_eq!(parse_product_tiles("128"), Some(ProductTiles::Large));
        assert_eq!(parse_product_tiles("LARGE"), Some(ProductTiles::Large));
        assert_eq!(parse_product_tiles("auto"), Some(ProductTiles::Auto));
        assert_eq!(parse_product_tiles("256"), None);
        assert_eq!(parse_product_tiles(""), None);
    }
}
