//! Tamper cases: flip bits in a copy of a built image (in its module table,
//! signature block or a module) so a suite can check that the hypervisor
//! refuses what was not signed.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use image_format::ModuleTable;

use crate::case::{Tamper, TamperRegion};

/// Where the image builder records the table offset: the arm64 Image
/// header's res2 field.
const TABLE_OFFSET_AT: usize = 32;

/// Write `image` with `changes` applied to `dir/tampered-boot.img`.
pub fn apply(image: &Path, changes: &[Tamper], dir: &Path) -> Result<PathBuf> {
    let mut bytes =
        std::fs::read(image).with_context(|| format!("cannot read {}", image.display()))?;
    for (i, t) in changes.iter().enumerate() {
        let at = position(&bytes, t).with_context(|| format!("tamper[{i}]"))?;
        bytes[at] ^= t.xor;
    }
    let out = dir.join("tampered-boot.img");
    std::fs::write(&out, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(out)
}

fn position(image: &[u8], t: &Tamper) -> Result<usize> {
    let raw = image
        .get(TABLE_OFFSET_AT..TABLE_OFFSET_AT + 8)
        .context("not an arm64 Image")?;
    let table_offset = u64::from_le_bytes(raw.try_into().expect("8 bytes"));
    let from_table = image
        .get(table_offset as usize..)
        .context("table offset outside the image")?;
    let table = ModuleTable::parse(from_table).map_err(|e| anyhow::anyhow!("module table: {e}"))?;
    let (base, len) = match t.region {
        TamperRegion::Table => (table_offset, u64::from(table.header.table_size)),
        TamperRegion::Signature => {
            let at = table
                .header
                .signature_offset()
                .context("the image is not signed")?;
            (at, image_format::SIGNATURE_BLOCK_SIZE as u64)
        }
        TamperRegion::Module => {
            let n = t.module.unwrap_or(0);
            let m = table
                .modules()
                .nth(n)
                .with_context(|| format!("no module {n}"))?;
            (m.offset, m.size)
        }
    };
    if t.offset >= len {
        bail!(
            "offset {} is outside the {:?} region ({len} bytes)",
            t.offset,
            t.region
        );
    }
    Ok((base + t.offset) as usize)
}
