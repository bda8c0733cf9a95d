//! The crate's rule (crate docs, "finite in, finite out; an error changes nothing") as
//! executable checks, driven by bytes.
//!
//! Shared by two drivers: `tests/adversarial.rs` (stable Rust, inside `cargo test`, seeded
//! random bytes plus the cases of issue 17's table) and the cargo-fuzz targets in the
//! repository's `fuzz/` folder (which include this file by path). Each `check_*` function
//! decodes a config, shapes, values and state from its bytes (reading past the end gives
//! zeros), runs the public API and panics if the rule is broken:
//!
//! * no panic inside the library;
//! * an `Err` leaves parameter, state (and Newton–Schulz's output) bit for bit untouched;
//! * an `Ok` from finite parameter, gradient and state leaves them finite.
//!
//! The Adam check asserts all three points for every moment format (`f32`, `f16`, `bf16`):
//! the 16-bit formats saturate at their largest finite value (issue 17 row 3).

#![allow(dead_code)] // each driver uses a subset

use half::{bf16, f16};
use muon_core::adam::{AdamConfig, AdamSlots, AdamState, MomentStorage};
use muon_core::muon::{AdjustLr, Muon, MuonConfig, MuonSlots, MuonState};
use muon_core::newton_schulz::{
    NsCoefficients, NsConfig, NsNormalization, POLAR_EXPRESS, QUINTIC, newton_schulz,
    ns_scratch_len,
};
use muon_core::sgd::{self, SgdConfig};
use muon_core::{MatMut, MatRef, Matrix, MuonError};

/// Reads values from fuzz bytes; zeros once they run out.
pub struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

/// Values that break naive arithmetic: zeros, subnormals, the edges of f32, powers that
/// overflow when squared or multiplied.
const SPECIAL: [f32; 24] = [
    0.0,
    -0.0,
    1e-45,
    -1e-45,
    1e-40,
    -3e-39,
    f32::MIN_POSITIVE,
    1e-20,
    1e-8,
    1e-3,
    0.5,
    -1.0,
    1.0,
    2.0,
    1e3,
    -1e5,
    1e19,
    -1e20,
    1e30,
    3e38,
    f32::MAX,
    -f32::MAX,
    0.999_999_94,
    f32::EPSILON,
];

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    pub fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// Any f32, NaN and ±∞ included: a special value, a raw bit pattern, or an ordinary
    /// number of random magnitude.
    pub fn any_f32(&mut self) -> f32 {
        match self.byte() % 4 {
            0 => SPECIAL[usize::from(self.byte()) % SPECIAL.len()],
            1 => f32::from_bits(self.u32()),
            _ => {
                let mantissa = f32::from(self.byte() as i8) / 64.0;
                let exp = i32::from(self.byte() % 80) - 60;
                mantissa * 10f32.powi(exp)
            }
        }
    }

    /// A finite f32 (non-finite draws become 0).
    pub fn finite_f32(&mut self) -> f32 {
        let x = self.any_f32();
        if x.is_finite() { x } else { 0.0 }
    }

    /// A value for a hyper-parameter in `[0, 1)` most of the time, anything otherwise.
    pub fn unit_f32(&mut self) -> f32 {
        match self.byte() % 4 {
            0 => self.any_f32(),
            1 => 1.0 - f32::from(self.byte()) / 255.0 * 1e-3,
            _ => f32::from(self.byte()) / 256.0,
        }
    }

    /// `n` finite values.
    pub fn finite_vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.finite_f32()).collect()
    }

    /// `n` gradient values: finite, except (rarely) one NaN/±∞ to exercise the error path.
    pub fn grad_vec(&mut self, n: usize) -> Vec<f32> {
        let mut g = self.finite_vec(n);
        if n > 0 && self.byte() == 255 {
            let at = usize::from(self.byte()) % n;
            g[at] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][usize::from(self.byte() % 3)];
        }
        g
    }

    /// A length near `n`: `n` most of the time, else off by one or zero.
    pub fn len_near(&mut self, n: usize) -> usize {
        match self.byte() {
            0..=239 => n,
            240..=247 => n + 1,
            248..=253 => n.saturating_sub(1),
            _ => 0,
        }
    }
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

fn finite(x: &[f32]) -> bool {
    x.iter().all(|v| v.is_finite())
}

/// The rule for one outcome: `Err` → `after == before` bit for bit; `Ok` → all finite (when
/// `finite_in`).
/// `what` describes the case; it is formatted only on failure (the fuzzer's speed).
fn assert_rule(
    what: impl Fn() -> String,
    result: &Result<(), MuonError>,
    before: &[Vec<u32>],
    after: &[&[f32]],
    finite_in: bool,
) {
    match result {
        Err(e) => {
            for (i, (b, a)) in before.iter().zip(after).enumerate() {
                assert!(*b == bits(a), "{}: Err({e:?}) changed buffer {i}", what());
            }
        }
        Ok(()) if finite_in => {
            for (i, a) in after.iter().enumerate() {
                assert!(
                    finite(a),
                    "{}: Ok from finite input left buffer {i} non-finite: {a:?}",
                    what()
                );
            }
        }
        Ok(()) => {}
    }
}

/// A random Adam/AdamW config (often invalid: `build()` decides).
pub fn adam_config(b: &mut Bytes<'_>) -> AdamConfig {
    let base = if b.bool() {
        AdamConfig::adamw()
    } else {
        AdamConfig::adam()
    };
    let mut c = base;
    if b.bool() {
        c = c.with_lr(b.any_f32().abs());
    }
    if b.bool() {
        c = c.with_betas(b.unit_f32(), b.unit_f32());
    }
    if b.bool() {
        c = c.with_eps(b.any_f32().abs());
    }
    if b.bool() {
        c = c.with_weight_decay(b.any_f32().abs());
    }
    c
}

/// Adam/AdamW: a config, a length up to 40, 1–3 steps with finite (or rarely non-finite)
/// gradients, state from the bytes, `f32`, `f16` or `bf16` moments.
pub fn check_adam(data: &[u8]) {
    let mut b = Bytes::new(data);
    let config = adam_config(&mut b);
    let Ok(_) = config.build() else { return };
    let n = usize::from(b.byte() % 41);
    let w = b.finite_vec(n);
    let t0 = if b.bool() { b.u32() } else { 0 };
    let steps = 1 + usize::from(b.byte() % 3);
    match b.byte() % 3 {
        0 => adam_case::<f32>(config, &mut b, w, t0, steps),
        1 => adam_case::<f16>(config, &mut b, w, t0, steps),
        _ => adam_case::<bf16>(config, &mut b, w, t0, steps),
    }
}

fn adam_case<S: MomentStorage + 'static>(
    config: AdamConfig,
    b: &mut Bytes<'_>,
    w: Vec<f32>,
    t0: u32,
    steps: usize,
) {
    let n = w.len();
    let (ml, vl) = (b.len_near(n), b.len_near(n));
    let m: Vec<S> = (0..ml).map(|_| S::store(b.finite_f32())).collect();
    // v ≥ 0 is what every step keeps and what validate() requires; negative finite values
    // are drawn too, since the step must stay finite for them as well.
    let v: Vec<S> = (0..vl).map(|_| S::store(b.finite_f32())).collect();
    let grads: Vec<Vec<f32>> = (0..steps)
        .map(|_| {
            let gl = b.len_near(n);
            b.grad_vec(gl)
        })
        .collect();
    // Every format saturates its moments (issue 17 row 3), so finiteness holds for all three.
    run_adam(config, w, m, v, t0, &grads, true);
}

/// Runs the steps from the given state and checks the rule after each.
pub fn run_adam<S: MomentStorage>(
    config: AdamConfig,
    mut w: Vec<f32>,
    mut m: Vec<S>,
    mut v: Vec<S>,
    mut t: u32,
    grads: &[Vec<f32>],
    assert_finite: bool,
) {
    let adam = config.build().expect("run_adam takes a valid config");
    let load = |x: &[S]| x.iter().map(|s| s.load()).collect::<Vec<f32>>();
    for g in grads {
        let finite_in = finite(&w) && finite(g) && finite(&load(&m)) && finite(&load(&v));
        let before = [bits(&w), bits(&load(&m)), bits(&load(&v)), vec![t]];
        let r = adam_step(
            &adam,
            &mut w,
            g,
            AdamSlots {
                step: &mut t,
                m: &mut m,
                v: &mut v,
            },
        );
        let (ml, vl) = (load(&m), load(&v));
        let len = w.len();
        let what = || format!("{config:?} len {len}");
        if r.is_err() {
            assert!(before[3] == [t], "{}: Err changed the step count", what());
        }
        assert_rule(
            what,
            &r,
            &before[..3],
            &[&w, &ml, &vl],
            finite_in && assert_finite,
        );
        if r.is_ok() && assert_finite {
            assert!(
                vl.iter().all(|x| *x >= 0.0),
                "{}: negative v {vl:?}",
                what()
            );
        }
    }
}

/// Whether `cfg` is sure to keep the iterate bounded: the quintic or the whole Polar Express
/// schedule, on an input normalised to `‖X‖_F ≤ 1` (`norm_scale ≥ 1`). Other coefficients,
/// a truncated schedule or a norm scale below 1 may diverge (an error, nothing written).
fn converges(cfg: &NsConfig) -> bool {
    let quintic = cfg.coefficients == NsCoefficients::Fixed(QUINTIC.0, QUINTIC.1, QUINTIC.2);
    let polar = cfg.coefficients == NsCoefficients::Schedule(&POLAR_EXPRESS);
    (quintic || polar) && cfg.norm_scale >= 1.0
}

/// A random Newton–Schulz config (often invalid).
pub fn ns_config(b: &mut Bytes<'_>) -> NsConfig {
    let mut c = match b.byte() % 4 {
        0 => NsConfig::default(),
        1 => NsConfig::keller_jordan(),
        2 => NsConfig::polar_express(u32::from(b.byte() % 10)).unwrap_or_default(),
        _ => NsConfig {
            coefficients: NsCoefficients::Fixed(b.any_f32(), b.any_f32(), b.any_f32()),
            ..NsConfig::default()
        },
    };
    if b.bool() {
        c.steps = u32::from(b.byte() % 10);
    }
    if b.bool() {
        c.eps = b.any_f32().abs();
    }
    if b.bool() {
        c.normalization = if b.bool() {
            NsNormalization::ClampMax
        } else {
            NsNormalization::AddEps
        };
    }
    if b.byte().is_multiple_of(8) {
        c.norm_scale = b.any_f32();
    }
    if b.byte().is_multiple_of(16) {
        c.coefficients = NsCoefficients::Schedule(&POLAR_EXPRESS[..usize::from(b.byte() % 3)]);
    }
    c
}

/// Newton–Schulz: a config, a shape up to 9 × 9 with finite entries, a scratch of about the
/// right length holding junk.
pub fn check_newton_schulz(data: &[u8]) {
    let mut b = Bytes::new(data);
    let cfg = ns_config(&mut b);
    let (r, c) = (1 + usize::from(b.byte() % 9), 1 + usize::from(b.byte() % 9));
    let x = b.finite_vec(r * c);
    let out_shape = if b.byte() == 255 { (c, r) } else { (r, c) };
    run_newton_schulz(&cfg, r, c, &x, out_shape, &mut b);
}

pub fn run_newton_schulz(
    cfg: &NsConfig,
    r: usize,
    c: usize,
    x: &[f32],
    out_shape: (usize, usize),
    b: &mut Bytes<'_>,
) {
    let mut out: Vec<f32> = (0..out_shape.0 * out_shape.1)
        .map(|_| b.any_f32())
        .collect();
    let mut scratch = vec![f32::NAN; b.len_near(ns_scratch_len(r, c))];
    let before = [bits(&out)];
    let res = newton_schulz(
        MatRef::new(r, c, x).expect("shape"),
        MatMut::new(out_shape.0, out_shape.1, &mut out).expect("shape"),
        &mut scratch,
        cfg,
    );
    if cfg.validate().is_ok() && out_shape == (r, c) && scratch.len() >= ns_scratch_len(r, c) {
        // Only a diverging iteration may fail: never the built-in polynomials, and never
        // coefficients whose exact-arithmetic bound leaves f32 eight orders of headroom
        // (the limit muon-gpu accepts).
        if let Err(e) = res {
            assert_eq!(e, MuonError::NonFiniteResult, "{cfg:?}");
            assert!(!converges(cfg), "{cfg:?} diverged");
            let bound = cfg.magnitude_bound();
            assert!(
                bound > 1e30,
                "{cfg:?} diverged with magnitude_bound {bound}"
            );
        }
    }
    assert_rule(
        || format!("newton_schulz {r}x{c} {cfg:?}"),
        &res,
        &before,
        &[&out],
        true,
    );
}

/// A random Muon config (often invalid).
pub fn muon_config(b: &mut Bytes<'_>) -> MuonConfig {
    let mut c = MuonConfig::new();
    if b.bool() {
        c = c.with_lr(b.any_f32().abs());
    }
    if b.bool() {
        c = c.with_weight_decay(b.any_f32().abs());
    }
    if b.bool() {
        c = c.with_momentum(b.unit_f32());
    }
    c = c.with_nesterov(b.bool());
    if b.bool() {
        c = c.with_adjust_lr(AdjustLr::MatchRmsAdamW);
    }
    if b.bool() {
        c = c.with_ns(ns_config(b));
    }
    c
}

/// Muon: a config, a shape up to 9 × 9, 1–3 steps, momentum and scratch of about the right
/// length (scratch holding junk), finite (or rarely non-finite) gradients.
pub fn check_muon(data: &[u8]) {
    let mut b = Bytes::new(data);
    let config = muon_config(&mut b);
    let Ok(_) = config.build() else { return };
    let (r, c) = (1 + usize::from(b.byte() % 9), 1 + usize::from(b.byte() % 9));
    let w = b.finite_vec(r * c);
    let ml = b.len_near(r * c);
    let momentum = b.finite_vec(ml);
    let steps = 1 + usize::from(b.byte() % 3);
    let grads: Vec<(usize, usize, Vec<f32>)> = (0..steps)
        .map(|_| {
            let (gr, gc) = if b.byte() == 255 { (c, r) } else { (r, c) };
            (gr, gc, b.grad_vec(gr * gc))
        })
        .collect();
    let sl = b.len_near(Muon::scratch_len(r, c));
    run_muon(config, r, c, w, momentum, &grads, sl);
}

pub fn run_muon(
    config: MuonConfig,
    r: usize,
    c: usize,
    mut w: Vec<f32>,
    mut momentum: Vec<f32>,
    grads: &[(usize, usize, Vec<f32>)],
    scratch_len: usize,
) {
    let muon = config.build().expect("run_muon takes a valid config");
    let mut scratch = vec![f32::NAN; scratch_len];
    for (gr, gc, g) in grads {
        let finite_in = finite(&w) && finite(g) && finite(&momentum);
        let before = [bits(&w), bits(&momentum)];
        let res = muon.step(
            MatMut::new(r, c, &mut w).expect("shape"),
            MatRef::new(*gr, *gc, g).expect("shape"),
            MuonSlots {
                momentum: &mut momentum,
                scratch: &mut scratch,
            },
        );
        if let Err(MuonError::NonFiniteResult) = res {
            assert!(!converges(&config.ns), "{config:?} diverged");
        }
        assert_rule(
            || format!("muon {r}x{c} {config:?}"),
            &res,
            &before,
            &[&w, &momentum],
            finite_in,
        );
    }
}

/// A random SGD config (often invalid).
pub fn sgd_config(b: &mut Bytes<'_>) -> SgdConfig {
    let mut c = SgdConfig::new();
    if b.bool() {
        c = c.with_lr(b.any_f32().abs());
    }
    if b.bool() {
        c = c.with_momentum(b.unit_f32());
    }
    if b.bool() {
        c = c.with_weight_decay(b.any_f32().abs());
    }
    c.with_nesterov(b.bool())
}

/// SGD: a config, a length up to 40, 1–3 steps, a momentum buffer of about the right length.
pub fn check_sgd(data: &[u8]) {
    let mut b = Bytes::new(data);
    let config = sgd_config(&mut b);
    let Ok(sgd) = config.build() else { return };
    let n = usize::from(b.byte() % 41);
    let mut w = b.finite_vec(n);
    let bl = b.len_near(n);
    let mut buf = b.finite_vec(bl);
    let mut t = if b.bool() { b.u32() } else { 0 };
    for _ in 0..1 + b.byte() % 3 {
        let gl = b.len_near(n);
        let g = b.grad_vec(gl);
        let finite_in = finite(&w) && finite(&g) && finite(&buf);
        let before = [bits(&w), bits(&buf), vec![t]];
        let res = sgd_step(&sgd, &mut w, &g, &mut buf, &mut t);
        if res.is_err() {
            assert_eq!(before[2], vec![t], "sgd: Err changed the step count");
        }
        assert_rule(
            || format!("sgd {config:?}"),
            &res,
            &before[..2],
            &[&w, &buf],
            finite_in,
        );
    }
}

/// State restore: arbitrary bytes into each state type's `from_bytes`; what it accepts
/// passes `validate()` and takes a finite step to finite values; what it refuses is invalid.
pub fn check_restore(data: &[u8]) {
    let mut b = Bytes::new(data);
    let g = Matrix::<2, 3>::from_fn(|_, _| b.finite_f32());
    let w = Matrix::<2, 3>::from_fn(|_, _| b.finite_f32());
    let rest = data.get(b.pos.min(data.len())..).unwrap_or(&[]);

    match AdamState::<2, 3, f32>::from_bytes(rest.get(..52).unwrap_or(rest)) {
        Ok(mut s) => {
            assert_eq!(s.validate(), Ok(()));
            assert!(finite(s.m.as_flattened()) && s.v.as_flattened().iter().all(|v| *v >= 0.0));
            let adam = AdamConfig::adamw().build().expect("defaults");
            let mut w = w;
            adam.step_fixed(&mut w, &g, &mut s).expect("finite step");
            assert!(
                finite(w.as_slice()) && finite(s.m.as_flattened()) && finite(s.v.as_flattened())
            );
        }
        Err(MuonError::LengthMismatch { .. }) => assert_ne!(rest.len().min(52), 52),
        Err(MuonError::InvalidState { what, value, .. }) => {
            assert!(
                !value.is_finite() || (what == "v" && value < 0.0),
                "{what} {value}"
            );
        }
        Err(e) => panic!("unexpected {e:?}"),
    }
    match AdamState::<2, 3, f16>::from_bytes(rest.get(..28).unwrap_or(rest)) {
        Ok(s) => assert_eq!(s.validate(), Ok(())),
        Err(MuonError::InvalidState { what, value, .. }) => {
            assert!(
                !value.is_finite() || (what == "v" && value < 0.0),
                "{what} {value}"
            );
        }
        Err(e) => assert!(matches!(e, MuonError::LengthMismatch { .. }), "{e:?}"),
    }
    let size = core::mem::size_of::<MuonState<2, 3>>();
    match MuonState::<2, 3>::from_bytes(rest.get(..size).unwrap_or(rest)) {
        Ok(mut s) => {
            let muon = MuonConfig::new().build().expect("defaults");
            let mut w = w;
            muon.step_fixed(&mut w, &g, &mut s).expect("finite step");
            assert!(finite(w.as_slice()) && finite(s.momentum.as_slice()));
        }
        Err(MuonError::InvalidState { value, .. }) => assert!(!value.is_finite()),
        Err(e) => assert!(matches!(e, MuonError::LengthMismatch { .. }), "{e:?}"),
    }
    let floats: Vec<f32> = rest
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(sgd::validate_momentum(&floats).is_ok(), finite(&floats));
    assert_eq!(
        muon_core::muon::validate_momentum(&floats).is_ok(),
        finite(&floats)
    );
}

/// One SGD step on flat slices (a `1 × n` parameter); an empty slice is the views' error.
pub fn sgd_step(
    sgd: &muon_core::sgd::Sgd,
    w: &mut [f32],
    g: &[f32],
    momentum: &mut [f32],
    step: &mut u32,
) -> Result<(), muon_core::MuonError> {
    let slots = muon_core::sgd::SgdSlots { momentum, step };
    sgd.step(
        muon_core::MatMut::vector(w)?,
        muon_core::MatRef::vector(g)?,
        slots,
    )
}

/// One Adam step on flat slices (a `1 × n` parameter); an empty slice is the views' error.
pub fn adam_step<S: muon_core::adam::MomentStorage>(
    adam: &muon_core::adam::Adam,
    w: &mut [f32],
    g: &[f32],
    slots: AdamSlots<'_, S>,
) -> Result<(), muon_core::MuonError> {
    adam.step(
        muon_core::MatMut::vector(w)?,
        muon_core::MatRef::vector(g)?,
        slots,
    )
}
