//! The crate's rule (finite in, finite out; an error changes nothing) checked on stable Rust
//! inside `cargo test`: the checks of `tests/rule/mod.rs` (shared with the cargo-fuzz targets
//! in `fuzz/`) over seeded random bytes, and over the cases of issue 17's table for the core
//! (rows 1, 2, 8, 12, 13) spelled out.
//!
//! `MUON_ADVERSARIAL_CASES` sets the number of random inputs per check (default 3000, a few
//! seconds in all); the seed is fixed, so a failure reproduces.

use crate::rule;

use muon_core::adam::AdamConfig;
use muon_core::muon::{Muon, MuonConfig};
use muon_core::newton_schulz::{NsCoefficients, NsConfig, NsNormalization};
use rule::Bytes;

/// xorshift64*: a fixed, dependency-free byte stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// 16–600 random bytes; a quarter of them drawn from a small alphabet so that the
    /// decoders' special values and edge lengths come up often.
    fn bytes(&mut self) -> Vec<u8> {
        let len = 16 + (self.next() % 585) as usize;
        let skew = self.next().is_multiple_of(4);
        (0..len)
            .map(|_| {
                let r = self.next();
                if skew {
                    [0u8, 1, 2, 3, 254, 255][(r % 6) as usize]
                } else {
                    (r >> 24) as u8
                }
            })
            .collect()
    }
}

fn cases() -> usize {
    std::env::var("MUON_ADVERSARIAL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000)
}

fn run(seed: u64, check: fn(&[u8])) {
    let mut rng = Rng(seed);
    for _ in 0..cases() {
        let data = rng.bytes();
        check(&data);
    }
}

#[test]
fn adam_keeps_the_rule_on_random_input() {
    run(0x5EED_0001, rule::check_adam);
}

#[test]
fn muon_keeps_the_rule_on_random_input() {
    run(0x5EED_0002, rule::check_muon);
}

#[test]
fn sgd_keeps_the_rule_on_random_input() {
    run(0x5EED_0003, rule::check_sgd);
}

#[test]
fn newton_schulz_keeps_the_rule_on_random_input() {
    run(0x5EED_0004, rule::check_newton_schulz);
}

#[test]
fn state_restore_keeps_the_rule_on_random_input() {
    run(0x5EED_0005, rule::check_restore);
}

/// Row 1: Adam/AdamW with `eps = 0`, zero and subnormal gradients (SIMD lengths and
/// remainders), and the other extreme values of the table's Adam rows.
#[test]
fn table_row1_adam_zero_eps() {
    let n = 21;
    for config in [AdamConfig::adam(), AdamConfig::adamw()] {
        for g_value in [0.0f32, 1e-40, -1e-45, 1e-20, 3e20, -f32::MAX] {
            let grads = vec![vec![g_value; n]; 4];
            rule::run_adam::<f32>(
                config.with_eps(0.0),
                vec![0.5; n],
                vec![0.0; n],
                vec![0.0; n],
                0,
                &grads,
                true,
            );
        }
    }
}

/// Row 2: Newton–Schulz with `eps` 0 or subnormal on inputs of norm below 3e-39, both
/// normalisations; Muon with zero gradients for 2000 steps from a small momentum.
#[test]
fn table_row2_newton_schulz_tiny_norms() {
    let mut none = Bytes::new(&[]);
    for eps in [0.0f32, 1e-45, 1e-39] {
        for normalization in [NsNormalization::ClampMax, NsNormalization::AddEps] {
            let cfg = NsConfig {
                eps,
                normalization,
                ..NsConfig::default()
            };
            for x in [1e-45f32, 1e-40, 2.9e-39] {
                let input: Vec<f32> = (0..12).map(|i| x * (i % 5) as f32).collect();
                rule::run_newton_schulz(&cfg, 3, 4, &input, (3, 4), &mut none);
                rule::run_newton_schulz(&cfg, 4, 3, &input, (4, 3), &mut none);
            }
        }
    }
    let config = MuonConfig::new().with_ns(NsConfig {
        eps: 0.0,
        ..NsConfig::default()
    });
    let mut grads = vec![(3, 5, vec![0.0f32; 15]); 2000];
    grads[0].2 = (0..15).map(|i| i as f32 * 1e-3).collect();
    rule::run_muon(
        config,
        3,
        5,
        vec![0.1; 15],
        vec![0.0; 15],
        &grads,
        Muon::scratch_len(3, 5),
    );
}

/// Row 8: finite huge hyper-parameters that `build()` accepts (and the ones it refuses).
#[test]
fn table_row8_huge_hyper_parameters() {
    assert!(
        AdamConfig::adamw()
            .with_lr(1e20)
            .with_weight_decay(1e20)
            .build()
            .is_err()
    );
    assert!(MuonConfig::new().with_lr(3e38).build().is_err()); // lr·wd = 3e37 > 1
    let n = 17;
    let g: Vec<Vec<f32>> = (0..3)
        .map(|s| (0..n).map(|i| (i + s) as f32 * 1e-3).collect())
        .collect();
    for config in [
        AdamConfig::adamw().with_lr(1e20).with_weight_decay(1e-20),
        AdamConfig::adam().with_lr(1e20).with_weight_decay(1e20),
        AdamConfig::adam().with_lr(f32::MAX).with_eps(0.0),
    ] {
        rule::run_adam::<f32>(
            config,
            vec![0.0; n],
            vec![0.0; n],
            vec![0.0; n],
            0,
            &g,
            true,
        );
    }
    let grads: Vec<(usize, usize, Vec<f32>)> =
        (0..3).map(|s| (4, 5, g[s][..20.min(n)].to_vec())).collect();
    let grads: Vec<_> = grads
        .into_iter()
        .map(|(r, c, mut v)| {
            v.resize(r * c, 1e-3);
            (r, c, v)
        })
        .collect();
    for lr in [3e38f32, f32::MAX] {
        let config = MuonConfig::new().with_lr(lr).with_weight_decay(0.0);
        rule::run_muon(
            config,
            4,
            5,
            vec![0.0; 20],
            vec![0.0; 20],
            &grads,
            Muon::scratch_len(4, 5),
        );
    }
    // Coefficients that diverge: an error, nothing written.
    let config = MuonConfig::new().with_ns(NsConfig {
        coefficients: NsCoefficients::Fixed(1e30, 1e30, 1e30),
        ..NsConfig::default()
    });
    rule::run_muon(
        config,
        4,
        5,
        vec![0.5; 20],
        vec![0.25; 20],
        &grads,
        Muon::scratch_len(4, 5),
    );
}

/// Row 12: scratch sizes of huge shapes saturate (and the checked forms report the overflow).
#[test]
fn table_row12_scratch_sizes() {
    use muon_core::MuonError;
    use muon_core::newton_schulz::{ns_scratch_len, ns_scratch_len_checked};
    for (r, c) in [
        (usize::MAX, 1),
        (1 << 32, 1 << 32),
        (usize::MAX / 3, 2),
        (1 << 31, 1 << 31),
    ] {
        assert_eq!(ns_scratch_len(r, c), usize::MAX, "{r}x{c}");
        assert_eq!(Muon::scratch_len(r, c), usize::MAX, "{r}x{c}");
        assert_eq!(ns_scratch_len_checked(r, c), Err(MuonError::SizeOverflow));
        assert_eq!(
            Muon::scratch_len_checked(r, c),
            Err(MuonError::SizeOverflow)
        );
    }
    assert_eq!(Muon::scratch_len_checked(4, 6), Ok(24 + 48 + 32));
    assert_eq!(ns_scratch_len_checked(6, 4), Ok(48 + 32));
}

/// Row 13: restore from bytes refuses NaN, ±∞ and negative `v` for every state type.
#[test]
fn table_row13_restore_refuses_invalid_state() {
    use muon_core::adam::AdamState;
    use muon_core::muon::MuonState;
    let mut adam = AdamState::<2, 2>::new();
    for bad in [f32::NAN, f32::INFINITY, -1.0, -f32::MIN_POSITIVE] {
        adam.v[1][1] = bad;
        assert!(
            AdamState::<2, 2>::from_bytes(bytemuck::bytes_of(&adam)).is_err(),
            "v = {bad}"
        );
    }
    adam.v[1][1] = -0.0;
    assert!(AdamState::<2, 2>::from_bytes(bytemuck::bytes_of(&adam)).is_ok());
    let mut muon = MuonState::<2, 2>::new();
    muon.momentum.data[0][1] = f32::NEG_INFINITY;
    assert!(MuonState::<2, 2>::from_bytes(bytemuck::bytes_of(&muon)).is_err());
    // And every random byte string (check_restore asserts what is accepted is valid).
    let mut rng = Rng(13);
    for _ in 0..cases() {
        rule::check_restore(&rng.bytes());
    }
}
