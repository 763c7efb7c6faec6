//! The hypervisor console: one UART shared by the hypervisor's own messages
//! and the guests' console hypercalls, a whole line at a time.

pub mod dispatch;
pub mod guest_console;
pub mod guest_line;
pub mod input;
pub mod keys;
pub mod rate_limit;

use core::fmt::{self, Write};

use crate::board::ConsoleDevice;
use crate::drivers::imx_uart::ImxUart;
use crate::drivers::pl011::Pl011;

enum Uart {
    None,
    Pl011(Pl011),
    Imx(ImxUart),
}

/// The same few operations on whichever UART the board has.
macro_rules! on_uart {
    ($uart:expr, $u:ident => $body:expr) => {
        match $uart {
            Uart::None => {}
            Uart::Pl011($u) => $body,
            Uart::Imx($u) => $body,
        }
    };
}

impl Uart {
    fn put(&self, b: u8) {
        on_uart!(self, u => u.put(b))
    }
    fn flush(&self) {
        on_uart!(self, u => u.flush())
    }
    fn enable_rx_interrupts(&self) {
        on_uart!(self, u => u.enable_rx_interrupts())
    }
    fn clear_rx_interrupts(&self) {
        on_uart!(self, u => u.clear_rx_interrupts())
    }
    fn get(&self) -> Option<u8> {
        match self {
            Uart::None => None,
            Uart::Pl011(u) => u.get(),
            Uart::Imx(u) => u.get(),
        }
    }
}

struct Console {
    uart: Uart,
    /// The last byte sent was a newline (or nothing was sent yet).
    at_line_start: bool,
}

impl Console {
    fn put(&mut self, b: u8) {
        self.at_line_start = b == b'\n';
        if b == b'\n' {
            self.uart.put(b'\r');
        }
        self.uart.put(b);
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        s.bytes().for_each(|b| self.put(b));
        Ok(())
    }
}

static CONSOLE: spin::Mutex<Console> = spin::Mutex::new(Console {
    uart: Uart::None,
    at_line_start: true,
});
static INPUT: spin::Mutex<input::InputRouter> = spin::Mutex::new(input::InputRouter::new());

/// Attach the board's UART. Until then output is dropped.
///
/// # Safety
/// The device must be mapped as device memory, and only the hypervisor may
/// transmit on it.
pub unsafe fn init(dev: ConsoleDevice) {
    let uart = match dev {
        // SAFETY: forwarded from this function's contract.
        ConsoleDevice::Pl011 { base } => Uart::Pl011(unsafe { Pl011::new(base as usize) }),
        // SAFETY: as above.
        ConsoleDevice::ImxUart { base } => Uart::Imx(unsafe { ImxUart::new(base as usize) }),
    };
    CONSOLE.lock().uart = uart;
}

/// Print whole lines (callers end them): starting on a fresh line if a
/// domain's raw output left one open (a shell prompt).
pub fn print(args: fmt::Arguments<'_>) {
    let mut c = CONSOLE.lock();
    if !c.at_line_start {
        c.put(b'\n');
    }
    let _ = c.write_fmt(args);
}

/// The hardware domain's hvc0 output, as it sent it (its terminal's
/// control sequences included: the operator's shell runs there).
pub fn write_raw(bytes: &[u8]) {
    let mut c = CONSOLE.lock();
    for &b in bytes {
        c.uart.put(b);
        c.at_line_start = b == b'\n';
    }
}

/// Take the UART's input for the hypervisor: receive interrupts on.
pub fn enable_input() {
    CONSOLE.lock().uart.enable_rx_interrupts();
}

/// The UART's receive interrupt: route up to 32 waiting bytes into
/// `events`; how many events there are, and whether the UART may hold
/// more (then call again: a PL011 raises its receive interrupt only when
/// a byte arrives into an empty FIFO, so bytes left behind would wait for
/// good).
pub fn receive(events: &mut [input::Routed; 32]) -> (usize, bool) {
    let mut got = [0u8; 32];
    let mut n = 0;
    {
        let c = CONSOLE.lock();
        // Clear first, then drain: a byte that arrives after the last
        // read raises the interrupt again instead of waiting, unseen, for
        // the next one.
        c.uart.clear_rx_interrupts();
        while n < got.len() {
            let Some(b) = c.uart.get() else { break };
            got[n] = b;
            n += 1;
        }
    }
    let mut count = 0;
    let mut router = INPUT.lock();
    for &b in &got[..n] {
        router.feed(b, &mut |r| {
            if r != input::Routed::Held && count < events.len() {
                events[count] = r;
                count += 1;
            }
        });
    }
    (count, n == got.len())
}

/// Set the consoles Ctrl-A x3 rotates through (see `input`).
pub fn set_consoles(hvc: Option<u16>, uarts: &[u16]) {
    INPUT.lock().set_consoles(hvc, uarts);
}

/// The hardware domain's console input (CONSOLEIO_read).
pub fn read_input(buf: &mut [u8]) -> usize {
    INPUT.lock().read(buf)
}

/// Wait until everything printed has been transmitted.
pub fn flush() {
    CONSOLE.lock().uart.flush();
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
    // SAFETY: the board names this UART as its console; before the MMU is
    // on, all accesses are device accesses, and nothing else runs.
    let uart = unsafe {
        match dev {
            ConsoleDevice::Pl011 { base } => Uart::Pl011(Pl011::new(base as usize)),
            ConsoleDevice::ImxUart { base } => Uart::Imx(ImxUart::new(base as usize)),
        }
    };
    for b in msg.bytes() {
        if b == b'\n' {
            uart.put(b'\r');
        }
        uart.put(b);
    }
    uart.flush();
}
