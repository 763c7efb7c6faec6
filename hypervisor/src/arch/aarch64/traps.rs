//! What happens when the guest (or the hypervisor) takes an exception to EL2.

use aarch64_cpu::registers::*;

use super::vectors::{kind, TrapFrame};
use super::{esr, guest_mem::CurrentGuest, inject, smp, vcpu, vgic_hw};
use crate::domain::exits::ExitKind;
use crate::domain::Domain;
use crate::hypercall::smccc::{self, SmcccOutcome};
use crate::hypercall::xen;
use crate::info;

const EC_WFX: u64 = 0x01;
const EC_SYSREG: u64 = 0x18;
const EC_HVC64: u64 = 0x16;
const EC_SMC64: u64 = 0x17;
const EC_IABT_LOWER: u64 = 0x20;
const EC_DABT_LOWER: u64 = 0x24;
/// `hvc #0xEA1`: Xen hypercalls; `hvc #0`: SMCCC.
const XEN_HVC_IMM: u64 = 0xea1;

#[unsafe(no_mangle)]
extern "C" fn halyard_trap(k: u64, frame: &mut TrapFrame) {
    match k {
        kind::LOWER_SYNC | kind::LOWER_IRQ | kind::LOWER_FIQ | kind::LOWER_SERROR => {
            let v = vcpu::current_vcpu();
            let why = exit_kind(k);
            let t0 = v.domain.exits.count(why).then(|| CNTPCT_EL0.get());
            if why == ExitKind::Irq {
                vgic_hw::irq_exit(v.domain, v.index);
            } else if let Some((value, group1)) = trapped_sgi_write(frame) {
                vgic_hw::sgi_exit(v.domain, v.index, value, group1);
                frame.elr += 4;
            } else {
                // The list registers are the model's only while the guest runs.
                vgic_hw::exit(v.domain, v.index);
                guest_exception(k, frame);
                vgic_hw::entry(v.domain, v.index);
            }
            if let Some(t0) = t0 {
                v.domain.exits.timed(why, CNTPCT_EL0.get().wrapping_sub(t0));
            }
            // The domain is being rebooted by another of its vCPUs.
            if v.domain.take_stop_request(v.index) {
                vcpu::cpu_off();
            }
        }
        kind::AARCH32 => {
            info!(
                "d{}: AArch32 is not supported; stopping the domain",
                vcpu::current().id
            );
            vcpu::stop_current();
        }
        _ => hypervisor_fault(k, frame),
    }
}

/// The cause of a guest exit, for the domain's exit counters.
fn exit_kind(k: u64) -> ExitKind {
    if k != kind::LOWER_SYNC {
        return match k {
            kind::LOWER_IRQ | kind::LOWER_FIQ => ExitKind::Irq,
            _ => ExitKind::Other,
        };
    }
    match (ESR_EL2.get() >> 26) & 0x3f {
        EC_DABT_LOWER | EC_IABT_LOWER => ExitKind::Abort,
        EC_SYSREG => ExitKind::Sysreg,
        EC_HVC64 | EC_SMC64 => ExitKind::Call,
        _ => ExitKind::Other,
    }
}

fn guest_exception(k: u64, frame: &mut TrapFrame) {
    match k {
        kind::LOWER_SYNC => guest_sync(frame),
        kind::LOWER_IRQ | kind::LOWER_FIQ => {
            let v = vcpu::current_vcpu();
            vgic_hw::irq(v.domain, v.index);
        }
        _ => {
            let elr = frame.elr;
            vcpu::current().report_fault(counter_ns(), format_args!("SError at {elr:#x}"));
        }
    }
}

fn guest_sync(frame: &mut TrapFrame) {
    let esr = ESR_EL2.get();
    let ec = (esr >> 26) & 0x3f;
    let iss = esr & 0x1ff_ffff;
    match ec {
        EC_HVC64 if iss & 0xffff == 0 => smccc_call(frame),
        EC_HVC64 if iss & 0xffff == XEN_HVC_IMM => xen_call(frame),
        EC_SMC64 => {
            // A trapped SMC returns to the SMC itself: step over it.
            frame.elr += 4;
            smccc_call(frame);
        }
        EC_HVC64 => {
            // HVC returns past itself; an UNDEF must point at the HVC.
            frame.elr -= 4;
            unhandled(frame, ec, iss);
        }
        EC_WFX => frame.elr += 4,
        EC_SYSREG => sysreg(frame, ec, iss),
        EC_DABT_LOWER | EC_IABT_LOWER => stage2_abort(frame, ec, esr),
        _ => unhandled(frame, ec, iss),
    }
}

fn unhandled(frame: &mut TrapFrame, ec: u64, iss: u64) {
    let elr = frame.elr;
    vcpu::current().report_fault(
        counter_ns(),
        format_args!("unhandled trap EC {ec:#x} ISS {iss:#x} at {elr:#x}: undefined instruction"),
    );
    inject::undefined(frame);
}

fn smccc_call(frame: &mut TrapFrame) {
    let mut regs = [0u64; 8];
    regs.copy_from_slice(&frame.x[..8]);
    let domain = vcpu::current();
    if super::ffa_glue::is_ffa(regs[0] as u32) && super::ffa_glue::call(domain, frame) {
        return;
    }
    let in_ram = |ipa: u64| domain.banks.iter().any(|b| b.ipa.contains(ipa));
    match smccc::handle(&regs, &domain.power, &in_ram) {
        SmcccOutcome::Return(r) => frame.x[..4].copy_from_slice(&r),
        SmcccOutcome::SystemOff => vcpu::power_off_requested(false),
        SmcccOutcome::SystemReset => vcpu::power_off_requested(true),
        SmcccOutcome::CpuOn { vcpu } => frame.x[0] = smp::start_vcpu(domain, vcpu) as u64,
        SmcccOutcome::CpuOff => vcpu::cpu_off(),
    }
}

/// The Xen hypercall layer's view of the trapping vCPU.
struct TrapEnv<'a> {
    mem: CurrentGuest<'a>,
    vcpu: usize,
}

impl xen::Env for TrapEnv<'_> {
    fn caller(&self) -> (&Domain, usize) {
        (self.mem.domain, self.vcpu)
    }
    fn domains(&self) -> &[Domain] {
        crate::domain::all()
    }
    fn memory(&self) -> &dyn crate::hypercall::GuestMemory {
        &self.mem
    }
    fn raise_event_irq(&self, domain: &Domain, vcpu: usize) {
        vgic_hw::raise_virtual(domain, vcpu, crate::domain::EVTCHN_PPI);
    }
    fn console_write(&self, bytes: &[u8]) {
        let d = self.mem.domain;
        if d.xen_console {
            crate::console::write_raw(bytes);
        } else {
            d.console_write(bytes, counter_ns());
        }
    }
    fn console_read(&self, buf: &mut [u8]) -> usize {
        if self.mem.domain.xen_console {
            crate::console::read_input(buf)
        } else {
            0
        }
    }
    fn system_time_ns(&self) -> u64 {
        counter_ns()
    }
    fn ffa_shared(&self, domain: &Domain, ipa: u64) -> bool {
        super::ffa_glue::is_shared(domain.id, ipa)
    }
}

/// The physical counter in nanoseconds (the time guests see, and the
/// console rate limit's clock).
pub fn counter_ns() -> u64 {
    let (ticks, freq) = (CNTPCT_EL0.get(), CNTFRQ_EL0.get().max(1));
    (u128::from(ticks) * 1_000_000_000 / u128::from(freq)) as u64
}

fn xen_call(frame: &mut TrapFrame) {
    let v = vcpu::current_vcpu();
    let args = [frame.x[0], frame.x[1], frame.x[2], frame.x[3], frame.x[4]];
    let env = TrapEnv {
        mem: CurrentGuest { domain: v.domain },
        vcpu: v.index,
    };
    match xen::handle(frame.x[16], &args, &env) {
        xen::Outcome::Return(rc) => frame.x[0] = rc as u64,
        xen::Outcome::Shutdown { reboot } => vcpu::shutdown_requested(reboot),
        xen::Outcome::Block => {
            // Until an interrupt (an event's kick among them) is pending;
            // it is taken once the guest runs again.
            aarch64_cpu::asm::wfi();
            frame.x[0] = 0;
        }
    }
}

/// The value and group (true: ICC_SGI1R_EL1, false: ICC_SGI0R_EL1) of a
/// trapped SGI register write (trapped with HCR_EL2.IMO/FMO), if that is
/// what the exit is.
fn trapped_sgi_write(frame: &TrapFrame) -> Option<(u64, bool)> {
    let esr = ESR_EL2.get();
    if (esr >> 26) & 0x3f != EC_SYSREG {
        return None;
    }
    let access = esr::decode_sysreg(esr);
    let group1 = match access.encoding {
        esr::ICC_SGI1R_EL1 => true,
        esr::ICC_SGI0R_EL1 => false,
        _ => return None,
    };
    (!access.read).then(|| (frame.x.get(access.reg).copied().unwrap_or(0), group1))
}

/// A trapped system-register access or system instruction (MSR/MRS/SYS).
fn sysreg(frame: &mut TrapFrame, ec: u64, iss: u64) {
    let access = esr::decode_sysreg(iss);
    match (access.encoding, access.read) {
        // DC ISW/CSW/CISW (set/way, trapped by HCR_EL2.TSW): the guest's
        // memory is coherent under the hypervisor's cacheable stage-2
        // mappings, so there is nothing to do.
        ((1, 0, 7, 6 | 10 | 14, 2), false) => frame.elr += 4,
        _ => unhandled(frame, ec, iss),
    }
}

fn stage2_abort(frame: &mut TrapFrame, ec: u64, esr: u64) {
    let far = FAR_EL2.get();
    let ipa = ((HPFAR_EL2.get() & 0x0000_0fff_ffff_fff0) << 8) | (far & 0xfff);
    let v = vcpu::current_vcpu();
    if ec == EC_DABT_LOWER {
        if let Some(access) = esr::decode_data_abort(esr) {
            if vgic_hw::mmio(v.domain, v.index, frame, ipa, access)
                || super::vuart_glue::mmio(v.domain, frame, ipa, access)
            {
                return;
            }
        }
    }
    let d = v.domain;
    let what = if ec == EC_DABT_LOWER {
        "data"
    } else {
        "instruction"
    };
    let pc = frame.elr;
    d.report_fault(
        counter_ns(),
        format_args!(
        "stage-2 {what} abort at IPA {ipa:#x} (VA {far:#x}, PC {pc:#x}, ESR {esr:#x}): outside guest memory, injecting abort"
    ));
    if ec == EC_DABT_LOWER {
        inject::data_abort(frame, far);
    } else {
        inject::prefetch_abort(frame, far);
    }
}

fn hypervisor_fault(k: u64, frame: &TrapFrame) -> ! {
    info!(
        "fatal: hypervisor exception kind {k} ESR {:#x} ELR {:#x} FAR {:#x}",
        ESR_EL2.get(),
        frame.elr,
        FAR_EL2.get()
    );
    vcpu::halt()
}
