//! Stack-peak measurement by painting.
//!
//! [`StackProbe::paint`] fills the free stack below the current stack pointer with a known
//! word; after the code under test has run, [`StackProbe::peak`] finds the lowest word that
//! no longer holds it. The difference to the stack pointer at painting time is the peak stack
//! the code used (a lower bound in principle — a frame could write the paint value itself —
//! and exact in practice). Both functions are `#[inline(always)]` so that they run in the
//! frame of the function that calls the code under test: the measurement then covers exactly
//! the callee's frames.

use core::arch::asm;
use core::ptr;

/// The paint word.
const PAINT: u32 = 0xDEAD_BEEF;

unsafe extern "C" {
    /// End of `.bss`/`.data`/`.uninit` (start of the would-be heap), from cortex-m-rt's link.x.
    static mut __sheap: u32;
}

/// The current stack pointer.
#[inline(always)]
fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads the SP register; no memory access, no flags.
    unsafe { asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    sp
}

/// A painted stack region `[bottom, top)`, `top` being the stack pointer when painting.
#[derive(Clone, Copy, Debug)]
pub struct StackProbe {
    bottom: usize,
    top: usize,
}

impl StackProbe {
    /// Paints up to `depth` bytes below the current stack pointer, never below the end of the
    /// static data.
    ///
    /// Nothing may use the stack below this point except code called afterwards from the same
    /// frame; this crate enables no interrupts, so no exception frame lands there.
    #[inline(always)]
    #[must_use]
    pub fn paint(depth: usize) -> Self {
        let top = stack_pointer() & !3;
        let statics_end = ptr::addr_of_mut!(__sheap) as usize;
        let bottom = top.saturating_sub(depth).max(statics_end);
        let mut addr = bottom;
        while addr < top {
            // SAFETY: [bottom, top) is RAM between the end of the statics and the live stack
            // pointer: free stack that no Rust object occupies, aligned to 4 bytes.
            unsafe { ptr::write_volatile(addr as *mut u32, PAINT) };
            addr += 4;
        }
        Self { bottom, top }
    }

    /// Peak stack use (bytes below the painting stack pointer) since [`StackProbe::paint`].
    /// Returns `None` if the whole painted region was overwritten (the peak is at least that).
    #[inline(always)]
    #[must_use]
    pub fn peak(&self) -> Option<usize> {
        let mut addr = self.bottom;
        while addr < self.top {
            // SAFETY: same region as painted, still below the caller's stack pointer.
            let word = unsafe { ptr::read_volatile(addr as *const u32) };
            if word != PAINT {
                return if addr == self.bottom {
                    None
                } else {
                    Some(self.top - addr)
                };
            }
            addr += 4;
        }
        Some(0)
    }

    /// Number of bytes painted.
    #[must_use]
    pub fn depth(&self) -> usize {
        self.top - self.bottom
    }
}
