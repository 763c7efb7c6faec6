//! Boot: what the firmware and the image give us (RAM, reservations,
//! modules) and the domain builder that turns modules into domains.
pub mod domain_builder;
pub mod dt;
pub mod guest_fdt;
pub mod linux_image;
pub mod modules;
