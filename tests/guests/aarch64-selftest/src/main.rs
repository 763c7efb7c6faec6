//! In-tree EL1 test guest: exercises the guest interface Halyard offers and
//! prints one TAP line per check on the Xen console hypercall, then asks
//! for PSCI SYSTEM_OFF. It trusts nothing: every result is checked here.
//!
//! The hostile-guest suite (`tests/suites/qemu-virt/hostile-suite.yaml`)
//! runs it in two more roles, chosen on the command line:
//! `selftest.role=attacker selftest.peer=N` tries one hostile action per
//! TAP case (bad hypercall arguments, PSCI/SMCCC and FF-A abuse, accesses
//! outside its map, vCPUs that never yield or cannot progress;
//! `src/guest/attack/`), and after each sends a heartbeat on an event
//! channel to `selftest.role=victim selftest.peer=N`
//! (`src/guest/victim.rs`), which answers only while the checksum of 1 MiB
//! of its memory is unchanged.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("aarch64-selftest is a bare-metal guest: build it with image-builder");
    std::process::exit(2);
}
