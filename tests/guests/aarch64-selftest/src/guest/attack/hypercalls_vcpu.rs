//! Xen hypercalls with hostile arguments, continued: vcpu_op area
//! registration abuse (other vCPUs, offsets crossing a page, memory
//! outside RAM), sched_op, vm_assist, platform_op, hvm_op, hypercall
//! numbers Halyard does not offer, a wrong HVC immediate, and a flood.

use super::{all, args, bad_pointers, Class, Suite, GIC_MMIO, NO_DOMAIN};
use crate::guest::calls::xen_hypercall;
use crate::guest::mem::{page_addr, rd64, wr16, wr32, wr64, Page};
use crate::guest::start;
use crate::guest::xen::abi::*;

pub const CASES: u32 = 19;
const C: Class = Class::Hypercalls;

const VCPUOP_REGISTER_RUNSTATE_PHYS_AREA: u64 = 14;
const SCHEDOP_SHUTDOWN: u64 = 2;
const VM_ASSIST: u64 = 21;
const VMASST_TYPE_RUNSTATE_UPDATE_FLAG: u64 = 5;
const PLATFORM_OP: u64 = 7;
const XENPF_SETTIME64: u32 = 62;
const XENPF_INTERFACE_VERSION: u32 = 0x0300_0001;
const FLOOD: u32 = 100_000;

/// Pages of our own RAM the vcpu_info areas go to (never moved after).
static mut AREAS: Page = Page::new();
static mut RUNSTATE: Page = Page::new();

/// VCPUOP_register_vcpu_info for `vcpu` at (mfn, offset).
fn register(vcpu: u64, mfn: u64, offset: u32) -> i64 {
    let a = args();
    wr64(a, mfn);
    wr32(a + 8, offset);
    vcpu_op(VCPUOP_REGISTER_VCPU_INFO, vcpu, a)
}

/// VCPUOP_register_runstate_phys_area of vCPU 0 at `pa`.
fn runstate_phys(pa: u64) -> i64 {
    let a = args();
    wr64(a, pa);
    vcpu_op(VCPUOP_REGISTER_RUNSTATE_PHYS_AREA, 0, a)
}

pub fn run(s: &mut Suite) {
    vcpu_areas(s);
    others(s);
}

fn vcpu_areas(s: &mut Suite) {
    let page = page_addr(core::ptr::addr_of_mut!(AREAS));
    let mfn = page >> 12;
    let rcs = [2, 7, 0xffff_ffff].map(|v| register(v, mfn, 0));
    s.case(
        C,
        all(&rcs, ENOENT),
        "vcpu_op register_vcpu_info for vCPUs 2, 7, 2^32 - 1 (it has 2): -ENOENT",
        format_args!("{rcs:?}"),
    );
    let rcs = bad_pointers(s.ram_end).map(|p| vcpu_op(VCPUOP_REGISTER_VCPU_INFO, 0, p));
    s.case(
        C,
        all(&rcs, EFAULT),
        "vcpu_op register_vcpu_info with null, hole, MMIO, end-of-RAM, wrapping argument pointers: -EFAULT",
        format_args!("{rcs:?}"),
    );
    let rcs =
        [s.ram_end >> 12, GIC_MMIO >> 12, u64::MAX >> 12, u64::MAX].map(|m| register(0, m, 0));
    s.case(
        C,
        all(&rcs, EINVAL),
        "vcpu_op register_vcpu_info on a gfn past RAM, on MMIO, at the top of the address space: -EINVAL",
        format_args!("{rcs:?}"),
    );
    let rcs = [
        register(0, mfn, 4096 - 24),
        register(0, mfn, 4),
        register(0, mfn, 4096),
        register(0, mfn, u32::MAX),
    ];
    s.case(
        C,
        rcs[..2] == [ENXIO, ENXIO] && all(&rcs[2..], EINVAL),
        "vcpu_op register_vcpu_info crossing a page or misaligned: -ENXIO; offset 4096 or 2^32 - 1: -EINVAL",
        format_args!("{rcs:?}"),
    );
    // Another vCPU of its own (off now) may be registered, once (Xen 4.18+).
    let rcs = [
        register(1, mfn, 64),
        register(1, mfn, 64),
        register(1, mfn, 128),
    ];
    s.case(
        C,
        rcs == [0, EBUSY, EBUSY],
        "vcpu_op register_vcpu_info of its offline vCPU 1: 0; again, or elsewhere: -EBUSY",
        format_args!("{rcs:?}"),
    );
    let rcs = [
        register(0, mfn, 0),
        register(0, mfn, 0),
        register(0, mfn + 1, 0),
    ];
    s.case(
        C,
        rcs == [0, EBUSY, EBUSY],
        "vcpu_op register_vcpu_info of vCPU 0: 0; again, or elsewhere: -EBUSY",
        format_args!("{rcs:?}"),
    );
    let rs = page_addr(core::ptr::addr_of_mut!(RUNSTATE));
    let rcs = [
        runstate_phys(rs + 4096 - 16),
        runstate_phys(rs + 4),
        runstate_phys(s.ram_end),
        runstate_phys(GIC_MMIO),
        runstate_phys(u64::MAX),
    ];
    s.case(
        C,
        rcs[..2] == [ENXIO, ENXIO] && rcs[2..] == [EINVAL, EINVAL, 0],
        "vcpu_op register_runstate_phys_area crossing a page, misaligned: -ENXIO; past RAM, MMIO: -EINVAL; ~0: 0",
        format_args!("{rcs:?}"),
    );
    let rcs = bad_pointers(s.ram_end).map(|p| vcpu_op(VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, p));
    // A virtual address that does not translate is accepted and never
    // written (Xen's rule); Halyard must not write what is not ours.
    let a = args();
    wr64(a, s.ram_end);
    let outside = vcpu_op(VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, a);
    s.case(
        C,
        all(&rcs, EFAULT) && outside == 0,
        "vcpu_op register_runstate_memory_area: bad argument pointers -EFAULT; an area past RAM accepted, not written",
        format_args!("{rcs:?}, outside {outside}"),
    );
    let rcs = [
        vcpu_op(99, 0, args()),
        vcpu_op(VCPUOP_INITIALISE, 1, args()),
        vcpu_op(u64::MAX, 0, args()),
    ];
    s.case(
        C,
        all(&rcs, EINVAL),
        "vcpu_op commands 99, initialise, 2^64 - 1: -EINVAL (Arm's vcpu_op has only the area calls)",
        format_args!("{rcs:?}"),
    );
}

fn others(s: &mut Suite) {
    let rcs = bad_pointers(s.ram_end).map(|p| sched_op(SCHEDOP_SHUTDOWN, p));
    let y = sched_op(SCHEDOP_YIELD, 0);
    s.case(
        C,
        all(&rcs, EFAULT) && y == 0,
        "sched_op shutdown with null, hole, MMIO, end-of-RAM, wrapping pointers: -EFAULT, domain runs on; yield 0",
        format_args!("{rcs:?}, yield {y}"),
    );
    let rcs = [sched_op(99, args()), sched_op(u64::MAX, args())];
    s.case(
        C,
        all(&rcs, ENOSYS),
        "sched_op commands 99 and 2^64 - 1: -ENOSYS",
        format_args!("{rcs:?}"),
    );
    let rcs = [
        xen_hypercall(VM_ASSIST, [0, 99, 0]),
        xen_hypercall(VM_ASSIST, [0, u64::MAX, 0]),
        xen_hypercall(VM_ASSIST, [5, VMASST_TYPE_RUNSTATE_UPDATE_FLAG, 0]),
    ];
    s.case(
        C,
        rcs[..2] == [EINVAL, EINVAL] && rcs[2] == ENOSYS,
        "vm_assist of types 99 and 2^64 - 1: -EINVAL; command 5: -ENOSYS",
        format_args!("{rcs:?}"),
    );
    let a = args();
    wr32(a, XENPF_SETTIME64);
    wr32(a + 4, XENPF_INTERFACE_VERSION);
    wr64(a + 8, 1_000_000_000);
    let rc = xen_hypercall(PLATFORM_OP, [a, 0, 0]);
    s.case(
        C,
        rc == EPERM,
        "platform_op settime64 from a domain that is not the hardware domain: -EPERM",
        format_args!("{rc}"),
    );
    let rcs = bad_pointers(s.ram_end).map(|p| hvm_op(HVMOP_GET_PARAM, p));
    s.case(
        C,
        all(&rcs, EFAULT),
        "hvm_op get_param with null, hole, MMIO, end-of-RAM, wrapping pointers: -EFAULT",
        format_args!("{rcs:?}"),
    );
    let param = |dom: u16, index: u32| {
        let a = args();
        wr16(a, dom);
        wr32(a + 4, index);
        wr64(a + 8, 0x5a5a);
        (hvm_op(HVMOP_GET_PARAM, a), rd64(a + 8))
    };
    let rcs = [
        param(DOMID_SELF, 9999).0,
        param(DOMID_SELF, u32::MAX).0,
        param(s.peer, HVM_PARAM_STORE_EVTCHN).0,
        param(0, HVM_PARAM_STORE_EVTCHN).0,
        param(NO_DOMAIN, HVM_PARAM_STORE_EVTCHN).0,
    ];
    s.case(
        C,
        rcs == [EINVAL, EINVAL, EPERM, EPERM, ESRCH],
        "hvm_op get_param of index 9999, 2^32 - 1: -EINVAL; of the victim's, dom0's: -EPERM; of no domain: -ESRCH",
        format_args!("{rcs:?}"),
    );
    let rcs = [hvm_op(99, args()), hvm_op(0, args())];
    s.case(
        C,
        all(&rcs, ENOSYS),
        "hvm_op command 99, and set_param (Halyard offers no parameter to set): -ENOSYS",
        format_args!("{rcs:?}"),
    );
    // 0: set_trap_table (x86 PV), 33 physdev_op (nothing on Arm), 64 and
    // up: beyond Xen's table; bits above 32 are not ignored.
    let numbers = [0, 33, 64, 4242, 0xffff_ffff, u64::MAX, (1 << 32) | 17];
    let rcs = numbers.map(|nr| xen_hypercall(nr, [0; 3]));
    s.case(
        C,
        all(&rcs, ENOSYS),
        "hypercalls 0, 33, 64, 4242, 2^32 - 1, 2^64 - 1, 2^32 + 17: -ENOSYS",
        format_args!("{rcs:?}"),
    );
    let before = start::sync_exceptions();
    let at = hvc_wrong_immediate();
    let (esr, _) = start::last_exception();
    let elr = start::last_elr();
    s.case(
        C,
        start::sync_exceptions() == before + 1 && esr >> 26 == 0 && elr == at,
        "hvc #0xea2 (not Xen's immediate): an undefined instruction at the HVC, in its own vector",
        format_args!("EC {:#x} ELR {elr:#x}, hvc at {at:#x}", esr >> 26),
    );
    let t0 = crate::guest::mem::ticks();
    let mut answered = 0;
    for _ in 0..FLOOD {
        if xen_version(XENVER_VERSION, 0) == 0x4_0013 {
            answered += 1;
        }
    }
    let ms = (crate::guest::mem::ticks() - t0) * 1000 / crate::guest::mem::ticks_per_second();
    s.case(
        C,
        answered == FLOOD,
        "100000 xen_version hypercalls in a row: each answered 4.19",
        format_args!("{answered} in {ms} ms"),
    );
}

/// `hvc #0xea2`: one off Xen's immediate; returns the HVC's address.
fn hvc_wrong_immediate() -> u64 {
    let at: u64;
    // SAFETY: our vector steps over the HVC; only `at` is written.
    unsafe {
        core::arch::asm!("adr {at}, 1f", "1: hvc #0xea2", at = out(reg) at, options(nostack))
    };
    at
}
