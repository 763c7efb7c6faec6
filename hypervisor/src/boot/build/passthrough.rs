//! Devices passed through to a domain that is not the hardware domain
//! (the signed table's device section), checked at boot against the host's
//! device tree and against what the hypervisor keeps; and the copy of each
//! device's node that goes into the domain's device tree.
//!
//! A device is given whole: its MMIO pages are mapped 1:1 into the domain's
//! stage 2, its SPIs are linked 1:1 to the same virtual INTIDs of the
//! domain's virtual GIC, and the hardware domain loses all three (node,
//! mapping, interrupt). The table already guarantees that no two domains
//! share a device, a page or a line; here the table's ranges and lines must
//! be the node's own, and none may be the hypervisor's. A device that fails
//! refuses its domain.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::board::PhysRange;
use crate::boot::fdt_read::{be32, has_compatible, prop_u32};
use crate::mm::frames::PAGE_SIZE;
use image_format::{DeviceEntry, ModuleTable};

/// A device-tree node as copied into a domain's tree: its name, its
/// properties (already rewritten) and its children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopiedNode {
    pub name: String,
    pub props: Vec<(String, Vec<u8>)>,
    pub children: Vec<CopiedNode>,
}

/// One device a domain gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestDevice {
    pub path: String,
    pub mmio: Vec<PhysRange>,
    /// SPI INTIDs, linked 1:1.
    pub irqs: Vec<u32>,
    pub node: CopiedNode,
}

/// Everything a domain is given: its devices, and the fixed clocks they
/// name (copied with phandles of the domain's tree).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceSet {
    pub devices: Vec<GuestDevice>,
    pub clocks: Vec<CopiedNode>,
}

impl DeviceSet {
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    pub fn irqs(&self) -> impl Iterator<Item = u32> + '_ {
        self.devices.iter().flat_map(|d| d.irqs.iter().copied())
    }

    pub fn mmio(&self) -> impl Iterator<Item = PhysRange> + '_ {
        self.devices.iter().flat_map(|d| d.mmio.iter().copied())
    }
}

/// Phandles the domain's tree uses before the clocks: the GIC's.
pub const FIRST_CLOCK_PHANDLE: u32 = 2;

/// What the hypervisor keeps for itself.
pub struct Kept<'a> {
    pub mmio: &'a [PhysRange],
    pub irqs: &'a [u32],
}

/// A device that cannot be given, and why; its domain is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub domain: u16,
    pub path: String,
    pub why: String,
}

/// The outcome of checking the table's devices.
#[derive(Debug, Default)]
pub struct Checked {
    /// Per domain id, what it gets (only domains whose devices all passed).
    pub sets: Vec<(u16, DeviceSet)>,
    pub refused: Vec<Refusal>,
    /// Every device the table gives away, whatever became of its domain:
    /// the hardware domain gets none of them.
    pub withheld: Withheld,
}

/// What the hardware domain must not get.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Withheld {
    pub paths: Vec<String>,
    pub mmio: Vec<PhysRange>,
    pub irqs: Vec<u32>,
}

impl Checked {
    /// The devices of domain `id` (empty if it has none).
    pub fn take(&mut self, id: u16) -> DeviceSet {
        match self.sets.iter().position(|(d, _)| *d == id) {
            Some(i) => self.sets.swap_remove(i).1,
            None => DeviceSet::default(),
        }
    }

    pub fn refusal(&self, id: u16) -> Option<&Refusal> {
        self.refused.iter().find(|r| r.domain == id)
    }
}

/// Check every device of `table` against the host tree `host_dtb` and what
/// the hypervisor keeps.
pub fn check(table: &ModuleTable<'_>, host_dtb: &[u8], kept: &Kept<'_>) -> Checked {
    let mut out = Checked::default();
    let fdt = fdt::Fdt::new(host_dtb).ok();
    for dev in table.devices() {
        out.withheld.paths.push(dev.path.to_string());
        out.withheld
            .mmio
            .extend(dev.mmio().map(|(b, s)| PhysRange::new(b, s)));
        out.withheld.irqs.extend(dev.irqs());
        if out.refusal(dev.domain).is_some() {
            continue;
        }
        let at = match out.sets.iter().position(|(d, _)| *d == dev.domain) {
            Some(i) => i,
            None => {
                out.sets.push((dev.domain, DeviceSet::default()));
                out.sets.len() - 1
            }
        };
        let result = match &fdt {
            None => Err("the host device tree cannot be read".to_string()),
            Some(f) => one(f, &dev, kept, &mut out.sets[at].1),
        };
        if let Err(why) = result {
            // The domain is refused: none of its devices are given.
            out.sets.swap_remove(at);
            out.refused.push(Refusal {
                domain: dev.domain,
                path: dev.path.to_string(),
                why,
            });
        }
    }
    out
}

fn parent_path(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Check one device and add it to `set`.
fn one(
    fdt: &fdt::Fdt<'_>,
    dev: &DeviceEntry<'_>,
    kept: &Kept<'_>,
    set: &mut DeviceSet,
) -> Result<(), String> {
    let node = fdt
        .find_node(dev.path)
        .ok_or("no such node in the host device tree")?;
    if let Some(status) = crate::boot::info::fdt_read::disabled_status(&node) {
        return Err(format!("the host device tree says status \"{status}\""));
    }
    let mmio: Vec<PhysRange> = dev.mmio().map(|(b, s)| PhysRange::new(b, s)).collect();
    let irqs: Vec<u32> = dev.irqs().collect();
    let host_regs = regs(fdt, dev.path, &node)?;
    check_mmio(&mmio, &host_regs)?;
    let host_irqs = spis(fdt, dev.path, &node)?;
    if !same_set(&irqs, &host_irqs) {
        return Err(format!(
            "the table gives interrupts {irqs:?}, the host device tree {host_irqs:?}"
        ));
    }
    for r in &mmio {
        if let Some(k) = kept.mmio.iter().find(|k| overlaps(k, r)) {
            return Err(format!(
                "MMIO {:#x}+{:#x} is the hypervisor's own ({:#x}+{:#x})",
                r.base, r.size, k.base, k.size
            ));
        }
    }
    if let Some(i) = irqs.iter().find(|i| kept.irqs.contains(i)) {
        return Err(format!("interrupt {i} is the hypervisor's own"));
    }
    if set.devices.iter().any(|d| d.node.name == node.name) {
        return Err(format!(
            "the domain already has a device named {}",
            node.name
        ));
    }
    let copied = copy(fdt, &node, &host_regs, set, 0)?;
    set.devices.push(GuestDevice {
        path: dev.path.to_string(),
        mmio,
        irqs,
        node: copied,
    });
    Ok(())
}

fn overlaps(a: &PhysRange, b: &PhysRange) -> bool {
    a.base < b.end() && b.base < a.end()
}

fn same_set(a: &[u32], b: &[u32]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

/// The node's `reg` as host-physical ranges. Its parents must not
/// translate addresses (no bus with a non-empty `ranges` on the way up).
fn regs(
    fdt: &fdt::Fdt<'_>,
    path: &str,
    node: &fdt::node::FdtNode<'_, '_>,
) -> Result<Vec<PhysRange>, String> {
    let parent = parent_path(path);
    let mut up = parent;
    while up != "/" {
        let bus = fdt.find_node(up).ok_or("a parent node is missing")?;
        if bus.property("ranges").is_some_and(|r| !r.value.is_empty()) {
            return Err(format!(
                "its bus {up} translates addresses ('ranges'), which Halyard does not follow yet"
            ));
        }
        up = parent_path(up);
    }
    let p = fdt.find_node(parent).ok_or("its parent node is missing")?;
    let ac = prop_u32(&p, "#address-cells").unwrap_or(2) as usize;
    let sc = prop_u32(&p, "#size-cells").unwrap_or(1) as usize;
    if !(1..=2).contains(&ac) || !(1..=2).contains(&sc) {
        return Err("its parent's #address-cells/#size-cells are not 1 or 2".into());
    }
    let Some(v) = node.property("reg").map(|p| p.value) else {
        return Ok(Vec::new());
    };
    let stride = ac + sc;
    if v.len() % (stride * 4) != 0 {
        return Err("its 'reg' does not match its parent's cell sizes".into());
    }
    let read = |at: usize, n: usize| {
        (0..n).try_fold(0u64, |acc, i| Some(acc << 32 | u64::from(be32(v, at + i)?)))
    };
    (0..v.len() / (stride * 4))
        .map(|i| {
            let base = read(i * stride, ac).ok_or("bad 'reg'")?;
            let size = read(i * stride + ac, sc).ok_or("bad 'reg'")?;
            base.checked_add(size)
                .filter(|_| size > 0)
                .map(|_| PhysRange::new(base, size))
                .ok_or_else(|| "an empty or wrapping 'reg' range".to_string())
        })
        .collect()
}

/// The table's ranges must be the node's `reg` ranges rounded out to whole
/// pages, each once.
fn check_mmio(table: &[PhysRange], host: &[PhysRange]) -> Result<(), String> {
    let pages = |r: &PhysRange| {
        let base = r.base & !(PAGE_SIZE - 1);
        PhysRange::new(base, (r.end() - base).next_multiple_of(PAGE_SIZE))
    };
    let host: Vec<PhysRange> = host.iter().map(pages).collect();
    let fmt = |l: &[PhysRange]| {
        l.iter()
            .map(|r| format!("{:#x}+{:#x}", r.base, r.size))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let covered = |a: &[PhysRange], b: &[PhysRange]| a.iter().all(|r| b.contains(r));
    if covered(table, &host) && covered(&host, table) {
        Ok(())
    } else {
        Err(format!(
            "the table gives MMIO [{}], the host device tree's 'reg' is [{}]",
            fmt(table),
            fmt(&host)
        ))
    }
}

/// The node's interrupts as SPI INTIDs: they must go to the GIC the root
/// names (three cells: type 0 = SPI, number, flags).
fn spis(
    fdt: &fdt::Fdt<'_>,
    path: &str,
    node: &fdt::node::FdtNode<'_, '_>,
) -> Result<Vec<u32>, String> {
    if node.property("interrupts-extended").is_some() {
        return Err("'interrupts-extended' is not supported".into());
    }
    let Some(v) = node.property("interrupts").map(|p| p.value) else {
        return Ok(Vec::new());
    };
    let root_parent = fdt
        .find_node("/")
        .and_then(|r| prop_u32(&r, "interrupt-parent"));
    let mut at = path;
    let parent = loop {
        let n = fdt.find_node(at).ok_or("a parent node is missing")?;
        if let Some(p) = prop_u32(&n, "interrupt-parent") {
            break Some(p);
        }
        if at == "/" {
            break None;
        }
        at = parent_path(at);
    };
    let gic = parent.filter(|p| Some(*p) == root_parent);
    let cells = gic
        .and_then(|p| fdt.find_phandle(p))
        .and_then(|g| prop_u32(&g, "#interrupt-cells"));
    if cells != Some(3) {
        return Err("its interrupts do not go to the GIC".into());
    }
    if v.len() % 12 != 0 {
        return Err("its 'interrupts' is not a list of 3-cell GIC specifiers".into());
    }
    (0..v.len() / 12)
        .map(|i| {
            let (kind, n) = (be32(v, i * 3).unwrap_or(1), be32(v, i * 3 + 1).unwrap_or(0));
            if kind != 0 || n > 987 {
                return Err(format!(
                    "interrupt <{kind} {n}> is not an SPI; only SPIs can be passed through"
                ));
            }
            Ok(32 + n)
        })
        .collect()
}

/// Properties that name other nodes by phandle; without those nodes in the
/// domain's tree they would dangle, so they are dropped (with a warning).
fn refers_elsewhere(name: &str) -> bool {
    matches!(
        name,
        "resets"
            | "reset-names"
            | "power-domains"
            | "dmas"
            | "dma-names"
            | "iommus"
            | "phys"
            | "phy-names"
            | "msi-parent"
            | "pinctrl-names"
            | "assigned-clocks"
            | "assigned-clock-parents"
            | "assigned-clock-rates"
    ) || name.starts_with("pinctrl-")
        || name.ends_with("-supply")
        || name.ends_with("-gpios")
}

/// Copy `node` (depth 0: the device; deeper: its children) for the
/// domain's tree: `reg` re-encoded for the root's 2/2 cells, clocks
/// pointing at copies of the host's fixed clocks, the interrupt parent
/// left to the root (the domain's GIC), and phandles the tree would not
/// resolve dropped.
fn copy(
    fdt: &fdt::Fdt<'_>,
    node: &fdt::node::FdtNode<'_, '_>,
    host_regs: &[PhysRange],
    set: &mut DeviceSet,
    depth: usize,
) -> Result<CopiedNode, String> {
    if depth > 4 {
        return Err("its node nests too deep".into());
    }
    let mut out = CopiedNode {
        name: node.name.to_string(),
        ..Default::default()
    };
    for p in node.properties() {
        let value = match p.name {
            "phandle" | "linux,phandle" | "interrupt-parent" => continue,
            "reg" if depth == 0 => host_regs
                .iter()
                .flat_map(|r| [r.base, r.size])
                .flat_map(u64::to_be_bytes)
                .collect(),
            "clocks" => clocks(fdt, p.value, set)?,
            n if refers_elsewhere(n) => {
                crate::info!(
                    "device {}: property '{n}' names a host node the domain does not get; dropped",
                    node.name
                );
                continue;
            }
            _ => p.value.to_vec(),
        };
        out.props.push((p.name.to_string(), value));
    }
    for child in node.children() {
        out.children.push(copy(fdt, &child, &[], set, depth + 1)?);
    }
    Ok(out)
}

/// A `clocks` list rewritten to the domain's phandles. Only fixed clocks
/// (a frequency, nothing to program) can be given to a domain; each is
/// copied once per domain.
fn clocks(fdt: &fdt::Fdt<'_>, value: &[u8], set: &mut DeviceSet) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for i in 0..value.len() / 4 {
        let host = be32(value, i).unwrap_or(0);
        let clock = fdt
            .find_phandle(host)
            .ok_or(format!("clock phandle {host:#x} names no node"))?;
        let fixed = has_compatible(&clock, &["fixed-clock"]);
        if !fixed || prop_u32(&clock, "#clock-cells") != Some(0) {
            return Err(format!(
                "its clock {} is not a fixed clock; Halyard gives a domain only fixed clocks",
                clock.name
            ));
        }
        let index = match set.clocks.iter().position(|c| c.name == clock.name) {
            Some(i) => i,
            None => {
                let phandle = FIRST_CLOCK_PHANDLE + set.clocks.len() as u32;
                let mut props: Vec<(String, Vec<u8>)> = clock
                    .properties()
                    .filter(|p| !matches!(p.name, "phandle" | "linux,phandle"))
                    .map(|p| (p.name.to_string(), p.value.to_vec()))
                    .collect();
                props.push(("phandle".into(), phandle.to_be_bytes().to_vec()));
                set.clocks.push(CopiedNode {
                    name: clock.name.to_string(),
                    props,
                    children: Vec::new(),
                });
                set.clocks.len() - 1
            }
        };
        out.extend_from_slice(&(FIRST_CLOCK_PHANDLE + index as u32).to_be_bytes());
    }
    Ok(out)
}

/// A device of a domain that lands on something of the domain's own
/// address map (`reserved`: its RAM, virtual GIC, UART, grant frames) or
/// one of its virtual interrupts: what it collides with.
pub fn clash(
    set: &DeviceSet,
    reserved: &[(PhysRange, &str)],
    irqs: &[(u32, &str)],
) -> Option<String> {
    for d in &set.devices {
        for r in &d.mmio {
            if let Some((_, what)) = reserved.iter().find(|(g, _)| overlaps(g, r)) {
                return Some(format!(
                    "device {}: MMIO {:#x}+{:#x} lies on the domain's {what}",
                    d.path, r.base, r.size
                ));
            }
        }
        if let Some((i, what)) = irqs.iter().find(|(i, _)| d.irqs.contains(i)) {
            return Some(format!(
                "device {}: interrupt {i} is the domain's {what}",
                d.path
            ));
        }
    }
    None
}

#[cfg(test)]
#[path = "passthrough_tests.rs"]
mod tests;
