//! Registering a parameter all or nothing: the error-scoped registration with rollback that
//! [`crate::GpuMuon::add_param`] and [`crate::GpuAdam::add_param`] share.

use crate::{GpuContext, GpuError};

/// Runs `add` (a registration that pushes at most one slot onto `slots(owner)` and returns its
/// index) inside `ctx`'s error scopes ([`GpuContext::scoped`]). On any error, `add`'s own or a
/// device error the scopes caught (out of memory, a lost device) after `add` pushed its slot,
/// `slots(owner)` is truncated back to its length before the call, so the parameter is not
/// registered and every earlier one is kept.
///
/// `ctx` is passed apart from `owner` (a clone of the owner's own context) because `add`
/// borrows `owner` mutably while the scopes are open.
pub(crate) fn add_or_roll_back<O, S>(
    ctx: &GpuContext,
    owner: &mut O,
    slots: fn(&mut O) -> &mut Vec<S>,
    add: impl FnOnce(&mut O) -> Result<usize, GpuError>,
) -> Result<usize, GpuError> {
    let before = slots(owner).len();
    let added = ctx.scoped(|| add(owner)).and_then(|r| r);
    if added.is_err() {
        slots(owner).truncate(before);
    }
    added
}
