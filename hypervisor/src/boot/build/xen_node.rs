//! The `/hypervisor` node every domain's device tree gets (what Linux's
//! Xen support looks for: Documentation/devicetree/bindings/arm/xen.txt):
//! the interface version implemented, the grant-table frames as reg[0],
//! and the event-channel PPI (level, all CPUs).

use alloc::format;

use crate::board::PhysRange;
use crate::hypercall::xen::abi::{VERSION_MAJOR, VERSION_MINOR};

/// `interrupts` flags for a PPI to every CPU, level-sensitive (Xen's 0xf08).
const PPI_ALL_CPUS_LEVEL: u32 = 0xf08;

/// Write `/hypervisor`; `parent` is the interrupt controller's phandle when
/// the root does not already say it.
pub fn write(
    w: &mut vm_fdt::FdtWriter,
    grant: PhysRange,
    evtchn_intid: u32,
    parent: Option<u32>,
    root_cells: (usize, usize),
) -> Result<(), vm_fdt::Error> {
    let node = w.begin_node("hypervisor")?;
    let compat = format!("xen,xen-{VERSION_MAJOR}.{VERSION_MINOR}");
    w.property_string_list("compatible", alloc::vec![compat, "xen,xen".into()])?;
    let reg = crate::boot::fdt_read::encode_reg(&[grant], root_cells)
        .ok_or(vm_fdt::Error::InvalidMemoryReservation)?;
    w.property("reg", &reg)?;
    // The event PPI is always a PPI (INTID 16..31), so the cell is INTID - 16.
    let ppi = evtchn_intid.saturating_sub(16);
    w.property_array_u32("interrupts", &[1, ppi, PPI_ALL_CPUS_LEVEL])?;
    if let Some(parent) = parent {
        w.property_u32("interrupt-parent", parent)?;
    }
    w.end_node(node)
}
