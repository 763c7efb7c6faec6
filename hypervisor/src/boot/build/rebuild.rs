//! Rebuilding a domain that rebooted itself. Its modules stay where the
//! boot image put them (they are never given to another domain), the module
//! table is copied at boot, and a reboot checks the domain's modules against
//! the table's SHA-256 again before loading them into its own RAM as at the
//! first boot.

use alloc::vec::Vec;

use super::domain_builder::{load_domain, BuildError};
use crate::board::PhysRange;
use crate::boot::blake3::Hash4;
use crate::domain::{BootVcpu, Domain};
use crate::mm::frames::{align_down, align_up, PAGE_SIZE};

struct Source {
    image: &'static [u8],
    /// The verified table, copied (its place in the image goes to dom0).
    table: Vec<u8>,
}

static SOURCE: spin::Once<Source> = spin::Once::new();

/// Why a domain could not be rebuilt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RebuildError {
    /// No boot image kept (the boot did not call `keep`).
    NoSource,
    NotInTable,
    /// A module no longer matches the table: the domain stays off.
    Tampered {
        module: usize,
    },
    Build(BuildError),
}

/// Keep what rebuilding needs: the image (its ordinary domains' modules
/// stay in place) and a copy of its verified table.
pub fn keep(image: &'static [u8], table_offset: u64) {
    let Ok(t) = crate::boot::modules::parse_table(image, table_offset) else {
        return;
    };
    let start = table_offset as usize;
    let end = start + t.header.table_size as usize;
    if let Some(bytes) = image.get(start..end) {
        SOURCE.call_once(|| Source {
            image,
            table: bytes.to_vec(),
        });
    }
}

/// The pages of the modules of every domain that is not the hardware
/// domain, for an image at host address `image_base`: they must not be
/// handed to the hardware domain.
pub fn module_pages(table: &image_format::ModuleTable<'_>, image_base: u64) -> Vec<PhysRange> {
    let hardware: Vec<u16> = table
        .domains()
        .filter(|d| d.is_hardware())
        .map(|d| d.id)
        .collect();
    table
        .modules()
        .filter(|m| !hardware.contains(&m.domain))
        .filter_map(|m| {
            let start = align_down(image_base.checked_add(m.offset)?, PAGE_SIZE);
            let end = align_up(
                image_base.checked_add(m.offset)?.checked_add(m.size)?,
                PAGE_SIZE,
            );
            Some(PhysRange::new(start, end - start))
        })
        .collect()
}

/// Check domain `d`'s modules again and load them into its RAM, for boot
/// number `boot`; where its first vCPU starts.
pub fn reload(
    d: &Domain,
    boot: u32,
    hash4: Hash4,
    write: &mut dyn FnMut(u64, &[u8]),
) -> Result<BootVcpu, RebuildError> {
    let src = SOURCE.get().ok_or(RebuildError::NoSource)?;
    reload_from(src.image, &src.table, d, boot, hash4, write)
}

/// `reload` from a given image and table copy.
fn reload_from(
    image: &[u8],
    table_bytes: &[u8],
    d: &Domain,
    boot: u32,
    hash4: Hash4,
    write: &mut dyn FnMut(u64, &[u8]),
) -> Result<BootVcpu, RebuildError> {
    let table =
        image_format::ModuleTable::parse(table_bytes).map_err(|_| RebuildError::NoSource)?;
    let entry = table
        .domains()
        .find(|e| e.id == d.id)
        .ok_or(RebuildError::NotInTable)?;
    // The table's own digests: the 1 MiB pieces' BLAKE3 when it lists
    // them (much faster than one SHA-256 over a whole module), else SHA-256.
    let check = crate::boot::modules::HashCheck::for_domain(image, &table, d.id);
    check.work(hash4);
    if let Err(e) = check.domain_result(&table, d.id) {
        return Err(match e {
            crate::boot::modules::ModuleError::HashMismatch { index } => {
                RebuildError::Tampered { module: index }
            }
            _ => RebuildError::NotInTable,
        });
    }
    let bank = *d.banks.first().ok_or(RebuildError::NotInTable)?;
    let vgic = d
        .vgic_layout
        .ok_or(RebuildError::Build(BuildError::DeviceTree))?;
    let hardware = super::domain_builder::GuestHardware {
        devices: &d.devices,
        vgic: &vgic,
    };
    load_domain(write, image, &table, &entry, bank, boot, hardware).map_err(RebuildError::Build)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::test_env::{arm64_image, image_with};
    use image_format::ModuleKind;

    #[test]
    fn reload_checks_the_modules_again_and_loads_them() {
        let kernel = arm64_image(8192);
        let mut img = image_with(3, 0, 64 << 20, &[(ModuleKind::Kernel, kernel.clone())]);
        let table = img[0x1000..0x2000].to_vec();
        let mut d = crate::hypercall::xen::fake::domain(
            3,
            false,
            1,
            alloc::vec![crate::domain::Bank {
                ipa: PhysRange::new(0x4000_0000, 64 << 20),
                pa: 0x1_0000_0000,
            }],
        );
        d.vgic_layout = Some(crate::domain::guest_map::VgicLayout::for_domain(
            &crate::boot::test_env::HOST_GICV3,
            false,
            1,
        ));
        let mut writes = Vec::new();
        let start = reload_from(
            &img,
            &table,
            &d,
            2,
            crate::boot::blake3::portable4,
            &mut |pa, b| writes.push((pa, b.to_vec())),
        )
        .unwrap();
        assert_eq!(start.entry, 0x4000_0000);
        assert_eq!(writes[0], (0x1_0000_0000, kernel));
        let dtb = fdt::Fdt::new(&writes[1].1).unwrap();
        let boot = dtb
            .find_node("/chosen")
            .unwrap()
            .property("halyard,boot-count")
            .unwrap();
        assert_eq!(boot.as_usize(), Some(2));
        // A module changed since boot: refused, nothing written.
        let t = image_format::ModuleTable::parse(&table).unwrap();
        let at = t.module(3, ModuleKind::Kernel).unwrap().offset as usize + 100;
        img[at] ^= 1;
        let mut wrote = false;
        assert_eq!(
            reload_from(
                &img,
                &table,
                &d,
                3,
                crate::boot::blake3::portable4,
                &mut |_, _| wrote = true
            ),
            Err(RebuildError::Tampered { module: 0 })
        );
        assert!(!wrote);
        // A domain the table does not list.
        let other = crate::hypercall::xen::fake::domain(9, false, 1, d.banks.clone());
        assert_eq!(
            reload_from(
                &img,
                &table,
                &other,
                2,
                crate::boot::blake3::portable4,
                &mut |_, _| {}
            ),
            Err(RebuildError::NotInTable)
        );
    }
}
