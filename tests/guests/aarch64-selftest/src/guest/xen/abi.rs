//! Xen's arm64 guest ABI as this guest uses it: hypercall, command and
//! errno numbers and structure offsets. The offsets are the arm64 layout of
//! Xen's public interface; the guest pokes fields at fixed offsets with
//! aligned volatile accesses instead of declaring Rust structs, so what
//! the hypervisor sees is exactly what is written here.

use crate::guest::calls::xen_hypercall;

pub const MEMORY_OP: u64 = 12;
pub const XEN_VERSION: u64 = 17;
pub const CONSOLE_IO: u64 = 18;
pub const GRANT_TABLE_OP: u64 = 20;
pub const VCPU_OP: u64 = 24;
pub const SCHED_OP: u64 = 29;
pub const EVENT_CHANNEL_OP: u64 = 32;
pub const HVM_OP: u64 = 34;
pub const HVMOP_GET_PARAM: u64 = 1;
pub const HVM_PARAM_STORE_PFN: u32 = 1;
pub const HVM_PARAM_STORE_EVTCHN: u32 = 2;

pub const EPERM: i64 = -1;
pub const ENOENT: i64 = -2;
pub const ESRCH: i64 = -3;
pub const ENXIO: i64 = -6;
pub const EFAULT: i64 = -14;
pub const EBUSY: i64 = -16;
pub const EEXIST: i64 = -17;
pub const EINVAL: i64 = -22;
pub const ENOSPC: i64 = -28;
pub const ENOSYS: i64 = -38;

pub const DOMID_SELF: u16 = 0x7ff0;

pub const XENVER_VERSION: u64 = 0;
pub const XENVER_GET_FEATURES: u64 = 6;
pub const XENFEAT_AUTO_TRANSLATED_PHYSMAP: u32 = 2;
pub const XENFEAT_DOM0: u32 = 11;
pub const XENFEAT_ARM_SMCCC_SUPPORTED: u32 = 14;
pub const XENFEAT_NOT_DIRECT_MAPPED: u32 = 16;
pub const XENFEAT_DIRECT_MAPPED: u32 = 17;
pub const XENFEAT_RUNSTATE_PHYS_AREA: u32 = 18;

pub const XENMEM_ADD_TO_PHYSMAP: u64 = 7;
pub const XENMAPSPACE_SHARED_INFO: u32 = 0;

pub const VCPUOP_INITIALISE: u64 = 0;
pub const VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA: u64 = 5;
pub const VCPUOP_REGISTER_VCPU_INFO: u64 = 10;

pub const EVTCHNOP_BIND_INTERDOMAIN: u64 = 0;
pub const EVTCHNOP_BIND_VIRQ: u64 = 1;
pub const EVTCHNOP_CLOSE: u64 = 3;
pub const EVTCHNOP_SEND: u64 = 4;
pub const EVTCHNOP_STATUS: u64 = 5;
pub const EVTCHNOP_ALLOC_UNBOUND: u64 = 6;
pub const EVTCHNOP_BIND_IPI: u64 = 7;
pub const EVTCHNOP_BIND_VCPU: u64 = 8;
pub const EVTCHNOP_UNMASK: u64 = 9;
pub const EVTCHNOP_INIT_CONTROL: u64 = 11;
pub const EVTCHNSTAT_UNBOUND: u32 = 1;
pub const EVTCHNSTAT_VIRQ: u32 = 4;
pub const EVTCHNSTAT_IPI: u32 = 5;
pub const VIRQ_TIMER: u32 = 0;

pub const GNTTABOP_QUERY_SIZE: u64 = 6;
pub const GNTTABOP_SET_VERSION: u64 = 8;

pub const CONSOLEIO_WRITE: u64 = 0;
pub const CONSOLEIO_READ: u64 = 1;
pub const SCHEDOP_YIELD: u64 = 0;

/// shared_info: vCPU 0's legacy vcpu_info, then the 2-level event bitmaps.
pub const SI_LEGACY_VCPU_INFO: u64 = 0;
pub const SI_EVTCHN_PENDING: u64 = 48;
pub const SI_EVTCHN_MASK: u64 = 560;

/// vcpu_info (48 bytes, 8-aligned).
pub const VI_UPCALL_PENDING: u64 = 0;
/// Xen's `pad0`; Linux calls it `evtchn_upcall_mask`. Written by the guest.
pub const VI_PAD: u64 = 1;
pub const VI_PENDING_SEL: u64 = 8;

/// vcpu_runstate_info: i32 state, u64 state_entry_time, u64 time[4].
pub const RUNSTATE_STATE: u64 = 0;
pub const RUNSTATE_ENTRY_TIME: u64 = 8;
pub const RUNSTATE_RUNNING: u32 = 0;

/// evtchn_status: u16 dom, u32 port, u32 status (out), u32 vcpu (out),
/// union (out, 8 bytes).
pub const ST_PORT: u64 = 4;
pub const ST_STATUS: u64 = 8;
pub const ST_VCPU: u64 = 12;
pub const ST_UNION: u64 = 16;

pub fn xen_version(cmd: u64, ptr: u64) -> i64 {
    xen_hypercall(XEN_VERSION, [cmd, ptr, 0])
}

pub fn memory_op(cmd: u64, ptr: u64) -> i64 {
    xen_hypercall(MEMORY_OP, [cmd, ptr, 0])
}

pub fn vcpu_op(cmd: u64, vcpu: u64, ptr: u64) -> i64 {
    xen_hypercall(VCPU_OP, [cmd, vcpu, ptr])
}

pub fn hvm_op(cmd: u64, ptr: u64) -> i64 {
    xen_hypercall(HVM_OP, [cmd, ptr, 0])
}

pub fn evtchn_op(cmd: u64, ptr: u64) -> i64 {
    xen_hypercall(EVENT_CHANNEL_OP, [cmd, ptr, 0])
}

pub fn gnttab_op(cmd: u64, ptr: u64, count: u64) -> i64 {
    xen_hypercall(GRANT_TABLE_OP, [cmd, ptr, count])
}

pub fn console_io(cmd: u64, count: u64, ptr: u64) -> i64 {
    xen_hypercall(CONSOLE_IO, [cmd, count, ptr])
}

pub fn sched_op(cmd: u64, ptr: u64) -> i64 {
    xen_hypercall(SCHED_OP, [cmd, ptr, 0])
}
