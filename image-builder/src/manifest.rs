//! Board and image manifests (YAML). Unknown fields are errors, and every
//! error names the file, and where serde knows it, the field and line.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

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
}

/// `manifests/images/<image>.yaml`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageManifest {
    pub image: String,
    /// Boards this image may be built for.
    pub boards: Vec<String>,
    pub domains: Vec<DomainManifest>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DomainManifest {
    pub name: String,
    pub id: u16,
    /// The hardware domain (dom0) owns the devices the hypervisor does not keep.
    #[serde(default)]
    pub hardware: bool,
    /// Guest physical = host physical.
    #[serde(default)]
    pub direct_map: bool,
    pub vcpus: u16,
    pub memory_mib: u64,
    pub kernel: ModuleSource,
    #[serde(default)]
    pub ramdisk: Option<ModuleSource>,
    #[serde(default)]
    pub device_tree: Option<ModuleSource>,
    #[serde(default)]
    pub cmdline: String,
}

/// Where a module's bytes come from. In YAML a one-key map: `{guest: NAME}`
/// or `{file: PATH}`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(try_from = "RawSource")]
pub enum ModuleSource {
    /// An in-tree guest: Cargo package under tests/guests/, built for the board target.
    Guest(String),
    /// A file, relative to the workspace root unless absolute.
    File(PathBuf),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    guest: Option<String>,
    file: Option<PathBuf>,
}

impl TryFrom<RawSource> for ModuleSource {
    type Error = String;
    fn try_from(r: RawSource) -> std::result::Result<Self, String> {
        match (r.guest, r.file) {
            (Some(g), None) => Ok(Self::Guest(g)),
            (None, Some(f)) => Ok(Self::File(f)),
            _ => Err("a module source needs exactly one of 'guest' or 'file'".into()),
        }
    }
}

fn read_yaml<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read manifest {}", path.display()))?;
    serde_norway::from_str(&text).with_context(|| format!("malformed manifest {}", path.display()))
}

fn yaml_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "yaml").then(|| p.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    names
}

/// Load the manifest of `board`, with a helpful error for unknown boards.
pub fn load_board(ws: &Workspace, board: &str) -> Result<BoardManifest> {
    let path = ws.boards_dir().join(format!("{board}.yaml"));
    if board.contains(['/', '\\']) || !path.is_file() {
        bail!(
            "unknown board '{board}': no {} (known boards: {})",
            path.display(),
            yaml_names(&ws.boards_dir()).join(", ")
        );
    }
    let m: BoardManifest = read_yaml(&path)?;
    if m.board != board {
        bail!(
            "{}: field 'board' is '{}', expected '{board}'",
            path.display(),
            m.board
        );
    }
    Ok(m)
}

/// Path of an image manifest: an explicit path, or `manifests/images/<name>.yaml`.
pub fn image_manifest_path(
    ws: &Workspace,
    explicit: Option<&Path>,
    board: &BoardManifest,
) -> PathBuf {
    match explicit {
        Some(p) => p.to_path_buf(),
        None => ws
            .images_dir()
            .join(format!("{}.yaml", board.default_image)),
    }
}

/// Load and check an image manifest against the board it is built for.
pub fn load_image(path: &Path, board: &BoardManifest) -> Result<ImageManifest> {
    let m: ImageManifest = read_yaml(path)?;
    let ctx = path.display();
    if !m.boards.contains(&board.board) {
        bail!(
            "{ctx}: image '{}' is not for board '{}' (boards: {:?})",
            m.image,
            board.board,
            m.boards
        );
    }
    if m.domains.is_empty() {
        bail!("{ctx}: field 'domains' is empty: an image needs at least one domain");
    }
    let mut ids = std::collections::BTreeSet::new();
    for d in &m.domains {
        if !ids.insert(d.id) {
            bail!("{ctx}: domain '{}': id {} is used twice", d.name, d.id);
        }
        if d.vcpus == 0 {
            bail!(
                "{ctx}: domain '{}': field 'vcpus' must be at least 1",
                d.name
            );
        }
        if d.memory_mib == 0 && !d.direct_map {
            bail!(
                "{ctx}: domain '{}': field 'memory_mib' must be at least 1",
                d.name
            );
        }
        if d.name.is_empty() || d.name.len() > 64 {
            bail!("{ctx}: domain name '{}' must be 1 to 64 characters", d.name);
        }
    }
    if m.domains.iter().filter(|d| d.hardware).count() > 1 {
        bail!("{ctx}: more than one domain has 'hardware: true'");
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board() -> BoardManifest {
        crate::test_support::qemu_virt()
    }

    #[test]
    fn in_tree_manifests_load() {
        let b = board();
        assert_eq!(b.load_address, 0x4020_0000);
        assert_eq!(b.arch, Arch::Aarch64);
        let ws = Workspace {
            root: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."),
        };
        let p = image_manifest_path(&ws, None, &b);
        let img = load_image(&p, &b).unwrap();
        assert_eq!(
            img.domains[0].kernel,
            ModuleSource::Guest("aarch64-selftest".into())
        );
    }

    #[test]
    fn unknown_board_lists_known_ones() {
        let ws = Workspace {
            root: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."),
        };
        let e = load_board(&ws, "rpi9").unwrap_err().to_string();
        assert!(
            e.contains("unknown board 'rpi9'") && e.contains("qemu-virt"),
            "{e}"
        );
    }

    #[test]
    fn malformed_manifest_names_field_and_line() {
        let dir = std::env::temp_dir().join(format!("hy-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bad.yaml");
        std::fs::write(
            &p,
            "image: x\nboards: [qemu-virt]\ndomains:\n  - name: a\n    id: 0\n    vcpus: one\n",
        )
        .unwrap();
        let e = format!("{:#}", load_image(&p, &board()).unwrap_err());
        assert!(
            e.contains("bad.yaml") && e.contains("vcpus") && e.contains("line 6"),
            "{e}"
        );
        std::fs::write(
            &p,
            "image: x\nboards: [qemu-virt]\ndomains: []\ncolour: red\n",
        )
        .unwrap();
        let e = format!("{:#}", load_image(&p, &board()).unwrap_err());
        assert!(e.contains("colour"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
