//! What a U-Boot case boots from: a virtio disk with an MBR and one FAT32
//! partition holding `boot.scr` and the files it loads. U-Boot's distro boot
//! finds `boot.scr` there by itself (it needs a partition table: a FAT on
//! the whole disk is not found). Made with mkfs.vfat and mcopy, no root.
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::uefi::run;
use image_builder::secureboot::require_tool;

const SECTOR: u64 = 512;
/// The partition starts at 1 MiB, as partitioning tools place it.
const PART_START: u64 = 2048;

/// An MBR with one FAT32 (LBA) partition of `sectors` sectors at 1 MiB.
fn mbr(sectors: u64) -> Result<[u8; 512]> {
    let mut m = [0u8; 512];
    m[440..444].copy_from_slice(b"HALY");
    let e = &mut m[446..462];
    e[0] = 0x80;
    e[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]);
    e[4] = 0x0c;
    e[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
    e[8..12].copy_from_slice(&u32::try_from(PART_START)?.to_le_bytes());
    e[12..16].copy_from_slice(
        &u32::try_from(sectors)
            .context("disk too large")?
            .to_le_bytes(),
    );
    m[510] = 0x55;
    m[511] = 0xaa;
    Ok(m)
}

/// Write `dir/uboot-disk.img` holding `files` (source path, name on the
/// disk). Returns its path.
pub fn make(files: &[(PathBuf, String)], dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut total = 0;
    for (f, _) in files {
        total += std::fs::metadata(f)
            .with_context(|| format!("cannot read {}", f.display()))?
            .len();
    }
    // FAT32 needs about 33 MiB at least; a fifth more than the files.
    let mib = (total + total / 5).div_ceil(1 << 20).max(64) + 16;
    let fat = dir.join("uboot-fat.img");
    let _ = std::fs::remove_file(&fat);
    run(
        Command::new(require_tool("mkfs.vfat", "dosfstools")?)
            .args(["-F", "32", "-C", "-i", "48414c59", "-n", "HALYARD"])
            .arg(&fat)
            .arg((mib * 1024).to_string()),
        "mkfs.vfat (the U-Boot disk's partition)",
    )?;
    for (src, name) in files {
        run(
            Command::new(require_tool("mcopy", "mtools")?)
                .env("MTOOLS_SKIP_CHECK", "1")
                .arg("-i")
                .arg(&fat)
                .arg(src)
                .arg(format!("::/{name}")),
            "mcopy (onto the U-Boot disk)",
        )?;
    }
    let disk = dir.join("uboot-disk.img");
    let mut out = std::fs::File::create(&disk)
        .with_context(|| format!("cannot create {}", disk.display()))?;
    use std::io::{Seek, SeekFrom, Write};
    out.write_all(&mbr(mib * (1 << 20) / SECTOR)?)?;
    out.seek(SeekFrom::Start(PART_START * SECTOR))?;
    let mut fat_file = std::fs::File::open(&fat)?;
    std::io::copy(&mut fat_file, &mut out)
        .with_context(|| format!("cannot write {}", disk.display()))?;
    drop(out);
    let _ = std::fs::remove_file(&fat);
    Ok(disk)
}

/// QEMU options that boot `uboot` with `disk` as its virtio disk (no
/// network: U-Boot would try DHCP after the disk).
pub fn args(uboot: &Path, disk: &Path) -> Vec<String> {
    vec![
        "-bios".into(),
        uboot.display().to_string(),
        "-drive".into(),
        format!(
            "if=none,id=boot,format=raw,readonly=on,file={}",
            disk.display()
        ),
        "-device".into(),
        "virtio-blk-device,drive=boot".into(),
        "-nic".into(),
        "none".into(),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn mbr_has_one_fat32_partition_at_1_mib() {
        let m = super::mbr(131072).unwrap();
        assert_eq!(&m[510..], &[0x55, 0xaa]);
        assert_eq!(m[446 + 4], 0x0c);
        assert_eq!(u32::from_le_bytes(m[454..458].try_into().unwrap()), 2048);
        assert_eq!(u32::from_le_bytes(m[458..462].try_into().unwrap()), 131072);
        assert!(m[462..510].iter().all(|&b| b == 0), "one entry only");
    }
}
