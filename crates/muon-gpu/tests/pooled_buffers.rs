//! Matrices at an offset in a shared (pooled) buffer: the view rules are typed errors, every
//! kernel, copy and readback uses only the view's range (its neighbours stay bit-for-bit
//! unchanged), and an optimizer over pooled parameters steps exactly as one over buffers of
//! their own, and as the core.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::trajectory::{ADAM_TRAJ_TOL, CpuAdam, CpuMuon, MUON_TRAJ_TOL};
use common::{context, data, rel_err};
use muon_core::MuonError;
use muon_core::adam::AdamConfig;
use muon_core::muon::MuonConfig;
use muon_core::newton_schulz::NsConfig;
use muon_gpu::{
    Assigned, GpuContext, GpuError, GpuMatrix, GpuOptimizer, MATRIX_USAGES, ParamRole, ops,
    storage_offset_alignment,
};

/// A buffer of `bytes` bytes (`MATRIX_USAGES`) filled with a recognisable pattern: word `i`
/// holds the quiet NaN with payload `i`, which no kernel produces, and which a kernel reading
/// past its range would carry into its result (or see as a non-finite gradient). Returns it
/// and its words.
fn sentinel_pool(ctx: &GpuContext, bytes: u64) -> (wgpu::Buffer, Vec<u32>) {
    let words: Vec<u32> = (0..(bytes / 4) as u32).map(|i| 0x7FC0_0000 | i).collect();
    let buffer = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("test pool"),
        size: bytes,
        usage: MATRIX_USAGES,
        mapped_at_creation: false,
    });
    ctx.queue()
        .write_buffer(&buffer, 0, bytemuck::cast_slice(&words));
    (buffer, words)
}

/// Every word of `buffer` (read through a whole-buffer view).
fn pool_words(ctx: &GpuContext, buffer: &wgpu::Buffer) -> Vec<u32> {
    let n = (buffer.size() / 4) as usize;
    let whole = GpuMatrix::from_buffer(ctx, buffer.clone(), 1, n).unwrap();
    whole
        .read(ctx)
        .unwrap()
        .iter()
        .map(|x| x.to_bits())
        .collect()
}

/// Asserts that every word of `buffer` outside `views` still holds its value in `before`.
fn assert_outside_unchanged(
    ctx: &GpuContext,
    buffer: &wgpu::Buffer,
    before: &[u32],
    views: &[&GpuMatrix],
) {
    let after = pool_words(ctx, buffer);
    assert_eq!(after.len(), before.len());
    let inside = |w: usize| {
        let byte = w as u64 * 4;
        views
            .iter()
            .any(|v| byte >= v.offset() && byte < v.offset() + v.byte_len())
    };
    for (w, (a, b)) in after.iter().zip(before).enumerate() {
        if !inside(w) {
            assert_eq!(a, b, "word {w} (byte {}) outside every view changed", w * 4);
        }
    }
}

/// Lays `shapes` out one after another from one alignment unit in, each at the next aligned
/// offset after the previous one plus one alignment unit of gap (so every view has
/// neighbours on both sides); returns the offsets and the pool size in bytes.
fn layout(align: u64, shapes: &[(usize, usize)]) -> (Vec<u64>, u64) {
    let mut offsets = Vec::new();
    let mut at = align;
    for &(r, c) in shapes {
        offsets.push(at);
        at = (at + (r * c * 4) as u64).next_multiple_of(align) + align;
    }
    (offsets, at)
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn view_rules_are_typed_errors() {
    let Some(ctx) = context() else { return };
    let align = storage_offset_alignment(ctx.device());
    assert!(align.is_power_of_two() && align >= 4, "{align}");
    assert_eq!(
        align,
        u64::from(ctx.device().limits().min_storage_buffer_offset_alignment).max(4)
    );
    let (pool, _) = sentinel_pool(ctx, 8 * align);

    // Aligned and inside: fine, at any aligned offset up to the last that fits.
    let v = GpuMatrix::from_buffer_range(ctx, pool.clone(), 2 * align, 2, 3).unwrap();
    assert_eq!(
        (v.offset(), v.byte_len(), v.shape()),
        (2 * align, 24, (2, 3))
    );
    let last = 7 * align;
    let n = (align / 4) as usize;
    GpuMatrix::from_buffer_range(ctx, pool.clone(), last, 1, n).unwrap();

    // Misaligned (half the alignment is never a multiple of it).
    assert_eq!(
        GpuMatrix::from_buffer_range(ctx, pool.clone(), align / 2, 1, 1).unwrap_err(),
        GpuError::MisalignedOffset {
            offset: align / 2,
            alignment: align
        }
    );
    // One element past the end; an offset whose end overflows u64.
    assert_eq!(
        GpuMatrix::from_buffer_range(ctx, pool.clone(), last, 1, n + 1).unwrap_err(),
        GpuError::RangeOutOfBounds {
            offset: last,
            bytes: (n as u64 + 1) * 4,
            buffer_size: 8 * align
        }
    );
    let far = u64::MAX - (align - 1);
    assert!(matches!(
        GpuMatrix::from_buffer_range(ctx, pool.clone(), far, 1, 1),
        Err(GpuError::RangeOutOfBounds { offset, .. }) if offset == far
    ));
    // from_buffer is the range from 0: too small a buffer is out of bounds too.
    assert!(matches!(
        GpuMatrix::from_buffer(ctx, pool.clone(), 1, 2 * (8 * align / 4) as usize),
        Err(GpuError::RangeOutOfBounds { offset: 0, .. })
    ));
    // Beyond one storage binding.
    let max = ctx.max_binding_bytes().min((1 << 31) * 4);
    let huge_cols = (max / 4 + 1) as usize;
    assert!(matches!(
        GpuMatrix::from_buffer_range(ctx, pool.clone(), 0, 1, huge_cols),
        Err(GpuError::BufferTooLarge { .. })
    ));
    // Empty.
    assert_eq!(
        GpuMatrix::from_buffer_range(ctx, pool.clone(), 0, 0, 3).unwrap_err(),
        GpuError::Core(MuonError::EmptyMatrix)
    );
    // A usage missing.
    let no_read = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("no COPY_SRC"),
        size: 64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    assert_eq!(
        GpuMatrix::from_buffer_range(ctx, no_read, 0, 2, 2).unwrap_err(),
        GpuError::MissingUsage {
            missing: wgpu::BufferUsages::COPY_SRC
        }
    );
}

#[test]
fn views_read_and_write_only_their_range() {
    let Some(ctx) = context() else { return };
    let align = storage_offset_alignment(ctx.device());
    let (pool, before) = sentinel_pool(ctx, 6 * align);
    let a = GpuMatrix::from_buffer_range(ctx, pool.clone(), align, 3, 5).unwrap();
    let b = GpuMatrix::from_buffer_range(ctx, pool.clone(), 3 * align, 2, 2).unwrap();
    // A read of a fresh view sees the pool's own bytes at its offset.
    let start = (align / 4) as usize;
    assert_eq!(bits(&a.read(ctx).unwrap()), before[start..start + 15]);
    let da = data(15, 1);
    let db = data(4, 2);
    a.write(ctx, &da).unwrap();
    b.write(ctx, &db).unwrap();
    assert_eq!(a.read(ctx).unwrap(), da);
    assert_eq!(b.read(ctx).unwrap(), db);
    assert_outside_unchanged(ctx, &pool, &before, &[&a, &b]);
    // from_buffer on a larger buffer is the range from 0, and only that.
    let (big, before) = sentinel_pool(ctx, 4 * align);
    let head = GpuMatrix::from_buffer(ctx, big.clone(), 2, 2).unwrap();
    assert_eq!(head.offset(), 0);
    head.write(ctx, &db).unwrap();
    assert_eq!(head.read(ctx).unwrap(), db);
    assert_outside_unchanged(ctx, &big, &before, &[&head]);
}

#[test]
fn ops_on_views_match_own_buffers_and_stay_in_range() {
    let Some(ctx) = context() else { return };
    let align = storage_offset_alignment(ctx.device());
    // Inputs in one pool, outputs in another (an output must not share a buffer with the
    // inputs of its kernel).
    let shapes = [(9, 7), (7, 5)];
    let (offs, bytes) = layout(align, &shapes);
    let (inputs, in_before) = sentinel_pool(ctx, bytes);
    let out_shapes = [(9, 5), (9, 9), (9, 7)];
    let (out_offs, out_bytes) = layout(align, &out_shapes);
    let (outputs, out_before) = sentinel_pool(ctx, out_bytes);
    let view = |buf: &wgpu::Buffer, off: u64, (r, c): (usize, usize)| {
        GpuMatrix::from_buffer_range(ctx, buf.clone(), off, r, c).unwrap()
    };
    let a = view(&inputs, offs[0], shapes[0]);
    let b = view(&inputs, offs[1], shapes[1]);
    let ab = view(&outputs, out_offs[0], out_shapes[0]);
    let gram = view(&outputs, out_offs[1], out_shapes[1]);
    let ns = view(&outputs, out_offs[2], out_shapes[2]);
    let (da, db) = (data(63, 11), data(35, 12));
    a.write(ctx, &da).unwrap();
    b.write(ctx, &db).unwrap();
    ops::matmul(ctx, &a, false, &b, false, &ab).unwrap();
    ops::gram(ctx, &a, false, &gram).unwrap();
    ops::newton_schulz(ctx, &a, &ns, &NsConfig::default()).unwrap();
    let norm = ops::frobenius_norm(ctx, &a).unwrap();

    // The same on matrices of their own.
    let own_a = GpuMatrix::from_slice(ctx, 9, 7, &da).unwrap();
    let own_b = GpuMatrix::from_slice(ctx, 7, 5, &db).unwrap();
    let own_ab = GpuMatrix::zeros(ctx, 9, 5).unwrap();
    let own_gram = GpuMatrix::zeros(ctx, 9, 9).unwrap();
    let own_ns = GpuMatrix::zeros(ctx, 9, 7).unwrap();
    ops::matmul(ctx, &own_a, false, &own_b, false, &own_ab).unwrap();
    ops::gram(ctx, &own_a, false, &own_gram).unwrap();
    ops::newton_schulz(ctx, &own_a, &own_ns, &NsConfig::default()).unwrap();
    let own_norm = ops::frobenius_norm(ctx, &own_a).unwrap();

    for (what, got, want) in [
        ("matmul", &ab, &own_ab),
        ("gram", &gram, &own_gram),
        ("newton-schulz", &ns, &own_ns),
    ] {
        let got = got.read(ctx).unwrap();
        let want = want.read(ctx).unwrap();
        assert_eq!(bits(&got), bits(&want), "{what}");
        assert!(got.iter().any(|x| *x != 0.0), "{what} wrote nothing");
    }
    assert_eq!(norm.to_bits(), own_norm.to_bits());
    assert_outside_unchanged(ctx, &inputs, &in_before, &[&a, &b]);
    assert_outside_unchanged(ctx, &outputs, &out_before, &[&ab, &gram, &ns]);
}

#[test]
fn registration_rules_for_views() {
    let Some(ctx) = context() else { return };
    let align = storage_offset_alignment(ctx.device());
    let (pool, _) = sentinel_pool(ctx, 8 * align);
    let (grads, _) = sentinel_pool(ctx, 8 * align);
    let view = |buf: &wgpu::Buffer, off: u64, r: usize, c: usize| {
        GpuMatrix::from_buffer_range(ctx, buf.clone(), off, r, c).unwrap()
    };
    let n = (align / 4) as usize; // one alignment unit of f32
    let muon = MuonConfig::new().build().unwrap();
    let adamw = AdamConfig::adamw().build().unwrap();
    let mut opt = GpuOptimizer::new(ctx, muon, adamw);
    // Two parameters in one pool, their gradients in another: fine.
    let p0 = view(&pool, 0, 2, n);
    let p1 = view(&pool, 3 * align, 1, n);
    let g0 = view(&grads, 0, 2, n);
    let g1 = view(&grads, 3 * align, 1, n);
    assert_eq!(opt.add(&p0, &g0, ParamRole::Auto).unwrap(), 0);
    assert_eq!(opt.add(&p1, &g1, ParamRole::Auto).unwrap(), 1);
    let muon0 = Assigned {
        group: GpuOptimizer::MUON,
        index: 0,
    };
    let adamw0 = Assigned {
        group: GpuOptimizer::ADAMW,
        index: 0,
    };
    assert_eq!(opt.assigned(0), Some(muon0));
    assert_eq!(opt.assigned(1), Some(adamw0));
    // Parameters overlapping p0 (its second row; its first element), a gradient
    // overlapping g1.
    let fresh_g = view(&grads, 4 * align, 1, n);
    for over_p0 in [view(&pool, align, 1, n), view(&pool, 0, 1, 1)] {
        assert_eq!(
            opt.add(&over_p0, &fresh_g, ParamRole::Auto).unwrap_err(),
            GpuError::AlreadyRegistered {
                what: "param",
                index: 0
            }
        );
    }
    let fresh_p = view(&pool, 4 * align, 1, n);
    let over_g1 = view(&grads, 3 * align, 1, 1);
    let fresh_p1 = view(&pool, 5 * align, 1, 1);
    assert_eq!(
        opt.add(&fresh_p1, &over_g1, ParamRole::Auto).unwrap_err(),
        GpuError::AlreadyRegistered {
            what: "grad",
            index: 1
        }
    );
    // A parameter and its own gradient in one buffer, even at disjoint offsets: refused
    // (one dispatch binds the parameter writable and the gradient read-only).
    let same_pool_g = view(&pool, 6 * align, 1, n);
    assert_eq!(
        opt.add(&fresh_p, &same_pool_g, ParamRole::Auto)
            .unwrap_err(),
        GpuError::AliasedBuffers {
            what: "param and grad"
        }
    );
    // The refusals registered nothing; a proper pair still goes in, and so does one that
    // fills the gap between p0 and p1 exactly (touching is not overlapping).
    assert_eq!(opt.add(&fresh_p, &fresh_g, ParamRole::Auto).unwrap(), 2);
    let between_p = view(&pool, 2 * align, 1, n);
    let between_g = view(&grads, 2 * align, 1, n);
    assert_eq!(opt.add(&between_p, &between_g, ParamRole::Auto).unwrap(), 3);
}

/// Creates `n` devices on one adapter of one instance, the way an application with its own
/// wgpu setup does, or `None` (with the usual `MUON_REQUIRE_ADAPTER` rule) when there is no
/// adapter.
fn own_devices(n: usize) -> Option<Vec<(wgpu::Device, wgpu::Queue)>> {
    context()?;
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter =
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
            .expect("an adapter exists (the shared context found one)");
    let devices = (0..n)
        .map(|_| {
            pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
                label: Some("application device"),
                required_limits: adapter.limits(),
                ..Default::default()
            }))
            .unwrap()
        })
        .collect();
    Some(devices)
}

/// A buffer of another device (of the same instance: wgpu cannot tell buffers of two
/// instances apart) is refused as foreign, and accepted by its own device's context.
#[test]
fn a_buffer_of_another_device_is_refused() {
    let Some(mut devices) = own_devices(2) else {
        return;
    };
    let (d1, q1) = devices.pop().unwrap();
    let (d0, q0) = devices.pop().unwrap();
    let ctx = GpuContext::from_device(d0, q0).unwrap();
    let other = GpuContext::from_device(d1, q1).unwrap();
    let (foreign, _) = sentinel_pool(&other, 64);
    assert_eq!(
        GpuMatrix::from_buffer_range(&ctx, foreign.clone(), 0, 2, 2).unwrap_err(),
        GpuError::ForeignContext { what: "buffer" }
    );
    // Refused without poisoning the device: its own buffers still work.
    let (local, _) = sentinel_pool(&ctx, 64);
    let m = GpuMatrix::from_buffer_range(&ctx, local, 0, 2, 2).unwrap();
    m.write(&ctx, &[1.0, 2.0, 3.0, 4.0]).unwrap();
    assert_eq!(m.read(&ctx).unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
    let own = GpuMatrix::from_buffer_range(&other, foreign, 0, 2, 2).unwrap();
    assert_eq!(own.read(&other).unwrap().len(), 4);
}

/// An application's device, its parameters (Muon matrices, AdamW vectors) in one pooled
/// buffer and their gradients in another, each at aligned offsets with other data between:
/// 8 steps of [`GpuOptimizer`] through [`GpuContext::from_device`] give bit-for-bit the
/// weights of the same optimizer over buffers of their own, match the core within the
/// trajectory tolerances, and leave every byte outside the views unchanged.
#[test]
fn pooled_parameters_train_like_own_buffers_and_the_core() {
    let Some(mut devices) = own_devices(1) else {
        return;
    };
    let (device, queue) = devices.pop().unwrap();
    let ctx = GpuContext::from_device(device, queue).unwrap();
    let ctx = &ctx;
    let align = storage_offset_alignment(ctx.device());
    let shapes = [(12, 8), (1, 8), (5, 9), (16, 1), (1, 3)];
    let (offs, bytes) = layout(align, &shapes);
    let (params, p_before) = sentinel_pool(ctx, bytes);
    let (grads, g_before) = sentinel_pool(ctx, bytes);
    let muon = MuonConfig::new().with_lr(0.02).build().unwrap();
    let adamw = AdamConfig::adamw()
        .with_lr(3e-3)
        .with_betas(0.9, 0.95)
        .build()
        .unwrap();
    let mut pooled = GpuOptimizer::new(ctx, muon, adamw);
    let mut own = GpuOptimizer::new(ctx, muon, adamw);
    let mut views = Vec::new();
    let mut owned = Vec::new();
    let mut cpu_m = Vec::new();
    let mut cpu_a = Vec::new();
    for (i, (&(r, c), &off)) in shapes.iter().zip(&offs).enumerate() {
        let w0 = data(r * c, 500 + i as u64);
        let p = GpuMatrix::from_buffer_range(ctx, params.clone(), off, r, c).unwrap();
        let g = GpuMatrix::from_buffer_range(ctx, grads.clone(), off, r, c).unwrap();
        p.write(ctx, &w0).unwrap();
        pooled.add(&p, &g, ParamRole::Auto).unwrap();
        let op = GpuMatrix::from_slice(ctx, r, c, &w0).unwrap();
        let og = GpuMatrix::zeros(ctx, r, c).unwrap();
        own.add(&op, &og, ParamRole::Auto).unwrap();
        match pooled.assigned(i) {
            Some(a) if a.group == GpuOptimizer::MUON => cpu_m.push((i, CpuMuon::new(w0, r, c))),
            _ => cpu_a.push((i, CpuAdam::<f32>::new(w0))),
        }
        views.push((p, g));
        owned.push((op, og));
    }
    assert_eq!((cpu_m.len(), cpu_a.len()), (2, 3));
    for step in 0..8u64 {
        for (i, ((_, g), (_, og))) in views.iter().zip(&owned).enumerate() {
            let gd = data(g.len(), 900 + step * 10 + i as u64);
            g.write(ctx, &gd).unwrap();
            og.write(ctx, &gd).unwrap();
            if let Some((_, c)) = cpu_m.iter_mut().find(|(j, _)| *j == i) {
                c.step(&muon, &gd).unwrap();
            }
            if let Some((_, c)) = cpu_a.iter_mut().find(|(j, _)| *j == i) {
                c.step(&adamw, &gd).unwrap();
            }
        }
        pooled.step();
        own.step();
    }
    pooled.check().unwrap();
    for (i, ((p, _), (op, _))) in views.iter().zip(&owned).enumerate() {
        let got = p.read(ctx).unwrap();
        assert_eq!(bits(&got), bits(&op.read(ctx).unwrap()), "param {i}");
    }
    for (i, c) in &cpu_m {
        let e = rel_err(&views[*i].0.read(ctx).unwrap(), &c.w);
        assert!(e < MUON_TRAJ_TOL, "muon param {i}: {e}");
    }
    for (i, c) in &cpu_a {
        let e = rel_err(&views[*i].0.read(ctx).unwrap(), &c.w);
        assert!(e < ADAM_TRAJ_TOL, "adamw param {i}: {e}");
    }
    let p_views: Vec<&GpuMatrix> = views.iter().map(|(p, _)| p).collect();
    let g_views: Vec<&GpuMatrix> = views.iter().map(|(_, g)| g).collect();
    assert_outside_unchanged(ctx, &params, &p_before, &p_views);
    assert_outside_unchanged(ctx, &grads, &g_before, &g_views);
}
