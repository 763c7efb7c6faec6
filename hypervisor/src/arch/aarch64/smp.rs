//! Secondary CPUs: each vCPU runs pinned on its own physical CPU. The first
//! CPU_ON of a vCPU starts its physical CPU through the firmware's PSCI; a
//! CPU whose vCPU turned off parks and waits to be started again.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use aarch64_cpu::registers::*;

use super::{firmware, gic_cpu, vcpu};
use crate::domain::Domain;
use crate::drivers::gicv3::Redistributor;
use crate::info;

const STACK_SIZE: u64 = 32 * 1024;
const PSCI_CPU_ON_64: u64 = 0xc400_0003;
const MAX_CPUS: usize = crate::boot::dt::MAX_CPUS;

/// What a secondary CPU needs before its MMU is on; layout shared with
/// the entry code below.
#[repr(C)]
struct CpuBoot {
    stack_top: u64,
    mair: u64,
    tcr: u64,
    ttbr0: u64,
    sctlr: u64,
    domain: &'static Domain,
    vcpu: u64,
}

core::arch::global_asm!(
    r#"
    .section .text, "ax"
    .global halyard_secondary_entry
halyard_secondary_entry:
    msr     daifset, #0xf
    mov     x19, x0
    ldr     x1, [x0, #0]
    mov     sp, x1
    ldr     x1, [x0, #8]
    msr     mair_el2, x1
    ldr     x1, [x0, #16]
    msr     tcr_el2, x1
    ldr     x1, [x0, #24]
    msr     ttbr0_el2, x1
    isb
    tlbi    alle2
    dsb     nsh
    ic      iallu
    dsb     nsh
    isb
    ldr     x1, [x0, #32]
    msr     sctlr_el2, x1
    isb
    adrp    x1, halyard_el2_vectors
    add     x1, x1, :lo12:halyard_el2_vectors
    msr     vbar_el2, x1
    isb
    mov     x0, x19
    bl      halyard_secondary_main
1:  wfe
    b       1b
"#
);

unsafe extern "C" {
    fn halyard_secondary_entry();
}

/// Physical CPUs' MPIDRs (CPU i runs vCPU i) and the redistributor base.
static HOST_CPUS: spin::Once<Vec<u64>> = spin::Once::new();
static GICR: AtomicU64 = AtomicU64::new(0);
static ONLINE: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

pub fn init(host_cpus: &[u64], gicr: u64) {
    HOST_CPUS.call_once(|| host_cpus.to_vec());
    GICR.store(gicr, Ordering::Release);
    ONLINE[0].store(true, Ordering::Release);
}

/// MPIDR of physical CPU `index` (which runs vCPU `index`).
pub fn host_mpidr(index: usize) -> Option<u64> {
    HOST_CPUS.get().and_then(|c| c.get(index)).copied()
}

/// Get vCPU `index` of `d` running after a successful CPU_ON. Returns the
/// PSCI result for the caller.
pub fn start_vcpu(d: &'static Domain, index: usize) -> i64 {
    if index >= MAX_CPUS {
        return -2;
    }
    if ONLINE[index].load(Ordering::Acquire) {
        // Parked in `park`: it sees the start request once woken.
        aarch64_cpu::asm::sev();
        return 0;
    }
    let Some(&mpidr) = HOST_CPUS.get().and_then(|c| c.get(index)) else {
        d.power.cpu_off(index);
        return -2;
    };
    let Ok(stack) = super::boot::alloc_frames(STACK_SIZE) else {
        d.power.cpu_off(index);
        info!("d{}: no memory for vCPU {index}'s stack", d.id);
        return -6;
    };
    let boot = Box::leak(Box::new(CpuBoot {
        stack_top: stack + STACK_SIZE,
        mair: MAIR_EL2.get(),
        tcr: TCR_EL2.get(),
        ttbr0: TTBR0_EL2.get(),
        sctlr: SCTLR_EL2.get(),
        domain: d,
        vcpu: index as u64,
    }));
    let at = boot as *const CpuBoot as usize;
    // The new CPU reads this with its MMU (and caches) off.
    super::cache::clean_range(at, at + core::mem::size_of::<CpuBoot>());
    ONLINE[index].store(true, Ordering::Release);
    let rc = firmware::smc([
        PSCI_CPU_ON_64,
        mpidr,
        halyard_secondary_entry as *const () as u64,
        at as u64,
    ])[0] as i64;
    if rc != 0 {
        ONLINE[index].store(false, Ordering::Release);
        d.power.cpu_off(index);
        info!("d{}: firmware CPU_ON of CPU {mpidr:#x} failed ({rc})", d.id);
        return -6;
    }
    0
}

#[unsafe(no_mangle)]
extern "C" fn halyard_secondary_main(boot: &'static CpuBoot) -> ! {
    let aff = MPIDR_EL1.get() & 0xff_00ff_ffff;
    // SAFETY: the board's redistributor region, mapped as device memory.
    match unsafe { Redistributor::find(GICR.load(Ordering::Acquire) as usize, aff) } {
        Some(rd) => rd.init(),
        None => {
            info!("CPU {aff:#x}: no GICv3 redistributor; parking");
            vcpu::halt()
        }
    }
    gic_cpu::init();
    super::vgic_glue::enable_local();
    run_when_started(boot.domain, boot.vcpu as usize, boot.stack_top as usize)
}

/// Wait (in low power) for a start request for vCPU `index`, then run it.
pub fn run_when_started(d: &'static Domain, index: usize, stack_top: usize) -> ! {
    loop {
        if let Some(req) = d.power.take_start(index) {
            vcpu::run(d, index, req.entry, req.context, stack_top)
        }
        aarch64_cpu::asm::wfe();
    }
}
