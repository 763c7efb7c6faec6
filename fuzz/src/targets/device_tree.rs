//! Hostile device trees through the hypervisor's boot path: the structural
//! check every firmware tree goes through first (`dt_normalize`), then every
//! reader of the normalised tree (RAM, CPUs, reservations, the board check
//! for each board kind, a device's SPI, boot-loader modules) and the writer
//! that rewrites it for dom0.

use hypervisor::board::{ConsoleDevice, InterruptController, PhysRange};
use hypervisor::boot::board_check::{self, Expected, Message};
use hypervisor::boot::dom0_fdt::{self, Dom0FdtSpec, XenNode};
use hypervisor::boot::{dt, dt_normalize, handover, module_rules};

pub const TARGET: crate::Target = crate::Target {
    name: "device-tree",
    about: "firmware DTB: normalise, boot info, board check, loader modules, dom0 tree writer",
    run,
};

const BOARDS: [Expected; 3] = [
    Expected {
        board: "qemu-virt",
        gic: InterruptController::GicV3 {
            gicd: 0x0800_0000,
            gicr: 0x080a_0000,
            maintenance_ppi: 25,
        },
        console: ConsoleDevice::Pl011 { base: 0x0900_0000 },
    },
    Expected {
        board: "rpi4",
        gic: InterruptController::GicV2 {
            gicd: 0xff84_1000,
            gicc: 0xff84_2000,
            gich: 0xff84_4000,
            gicv: 0xff84_6000,
            maintenance_ppi: 25,
        },
        console: ConsoleDevice::Pl011 { base: 0xfe20_1000 },
    },
    Expected {
        board: "imx8mp-evk",
        gic: InterruptController::GicV3 {
            gicd: 0x3880_0000,
            gicr: 0x3888_0000,
            maintenance_ppi: 25,
        },
        console: ConsoleDevice::ImxUart { base: 0x3089_0000 },
    },
];

fn run(data: &[u8]) {
    let mut blob = data.to_vec();
    if dt_normalize::normalize(&mut blob).is_err() {
        return;
    }
    let info = dt::parse(&blob, 0x4000_0000);
    for e in &BOARDS {
        let mut msg = Message::new();
        let _ = board_check::check(&blob, e, &mut msg);
        let _ = msg.as_str();
        let _ = dt::device_spi(&blob, console_base(e));
    }
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
        remove: &["/pmu", "/intc@8000000/its@8080000", "/soc/serial@fe201000"],
        keep_device: Some(0x0900_0000),
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
