//! A domain's virtual PL011 (`vdev::pl011`) on the hardware: stage-2
//! aborts in its window become register accesses, its output the domain's
//! console lines, its interrupt line an SPI of the domain's virtual GIC.

use super::esr::MmioAccess;
use super::inject;
use super::vectors::TrapFrame;
use aarch64_cpu::registers::{Readable, FAR_EL2};

use crate::domain::{guest_map, Domain};

/// Emulate the access if it hits `d`'s vPL011; whether it did.
pub fn mmio(d: &Domain, frame: &mut TrapFrame, ipa: u64, access: MmioAccess) -> bool {
    let Some(uart) = &d.vuart else {
        return false;
    };
    let Some(off) = ipa
        .checked_sub(guest_map::UART)
        .filter(|o| *o < crate::vdev::pl011::SIZE)
    else {
        return false;
    };
    let (result, line) = {
        let mut u = uart.lock();
        let r = if access.write {
            let v = access.store_value(&frame.x) as u32;
            let now = super::traps::counter_ns();
            u.write(off, access.size, v, &mut |b| d.console_write(&[b], now))
                .map(|()| 0)
        } else {
            u.read(off, access.size)
        };
        (r, u.line())
    };
    super::vgic_hw::set_spi_level(d, guest_map::UART_SPI, line);
    match result {
        Ok(v) => {
            if !access.write {
                access.complete_load(&mut frame.x, u64::from(v));
            }
            frame.elr += 4;
        }
        Err(_) => inject::data_abort(frame, FAR_EL2.get()),
    }
    true
}

/// Bytes typed for `d`'s console: into its vPL011, interrupt raised.
pub fn input(d: &Domain, bytes: &[u8]) {
    let Some(uart) = &d.vuart else {
        return;
    };
    let line = {
        let mut u = uart.lock();
        for &b in bytes {
            u.receive(b);
        }
        u.line()
    };
    super::vgic_hw::set_spi_level(d, guest_map::UART_SPI, line);
}
