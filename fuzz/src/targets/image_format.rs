//! The module table and its signature block, as the hypervisor reads them
//! at boot from an image it has not yet verified: the table parser, every
//! entry iterator, the device section, the signature check against the
//! tree's key, the whole-module hash check, and the arm64 Image header.

use hypervisor::boot::trust::verify_table;
use hypervisor::boot::{gather, modules};
use image_format::{arm64_image, devices, ModuleTable, SignatureBlock};

pub const TARGET: crate::Target = crate::Target {
    name: "image-table",
    about: "module table, signature block, device section, hashes, arm64 Image header",
    run,
};

/// Touch every field so that lazily checked parts are checked too.
fn walk(table: &ModuleTable<'_>, image: &[u8]) {
    let mut n = 0usize;
    for d in table.domains() {
        n += d.name.len() + usize::from(d.is_hardware());
    }
    for m in table.modules() {
        n += m.cmdline.len();
        let pieces = m.piece_blake3_list.map_or(0, |l| l.len() / 32);
        for i in 0..=pieces {
            n += usize::from(m.piece_blake3(i).is_some());
        }
        n += modules::module_bytes(image, &m).map_or(0, <[u8]>::len);
    }
    let devs: Vec<_> = table.devices().collect();
    for (i, a) in devs.iter().enumerate() {
        n += a.mmio().count() + a.irqs().count();
        for b in &devs[i + 1..] {
            n += usize::from(devices::shared(a, b).is_some());
        }
    }
    std::hint::black_box(n);
}

fn run(data: &[u8]) {
    let _ = SignatureBlock::parse(data);
    let _ = arm64_image::parse(data);
    let _ = gather::head_len(0, data);
    // The hypervisor's path: the table at offset 0 of the image.
    if let Ok(table) = modules::parse_table(data, 0) {
        walk(&table, data);
        let _ = table.signature(data);
        let key = super::dev_public_key_hex();
        let _ = verify_table(&table, data, Some(key));
        let _ = modules::verify_hashes(data, &table);
    }
    // The same bytes after a 4 KiB "hypervisor", as image-builder lays it out.
    if let Ok(table) = ModuleTable::parse(data) {
        walk(&table, data);
    }
}
