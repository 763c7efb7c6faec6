//! Fuzz harnesses: one per parser of bytes that a guest, a firmware or a
//! bad file controls. Each takes the fuzzer's bytes and must return
//! normally: a panic (including an arithmetic overflow, since fuzz builds
//! keep overflow checks), a hang or unbounded memory is a finding.
//!
//! `scripts/fuzz` builds `src/bin/halyard-fuzz.rs` with libFuzzer and
//! coverage instrumentation; the host tests (`tests/replay.rs`) run every
//! checked-in seed and every past finding through the same harnesses.
#![forbid(unsafe_code)]

pub mod targets;

/// One fuzz target.
pub struct Target {
    pub name: &'static str,
    /// What it feeds, for `scripts/fuzz --list`.
    pub about: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, in the order `scripts/fuzz` runs them.
pub const TARGETS: &[Target] = &[
    targets::image_format::TARGET,
    targets::device_tree::TARGET,
    targets::uefi_map::TARGET,
    targets::vgic::TARGET_V3,
    targets::vgic::TARGET_V2,
    targets::xen::TARGET,
    targets::ffa::TARGET,
    targets::builder_manifest::TARGET,
    targets::builder_lock::TARGET,
    targets::builder_deb::TARGET,
    targets::builder_apt::TARGET,
    targets::builder_kernel::TARGET,
    targets::builder_dtb_edit::TARGET,
    targets::builder_verify::TARGET,
    targets::builder_cpio::TARGET,
];

/// The target called `name`.
pub fn find(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
