//! Routes lower-EL exceptions: SMCs from the normal world to PSCI, SMCCC
//! arch or the SPMC; SMCs from secure partitions to the SPMC.

use super::context::Frame;
use super::percpu;
use crate::console::fwprintln;
use crate::sysreg::read_sysreg;
use crate::{counters, psci, smccc, spmc};

const EC_SMC64: u64 = 0x17;

/// The SMC's function ID (SMCCC: bits [31:0] of x0).
pub fn function_id(frame: &Frame) -> u32 {
    frame.x[0] as u32
}

/// Called by the vectors with the current context's frame filled in.
pub extern "C" fn el3_lower_sync_handler() {
    let esr = read_sysreg!("esr_el3");
    let ctx = percpu::current();
    // SAFETY: the current context belongs to this CPU; this is the only
    // reference to its frame while the handler runs.
    let frame = unsafe { &mut (*ctx).frame };
    let from_normal_world = frame.scr & 1 != 0;
    if esr >> 26 != EC_SMC64 {
        fwprintln!(
            "unexpected trap from {} world: ESR {:#x} ELR {:#x}",
            if from_normal_world {
                "normal"
            } else {
                "secure"
            },
            esr,
            frame.elr
        );
        panic!("unhandled lower-EL exception");
    }
    if !from_normal_world {
        spmc::partition_call(ctx);
        return;
    }
    let id = function_id(frame);
    counters::count(id);
    match id {
        0x8400_0000..=0x8400_001f | 0xc400_0000..=0xc400_001f => psci::handle(frame),
        0x8000_0000..=0x8000_ffff => smccc::handle(frame),
        0x8400_0060..=0x8400_00ff | 0xc400_0060..=0xc400_00ff => spmc::normal_world_call(ctx),
        _ => frame.x[0] = smccc::NOT_SUPPORTED,
    }
}

/// Any exception the firmware does not expect (taken at EL3, or IRQ/FIQ/
/// SError routed here): report and stop this CPU.
pub extern "C" fn el3_unexpected_exception(vector: u64) -> ! {
    let esr = read_sysreg!("esr_el3");
    let elr = read_sysreg!("elr_el3");
    let far = read_sysreg!("far_el3");
    crate::console::print_line_unlocked(format_args!(
        "fw: PANIC unexpected exception vector {} ESR {:#x} ELR {:#x} FAR {:#x}",
        vector, esr, elr, far
    ));
    loop {
        crate::sysreg::wfe();
    }
}
