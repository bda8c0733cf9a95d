//! Issue 17's core rows, one test each: finite input that used to give NaN or ±∞ (rows 1, 2,
//! 8), scratch sizes that overflowed (row 12), state restored from bytes that was accepted
//! whatever it held (row 13). Each test failed before the fix it names.

use crate::rule;

use muon_core::adam::{AdamConfig, AdamSlots, AdamState};
use muon_core::muon::{Muon, MuonConfig, MuonState};
use muon_core::newton_schulz::NsCoefficients;
use muon_core::newton_schulz::{NsConfig, NsNormalization, newton_schulz, ns_scratch_len};
use muon_core::sgd::SgdConfig;
use muon_core::{MatMut, MatRef, Matrix, MuonError};
use rule::{adam_step, sgd_step};

fn all_finite(x: &[f32]) -> bool {
    x.iter().all(|v| v.is_finite())
}

/// Row 1: `eps = 0` (torch accepts it) with a zero gradient element gave 0/0 = NaN, and a
/// gradient of 1e-40 (whose square underflows to 0) gave m/0 = −∞. Now an element whose
/// denominator `√v̂ + eps` is 0 does not move; every other element moves as before.
#[test]
fn row1_adam_with_zero_eps_and_vanishing_gradients_stays_finite() {
    for config in [AdamConfig::adam(), AdamConfig::adamw()] {
        let adam = config
            .with_eps(0.0)
            .with_lr(1e-2)
            .build()
            .expect("eps = 0 is valid");
        // 19 elements: the SIMD kernel's whole vectors and the portable remainder both see
        // the zero and the 1e-40 gradients.
        let n = 19;
        let mut w: Vec<f32> = (0..n).map(|i| i as f32 * 0.25 - 2.0).collect();
        let (mut m, mut v, mut t) = (vec![0.0f32; n], vec![0.0f32; n], 0u32);
        for step in 0..20 {
            let g: Vec<f32> = (0..n)
                .map(|i| match i % 4 {
                    0 => 0.0,
                    1 => 1e-40,
                    2 => -1e-42,
                    _ => 0.5 - step as f32 * 0.01,
                })
                .collect();
            let w_before = w.clone();
            adam_step(
                &adam,
                &mut w,
                &g,
                AdamSlots {
                    step: &mut t,
                    m: &mut m,
                    v: &mut v,
                },
            )
            .expect("finite step");
            assert!(all_finite(&w), "{config:?} step {step}: w = {w:?}");
            assert!(all_finite(&m) && all_finite(&v), "state: {m:?} {v:?}");
            // The ordinary elements still move by about lr (sign of the gradient).
            for i in (3..n).step_by(4) {
                assert!(
                    w[i] < w_before[i] && w_before[i] - w[i] < 2e-2,
                    "element {i}"
                );
            }
            // Zero-gradient elements (v = 0: denominator 0) are not moved by the update,
            // only by AdamW's decay.
            let decay = adam.scalars(t).decay;
            for i in (0..n).step_by(4) {
                assert_eq!(w[i], w_before[i] * decay, "element {i}");
            }
        }
    }
}

/// Row 2: Newton–Schulz with `eps = 0` (or subnormal) and an input whose norm is below
/// ~3e-39 computed `1/‖X‖` in f32 (+∞) and returned all NaN. Now the input is scaled in f64
/// and the output is the orthogonalisation of the tiny matrix.
#[test]
fn row2_newton_schulz_of_a_subnormal_matrix_is_finite_and_orthogonal() {
    let (r, c) = (3, 5);
    for eps in [0.0f32, 1e-45, 1e-40] {
        for normalization in [NsNormalization::ClampMax, NsNormalization::AddEps] {
            let cfg = NsConfig {
                eps,
                normalization,
                ..NsConfig::default()
            };
            for magnitude in [1e-39f32, 1e-41, 1e-45] {
                let x: Vec<f32> = (0..r * c)
                    .map(|i| {
                        if i % 7 == 3 {
                            0.0
                        } else {
                            magnitude * (1.0 + (i % 3) as f32)
                        }
                    })
                    .collect();
                let mut out = vec![0.0f32; r * c];
                let mut scratch = vec![0.0f32; ns_scratch_len(r, c)];
                newton_schulz(
                    MatRef::new(r, c, &x).expect("shape"),
                    MatMut::new(r, c, &mut out).expect("shape"),
                    &mut scratch,
                    &cfg,
                )
                .expect("valid");
                assert!(all_finite(&out), "eps {eps} |x| {magnitude}: {out:?}");
                // Orthogonalised: the output is O(1), not zero (when eps is below the norm;
                // otherwise X/eps is as small as torch's).
                let norm = out.iter().map(|v| v * v).sum::<f32>().sqrt();
                if eps < magnitude {
                    assert!(norm > 0.3, "eps {eps} |x| {magnitude}: ‖out‖ = {norm}");
                }
            }
        }
    }
}

/// Row 2, through Muon: zero gradients let the momentum decay (×0.95 a step) into
/// subnormals; with `eps = 0` the weights became NaN at step 1653. 3000 steps now stay finite.
#[test]
fn row2_muon_with_zero_gradients_and_zero_eps_stays_finite() {
    let muon = MuonConfig::new()
        .with_lr(0.02)
        .with_ns(NsConfig {
            eps: 0.0,
            ..NsConfig::default()
        })
        .build()
        .expect("valid");
    let mut w = Matrix::<4, 6>::from_fn(|r, c| (r as f32 - c as f32) * 0.1);
    let mut state = MuonState::<4, 6>::new();
    let g = Matrix::<4, 6>::from_fn(|r, c| (r * c) as f32 * 0.01 + 0.01);
    muon.step_fixed(&mut w, &g, &mut state).expect("step");
    let zero = Matrix::<4, 6>::ZERO;
    for step in 1..3000 {
        muon.step_fixed(&mut w, &zero, &mut state).expect("step");
        assert!(
            all_finite(w.as_slice()) && all_finite(state.momentum.as_slice()),
            "step {step}: {w:?}"
        );
    }
}

/// Row 8, AdamW: lr = wd = 1e20 made the decay factor 1 − lr·wd = −∞ and zero weights NaN.
/// A decoupled decay factor outside [0, 1] is now refused by `build()`, naming the field.
#[test]
fn row8_decoupled_decay_beyond_one_is_refused_by_build() {
    let err = AdamConfig::adamw()
        .with_lr(1e20)
        .with_weight_decay(1e20)
        .build()
        .expect_err("lr·wd = 1e40 must be refused");
    assert!(
        matches!(
            err,
            MuonError::InvalidHyperParameter {
                name: "weight_decay",
                ..
            }
        ),
        "{err:?}"
    );
    let err = MuonConfig::new()
        .with_lr(2.0)
        .with_weight_decay(0.6)
        .build()
        .expect_err("lr·wd = 1.2 must be refused");
    assert!(
        matches!(
            err,
            MuonError::InvalidHyperParameter {
                name: "weight_decay",
                ..
            }
        ),
        "{err:?}"
    );
    // lr·wd = 1 exactly is accepted (the weight is replaced by the update).
    assert!(
        AdamConfig::adamw()
            .with_lr(0.5)
            .with_weight_decay(2.0)
            .build()
            .is_ok()
    );
}

/// Row 8: finite huge learning rates that `build()` accepts. AdamW lr = 1e20 with no decay,
/// Adam with coupled decay 1e20, Muon lr = 3e38, SGD lr = 1e30 with momentum: zero weights and
/// small gradients gave NaN. Now every step leaves finite weights and state.
#[test]
fn row8_huge_learning_rates_give_finite_weights() {
    let n = 13;
    let g: Vec<f32> = (0..n)
        .map(|i| if i % 3 == 0 { 0.0 } else { 1e-3 * i as f32 })
        .collect();
    for config in [
        AdamConfig::adamw().with_lr(1e20).with_weight_decay(0.0),
        AdamConfig::adam().with_lr(3e38).with_weight_decay(1e20),
        AdamConfig::adam().with_lr(f32::MAX).with_eps(0.0),
    ] {
        let adam = config.build().expect("valid");
        let mut w = vec![0.0f32; n];
        let (mut m, mut v, mut t) = (vec![0.0f32; n], vec![0.0f32; n], 0u32);
        for _ in 0..3 {
            adam_step(
                &adam,
                &mut w,
                &g,
                AdamSlots {
                    step: &mut t,
                    m: &mut m,
                    v: &mut v,
                },
            )
            .expect("step");
            assert!(
                all_finite(&w) && all_finite(&m) && all_finite(&v),
                "{config:?}: {w:?}"
            );
        }
    }

    for lr in [3e38f32, f32::MAX] {
        let muon = MuonConfig::new()
            .with_lr(lr)
            .with_weight_decay(0.0)
            .build()
            .expect("valid");
        let mut w = Matrix::<6, 3>::ZERO;
        let mut state = MuonState::<6, 3>::new();
        let g = Matrix::<6, 3>::from_fn(|r, c| if r == c { 1e-3 } else { 0.0 });
        for _ in 0..3 {
            muon.step_fixed(&mut w, &g, &mut state).expect("step");
            assert!(all_finite(w.as_slice()), "lr {lr}: {w:?}");
        }
    }

    let sgd = SgdConfig::new()
        .with_lr(1e30)
        .with_momentum(0.9)
        .with_nesterov(true)
        .with_weight_decay(1e30)
        .build()
        .expect("valid");
    let mut w = vec![0.0f32; n];
    let (mut b, mut t) = (vec![0.0f32; n], 0u32);
    for _ in 0..4 {
        sgd_step(&sgd, &mut w, &g, &mut b, &mut t).expect("step");
        assert!(all_finite(&w) && all_finite(&b), "sgd: {w:?} {b:?}");
    }
}

/// Row 12: the scratch sizes of huge shapes overflowed (a panic in debug builds, a wrapped,
/// too small number in release). They saturate at `usize::MAX` now, which no scratch slice
/// satisfies.
#[test]
fn row12_scratch_sizes_of_huge_shapes_saturate() {
    let huge = usize::MAX / 2;
    assert_eq!(ns_scratch_len(huge, 3), usize::MAX);
    assert_eq!(ns_scratch_len(1 << 40, 1 << 40), usize::MAX);
    assert_eq!(Muon::scratch_len(huge, 2), usize::MAX);
    assert_eq!(Muon::scratch_len(usize::MAX, usize::MAX), usize::MAX);
    // Near the edge: exact where it fits.
    assert_eq!(ns_scratch_len(3, 5), 2 * 15 + 2 * 9);
    assert_eq!(Muon::scratch_len(3, 5), 15 + 2 * 15 + 2 * 9);
}

/// Row 13: state restored from bytes with NaN, ∞ or negative `v` was accepted and the next
/// step wrote NaN; the core had no check. The state types validate now, and `from_bytes`
/// restores only valid state.
#[test]
fn row13_restoring_invalid_adam_state_is_refused() {
    let mut state = AdamState::<2, 3>::new();
    state.m[0][1] = 0.5;
    state.v[1][2] = 0.25;
    state.step = 7;
    assert_eq!(state.validate(), Ok(()));
    let bytes = bytemuck::bytes_of(&state).to_vec();
    assert_eq!(AdamState::<2, 3>::from_bytes(&bytes), Ok(state));
    for (bad, what) in [
        (f32::NAN, "v"),
        (f32::INFINITY, "v"),
        (-1e-3, "v"),
        (f32::NEG_INFINITY, "m"),
    ] {
        let mut s = state;
        if what == "v" {
            s.v[1][0] = bad;
        } else {
            s.m[1][0] = bad;
        }
        let err = s.validate().expect_err("invalid state");
        assert!(
            matches!(err, MuonError::InvalidState { what: w, index: 3, .. } if w == what),
            "{err:?}"
        );
        // Debug formatting: `InvalidState` holds the value, and NaN ≠ NaN.
        assert_eq!(
            format!(
                "{:?}",
                AdamState::<2, 3>::from_bytes(bytemuck::bytes_of(&s))
            ),
            format!("{:?}", Err::<(), _>(err))
        );
    }
    assert!(matches!(
        AdamState::<2, 3>::from_bytes(&bytes[1..]),
        Err(MuonError::LengthMismatch { .. })
    ));
}

/// Row 13 for Muon's state: a NaN momentum is refused on restore.
#[test]
fn row13_restoring_invalid_muon_state_is_refused() {
    let mut state = MuonState::<3, 2>::new();
    state.momentum.data[2][1] = 1.5;
    assert_eq!(state.validate(), Ok(()));
    assert_eq!(
        MuonState::<3, 2>::from_bytes(bytemuck::bytes_of(&state)),
        Ok(state)
    );
    state.momentum.data[1][0] = f32::NAN;
    assert!(matches!(
        MuonState::<3, 2>::from_bytes(bytemuck::bytes_of(&state)),
        Err(MuonError::InvalidState {
            what: "momentum",
            index: 2,
            ..
        })
    ));
}

/// Row 13 for the slice forms: `AdamSlots::validate`, `muon::validate_momentum`,
/// `sgd::validate_momentum`.
#[test]
fn row13_slice_state_forms_validate() {
    let (mut t, mut m, mut v) = (3u32, [0.5f32, -1.0], [0.0f32, 2.0]);
    let slots = AdamSlots {
        step: &mut t,
        m: &mut m,
        v: &mut v,
    };
    assert_eq!(slots.validate(), Ok(()));
    let (mut m2, mut v2) = ([0.5f32, -1.0], [0.0f32, -2.0]);
    let slots = AdamSlots {
        step: &mut t,
        m: &mut m2,
        v: &mut v2,
    };
    assert_eq!(
        slots.validate(),
        Err(MuonError::InvalidState {
            what: "v",
            index: 1,
            value: -2.0
        })
    );
    let (mut m3, mut v3) = ([f32::INFINITY, 0.0], [0.0f32; 3]);
    let slots = AdamSlots {
        step: &mut t,
        m: &mut m3,
        v: &mut v3,
    };
    assert!(matches!(
        slots.validate(),
        Err(MuonError::LengthMismatch { what: "v", .. })
    ));
    let slots = AdamSlots {
        step: &mut t,
        m: &mut m3[..],
        v: &mut v3[..2],
    };
    assert!(matches!(
        slots.validate(),
        Err(MuonError::InvalidState {
            what: "m",
            index: 0,
            ..
        })
    ));
    assert_eq!(muon_core::muon::validate_momentum(&[1.0, -3e38]), Ok(()));
    assert!(matches!(
        muon_core::muon::validate_momentum(&[1.0, f32::NAN]),
        Err(MuonError::InvalidState {
            what: "momentum",
            index: 1,
            ..
        })
    ));
    assert_eq!(muon_core::sgd::validate_momentum(&[0.0, f32::MAX]), Ok(()));
    assert!(matches!(
        muon_core::sgd::validate_momentum(&[f32::NEG_INFINITY]),
        Err(MuonError::InvalidState {
            what: "momentum_buf",
            index: 0,
            ..
        })
    ));
}

/// Coefficients that make Newton–Schulz diverge (finite, so accepted) are reported as
/// `NonFiniteResult`, and nothing is written: not the output, not Muon's weight or momentum.
#[test]
fn diverging_newton_schulz_is_an_error_that_changes_nothing() {
    let cfg = NsConfig {
        coefficients: NsCoefficients::Fixed(1e30, 1e30, 1e30),
        ..NsConfig::default()
    };
    let x: Vec<f32> = (0..12).map(|i| i as f32 - 5.0).collect();
    let mut out = [7.0f32; 12];
    let mut scratch = vec![0.0; ns_scratch_len(4, 3)];
    let r = newton_schulz(
        MatRef::new(4, 3, &x).expect("shape"),
        MatMut::new(4, 3, &mut out).expect("shape"),
        &mut scratch,
        &cfg,
    );
    assert_eq!(r, Err(MuonError::NonFiniteResult));
    assert_eq!(out, [7.0; 12]);

    let muon = MuonConfig::new()
        .with_ns(cfg)
        .build()
        .expect("finite coefficients");
    let mut w = Matrix::<3, 4>::from_fn(|r, c| (r + c) as f32);
    let mut state = MuonState::<3, 4>::new();
    state.momentum = Matrix::from_fn(|r, c| (r * c) as f32 * 0.1);
    let (w0, m0) = (w, state.momentum);
    let g = Matrix::<3, 4>::from_fn(|r, c| r as f32 - c as f32);
    assert_eq!(
        muon.step_fixed(&mut w, &g, &mut state),
        Err(MuonError::NonFiniteResult)
    );
    assert_eq!((w, state.momentum), (w0, m0));
}
