//! Shared argument checks, so every kernel reports the same errors the same way.

use crate::MuonError;

/// `Ok` if `len == expected`, else [`MuonError::LengthMismatch`] naming `what`.
pub(crate) fn length(what: &'static str, expected: usize, len: usize) -> Result<(), MuonError> {
    if expected == len {
        Ok(())
    } else {
        Err(MuonError::LengthMismatch {
            what,
            expected,
            found: len,
        })
    }
}

/// `Ok` if `found == expected`, else [`MuonError::ShapeMismatch`] naming `what`.
pub(crate) fn same_shape(
    what: &'static str,
    expected: (usize, usize),
    found: (usize, usize),
) -> Result<(), MuonError> {
    if expected == found {
        Ok(())
    } else {
        Err(MuonError::ShapeMismatch {
            what,
            expected,
            found,
        })
    }
}

/// Elements checked per branch-free block of [`first_non_finite_blocked`].
const FINITE_BLOCK: usize = 256;

/// `Ok` if every element is finite, else [`MuonError::NonFiniteGradient`] with the first bad index.
///
/// Every step runs this over its whole gradient before touching anything. On targets with
/// vector units (x86-64, AArch64) it is the block reduction [`first_non_finite_blocked`]
/// (1.4–1.7× faster AdamW steps at 64²–1024² on x86-64, measured side by side); elsewhere, the
/// microcontrollers, the plain search [`first_non_finite`], which compiles to about 500 bytes
/// less code in a Cortex-M4 Muon step. Both return the same index (tested).
pub(crate) fn finite_gradient(grad: &[f32]) -> Result<(), MuonError> {
    let found = if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        first_non_finite_blocked(grad)
    } else {
        first_non_finite(grad)
    };
    match found {
        None => Ok(()),
        Some(index) => Err(MuonError::NonFiniteGradient { index }),
    }
}

/// The first NaN/Inf, by an early-exit search (one compare and branch per element).
fn first_non_finite(x: &[f32]) -> Option<usize> {
    x.iter().position(|v| !v.is_finite())
}

/// The first NaN/Inf: each block of [`FINITE_BLOCK`] elements is reduced without branches
/// (vectorised), and only a block holding a NaN/Inf is searched for the index.
fn first_non_finite_blocked(x: &[f32]) -> Option<usize> {
    x.chunks(FINITE_BLOCK).enumerate().find_map(|(b, block)| {
        let finite = block.iter().fold(true, |ok, v| ok & v.is_finite());
        if finite {
            None
        } else {
            first_non_finite(block).map(|i| b * FINITE_BLOCK + i)
        }
    })
}

/// `Ok` if `found ≥ needed`, else [`MuonError::ScratchTooSmall`].
pub(crate) fn scratch(needed: usize, found: usize) -> Result<(), MuonError> {
    if found >= needed {
        Ok(())
    } else {
        Err(MuonError::ScratchTooSmall { needed, found })
    }
}

/// A hyper-parameter that must be finite and `≥ 0`.
pub(crate) fn non_negative(name: &'static str, value: f32) -> Result<(), MuonError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(MuonError::InvalidHyperParameter {
            name,
            reason: "must be finite and >= 0",
        })
    }
}

/// A hyper-parameter that must lie in `[0, 1)`.
pub(crate) fn unit_interval(name: &'static str, value: f32) -> Result<(), MuonError> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(MuonError::InvalidHyperParameter {
            name,
            reason: "must be in [0, 1)",
        })
    }
}

/// A decoupled weight decay: the factor `1 − lr·wd` that multiplies the weight each step must
/// lie in `[0, 1]`, i.e. `lr·wd ≤ 1` (computed in `f32`, as the step computes it). Beyond 1
/// the factor flips the weight's sign every step, and for huge values it is −∞ (NaN weights).
pub(crate) fn decoupled_decay(lr: f32, weight_decay: f32) -> Result<(), MuonError> {
    if lr * weight_decay <= 1.0 {
        Ok(())
    } else {
        Err(MuonError::InvalidHyperParameter {
            name: "weight_decay",
            reason: "lr * weight_decay must be <= 1 (the decay factor 1 - lr*weight_decay in [0, 1])",
        })
    }
}

/// State that must be finite (first moments, momentum buffers): `Ok`, or
/// [`MuonError::InvalidState`] at the first NaN/±∞.
pub(crate) fn finite_state(
    what: &'static str,
    values: impl IntoIterator<Item = f32>,
) -> Result<(), MuonError> {
    state(what, values, f32::is_finite)
}

/// A second moment: finite and `≥ 0` (−0 allowed). [`MuonError::InvalidState`] at the first
/// element that is not.
pub(crate) fn second_moment(
    what: &'static str,
    values: impl IntoIterator<Item = f32>,
) -> Result<(), MuonError> {
    state(what, values, |x| x.is_finite() && x >= 0.0)
}

fn state(
    what: &'static str,
    values: impl IntoIterator<Item = f32>,
    ok: impl Fn(f32) -> bool,
) -> Result<(), MuonError> {
    match values.into_iter().enumerate().find(|(_, x)| !ok(*x)) {
        None => Ok(()),
        Some((index, value)) => Err(MuonError::InvalidState { what, index, value }),
    }
}

/// A hyper-parameter that must be finite and `> 0`.
pub(crate) fn positive(name: &'static str, value: f32) -> Result<(), MuonError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(MuonError::InvalidHyperParameter {
            name,
            reason: "must be finite and > 0",
        })
    }
}

/// A multiplicative factor that must lie in `[0, 1]`.
pub(crate) fn factor(name: &'static str, value: f32) -> Result<(), MuonError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(MuonError::InvalidHyperParameter {
            name,
            reason: "must be in [0, 1]",
        })
    }
}

/// A count (of steps) that must be at least 1.
pub(crate) fn at_least_one(name: &'static str, value: u32) -> Result<(), MuonError> {
    if value >= 1 {
        Ok(())
    } else {
        Err(MuonError::InvalidHyperParameter {
            name,
            reason: "must be >= 1",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_parameter_bounds_are_exact() {
        assert!(positive("x", f32::MIN_POSITIVE * 1e-3).is_ok());
        assert!(positive("x", 0.0).is_err());
        assert!(positive("x", -0.0).is_err());
        assert!(positive("x", f32::INFINITY).is_err());
        assert!(positive("x", f32::NAN).is_err());
        assert!(non_negative("x", 0.0).is_ok());
        assert!(non_negative("x", f32::MAX).is_ok());
        assert!(non_negative("x", -1e-45).is_err());
        assert!(non_negative("x", f32::INFINITY).is_err());
        assert!(unit_interval("x", 0.0).is_ok());
        assert!(unit_interval("x", 1.0 - f32::EPSILON / 2.0).is_ok());
        assert!(unit_interval("x", 1.0).is_err());
        assert!(unit_interval("x", -1e-45).is_err());
        assert!(decoupled_decay(0.5, 2.0).is_ok());
        assert!(decoupled_decay(f32::MAX, 0.0).is_ok());
        assert!(decoupled_decay(1.0, 1.0 + f32::EPSILON).is_err());
        assert!(decoupled_decay(1e20, 1e20).is_err());
        assert_eq!(
            positive("norm_scale", 0.0),
            Err(MuonError::InvalidHyperParameter {
                name: "norm_scale",
                reason: "must be finite and > 0",
            })
        );
    }

    #[test]
    fn state_checks_report_the_first_bad_element() {
        assert_eq!(second_moment("v", [0.0, -0.0, 1.0, f32::MAX]), Ok(()));
        assert_eq!(finite_state("m", [-1.0, f32::MAX, -f32::MAX]), Ok(()));
        assert_eq!(
            second_moment("v", [1.0, -1e-45, f32::NAN]),
            Err(MuonError::InvalidState {
                what: "v",
                index: 1,
                value: -1e-45
            })
        );
        assert!(matches!(
            finite_state("m", [1.0, 2.0, f32::NEG_INFINITY, f32::NAN]),
            Err(MuonError::InvalidState {
                what: "m",
                index: 2,
                ..
            })
        ));
        assert!(second_moment("v", [f32::INFINITY]).is_err());
        assert!(finite_state("m", [-2.0]).is_ok());
    }

    #[test]
    fn finite_gradient_reports_the_first_bad_index_in_any_block() {
        let mut g = [0.5f32; 3 * FINITE_BLOCK + 7];
        assert_eq!(finite_gradient(&g), Ok(()));
        assert_eq!(finite_gradient(&[]), Ok(()));
        assert_eq!(first_non_finite_blocked(&g), None);
        for (at, bad) in [
            (0, f32::NAN),
            (FINITE_BLOCK - 1, f32::INFINITY),
            (FINITE_BLOCK, f32::NEG_INFINITY),
            (3 * FINITE_BLOCK + 6, f32::NAN),
        ] {
            g[at] = bad;
            g[g.len() - 1] = f32::NAN; // a later bad element must not be the one reported
            assert_eq!(
                finite_gradient(&g),
                Err(MuonError::NonFiniteGradient { index: at })
            );
            assert_eq!(first_non_finite_blocked(&g), Some(at));
            assert_eq!(first_non_finite(&g), Some(at));
            g = [0.5; 3 * FINITE_BLOCK + 7];
        }
        assert_eq!(
            finite_gradient(&[f32::MAX, f32::MIN_POSITIVE, -0.0]),
            Ok(())
        );
    }
}
