//! The hypervisor console: one UART shared by the hypervisor's own messages
//! and the guests' console hypercalls, a whole line at a time.

pub mod guest_line;

use core::fmt::{self, Write};

use crate::board::ConsoleDevice;
use crate::drivers::pl011::Pl011;

enum Uart {
    None,
    Pl011(Pl011),
}

struct Console {
    uart: Uart,
}

impl Console {
    fn put(&self, b: u8) {
        match &self.uart {
            Uart::None => {}
            Uart::Pl011(u) => {
                if b == b'\n' {
                    u.put(b'\r');
                }
                u.put(b);
            }
        }
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        s.bytes().for_each(|b| self.put(b));
        Ok(())
    }
}

static CONSOLE: spin::Mutex<Console> = spin::Mutex::new(Console { uart: Uart::None });

/// Attach the board's UART. Until then output is dropped.
///
/// # Safety
/// The device must be mapped as device memory, and only the hypervisor may
/// transmit on it.
pub unsafe fn init(dev: ConsoleDevice) {
    let uart = match dev {
        // SAFETY: forwarded from this function's contract.
        ConsoleDevice::Pl011 { base } => Uart::Pl011(unsafe { Pl011::new(base as usize) }),
        ConsoleDevice::Ns16550Io { .. } => Uart::None,
    };
    CONSOLE.lock().uart = uart;
}

/// Print formatted text; callers end lines themselves.
pub fn print(args: fmt::Arguments<'_>) {
    let _ = CONSOLE.lock().write_fmt(args);
}

/// Wait until everything printed has been transmitted.
pub fn flush() {
    if let Uart::Pl011(u) = &CONSOLE.lock().uart {
        u.flush();
    }
}

/// A line from the hypervisor itself.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => {
        $crate::console::print(format_args!("halyard: {}\n", format_args!($($arg)*)))
    };
}

/// Print without the console lock or any setup: for fatal errors before the
/// MMU is on (locks need cacheable memory on real hardware).
pub fn early_print(dev: ConsoleDevice, msg: &str) {
    if let ConsoleDevice::Pl011 { base } = dev {
        // SAFETY: the board names this UART as its console; before the MMU
        // is on, all accesses are device accesses, and nothing else runs.
        let uart = unsafe { Pl011::new(base as usize) };
        for b in msg.bytes() {
            if b == b'\n' {
                uart.put(b'\r');
            }
            uart.put(b);
        }
        uart.flush();
    }
}
