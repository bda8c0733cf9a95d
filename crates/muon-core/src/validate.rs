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

/// `Ok` if every element is finite, else [`MuonError::NonFiniteGradient`] with the first bad index.
pub(crate) fn finite_gradient(grad: &[f32]) -> Result<(), MuonError> {
    match grad.iter().position(|g| !g.is_finite()) {
        None => Ok(()),
        Some(index) => Err(MuonError::NonFiniteGradient { index }),
    }
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
