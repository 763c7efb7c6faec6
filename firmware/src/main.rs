//! Halyard's secure-world test firmware for QEMU virt (secure=on): EL3 with
//! PSCI and an FF-A SPMC with test partitions, standing in for TF-A + an
//! SPMC so the hypervisor's FF-A support can be regression-tested.
#![no_std]
#![no_main]

mod console;
mod counters;
mod dtb_psci;
mod el3;
mod fw_cfg;
mod gic;
mod handoff;
mod knobs;
mod lock;
mod mmio;
mod partitions;
mod platform;
mod power;
mod psci;
mod smccc;
mod spmc;
mod sysreg;
mod topology;

use console::fwprintln;
use el3::{percpu, setup, start};

/// CPU 0, MMU on, .data/.bss ready.
pub extern "C" fn primary_main(cpu: u64) -> ! {
    let cpu = cpu as usize;
    percpu::init_this_cpu(cpu, start::stack_top(cpu));
    fwprintln!("Halyard secure firmware (EL3, PSCI 1.1, FF-A SPMC) for QEMU virt");
    percpu::detect_optional_el1();
    setup::configure_el3();
    fwprintln!("el3: MMU on, SCR_EL3 {:#x}", setup::SCR_NORMAL_WORLD);
    gic::init_distributor();
    let cpus = gic::init_redistributors();
    topology::set_cpu_count(cpus);
    fwprintln!(
        "gic: all interrupts Non-secure Group 1, {} redistributors woken",
        cpus
    );
    knobs::load();
    let ram = handoff::normal_world_ram_size();
    topology::set_ns_ram_size(ram);
    fwprintln!(
        "normal-world RAM: {} MiB at {:#x}",
        ram >> 20,
        platform::NS_RAM_BASE
    );
    psci::mark_boot_cpu_on();
    start::release_secondaries();
    fwprintln!("psci: {} CPUs, secondaries in the holding pen", cpus);
    handoff::boot_normal_world()
}

/// Other CPUs, after CPU 0 released them: MMU on, own stack.
pub extern "C" fn secondary_main(cpu: u64) -> ! {
    let cpu = cpu as usize;
    percpu::init_this_cpu(cpu, start::stack_top(cpu));
    setup::configure_el3();
    psci::holding_pen(cpu)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    console::print_line_unlocked(format_args!(
        "fw: PANIC on CPU {}: {}",
        sysreg::cpu_index(),
        info
    ));
    loop {
        sysreg::wfe();
    }
}
