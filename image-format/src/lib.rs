//! The Halyard boot image format.
//!
//! A boot image is the hypervisor's flat binary, padded to a 4 KiB boundary,
//! followed by a *module table* and then the modules themselves (each 4 KiB
//! aligned). The hypervisor finds the table at its own end symbol; the image
//! builder writes it. This crate is the single definition both sides use.
//!
//! Table layout, version 1, all integers little-endian:
//!
//! ```text
//! header   48 bytes   see `Header`
//! domains  count * 32 bytes
//! modules  count * 64 bytes
//! strings  UTF-8 names and command lines referenced by (offset, len)
//! ```
//!
//! Offsets of strings are relative to the table start; module offsets are
//! relative to the start of the boot image.
//!
//! Header flags (u64 at header offset 40): bit 0 `SIGNED`. When set, a
//! 104-byte signature block (`signature` module) follows the table at
//! `table_offset + table_size`, and modules start after it. Unsigned images
//! (flags 0, written before signing existed) lay out exactly as before.
//! Bit 1 `PIECE_BLAKE3`: after the strings, each module's BLAKE3-256 per
//! 1 MiB piece (each piece hashed as its own message; module entry offset 4
//! says where its list starts), so the pieces can be checked on every CPU at
//! once with a hash that is cheap in SIMD; the whole-module SHA-256 stays
//! (what `sha256sum` users compare, and what tables without pieces use).
//! Bit 2 `DEVICES`: a device section follows the module entries (before the
//! strings): host devices passed through to a domain, see [`devices`].
#![cfg_attr(not(test), no_std)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod arm64_image;
pub mod devices;
#[cfg(test)]
mod devices_tests;
pub mod fdt_normalize;
mod signature;
mod table;
#[cfg(feature = "alloc")]
mod writer;

pub use devices::{DeviceEntry, DeviceFault, Shared};
pub use signature::*;
pub use table::*;
#[cfg(feature = "alloc")]
pub use writer::*;

/// Alignment of the table and of every module inside the image.
pub const MODULE_ALIGN: u64 = 4096;

/// Size of the pieces a table with `PIECE_BLAKE3` lists BLAKE3s for (the
/// last piece of a module may be shorter). 1 MiB: fine enough to share a
/// kernel's tens of MiB among a few CPUs, coarse enough to keep the list small.
pub const PIECE_SIZE: u64 = 1 << 20;

/// How many pieces a module of `size` bytes has.
pub const fn piece_count(size: u64) -> u64 {
    size.div_ceil(PIECE_SIZE)
}

/// Round `v` up to a multiple of `align` (a power of two).
pub const fn align_up(v: u64, align: u64) -> u64 {
    (v + align - 1) & !(align - 1)
}
