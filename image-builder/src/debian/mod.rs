//! Debian inputs: the machine's apt, .deb reading, pinned downloads and the
//! lock files, an image's packages as a whole, and the busybox initramfs
//! (with its cpio writer, and the kernel modules it may carry). Public so
//! their integration tests can drive them
//! against the real archive.
pub mod apt;
pub mod cpio;
pub mod deb;
mod fetch;
pub mod initramfs;
pub mod kmod;
pub mod lock;
pub mod packages;

pub use fetch::*;
