//! SMCCC Arm Architecture Service calls (owning entity 0).

use crate::el3::context::Frame;

/// SMCCC NOT_SUPPORTED as a 64-bit register value.
pub const NOT_SUPPORTED: u64 = u64::MAX;

pub const SMCCC_VERSION: u32 = 0x8000_0000;
pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;
/// SMCCC 1.2: x0-x17 carry arguments and results.
const VERSION_1_2: u64 = 0x1_0002;

pub fn handle(frame: &mut Frame) {
    frame.x[0] = match frame.x[0] as u32 {
        SMCCC_VERSION => VERSION_1_2,
        // Only the discovery calls themselves exist; the CPU workaround
        // calls (0x80008000, 0x80007fff, 0x80003fff) are not implemented.
        SMCCC_ARCH_FEATURES => match frame.x[1] as u32 {
            SMCCC_VERSION | SMCCC_ARCH_FEATURES => 0,
            _ => NOT_SUPPORTED,
        },
        _ => NOT_SUPPORTED,
    };
}
