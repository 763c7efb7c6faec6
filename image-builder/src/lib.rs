//! Halyard image builder: build the hypervisor for a board and link it with
//! the domains' modules into one boot image (see `image-format`).
//!
//! The library is what the `image-builder` binary and `qemu-runner` use:
//! [`build::build`] makes an image (with `--release` also an SBOM and an
//! archive, see [`release`]), [`repro::repro`] checks that two builds in
//! different environments make the same bytes, [`update_lock`] pins an
//! image's Debian packages. The source is grouped by concern: `inputs/`
//! (manifests, plan, modules), `debian/` (packages, lock files, initramfs),
//! `image/` (build, assembly, layouts) and `trust/` (signing, Secure Boot,
//! verify, record, release, reproducibility).
pub mod debian;
pub mod exit;
pub mod image;
pub mod inputs;
pub mod trust;

// The modules by their own names too (`crate::manifest`, `image_builder::apt`):
// the grouping is the layout; the paths callers use stay short.
pub use debian::{apt, cpio, deb, initramfs, kmod, lock, packages};
pub(crate) use image::{assemble, cargo, elf, output, progress};
pub use image::{build, pe, split, uboot};
pub use inputs::dtb_edit;
pub use inputs::{board_manifest, devices, kernel, manifest, plan, workspace};
pub(crate) use inputs::{modules, sniff};
pub use trust::{crates, release, repro, sbom, secureboot, signing, verify};
pub(crate) use trust::{diffoscope, digest, record, shuffle};

pub use build::{build, BuildOptions, BuildOutput, ReleaseOutput};
pub use packages::{update_lock, LockUpdate};
pub use repro::{repro, ReproOptions, ReproReport};

/// Shared by unit tests: the real tree this crate sits in.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::manifest::{load_board, BoardManifest};
    use crate::workspace::Workspace;

    pub fn in_tree() -> Workspace {
        Workspace {
            root: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
        }
    }

    pub fn qemu_virt() -> BoardManifest {
        load_board(&in_tree(), "qemu-virt").unwrap()
    }
}
