//! Power off and reset through QEMU virt's secure PL061, whose pins drive the
//! gpio-pwr device (a rising level asks QEMU to shut down or reset).

use crate::el3::start;
use crate::mmio;
use crate::platform::{GPIO_PIN_POWEROFF, GPIO_PIN_RESET, SECURE_GPIO};
use crate::sysreg::wfe;

const GPIODIR: usize = 0x400;

fn raise_pin(pin: u32) -> ! {
    let bit = 1u32 << pin;
    let dir = mmio::read32(SECURE_GPIO + GPIODIR);
    mmio::write32(SECURE_GPIO + GPIODIR, dir | bit);
    // PL061 data register: address bits [9:2] select which pins a write changes.
    mmio::write32(SECURE_GPIO + ((bit as usize) << 2), bit);
    loop {
        wfe();
    }
}

pub fn off() -> ! {
    raise_pin(GPIO_PIN_POWEROFF)
}

pub fn reset() -> ! {
    start::withdraw_release();
    raise_pin(GPIO_PIN_RESET)
}
