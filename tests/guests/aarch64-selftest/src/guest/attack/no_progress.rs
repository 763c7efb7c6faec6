//! No-progress faults: a vCPU that can only fault must be refused or
//! stopped, never left spinning on injected aborts. CPU_ON with an entry
//! outside its RAM is refused (INVALID_ADDRESS); a vCPU faulting inside its
//! own vectors, or starting on a page of zeros with no vectors, is stopped
//! by the hypervisor (it reports it by name, for this domain only), and
//! the vCPU can be started again afterwards.

use super::vcpu1::{self, PARK};
use super::{Class, Suite, GIC_MMIO};
use crate::guest::mem::{page_addr, Page};
use crate::guest::start;

pub const CASES: u32 = 4;
const C: Class = Class::NoProgress;
const INVALID_ADDRESS: i64 = -9;

/// A page of zeros in its RAM: `udf #0` at every word.
static mut ZEROS: Page = Page::new();

pub fn run(s: &mut Suite) {
    let rcs = [GIC_MMIO, s.ram_end, 0x1_0000_0000].map(|e| vcpu1::cpu_on(e, 0));
    let off = vcpu1::affinity_off();
    s.case(
        C,
        rcs.iter().all(|&r| r == INVALID_ADDRESS) && off,
        "psci cpu_on with entries outside its RAM (MMIO, past RAM, 4 GiB): INVALID_ADDRESS; vCPU 1 stays off",
        format_args!("{rcs:?}, off {off}"),
    );
    let rc = vcpu1::cpu_on(start::vector_loop_entry(), 0);
    let stopped = vcpu1::off_within(2000);
    s.case(
        C,
        rc == 0 && stopped,
        "vCPU 1 faulting inside its own vectors (VBAR_EL1 0, a jump to MMIO): stopped by the hypervisor",
        format_args!("cpu_on {rc}, off within 2 s {stopped}"),
    );
    let (rc, alive) = vcpu1::start(PARK);
    let off = vcpu1::stop();
    vcpu1::clear_mode();
    s.case(
        C,
        rc == 0 && alive && off,
        "vCPU 1 stopped that way starts again with cpu_on, runs, and turns itself off",
        format_args!("cpu_on {rc}, alive {alive}, off {off}"),
    );
    let zeros = page_addr(core::ptr::addr_of_mut!(ZEROS));
    let rc = vcpu1::cpu_on(zeros, 0);
    let stopped = vcpu1::off_within(2000);
    s.case(
        C,
        rc == 0 && stopped,
        "vCPU 1 started on a page of zeros (udf) with no vectors: stopped by the hypervisor",
        format_args!("cpu_on {rc} at {zeros:#x}, off within 2 s {stopped}"),
    );
}
