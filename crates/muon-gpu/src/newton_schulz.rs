//! Newton–Schulz orthogonalisation on the device, with every buffer and bind group made once
//! per shape.
//!
//! For an `r × c` input `X` with `m = min(r, c)` (no transpose buffer: tall inputs use `XᵀX`):
//! 1. `‖X‖_F` ([`FrobeniusNorm`](crate::kernels::FrobeniusNorm)), then
//!    `X ← X · input_scale(‖X‖_F)` ([`NsNormalize`](crate::kernels::NsNormalize)), the core's
//!    `NsConfig::input_scale` (zero stays zero);
//! 2. for each step with `(a, b, c) = cfg.coefficients_at(step)`:
//!    `A = X·Xᵀ` (wide) or `XᵀX` (tall) — [`Gram`];
//!    `B = c·A·Aᵀ + b·A` — [`Gram`] with its epilogue;
//!    `X' = a·X + B·X` (wide) or `a·X + X·B` (tall) — [`NsStep`];
//!    `X` and `X'` ping-pong between two buffers.
//!
//! Same maths as `muon_core::newton_schulz::newton_schulz` (which transposes tall inputs
//! instead: `(B·Xᵀ)ᵀ = X·B` for symmetric `B`).
//!
//! With [`Precision::F16`] the three products run on the fast engine of the context
//! ([`crate::FastEngine`]) as general products `α·op(L)·op(R) + β·D`: `A = X·Xᵀ` and
//! `B = c·A·A + b·A`, both flagged symmetric (only their blocks on and above the diagonal are
//! computed), and `X' = B·X + a·X`. On the emulated engine a product of few blocks splits its
//! inner dimension as the `f32` products do (`kernels::split_k`); tensor cores run tiled.

use muon_core::MuonError;
use muon_core::newton_schulz::NsConfig;

use crate::fast_path::{FastEngine, Precision};
use crate::kernels::{
    Gram, GramCall, GramParams, GramScratch, Kernels, MAX_PARTIALS, Matmul, MatmulCall,
    MatmulParams, NormParams, NormalizeParams, NsStep, NsStepCall, NsStepParams,
    storage_buffer_zeroed, uniform_buffer, whole,
};
use crate::matrix::matrix_bytes;
use crate::{GpuContext, GpuError, GpuMatrix};

/// The products of every iteration, bound once.
#[derive(Debug)]
enum Products {
    /// `f32`: the symmetric Gram kernel twice, then the NS step kernel.
    F32 {
        gram_a: [GramCall; 2],
        gram_b: Vec<GramCall>,
        step_bg: Vec<NsStepCall>,
    },
    /// `f16` operands on `engine`: three general products per iteration (the Gram product
    /// and `A·A` flagged [`MatmulParams::SYMMETRIC`]: half their blocks), split-k where their
    /// shape takes it on the emulated engine.
    F16 {
        engine: FastEngine,
        gram_a: [MatmulCall; 2],
        iterations: Vec<[MatmulCall; 2]>,
    },
}

impl Products {
    fn steps(&self) -> usize {
        match self {
            Self::F32 { step_bg, .. } => step_bg.len(),
            Self::F16 { iterations, .. } => iterations.len(),
        }
    }
}

/// The three general products of an `f16` plan on a `rows × cols` input (`m` its shorter
/// side): `A = X·Xᵀ` (or `XᵀX`), `B = c·A·A + b·A`, and the step (`B·X + a·X`, or
/// `X·B + a·X`), as `(params, which operands)`; their coefficients and buffers are the plan's.
/// The Gram product and `A·A` are symmetric: their blocks below the diagonal are mirrored,
/// not computed.
fn f16_products(rows: u32, cols: u32) -> [MatmulParams; 3] {
    let m = rows.min(cols);
    let sym = MatmulParams::SYMMETRIC;
    let (k, flags) = if rows > cols {
        (rows, MatmulParams::TRANS_A | sym) // A = XᵀX, X stored k×m
    } else {
        (cols, MatmulParams::TRANS_B | sym) // A = X·Xᵀ
    };
    let product = |m, n, k, flags| MatmulParams {
        m,
        n,
        k,
        flags,
        ..MatmulParams::default()
    };
    [
        product(m, m, k, flags),
        product(m, m, m, sym),
        product(rows, cols, m, 0),
    ]
}

/// The device buffers of one Newton–Schulz on a `rows × cols` input: the two iterates, the
/// Gram and polynomial matrices (`2·rows·cols + 2·min(rows,cols)²` floats, as the core's
/// `ns_scratch_len`), the norm's partial sums, and the chunk sums of the products (`X·Xᵀ`,
/// `A·A`, the step) that split their inner dimension (one buffer of at most 64 MiB; see
/// `kernels::split_k`). Cloning shares the buffers (handles): plans whose passes never
/// overlap — the parameters of one optimizer, which a step records one after another, wgpu
/// ordering the dispatches — can use one scratch per shape.
#[derive(Clone, Debug)]
pub(crate) struct NsScratch {
    rows: usize,
    cols: usize,
    x: [wgpu::Buffer; 2],
    a: wgpu::Buffer,
    b: wgpu::Buffer,
    partials: wgpu::Buffer,
    norm: wgpu::Buffer,
    /// The chunk sums of every product of the plan that splits its inner dimension (`X·Xᵀ`,
    /// `A·A`, the step; `kernels::split_k`), sized for the largest: they never run at the
    /// same time. `None` where none splits.
    split_sums: Option<wgpu::Buffer>,
    /// The split-k scratches of `X·Xᵀ` and of `A·A` (each empty where it runs tiled), in
    /// `split_sums`.
    gram: [GramScratch; 2],
}

impl NsScratch {
    /// Allocates the scratch for a `rows × cols` input.
    ///
    /// # Errors
    /// [`GpuError::Core`] for an empty shape, [`GpuError::BufferTooLarge`] beyond the
    /// device's limits.
    pub(crate) fn new(ctx: &GpuContext, rows: usize, cols: usize) -> Result<Self, GpuError> {
        let bytes = matrix_bytes(rows, cols)?;
        ctx.check_size("newton-schulz iterate", bytes)?;
        let m = rows.min(cols);
        let gram_bytes = matrix_bytes(m, m)?;
        ctx.check_size("newton-schulz gram", gram_bytes)?;
        let device = ctx.device();
        let (m32, n32, r32, c32) = (m as u32, rows.max(cols) as u32, rows as u32, cols as u32);
        let fill = ctx.kernels().split_fill();
        let f16_bytes = f16_products(r32, c32)
            .iter()
            .map(|p| Matmul::split_bytes(p, fill))
            .max()
            .unwrap_or(0);
        let split_bytes = Gram::split_bytes(m32, n32, fill)
            .max(Gram::split_bytes(m32, m32, fill))
            .max(NsStep::split_bytes(r32, c32, fill))
            .max(f16_bytes);
        let split_sums = (split_bytes > 0)
            .then(|| storage_buffer_zeroed(device, "ns split-k chunk sums", split_bytes));
        Ok(Self {
            rows,
            cols,
            x: [
                storage_buffer_zeroed(device, "ns x0", bytes),
                storage_buffer_zeroed(device, "ns x1", bytes),
            ],
            a: storage_buffer_zeroed(device, "ns gram a", gram_bytes),
            b: storage_buffer_zeroed(device, "ns poly b", gram_bytes),
            partials: storage_buffer_zeroed(
                device,
                "ns norm partials",
                u64::from(MAX_PARTIALS) * 8,
            ),
            norm: storage_buffer_zeroed(device, "ns norm", 12),
            gram: [
                Gram::scratch_in(m32, n32, fill, split_sums.as_ref()),
                Gram::scratch_in(m32, m32, fill, split_sums.as_ref()),
            ],
            split_sums,
        })
    }

    /// `(rows, cols)` of the input it is for.
    pub(crate) fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Bytes of device memory it holds.
    pub(crate) fn bytes(&self) -> u64 {
        [
            &self.x[0],
            &self.x[1],
            &self.a,
            &self.b,
            &self.partials,
            &self.norm,
        ]
        .iter()
        .map(|b| b.size())
        .sum::<u64>()
            + self.split_sums.as_ref().map_or(0, wgpu::Buffer::size)
    }
}

/// The largest [`NsConfig::magnitude_bound`] a plan in `precision` accepts: far inside the
/// format's range (`f32` to 3.4e38; `f16` operands to 65504), so rounding cannot reach it.
fn magnitude_limit(precision: Precision) -> f64 {
    match precision {
        Precision::F32 => 1e30,
        Precision::F16 => 1e4,
    }
}

/// Refuses coefficients whose iterates could overflow the device's numbers. The core, in
/// wider arithmetic, reports a diverged iteration per call and leaves the state untouched;
/// a device step cannot be undone once queued, so the device refuses such coefficients up
/// front instead of writing non-finite (or saturated) weights.
pub(crate) fn check_magnitude(cfg: &NsConfig, precision: Precision) -> Result<(), GpuError> {
    if cfg.magnitude_bound() <= magnitude_limit(precision) {
        Ok(())
    } else {
        Err(GpuError::Core(MuonError::InvalidHyperParameter {
            name: "ns_coefficients",
            reason: match precision {
                Precision::F32 => "let the iterates outgrow f32 (NsConfig::magnitude_bound > 1e30)",
                Precision::F16 => {
                    "let the iterates outgrow f16 operands (NsConfig::magnitude_bound > 1e4)"
                }
            },
        }))
    }
}

/// Newton–Schulz for one `rows × cols` shape: its scratch ([`GpuNewtonSchulz::new`] allocates
/// `2·rows·cols + 2·min(rows,cols)²` floats, as the core's `ns_scratch_len`, plus up to
/// 64 MiB of chunk sums where its products split their inner dimension), uniforms and bind
/// groups, all made at creation.
#[derive(Debug)]
pub struct GpuNewtonSchulz {
    rows: u32,
    cols: u32,
    scratch: NsScratch,
    norm_params: NormParams,
    norm_bg: wgpu::BindGroup,
    normalize_bg: wgpu::BindGroup,
    products: Products,
}

impl GpuNewtonSchulz {
    /// Allocates the scratch for a `rows × cols` input under `cfg`, in `f32`.
    ///
    /// # Errors
    /// As [`GpuNewtonSchulz::with_precision`].
    pub fn new(
        ctx: &GpuContext,
        rows: usize,
        cols: usize,
        cfg: &NsConfig,
    ) -> Result<Self, GpuError> {
        Self::with_precision(ctx, rows, cols, cfg, Precision::F32)
    }

    /// Allocates the scratch for a `rows × cols` input under `cfg`, its products in
    /// `precision`. [`Precision::F16`] runs the context's fast-path self-check on first use
    /// and gives an `f32` plan if it failed ([`GpuNewtonSchulz::precision`] says which).
    ///
    /// # Errors
    /// [`GpuError::Core`] for an invalid `cfg`, an empty shape, or coefficients whose
    /// iterates could outgrow `precision`'s numbers
    /// ([`NsConfig::magnitude_bound`] above 1e30 for `f32`, 1e4 for `f16`:
    /// `InvalidHyperParameter { name: "ns_coefficients", .. }`),
    /// [`GpuError::BufferTooLarge`] beyond the device's limits,
    /// [`GpuError::InnerDimensionTooLong`] when `X·Xᵀ` sums more terms than this adapter's
    /// tiled products allow (llvmpipe only: when one invocation of the Gram product would
    /// walk more terms, all of them when `min(rows, cols) > 1984`, one chunk below, in `F32`
    /// and on the emulated `F16` engine alike; see [`GpuContext::max_tiled_inner`]).
    /// A [`GpuError`] from the device during the self-check.
    pub fn with_precision(
        ctx: &GpuContext,
        rows: usize,
        cols: usize,
        cfg: &NsConfig,
        precision: Precision,
    ) -> Result<Self, GpuError> {
        cfg.validate()?;
        Self::with_scratch(ctx, cfg, precision, NsScratch::new(ctx, rows, cols)?)
    }

    /// A plan on `scratch` (its shape is the plan's); see [`GpuNewtonSchulz::with_precision`].
    pub(crate) fn with_scratch(
        ctx: &GpuContext,
        cfg: &NsConfig,
        precision: Precision,
        scratch: NsScratch,
    ) -> Result<Self, GpuError> {
        cfg.validate()?;
        check_magnitude(cfg, precision)?;
        let (rows, cols) = scratch.shape();
        let m = rows.min(cols);
        // X·Xᵀ sums max(rows, cols) terms; the other two products sum min(rows, cols).
        ctx.check_gram_inner("newton-schulz gram", m, rows.max(cols))?;
        let (r, c, mu) = (rows as u32, cols as u32, m as u32);
        let tall = rows > cols;
        let device = ctx.device();
        let k = ctx.kernels();
        let NsScratch {
            x,
            a,
            b,
            partials,
            norm,
            gram: [gram, gram_square],
            split_sums,
            ..
        } = &scratch;
        // Fixed when the context was made, so the rule that sized `split_sums`.
        let fill = k.split_fill();

        let len = r * c;
        let norm_params = NormParams::new(len);
        let norm_u = uniform_buffer(device, "ns norm params", &norm_params);
        let norm_bg = k.frobenius_norm.bind_group(
            device,
            &norm_u,
            x[0].as_entire_buffer_binding(),
            partials,
            norm,
        );
        let normalize_u = uniform_buffer(
            device,
            "ns normalize params",
            &NormalizeParams::new(len, cfg),
        );
        let normalize_bg = k.ns_normalize.bind_group(device, &normalize_u, norm, &x[0]);

        let engine = match precision {
            Precision::F32 => None,
            Precision::F16 => ctx.fast_engine()?,
        };
        let products = match engine {
            None => {
                let gram_a_params = GramParams {
                    m: mu,
                    k: r.max(c),
                    trans: u32::from(tall),
                    alpha: 1.0,
                    ..GramParams::default()
                };
                // `b` stands in for D (not read: beta = 0) so no buffer is both read and written.
                let gram_a = [
                    k.gram.call(
                        device,
                        &gram_a_params,
                        gram,
                        whole(&x[0]),
                        whole(b),
                        whole(a),
                    ),
                    k.gram.call(
                        device,
                        &gram_a_params,
                        gram,
                        whole(&x[1]),
                        whole(b),
                        whole(a),
                    ),
                ];
                let mut gram_b = Vec::with_capacity(cfg.steps as usize);
                let mut step_bg = Vec::with_capacity(cfg.steps as usize);
                for step in 0..cfg.steps {
                    let (ca, cb, cc) = cfg.coefficients_at(step);
                    let gram_b_params = GramParams {
                        m: mu,
                        k: mu,
                        trans: 0,
                        alpha: cc,
                        beta: cb,
                        ..GramParams::default()
                    };
                    gram_b.push(k.gram.call(
                        device,
                        &gram_b_params,
                        gram_square,
                        whole(a),
                        whole(a),
                        whole(b),
                    ));
                    let step_params = NsStepParams {
                        rows: r,
                        cols: c,
                        side: u32::from(tall),
                        a: ca,
                        ..NsStepParams::default()
                    };
                    let cur = (step % 2) as usize;
                    step_bg.push(k.ns_step.call(
                        device,
                        &step_params,
                        fill,
                        split_sums.as_ref(),
                        b,
                        &x[cur],
                        &x[1 - cur],
                    ));
                }
                Products::F32 {
                    gram_a,
                    gram_b,
                    step_bg,
                }
            }
            Some(engine) => {
                let [gram_p, poly_p, next_p] = f16_products(r, c);
                // Tensor cores: tiled (no split-k path, and no loop cap on hardware).
                let path = (fill, engine == FastEngine::TensorCores);
                if engine == FastEngine::Emulated {
                    let walk = Matmul::longest_walk(&gram_p, fill) as usize;
                    ctx.check_walk("newton-schulz gram", rows.max(cols), walk)?;
                }
                let sums = split_sums.as_ref();
                let bind = |params: MatmulParams, [l, r, d, out]: [&wgpu::Buffer; 4]| {
                    k.matmul.call(
                        device,
                        &params,
                        path,
                        sums,
                        whole(l),
                        whole(r),
                        whole(d),
                        whole(out),
                    )
                };
                // `b` stands in for D where beta = 0 (not read).
                let gram_a = [0, 1].map(|i| {
                    let params = MatmulParams {
                        alpha: 1.0,
                        ..gram_p
                    };
                    bind(params, [&x[i], &x[i], b, a])
                });
                let iterations = (0..cfg.steps)
                    .map(|step| {
                        let (ca, cb, cc) = cfg.coefficients_at(step);
                        let poly_params = MatmulParams {
                            alpha: cc,
                            beta: cb,
                            ..poly_p
                        };
                        let poly = bind(poly_params, [a, a, a, b]);
                        let cur = (step % 2) as usize;
                        let (xc, xn) = (&x[cur], &x[1 - cur]);
                        let next_params = MatmulParams {
                            alpha: 1.0,
                            beta: ca,
                            ..next_p
                        };
                        let next = if tall {
                            bind(next_params, [xc, b, xc, xn])
                        } else {
                            bind(next_params, [b, xc, xc, xn])
                        };
                        [poly, next]
                    })
                    .collect();
                Products::F16 {
                    engine,
                    gram_a,
                    iterations,
                }
            }
        };
        Ok(Self {
            rows: r,
            cols: c,
            scratch,
            norm_params,
            norm_bg,
            normalize_bg,
            products,
        })
    }

    /// The precision the products run in: as asked, or `F32` when `F16` was asked for and
    /// the context's fast path failed its self-check.
    #[must_use]
    pub fn precision(&self) -> Precision {
        match self.products {
            Products::F32 { .. } => Precision::F32,
            Products::F16 { .. } => Precision::F16,
        }
    }

    /// The engine of an `F16` plan (`None` for `F32`).
    #[must_use]
    pub fn engine(&self) -> Option<FastEngine> {
        match self.products {
            Products::F32 { .. } => None,
            Products::F16 { engine, .. } => Some(engine),
        }
    }

    /// The buffers this plan works in (shared with other plans of its shape, if any).
    pub(crate) fn scratch(&self) -> &NsScratch {
        &self.scratch
    }

    /// `(rows, cols)`.
    #[must_use]
    pub fn shape(&self) -> (usize, usize) {
        (self.rows as usize, self.cols as usize)
    }

    /// The buffer the input goes in (overwritten by the iteration).
    #[must_use]
    pub fn input(&self) -> &wgpu::Buffer {
        &self.scratch.x[0]
    }

    /// The buffer holding the result after [`GpuNewtonSchulz::encode`].
    #[must_use]
    pub fn output(&self) -> &wgpu::Buffer {
        &self.scratch.x[self.products.steps() % 2]
    }

    /// Records the whole orthogonalisation of [`GpuNewtonSchulz::input`] into `pass`.
    pub fn encode(&self, kernels: &Kernels, pass: &mut wgpu::ComputePass<'_>) {
        let len = self.rows * self.cols;
        kernels
            .frobenius_norm
            .dispatch(pass, &self.norm_bg, &self.norm_params);
        kernels.ns_normalize.dispatch(pass, &self.normalize_bg, len);
        match &self.products {
            Products::F32 {
                gram_a,
                gram_b,
                step_bg,
            } => {
                for (i, (gram_b, step)) in gram_b.iter().zip(step_bg).enumerate() {
                    kernels.gram.dispatch_call(pass, &gram_a[i % 2]);
                    kernels.gram.dispatch_call(pass, gram_b);
                    kernels.ns_step.dispatch_call(pass, step);
                }
            }
            Products::F16 {
                engine,
                gram_a,
                iterations,
            } => {
                let product = |pass: &mut wgpu::ComputePass<'_>, call: &MatmulCall| {
                    kernels.dispatch_product_call(pass, call, Some(*engine));
                };
                for (i, [poly, next]) in iterations.iter().enumerate() {
                    product(pass, &gram_a[i % 2]);
                    product(pass, poly);
                    product(pass, next);
                }
            }
        }
    }

    /// Orthogonalises `input` into `out` in one submission (a copy in, the kernels, a copy
    /// out); does not wait.
    ///
    /// # Errors
    /// [`MuonError::ShapeMismatch`] (as [`GpuError::Core`]) if a shape differs from this plan's.
    pub fn run(
        &self,
        ctx: &GpuContext,
        input: &GpuMatrix,
        out: &GpuMatrix,
    ) -> Result<(), GpuError> {
        for (what, mat) in [("input", input), ("out", out)] {
            mat.check_context(ctx, what)?;
            if mat.shape() != self.shape() {
                return Err(MuonError::ShapeMismatch {
                    what,
                    expected: self.shape(),
                    found: mat.shape(),
                }
                .into());
            }
        }
        let bytes = u64::from(self.rows * self.cols) * 4;
        let mut encoder = ctx
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("newton-schulz"),
            });
        encoder.copy_buffer_to_buffer(input.buffer(), input.offset(), self.input(), 0, bytes);
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("newton-schulz"),
                timestamp_writes: None,
            });
            self.encode(ctx.kernels(), &mut pass);
        }
        encoder.copy_buffer_to_buffer(self.output(), 0, out.buffer(), out.offset(), bytes);
        ctx.queue().submit([encoder.finish()]);
        Ok(())
    }
}
