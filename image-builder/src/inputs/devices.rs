//! Devices passed through to a domain (image manifest `devices:`),
//! checked offline against each other and against what the board's
//! hypervisor keeps (board manifest `hypervisor_devices:`). The hypervisor
//! checks the same again at boot, and the device against the host's
//! device tree.

use anyhow::{bail, Result};
use serde::Deserialize;

use crate::manifest::{BoardManifest, DomainManifest};
use image_format::devices::{FIRST_SPI, LAST_SPI, MAX_DEVICES, MAX_DEVICE_IRQS, MAX_DEVICE_MMIO};
use image_format::DeviceSpec;

/// One device a domain gets: `{path, mmio: [[base, size], ...], spis:
/// [n, ...], force_assign_without_iommu: true}`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeviceManifest {
    /// Its node in the host's device tree (`/pl031@9010000`).
    pub path: String,
    /// Its MMIO ranges, [base, size], page-aligned; the domain sees them at
    /// the same addresses.
    #[serde(default)]
    pub mmio: Vec<[u64; 2]>,
    /// Its SPIs, numbered as the device tree's `interrupts` does (GIC
    /// INTID = 32 + n).
    #[serde(default)]
    pub spis: Vec<u32>,
    /// Halyard has no IOMMU (SMMU) support: a device that masters DMA could
    /// reach any memory. Like Xen's `xen,force-assign-without-iommu`, this
    /// says the device does no DMA (or that you accept it); it is required.
    #[serde(default)]
    pub force_assign_without_iommu: bool,
}

/// A device the hypervisor keeps for itself (board manifest).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HypervisorDevice {
    pub name: String,
    pub mmio: Vec<[u64; 2]>,
    #[serde(default)]
    pub spis: Vec<u32>,
}

const PAGE: u64 = 4096;

fn overlap(a: [u64; 2], b: [u64; 2]) -> Option<u64> {
    let lo = a[0].max(b[0]);
    let hi = a[0].saturating_add(a[1]).min(b[0].saturating_add(b[1]));
    (lo < hi).then_some(lo)
}

/// What two sets of (MMIO, SPIs) share, in words.
fn shares(
    mmio_a: &[[u64; 2]],
    spis_a: &[u32],
    mmio_b: &[[u64; 2]],
    spis_b: &[u32],
) -> Option<String> {
    for a in mmio_a {
        for b in mmio_b {
            if let Some(at) = overlap(*a, *b) {
                return Some(format!("MMIO at {at:#x}"));
            }
        }
    }
    spis_a
        .iter()
        .find(|s| spis_b.contains(s))
        .map(|s| format!("SPI {s} (INTID {})", s + FIRST_SPI))
}

/// Check every domain's devices; `ctx` names the manifest.
pub(crate) fn check(ctx: &str, domains: &[DomainManifest], board: &BoardManifest) -> Result<()> {
    let mut seen: Vec<(&str, &DeviceManifest)> = Vec::new();
    for d in domains {
        for dev in &d.devices {
            let at = format!("{ctx}: domain '{}': device '{}'", d.name, dev.path);
            if d.hardware {
                bail!("{at}: the hardware domain already has every device no other domain gets; list devices under the domain that takes them");
            }
            check_one(&at, dev)?;
            for own in &board.hypervisor_devices {
                if let Some(what) = shares(&dev.mmio, &dev.spis, &own.mmio, &own.spis) {
                    bail!(
                        "{at}: {what} belongs to the hypervisor's own '{}' on board {}; it cannot be passed through",
                        own.name, board.board
                    );
                }
            }
            for (other, prev) in &seen {
                let what = if prev.path == dev.path {
                    Some("the same device".to_string())
                } else {
                    shares(&prev.mmio, &prev.spis, &dev.mmio, &dev.spis)
                        .map(|w| format!("{w} (devices '{}' and '{}')", prev.path, dev.path))
                };
                if let Some(what) = what {
                    bail!(
                        "{ctx}: domains '{other}' and '{}' are both given {what}; a device goes to one domain",
                        d.name
                    );
                }
            }
            seen.push((&d.name, dev));
        }
    }
    if seen.len() > MAX_DEVICES {
        bail!(
            "{ctx}: {} devices passed through; at most {MAX_DEVICES}",
            seen.len()
        );
    }
    Ok(())
}

fn check_one(at: &str, dev: &DeviceManifest) -> Result<()> {
    if !dev.path.starts_with('/') {
        bail!("{at}: 'path' must be the device's absolute path in the host device tree (e.g. /pl031@9010000)");
    }
    if !dev.force_assign_without_iommu {
        bail!("{at}: Halyard has no IOMMU support, so a device that does DMA could reach any memory; set 'force_assign_without_iommu: true' if this device does no DMA");
    }
    if dev.mmio.is_empty() && dev.spis.is_empty() {
        bail!("{at}: gives neither 'mmio' nor 'spis'");
    }
    if dev.mmio.len() > MAX_DEVICE_MMIO || dev.spis.len() > MAX_DEVICE_IRQS {
        bail!("{at}: at most {MAX_DEVICE_MMIO} MMIO ranges and {MAX_DEVICE_IRQS} SPIs");
    }
    for &[base, size] in &dev.mmio {
        if size == 0 || base % PAGE != 0 || size % PAGE != 0 || base.checked_add(size).is_none() {
            bail!("{at}: MMIO [{base:#x}, {size:#x}] must be non-empty, 4 KiB aligned and not wrap (the domain's stage 2 maps whole pages)");
        }
    }
    if let Some(s) = dev.spis.iter().find(|&&s| s > LAST_SPI - FIRST_SPI) {
        bail!(
            "{at}: SPI {s} does not exist (SPIs are numbered 0..{})",
            LAST_SPI - FIRST_SPI
        );
    }
    Ok(())
}

/// The module table's device entries.
pub fn specs(domains: &[DomainManifest]) -> Vec<DeviceSpec> {
    domains
        .iter()
        .flat_map(|d| {
            d.devices.iter().map(|dev| DeviceSpec {
                domain: d.id,
                path: dev.path.clone(),
                mmio: dev.mmio.iter().map(|&[b, s]| (b, s)).collect(),
                irqs: dev.spis.iter().map(|s| s + FIRST_SPI).collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::manifest::load_image;

    fn load(domains: &str) -> Result<crate::manifest::ImageManifest, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("devices.yaml");
        std::fs::write(
            &p,
            format!("image: devices\nboards: [qemu-virt]\ndomains:\n{domains}"),
        )
        .unwrap();
        load_image(&p, &crate::test_support::qemu_virt()).map_err(|e| format!("{e:#}"))
    }

    fn domain(name: &str, id: u16, extra: &str, devices: &str) -> String {
        format!(
            "  - name: {name}\n    id: {id}\n    vcpus: 1\n    memory_mib: 64\n    kernel: {{file: k}}\n{extra}    devices:\n{devices}"
        )
    }

    const RTC: &str = "      - {path: /pl031@9010000, mmio: [[0x09010000, 0x1000]], spis: [2], force_assign_without_iommu: true}\n";

    #[test]
    fn devices_become_table_entries() {
        let m = load(&domain("u", 1, "", RTC)).unwrap();
        let specs = super::specs(&m.domains);
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].domain, 1);
        assert_eq!(specs[0].path, "/pl031@9010000");
        assert_eq!(specs[0].mmio, [(0x0901_0000, 0x1000)]);
        // SPI 2 is INTID 34.
        assert_eq!(specs[0].irqs, [34]);
    }

    #[test]
    fn a_device_given_twice_names_both_domains() {
        let e = load(&(domain("a", 1, "", RTC) + &domain("b", 2, "", RTC))).unwrap_err();
        assert!(
            e.contains("domains 'a' and 'b' are both given the same device"),
            "{e}"
        );
        let other = "      - {path: /other, mmio: [[0x09010000, 0x2000]], force_assign_without_iommu: true}\n";
        let e = load(&(domain("a", 1, "", RTC) + &domain("b", 2, "", other))).unwrap_err();
        assert!(
            e.contains("domains 'a' and 'b' are both given MMIO at 0x9010000 (devices '/pl031@9010000' and '/other')"),
            "{e}"
        );
        let line = "      - {path: /other, spis: [2], force_assign_without_iommu: true}\n";
        let e = load(&(domain("a", 1, "", RTC) + &domain("b", 2, "", line))).unwrap_err();
        assert!(e.contains("both given SPI 2 (INTID 34)"), "{e}");
    }

    #[test]
    fn the_hypervisors_devices_are_refused() {
        let uart = "      - {path: /pl011@9000000, mmio: [[0x09000000, 0x1000]], spis: [1], force_assign_without_iommu: true}\n";
        let e = load(&domain("u", 1, "", uart)).unwrap_err();
        assert!(
            e.contains("device '/pl011@9000000': MMIO at 0x9000000 belongs to the hypervisor's own 'console-uart' on board qemu-virt"),
            "{e}"
        );
        let gic_line = "      - {path: /x, spis: [0], mmio: [[0x08080000, 0x1000]], force_assign_without_iommu: true}\n";
        let e = load(&domain("u", 1, "", gic_line)).unwrap_err();
        assert!(e.contains("'gic'"), "{e}");
        let uart_line = "      - {path: /x, spis: [1], force_assign_without_iommu: true}\n";
        let e = load(&domain("u", 1, "", uart_line)).unwrap_err();
        assert!(
            e.contains("SPI 1 (INTID 33) belongs to the hypervisor's own 'console-uart'"),
            "{e}"
        );
    }

    #[test]
    fn bad_devices_are_refused() {
        let e = load(&domain(
            "d0",
            0,
            "    hardware: true\n    direct_map: true\n",
            RTC,
        ))
        .unwrap_err();
        assert!(
            e.contains("the hardware domain already has every device"),
            "{e}"
        );
        let cases = [
            (
                "{path: /pl031@9010000, mmio: [[0x09010000, 0x1000]]}",
                "force_assign_without_iommu",
            ),
            (
                "{path: pl031, mmio: [[0x09010000, 0x1000]], force_assign_without_iommu: true}",
                "absolute path",
            ),
            (
                "{path: /r, mmio: [[0x09010800, 0x1000]], force_assign_without_iommu: true}",
                "4 KiB aligned",
            ),
            (
                "{path: /r, mmio: [[0x09010000, 0]], force_assign_without_iommu: true}",
                "non-empty",
            ),
            (
                "{path: /r, spis: [988], force_assign_without_iommu: true}",
                "SPI 988 does not exist",
            ),
            (
                "{path: /r, force_assign_without_iommu: true}",
                "neither 'mmio' nor 'spis'",
            ),
            (
                "{path: /r, irq: 3, force_assign_without_iommu: true}",
                "unknown field `irq`",
            ),
        ];
        for (dev, want) in cases {
            let e = load(&domain("u", 1, "", &format!("      - {dev}\n"))).unwrap_err();
            assert!(e.contains(want), "{dev}: {e}");
            assert!(e.contains("domain 'u'") || want.contains("field"), "{e}");
        }
    }
}
