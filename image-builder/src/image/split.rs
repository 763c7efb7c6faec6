//! The split layout (`--layout split`): the real-board flow, where a boot
//! loader loads the hypervisor and each module as its own file and
//! describes the modules in `/chosen` (Xen's `multiboot,module` binding).
//!
//! `halyard.bin` is `boot.img` cut after its signed table: the same table,
//! so the hypervisor matches each handed-over module against it by hash and
//! copies it to the place the table gives it. Modules with the same bytes
//! (dom0 and a domU booting one kernel) are one file. Also written: the
//! U-Boot script (`boot.cmd`, and `boot.scr` as U-Boot's `source` reads it)
//! and `layout.json`, which says what goes where (qemu-runner's
//! guest-loader runs read it).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use image_format::{ModuleKind, ModuleTable};
use serde::{Deserialize, Serialize};

/// Where a loader puts the modules: above the image (whose modules area
/// the hypervisor fills), above 2 MiB alignment, and above where QEMU puts
/// the device tree for `-kernel` (RAM base + 128 MiB) with room for it.
const MODULES_ABOVE_RAM_BASE: u64 = 160 << 20;
const MODULE_ALIGN: u64 = 2 << 20;
/// The Image header's text_offset: the hypervisor's distance from the
/// 2 MiB-aligned RAM base.
const TEXT_OFFSET: u64 = 0x20_0000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitLayout {
    pub hypervisor: LoadedFile,
    /// In hand-over order: the hardware domain's kernel, its ramdisk, then
    /// the others in table order.
    pub modules: Vec<SplitModule>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedFile {
    pub file: String,
    /// Load address, as `0x...` (JSON numbers lose 64-bit precision).
    pub addr: String,
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitModule {
    #[serde(flatten)]
    pub loaded: LoadedFile,
    /// kernel, ramdisk or device-tree.
    pub kind: String,
    /// Every domain that boots these bytes (the first one's command line
    /// is the bootargs).
    pub domains: Vec<String>,
    /// For the hardware domain (directly under /chosen).
    pub hardware: bool,
    pub bootargs: String,
}

/// The files to write into the split directory, and the layout.
pub struct Split {
    pub files: Vec<(String, Vec<u8>)>,
    pub layout: SplitLayout,
}

pub fn parse_addr(s: &str) -> Result<u64> {
    let hex = s
        .strip_prefix("0x")
        .with_context(|| format!("address {s:?} is not 0x-prefixed hex"))?;
    u64::from_str_radix(hex, 16).with_context(|| format!("address {s:?} is not hex"))
}

fn addr(a: u64) -> String {
    format!("{a:#x}")
}

/// Cut `image` (a finished boot.img whose table is at `table_offset`) into
/// the split layout for a board whose image loads at `load_address`.
/// `epoch` dates the script image (reproducible builds).
pub fn split(image: &[u8], table_offset: u64, load_address: u64, epoch: u64) -> Result<Split> {
    let at = usize::try_from(table_offset).context("table offset")?;
    let table = ModuleTable::parse(
        image
            .get(at..)
            .context("image shorter than its table offset")?,
    )
    .map_err(|e| anyhow::anyhow!("the image's module table: {e}"))?;
    let head_end = table
        .header
        .reserved_end()
        .context("module table size overflows")?;
    let head = image
        .get(..usize::try_from(head_end)?)
        .context("image shorter than its table")?;
    let name_of = |id: u16| {
        table
            .domains()
            .find(|d| d.id == id)
            .map_or_else(|| format!("d{id}"), |d| d.name.to_string())
    };
    let hardware = table.domains().find(|d| d.is_hardware()).map(|d| d.id);
    // Distinct contents, the hardware domain's kernel and ramdisk first.
    let mut order: Vec<_> = table.modules().collect();
    let rank = |m: &image_format::ModuleEntry<'_>| match (Some(m.domain) == hardware, m.kind) {
        (true, ModuleKind::Kernel) => 0,
        (true, ModuleKind::Ramdisk) => 1,
        _ => 2,
    };
    order.sort_by_key(|m| rank(m));
    let mut distinct: BTreeMap<[u8; 32], usize> = BTreeMap::new();
    let mut modules: Vec<SplitModule> = Vec::new();
    let mut files = vec![("halyard.bin".to_string(), head.to_vec())];
    let ram_base = load_address
        .checked_sub(TEXT_OFFSET)
        .context("load address below the Image text offset")?;
    let image_end = load_address + table.header.image_size;
    let mut next = (ram_base + MODULES_ABOVE_RAM_BASE)
        .max(image_end)
        .next_multiple_of(MODULE_ALIGN);
    for m in order {
        let domain = name_of(m.domain);
        if let Some(&i) = distinct.get(&m.sha256) {
            modules[i].domains.push(domain);
            continue;
        }
        let bytes = image
            .get(usize::try_from(m.offset)?..usize::try_from(m.offset + m.size)?)
            .with_context(|| format!("{domain}'s {} lies outside the image", m.kind.name()))?;
        if m.kind == ModuleKind::DeviceTree && Some(m.domain) == hardware {
            bail!("a device-tree module for the hardware domain cannot be handed over (Xen's binding forbids it)");
        }
        let file = format!("{:02}-{domain}-{}.bin", modules.len() + 1, m.kind.name());
        distinct.insert(m.sha256, modules.len());
        modules.push(SplitModule {
            loaded: LoadedFile {
                file: file.clone(),
                addr: addr(next),
                size: m.size,
            },
            kind: m.kind.name().to_string(),
            domains: vec![domain],
            hardware: Some(m.domain) == hardware,
            bootargs: m.cmdline.to_string(),
        });
        files.push((file, bytes.to_vec()));
        next = (next + m.size).next_multiple_of(MODULE_ALIGN);
    }
    let layout = SplitLayout {
        hypervisor: LoadedFile {
            file: "halyard.bin".into(),
            addr: addr(load_address),
            size: head.len() as u64,
        },
        modules,
    };
    let script = crate::uboot::boot_script(&layout)?;
    files.push(("boot.cmd".into(), script.clone().into_bytes()));
    files.push((
        "boot.scr".into(),
        crate::uboot::script_image(&script, epoch)?,
    ));
    let mut json = serde_json::to_vec_pretty(&layout)?;
    json.push(b'\n');
    files.push(("layout.json".into(), json));
    Ok(Split { files, layout })
}

#[cfg(test)]
#[path = "split_tests.rs"]
mod tests;
