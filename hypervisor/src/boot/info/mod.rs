//! What the firmware and the boot loader hand over: the device tree (checked,
//! normalised, read, its addresses translated), the UEFI memory map, the
//! modules a loader placed, and the board data checked against both.
pub mod board_check;
#[cfg(not(target_os = "none"))]
pub mod board_upstream;
pub mod dt;
pub mod dt_normalize;
pub mod fdt_read;
pub mod gather;
pub mod handover;
pub mod uefi;
