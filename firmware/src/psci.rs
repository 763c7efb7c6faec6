//! PSCI 1.1 for the normal world, and the holding pen where CPUs that are
//! off wait for CPU_ON.

use crate::console::fwprintln;
use crate::el3::context::Frame;
use crate::el3::{percpu, setup, vectors};
use crate::platform::MAX_CPUS;
use crate::smccc::{self, NOT_SUPPORTED};
use crate::sysreg::{cpu_index, sev, wfe};
use crate::{counters, power, topology};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

pub const PSCI_VERSION: u32 = 0x8400_0000;
pub const CPU_OFF: u32 = 0x8400_0002;
pub const CPU_ON_32: u32 = 0x8400_0003;
pub const CPU_ON_64: u32 = 0xc400_0003;
pub const AFFINITY_INFO_32: u32 = 0x8400_0004;
pub const AFFINITY_INFO_64: u32 = 0xc400_0004;
pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
pub const SYSTEM_OFF: u32 = 0x8400_0008;
pub const SYSTEM_RESET: u32 = 0x8400_0009;
pub const PSCI_FEATURES: u32 = 0x8400_000a;

const VERSION_1_1: u64 = 0x1_0001;
const INVALID_PARAMETERS: i64 = -2;
const ALREADY_ON: i64 = -4;
const ON_PENDING: i64 = -5;
const INVALID_ADDRESS: i64 = -9;
/// MIGRATE_INFO_TYPE 2: no Trusted OS that needs migrating.
const NO_MIGRATION_NEEDED: u64 = 2;

/// Per-CPU power state as AFFINITY_INFO reports it.
const STATE_ON: u8 = 0;
const STATE_OFF: u8 = 1;
const STATE_ON_PENDING: u8 = 2;

#[allow(clippy::declare_interior_mutable_const)]
const OFF: AtomicU8 = AtomicU8::new(STATE_OFF);
#[allow(clippy::declare_interior_mutable_const)]
const ZERO64: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const NO: AtomicBool = AtomicBool::new(false);

static STATE: [AtomicU8; MAX_CPUS] = [OFF; MAX_CPUS];
/// The CPU_ON mailbox: entry point and context, then `GO` releases the pen.
static ENTRY: [AtomicU64; MAX_CPUS] = [ZERO64; MAX_CPUS];
static CONTEXT: [AtomicU64; MAX_CPUS] = [ZERO64; MAX_CPUS];
static GO: [AtomicBool; MAX_CPUS] = [NO; MAX_CPUS];

/// CPU 0 is on from reset; everybody else starts in the pen.
pub fn mark_boot_cpu_on() {
    STATE[0].store(STATE_ON, Ordering::Relaxed);
}

pub fn handle(frame: &mut Frame) {
    let id = frame.x[0] as u32;
    let is32 = id & 0x4000_0000 == 0;
    let arg = |n: usize| {
        if is32 {
            frame.x[n] & 0xffff_ffff
        } else {
            frame.x[n]
        }
    };
    let result: u64 = match id {
        PSCI_VERSION => VERSION_1_1,
        CPU_ON_32 | CPU_ON_64 => cpu_on(arg(1), arg(2), arg(3)) as u64,
        CPU_OFF => cpu_off(),
        AFFINITY_INFO_32 | AFFINITY_INFO_64 => affinity_info(arg(1), arg(2)) as u64,
        MIGRATE_INFO_TYPE => NO_MIGRATION_NEEDED,
        SYSTEM_OFF => {
            fwprintln!("PSCI SYSTEM_OFF from CPU {}", cpu_index());
            counters::print();
            power::off()
        }
        SYSTEM_RESET => {
            fwprintln!("PSCI SYSTEM_RESET from CPU {}", cpu_index());
            counters::print();
            power::reset()
        }
        PSCI_FEATURES => features(frame.x[1] as u32),
        _ => NOT_SUPPORTED,
    };
    frame.x[0] = result;
}

fn features(id: u32) -> u64 {
    match id {
        PSCI_VERSION
        | CPU_OFF
        | CPU_ON_32
        | CPU_ON_64
        | AFFINITY_INFO_32
        | AFFINITY_INFO_64
        | MIGRATE_INFO_TYPE
        | SYSTEM_OFF
        | SYSTEM_RESET
        | PSCI_FEATURES
        | smccc::SMCCC_VERSION => 0,
        _ => NOT_SUPPORTED,
    }
}

/// MPIDR → CPU index: QEMU virt gives CPU n Aff0 = n (n < 16 with GICv3).
fn cpu_from_mpidr(mpidr: u64) -> Option<usize> {
    let affinity = mpidr & 0xff_00ff_ffff;
    let cpu = (affinity & 0xff) as usize;
    if affinity >> 8 != 0 || cpu >= topology::cpu_count() {
        return None;
    }
    Some(cpu)
}

fn cpu_on(mpidr: u64, entry: u64, context: u64) -> i64 {
    let Some(cpu) = cpu_from_mpidr(mpidr) else {
        return INVALID_PARAMETERS;
    };
    if !topology::is_ns_ram(entry, 4) {
        return INVALID_ADDRESS;
    }
    match STATE[cpu].compare_exchange(
        STATE_OFF,
        STATE_ON_PENDING,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => {}
        Err(STATE_ON_PENDING) => return ON_PENDING,
        Err(_) => return ALREADY_ON,
    }
    ENTRY[cpu].store(entry, Ordering::Relaxed);
    CONTEXT[cpu].store(context, Ordering::Relaxed);
    GO[cpu].store(true, Ordering::Release);
    sev();
    0
}

fn cpu_off() -> u64 {
    let cpu = cpu_index();
    STATE[cpu].store(STATE_OFF, Ordering::Release);
    holding_pen(cpu)
}

fn affinity_info(mpidr: u64, lowest_level: u64) -> i64 {
    if lowest_level != 0 {
        return INVALID_PARAMETERS;
    }
    match cpu_from_mpidr(mpidr) {
        Some(cpu) => STATE[cpu].load(Ordering::Acquire) as i64,
        None => INVALID_PARAMETERS,
    }
}

/// Waits (WFE) until CPU_ON names this CPU, then enters the normal world at
/// EL2h at the given entry with x0 = context.
pub fn holding_pen(cpu: usize) -> ! {
    while !GO[cpu].swap(false, Ordering::Acquire) {
        wfe();
    }
    let entry = ENTRY[cpu].load(Ordering::Relaxed);
    let context = CONTEXT[cpu].load(Ordering::Relaxed);
    STATE[cpu].store(STATE_ON, Ordering::Release);
    enter_normal_world(entry, [context, 0, 0, 0])
}

/// Leaves EL3 for the normal world on this CPU (EL2h, DAIF masked).
pub fn enter_normal_world(entry: u64, args: [u64; 4]) -> ! {
    prepare_normal_world(entry, args);
    percpu::switch_to(percpu::normal_world());
    vectors::exit_to_current()
}

/// Sets up this CPU's normal-world context to start at `entry` (EL2h).
pub fn prepare_normal_world(entry: u64, args: [u64; 4]) {
    setup::reset_el2();
    let nw = percpu::normal_world();
    // SAFETY: the normal world's context belongs to this CPU and the normal
    // world is not running here, so nothing else refers to it.
    let frame = unsafe { &mut (*nw).frame };
    *frame = Frame::ZERO;
    frame.x[..4].copy_from_slice(&args);
    frame.elr = entry;
    frame.spsr = setup::SPSR_EL2H_MASKED;
    frame.scr = setup::SCR_NORMAL_WORLD;
}
