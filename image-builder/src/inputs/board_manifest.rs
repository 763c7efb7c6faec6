//! Board manifests (`manifests/boards/<board>.yaml`): what image-builder and
//! qemu-runner know about a board. Unknown fields are errors.
use std::path::PathBuf;

use anyhow::{bail, Result};
use serde::Deserialize;

use crate::exit::OrBadInput;
use crate::manifest::{parse_yaml, read_text, yaml_names};
use crate::workspace::Workspace;

/// `manifests/boards/<board>.yaml`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BoardManifest {
    pub board: String,
    #[serde(default)]
    pub description: String,
    pub arch: Arch,
    /// Rust target triple for the BSP and in-tree guests.
    pub target: String,
    /// Cargo package name of the BSP crate.
    pub bsp_crate: String,
    pub image_format: ImageFormat,
    /// Physical load address of the boot image.
    pub load_address: u64,
    /// Image manifest (name under manifests/images/) built when none is given.
    pub default_image: String,
    pub qemu: QemuSettings,
    /// RAM the board has, in MiB, for checking a plan's memory offline;
    /// default: `qemu.memory_mib` (what qemu-runner gives the board).
    #[serde(default)]
    pub ram_mib: Option<u64>,
    /// The image's EFI application view can be booted by UEFI firmware:
    /// image-builder also writes a Secure Boot-signed `boot.efi`, and
    /// qemu-runner's UEFI cases boot it with this firmware.
    #[serde(default)]
    pub uefi: Option<UefiSettings>,
    /// Devices the hypervisor keeps for itself (the interrupt controller,
    /// its console UART): an image may not pass them through. The BSP's
    /// host test checks this list against its constants.
    #[serde(default)]
    pub hypervisor_devices: Vec<crate::devices::HypervisorDevice>,
    /// The board's device tree, for boards whose firmware (or QEMU model)
    /// does not make one: the upstream DTB from the pinned Debian kernel
    /// package (board lock file `<board>.lock.yaml`). image-builder writes
    /// it beside the image as `board.dtb`; qemu-runner passes it as `-dtb`.
    #[serde(default)]
    pub dtb: Option<BoardDtb>,
    /// The board's secure world may run an FF-A SPMC (its BSP says
    /// `Spmc::FfaSmc`). For QEMU boards image-builder also builds the
    /// test firmware that stands in for TF-A + an SPMC and writes it
    /// beside the image as `secure-firmware.bin`.
    #[serde(default)]
    pub secure_world: Option<SecureWorld>,
}

/// `secure_world: {firmware_crate, flash_base, machine, bl33: {...}}`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecureWorld {
    /// Cargo package of the EL3 firmware (a no_std binary, run in place
    /// from flash).
    pub firmware_crate: String,
    /// Where the firmware runs from (the flash QEMU's `-bios` fills).
    pub flash_base: u64,
    /// `-machine` for boots through the firmware (with secure=on).
    pub machine: String,
    /// How EL3 firmware (ours, or a stock TF-A as BL33 loader) starts
    /// Halyard.
    pub bl33: Bl33,
}

/// The BL33 hand-over: the image at `entry` (where the board loads it),
/// entered at EL2 with x0 = the device tree's address.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Bl33 {
    pub entry: u64,
    pub x0: Bl33Arg,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Bl33Arg {
    /// x0 = the device tree (Linux arm64 boot protocol).
    Dtb,
}

/// `dtb: {debian: {package, arch, resolve, path}, disable: [{path, why}]}`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BoardDtb {
    pub debian: crate::manifest::DebianFile,
    /// Nodes for devices the board's QEMU model lacks, disabled in the
    /// DTB image-builder writes (each with the reason).
    #[serde(default)]
    pub disable: Vec<DtDisable>,
}

/// One node of the upstream DTB to disable, and why.
#[derive(Clone, Debug, Deserialize, PartialEq, serde::Serialize, Eq)]
#[serde(deny_unknown_fields)]
pub struct DtDisable {
    pub path: String,
    pub why: String,
}

impl BoardManifest {
    /// RAM the plan may use, in MiB.
    pub fn ram_mib(&self) -> u64 {
        self.ram_mib.unwrap_or(u64::from(self.qemu.memory_mib))
    }
}

/// How qemu-runner boots a board through UEFI firmware.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UefiSettings {
    /// Firmware code, attached read-only as the first pflash.
    pub code: PathBuf,
    /// Variable store template (second pflash): each run enrolls its keys
    /// into its own copy.
    pub vars_template: PathBuf,
    /// `-machine` for UEFI boots (e.g. with `acpi=off`, so the firmware
    /// hands over the device tree).
    pub machine: String,
    /// The removable-media boot path on the ESP (`EFI/BOOT/BOOTAA64.EFI`).
    pub boot_path: String,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    Aarch64,
    X86_64,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ImageFormat {
    /// Linux arm64 `Image`: 64-byte header, loaded at a 2 MiB boundary + text_offset.
    LinuxArm64Image,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QemuSettings {
    pub binary: String,
    pub machine: String,
    pub cpu: String,
    pub memory_mib: u32,
    pub smp: u32,
    /// The option that hands QEMU the image (e.g. `-kernel`).
    pub kernel_arg: String,
    #[serde(default)]
    pub extra_args: Vec<String>,
    /// U-Boot built for this QEMU board (`-bios`), for qemu-runner cases
    /// that boot through U-Boot (`loader: u-boot`, `u-boot-booti`).
    #[serde(default)]
    pub uboot: Option<PathBuf>,
    /// Which of the machine's serial ports is the console (0: the first):
    /// the ports before it get `-serial null`.
    #[serde(default)]
    pub console_serial: u32,
}

/// The manifest of `board`, with a helpful error for unknown boards; any
/// problem with it is the user's input (exit code 2).
pub fn load_board(ws: &Workspace, board: &str) -> Result<BoardManifest> {
    load_board_unchecked(ws, board).or_bad_input()
}

fn load_board_unchecked(ws: &Workspace, board: &str) -> Result<BoardManifest> {
    let path = ws.boards_dir().join(format!("{board}.yaml"));
    if board.contains(['/', '\\']) || !path.is_file() {
        bail!(
            "unknown board '{board}': no {} (known boards: {})",
            path.display(),
            yaml_names(&ws.boards_dir()).join(", ")
        );
    }
    parse_board(&read_text(&path)?, &path.display().to_string(), board)
}

/// Parse board `board`'s manifest text (`origin` names it in errors).
pub fn parse_board(text: &str, origin: &str, board: &str) -> Result<BoardManifest> {
    let m: BoardManifest = parse_yaml(text, origin)?;
    if m.board != board {
        bail!(
            "{origin}: field 'board' is '{}', expected '{board}'",
            m.board
        );
    }
    Ok(m)
}
