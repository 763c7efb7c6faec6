//! Halyard's secure-world test firmware for QEMU virt (secure=on): EL3 with
//! PSCI and an FF-A SPMC with test partitions, standing in for TF-A + an
//! SPMC so the hypervisor's FF-A support can be regression-tested.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod console;
#[cfg(target_os = "none")]
mod counters;
#[cfg(target_os = "none")]
mod dtb_psci;
#[cfg(target_os = "none")]
mod el3;
#[cfg(target_os = "none")]
mod fw_cfg;
#[cfg(target_os = "none")]
mod gic;
#[cfg(target_os = "none")]
mod handoff;
#[cfg(target_os = "none")]
mod knobs;
#[cfg(target_os = "none")]
mod lock;
#[cfg(target_os = "none")]
mod mmio;
#[cfg(target_os = "none")]
mod partitions;
#[cfg(target_os = "none")]
mod platform;
#[cfg(target_os = "none")]
mod power;
#[cfg(target_os = "none")]
mod psci;
#[cfg(target_os = "none")]
mod smccc;
#[cfg(target_os = "none")]
mod spmc;
#[cfg(target_os = "none")]
mod sysreg;
#[cfg(target_os = "none")]
mod topology;

#[cfg(target_os = "none")]
use console::fwprintln;
#[cfg(target_os = "none")]
use el3::{percpu, setup, start};

/// CPU 0, MMU on, .data/.bss ready.
#[cfg(target_os = "none")]
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
#[cfg(target_os = "none")]
pub extern "C" fn secondary_main(cpu: u64) -> ! {
    let cpu = cpu as usize;
    percpu::init_this_cpu(cpu, start::stack_top(cpu));
    setup::configure_el3();
    psci::holding_pen(cpu)
}

#[cfg(target_os = "none")]
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

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("halyard-firmware is bare-metal EL3 firmware: image-builder builds it for boards with a secure_world");
    std::process::exit(2);
}
