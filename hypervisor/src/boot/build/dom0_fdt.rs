//! The hardware domain's device tree, rewritten from the host's: the
//! devices stay (dom0 drives them), while memory, command line, ramdisk,
//! CPUs and the PSCI conduit become dom0's view, and nodes for hardware the
//! hypervisor keeps or does not virtualise are dropped.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::board::PhysRange;

pub struct Dom0FdtSpec<'a> {
    /// Dom0's RAM (guest-physical = host-physical).
    pub ram: &'a [PhysRange],
    pub vcpus: u16,
    pub bootargs: &'a str,
    pub initrd: Option<PhysRange>,
    /// Node paths removed with their subtrees (devices given to other
    /// domains).
    pub remove: &'a [&'a str],
    /// The device (by its first `reg` address) the hypervisor keeps for
    /// itself: its node goes, and /chosen no longer points at it.
    pub keep_device: Option<u64>,
    /// The Xen interface's `/hypervisor` node, when dom0 gets it.
    pub xen: Option<XenNode>,
}

/// What Linux reads from `/hypervisor` (Documentation/devicetree/bindings/arm/xen.txt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenNode {
    /// Where the grant-table frames are (reg[0]).
    pub grant: PhysRange,
    /// The event-channel PPI's INTID.
    pub evtchn_intid: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dom0FdtError {
    BadHostTree,
    Write,
}

impl From<vm_fdt::Error> for Dom0FdtError {
    fn from(_: vm_fdt::Error) -> Self {
        Self::Write
    }
}

/// Hardware the hypervisor does not virtualise, by `compatible`: dom0 must
/// not find it (the GICv3 ITS and GICv2m MSI frames: no MSI emulation; a
/// PMU: its interrupts and counters are not shared out).
fn not_virtualised(node: &fdt::node::FdtNode<'_, '_>) -> bool {
    node.compatible().is_some_and(|c| {
        c.all().any(|s| {
            matches!(
                s,
                "arm,gic-v3-its" | "arm,gic-v2m-frame" | "arm,armv8-pmuv3"
            ) || (s.starts_with("arm,") && s.ends_with("-pmu"))
        })
    })
}

/// Whether the writer (vm-fdt) takes `name`: the spec's property names,
/// 1 to 31 of `0-9a-zA-Z,._+?#-`. Upstream trees have a few longer ones
/// (`snps,gfladj-refclk-lpm-sel-quirk` on i.MX 8M Plus).
fn writable_name(name: &str) -> bool {
    (1..=31).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ",._+?#-".contains(c))
}

/// Whether a node is a RAM bank (replaced by dom0's own memory node).
fn is_memory(node: &fdt::node::FdtNode<'_, '_>) -> bool {
    node.property("device_type").and_then(|p| p.as_str()) == Some("memory")
}

/// CPU nodes under /cpus numbered at or beyond `vcpus` (by document order).
fn cpu_index(path: &str) -> Option<&str> {
    path.strip_prefix("/cpus/cpu@")
        .filter(|rest| !rest.contains('/'))
}

pub fn build(host: &[u8], spec: &Dom0FdtSpec<'_>) -> Result<Vec<u8>, Dom0FdtError> {
    let fdt = fdt::Fdt::new(host).map_err(|_| Dom0FdtError::BadHostTree)?;
    let reserve: Vec<_> = fdt
        .memory_reservations()
        .filter_map(|m| vm_fdt::FdtReserveEntry::new(m.address() as u64, m.size() as u64).ok())
        .collect();
    let mut w = vm_fdt::FdtWriter::new_with_mem_reserv(&reserve)?;
    let root = fdt.find_node("/").ok_or(Dom0FdtError::BadHostTree)?;
    // The kept device's node, known by where its `reg` lies in the blob
    // (found by its address as the CPU sees it, through any bus `ranges`).
    let kept = spec.keep_device.and_then(|at| {
        let (node, _) = crate::boot::fdt_read::find_translated(&fdt, &mut |n, r| {
            r.first() == Some(at) && n.property("compatible").is_some()
        })?;
        node.property("reg").map(|p| p.value.as_ptr())
    });
    let cells = root.cell_sizes();
    let mut walk = Walk {
        root_cells: (cells.address_cells, cells.size_cells),
        cpus_seen: 0,
        gic: interrupt_parent(&fdt),
        kept,
    };
    copy_node(&mut w, &root, "", spec, &mut walk, (2, 1))?;
    w.finish().map_err(Dom0FdtError::from)
}

fn copy_node(
    w: &mut vm_fdt::FdtWriter,
    node: &fdt::node::FdtNode<'_, '_>,
    path: &str,
    spec: &Dom0FdtSpec<'_>,
    walk: &mut Walk,
    parent_cells: (usize, usize),
) -> Result<(), Dom0FdtError> {
    let is_root = path.is_empty();
    let handle = w.begin_node(if is_root { "" } else { node.name })?;
    let kept_console = spec.keep_device.is_some();
    let is_cpu = cpu_index(path).is_some();
    let gicv2 = is_gicv2(node);
    for prop in node.properties() {
        let value = match (path, prop.name) {
            ("/chosen", "bootargs" | "linux,initrd-start" | "linux,initrd-end") => continue,
            ("/chosen", "stdout-path" | "linux,stdout-path") if kept_console => continue,
            ("/psci", "method") => b"hvc\0".as_slice(),
            // vCPUs start by PSCI over HVC, whatever the host CPUs use.
            (_, "enable-method") if is_cpu => b"psci\0".as_slice(),
            (_, "cpu-release-addr") if is_cpu => continue,
            // A GICv2's GICH and GICV frames are the hypervisor's: dom0 sees
            // the distributor and the CPU interface only.
            (_, "reg") if gicv2 => first_entries(prop.value, parent_cells, 2),
            _ => prop.value,
        };
        if !writable_name(prop.name) {
            crate::info!(
                "dom0's device tree: property {} of {} dropped (the writer takes names of at most 31 characters)",
                prop.name,
                if is_root { "/" } else { path }
            );
            continue;
        }
        w.property(prop.name, value)?;
    }
    if path == "/chosen" {
        write_chosen(w, spec)?;
    }
    for child in node.children() {
        let child_path = format!("{path}/{}", child.name);
        // The host's CPU topology is not the vCPUs'.
        let topology = child_path == "/cpus/cpu-map";
        // What the boot loader told the hypervisor is not dom0's business.
        let loader = path == "/chosen" && crate::boot::handover::is_loader_node(&child);
        if topology
            || loader
            || is_memory(&child)
            || not_virtualised(&child)
            || spec.remove.contains(&child_path.as_str())
        {
            continue;
        }
        if walk.kept.is_some() && child.property("reg").map(|p| p.value.as_ptr()) == walk.kept {
            continue;
        }
        if cpu_index(&child_path).is_some() {
            if walk.cpus_seen >= spec.vcpus {
                continue;
            }
            walk.cpus_seen += 1;
        }
        let cells = node.cell_sizes();
        let cells = (cells.address_cells, cells.size_cells);
        copy_node(w, &child, &child_path, spec, walk, cells)?;
    }
    if is_root {
        if node.children().all(|c| c.name != "chosen") {
            let chosen = w.begin_node("chosen")?;
            write_chosen(w, spec)?;
            w.end_node(chosen)?;
        }
        // A board whose CPUs start by spin-table has no PSCI node; dom0's
        // vCPUs need one.
        if node.children().all(|c| c.name != "psci") {
            crate::boot::guest_fdt::write_psci(w)?;
        }
        write_memory(w, spec.ram, walk.root_cells)?;
        if let Some(x) = spec.xen {
            crate::boot::xen_node::write(w, x.grant, x.evtchn_intid, walk.gic, walk.root_cells)?;
        }
    }
    w.end_node(handle)?;
    Ok(())
}

/// What the copy carries from node to node.
struct Walk {
    /// The root's #address-cells and #size-cells (dom0's memory and
    /// /hypervisor nodes are written in them).
    root_cells: (usize, usize),
    cpus_seen: u16,
    /// The root's interrupt parent (the GIC's phandle).
    gic: Option<u32>,
    /// The `reg` value (its place in the host blob) of the node to leave out.
    kept: Option<*const u8>,
}

/// An Arm GICv2 (its GICH and GICV frames are the hypervisor's).
fn is_gicv2(node: &fdt::node::FdtNode<'_, '_>) -> bool {
    crate::boot::fdt_read::has_compatible(node, crate::boot::fdt_read::GICV2_COMPATIBLES)
}

/// The first `n` (address, size) entries of a `reg` value.
fn first_entries(reg: &[u8], (address_cells, size_cells): (usize, usize), n: usize) -> &[u8] {
    let entry = 4 * (address_cells + size_cells);
    &reg[..reg.len().min(entry * n)]
}

fn write_chosen(w: &mut vm_fdt::FdtWriter, spec: &Dom0FdtSpec<'_>) -> Result<(), Dom0FdtError> {
    w.property_string("bootargs", spec.bootargs)?;
    if let Some(rd) = spec.initrd {
        w.property_u64("linux,initrd-start", rd.base)?;
        w.property_u64("linux,initrd-end", rd.end())?;
    }
    Ok(())
}

/// The phandle of the interrupt controller: the root's interrupt-parent,
/// or the first node that is an interrupt controller with a phandle.
fn interrupt_parent(fdt: &fdt::Fdt<'_>) -> Option<u32> {
    let root = fdt.find_node("/")?;
    if let Some(p) = root.property("interrupt-parent").and_then(|p| p.as_usize()) {
        return Some(p as u32);
    }
    fdt.all_nodes()
        .filter(|n| n.property("interrupt-controller").is_some())
        .find_map(|n| n.property("phandle").and_then(|p| p.as_usize()))
        .map(|p| p as u32)
}

/// One memory node listing every bank (root uses 2 address and 2 size cells
/// on every board we support; `build` is only called on such trees).
/// dom0's RAM, in the root's cell sizes.
fn write_memory(
    w: &mut vm_fdt::FdtWriter,
    ram: &[PhysRange],
    root_cells: (usize, usize),
) -> Result<(), Dom0FdtError> {
    let Some(first) = ram.first() else {
        return Ok(());
    };
    let name: String = format!("memory@{:x}", first.base);
    let node = w.begin_node(&name)?;
    w.property_string("device_type", "memory")?;
    let reg =
        crate::boot::fdt_read::encode_reg(ram, root_cells).ok_or(Dom0FdtError::BadHostTree)?;
    w.property("reg", &reg)?;
    w.end_node(node)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::boot::test_env::sample_host_dtb as host;

    #[test]
    fn rewrites_for_dom0() {
        let ram = [
            PhysRange::new(0x4000_0000, 0x20_0000),
            PhysRange::new(0x4800_0000, 0x1000_0000),
        ];
        let spec = Dom0FdtSpec {
            ram: &ram,
            vcpus: 2,
            bootargs: "console=ttyAMA0",
            initrd: Some(PhysRange::new(0x5000_0000, 0x1000)),
            remove: &["/pmu", "/intc@8000000/its@8080000"],
            keep_device: None,
            xen: None,
        };
        let blob = build(&host(), &spec).unwrap();
        let f = fdt::Fdt::new(&blob).unwrap();
        assert_eq!(f.chosen().bootargs(), Some("console=ttyAMA0"));
        assert_eq!(f.chosen().stdout().map(|s| s.name), Some("pl011@9000000"));
        let chosen = f.find_node("/chosen").unwrap();
        assert_eq!(
            chosen.property("linux,initrd-start").unwrap().as_usize(),
            Some(0x5000_0000)
        );
        let banks: Vec<_> = f
            .memory()
            .regions()
            .map(|r| (r.starting_address as u64, r.size))
            .collect();
        assert_eq!(
            banks,
            [
                (0x4000_0000, Some(0x20_0000)),
                (0x4800_0000, Some(0x1000_0000))
            ]
        );
        assert_eq!(
            f.find_node("/psci")
                .unwrap()
                .property("method")
                .unwrap()
                .as_str(),
            Some("hvc")
        );
        assert_eq!(f.cpus().count(), 2);
        assert!(f.find_node("/pmu").is_none());
        assert!(f.find_node("/cpus/cpu-map").is_none());
        assert!(f.find_node("/intc@8000000/its@8080000").is_none());
        assert_eq!(
            f.find_node("/intc@8000000")
                .unwrap()
                .property("phandle")
                .unwrap()
                .as_usize(),
            Some(0x8001)
        );
        assert!(f.find_node("/pl011@9000000").is_some());
        assert_eq!(f.memory_reservations().count(), 1);
        // Exactly one memory node.
        assert_eq!(
            f.find_node("/")
                .unwrap()
                .children()
                .filter(|c| c.name.starts_with("memory"))
                .count(),
            1
        );
    }

    #[test]
    fn hvc_console_keeps_the_uart_and_adds_the_xen_node() {
        let ram = [PhysRange::new(0x4000_0000, 0x2000_0000)];
        let spec = Dom0FdtSpec {
            ram: &ram,
            vcpus: 1,
            bootargs: "console=hvc0",
            initrd: None,
            remove: &[],
            keep_device: Some(0x0900_0000),
            xen: Some(XenNode {
                grant: PhysRange::new(0x4010_0000, 0x1_0000),
                evtchn_intid: 31,
            }),
        };
        let blob = build(&host(), &spec).unwrap();
        let f = fdt::Fdt::new(&blob).unwrap();
        assert!(f.find_node("/pl011@9000000").is_none());
        assert!(f.chosen().stdout().is_none());
        let h = f.find_node("/hypervisor").unwrap();
        let compat: Vec<_> = h.compatible().unwrap().all().collect();
        assert_eq!(compat, ["xen,xen-4.19", "xen,xen"]);
        let reg = h.reg().unwrap().next().unwrap();
        assert_eq!(
            (reg.starting_address as u64, reg.size),
            (0x4010_0000, Some(0x1_0000))
        );
        let irq = h.property("interrupts").unwrap().value;
        assert_eq!(irq, [0, 0, 0, 1, 0, 0, 0, 15, 0, 0, 0xf, 8]);
        // The event PPI is free on this board: no other node uses PPI 15.
        for n in f.all_nodes() {
            if n.name == "hypervisor" {
                continue;
            }
            if let Some(p) = n.property("interrupts") {
                let cells: Vec<u32> = p
                    .value
                    .chunks(4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                assert!(
                    !cells
                        .chunks(3)
                        .any(|c| c.len() == 3 && c[0] == 1 && c[1] == 15),
                    "{} uses PPI 15",
                    n.name
                );
            }
        }
        assert!(h.property("interrupt-parent").is_some());
    }

    #[test]
    fn garbage_host_tree_is_an_error() {
        let spec = Dom0FdtSpec {
            ram: &[],
            vcpus: 1,
            bootargs: "",
            initrd: None,
            remove: &[],
            keep_device: None,
            xen: None,
        };
        assert_eq!(build(&[0u8; 100], &spec), Err(Dom0FdtError::BadHostTree));
    }

    /// On QEMU's real tree, what Halyard does not virtualise goes by its
    /// `compatible` (no list of paths in board data); the rest stays.
    #[test]
    fn the_its_and_the_pmu_go_by_compatible() {
        let qemu = include_bytes!("../../../../tests/fixtures/dtb/qemu-virt-gicv3.dtb");
        let ram = [PhysRange::new(0x4000_0000, 0x1000_0000)];
        let spec = Dom0FdtSpec {
            ram: &ram,
            vcpus: 1,
            bootargs: "",
            initrd: None,
            remove: &[],
            keep_device: None,
            xen: None,
        };
        let blob = build(qemu, &spec).unwrap();
        let f = fdt::Fdt::new(&blob).unwrap();
        assert!(f.find_node("/pmu").is_none());
        assert!(f.find_node("/intc@8000000/its@8080000").is_none());
        assert!(f.find_node("/intc@8000000").is_some());
        assert!(f.find_node("/pl031@9010000").is_some());
        assert!(f.find_node("/timer").is_some());
    }

    /// The i.MX 8M Plus EVK's upstream tree, as QEMU hands it over: one
    /// property name is longer than the spec's 31 characters; it is
    /// dropped, the rest is dom0's, without the UART Halyard keeps.
    #[test]
    fn the_imx8mp_evk_tree_is_rewritten_for_dom0() {
        let mut b =
            include_bytes!("../../../../tests/fixtures/dtb/imx8mp-evk-from-qemu.dtb").to_vec();
        crate::boot::dt_normalize::normalize(&mut b).unwrap();
        let ram = [PhysRange::new(0x4000_0000, 0x1000_0000)];
        let spec = Dom0FdtSpec {
            ram: &ram,
            vcpus: 4,
            bootargs: "console=hvc0",
            initrd: None,
            remove: &[],
            keep_device: Some(0x3089_0000),
            xen: Some(XenNode {
                grant: PhysRange::new(0x3800_0000, 0x1_0000),
                evtchn_intid: 31,
            }),
        };
        let blob = build(&b, &spec).unwrap();
        let f = fdt::Fdt::new(&blob).unwrap();
        assert_eq!(f.cpus().count(), 4);
        assert!(f.find_node("/soc@0/bus@30800000/serial@30890000").is_none());
        assert!(f.find_node("/soc@0/bus@30800000/serial@30860000").is_some());
        assert!(f.find_node("/hypervisor").is_some());
        assert_eq!(
            f.find_node("/psci")
                .unwrap()
                .property("method")
                .unwrap()
                .as_str(),
            Some("hvc")
        );
    }

    /// The Raspberry Pi 4's tree: cells of 2 and 1 at the root, devices
    /// behind /soc's ranges, CPUs started by spin-table, no /psci, and a
    /// GIC-400 with its hypervisor frames.
    #[test]
    fn the_rpi4_tree_is_rewritten_for_dom0() {
        let mut b =
            include_bytes!("../../../../tests/fixtures/dtb/bcm2711-rpi-4-b-from-qemu.dtb").to_vec();
        crate::boot::dt_normalize::normalize(&mut b).unwrap();
        let ram = [
            PhysRange::new(0x1000, 0x1f_f000),
            PhysRange::new(0x40_0000, 0x3b00_0000),
        ];
        let spec = Dom0FdtSpec {
            ram: &ram,
            vcpus: 4,
            bootargs: "console=hvc0",
            initrd: None,
            remove: &[],
            keep_device: Some(0xfe20_1000),
            xen: Some(XenNode {
                grant: PhysRange::new(0x3c00_0000, 0x1_0000),
                evtchn_intid: 31,
            }),
        };
        let blob = build(&b, &spec).unwrap();
        let f = fdt::Fdt::new(&blob).unwrap();
        let regions: Vec<_> = f
            .memory()
            .regions()
            .map(|r| (r.starting_address as u64, r.size.unwrap_or(0) as u64))
            .collect();
        assert_eq!(regions, [(0x1000, 0x1f_f000), (0x40_0000, 0x3b00_0000)]);
        let xen = f.find_node("/hypervisor").unwrap();
        let reg: Vec<_> = xen
            .reg()
            .unwrap()
            .map(|r| r.starting_address as u64)
            .collect();
        assert_eq!(reg, [0x3c00_0000]);
        for cpu in f.cpus() {
            let m = cpu.property("enable-method").and_then(|p| p.as_str());
            assert_eq!(m, Some("psci"));
            assert!(cpu.property("cpu-release-addr").is_none());
        }
        let psci = f.find_node("/psci").unwrap();
        assert_eq!(psci.property("method").unwrap().as_str(), Some("hvc"));
        // The kept PL011 is gone (found through the bus ranges), the mini-UART stays.
        assert!(f.find_node("/soc/serial@7e201000").is_none());
        assert!(f.find_node("/soc/serial@7e215040").is_some());
        let gic = f.find_node("/soc/interrupt-controller@40041000").unwrap();
        assert_eq!(gic.reg().unwrap().count(), 2);
    }
}
