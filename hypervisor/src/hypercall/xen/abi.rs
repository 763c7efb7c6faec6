//! Xen's public ABI as an arm64 guest sees it: hypercall and subcommand
//! numbers, error codes, and the byte layout of every structure the
//! hypervisor reads or writes. Values are from Xen's public headers
//! (xen/include/public/*.h); layouts are the AAPCS64 ones those headers give.

/// The interface version Halyard implements: Xen 4.18 changed vCPU area
/// registration (remote running vCPUs allowed, -EBUSY on re-registration),
/// and 4.19 is the release whose semantics are followed here.
pub const VERSION_MAJOR: u32 = 4;
pub const VERSION_MINOR: u32 = 19;

pub mod nr {
    pub const PLATFORM_OP: u64 = 7;
    pub const MEMORY_OP: u64 = 12;
    pub const XEN_VERSION: u64 = 17;
    pub const CONSOLE_IO: u64 = 18;
    pub const GRANT_TABLE_OP: u64 = 20;
    pub const VM_ASSIST: u64 = 21;
    pub const VCPU_OP: u64 = 24;
    pub const SCHED_OP: u64 = 29;
    pub const EVENT_CHANNEL_OP: u64 = 32;
    pub const PHYSDEV_OP: u64 = 33;
    pub const HVM_OP: u64 = 34;
}

/// Errors, negated in x0.
pub mod errno {
    pub const EPERM: i64 = -1;
    pub const ENOENT: i64 = -2;
    pub const ESRCH: i64 = -3;
    pub const ENXIO: i64 = -6;
    pub const EACCES: i64 = -13;
    pub const EFAULT: i64 = -14;
    pub const EBUSY: i64 = -16;
    pub const EEXIST: i64 = -17;
    pub const EINVAL: i64 = -22;
    pub const ENOSPC: i64 = -28;
    pub const ENOSYS: i64 = -38;
}

pub const DOMID_SELF: u16 = 0x7ff0;
pub const PAGE_SIZE: u64 = 4096;

pub mod xenver {
    pub const VERSION: u64 = 0;
    pub const EXTRAVERSION: u64 = 1;
    pub const COMPILE_INFO: u64 = 2;
    pub const CAPABILITIES: u64 = 3;
    pub const CHANGESET: u64 = 4;
    pub const PLATFORM_PARAMETERS: u64 = 5;
    pub const GET_FEATURES: u64 = 6;
    pub const PAGESIZE: u64 = 7;
    pub const GUEST_HANDLE: u64 = 8;
    pub const COMMANDLINE: u64 = 9;
    /// Sizes of the fixed buffers the guest passes.
    pub const EXTRAVERSION_LEN: usize = 16;
    pub const COMPILE_INFO_LEN: usize = 64 + 16 + 32 + 32;
    pub const CAPABILITIES_LEN: usize = 1024;
    pub const CHANGESET_LEN: usize = 64;
    pub const COMMANDLINE_LEN: usize = 1024;
}

/// XENFEAT_* bit numbers (submap 0).
pub mod feature {
    pub const AUTO_TRANSLATED_PHYSMAP: u32 = 2;
    pub const DOM0: u32 = 11;
    pub const ARM_SMCCC_SUPPORTED: u32 = 14;
    pub const NOT_DIRECT_MAPPED: u32 = 16;
    pub const DIRECT_MAPPED: u32 = 17;
    pub const RUNSTATE_PHYS_AREA: u32 = 18;
}

pub mod memory_op {
    pub const ADD_TO_PHYSMAP: u64 = 7;
    /// struct xen_add_to_physmap: domid u16 @0, size u16 @2, space u32 @4,
    /// idx u64 @8, gpfn u64 @16.
    pub const ADD_TO_PHYSMAP_LEN: usize = 24;
    pub const SPACE_SHARED_INFO: u32 = 0;
    pub const SPACE_GRANT_TABLE: u32 = 1;
    pub const SPACE_GMFN_FOREIGN: u32 = 4;
    /// Device MMIO (Xen: the hardware domain's ACPI path); not offered.
    pub const SPACE_DEV_MMIO: u32 = 5;
    /// Set in idx for a grant *status* frame (v2 only).
    pub const IDX_GRANT_STATUS: u64 = 1 << 31;
}

pub mod gnttab {
    pub const QUERY_SIZE: u64 = 6;
    pub const SET_VERSION: u64 = 8;
    pub const GET_VERSION: u64 = 10;
    /// struct gnttab_query_size: dom u16 @0, nr_frames u32 @4,
    /// max_nr_frames u32 @8, status i16 @12.
    pub const QUERY_SIZE_LEN: usize = 16;
    /// struct gnttab_get_version: dom u16 @0, pad, version u32 @4.
    pub const GET_VERSION_LEN: usize = 8;
    pub const GNTST_OKAY: i16 = 0;
    pub const GNTST_BAD_DOMAIN: i16 = -2;
    pub const GNTST_PERMISSION_DENIED: i16 = -8;
}

pub mod vcpu_op {
    pub const REGISTER_RUNSTATE_MEMORY_AREA: u64 = 5;
    pub const REGISTER_VCPU_INFO: u64 = 10;
    pub const REGISTER_RUNSTATE_PHYS_AREA: u64 = 14;
    /// struct vcpu_register_vcpu_info: mfn u64 @0, offset u32 @8, rsvd u32 @12.
    pub const REGISTER_VCPU_INFO_LEN: usize = 16;
}

/// struct vcpu_info (arm64): upcall_pending u8 @0, pad u8 @1,
/// evtchn_pending_sel u64 @8, vcpu_time_info (32 bytes) @16.
pub mod vcpu_info {
    pub const SIZE: u64 = 48;
    pub const ALIGN: u64 = 8;
    pub const UPCALL_PENDING: u64 = 0;
    pub const PENDING_SEL: u64 = 8;
}

/// struct vcpu_runstate_info: state i32 @0, state_entry_time u64 @8,
/// time[4] u64 @16.
pub mod runstate {
    pub const SIZE: usize = 48;
    pub const RUNNING: u32 = 0;
}

/// struct shared_info (arm64): vcpu_info[1] @0, evtchn_pending[64] @48,
/// evtchn_mask[64] @560, wc_version u32 @1072, wc_sec u32 @1076,
/// wc_nsec u32 @1080, wc_sec_hi u32 @1084.
pub mod shared_info {
    pub const SIZE: u64 = 1088;
    /// vCPUs with a slot in shared_info (XEN_LEGACY_MAX_VCPUS on Arm).
    pub const LEGACY_VCPUS: usize = 1;
    pub const EVTCHN_PENDING: u64 = 48;
    pub const EVTCHN_MASK: u64 = 560;
    pub const WC_VERSION: u64 = 1072;
    pub const WC_SEC: u64 = 1076;
    pub const WC_NSEC: u64 = 1080;
    pub const WC_SEC_HI: u64 = 1084;
}

pub mod evtchn_op {
    pub const BIND_INTERDOMAIN: u64 = 0;
    pub const BIND_VIRQ: u64 = 1;
    pub const CLOSE: u64 = 3;
    pub const SEND: u64 = 4;
    pub const STATUS: u64 = 5;
    pub const ALLOC_UNBOUND: u64 = 6;
    pub const BIND_IPI: u64 = 7;
    pub const BIND_VCPU: u64 = 8;
    pub const UNMASK: u64 = 9;
    pub const INIT_CONTROL: u64 = 11;
    /// Argument sizes: bind_interdomain {remote_dom u16 @0, remote_port u32
    /// @4, local_port u32 @8}; bind_virq {virq, vcpu, port: u32};
    /// close/send/unmask {port u32}; status {dom u16 @0, port u32 @4,
    /// status u32 @8, vcpu u32 @12, union @16 (8)}; alloc_unbound {dom u16
    /// @0, remote_dom u16 @2, port u32 @4}; bind_ipi {vcpu u32, port u32};
    /// bind_vcpu {port u32, vcpu u32}.
    pub const BIND_INTERDOMAIN_LEN: usize = 12;
    pub const BIND_VIRQ_LEN: usize = 12;
    pub const PORT_LEN: usize = 4;
    pub const STATUS_LEN: usize = 24;
    pub const ALLOC_UNBOUND_LEN: usize = 8;
    pub const BIND_IPI_LEN: usize = 8;
    pub const BIND_VCPU_LEN: usize = 8;
    pub const STAT_CLOSED: u32 = 0;
    pub const STAT_UNBOUND: u32 = 1;
    pub const STAT_INTERDOMAIN: u32 = 2;
    pub const STAT_VIRQ: u32 = 4;
    pub const STAT_IPI: u32 = 5;
}

pub mod virq {
    pub const TIMER: u32 = 0;
    pub const DEBUG: u32 = 1;
    pub const CONSOLE: u32 = 2;
    pub const XENOPROF: u32 = 7;
    pub const XENPMU: u32 = 13;
    pub const NR: u32 = 24;
    /// VIRQs bound per vCPU; the others are global and bind on vCPU 0 only.
    pub fn per_vcpu(v: u32) -> bool {
        matches!(v, TIMER | DEBUG | XENOPROF | XENPMU)
    }
}

pub mod console_io {
    pub const WRITE: u64 = 0;
    pub const READ: u64 = 1;
}

pub mod sched_op {
    pub const YIELD: u64 = 0;
    pub const BLOCK: u64 = 1;
    pub const SHUTDOWN: u64 = 2;
    pub const SHUTDOWN_POWEROFF: u32 = 0;
    pub const SHUTDOWN_REBOOT: u32 = 1;
    pub const SHUTDOWN_CRASH: u32 = 3;
}

pub mod vm_assist {
    pub const CMD_ENABLE: u64 = 0;
    pub const CMD_DISABLE: u64 = 1;
    pub const TYPE_RUNSTATE_UPDATE_FLAG: u64 = 5;
}

pub mod platform_op {
    pub const SETTIME64: u32 = 62;
    pub const INTERFACE_VERSION: u32 = 0x0300_0001;
    /// struct xen_platform_op: cmd u32 @0, interface_version u32 @4, then
    /// settime64 {secs u64 @8, nsecs u32 @16, mbz u32 @20, system_time u64 @24}.
    pub const SETTIME64_LEN: usize = 32;
}

pub mod hvm_op {
    pub const GET_PARAM: u64 = 1;
    /// struct xen_hvm_param: domid u16 @0, index u32 @4, value u64 @8.
    pub const PARAM_LEN: usize = 16;
    pub const PARAM_CALLBACK_IRQ: u32 = 0;
    pub const PARAM_STORE_PFN: u32 = 1;
    pub const PARAM_STORE_EVTCHN: u32 = 2;
    /// HVM_PARAM_STORE_PFN while no xenstore page exists yet: the guest
    /// waits for an event on the store channel (Xen's
    /// XENSTORE_PFN_LATE_ALLOC, what dom0less domUs see).
    pub const STORE_PFN_LATE: u64 = u64::MAX;
    /// HVM_NR_PARAMS.
    pub const NR_PARAMS: u32 = 39;
    /// HVM_PARAM_CALLBACK_IRQ value: type PPI (2) in bits 63:56; flags in
    /// bits 15:8 (bit 8 edge, bit 9 active low); the INTID in the low byte.
    pub const CALLBACK_TYPE_PPI: u64 = 2 << 56;
    pub const CALLBACK_PPI_LEVEL_LOW: u64 = 1 << 9;
}

/// Little-endian field access on a structure copied from the guest.
pub fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
pub fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}
pub fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(v)
}
pub fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
pub fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
pub fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}
