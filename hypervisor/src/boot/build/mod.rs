//! Turning verified modules into domains: the boot sequence, ordinary and
//! direct-mapped hardware domains, their device trees (dom0's rewritten from
//! the host's, others' written anew, `/hypervisor`), device passthrough and
//! rebuilding a domain on reboot.
pub mod direct_map;
pub mod dom0_fdt;
pub mod domain_builder;
pub mod guest_fdt;
pub mod hardware_domain;
pub mod linux_image;
pub mod passthrough;
pub mod rebuild;
pub mod sequence;
#[cfg(test)]
mod sequence_tests;
#[cfg(test)]
pub(crate) mod test_env;
pub mod xen_node;
