//! The model kernels (row gather, row-wise softmax cross-entropy) against a CPU reference
//! written out here in `f64`, on whatever adapter exists.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::{context, data};
use muon_core::MuonError;
use muon_gpu::{GpuError, GpuMatrix, ops};

#[test]
fn gather_rows_matches_indexing() {
    let Some(ctx) = context() else { return };
    for (src_rows, cols, index) in [
        (5usize, 3usize, vec![4u32, 0, 0, 2]),
        (1, 1, vec![0]),
        (300, 70, (0..517).map(|i| (i * 37 % 300) as u32).collect()),
    ] {
        let src = data(src_rows * cols, src_rows as u64);
        let g_src = GpuMatrix::from_slice(ctx, src_rows, cols, &src).unwrap();
        let out = GpuMatrix::zeros(ctx, index.len(), cols).unwrap();
        ops::gather_rows(ctx, &g_src, &index, &out).unwrap();
        let want: Vec<f32> = index
            .iter()
            .flat_map(|&i| src[i as usize * cols..(i as usize + 1) * cols].to_vec())
            .collect();
        assert_eq!(out.read(ctx).unwrap(), want, "{src_rows}×{cols}");
    }
}

#[test]
fn gather_rows_rejects_bad_indices_and_shapes() {
    let Some(ctx) = context() else { return };
    let src = GpuMatrix::zeros(ctx, 4, 2).unwrap();
    let out = GpuMatrix::zeros(ctx, 2, 2).unwrap();
    assert!(matches!(
        ops::gather_rows(ctx, &src, &[0, 4], &out),
        Err(GpuError::Core(MuonError::ShapeMismatch {
            what: "index",
            ..
        }))
    ));
    assert!(matches!(
        ops::gather_rows(ctx, &src, &[0, 1, 2], &out),
        Err(GpuError::Core(MuonError::ShapeMismatch { what: "out", .. }))
    ));
}

/// Per row: `(grad row, p_target, loss, is_argmax)` in `f64`.
fn reference(z: &[f32], cols: usize, t: usize, w: f32) -> (Vec<f64>, f64, f64, bool) {
    let z: Vec<f64> = z.iter().map(|&x| f64::from(x)).collect();
    let mx = z.iter().copied().fold(f64::MIN, f64::max);
    let sum: f64 = z.iter().map(|x| (x - mx).exp()).sum();
    let p: Vec<f64> = z.iter().map(|x| (x - mx).exp() / sum).collect();
    let grad = (0..cols)
        .map(|c| f64::from(w) * (p[c] - f64::from(u8::from(c == t))))
        .collect();
    let argmax = (0..cols).all(|c| c == t || z[c] < z[t]);
    (grad, p[t], sum.ln() + mx - z[t], argmax)
}

#[test]
fn softmax_cross_entropy_matches_reference() {
    let Some(ctx) = context() else { return };
    // Columns below, at and above one workgroup (256), rows beyond one workgroup row.
    for (rows, cols, scale) in [
        (1usize, 1usize, 1.0f32),
        (3, 7, 5.0),
        (70, 256, 3.0),
        (9, 1000, 40.0),
    ] {
        let z: Vec<f32> = data(rows * cols, cols as u64)
            .iter()
            .map(|x| x * scale)
            .collect();
        let targets: Vec<u32> = (0..rows).map(|r| ((r * 131 + 7) % cols) as u32).collect();
        let weights: Vec<f32> = (0..rows).map(|r| 0.5 + r as f32 / rows as f32).collect();
        let g_z = GpuMatrix::from_slice(ctx, rows, cols, &z).unwrap();
        let g_grad = GpuMatrix::zeros(ctx, rows, cols).unwrap();
        let stats = ops::softmax_cross_entropy(ctx, &g_z, &targets, &weights, &g_grad).unwrap();
        let grad = g_grad.read(ctx).unwrap();
        assert_eq!(stats.len(), rows);
        for r in 0..rows {
            let row = &z[r * cols..(r + 1) * cols];
            let (want, p, loss, argmax) = reference(row, cols, targets[r] as usize, weights[r]);
            for c in 0..cols {
                let got = f64::from(grad[r * cols + c]);
                assert!(
                    (got - want[c]).abs() <= 1e-6 + 1e-5 * want[c].abs(),
                    "{rows}×{cols} [{r}][{c}]: {got} vs {}",
                    want[c]
                );
            }
            let s = stats[r];
            assert!(
                (f64::from(s.target_prob) - p).abs() <= 1e-6 + 1e-5 * p,
                "p {r}"
            );
            assert!(
                (f64::from(s.loss) - loss).abs() <= 1e-5 * (1.0 + loss),
                "loss {r}: {} vs {loss}",
                s.loss
            );
            assert!(
                (f64::from(s.weighted_loss) - f64::from(weights[r]) * loss).abs()
                    <= 1e-5 * (1.0 + loss),
                "weighted loss {r}"
            );
            assert_eq!(s.is_argmax, argmax, "arg-max {rows}×{cols} row {r}");
        }
    }
}

#[test]
fn softmax_cross_entropy_arg_max_is_strict_and_loss_survives_underflow() {
    let Some(ctx) = context() else { return };
    // Row 0: a tie with the target (not an arg-max). Row 1: the target's probability
    // underflows f32 (e^-200) but its loss is still 200.
    let z = [1.0f32, 1.0, 0.0, 0.0, 200.0, 0.0];
    let g_z = GpuMatrix::from_slice(ctx, 2, 3, &z).unwrap();
    let g_grad = GpuMatrix::zeros(ctx, 2, 3).unwrap();
    let s = ops::softmax_cross_entropy(ctx, &g_z, &[0, 0], &[1.0, 1.0], &g_grad).unwrap();
    assert!(!s[0].is_argmax);
    assert!((s[0].target_prob - 0.5 / (1.0 + 0.5 * (-1.0f32).exp())).abs() < 1e-6);
    assert!(
        s[1].target_prob == 0.0 && (s[1].loss - 200.0).abs() < 1e-3,
        "{:?}",
        s[1]
    );
    assert!(matches!(
        ops::softmax_cross_entropy(ctx, &g_z, &[0, 3], &[1.0, 1.0], &g_grad),
        Err(GpuError::Core(MuonError::ShapeMismatch {
            what: "targets",
            ..
        }))
    ));
    assert!(matches!(
        ops::softmax_cross_entropy(ctx, &g_z, &[0], &[1.0, 1.0], &g_grad),
        Err(GpuError::Core(MuonError::LengthMismatch {
            what: "targets",
            ..
        }))
    ));
}

#[test]
fn scatter_add_rows_sums_repeats_and_zeroes_the_rest() {
    let Some(ctx) = context() else { return };
    for (out_rows, cols, index) in [
        (5usize, 3usize, vec![4u32, 0, 0, 2]),
        (
            300,
            70,
            (0..517).map(|i| (i * 37 % 290) as u32).collect::<Vec<_>>(),
        ),
    ] {
        let src = data(index.len() * cols, cols as u64);
        let g_src = GpuMatrix::from_slice(ctx, index.len(), cols, &src).unwrap();
        let out = GpuMatrix::from_slice(ctx, out_rows, cols, &vec![9.0; out_rows * cols]).unwrap();
        ops::scatter_add_rows(ctx, &g_src, &index, &out).unwrap();
        let mut want = vec![0.0f32; out_rows * cols];
        for (j, &c) in index.iter().enumerate() {
            for k in 0..cols {
                want[c as usize * cols + k] += src[j * cols + k];
            }
        }
        assert_eq!(out.read(ctx).unwrap(), want, "{out_rows}×{cols}");
    }
    let src = GpuMatrix::zeros(ctx, 2, 2).unwrap();
    let out = GpuMatrix::zeros(ctx, 3, 2).unwrap();
    assert!(matches!(
        ops::scatter_add_rows(ctx, &src, &[0, 3], &out),
        Err(GpuError::Core(MuonError::ShapeMismatch {
            what: "index",
            ..
        }))
    ));
}

#[test]
fn silu_forward_and_backward_match_reference() {
    let Some(ctx) = context() else { return };
    let len = 1000;
    let h: Vec<f32> = data(len, 3).iter().map(|x| x * 12.0).collect();
    let up = data(len, 4);
    let g_h = GpuMatrix::from_slice(ctx, 10, 100, &h).unwrap();
    let a = GpuMatrix::zeros(ctx, 10, 100).unwrap();
    ops::silu(ctx, &g_h, &a, false).unwrap();
    let g = GpuMatrix::from_slice(ctx, 10, 100, &up).unwrap();
    ops::silu(ctx, &g_h, &g, true).unwrap();
    let (a, g) = (a.read(ctx).unwrap(), g.read(ctx).unwrap());
    for i in 0..len {
        let x = f64::from(h[i]);
        let s = 1.0 / (1.0 + (-x).exp());
        let (fa, fg) = (x * s, f64::from(up[i]) * s * (1.0 + x * (1.0 - s)));
        assert!(
            (f64::from(a[i]) - fa).abs() <= 1e-6 * (1.0 + fa.abs()),
            "silu({x}) = {}, want {fa}",
            a[i]
        );
        assert!(
            (f64::from(g[i]) - fg).abs() <= 1e-6 * (1.0 + fg.abs()),
            "silu'({x}) = {}, want {fg}",
            g[i]
        );
    }
}
