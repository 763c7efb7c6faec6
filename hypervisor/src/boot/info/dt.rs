//! Boot information from the firmware's device tree: RAM banks and what
//! in them is reserved (memreserve entries, /reserved-memory children).

use crate::board::PhysRange;

pub const MAX_BANKS: usize = 16;
pub const MAX_RESERVED: usize = 32;
pub const MAX_CPUS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtError {
    Malformed,
    NoMemory,
    TooManyRegions,
}

/// A fixed-capacity list (usable before the heap exists).
#[derive(Clone, Copy, Debug)]
pub struct RangeList<const N: usize> {
    items: [PhysRange; N],
    len: usize,
}

impl<const N: usize> RangeList<N> {
    pub const fn new() -> Self {
        Self {
            items: [PhysRange::new(0, 0); N],
            len: 0,
        }
    }
    pub fn push(&mut self, r: PhysRange) -> Result<(), DtError> {
        if self.len == N {
            return Err(DtError::TooManyRegions);
        }
        self.items[self.len] = r;
        self.len += 1;
        Ok(())
    }
    pub fn as_slice(&self) -> &[PhysRange] {
        &self.items[..self.len]
    }
}

impl<const N: usize> Default for RangeList<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Copy, Debug)]
pub struct DtBootInfo {
    /// MPIDR affinity of each CPU, in /cpus order (CPU 0 boots).
    pub cpus: [u64; MAX_CPUS],
    /// Each CPU's spin-table `cpu-release-addr` (0: it has none).
    pub release_addrs: [u64; MAX_CPUS],
    pub nr_cpus: usize,
    pub ram: RangeList<MAX_BANKS>,
    pub reserved: RangeList<MAX_RESERVED>,
    /// The blob itself.
    pub dtb: PhysRange,
}

/// Read RAM banks and reservations from the DTB at `blob`.
pub fn parse(blob: &[u8], dtb_addr: u64) -> Result<DtBootInfo, DtError> {
    let fdt = fdt::Fdt::new(blob).map_err(|_| DtError::Malformed)?;
    let mut info = DtBootInfo {
        cpus: [0; MAX_CPUS],
        release_addrs: [0; MAX_CPUS],
        nr_cpus: 0,
        ram: RangeList::new(),
        reserved: RangeList::new(),
        dtb: PhysRange::new(dtb_addr, fdt.total_size() as u64),
    };
    let root = fdt.find_node("/").ok_or(DtError::Malformed)?;
    for node in root.children() {
        let is_memory = node.property("device_type").and_then(|p| p.as_str()) == Some("memory");
        // A disabled bank is not ours: QEMU virt with secure=on describes the
        // secure-only RAM as `secram@e000000`, status "disabled".
        if !is_memory || super::fdt_read::disabled_status(&node).is_some() {
            continue;
        }
        for r in node.reg().into_iter().flatten() {
            let size = r.size.unwrap_or(0) as u64;
            if size > 0 {
                info.ram.push(range(r.starting_address as u64, size)?)?;
            }
        }
    }
    if info.ram.as_slice().is_empty() {
        return Err(DtError::NoMemory);
    }
    let cpus = fdt
        .find_node("/cpus")
        .into_iter()
        .flat_map(|n| n.children());
    for cpu in cpus.filter(|c| c.property("device_type").and_then(|p| p.as_str()) == Some("cpu")) {
        if info.nr_cpus == MAX_CPUS {
            return Err(DtError::TooManyRegions);
        }
        let reg = cpu
            .property("reg")
            .and_then(|p| p.as_usize())
            .ok_or(DtError::Malformed)?;
        info.cpus[info.nr_cpus] = reg as u64;
        // One 64-bit value in two cells, whatever #address-cells says.
        info.release_addrs[info.nr_cpus] = cpu
            .property("cpu-release-addr")
            .filter(|p| p.value.len() == 8)
            .map_or(0, |p| {
                u64::from_be_bytes(p.value.try_into().unwrap_or_default())
            });
        info.nr_cpus += 1;
    }
    for m in fdt.memory_reservations() {
        info.reserved
            .push(range(m.address() as u64, m.size() as u64)?)?;
    }
    if let Some(rm) = fdt.find_node("/reserved-memory") {
        for child in rm.children() {
            for r in child.reg().into_iter().flatten() {
                info.reserved.push(range(
                    r.starting_address as u64,
                    r.size.unwrap_or(0) as u64,
                )?)?;
            }
        }
    }
    Ok(info)
}

/// A range the tree gives, refused unless its end is an address (below
/// 2^64): every later user computes the end.
fn range(base: u64, size: u64) -> Result<PhysRange, DtError> {
    base.checked_add(size).ok_or(DtError::Malformed)?;
    Ok(PhysRange::new(base, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_fdt::FdtWriter;

    fn blob(with_memory: bool) -> Vec<u8> {
        let mut w =
            FdtWriter::new_with_mem_reserv(&[
                vm_fdt::FdtReserveEntry::new(0x4800_0000, 0x1000).unwrap()
            ])
            .unwrap();
        let root = w.begin_node("").unwrap();
        w.property_u32("#address-cells", 2).unwrap();
        w.property_u32("#size-cells", 2).unwrap();
        let cpus = w.begin_node("cpus").unwrap();
        w.property_u32("#address-cells", 1).unwrap();
        w.property_u32("#size-cells", 0).unwrap();
        for reg in [0u32, 0x100] {
            let c = w.begin_node(&format!("cpu@{reg:x}")).unwrap();
            w.property_string("device_type", "cpu").unwrap();
            w.property_u32("reg", reg).unwrap();
            w.end_node(c).unwrap();
        }
        w.end_node(cpus).unwrap();
        if with_memory {
            let m = w.begin_node("memory@40000000").unwrap();
            w.property_string("device_type", "memory").unwrap();
            w.property_array_u64(
                "reg",
                &[0x4000_0000, 0x4000_0000, 0x1_0000_0000, 0x1000_0000],
            )
            .unwrap();
            w.end_node(m).unwrap();
            let s = w.begin_node("secram@e000000").unwrap();
            w.property_string("device_type", "memory").unwrap();
            w.property_string("status", "disabled").unwrap();
            w.property_string("secure-status", "okay").unwrap();
            w.property_array_u64("reg", &[0xe00_0000, 0x100_0000])
                .unwrap();
            w.end_node(s).unwrap();
        }
        let rm = w.begin_node("reserved-memory").unwrap();
        w.property_u32("#address-cells", 2).unwrap();
        w.property_u32("#size-cells", 2).unwrap();
        w.property_null("ranges").unwrap();
        let c = w.begin_node("secmon@4e000000").unwrap();
        w.property_array_u64("reg", &[0x4e00_0000, 0x20_0000])
            .unwrap();
        w.end_node(c).unwrap();
        w.end_node(rm).unwrap();
        w.end_node(root).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn reads_banks_and_reservations() {
        let b = blob(true);
        let info = parse(&b, 0x4400_0000).unwrap();
        assert_eq!(
            info.ram.as_slice(),
            &[
                PhysRange::new(0x4000_0000, 0x4000_0000),
                PhysRange::new(0x1_0000_0000, 0x1000_0000)
            ]
        );
        assert_eq!(
            info.reserved.as_slice(),
            &[
                PhysRange::new(0x4800_0000, 0x1000),
                PhysRange::new(0x4e00_0000, 0x20_0000)
            ]
        );
        assert_eq!(info.dtb, PhysRange::new(0x4400_0000, b.len() as u64));
        assert_eq!(&info.cpus[..info.nr_cpus], &[0, 0x100]);
    }

    #[test]
    fn reads_the_rpi4s_spin_table() {
        // As QEMU hands it over: it fills in /memory, which Debian's leaves
        // empty for the Pi's firmware (and leaves FDT_NOPs, as every tree
        // the hypervisor reads, squeezed out first).
        let mut b =
            include_bytes!("../../../../tests/fixtures/dtb/bcm2711-rpi-4-b-from-qemu.dtb").to_vec();
        crate::boot::dt_normalize::normalize(&mut b).unwrap();
        let info = parse(&b, 0).unwrap();
        assert_eq!(info.ram.as_slice(), &[PhysRange::new(0, 0x3c00_0000)]);
        assert_eq!(&info.cpus[..info.nr_cpus], &[0, 1, 2, 3]);
        assert_eq!(
            &info.release_addrs[..info.nr_cpus],
            &[0xd8, 0xe0, 0xe8, 0xf0]
        );
    }

    #[test]
    fn errors() {
        assert_eq!(parse(&blob(false), 0).unwrap_err(), DtError::NoMemory);
        assert_eq!(parse(&[0u8; 64], 0).unwrap_err(), DtError::Malformed);
    }

    /// A tree with one RAM bank and one reservation as given (written into
    /// the blob afterwards: vm-fdt refuses a reservation that wraps).
    fn with_ranges(bank: [u64; 2], reserved: [u64; 2]) -> Vec<u8> {
        let entry = vm_fdt::FdtReserveEntry::new(0x4800_0000, 0x1000).unwrap();
        let mut w = FdtWriter::new_with_mem_reserv(&[entry]).unwrap();
        let root = w.begin_node("").unwrap();
        w.property_u32("#address-cells", 2).unwrap();
        w.property_u32("#size-cells", 2).unwrap();
        let m = w.begin_node("memory").unwrap();
        w.property_string("device_type", "memory").unwrap();
        w.property_array_u64("reg", &bank).unwrap();
        w.end_node(m).unwrap();
        w.end_node(root).unwrap();
        let mut b = w.finish().unwrap();
        // The header's off_mem_rsvmap (offset 16) points at the entry.
        let at = u32::from_be_bytes(b[16..20].try_into().unwrap()) as usize;
        b[at..at + 8].copy_from_slice(&reserved[0].to_be_bytes());
        b[at + 8..at + 16].copy_from_slice(&reserved[1].to_be_bytes());
        b
    }

    #[test]
    fn ranges_past_the_top_of_the_address_space_are_malformed() {
        // Found by the device-tree fuzz target: such a bank reached dom0's
        // tree writer, whose end arithmetic overflowed.
        let top = u64::MAX - 0xfff;
        let fine = with_ranges([0x4000_0000, 0x1000], [0x4800_0000, 0x1000]);
        assert!(parse(&fine, 0).is_ok());
        let bank = with_ranges([top, 0x2000], [0x4800_0000, 0x1000]);
        assert_eq!(parse(&bank, 0).unwrap_err(), DtError::Malformed);
        let reservation = with_ranges([0x4000_0000, 0x1000], [top, 0x2000]);
        assert_eq!(parse(&reservation, 0).unwrap_err(), DtError::Malformed);
        // Ending exactly at the top too: its end (2^64) is not a u64, and
        // every user of a range computes the end.
        let at_top = with_ranges([top, 0x1000], [0x4800_0000, 0x1000]);
        assert_eq!(parse(&at_top, 0).unwrap_err(), DtError::Malformed);
        let below = with_ranges([top - 0x1000, 0x1000], [0x4800_0000, 0x1000]);
        assert_eq!(
            parse(&below, 0).unwrap().ram.as_slice(),
            &[PhysRange::new(top - 0x1000, 0x1000)]
        );
    }
}

/// The INTID of the (first) SPI of the device whose first `reg` address is
/// `base`, for a GIC with 3-cell interrupt specifiers.
pub fn device_spi(blob: &[u8], base: u64) -> Option<u32> {
    let fdt = fdt::Fdt::new(blob).ok()?;
    let (node, _) =
        crate::boot::fdt_read::find_translated(&fdt, &mut |_, r| r.first() == Some(base))?;
    let cells = node.property("interrupts")?.value;
    let word = |i: usize| crate::boot::fdt_read::be32(cells, i);
    // <type number flags>: type 0 = SPI, INTID = number + 32.
    (word(0)? == 0).then(|| word(1)?.checked_add(32))?
}

#[cfg(test)]
mod device_tests {
    #[test]
    fn finds_the_uart_spi() {
        let dtb = crate::boot::test_env::sample_host_dtb();
        assert_eq!(super::device_spi(&dtb, 0x0900_0000), Some(33));
        assert_eq!(super::device_spi(&dtb, 0x0800_0000), None);
        assert_eq!(super::device_spi(&[0; 64], 0x0900_0000), None);
    }
}
