//! Halyard QEMU runner: boots boot images on a board's QEMU, interactively
//! (`run`) or as regression suites judged from the serial console (`test`).
//!
//! The library holds everything the `qemu-runner` binary does, so tests (and
//! other tools) can drive the same code paths: [`suite::run_case`] boots an
//! already-built image for one case, [`suite::run_suite`] runs a board suite.
pub mod case;
pub mod images;
pub mod interactive;
pub mod junit;
pub mod loader;
pub mod qemu;
pub mod secure_world;
pub mod suite;
pub mod tamper;
pub mod uboot_disk;
pub mod uefi;
pub mod verdict;
