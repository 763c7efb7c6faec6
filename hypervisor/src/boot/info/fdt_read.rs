//! Small readers over the `fdt` crate's nodes that several boot steps share
//! (the board check, dom0's tree, passthrough, the upstream check), and the
//! one encoder they pair with: `reg` in a parent's cell sizes.

/// The `compatible` strings of an Arm GICv2 with the virtualization
/// extensions, as device trees name it (a GIC-400; Linux binds QEMU's and
/// the GIC-400 as a Cortex-A15's or A7's).
pub const GICV2_COMPATIBLES: &[&str] = &["arm,gic-400", "arm,cortex-a15-gic", "arm,cortex-a7-gic"];

/// Big-endian cell `i` of a property value.
pub fn be32(v: &[u8], i: usize) -> Option<u32> {
    let b = v.get(i * 4..i * 4 + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// A one-cell property.
pub fn prop_u32(node: &fdt::node::FdtNode<'_, '_>, name: &str) -> Option<u32> {
    node.property(name)
        .filter(|p| p.value.len() == 4)
        .and_then(|p| be32(p.value, 0))
}

/// The address of the node's first `reg` range.
/// A node's `status` when it says the device is not there (anything but
/// "okay"/"ok"); `None` for an enabled node or one without a status.
pub fn disabled_status<'a>(node: &fdt::node::FdtNode<'_, 'a>) -> Option<&'a str> {
    node.property("status")
        .and_then(|p| p.as_str())
        .filter(|s| *s != "okay" && *s != "ok")
}

pub fn first_reg(node: &fdt::node::FdtNode<'_, '_>) -> Option<u64> {
    node.reg()?.next().map(|r| r.starting_address as u64)
}

/// Whether the node's `compatible` lists one of `list`.
pub fn has_compatible(node: &fdt::node::FdtNode<'_, '_>, list: &[&str]) -> bool {
    node.compatible()
        .is_some_and(|c| c.all().any(|s| list.contains(&s)))
}

/// The first node compatible with `c`.
pub fn find_compatible<'b, 'a>(
    fdt: &'b fdt::Fdt<'a>,
    c: &str,
) -> Option<fdt::node::FdtNode<'b, 'a>> {
    fdt.all_nodes().find(|n| has_compatible(n, &[c]))
}

/// A `reg` value for `ranges` with `(address, size)` cells per entry (1 or
/// 2 each, as the parent node says: the Raspberry Pi 4's root has 2 and 1).
/// A range too large for one size cell is split; `None` if an address does
/// not fit its cells.
pub fn encode_reg(
    ranges: &[crate::board::PhysRange],
    (address_cells, size_cells): (usize, usize),
) -> Option<alloc::vec::Vec<u8>> {
    let max_size = if size_cells == 1 {
        0xffff_f000
    } else {
        u64::MAX
    };
    let mut out = alloc::vec::Vec::new();
    let mut put = |v: u64, n: usize| -> Option<()> {
        match n {
            1 => out.extend_from_slice(&u32::try_from(v).ok()?.to_be_bytes()),
            2 => out.extend_from_slice(&v.to_be_bytes()),
            _ => return None,
        }
        Some(())
    };
    for r in ranges {
        let (mut base, mut left) = (r.base, r.size);
        while left > 0 {
            let size = left.min(max_size);
            put(base, address_cells)?;
            put(size, size_cells)?;
            left -= size;
            if left > 0 {
                // A range past the top of the address space has no encoding.
                base = base.checked_add(size)?;
            }
        }
    }
    Some(out)
}

/// Up to four `reg` ranges of a node as the CPU sees them: (address, size).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuRegs {
    regs: [(u64, u64); 4],
    n: usize,
}

impl CpuRegs {
    pub fn as_slice(&self) -> &[(u64, u64)] {
        &self.regs[..self.n]
    }
    pub fn first(&self) -> Option<u64> {
        self.as_slice().first().map(|r| r.0)
    }
}

/// A bus between a node and the CPU: its `ranges` (`None`: it has none, so
/// what sits on it is not CPU-addressable; empty: the identity), the cells
/// its children's addresses and sizes take, the cells its own parent's
/// addresses take, and the bus it sits on (`None`: the root, whose
/// children's addresses are the CPU's).
struct Bus<'p> {
    ranges: Option<&'p [u8]>,
    child_cells: (usize, usize),
    parent_address_cells: usize,
    up: Option<&'p Bus<'p>>,
}

/// `n` cells from cell `at` as one number (at most two cells).
fn cells(v: &[u8], at: usize, n: usize) -> Option<u64> {
    match n {
        1 => be32(v, at).map(u64::from),
        2 => Some(u64::from(be32(v, at)?) << 32 | u64::from(be32(v, at + 1)?)),
        _ => None,
    }
}

/// `addr` on `bus` as a CPU address.
fn to_cpu(bus: Option<&Bus<'_>>, addr: u64) -> Option<u64> {
    let Some(b) = bus else {
        return Some(addr);
    };
    let ranges = b.ranges?;
    let (ca, cs) = b.child_cells;
    let pa = b.parent_address_cells;
    let entry = ca + pa + cs;
    let mapped = if ranges.is_empty() {
        addr
    } else {
        (0..ranges.len() / 4 / entry.max(1)).find_map(|i| {
            let child = cells(ranges, i * entry, ca)?;
            let parent = cells(ranges, i * entry + ca, pa)?;
            let size = cells(ranges, i * entry + ca + pa, cs)?;
            (child <= addr && addr - child < size).then(|| parent + (addr - child))
        })?
    };
    to_cpu(b.up, mapped)
}

/// The first node, depth first, for which `want` holds, given its `reg`
/// translated through the `ranges` of every bus above it (a range that
/// does not translate is left out). Needs no heap: the board check runs
/// before there is one.
pub fn find_translated<'b, 'a>(
    fdt: &'b fdt::Fdt<'a>,
    want: &mut dyn FnMut(&fdt::node::FdtNode<'b, 'a>, &CpuRegs) -> bool,
) -> Option<(fdt::node::FdtNode<'b, 'a>, CpuRegs)> {
    search(fdt.find_node("/")?, true, 0, None, want)
}

/// Search below `node`, which sits on bus `on` whose addresses take
/// `parent_address_cells` cells.
fn search<'b, 'a>(
    node: fdt::node::FdtNode<'b, 'a>,
    is_root: bool,
    parent_address_cells: usize,
    on: Option<&Bus<'_>>,
    want: &mut dyn FnMut(&fdt::node::FdtNode<'b, 'a>, &CpuRegs) -> bool,
) -> Option<(fdt::node::FdtNode<'b, 'a>, CpuRegs)> {
    let c = node.cell_sizes();
    let (ca, cs) = (c.address_cells, c.size_cells);
    let bus = Bus {
        ranges: node.property("ranges").map(|p| p.value),
        child_cells: (ca, cs),
        parent_address_cells,
        up: on,
    };
    // The root's children's addresses are the CPU's.
    let children_on = if is_root { None } else { Some(&bus) };
    for child in node.children() {
        let mut regs = CpuRegs::default();
        if let Some(reg) = child.property("reg").map(|p| p.value) {
            let entry = (ca + cs).max(1);
            for i in 0..(reg.len() / 4 / entry).min(4) {
                let Some(a) = cells(reg, i * entry, ca) else {
                    continue;
                };
                let size = if cs == 0 {
                    Some(0)
                } else {
                    cells(reg, i * entry + ca, cs)
                };
                if let (Some(cpu), Some(size)) = (to_cpu(children_on, a), size) {
                    regs.regs[regs.n] = (cpu, size);
                    regs.n += 1;
                }
            }
        }
        if want(&child, &regs) {
            return Some((child, regs));
        }
        if let Some(found) = search(child, false, ca, children_on, want) {
            return Some(found);
        }
    }
    None
}

#[cfg(test)]
mod translation_tests {
    use super::*;

    const RPI4: &[u8] = include_bytes!("../../../../tests/fixtures/dtb/bcm2711-rpi-4-b.dtb");
    const VIRT: &[u8] = include_bytes!("../../../../tests/fixtures/dtb/qemu-virt-gicv3.dtb");

    fn at<'b, 'a>(fdt: &'b fdt::Fdt<'a>, compatible: &str) -> CpuRegs {
        find_translated(fdt, &mut |n, _| has_compatible(n, &[compatible]))
            .unwrap()
            .1
    }

    #[test]
    fn the_rpi4s_gic_and_uart_are_found_through_the_soc_ranges() {
        let fdt = fdt::Fdt::new(RPI4).unwrap();
        // Bus 0x40041000.. and 0x7e201000 behind /soc's ranges.
        assert_eq!(
            at(&fdt, "arm,gic-400").as_slice(),
            [
                (0xff84_1000, 0x1000),
                (0xff84_2000, 0x2000),
                (0xff84_4000, 0x2000),
                (0xff84_6000, 0x2000)
            ]
        );
        let uart = find_translated(&fdt, &mut |n, r| {
            r.first() == Some(0xfe20_1000) && n.property("compatible").is_some()
        });
        assert_eq!(uart.map(|(n, _)| n.name), Some("serial@7e201000"));
    }

    #[test]
    fn root_level_devices_keep_their_addresses() {
        let fdt = fdt::Fdt::new(VIRT).unwrap();
        assert_eq!(at(&fdt, "arm,pl011").first(), Some(0x0900_0000));
        assert_eq!(at(&fdt, "arm,gic-v3").first(), Some(0x0800_0000));
    }
}

#[cfg(test)]
mod encode_tests {
    use super::encode_reg;
    use crate::board::PhysRange;

    #[test]
    fn a_range_is_split_where_one_cell_of_size_cannot_hold_it() {
        let r = [PhysRange::new(0x1_0000_0000, 0x1_0000_0000)];
        let out = encode_reg(&r, (2, 1)).unwrap();
        let words: Vec<u32> = out
            .chunks(4)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(words, [1, 0, 0xffff_f000, 1, 0xffff_f000, 0x1000]);
    }

    #[test]
    fn ranges_at_and_past_the_top_of_the_address_space() {
        // Ending exactly at 2^64 encodes; wrapping past it (a hostile
        // firmware tree's bank, found by fuzzing) is refused, not an
        // overflow.
        let top = PhysRange::new(0xffff_ffff_0000_0000, 0x1_0000_0000);
        assert!(encode_reg(&[top], (2, 1)).is_some());
        let wraps = PhysRange::new(u64::MAX - 0xfff, 0x2_0000_0000);
        assert_eq!(encode_reg(&[wraps], (2, 1)), None);
    }
}
