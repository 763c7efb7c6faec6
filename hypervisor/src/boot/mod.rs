//! Boot, by concern: `info` (what the firmware and loader hand over),
//! `trust` (whether the image may run) and `build` (domains from modules).
//! The modules keep their short paths (`boot::dt`, `boot::sequence`) through
//! the re-exports below.
pub mod build;
pub mod info;
pub mod trust;

#[cfg(test)]
pub(crate) use build::test_env;
pub use build::{
    direct_map, dom0_fdt, domain_builder, guest_fdt, hardware_domain, linux_image, passthrough,
    rebuild, sequence, xen_node,
};
#[cfg(not(target_os = "none"))]
pub use info::board_upstream;
pub use info::{board_check, dt, dt_normalize, fdt_read, gather, handover, uefi};
pub use trust::{blake3, module_rules, modules};
