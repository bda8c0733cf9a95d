//! Semihosting console output without `core::fmt` on the measurement path.
//!
//! The size probes print with [`Console::str`] and [`Console::usize`] only, so that their
//! binaries contain no formatting machinery (whose bounds checks would hide whether the core
//! itself can panic). The training firmware also uses `core::fmt` via [`Console::print`].

use core::fmt;

use cortex_m_semihosting::hio::{self, HostStream};

/// The host's standard output over semihosting; silently drops output if it cannot be opened
/// (the exit status still reports the result).
#[derive(Clone, Copy)]
pub struct Console(Option<HostStream>);

impl Console {
    /// Opens the host's standard output.
    #[must_use]
    pub fn stdout() -> Self {
        Self(hio::hstdout().ok())
    }

    /// Writes a string.
    pub fn str(&mut self, s: &str) {
        if let Some(stream) = &mut self.0 {
            // Nothing useful to do if the host refuses output.
            let _ = stream.write_all(s.as_bytes());
        }
    }

    /// Writes an unsigned integer in decimal (no `core::fmt`).
    pub fn usize(&mut self, mut n: usize) {
        let mut buf = [0u8; 20];
        let mut start = buf.len();
        for slot in buf.iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            start -= 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if let (Some(stream), Some(digits)) = (&mut self.0, buf.get(start..)) {
            let _ = stream.write_all(digits);
        }
    }

    /// Writes formatted text (uses `core::fmt`).
    pub fn print(&mut self, args: fmt::Arguments<'_>) {
        let _ = fmt::Write::write_fmt(self, args);
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.str(s);
        Ok(())
    }
}
