//! SGD against a reference: torch.optim.SGD's documented algorithm, written out independently
//! here in float64 (https://pytorch.org/docs/stable/generated/torch.optim.SGD.html):
//!
//! ```text
//! g ← ∇f(θ)            (−∇f with maximize)
//! g ← g + λθ           (weight decay λ ≠ 0)
//! if μ ≠ 0:
//!     b ← g                        on the first step
//!     b ← μb + (1 − τ)g            after it (dampening τ)
//!     g ← g + μb (nesterov)  or  g ← b
//! θ ← θ − γg
//! ```
//!
//! muon-core implements dampening τ = 0 and maximize off (the defaults); the reference takes
//! both so that it is torch's algorithm as written, and is run with those values. The
//! algorithm as written agrees with `torch.optim.SGD` (torch 2.15, float64, these six configs,
//! 12 steps) within 2.2e-16 absolute, about one ulp (docs/reliability.md has the check).
//!
//! Tolerance: f32 against f64, a few roundings per element per step over 12 steps; the
//! parameter *change* is compared (relative to its norm) within 1e-5, which catches any wrong
//! term (a missing μ, decay or Nesterov term changes it by ≥ 1%).

use crate::rule;

use muon_core::sgd::SgdConfig;
use rule::sgd_step;

/// torch's SGD in f64 over `steps` gradients; returns the parameters after each step.
#[allow(clippy::too_many_arguments)]
fn torch_sgd_f64(
    init: &[f64],
    grads: &[Vec<f64>],
    lr: f64,
    momentum: f64,
    dampening: f64,
    weight_decay: f64,
    nesterov: bool,
    maximize: bool,
) -> Vec<Vec<f64>> {
    let mut theta = init.to_vec();
    let mut buf: Option<Vec<f64>> = None;
    let mut out = Vec::new();
    for grad in grads {
        let mut g: Vec<f64> = grad
            .iter()
            .map(|&x| if maximize { -x } else { x })
            .collect();
        if weight_decay != 0.0 {
            for (gi, ti) in g.iter_mut().zip(&theta) {
                *gi += weight_decay * ti;
            }
        }
        if momentum != 0.0 {
            let b = match buf.take() {
                None => g.clone(),
                Some(prev) => prev
                    .iter()
                    .zip(&g)
                    .map(|(bi, gi)| momentum * bi + (1.0 - dampening) * gi)
                    .collect(),
            };
            g = if nesterov {
                g.iter()
                    .zip(&b)
                    .map(|(gi, bi)| gi + momentum * bi)
                    .collect()
            } else {
                b.clone()
            };
            buf = Some(b);
        }
        for (ti, gi) in theta.iter_mut().zip(&g) {
            *ti -= lr * gi;
        }
        out.push(theta.clone());
    }
    out
}

/// Deterministic pseudo-random values in [−1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn sgd_matches_torchs_documented_algorithm() {
    let configs = [
        SgdConfig::new().with_lr(0.1),
        SgdConfig::new().with_lr(0.05).with_weight_decay(0.1),
        SgdConfig::new().with_lr(0.02).with_momentum(0.9),
        SgdConfig::new()
            .with_lr(0.03)
            .with_momentum(0.8)
            .with_nesterov(true),
        SgdConfig::new()
            .with_lr(0.01)
            .with_momentum(0.5)
            .with_weight_decay(0.3)
            .with_nesterov(true),
        SgdConfig::new()
            .with_lr(0.04)
            .with_momentum(0.95)
            .with_weight_decay(0.01),
    ];
    for (k, config) in configs.into_iter().enumerate() {
        let sgd = config.build().expect("valid");
        let n = 23;
        let init = values(n, 100 + k as u64);
        let grads: Vec<Vec<f32>> = (0..12).map(|t| values(n, 1000 * k as u64 + t)).collect();
        let reference = torch_sgd_f64(
            &init.iter().map(|&x| f64::from(x)).collect::<Vec<_>>(),
            &grads
                .iter()
                .map(|g| g.iter().map(|&x| f64::from(x)).collect())
                .collect::<Vec<_>>(),
            f64::from(config.lr),
            f64::from(config.momentum),
            0.0,
            f64::from(config.weight_decay),
            config.nesterov,
            false,
        );
        let mut w = init.clone();
        // A momentum buffer holding junk: the first step must ignore it (b ← g).
        let mut buf = values(n, 7);
        let mut t = 0u32;
        for (step, (g, want)) in grads.iter().zip(&reference).enumerate() {
            sgd_step(&sgd, &mut w, g, &mut buf, &mut t).expect("step");
            assert_eq!(t, step as u32 + 1);
            let change: f64 = want
                .iter()
                .zip(&init)
                .map(|(r, i)| (r - f64::from(*i)).powi(2))
                .sum::<f64>()
                .sqrt();
            let err: f64 = w
                .iter()
                .zip(want)
                .map(|(o, r)| (f64::from(*o) - r).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(
                err <= 1e-5 * change,
                "{config:?} step {}: ‖ours − ref‖ = {err:e}, ‖change‖ = {change:e}",
                step + 1
            );
        }
    }
}

/// Without momentum the buffer is neither read nor written.
#[test]
fn sgd_without_momentum_leaves_the_buffer_alone() {
    let sgd = SgdConfig::new().with_lr(0.5).build().expect("valid");
    let mut w = [1.0f32, -2.0];
    let mut buf = [7.0f32, 8.0];
    let mut t = 5;
    sgd_step(&sgd, &mut w, &[0.5, 1.0], &mut buf, &mut t).expect("step");
    assert_eq!(w, [0.75, -2.5]);
    assert_eq!(buf, [7.0, 8.0]);
    assert_eq!(t, 6);
}

/// A restored step count > 0 continues the momentum (b ← μb + g) instead of restarting it.
#[test]
fn sgd_continues_a_restored_momentum_buffer() {
    let sgd = SgdConfig::new()
        .with_lr(1.0)
        .with_momentum(0.5)
        .build()
        .expect("valid");
    let mut w = [0.0f32];
    let mut buf = [4.0f32];
    let mut t = 3;
    sgd_step(&sgd, &mut w, &[1.0], &mut buf, &mut t).expect("step");
    assert_eq!(buf, [3.0]); // 0.5·4 + 1
    assert_eq!(w, [-3.0]);
    let mut t = u32::MAX;
    sgd_step(&sgd, &mut w, &[1.0], &mut buf, &mut t).expect("step");
    assert_eq!(t, u32::MAX, "the step count saturates");
}

#[test]
fn sgd_config_is_validated() {
    use muon_core::MuonError;
    let bad = |c: SgdConfig, name: &str| match c.build() {
        Err(MuonError::InvalidHyperParameter { name: n, .. }) => assert_eq!(n, name),
        other => panic!("{c:?}: {other:?}"),
    };
    bad(SgdConfig::new().with_lr(-1.0), "lr");
    bad(SgdConfig::new().with_lr(f32::INFINITY), "lr");
    bad(SgdConfig::new().with_momentum(1.0), "momentum");
    bad(SgdConfig::new().with_momentum(-0.1), "momentum");
    bad(SgdConfig::new().with_weight_decay(-1e-3), "weight_decay");
    bad(SgdConfig::new().with_nesterov(true), "nesterov");
    assert!(
        SgdConfig::new()
            .with_momentum(0.1)
            .with_nesterov(true)
            .build()
            .is_ok()
    );
    let sgd = SgdConfig::default().build().expect("valid");
    assert_eq!(*sgd.config(), SgdConfig::new());
    assert_eq!(sgd.config().lr, 1e-3);
    // Length and gradient errors change nothing.
    let (mut w, mut b, mut t) = ([1.0f32; 3], [2.0f32; 3], 4u32);
    assert!(matches!(
        sgd_step(&sgd, &mut w, &[1.0; 2], &mut b, &mut t),
        Err(MuonError::ShapeMismatch { what: "grad", .. })
    ));
    assert!(matches!(
        sgd_step(&sgd, &mut w, &[1.0; 3], &mut b[..2], &mut t),
        Err(MuonError::LengthMismatch {
            what: "momentum",
            ..
        })
    ));
    assert!(matches!(
        sgd_step(&sgd, &mut w, &[1.0, f32::NAN, 1.0], &mut b, &mut t),
        Err(MuonError::NonFiniteGradient { index: 1 })
    ));
    assert_eq!((w, b, t), ([1.0; 3], [2.0; 3], 4));
}
