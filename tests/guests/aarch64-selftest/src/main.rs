//! In-tree EL1 test guest: exercises the guest interface Halyard offers and
//! prints one TAP line per check on the Xen console hypercall, then asks
//! for PSCI SYSTEM_OFF. It trusts nothing: every result is checked here.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("aarch64-selftest is a bare-metal guest: build it with image-builder");
    std::process::exit(2);
}
