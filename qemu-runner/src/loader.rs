//! Booting the split layout (image-builder `--layout split`, the `split/`
//! directory next to `boot.img`) the way a real board's loader does: the
//! loader puts each module in RAM and describes it in `/chosen`.
//!
//! - `guest-loader`: QEMU's `-device guest-loader` writes the module nodes
//!   itself (typed `multiboot,kernel` or `multiboot,ramdisk`). It adds each
//!   node in front of the ones before it, so the devices are given in
//!   reverse to get the layout's order in the tree.
//! - `u-boot`: Debian's U-Boot (`u-boot-qemu`) runs the layout's `boot.scr`
//!   from a FAT disk (see [`crate::uboot_disk`]); `u-boot-booti` boots the
//!   single `boot.img` from such a disk with `booti`.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use image_builder::split::{parse_addr, SplitLayout};
use serde::Deserialize;

/// Which loader hands the split layout over.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Loader {
    /// QEMU's guest-loader devices, for the split layout.
    GuestLoader,
    /// Debian's U-Boot running the split layout's boot.scr.
    UBoot,
    /// Debian's U-Boot loading boot.img and starting it with booti.
    UBootBooti,
}

/// A module the image does not have, handed over after the layout's own
/// (to check that the hypervisor refuses it).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExtraModule {
    /// Relative to the workspace root.
    pub file: PathBuf,
    /// `kernel` or `ramdisk` (what guest-loader can declare).
    pub kind: String,
}

/// The split layout next to a built `boot.img`.
pub fn split_dir(boot_img: &Path) -> PathBuf {
    boot_img.with_file_name("split")
}

pub fn read_layout(dir: &Path) -> Result<SplitLayout> {
    let p = dir.join("layout.json");
    let text = std::fs::read(&p).with_context(|| {
        format!(
            "cannot read {} (build the image with image-builder --layout split)",
            p.display()
        )
    })?;
    serde_json::from_slice(&text).with_context(|| format!("malformed {}", p.display()))
}

/// QEMU's option syntax doubles commas inside a value.
fn opt_value(s: &str) -> String {
    s.replace(',', ",,")
}

/// The arguments that replace `-kernel boot.img`: the hypervisor file, and
/// one guest-loader per module (then each extra one, above the layout).
pub fn guest_loader_args(
    dir: &Path,
    layout: &SplitLayout,
    extra: &[(PathBuf, String)],
) -> Result<Vec<String>> {
    let mut devices = Vec::new();
    let mut top = parse_addr(&layout.hypervisor.addr)?;
    for m in &layout.modules {
        let kind = match m.kind.as_str() {
            "kernel" => "kernel",
            "ramdisk" => "initrd",
            other => bail!(
                "{}: guest-loader cannot hand over a {other} module",
                m.loaded.file
            ),
        };
        let addr = parse_addr(&m.loaded.addr)?;
        top = top.max(addr + m.loaded.size);
        let file = dir.join(&m.loaded.file);
        let mut d = format!(
            "guest-loader,addr={addr:#x},{kind}={}",
            opt_value(&file.display().to_string())
        );
        if !m.bootargs.is_empty() {
            d += &format!(",bootargs={}", opt_value(&m.bootargs));
        }
        devices.push(d);
    }
    for (file, kind) in extra {
        let key = match kind.as_str() {
            "kernel" => "kernel",
            "ramdisk" => "initrd",
            other => bail!(
                "extra module {}: kind {other:?} (kernel or ramdisk)",
                file.display()
            ),
        };
        let size = std::fs::metadata(file)
            .with_context(|| format!("extra module {}", file.display()))?
            .len();
        let addr = top.next_multiple_of(2 << 20);
        top = addr + size;
        devices.push(format!(
            "guest-loader,addr={addr:#x},{key}={}",
            opt_value(&file.display().to_string())
        ));
    }
    let mut args = vec![
        "-kernel".to_string(),
        dir.join(&layout.hypervisor.file).display().to_string(),
    ];
    for d in devices.into_iter().rev() {
        args.extend(["-device".to_string(), d]);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image_builder::split::{LoadedFile, SplitModule};

    fn layout() -> SplitLayout {
        let module = |file: &str, addr: &str, kind: &str, bootargs: &str| SplitModule {
            loaded: LoadedFile {
                file: file.into(),
                addr: addr.into(),
                size: 0x1000,
            },
            kind: kind.into(),
            domains: vec!["dom0".into()],
            hardware: true,
            bootargs: bootargs.into(),
        };
        SplitLayout {
            hypervisor: LoadedFile {
                file: "halyard.bin".into(),
                addr: "0x40200000".into(),
                size: 0x1000,
            },
            modules: vec![
                module("k.bin", "0x4a000000", "kernel", "console=hvc0,115200"),
                module("r.bin", "0x4a200000", "ramdisk", ""),
            ],
        }
    }

    #[test]
    fn devices_come_in_reverse_and_extras_go_above() {
        let t = tempfile::tempdir().unwrap();
        let stray = t.path().join("stray");
        std::fs::write(&stray, [0u8; 10]).unwrap();
        let args = guest_loader_args(
            Path::new("/s"),
            &layout(),
            &[(stray.clone(), "ramdisk".into())],
        )
        .unwrap();
        assert_eq!(
            args,
            [
                "-kernel".to_string(),
                "/s/halyard.bin".into(),
                "-device".into(),
                format!("guest-loader,addr=0x4a400000,initrd={}", stray.display()),
                "-device".into(),
                "guest-loader,addr=0x4a200000,initrd=/s/r.bin".into(),
                "-device".into(),
                "guest-loader,addr=0x4a000000,kernel=/s/k.bin,bootargs=console=hvc0,,115200".into(),
            ]
        );
    }

    #[test]
    fn bad_kinds_are_errors() {
        let mut l = layout();
        l.modules[1].kind = "device-tree".into();
        let e = guest_loader_args(Path::new("/s"), &l, &[]).unwrap_err();
        assert!(
            e.to_string().contains("cannot hand over a device-tree"),
            "{e}"
        );
        let e = guest_loader_args(Path::new("/s"), &layout(), &[("/x".into(), "blob".into())])
            .unwrap_err();
        assert!(e.to_string().contains("kernel or ramdisk"), "{e}");
    }
}
