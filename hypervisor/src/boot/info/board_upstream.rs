//! A BSP's data against its board's upstream device tree, for the BSP's
//! host test: a typo in board data fails CI, not a boot. Checks what the
//! boot check does (GIC and console, `board_check`) and more: the
//! redistributors, the maintenance and virtual-timer PPIs, the CPUs and how
//! they are started, RAM inside the window, the GIC inside what the
//! hypervisor keeps and the console inside the device windows.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::board::{Board, Firmware, InterruptController, PhysRange, Timer};
use crate::boot::board_check::{check, Expected, Message};
use crate::boot::fdt_read::{
    be32, find_compatible as node_by_compatible, find_translated, has_compatible,
};

fn words(v: &[u8]) -> Vec<u32> {
    (0..v.len() / 4).filter_map(|i| be32(v, i)).collect()
}

/// The PPIs (as INTIDs) of a node's `interrupts` (3-cell GIC specifiers).
fn ppis(node: &fdt::node::FdtNode<'_, '_>) -> Vec<u32> {
    let w = node
        .property("interrupts")
        .map(|p| words(p.value))
        .unwrap_or_default();
    w.chunks_exact(3)
        .filter(|s| s[0] == 1)
        .map(|s| 16 + s[1])
        .collect()
}

fn inside(r: &PhysRange, within: &[PhysRange]) -> bool {
    within
        .iter()
        .any(|w| w.base <= r.base && r.end() <= w.end())
}

/// Every way board `B`'s data disagrees with `dtb` (empty: none).
pub fn problems<B: Board>(dtb: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut msg = Message::new();
    let expected = Expected {
        board: B::NAME,
        gic: B::INTERRUPT_CONTROLLER,
        console: B::CONSOLE,
    };
    if !check(dtb, &expected, &mut msg) {
        out.push(String::from(msg.as_str()));
    }
    let Ok(fdt) = fdt::Fdt::new(dtb) else {
        return out;
    };
    // The frames in the order the binding lists them in `reg`.
    let (compatibles, frames): (&[&str], Vec<(&str, u64)>) = match B::INTERRUPT_CONTROLLER {
        InterruptController::GicV3 { gicd, gicr, .. } => {
            (&["arm,gic-v3"], alloc::vec![("GICD", gicd), ("GICR", gicr)])
        }
        InterruptController::GicV2 {
            gicd,
            gicc,
            gich,
            gicv,
            ..
        } => (
            crate::boot::fdt_read::GICV2_COMPATIBLES,
            alloc::vec![
                ("GICD", gicd),
                ("GICC", gicc),
                ("GICH", gich),
                ("GICV", gicv)
            ],
        ),
    };
    let maintenance_ppi = B::INTERRUPT_CONTROLLER.maintenance_ppi();
    let gic = find_translated(&fdt, &mut |n, _| has_compatible(n, compatibles));
    match gic {
        None => out.push(format!("no {} node", compatibles.join(" or "))),
        Some((gic, cpu_regs)) => {
            let regs: Vec<PhysRange> = cpu_regs
                .as_slice()
                .iter()
                .map(|&(base, size)| PhysRange::new(base, size))
                .collect();
            for (i, (name, base)) in frames.iter().enumerate() {
                if regs.get(i).map(|r| r.base) != Some(*base) {
                    out.push(format!("{name}: board {base:#x}, device tree {regs:x?}"));
                }
            }
            if let Some(r) = regs.iter().find(|r| !inside(r, B::HYPERVISOR_DEVICES)) {
                out.push(format!(
                    "GIC frame {:#x}+{:#x} is not among the hypervisor's devices",
                    r.base, r.size
                ));
            }
            if ppis(&gic) != [maintenance_ppi] {
                out.push(format!(
                    "maintenance PPI: board {maintenance_ppi}, device tree {:?}",
                    ppis(&gic)
                ));
            }
        }
    }
    let Timer::ArmGeneric { el1_virt_ppi } = B::TIMER;
    // arm,armv8-timer lists secure, non-secure, virtual, hypervisor.
    let timer = node_by_compatible(&fdt, "arm,armv8-timer").map(|t| ppis(&t));
    if timer.as_ref().and_then(|t| t.get(2)) != Some(&el1_virt_ppi) {
        out.push(format!(
            "virtual timer PPI: board {el1_virt_ppi}, device tree {timer:?}"
        ));
    }
    let console = PhysRange::new(B::CONSOLE.base(), 0x1000);
    if !inside(&console, B::DEVICE_WINDOWS) {
        out.push(String::from(
            "the console UART is outside the device windows",
        ));
    }
    let cpus: Vec<_> = fdt
        .find_node("/cpus")
        .into_iter()
        .flat_map(|n| n.children())
        .filter(|c| c.property("device_type").and_then(|p| p.as_str()) == Some("cpu"))
        .collect();
    if cpus.len() > B::MAX_CPUS {
        out.push(format!(
            "{} CPUs, the board says at most {}",
            cpus.len(),
            B::MAX_CPUS
        ));
    }
    let method = match B::FIRMWARE {
        Firmware::ArmPsciSmc => {
            let psci = fdt
                .find_node("/psci")
                .and_then(|p| p.property("method")?.as_str());
            if psci != Some("smc") {
                out.push(format!(
                    "PSCI over SMC: the device tree's /psci method is {psci:?}"
                ));
            }
            "psci"
        }
        Firmware::SpinTableBcm2835Pm { pm } => {
            let found = find_translated(&fdt, &mut |n, r| {
                r.first() == Some(pm) && has_compatible(n, &["brcm,bcm2835-pm-wdt"])
            });
            if found.is_none() {
                out.push(format!("no BCM2835 power management (watchdog) at {pm:#x}"));
            }
            for c in &cpus {
                if c.property("cpu-release-addr").is_none() {
                    out.push(format!("CPU {}: no cpu-release-addr", c.name));
                }
            }
            "spin-table"
        }
    };
    for c in &cpus {
        let m = c.property("enable-method").and_then(|p| p.as_str());
        if m != Some(method) {
            out.push(format!(
                "CPU {}: enable-method {m:?}, the board starts CPUs by {method}",
                c.name
            ));
        }
    }
    for r in fdt.memory().regions() {
        let bank = PhysRange::new(r.starting_address as u64, r.size.unwrap_or(0) as u64);
        if !inside(&bank, &[B::RAM_WINDOW]) {
            out.push(format!(
                "RAM {:#x}+{:#x} is outside the board's RAM window",
                bank.base, bank.size
            ));
        }
    }
    out
}
