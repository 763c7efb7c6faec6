//! The domains' static plan, checked across domains before anything is
//! built: which physical CPUs each domain's vCPUs are pinned to (the
//! hypervisor checks the same again at boot) and which console the
//! hardware domain uses.

use anyhow::{bail, Result};
use serde::Deserialize;

use crate::manifest::DomainManifest;

/// The hardware domain's console (manifest `console`).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ConsoleChoice {
    Hvc0,
    Uart,
}

impl DomainManifest {
    /// Whether this domain's console is hvc0 (hardware domains unless they
    /// ask for the UART).
    pub fn hvc_console(&self) -> bool {
        self.hardware && self.console != Some(ConsoleChoice::Uart)
    }
}

/// Check the plan of an image's domains; `ctx` names the manifest.
pub(crate) fn check(ctx: &str, domains: &[DomainManifest]) -> Result<()> {
    for d in domains {
        if d.console.is_some() && !d.hardware {
            bail!(
                "{ctx}: domain '{}': field 'console' is for the hardware domain only (other domains write through the console hypercall)",
                d.name
            );
        }
    }
    check_cpus(ctx, domains)
}

/// Most physical CPUs a plan can name (the module table keeps one bit each).
pub const MAX_PCPUS: u32 = 64;

/// Pinned CPUs: one per vCPU, ascending, below `MAX_PCPUS`, none shared
/// between domains (the error names both).
fn check_cpus(ctx: &str, domains: &[DomainManifest]) -> Result<()> {
    let mut owner: std::collections::BTreeMap<u32, &str> = Default::default();
    for d in domains {
        let Some(cpus) = &d.cpus else { continue };
        if cpus.len() != usize::from(d.vcpus) {
            bail!(
                "{ctx}: domain '{}': field 'cpus' names {} CPU(s) for {} vCPU(s); give one per vCPU",
                d.name,
                cpus.len(),
                d.vcpus
            );
        }
        if !cpus.windows(2).all(|w| w[0] < w[1]) {
            bail!(
                "{ctx}: domain '{}': field 'cpus' must list each CPU once, in ascending order ({cpus:?})",
                d.name
            );
        }
        for &c in cpus {
            if c >= MAX_PCPUS {
                bail!(
                    "{ctx}: domain '{}': CPU {c} is beyond the {MAX_PCPUS} a plan can name",
                    d.name
                );
            }
            if let Some(first) = owner.insert(c, &d.name) {
                bail!(
                    "{ctx}: domains '{first}' and '{}' both pin physical CPU {c}; a CPU serves one domain",
                    d.name
                );
            }
        }
    }
    Ok(())
}

/// What the hypervisor keeps for itself besides the image: heap, stage-2
/// tables, per-CPU stacks (its boot reserves 16 MiB; the rest is margin).
pub const HYPERVISOR_MIB: u64 = 32;

/// Every domain's memory (the hardware domain's `memory_mib` is the least
/// it gets), the hypervisor and its image (`image_bytes`, 0 before it is
/// assembled) must fit in the board's RAM; the error names every domain.
pub(crate) fn check_memory(
    ctx: &str,
    domains: &[DomainManifest],
    ram_mib: u64,
    image_bytes: u64,
) -> Result<()> {
    let image_mib = image_bytes.div_ceil(1 << 20);
    let need = domains
        .iter()
        .map(|d| d.memory_mib)
        .fold(HYPERVISOR_MIB + image_mib, u64::saturating_add);
    if need > ram_mib {
        let each: Vec<String> = domains
            .iter()
            .map(|d| format!("'{}' {} MiB", d.name, d.memory_mib))
            .collect();
        let image = if image_mib > 0 {
            format!(", the image {image_mib} MiB")
        } else {
            String::new()
        };
        bail!(
            "{ctx}: the domains need more memory than the board has: {} (+ the hypervisor {HYPERVISOR_MIB} MiB{image}) = {need} MiB > {ram_mib} MiB of RAM",
            each.join(", ")
        );
    }
    Ok(())
}

impl DomainManifest {
    /// The pinned CPUs as the module table's bit mask (0: unpinned).
    pub fn pcpu_mask(&self) -> u64 {
        self.cpus
            .iter()
            .flatten()
            .filter(|&&c| c < MAX_PCPUS)
            .fold(0, |m, &c| m | 1 << c)
    }
}

#[cfg(test)]
mod tests {
    use crate::manifest::load_image;

    #[test]
    fn pinned_cpus_are_checked_across_domains() {
        let dir = tempfile::tempdir().unwrap();
        let load = |domains: &str| {
            let p = dir.path().join("plan.yaml");
            std::fs::write(
                &p,
                format!("image: plan\nboards: [qemu-virt]\ndomains:\n{domains}"),
            )
            .unwrap();
            load_image(&p, &crate::test_support::qemu_virt()).map_err(|e| format!("{e:#}"))
        };
        let d = |name: &str, id: u16, vcpus: u16, cpus: &str| {
            format!("  - {{name: {name}, id: {id}, vcpus: {vcpus}, memory_mib: 64, kernel: {{file: k}}, cpus: {cpus}}}\n")
        };
        let ok = load(&(d("a", 1, 1, "[0]") + &d("b", 2, 2, "[1, 3]"))).unwrap();
        assert_eq!(ok.domains[1].pcpu_mask(), 0b1010);
        let e = load(&(d("a", 1, 2, "[0, 1]") + &d("b", 2, 2, "[1, 2]"))).unwrap_err();
        assert!(
            e.contains("domains 'a' and 'b' both pin physical CPU 1"),
            "{e}"
        );
        let e = load(&d("a", 1, 2, "[0]")).unwrap_err();
        assert!(e.contains("names 1 CPU(s) for 2 vCPU(s)"), "{e}");
        let e = load(&d("a", 1, 2, "[3, 1]")).unwrap_err();
        assert!(e.contains("ascending"), "{e}");
        let e = load(&d("a", 1, 1, "[64]")).unwrap_err();
        assert!(e.contains("beyond the 64"), "{e}");
        // qemu-virt plans for 1024 MiB.
        let e = load(
            &(d("a", 1, 1, "[0]").replace("64", "600") + &d("b", 2, 1, "[1]").replace("64", "500")),
        )
        .unwrap_err();
        assert!(
            e.contains("the domains need more memory than the board has: 'a' 600 MiB, 'b' 500 MiB (+ the hypervisor 32 MiB) = 1132 MiB > 1024 MiB"),
            "{e}"
        );
        let e = load(
            "  - {name: u, id: 1, vcpus: 1, memory_mib: 64, kernel: {file: k}, console: uart}\n",
        )
        .unwrap_err();
        assert!(
            e.contains("'console' is for the hardware domain only"),
            "{e}"
        );
    }
}
