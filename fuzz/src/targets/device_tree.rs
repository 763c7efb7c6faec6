//! Hostile device trees through the hypervisor's boot path: the structural
//! check every firmware tree goes through first (`dt_normalize`), then every
//! reader of the normalised tree (RAM, CPUs, reservations, the board check
//! against board data the input gives, a device's SPI, boot-loader
//! modules) and the writer that rewrites it for dom0.

use hypervisor::board::{ConsoleDevice, InterruptController, PhysRange};
use hypervisor::boot::board_check::{self, Expected, Message};
use hypervisor::boot::dom0_fdt::{self, Dom0FdtSpec, XenNode};
use hypervisor::boot::{dt, dt_normalize, handover, module_rules};

pub const TARGET: crate::Target = crate::Target {
    name: "device-tree",
    about: "firmware DTB: normalise, boot info, board check, loader modules, dom0 tree writer",
    run,
};

/// What a board's data says, from the input's first 17 bytes: bit 0 of
/// the first picks GICv3 or GICv2, bit 1 a PL011 or an i.MX UART, then the
/// distributor's and the UART's addresses (u64 LE). Board data itself stays
/// in bsp/: the fuzzer finds the addresses a tree has through its
/// comparison tracing.
fn expected(head: &[u8; 17]) -> Expected {
    let word = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().unwrap());
    let (gicd, uart) = (word(1), word(9));
    let gic = if head[0] & 1 == 0 {
        InterruptController::GicV3 {
            gicd,
            gicr: 0,
            maintenance_ppi: 25,
        }
    } else {
        InterruptController::GicV2 {
            gicd,
            gicc: 0,
            gich: 0,
            gicv: 0,
            maintenance_ppi: 25,
        }
    };
    let console = if head[0] & 2 == 0 {
        ConsoleDevice::Pl011 { base: uart }
    } else {
        ConsoleDevice::ImxUart { base: uart }
    };
    Expected {
        board: "fuzzed",
        gic,
        console,
    }
}

fn run(data: &[u8]) {
    let Some((head, tree)) = data.split_first_chunk::<17>() else {
        return;
    };
    let board = expected(head);
    let mut blob = tree.to_vec();
    if dt_normalize::normalize(&mut blob).is_err() {
        return;
    }
    let info = dt::parse(&blob, 0x4000_0000);
    let mut msg = Message::new();
    let _ = board_check::check(&blob, &board, &mut msg);
    let _ = msg.as_str();
    let _ = dt::device_spi(&blob, console_base(&board));
    if let Ok(mods) = handover::modules(&blob) {
        let _ = module_rules::pick_hardware(&mods);
    }
    let _ = handover::module_ranges(&blob);
    let ram: Vec<PhysRange> = match &info {
        Ok(i) if !i.ram.as_slice().is_empty() => i.ram.as_slice().to_vec(),
        _ => vec![PhysRange::new(0x4000_0000, 0x800_0000)],
    };
    let spec = Dom0FdtSpec {
        ram: &ram,
        vcpus: 2,
        bootargs: "console=hvc0",
        initrd: Some(PhysRange::new(0x4800_0000, 0x1000)),
        remove: &["/pmu", "/timer"],
        keep_device: Some(console_base(&board)),
        xen: Some(XenNode {
            grant: PhysRange::new(0x3800_0000, 0x4000),
            evtchn_intid: 31,
        }),
    };
    if let Ok(out) = dom0_fdt::build(&blob, &spec) {
        // What dom0 gets must itself be a well-formed tree.
        let mut again = out.clone();
        assert!(
            dt_normalize::normalize(&mut again).is_ok(),
            "the dom0 tree written from a valid host tree is malformed"
        );
    }
}

fn console_base(e: &Expected) -> u64 {
    match e.console {
        ConsoleDevice::Pl011 { base } | ConsoleDevice::ImxUart { base } => base,
    }
}
