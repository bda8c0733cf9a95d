//! The element-wise kernels' two builds (`vec4` over whole groups of 4 or 8 elements, one
//! element per array element for the rest and for short matrices): every length, every
//! moment format, against the core element by element; and the gradient check's first bad
//! index wherever it falls.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::context;
use common::trajectory::{CpuAdam, CpuMuon};
use half::{bf16, f16};
use muon_core::adam::{AdamConfig, MomentStorage};
use muon_core::muon::MuonConfig;
use muon_gpu::kernels::{CheckParams, ElementwiseBindGroups, uniform_buffer};
use muon_gpu::{
    GpuAdam, GpuContext, GpuError, GpuMatrix, GpuMuon, MomentFormat, SkippedSteps,
    storage_offset_alignment,
};

/// Lengths around every group boundary: below one `vec4` group, each remainder modulo 4 and
/// 8, and long ones with tails.
const LENGTHS: [usize; 21] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 31, 1000, 1003, 1029,
];

/// Whether `ctx` is lavapipe (llvmpipe), which does not fuse multiply-adds: there the device
/// must give the core's bits exactly.
fn exact(ctx: &GpuContext) -> bool {
    ctx.adapter_info()
        .name
        .to_ascii_lowercase()
        .contains("llvmpipe")
}

/// `got` equals `want` element by element: bit for bit on lavapipe, within `tol · max(|want|,
/// 1)` per element elsewhere (an element the kernel skipped or misplaced is off by about the
/// learning rate, far above `tol`).
fn assert_elementwise(ctx: &GpuContext, got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if exact(ctx) {
            assert_eq!(g.to_bits(), w.to_bits(), "{what}: element {i}: {g} vs {w}");
        } else {
            assert!(
                (g - w).abs() <= tol * w.abs().max(1.0),
                "{what}: element {i}: {g} vs {w}"
            );
        }
    }
}

/// Three Adam steps of a `1 × len` parameter for every length, moments stored as `S` /
/// `format`, against the core.
fn adam_lengths<S: MomentStorage>(format: MomentFormat) {
    let Some(ctx) = context() else { return };
    let adam = AdamConfig::adamw().with_lr(1e-2).build().unwrap();
    for len in LENGTHS {
        let w0 = common::data(len, 40 + len as u64);
        let param = GpuMatrix::from_slice(ctx, 1, len, &w0).unwrap();
        let grad = GpuMatrix::zeros(ctx, 1, len).unwrap();
        let mut gpu = GpuAdam::with_moments(ctx, adam, format);
        gpu.add_param(&param, &grad).unwrap();
        let mut cpu = CpuAdam::<S>::new(w0);
        for t in 0..3 {
            let g = common::data(len, 900 + t);
            grad.write(ctx, &g).unwrap();
            gpu.step();
            cpu.step(&adam, &g).unwrap();
        }
        let what = format!("{format:?}, {len} elements");
        let (m, v) = gpu.moments(0).unwrap();
        let (cm, cv) = cpu.moments();
        assert_elementwise(ctx, &param.read(ctx).unwrap(), &cpu.w, 1e-5, &what);
        assert_elementwise(ctx, &m, &cm, 1e-2, &format!("{what}, m"));
        assert_elementwise(ctx, &v, &cv, 1e-2, &format!("{what}, v"));
        gpu.check().unwrap();
    }
}

#[test]
fn adam_matches_the_core_at_every_length_in_every_format() {
    adam_lengths::<f32>(MomentFormat::F32);
    adam_lengths::<f16>(MomentFormat::F16);
    adam_lengths::<bf16>(MomentFormat::Bf16);
}

#[test]
fn muon_matches_the_core_at_every_length() {
    let Some(ctx) = context() else { return };
    let muon = MuonConfig::new()
        .with_lr(0.05)
        .with_weight_decay(0.1)
        .build()
        .unwrap();
    for len in LENGTHS {
        let w0 = common::data(len, 70 + len as u64);
        let param = GpuMatrix::from_slice(ctx, 1, len, &w0).unwrap();
        let grad = GpuMatrix::zeros(ctx, 1, len).unwrap();
        let mut gpu = GpuMuon::new(ctx, muon);
        gpu.add_param(&param, &grad).unwrap();
        let mut cpu = CpuMuon::new(w0, 1, len);
        for t in 0..2 {
            let g = common::data(len, 300 + t);
            grad.write(ctx, &g).unwrap();
            gpu.step();
            cpu.step(&muon, &g).unwrap();
        }
        // Newton–Schulz sums in another order than the core: not bit for bit anywhere.
        let w = param.read(ctx).unwrap();
        let mom = gpu.momentum(0).unwrap();
        for (i, ((g, c), (b, cb))) in w
            .iter()
            .zip(&cpu.w)
            .zip(mom.iter().zip(&cpu.momentum))
            .enumerate()
        {
            assert!((g - c).abs() < 1e-4, "{len} elements: w[{i}] {g} vs {c}");
            assert_eq!(b.to_bits(), cb.to_bits(), "{len} elements: momentum[{i}]");
        }
        gpu.check().unwrap();
    }
}

/// Whether the check of a `len`-element gradient, bound at byte `offset` of a buffer, runs
/// the `vec4` build (its bind groups covering `len` elements).
fn check_uses_vec4(ctx: &GpuContext, offset: u64, len: usize) -> bool {
    let buffer = ctx
        .device()
        .create_buffer(&muon_gpu::wgpu::BufferDescriptor {
            label: Some("test pool"),
            size: offset + 4 * len as u64,
            usage: muon_gpu::MATRIX_USAGES,
            mapped_at_creation: false,
        });
    let grad = GpuMatrix::from_buffer_range(ctx, buffer, offset, 1, len).unwrap();
    let groups = check_groups(ctx, &grad, len);
    assert_eq!((groups.len(), groups.is_empty()), (len as u32, false));
    groups.uses_vec4()
}

/// The check's bind groups over the first `len` elements of `grad`.
fn check_groups(ctx: &GpuContext, grad: &GpuMatrix, len: usize) -> ElementwiseBindGroups {
    let params = uniform_buffer(
        ctx.device(),
        "test check params",
        &CheckParams {
            len: len as u32,
            _pad: [0; 3],
        },
    );
    let status = ctx
        .device()
        .create_buffer(&muon_gpu::wgpu::BufferDescriptor {
            label: Some("test status"),
            size: 16,
            usage: muon_gpu::wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
    ctx.kernels().check_finite.bind_group(
        ctx.device(),
        &params,
        grad.binding(),
        &status,
        len as u32,
    )
}

#[test]
fn the_vec4_build_runs_from_one_whole_group_at_16_byte_offsets() {
    let Some(ctx) = context() else { return };
    let alignment = storage_offset_alignment(ctx.device());
    // The smallest offset the device allows that is a multiple of 16 bytes, and a later one.
    let aligned = alignment.max(16);
    for offset in [0, aligned, 3 * aligned] {
        for len in LENGTHS {
            assert_eq!(
                check_uses_vec4(ctx, offset, len),
                len >= 4,
                "{len} elements at byte {offset}"
            );
        }
    }
    // Where the device allows offsets that are not multiples of 16, such a matrix runs the
    // one-element build (lavapipe and most GPUs ask for 16 or more).
    if !alignment.is_multiple_of(16) {
        assert!(!check_uses_vec4(ctx, alignment, 100));
    }
    // Bind groups over no element: nothing to dispatch.
    let grad = GpuMatrix::zeros(ctx, 1, 8).unwrap();
    let none = check_groups(ctx, &grad, 0);
    assert!(none.is_empty() && !none.uses_vec4());
}

/// One Adam step of a 13-element gradient (three `vec4` groups and a tail of one) with NaN or
/// ±Inf at `bad`: skipped, weights untouched, the first bad index reported.
fn first_bad_is_reported(ctx: &GpuContext, bad: &[(usize, f32)]) {
    let len = 13;
    let w0 = common::data(len, 5);
    let param = GpuMatrix::from_slice(ctx, 1, len, &w0).unwrap();
    let mut g = common::data(len, 6);
    for &(i, x) in bad {
        g[i] = x;
    }
    let grad = GpuMatrix::from_slice(ctx, 1, len, &g).unwrap();
    let mut adam = GpuAdam::from_config(ctx, AdamConfig::adamw()).unwrap();
    adam.add_param(&param, &grad).unwrap();
    adam.step();
    assert_eq!(param.read(ctx).unwrap(), w0, "{bad:?}");
    let first = bad.iter().map(|&(i, _)| i).min().unwrap();
    assert_eq!(
        adam.check(),
        Err(GpuError::NonFiniteGradients(vec![SkippedSteps {
            param: 0,
            index: first,
            skipped_steps: 1
        }])),
        "{bad:?}"
    );
}

#[test]
fn the_first_non_finite_index_is_reported_wherever_it_falls() {
    let Some(ctx) = context() else { return };
    for i in 0..13 {
        first_bad_is_reported(ctx, &[(i, f32::NAN)]);
    }
    // Several in one group, across groups, and with the tail: the first one counts.
    first_bad_is_reported(ctx, &[(6, f32::INFINITY), (5, f32::NAN), (7, f32::NAN)]);
    first_bad_is_reported(ctx, &[(11, f32::NEG_INFINITY), (9, f32::NAN)]);
    first_bad_is_reported(ctx, &[(12, f32::NAN), (3, f32::INFINITY)]);
    first_bad_is_reported(ctx, &[(12, f32::NAN), (8, f32::NAN), (1, f32::NAN)]);
}
