//! Boot: what the firmware and the image give us (RAM, reservations,
//! modules) and the domain builder that turns modules into domains.
pub mod blake3;
pub mod board_check;
#[cfg(not(target_os = "none"))]
pub mod board_upstream;
pub mod direct_map;
pub mod dom0_fdt;
pub mod domain_builder;
pub mod dt;
pub mod dt_normalize;
pub mod fdt_read;
pub mod gather;
pub mod guest_fdt;
pub mod handover;
pub mod hardware_domain;
pub mod linux_image;
pub mod module_rules;
pub mod modules;
pub mod passthrough;
pub mod rebuild;
pub mod sequence;
#[cfg(test)]
mod sequence_tests;
#[cfg(test)]
pub(crate) mod test_env;
pub mod trust;
pub mod uefi;
pub mod xen_node;
