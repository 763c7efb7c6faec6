//! Halyard image builder: build the hypervisor for a board and link it with
//! the domains' modules into one boot image (see `image-format`).
//!
//! The library is what the `image-builder` binary and `qemu-runner` use:
//! [`build::build`] makes an image (with `--release` also an SBOM and an
//! archive, see [`release`]), [`repro::repro`] checks that two builds in
//! different environments make the same bytes, [`update_lock`] pins an
//! image's Debian packages. The Debian and initramfs pieces (`apt`, `deb`,
//! `debian`, `lock`, `initramfs`, `cpio`, `kernel`) are public so their
//! integration tests can drive them against the real archive.
pub mod apt;
pub mod board_manifest;
pub mod build;
pub mod cpio;
pub mod crates;
pub mod deb;
pub mod debian;
pub mod devices;
pub mod exit;
pub mod initramfs;
pub mod kernel;
pub mod lock;
pub mod manifest;
pub mod packages;
pub mod pe;
pub mod plan;
pub mod release;
pub mod repro;
pub mod sbom;
pub mod secureboot;
pub mod signing;
pub mod split;
pub mod uboot;
pub mod verify;
pub mod workspace;

mod assemble;
mod cargo;
mod diffoscope;
mod digest;
mod dtb_edit;
mod elf;
mod modules;
mod output;
mod progress;
mod record;
mod shuffle;
mod sniff;

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
