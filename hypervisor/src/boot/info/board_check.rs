//! The device tree handed over against the board's data, before anything
//! is programmed: the interrupt controller (the root's `interrupt-parent`)
//! and the console UART must be what and where the BSP says. A mismatch
//! stops the boot with a message naming both, instead of a fault when the
//! hypervisor first touches a register that is not there.
//!
//! Runs before the heap exists: no allocation, and the message is written
//! into the caller's buffer.

use core::fmt::Write;

use crate::board::{ConsoleDevice, InterruptController};
use crate::boot::fdt_read::{find_translated, has_compatible as is_one_of, prop_u32};

/// What the board's data says, as a device tree would say it.
pub struct Expected {
    pub board: &'static str,
    pub gic: InterruptController,
    pub console: ConsoleDevice,
}

/// The device tree's `compatible` strings for a controller, and its name
/// in messages.
fn gic_identity(ic: &InterruptController) -> (&'static [&'static str], &'static str, u64) {
    match *ic {
        InterruptController::GicV3 { gicd, .. } => (&["arm,gic-v3"], "GICv3", gicd),
        InterruptController::GicV2 { gicd, .. } => {
            (crate::boot::fdt_read::GICV2_COMPATIBLES, "GICv2", gicd)
        }
    }
}

fn uart_identity(c: &ConsoleDevice) -> (&'static [&'static str], &'static str, u64) {
    match *c {
        ConsoleDevice::Pl011 { base } => (&["arm,pl011"], "a PL011", base),
        // Every i.MX UART's compatible list ends in the generation it is
        // compatible with; these are the ones the driver's registers match.
        ConsoleDevice::ImxUart { base } => (
            &["fsl,imx21-uart", "fsl,imx6q-uart", "fsl,imx8mp-uart"],
            "an i.MX UART",
            base,
        ),
    }
}

fn first_compatible<'a>(node: &fdt::node::FdtNode<'_, 'a>) -> &'a str {
    node.compatible()
        .and_then(|c| c.all().next())
        .unwrap_or("no compatible")
}

/// A message buffer that keeps what fits.
pub struct Message {
    buf: [u8; 256],
    len: usize,
}

impl Message {
    pub const fn new() -> Self {
        Self {
            buf: [0; 256],
            len: 0,
        }
    }

    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("(message not UTF-8)")
    }
}

impl Default for Message {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for Message {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Whether `blob` describes the board `e` says; otherwise what differs,
/// written to `msg`.
pub fn check(blob: &[u8], e: &Expected, msg: &mut Message) -> bool {
    let Ok(fdt) = fdt::Fdt::new(blob) else {
        let _ = write!(
            msg,
            "board {}: the device tree handed over cannot be read",
            e.board
        );
        return false;
    };
    let (compatibles, gic_name, gicd) = gic_identity(&e.gic);
    // Addresses as the CPU sees them: a SoC's devices sit behind its bus's
    // `ranges` (the Raspberry Pi 4's GIC at bus 0x40041000 is 0xff841000).
    let parent = fdt
        .find_node("/")
        .and_then(|r| r.property("interrupt-parent"))
        .and_then(|p| p.as_usize())
        .and_then(|ph| {
            let ph = Some(ph as u32);
            find_translated(&fdt, &mut |n, _| {
                prop_u32(n, "phandle") == ph || prop_u32(n, "linux,phandle") == ph
            })
        });
    match parent {
        None => {
            let _ = write!(
                msg,
                "board {} expects {gic_name} at {gicd:#010x}; the device tree names no interrupt controller",
                e.board
            );
            return false;
        }
        Some((gic, regs)) if !is_one_of(&gic, compatibles) || regs.first() != Some(gicd) => {
            let _ = write!(
                msg,
                "board {} expects {gic_name} at {gicd:#010x}; the device tree has {}",
                e.board,
                first_compatible(&gic)
            );
            if let Some(at) = regs.first() {
                let _ = write!(msg, " at {at:#010x}");
            }
            return false;
        }
        Some(_) => {}
    }
    let (compatibles, uart_name, base) = uart_identity(&e.console);
    let uart = find_translated(&fdt, &mut |n, r| {
        r.first() == Some(base) && n.property("compatible").is_some()
    });
    match uart {
        Some((u, _)) if is_one_of(&u, compatibles) => true,
        Some((u, _)) => {
            let _ = write!(
                msg,
                "board {} expects {uart_name} console at {base:#010x}; the device tree has {} there",
                e.board,
                first_compatible(&u)
            );
            false
        }
        None => {
            let _ = write!(
                msg,
                "board {} expects {uart_name} console at {base:#010x}; the device tree has no device there",
                e.board
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V3: &[u8] = include_bytes!("../../../../tests/fixtures/dtb/qemu-virt-gicv3.dtb");
    const V2: &[u8] = include_bytes!("../../../../tests/fixtures/dtb/qemu-virt-gicv2.dtb");

    fn qemu_virt() -> Expected {
        Expected {
            board: "qemu-virt",
            gic: InterruptController::GicV3 {
                gicd: 0x0800_0000,
                gicr: 0x080a_0000,
                maintenance_ppi: 25,
            },
            console: ConsoleDevice::Pl011 { base: 0x0900_0000 },
        }
    }

    fn run(blob: &[u8], e: &Expected) -> Result<(), alloc::string::String> {
        let mut m = Message::new();
        if check(blob, e, &mut m) {
            Ok(())
        } else {
            Err(m.as_str().into())
        }
    }

    #[test]
    fn qemus_gicv3_machine_is_qemu_virt() {
        assert_eq!(run(V3, &qemu_virt()), Ok(()));
    }

    #[test]
    fn a_gicv2_machine_is_refused_by_name() {
        assert_eq!(
            run(V2, &qemu_virt()).unwrap_err(),
            "board qemu-virt expects GICv3 at 0x08000000; the device tree has arm,cortex-a15-gic at 0x08000000"
        );
    }

    #[test]
    fn a_console_elsewhere_is_refused_by_name() {
        let mut e = qemu_virt();
        e.console = ConsoleDevice::Pl011 { base: 0x0901_0000 };
        assert_eq!(
            run(V3, &e).unwrap_err(),
            "board qemu-virt expects a PL011 console at 0x09010000; the device tree has arm,pl031 there"
        );
        e.console = ConsoleDevice::Pl011 { base: 0x0a00_0000 };
        assert!(run(V3, &e).unwrap_err().contains("has virtio,mmio there"));
        e.console = ConsoleDevice::Pl011 { base: 0x0b00_0000 };
        assert!(run(V3, &e).unwrap_err().ends_with("has no device there"));
        e.gic = InterruptController::GicV3 {
            gicd: 0x0801_0000,
            gicr: 0,
            maintenance_ppi: 25,
        };
        assert!(run(V3, &e)
            .unwrap_err()
            .ends_with("has arm,gic-v3 at 0x08000000"));
        assert!(run(b"nope", &e).unwrap_err().contains("cannot be read"));
    }

    #[test]
    fn a_long_message_is_cut_not_overflowed() {
        let mut m = Message::new();
        for _ in 0..100 {
            let _ = write!(m, "0123456789");
        }
        assert_eq!(m.as_str().len(), 256);
    }
}
