//! Behaviour of the small public items that no optimizer trajectory pins down: matrix
//! constructors and views, Newton–Schulz's presets, normalisation factor and validation, the
//! defaults, error messages and the singular values. Each assertion is one that a wrong line
//! (a mutant from `cargo mutants`) would break.

use muon_core::adam::AdamConfig;
use muon_core::muon::{AdjustLr, MuonConfig, adjusted_lr};
use muon_core::newton_schulz::{
    NsCoefficients, NsConfig, NsNormalization, POLAR_EXPRESS, QUINTIC, newton_schulz,
    ns_scratch_len,
};
use muon_core::spectrum::{singular_values, singular_values_scratch_len};
use muon_core::{MatMut, MatRef, Matrix, MuonError};

#[test]
fn identity_and_transpose() {
    let i = Matrix::<3, 3>::identity();
    assert_eq!(i.as_slice(), &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    let wide = Matrix::<2, 3>::identity();
    assert_eq!(wide.as_slice(), &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let m = Matrix::<2, 3>::from_rows([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    let t = m.transpose();
    assert_eq!(t.as_slice(), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    assert_eq!((Matrix::<2, 3>::ROWS, Matrix::<2, 3>::COLS), (2, 3));
    assert_eq!(Matrix::<2, 2>::default(), Matrix::<2, 2>::ZERO);
}

#[test]
fn views_check_their_shape() {
    let data = [0.0f32; 6];
    assert_eq!(MatRef::new(0, 3, &[]).unwrap_err(), MuonError::EmptyMatrix);
    assert_eq!(MatRef::new(3, 0, &[]).unwrap_err(), MuonError::EmptyMatrix);
    assert_eq!(
        MatRef::new(usize::MAX, 2, &data).unwrap_err(),
        MuonError::SizeOverflow
    );
    assert_eq!(
        MatRef::new(2, 3, &data[..5]).unwrap_err(),
        MuonError::LengthMismatch {
            what: "matrix data",
            expected: 6,
            found: 5
        }
    );
    let r = MatRef::new(2, 3, &data).expect("shape");
    assert_eq!((r.rows(), r.cols(), r.shape()), (2, 3, (2, 3)));
    let mut buf = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    let mut m = MatMut::new(3, 2, &mut buf).expect("shape");
    assert_eq!((m.rows(), m.cols(), m.shape()), (3, 2, (3, 2)));
    assert_eq!(m.as_ref().shape(), (3, 2));
    m.reborrow().as_mut_slice()[0] = 9.0;
    assert_eq!(m.as_slice()[0], 9.0);
    assert_eq!(m.into_slice().len(), 6);
    assert!(MatMut::new(2, 2, &mut [0.0; 3]).is_err());
}

#[test]
fn newton_schulz_presets() {
    let kj = NsConfig::keller_jordan();
    assert_eq!(kj.normalization, NsNormalization::AddEps);
    assert_eq!(
        kj.coefficients,
        NsCoefficients::Fixed(QUINTIC.0, QUINTIC.1, QUINTIC.2)
    );
    assert_eq!((kj.steps, kj.eps, kj.norm_scale), (5, 1e-7, 1.0));
    let d = NsConfig::default();
    assert_eq!(d.normalization, NsNormalization::ClampMax);
    assert_eq!((d.steps, d.eps, d.norm_scale), (5, 1e-7, 1.0));
    let pe = NsConfig::polar_express(6).expect("valid");
    assert_eq!(pe.coefficients, NsCoefficients::Schedule(&POLAR_EXPRESS));
    assert_eq!((pe.steps, pe.eps, pe.norm_scale), (6, 1e-7, 1.01));
    assert_eq!(pe.normalization, NsNormalization::AddEps);
    assert_eq!(d.with_steps(3).steps, 3);
    assert_eq!(pe.coefficients_at(2), POLAR_EXPRESS[2]);
    assert_eq!(d.coefficients_at(7), QUINTIC);
}

#[test]
fn input_scale_follows_the_normalisation() {
    let clamp = NsConfig::default();
    assert_eq!(clamp.input_scale(2.0), 0.5);
    assert_eq!(clamp.input_scale(1e-8), 1e7); // max(‖X‖, eps) = eps
    assert_eq!(clamp.input_scale(0.0), 0.0);
    let add = NsConfig::keller_jordan();
    assert_eq!(add.input_scale(1.0), (1.0 / (1.0 + 1e-7f64)) as f32);
    assert_eq!(add.input_scale(1e-7), (1.0 / 2e-7f64) as f32);
    let scaled = NsConfig {
        norm_scale: 4.0,
        ..NsConfig::default()
    };
    assert_eq!(scaled.input_scale(2.0), 0.125);
    let zero_eps = NsConfig {
        eps: 0.0,
        ..NsConfig::default()
    };
    assert_eq!(zero_eps.input_scale(1e-40), f32::INFINITY);
    assert_eq!(zero_eps.input_scale(4.0), 0.25);
    // A config `validate` would refuse (scale 0, eps 0): no division by zero, factor 0.
    let unvalidated = NsConfig {
        norm_scale: 0.0,
        ..zero_eps
    };
    assert!(unvalidated.validate().is_err());
    assert_eq!(unvalidated.input_scale(4.0), 0.0);
}

#[test]
fn newton_schulz_validation_names_the_field() {
    let name = |c: NsConfig| match c.validate() {
        Err(MuonError::InvalidHyperParameter { name, .. }) => name,
        other => panic!("{c:?}: {other:?}"),
    };
    let d = NsConfig::default();
    assert_eq!(name(d.with_steps(0)), "ns_steps");
    assert_eq!(name(NsConfig { eps: -1e-9, ..d }), "eps");
    assert_eq!(name(NsConfig { eps: f32::NAN, ..d }), "eps");
    assert_eq!(
        name(NsConfig {
            norm_scale: 0.0,
            ..d
        }),
        "norm_scale"
    );
    for bad in [f32::NAN, f32::INFINITY] {
        for coefficients in [
            NsCoefficients::Fixed(bad, 1.0, 1.0),
            NsCoefficients::Fixed(1.0, bad, 1.0),
            NsCoefficients::Fixed(1.0, 1.0, bad),
        ] {
            assert_eq!(name(NsConfig { coefficients, ..d }), "ns_coefficients");
        }
    }
    assert_eq!(
        name(NsConfig {
            coefficients: NsCoefficients::Schedule(&[]),
            ..d
        }),
        "ns_coefficients"
    );
    static BAD: [(f32, f32, f32); 2] = [(1.0, 0.0, 0.0), (1.0, f32::NAN, 0.0)];
    assert_eq!(
        name(NsConfig {
            coefficients: NsCoefficients::Schedule(&BAD),
            ..d
        }),
        "ns_coefficients"
    );
    assert!(NsConfig { eps: 0.0, ..d }.validate().is_ok());
    // newton_schulz validates too, and checks shape and scratch, changing nothing on error.
    let x = [1.0f32; 6];
    let mut out = [5.0f32; 6];
    let mut scratch = vec![0.0; ns_scratch_len(2, 3)];
    let bad = d.with_steps(0);
    let r = newton_schulz(
        MatRef::new(2, 3, &x).expect("shape"),
        MatMut::new(2, 3, &mut out).expect("shape"),
        &mut scratch,
        &bad,
    );
    assert!(matches!(r, Err(MuonError::InvalidHyperParameter { .. })));
    let r = newton_schulz(
        MatRef::new(2, 3, &x).expect("shape"),
        MatMut::new(2, 3, &mut out).expect("shape"),
        &mut scratch[1..],
        &d,
    );
    assert_eq!(
        r,
        Err(MuonError::ScratchTooSmall {
            needed: ns_scratch_len(2, 3),
            found: ns_scratch_len(2, 3) - 1
        })
    );
    let r = newton_schulz(
        MatRef::new(2, 3, &x).expect("shape"),
        MatMut::new(3, 2, &mut out).expect("shape"),
        &mut scratch,
        &d,
    );
    assert!(matches!(
        r,
        Err(MuonError::ShapeMismatch { what: "out", .. })
    ));
    assert_eq!(out, [5.0; 6]);
}

#[test]
fn defaults_equal_torchs() {
    let adam = AdamConfig::adam();
    assert_eq!(
        (adam.lr, adam.beta1, adam.beta2, adam.eps, adam.weight_decay),
        (1e-3, 0.9, 0.999, 1e-8, 0.0)
    );
    assert!(!adam.decoupled_weight_decay);
    let adamw = AdamConfig::adamw();
    assert_eq!(adamw.weight_decay, 0.01);
    assert!(adamw.decoupled_weight_decay);
    assert_eq!((adamw.lr, adamw.beta1, adamw.beta2), (1e-3, 0.9, 0.999));
    let muon = MuonConfig::new();
    assert_eq!(
        (muon.lr, muon.weight_decay, muon.momentum, muon.nesterov),
        (1e-3, 0.1, 0.95, true)
    );
    assert_eq!(muon.adjust_lr, AdjustLr::Original);
    assert_eq!(MuonConfig::default(), muon);
    assert_eq!(adjusted_lr(f32::MAX, AdjustLr::Original, 9, 1), f32::MAX);
}

#[test]
fn errors_describe_themselves() {
    let cases: [(MuonError, &str); 9] = [
        (
            MuonError::InvalidHyperParameter {
                name: "lr",
                reason: "must be finite and >= 0",
            },
            "invalid hyper-parameter `lr`: must be finite and >= 0",
        ),
        (
            MuonError::LengthMismatch {
                what: "grad",
                expected: 6,
                found: 5,
            },
            "`grad` has 5 elements, expected 6",
        ),
        (
            MuonError::ShapeMismatch {
                what: "out",
                expected: (2, 3),
                found: (3, 2),
            },
            "`out` is 3×2, expected 2×3",
        ),
        (
            MuonError::ScratchTooSmall {
                needed: 10,
                found: 4,
            },
            "scratch holds 4 f32 values, needs 10",
        ),
        (
            MuonError::NonFiniteGradient { index: 7 },
            "gradient element 7 is NaN or infinite; parameter and state left unchanged",
        ),
        (
            MuonError::EmptyMatrix,
            "matrix has zero rows or zero columns",
        ),
        (MuonError::SizeOverflow, "rows × cols overflows usize"),
        (
            MuonError::InvalidState {
                what: "v",
                index: 3,
                value: -1.0,
            },
            "state `v` element 3 is -1: not finite, or a negative second moment",
        ),
        (
            MuonError::NonFiniteResult,
            "Newton–Schulz diverged to a non-finite value; parameter and state left unchanged",
        ),
    ];
    for (e, text) in cases {
        assert_eq!(e.to_string(), text);
    }
}

fn svd(x: &[f32], r: usize, c: usize) -> Vec<f64> {
    let mut gram = vec![0.0; singular_values_scratch_len(r, c)];
    let mut out = vec![0.0; r.min(c)];
    singular_values(MatRef::new(r, c, x).expect("shape"), &mut gram, &mut out).expect("svd");
    out
}

#[test]
fn singular_values_of_known_matrices() {
    // A rotation times diag(5, 2, 0.5) times a permutation: singular values 5, 2, 0.5.
    let (c, s) = (0.6f32, 0.8f32);
    // Orthogonal columns (0, 0, 2), (5c, 5s, 0), (−0.5s, 0.5c, 0).
    let x = [0.0, 5.0 * c, -0.5 * s, 0.0, 5.0 * s, 0.5 * c, 2.0, 0.0, 0.0];
    let sv = svd(&x, 3, 3);
    for (got, want) in sv.iter().zip([5.0, 2.0, 0.5]) {
        assert!((got - want).abs() < 1e-6, "{sv:?}");
    }
    // Tall 4×2 with orthogonal columns of norms 3 and 4: [4, 3], descending.
    let tall = [3.0f32, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0];
    assert_eq!(svd(&tall, 4, 2), vec![4.0, 3.0]);
    // Wide 2×4: the transpose, the same values.
    let wide = [3.0f32, 0.0, 0.0, 0.0, 0.0, 4.0, 0.0, 0.0];
    assert_eq!(svd(&wide, 2, 4), vec![4.0, 3.0]);
    // A symmetric 2×2 needing one rotation: [[2, 1], [1, 2]] has 3 and 1.
    let sym = svd(&[2.0, 1.0, 1.0, 2.0], 2, 2);
    assert!(
        (sym[0] - 3.0).abs() < 1e-12 && (sym[1] - 1.0).abs() < 1e-12,
        "{sym:?}"
    );
    // Rank 1: [[1, 2], [2, 4]] has 5 and 0.
    let r1 = svd(&[1.0, 2.0, 2.0, 4.0], 2, 2);
    assert!((r1[0] - 5.0).abs() < 1e-9 && r1[1].abs() < 1e-6, "{r1:?}");
    // A 4×4 with a dense spectrum, checked against the Frobenius norm: Σσ² = ‖X‖².
    let dense: Vec<f32> = (0..16).map(|i| ((i * 7 + 3) % 11) as f32 - 5.0).collect();
    let sv = svd(&dense, 4, 4);
    let sum_sq: f64 = sv.iter().map(|s| s * s).sum();
    let frob: f64 = dense.iter().map(|&v| f64::from(v).powi(2)).sum();
    assert!((sum_sq - frob).abs() < 1e-9 * frob, "{sv:?}");
    assert!(sv.windows(2).all(|w| w[0] >= w[1]), "descending: {sv:?}");
    assert_eq!(singular_values_scratch_len(3, 5), 9);
    assert_eq!(singular_values_scratch_len(5, 3), 9);
}

#[test]
fn singular_values_check_their_buffers() {
    let x = [1.0f32; 6];
    let m = MatRef::new(2, 3, &x).expect("shape");
    let (mut gram, mut out) = ([0.0; 4], [0.0; 2]);
    assert!(matches!(
        singular_values(m, &mut gram[..3], &mut out),
        Err(MuonError::ScratchTooSmall {
            needed: 4,
            found: 3
        })
    ));
    assert!(matches!(
        singular_values(m, &mut gram, &mut out[..1]),
        Err(MuonError::LengthMismatch { what: "out", .. })
    ));
    assert!(singular_values(m, &mut [0.0; 5], &mut out).is_ok());
}
