//! Property tests: Newton–Schulz lands singular values in the documented band, Muon and
//! Adam converge on a quadratic, and optimizer state survives a bytewise save/restore.

use half::{bf16, f16};
use muon_core::adam::{AdamConfig, AdamState, MomentStorage};
use muon_core::muon::{MuonConfig, MuonState};
use muon_core::newton_schulz::{NsConfig, newton_schulz, ns_scratch_len};
use muon_core::spectrum::{self, singular_values_scratch_len};
use muon_core::{MatMut, MatRef, Matrix};
use proptest::prelude::*;

/// Singular values of an `r × c` matrix (the core's Jacobi-based diagnostic).
fn singular_values(x: &[f32], r: usize, c: usize) -> Vec<f64> {
    let mut gram = vec![0.0; singular_values_scratch_len(r, c)];
    let mut out = vec![0.0; r.min(c)];
    spectrum::singular_values(MatRef::new(r, c, x).expect("shape"), &mut gram, &mut out)
        .expect("singular values");
    out
}

fn matrix_strategy() -> impl Strategy<Value = (usize, usize, Vec<f32>)> {
    (1usize..=16, 1usize..=16).prop_flat_map(|(r, c)| {
        prop::collection::vec(-1.0f32..1.0, r * c).prop_map(move |v| (r, c, v))
    })
}

fn orthogonalise(r: usize, c: usize, x: &[f32], cfg: &NsConfig) -> Vec<f32> {
    let mut out = vec![0.0; r * c];
    let mut scratch = vec![0.0; ns_scratch_len(r, c)];
    newton_schulz(
        MatRef::new(r, c, x).expect("input"),
        MatMut::new(r, c, &mut out).expect("out"),
        &mut scratch,
        cfg,
    )
    .expect("newton_schulz");
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Quintic, 5 steps: every singular value in [0.5, 1.25] for inputs with condition
    /// number ≤ 100 (so that σ_min/‖X‖_F ≥ 1/(100·√16) and five steps suffice).
    #[test]
    fn quintic_singular_values_in_band((r, c, x) in matrix_strategy()) {
        let s_in = singular_values(&x, r, c);
        let (lo, hi) = s_in.iter().fold((f64::MAX, 0.0f64), |(l, h), s| (l.min(*s), h.max(*s)));
        prop_assume!(hi > 0.0 && lo / hi >= 1e-2);
        let out = orthogonalise(r, c, &x, &NsConfig::default());
        for s in singular_values(&out, r, c) {
            prop_assert!((0.5..=1.25).contains(&s), "σ = {s} for {r}×{c}");
        }
    }

    /// Polar Express, 6 steps: singular values within 2% of 1 (the paper's [0.994, 1.001]
    /// plus f32 rounding).
    #[test]
    fn polar_express_singular_values_near_one((r, c, x) in matrix_strategy()) {
        let s_in = singular_values(&x, r, c);
        let (lo, hi) = s_in.iter().fold((f64::MAX, 0.0f64), |(l, h), s| (l.min(*s), h.max(*s)));
        prop_assume!(hi > 0.0 && lo / hi >= 1e-2);
        let cfg = NsConfig::polar_express(6).expect("valid");
        let out = orthogonalise(r, c, &x, &cfg);
        for s in singular_values(&out, r, c) {
            prop_assert!((0.98..=1.02).contains(&s), "σ = {s} for {r}×{c}");
        }
    }

    /// Transposing the input transposes the output (the tall path is the wide path).
    #[test]
    fn newton_schulz_commutes_with_transpose((r, c, x) in matrix_strategy()) {
        let xt: Vec<f32> = (0..c * r).map(|i| x[(i % r) * c + i / r]).collect();
        let out = orthogonalise(r, c, &x, &NsConfig::default());
        let out_t = orthogonalise(c, r, &xt, &NsConfig::default());
        for i in 0..r {
            for j in 0..c {
                prop_assert!((out[i * c + j] - out_t[j * r + i]).abs() < 1e-5);
            }
        }
    }
}

/// `½‖W − W*‖²` and its gradient `W − W*`.
fn quadratic<const R: usize, const C: usize>(
    w: &Matrix<R, C>,
    target: &Matrix<R, C>,
) -> (f32, Matrix<R, C>) {
    let g = Matrix::from_fn(|r, c| w.data[r][c] - target.data[r][c]);
    let loss = 0.5 * g.as_slice().iter().map(|x| x * x).sum::<f32>();
    (loss, g)
}

fn target<const R: usize, const C: usize>() -> Matrix<R, C> {
    Matrix::from_fn(|r, c| ((r * 7 + c * 3) % 11) as f32 / 11.0 - 0.5)
}

#[test]
fn muon_converges_on_a_quadratic() {
    let t = target::<8, 12>();
    let mut w = Matrix::<8, 12>::ZERO;
    let mut state = MuonState::new();
    let (loss0, _) = quadratic(&w, &t);
    for step in 0..300 {
        // Muon's step has fixed spectral size lr: decay lr linearly to land on the optimum.
        let lr = 0.05 * (1.0 - step as f32 / 300.0);
        let muon = MuonConfig::new()
            .with_lr(lr)
            .with_weight_decay(0.0)
            .build()
            .expect("valid");
        let (_, g) = quadratic(&w, &t);
        muon.step_fixed(&mut w, &g, &mut state).expect("step");
    }
    let (loss, _) = quadratic(&w, &t);
    assert!(loss < loss0 * 1e-3, "loss {loss0} -> {loss}");
}

fn adam_converges<S: MomentStorage>() -> (f32, f32) {
    let t = target::<6, 5>();
    let mut w = Matrix::<6, 5>::ZERO;
    let mut state = AdamState::<6, 5, S>::new();
    let adam = AdamConfig::adam().with_lr(0.01).build().expect("valid");
    let (loss0, _) = quadratic(&w, &t);
    for _ in 0..1000 {
        let (_, g) = quadratic(&w, &t);
        adam.step_fixed(&mut w, &g, &mut state).expect("step");
    }
    (loss0, quadratic(&w, &t).0)
}

#[test]
fn adam_converges_on_a_quadratic_with_every_moment_storage() {
    for (name, (l0, l)) in [
        ("f32", adam_converges::<f32>()),
        ("f16", adam_converges::<f16>()),
        ("bf16", adam_converges::<bf16>()),
    ] {
        assert!(l < l0 * 1e-3, "{name}: loss {l0} -> {l}");
    }
}

#[test]
fn muon_state_round_trips_bytewise() {
    let muon = MuonConfig::new().with_lr(0.02).build().expect("valid");
    let t = target::<4, 6>();
    let mut w = Matrix::<4, 6>::ZERO;
    let mut state = MuonState::new();
    for _ in 0..3 {
        let (_, g) = quadratic(&w, &t);
        muon.step_fixed(&mut w, &g, &mut state).expect("step");
    }
    let saved: Vec<u8> = bytemuck::bytes_of(&state).to_vec();
    let mut restored: MuonState<4, 6> = bytemuck::pod_read_unaligned(&saved);
    let mut w2 = w;
    for _ in 0..3 {
        let (_, g) = quadratic(&w, &t);
        muon.step_fixed(&mut w, &g, &mut state).expect("step");
        let (_, g2) = quadratic(&w2, &t);
        muon.step_fixed(&mut w2, &g2, &mut restored).expect("step");
    }
    assert_eq!(w, w2);
    assert_eq!(state.momentum, restored.momentum);
}

#[test]
fn adam_state_round_trips_bytewise() {
    let adam = AdamConfig::adamw().with_lr(0.01).build().expect("valid");
    let t = target::<3, 5>();
    let mut w = Matrix::<3, 5>::ZERO;
    let mut state = AdamState::<3, 5, bf16>::new();
    for _ in 0..4 {
        let (_, g) = quadratic(&w, &t);
        adam.step_fixed(&mut w, &g, &mut state).expect("step");
    }
    let saved: Vec<u8> = bytemuck::bytes_of(&state).to_vec();
    assert_eq!(saved.len(), 2 * 15 * 2 + 4);
    let mut restored: AdamState<3, 5, bf16> = bytemuck::pod_read_unaligned(&saved);
    assert_eq!(restored, state);
    let mut w2 = w;
    for _ in 0..4 {
        let (_, g) = quadratic(&w, &t);
        adam.step_fixed(&mut w, &g, &mut state).expect("step");
        let (_, g2) = quadratic(&w2, &t);
        adam.step_fixed(&mut w2, &g2, &mut restored).expect("step");
    }
    assert_eq!(w, w2);
    assert_eq!(restored.step, 8);
}
