//! The secure console: QEMU's secure PL011, shared by all CPUs under a lock
//! so lines from different CPUs do not interleave.

use crate::mmio;
use crate::platform::SECURE_UART;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

const UART_DR: usize = 0x00;
const UART_FR: usize = 0x18;
const FR_TXFF: u32 = 1 << 5;

static LOCK: AtomicBool = AtomicBool::new(false);

struct Uart;

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                put(b'\r');
            }
            put(byte);
        }
        Ok(())
    }
}

fn put(byte: u8) {
    while mmio::read32(SECURE_UART + UART_FR) & FR_TXFF != 0 {}
    mmio::write32(SECURE_UART + UART_DR, byte as u32);
}

/// Prints one formatted line (the caller's text, then a newline).
pub fn print_line(args: fmt::Arguments) {
    while LOCK
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        core::hint::spin_loop();
    }
    let _ = Uart.write_fmt(args);
    let _ = Uart.write_str("\n");
    LOCK.store(false, Ordering::Release);
}

/// Prints without taking the lock: for the panic path, where the lock may be
/// held by the CPU that is panicking.
pub fn print_line_unlocked(args: fmt::Arguments) {
    let _ = Uart.write_fmt(args);
    let _ = Uart.write_str("\n");
}

/// `fwprintln!("...")` prints `fw: ...` on the secure console.
macro_rules! fwprintln {
    ($($arg:tt)*) => {
        $crate::console::print_line(format_args!("fw: {}", format_args!($($arg)*)))
    };
}
pub(crate) use fwprintln;
