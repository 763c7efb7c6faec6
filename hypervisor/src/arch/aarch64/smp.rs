//! Secondary CPUs: each vCPU runs pinned on its own physical CPU. The first
//! CPU_ON of a vCPU starts its physical CPU through the firmware's PSCI, or
//! on a board without PSCI by releasing it from its spin table; a CPU whose
//! vCPU turned off parks and waits to be started again.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use aarch64_cpu::registers::*;

use super::{firmware, host_gic, vcpu};
use crate::domain::Domain;
use crate::info;
use crate::mm::frames::{FrameAllocator, PAGE_SIZE};
use crate::percpu::PerCpu;

const STACK_SIZE: u64 = 32 * 1024;
const PSCI_CPU_ON_64: u64 = 0xc400_0003;

/// What a secondary CPU needs before its MMU is on, then the Rust function
/// it continues in and that function's argument. The first six fields'
/// layout is shared with the entry code below.
#[repr(C)]
struct CpuBoot<T> {
    stack_top: u64,
    mair: u64,
    tcr: u64,
    ttbr0: u64,
    sctlr: u64,
    main: extern "C" fn(&CpuBoot<T>) -> !,
    then: T,
}

impl<T> CpuBoot<T> {
    /// This CPU's EL2 translation settings, for a CPU that continues in
    /// `main` on the stack ending at `stack_top`.
    fn new(stack_top: u64, main: extern "C" fn(&CpuBoot<T>) -> !, then: T) -> Self {
        CpuBoot {
            stack_top,
            mair: MAIR_EL2.get(),
            tcr: TCR_EL2.get(),
            ttbr0: TTBR0_EL2.get(),
            sctlr: SCTLR_EL2.get(),
            main,
            then,
        }
    }

    /// Start physical CPU `pcpu` (affinity `mpidr`) at this record; the
    /// PSCI result (0: started).
    fn start(&self, pcpu: usize, mpidr: u64) -> i64 {
        let at = self as *const Self as usize;
        // The new CPU reads this with its MMU (and caches) off.
        super::cache::clean_range(at, at + core::mem::size_of::<Self>());
        if !firmware::has_psci() {
            return release_from_spin_table(pcpu, at as u64);
        }
        firmware::smc([
            PSCI_CPU_ON_64,
            mpidr,
            halyard_secondary_entry as *const () as u64,
            at as u64,
        ])[0] as i64
    }
}

/// A CPU that will run a vCPU.
struct VcpuStart {
    domain: &'static Domain,
    vcpu: usize,
    pcpu: usize,
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
    ldr     x1, [x19, #40]
    blr     x1
1:  wfe
    b       1b
"#
);

// A CPU released from its spin table starts here with x0..x3 zero: the
// record to continue with is in `SPIN_RECORD` (read with the MMU off).
core::arch::global_asm!(
    r#"
    .section .text, "ax"
    .global halyard_spin_table_entry
halyard_spin_table_entry:
    adrp    x0, {record}
    add     x0, x0, :lo12:{record}
    ldr     x0, [x0]
    b       halyard_secondary_entry
"#,
    record = sym SPIN_RECORD,
);

unsafe extern "C" {
    fn halyard_secondary_entry();
    fn halyard_spin_table_entry();
}

/// The record the next CPU released from its spin table continues with.
static SPIN_RECORD: AtomicU64 = AtomicU64::new(0);
/// The record the last such CPU arrived with (set once its MMU is on).
static SPIN_ARRIVED: AtomicU64 = AtomicU64::new(0);
/// One release at a time: they share `SPIN_RECORD`.
static SPIN_LOCK: spin::Mutex<()> = spin::Mutex::new(());
/// Each CPU's spin-table release address (0: none).
static RELEASE_ADDRS: PerCpu<AtomicU64> = PerCpu::new();
const SPIN_ARRIVAL_TIMEOUT_US: u64 = 1_000_000;

/// Release physical CPU `pcpu` from its spin table into the record at
/// `record`; 0 once it has arrived, -1 (PSCI's NOT_SUPPORTED) without a
/// release address, -5 (INTERNAL_FAILURE) if it never arrives.
fn release_from_spin_table(pcpu: usize, record: u64) -> i64 {
    let Some(release) = RELEASE_ADDRS
        .get(pcpu)
        .map(|a| a.load(Ordering::Acquire))
        .filter(|&a| a != 0)
    else {
        return -1;
    };
    let _one_at_a_time = SPIN_LOCK.lock();
    SPIN_RECORD.store(record, Ordering::Release);
    let rec = SPIN_RECORD.as_ptr() as usize;
    super::cache::clean_range(rec, rec + 8);
    let entry = halyard_spin_table_entry as *const () as u64;
    // SAFETY: the release address the device tree names for this CPU: a
    // reserved, mapped word of RAM only its spin loop reads.
    unsafe { core::ptr::write_volatile(release as *mut u64, entry) };
    super::cache::clean_range(release as usize, release as usize + 8);
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::SY);
    aarch64_cpu::asm::sev();
    let t0 = super::boot::now_us();
    while SPIN_ARRIVED.load(Ordering::Acquire) != record {
        if super::boot::now_us() - t0 > SPIN_ARRIVAL_TIMEOUT_US {
            return -5;
        }
        core::hint::spin_loop();
    }
    0
}

/// A CPU released from its spin table is running on its record at `boot`.
fn arrived<T>(boot: &CpuBoot<T>) {
    SPIN_ARRIVED.store(boot as *const _ as u64, Ordering::Release);
}

/// Physical CPUs' MPIDRs (CPU i runs vCPU i).
static HOST_CPUS: spin::Once<Vec<u64>> = spin::Once::new();
static ONLINE: PerCpu<AtomicBool> = PerCpu::new();

/// The physical CPUs (MPIDRs) and their spin-table release addresses (0:
/// none; only used on a board without PSCI).
pub fn init(host_cpus: &[u64], release_addrs: &[u64]) {
    HOST_CPUS.call_once(|| host_cpus.to_vec());
    RELEASE_ADDRS.init(host_cpus.len(), || AtomicU64::new(0));
    ONLINE.init(host_cpus.len(), || AtomicBool::new(false));
    for (slot, &a) in RELEASE_ADDRS.iter().zip(release_addrs) {
        slot.store(a, Ordering::Release);
    }
    if let Some(boot_cpu) = ONLINE.get(0) {
        boot_cpu.store(true, Ordering::Release);
    }
}

/// MPIDR of physical CPU `pcpu`.
pub fn host_mpidr(pcpu: usize) -> Option<u64> {
    HOST_CPUS.get().and_then(|c| c.get(pcpu)).copied()
}

/// Get vCPU `index` of `d` running after a successful CPU_ON. Returns the
/// PSCI result for the caller.
pub fn start_vcpu(d: &'static Domain, index: usize) -> i64 {
    let Some((pcpu, online)) = d.pcpu(index).and_then(|p| Some((p, ONLINE.get(p)?))) else {
        d.power.cpu_off(index);
        return -2;
    };
    if online.load(Ordering::Acquire) {
        // Parked in `run_when_started`: it sees the start request once woken.
        aarch64_cpu::asm::sev();
        return 0;
    }
    let Some(mpidr) = host_mpidr(pcpu) else {
        d.power.cpu_off(index);
        return -2;
    };
    let Ok(stack) = super::boot::alloc_frames(STACK_SIZE) else {
        d.power.cpu_off(index);
        info!("d{}: no memory for vCPU {index}'s stack", d.id);
        return -6;
    };
    let boot = Box::leak(Box::new(CpuBoot::new(
        stack + STACK_SIZE,
        vcpu_cpu_main,
        VcpuStart {
            domain: d,
            vcpu: index,
            pcpu,
        },
    )));
    online.store(true, Ordering::Release);
    let rc = boot.start(pcpu, mpidr);
    if rc != 0 {
        online.store(false, Ordering::Release);
        d.power.cpu_off(index);
        info!("d{}: firmware CPU_ON of CPU {mpidr:#x} failed ({rc})", d.id);
        return -6;
    }
    0
}

extern "C" fn vcpu_cpu_main(boot: &CpuBoot<VcpuStart>) -> ! {
    arrived(boot);
    if let Err(why) = host_gic::init_this_cpu(boot.then.pcpu) {
        let aff = MPIDR_EL1.get() & 0xff_00ff_ffff;
        info!("CPU {aff:#x}: {why}; parking");
        vcpu::halt()
    }
    super::vgic_hw::lrs_reset(boot.then.pcpu);
    super::vgic_hw::enable_local();
    let (domain, vcpu) = (boot.then.domain, boot.then.vcpu);
    run_when_started(domain, vcpu, boot.stack_top as usize)
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

const PSCI_CPU_OFF: u64 = 0x8400_0002;
const PSCI_AFFINITY_INFO_64: u64 = 0xc400_0004;
const AFFINITY_OFF: u64 = 1;
/// How long helpers may take to finish after the boot CPU has, and then to
/// power off.
const FINISH_TIMEOUT_US: u64 = 10_000_000;
const OFF_TIMEOUT_US: u64 = 1_000_000;

/// A CPU lent to boot-time work: it runs `task`, counts itself in
/// `finished` and hands itself back to the firmware.
struct HelperStart<'a> {
    task: &'a (dyn Fn() + Sync),
    finished: Arc<AtomicU64>,
}

extern "C" fn helper_cpu_main(boot: &CpuBoot<HelperStart<'_>>) -> ! {
    arrived(boot);
    // SIMD untrapped: the boot-time module hashes use it (no guest state yet).
    CPTR_EL2.set(vcpu::CPTR);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    (boot.then.task)();
    boot.then.finished.fetch_add(1, Ordering::Release);
    // Returns only if the firmware refused; the boot CPU's wait then times
    // out and it keeps this CPU's stack.
    firmware::smc([PSCI_CPU_OFF, 0, 0, 0]);
    vcpu::halt()
}

fn affinity_off(mpidr: u64) -> bool {
    firmware::smc([PSCI_AFFINITY_INFO_64, mpidr, 0, 0])[0] == AFFINITY_OFF
}

/// Physical CPUs lent to boot-time work (see [`start_helpers`]). They use
/// the task and their records until they count themselves finished:
/// [`Helpers::finish`] waits for that and for them to power off; dropping
/// a `Helpers` unfinished still waits for the first.
#[must_use = "helper CPUs must be finished before their task goes away"]
pub struct Helpers<'a> {
    started: Vec<(u64, u64, Box<CpuBoot<HelperStart<'a>>>)>,
    finished: Arc<AtomicU64>,
}

/// Start `task` on every physical CPU other than this one, before any
/// guest runs; it keeps running there while this CPU goes on. A CPU that
/// fails to start (or is already on) is simply not used; `task` must cope
/// with any number of runners, including none.
pub fn start_helpers<'a>(frames: &mut FrameAllocator, task: &'a (dyn Fn() + Sync)) -> Helpers<'a> {
    let finished = Arc::new(AtomicU64::new(0));
    let mut started = Vec::new();
    // A CPU released from a spin table cannot be handed back: without
    // PSCI the boot CPU works alone.
    let cpus = match HOST_CPUS.get() {
        Some(c) if firmware::has_psci() => &c[..],
        _ => &[][..],
    };
    for (pcpu, &mpidr) in cpus.iter().enumerate().skip(1) {
        let Ok(stack) = frames.alloc(STACK_SIZE, PAGE_SIZE) else {
            break;
        };
        let boot = Box::new(CpuBoot::new(
            stack + STACK_SIZE,
            helper_cpu_main,
            HelperStart {
                task,
                finished: finished.clone(),
            },
        ));
        if boot.start(pcpu, mpidr) == 0 {
            started.push((mpidr, stack, boot));
        } else {
            let _ = frames.free(stack, STACK_SIZE);
        }
    }
    Helpers { started, finished }
}

impl Helpers<'_> {
    /// How many other CPUs took the task.
    pub fn count(&self) -> usize {
        self.started.len()
    }

    /// Spin until every helper has counted itself finished. One that never
    /// does stops the boot: it may still be using the task and its record.
    fn wait_finished(&self) {
        let t0 = super::boot::now_us();
        while self.finished.load(Ordering::Acquire) < self.started.len() as u64 {
            if super::boot::now_us() - t0 > FINISH_TIMEOUT_US {
                info!("a boot helper CPU never finished its work: halting");
                vcpu::halt();
            }
            core::hint::spin_loop();
        }
    }

    /// Wait until every helper has finished its task and is powered off
    /// again (so that vCPUs can start those CPUs later as usual).
    pub fn finish(mut self, frames: &mut FrameAllocator) {
        self.wait_finished();
        // After that only their stacks are in use, until they are off.
        let t0 = super::boot::now_us();
        while !self
            .started
            .iter()
            .all(|(mpidr, _, _)| affinity_off(*mpidr))
        {
            if super::boot::now_us() - t0 > OFF_TIMEOUT_US {
                info!("boot helper CPUs did not power off; keeping their stacks");
                self.started.clear();
                return;
            }
            core::hint::spin_loop();
        }
        for (_, stack, _) in self.started.drain(..) {
            let _ = frames.free(stack, STACK_SIZE);
        }
    }
}

impl Drop for Helpers<'_> {
    fn drop(&mut self) {
        self.wait_finished();
    }
}

/// Run `task` on this CPU and on every other physical CPU at once, before
/// any guest runs, and wait for all of them. Returns how many CPUs took
/// part.
pub fn on_all_cpus(frames: &mut FrameAllocator, task: &(dyn Fn() + Sync)) -> usize {
    let helpers = start_helpers(frames, task);
    task();
    let n = helpers.count() + 1;
    helpers.finish(frames);
    n
}
