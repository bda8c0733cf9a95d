//! [`GpuContext`]: the adapter, device, queue and every compute pipeline, made once.

use std::sync::Arc;

use crate::GpuError;
use crate::kernels::{Gram, Kernels};
use crate::matrix::MAX_KERNEL_ELEMENTS;

/// Environment variable: a case-insensitive substring of the adapter name to use.
pub const ADAPTER_ENV: &str = "MUON_ADAPTER";

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
}

impl GpuContext {
    /// Picks an adapter and creates a device with the adapter's own limits (the wgpu defaults
    /// cap storage bindings at 128 MiB and buffers at 256 MiB).
    ///
    /// Adapter choice: the backends in `WGPU_BACKEND` (default: all), narrowed to names
    /// containing `MUON_ADAPTER` (case-insensitive) when set; then discrete GPUs first,
    /// then integrated, virtual, CPU (lavapipe) and others; native APIs before OpenGL.
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
        let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all());
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = backends;
        let instance = wgpu::Instance::new(desc);
        let wanted = std::env::var(ADAPTER_ENV).ok().map(|s| s.to_lowercase());
        let mut adapters: Vec<wgpu::Adapter> = instance
            .enumerate_adapters(backends)
            .await
            .into_iter()
            .filter(|a| {
                wanted
                    .as_deref()
                    .is_none_or(|w| a.get_info().name.to_lowercase().contains(w))
            })
            .collect();
        adapters.sort_by_key(|a| adapter_rank(&a.get_info()));
        let adapter = adapters.into_iter().next().ok_or(GpuError::NoAdapter)?;
        Self::from_adapter(&adapter).await
    }

    /// Creates a device on `adapter` with the adapter's limits, plus timestamp queries when
    /// the adapter has them.
    ///
    /// # Errors
    /// [`GpuError::RequestDevice`] or [`GpuError::Shader`].
    pub async fn from_adapter(adapter: &wgpu::Adapter) -> Result<Self, GpuError> {
        let required_features = adapter.features() & wgpu::Features::TIMESTAMP_QUERY;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("muon-gpu"),
                required_features,
                required_limits: adapter.limits(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::RequestDevice(e.to_string()))?;
        Self::from_device(device, queue)
    }

    /// Wraps a device and queue the caller already has (its limits are used as they are:
    /// request the adapter's limits when creating it to allow large matrices).
    ///
    /// # Errors
    /// [`GpuError::Shader`] if a kernel fails validation on this device.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Result<Self, GpuError> {
        let kernels = Arc::new(Kernels::new(&device)?);
        let info = device.adapter_info();
        Ok(Self {
            device,
            queue,
            info,
            kernels,
        })
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
    /// [`GpuError::Readback`] if the wait fails (device lost or timeout).
    pub fn wait(&self) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| GpuError::Readback(e.to_string()))
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
    /// every other adapter. Gram products of order ≤ 64 (vectors) split their inner
    /// dimension and are not capped.
    #[must_use]
    pub fn max_tiled_inner(&self) -> Option<usize> {
        self.info
            .name
            .to_ascii_lowercase()
            .contains("llvmpipe")
            .then_some(LLVMPIPE_MAX_TILED_INNER)
    }

    /// Checks that a tiled product summing `inner` terms per output runs correctly on this
    /// adapter ([`Self::max_tiled_inner`]), naming it `what` in the error.
    pub(crate) fn check_tiled_inner(
        &self,
        what: &'static str,
        inner: usize,
    ) -> Result<(), GpuError> {
        match self.max_tiled_inner() {
            Some(max) if inner > max => Err(GpuError::InnerDimensionTooLong { what, inner, max }),
            _ => Ok(()),
        }
    }

    /// Checks an `m × m` Gram product over `inner` terms like [`Self::check_tiled_inner`]
    /// when it runs on the tiled kernel; the split-k path (order ≤ 64) has no cap.
    pub(crate) fn check_gram_inner(
        &self,
        what: &'static str,
        m: usize,
        inner: usize,
    ) -> Result<(), GpuError> {
        if Gram::is_tiled(m as u32, inner as u32) {
            self.check_tiled_inner(what, inner)
        } else {
            Ok(())
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
