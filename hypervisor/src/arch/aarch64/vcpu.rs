//! Running a domain's vCPU on this CPU: EL1 reset state, the EL2 controls
//! that confine it, entry, and what happens when it stops.

use aarch64_cpu::registers::*;

use super::vectors::{self, TrapFrame};
use super::{cache, firmware, stage2};
use crate::domain::fault_policy::{self, Verdict};
use crate::domain::{self, Domain};
use crate::info;
use crate::percpu::PerCpu;

/// HCR_EL2: stage-2 on (VM), set/way cleans upgraded (SWIO), physical
/// IRQ/FIQ/SError to EL2 (FMO/IMO/AMO), barriers upgraded to inner
/// shareable (BSU=IS), SMC trapped (TSC), set/way ops trapped (TSW), EL1 is
/// AArch64 (RW), pointer-auth keys and instructions not trapped (APK, API).
/// TLB maintenance is not forced to broadcast (FB): vCPU i only ever runs
/// on CPU i, so a guest's local TLBI reaches every TLB that can hold its
/// entries, as on bare metal (under TCG a broadcast TLBI halts every vCPU).
const HCR: u64 = (1 << 0)
    | (1 << 1)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 10)
    | (1 << 19)
    | (1 << 22)
    | (1 << 31)
    | (1 << 40)
    | (1 << 41);
/// CPTR_EL2 (non-VHE): RES1 bits (13, 9, 7:0) with FP/SIMD, SVE (TZ, bit 8)
/// and SME (TSM, bit 12) not trapped. Each vCPU owns its physical CPU, so
/// the guest's FP/SVE/SME state never needs switching; the hypervisor
/// itself is built without FP.
pub const CPTR: u64 = (1 << 13) | (1 << 9) | 0xff;
/// ZCR_EL2 / SMCR_EL2 LEN: the largest vector length (clamped by hardware).
const MAX_VL: u64 = 0xf;
/// SCTLR_EL1 out of reset: MMU and caches off, RES1 bits set.
const SCTLR_EL1_RESET: u64 = 0x30d0_0800;
/// SPSR: EL1h with all of DAIF masked, as the Linux boot protocol wants.
const SPSR_EL1H_MASKED: u64 = 0x3c5;

/// The vCPU a physical CPU runs (one, pinned).
pub struct Vcpu {
    pub domain: &'static Domain,
    pub index: usize,
    /// The physical CPU (the domain's pinning of `index`).
    pub pcpu: usize,
    /// Top of this CPU's EL2 stack.
    pub stack_top: usize,
}

static SLOTS: PerCpu<spin::Once<Vcpu>> = PerCpu::new();

/// Size the per-CPU vCPU slots and start frames for a board with `cpus` CPUs.
pub fn init_cpus(cpus: usize) {
    SLOTS.init(cpus, spin::Once::new);
    START_FRAMES.init(cpus, || spin::Mutex::new(TrapFrame::ZERO));
}

/// The vCPU this CPU runs.
pub fn current_vcpu() -> &'static Vcpu {
    // SAFETY: TPIDR_EL2 is set by `run` to a `Vcpu` in a static slot
    // before the guest can trap.
    unsafe { &*(TPIDR_EL2.get() as *const Vcpu) }
}

/// The domain whose vCPU this CPU runs.
pub fn current() -> &'static Domain {
    current_vcpu().domain
}

/// Start vCPU `index` of `d` on this CPU at `entry` with x0 = `arg0`; the
/// EL2 stack restarts at `stack_top`.
pub fn run(d: &'static Domain, index: usize, entry: u64, arg0: u64, stack_top: usize) -> ! {
    // A vCPU always runs on its pinned physical CPU, with the same stack:
    // one slot per CPU, filled on its first start and reused after
    // CPU_OFF/CPU_ON.
    let slots = d
        .pcpu(index)
        .and_then(|p| Some((p, SLOTS.get(p)?, START_FRAMES.get(p)?)));
    let Some((pcpu, slot, start_frame)) = slots else {
        info!("d{}: vCPU {index} has no CPU slot", d.id);
        halt()
    };
    let v = slot.call_once(|| Vcpu {
        domain: d,
        index,
        pcpu,
        stack_top,
    });
    if !core::ptr::eq(v.domain, d) || v.index != index || v.stack_top != stack_top {
        info!(
            "CPU {pcpu} already runs another vCPU; refusing d{}v{index}",
            d.id
        );
        halt()
    }
    TPIDR_EL2.set(v as *const Vcpu as u64);
    SCTLR_EL1.set(SCTLR_EL1_RESET);
    VBAR_EL1.set(0);
    CPACR_EL1.set(0);
    TCR_EL1.set(0);
    TTBR0_EL1.set(0);
    TTBR1_EL1.set(0);
    MAIR_EL1.set(0);
    CNTKCTL_EL1.set(0);
    // The vCPU's affinity (bit 31 is RES1).
    VMPIDR_EL2.set((1 << 31) | (d.power.mpidr(index) & 0xff_00ff_ffff));
    // SAFETY: VPIDR_EL2 only sets what the guest reads as MIDR_EL1.
    unsafe {
        core::arch::asm!("mrs {t}, midr_el1", "msr vpidr_el2, {t}", t = out(reg) _, options(nostack))
    };
    // The guest may use the EL1 physical timer and counter directly.
    CNTHCTL_EL2.set(0b11);
    CNTVOFF_EL2.set(0);
    CPTR_EL2.set(CPTR);
    allow_vector_extensions();
    stage2::configure();
    stage2::activate(d.stage2.root, d.id.wrapping_add(1));
    HCR_EL2.set(HCR);
    cache::flush_guest_tlb();

    // The guest's timers start off (a rebooted domain's old ones may still
    // be armed), and the GIC state of whatever ran here before goes.
    CNTV_CTL_EL0.set(0);
    CNTP_CTL_EL0.set(0);
    super::vgic_hw::fresh_cpu(pcpu);
    super::vgic_hw::entry(d, index);
    let _ = d.notice_line(
        super::traps::counter_ns(),
        format_args!(
            "d{}v{index} ({}): starting at {entry:#x}, x0 {arg0:#x}",
            d.id, d.name
        ),
    );
    let frame: *const TrapFrame = {
        let mut f = start_frame.lock();
        *f = TrapFrame::ZERO;
        f.x[0] = arg0;
        f.elr = entry;
        f.spsr = SPSR_EL1H_MASKED;
        &*f
    };
    // SAFETY: the frame is in this CPU's own slot (only physical
    // CPU `index` runs vCPU `index`), not on the stack being reset, and
    // nothing writes the slot again before `enter` has loaded it; EL1 and
    // stage-2 state were set up above.
    unsafe { vectors::enter(&*frame, stack_top) }
}

/// Each CPU's first guest register state, for `vectors::enter`: one slot
/// per CPU, allocated once at boot rather than a heap frame per start, so
/// that a guest cycling CPU_OFF/CPU_ON cannot exhaust the hypervisor's heap.
static START_FRAMES: PerCpu<spin::Mutex<TrapFrame>> = PerCpu::new();

/// The current domain asked for SYSTEM_OFF (or SYSTEM_RESET).
pub fn power_off_requested(reset: bool) -> ! {
    let d = current();
    let what = if reset {
        "PSCI SYSTEM_RESET"
    } else {
        "PSCI SYSTEM_OFF"
    };
    lifecycle(d, reset, format_args!("{what}"));
    lifecycle(
        d,
        reset,
        format_args!("{}", d.exits.summary(CNTFRQ_EL0.get())),
    );
    stop(d, reset)
}

/// The current domain asked Xen's SCHEDOP_shutdown to power off or reboot.
pub fn shutdown_requested(reboot: bool) -> ! {
    let d = current();
    let what = if reboot { "reboot" } else { "poweroff" };
    lifecycle(d, reboot, format_args!("SCHEDOP_shutdown ({what})"));
    lifecycle(
        d,
        reboot,
        format_args!("{}", d.exits.summary(CNTFRQ_EL0.get())),
    );
    stop(d, reboot)
}

/// A line about domain `d` stopping or resetting. A domU's resets come
/// within its notice budget (a reset loop must not flood the console); a
/// stop for good, or the board's reset by the hardware domain, happens once
/// and is always said.
fn lifecycle(d: &Domain, reset: bool, what: core::fmt::Arguments<'_>) {
    if reset && !d.hardware {
        let _ = d.notice(super::traps::counter_ns(), what);
    } else {
        info!("d{}: {what}", d.id);
    }
}

/// Let the guest use SVE and SME at their full vector lengths, where the
/// CPU has them (the registers do not exist otherwise).
fn allow_vector_extensions() {
    let sve = (ID_AA64PFR0_EL1.get() >> 32) & 0xf != 0;
    let sme = (ID_AA64PFR1_EL1.get() >> 24) & 0xf;
    if sve {
        // SAFETY: ZCR_EL2 (S3_4_C1_C2_0) exists with SVE; it only limits
        // the vector length lower ELs see.
        unsafe { core::arch::asm!("msr S3_4_C1_C2_0, {}", in(reg) MAX_VL, options(nostack)) };
    }
    if sme != 0 {
        let smfr0: u64;
        // SAFETY: ID_AA64SMFR0_EL1 (S3_0_C0_C4_5) is a read-only ID register.
        unsafe {
            core::arch::asm!("mrs {}, S3_0_C0_C4_5", out(reg) smfr0, options(nomem, nostack))
        };
        // FA64 (bit 31) if the CPU has it; EZT0 (bit 30) with SME2.
        let fa64 = if smfr0 >> 63 != 0 { 1 << 31 } else { 0 };
        let ezt0 = if sme >= 2 { 1 << 30 } else { 0 };
        // SAFETY: SMCR_EL2 (S3_4_C1_C2_6) exists with SME; it only sets
        // what lower ELs may use of SME.
        unsafe {
            core::arch::asm!("msr S3_4_C1_C2_6, {}", in(reg) MAX_VL | fa64 | ezt0, options(nostack))
        };
    }
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// PSCI CPU_OFF from the current vCPU: park this CPU until CPU_ON.
pub fn cpu_off() -> ! {
    let v = current_vcpu();
    v.domain.power.cpu_off(v.index);
    super::smp::run_when_started(v.domain, v.index, v.stack_top)
}

/// The current vCPU faulted inside its own exception vectors: stop it, or
/// its domain if it was the last one running (`domain::fault_policy`).
pub fn stop_no_progress(what: &str, pc: u64, vbar: u64) -> ! {
    let v = current_vcpu();
    let d = v.domain;
    let verdict = fault_policy::verdict(&d.power, v.index);
    let outcome = match verdict {
        Verdict::StopVcpu => "vCPU stopped",
        Verdict::CrashDomain => "it was the last running vCPU: domain crashed",
    };
    info!(
        "d{}: vCPU {}: {what} at PC {pc:#x} inside its own exception vectors (VBAR_EL1 {vbar:#x}): no forward progress; {outcome}",
        d.id, v.index
    );
    match verdict {
        Verdict::StopVcpu => cpu_off(),
        Verdict::CrashDomain => {
            info!("d{}: {}", d.id, d.exits.summary(CNTFRQ_EL0.get()));
            stop(d, false)
        }
    }
}

/// Stop the current domain for good.
pub fn stop_current() -> ! {
    stop(current(), false)
}

fn stop(d: &Domain, reset: bool) -> ! {
    super::ffa_glue::domain_stopped(d);
    if reset && !d.hardware {
        reboot(d);
    }
    d.shut_down();
    d.flush_notices();
    // Its devices' lines go quiet with it.
    super::vgic_hw::release_devices(d);
    if domain::machine_should_stop(d) {
        info!("{}", super::boot::memory_use());
        info!(
            "{}",
            if reset {
                "resetting the board"
            } else {
                "powering off the board"
            }
        );
        crate::console::flush();
        let rc = if reset {
            firmware::system_reset()
        } else {
            firmware::system_off()
        };
        info!("firmware refused power control (returned {:#x})", rc);
    }
    halt()
}

/// How long a reboot waits for the domain's other vCPUs to stop.
const STOP_TIMEOUT_US: u64 = 200_000;

/// A domain that is not the hardware domain asked to reset: rebuild it
/// from its modules (checked again) and start it over on this CPU. Returns
/// only if that cannot be done; the domain is then stopped.
fn reboot(d: &Domain) {
    let v = current_vcpu();
    if v.index != 0 {
        info!(
            "d{}: reboot from a vCPU other than vCPU 0 is not supported; stopping the domain",
            d.id
        );
        return;
    }
    let t0 = super::boot::now_us();
    // The other vCPUs (Linux parks them in the guest before it resets):
    // each stops at its next exit, which a kick forces.
    for other in 1..usize::from(d.vcpus) {
        if !d.power.is_off(other) {
            d.request_stop(other);
            super::vgic_hw::kick(d, other);
        }
    }
    while !d.power.only_on(0) {
        if super::boot::now_us() - t0 > STOP_TIMEOUT_US {
            info!(
                "d{}: its other vCPUs did not stop; stopping the domain",
                d.id
            );
            return;
        }
        core::hint::spin_loop();
    }
    let boot = d.boot_count.load(core::sync::atomic::Ordering::Acquire) + 1;
    d.shut_down();
    d.reset_runtime();
    if let Some(vg) = &d.vgic {
        match super::vgic_hw::create(d) {
            Some(fresh) => *vg.lock() = fresh,
            None => return,
        }
    }
    let mut write = |pa: u64, bytes: &[u8]| {
        // SAFETY: `reload` writes only inside the domain's own RAM bank,
        // which the EL2 map covers; the domain's only vCPU is this one,
        // stopped in the hypervisor.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), pa as *mut u8, bytes.len()) };
        cache::clean_range(pa as usize, pa as usize + bytes.len());
    };
    match crate::boot::rebuild::reload(d, boot, super::blake3x4::hash4, &mut write) {
        Ok(start) => {
            d.boot_count
                .store(boot, core::sync::atomic::Ordering::Release);
            let said = d.notice(
                super::traps::counter_ns(),
                format_args!(
                    "rebooting (boot {boot}): modules verified, domain rebuilt in {} ms",
                    (super::boot::now_us() - t0) / 1000
                ),
            );
            // Each rebuild of a domain leaves the hypervisor in the same
            // state: a soak compares these figures (no leak). They go with
            // every rebuild line that is printed (a reset storm's too).
            if said {
                info!("d{}: {}", d.id, super::boot::memory_use());
            }
            cache::flush_guest_tlb();
            super::ffa_glue::domain_started(d);
            run(v.domain, 0, start.entry, start.arg0, v.stack_top)
        }
        Err(e) => info!("d{}: cannot be rebuilt ({e:?}); stopping it", d.id),
    }
}

/// HCR_EL2.VI: a virtual IRQ pending for the vCPU on this CPU (for boards
/// whose GIC does not signal it, see `Board::VIRTUAL_IRQ`).
pub fn set_virtual_irq(on: bool) {
    const VI: u64 = 1 << 7;
    let hcr = HCR_EL2.get();
    let want = if on { hcr | VI } else { hcr & !VI };
    if want != hcr {
        HCR_EL2.set(want);
    }
}

/// Park this CPU forever.
pub fn halt() -> ! {
    crate::console::flush();
    loop {
        aarch64_cpu::asm::wfe();
    }
}
