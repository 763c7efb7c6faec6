//! What happens when the guest (or the hypervisor) takes an exception to EL2.

use aarch64_cpu::registers::*;

use super::vectors::{kind, TrapFrame};
use super::{guest_mem::CurrentGuest, inject, smp, vcpu};
use crate::hypercall::smccc::{self, SmcccOutcome};
use crate::hypercall::xen;
use crate::info;

const EC_WFX: u64 = 0x01;
const EC_HVC64: u64 = 0x16;
const EC_SMC64: u64 = 0x17;
const EC_IABT_LOWER: u64 = 0x20;
const EC_DABT_LOWER: u64 = 0x24;
/// `hvc #0xEA1`: Xen hypercalls; `hvc #0`: SMCCC.
const XEN_HVC_IMM: u64 = 0xea1;

#[unsafe(no_mangle)]
extern "C" fn halyard_trap(k: u64, frame: &mut TrapFrame) {
    match k {
        kind::LOWER_SYNC => guest_sync(frame),
        kind::LOWER_IRQ | kind::LOWER_FIQ => {
            info!("unexpected physical interrupt while in a guest")
        }
        kind::LOWER_SERROR => info!("SError from d{} at {:#x}", vcpu::current().id, frame.elr),
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
        EC_DABT_LOWER | EC_IABT_LOWER => stage2_abort(frame, ec, esr),
        _ => unhandled(frame, ec, iss),
    }
}

fn unhandled(frame: &mut TrapFrame, ec: u64, iss: u64) {
    let id = vcpu::current().id;
    info!(
        "d{id}: unhandled trap EC {ec:#x} ISS {iss:#x} at {:#x}: undefined instruction",
        frame.elr
    );
    inject::undefined(frame);
}

fn smccc_call(frame: &mut TrapFrame) {
    let mut regs = [0u64; 8];
    regs.copy_from_slice(&frame.x[..8]);
    let domain = vcpu::current();
    match smccc::handle(&regs, &domain.power) {
        SmcccOutcome::Return(r) => frame.x[..4].copy_from_slice(&r),
        SmcccOutcome::SystemOff => vcpu::power_off_requested(false),
        SmcccOutcome::SystemReset => vcpu::power_off_requested(true),
        SmcccOutcome::CpuOn { vcpu } => frame.x[0] = smp::start_vcpu(domain, vcpu) as u64,
        SmcccOutcome::CpuOff => vcpu::cpu_off(),
    }
}

fn xen_call(frame: &mut TrapFrame) {
    let domain = vcpu::current();
    let args = [frame.x[0], frame.x[1], frame.x[2], frame.x[3], frame.x[4]];
    let mem = CurrentGuest { domain };
    let rc = xen::handle(frame.x[16], &args, &mem, &mut |bytes| {
        domain.console_write(bytes)
    });
    frame.x[0] = rc as u64;
}

fn stage2_abort(frame: &mut TrapFrame, ec: u64, esr: u64) {
    let far = FAR_EL2.get();
    let ipa = ((HPFAR_EL2.get() & 0x0000_0fff_ffff_fff0) << 8) | (far & 0xfff);
    let d = vcpu::current();
    let what = if ec == EC_DABT_LOWER {
        "data"
    } else {
        "instruction"
    };
    info!(
        "d{}: stage-2 {what} abort at IPA {ipa:#x} (VA {far:#x}, PC {:#x}, ESR {esr:#x}): outside guest memory, injecting abort",
        d.id, frame.elr
    );
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
