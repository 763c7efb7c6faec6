//! The GICv3 CPU interface through system registers: the physical interface
//! the hypervisor acknowledges interrupts on (ICC_*), and the virtual
//! interface control (ICH_*) whose list registers deliver virtual interrupts.

use aarch64_cpu::registers::*;

macro_rules! sysreg_write {
    ($name:literal, $v:expr) => {
        // SAFETY: a GIC CPU-interface register owned by the hypervisor at
        // EL2; writing it has no memory effects.
        unsafe { core::arch::asm!(concat!("msr ", $name, ", {}"), in(reg) $v, options(nostack)) }
    };
}

macro_rules! sysreg_read {
    ($name:literal) => {{
        let v: u64;
        // SAFETY: reading a GIC CPU-interface register has no side effects
        // beyond those the architecture defines for it (IAR acknowledges).
        unsafe { core::arch::asm!(concat!("mrs {}, ", $name), out(reg) v, options(nostack)) };
        v
    }};
}

/// INTIDs at or above this are special (1020-1023: spurious and friends).
pub const SPECIAL: u32 = 1020;

/// Number of list registers this CPU implements (read once: every
/// exit needs it, and a GIC register read is not free, least of all under
/// emulation; all CPUs of a board implement the same).
pub fn nr_lrs() -> usize {
    static NR: spin::Once<usize> = spin::Once::new();
    *NR.call_once(|| (ICH_VTR_EL2.get() & 0x1f) as usize + 1)
}

/// Set up this CPU's interface: system-register access (and allow it to
/// EL1), priority drop separate from deactivation (EOImode=1, so a guest's
/// deactivation of a hardware-linked interrupt deactivates it physically),
/// Group 1 on, virtual interface on with empty list registers.
pub fn init() {
    // SRE | DFB | DIB | Enable (lower ELs may use system registers).
    sysreg_write!("icc_sre_el2", 0xfu64);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    sysreg_write!("icc_pmr_el1", 0xffu64);
    sysreg_write!("icc_bpr1_el1", 0u64);
    sysreg_write!("icc_ctlr_el1", 1u64 << 1);
    sysreg_write!("icc_igrpen1_el1", 1u64);
    for n in 0..nr_lrs() {
        write_lr(n, 0);
    }
    ICH_VMCR_EL2.set(0);
    ICH_HCR_EL2.set(1);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// Acknowledge the highest-priority pending interrupt; returns its INTID.
pub fn ack() -> u32 {
    (sysreg_read!("icc_iar1_el1") & 0xff_ffff) as u32
}

/// Priority drop (EOImode=1: the interrupt stays active).
pub fn eoi(intid: u32) {
    sysreg_write!("icc_eoir1_el1", u64::from(intid));
}

/// Deactivate an interrupt the hypervisor handled itself.
pub fn deactivate(intid: u32) {
    sysreg_write!("icc_dir_el1", u64::from(intid));
}

/// ICH_HCR_EL2, e.g. to enable the underflow maintenance interrupt.
pub fn set_hcr(v: u64) {
    ICH_HCR_EL2.set(v);
}

pub fn hcr() -> u64 {
    ICH_HCR_EL2.get()
}

/// Send SGI `sgi` to the CPU whose affinity is `mpidr`.
pub fn send_sgi(mpidr: u64, sgi: u8) {
    let aff0 = mpidr & 0xff;
    let v = (1u64 << (aff0 % 16))
        | (((mpidr >> 8) & 0xff) << 16)
        | (u64::from(sgi & 0xf) << 24)
        | (((mpidr >> 16) & 0xff) << 32)
        | ((aff0 / 16) << 44)
        | (((mpidr >> 32) & 0xff) << 48);
    sysreg_write!("icc_sgi1r_el1", v);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// Implemented virtual priority bits (ICH_VTR_EL2.PRIbits + 1).
pub fn priority_bits() -> u8 {
    (((ICH_VTR_EL2.get() >> 29) & 7) + 1) as u8
}

pub fn read_lr(n: usize) -> u64 {
    match n {
        0 => ICH_LR0_EL2.get(),
        1 => ICH_LR1_EL2.get(),
        2 => ICH_LR2_EL2.get(),
        3 => ICH_LR3_EL2.get(),
        4 => ICH_LR4_EL2.get(),
        5 => ICH_LR5_EL2.get(),
        6 => ICH_LR6_EL2.get(),
        7 => ICH_LR7_EL2.get(),
        8 => ICH_LR8_EL2.get(),
        9 => ICH_LR9_EL2.get(),
        10 => ICH_LR10_EL2.get(),
        11 => ICH_LR11_EL2.get(),
        12 => ICH_LR12_EL2.get(),
        13 => ICH_LR13_EL2.get(),
        14 => ICH_LR14_EL2.get(),
        15 => ICH_LR15_EL2.get(),
        _ => 0,
    }
}

pub fn write_lr(n: usize, v: u64) {
    match n {
        0 => ICH_LR0_EL2.set(v),
        1 => ICH_LR1_EL2.set(v),
        2 => ICH_LR2_EL2.set(v),
        3 => ICH_LR3_EL2.set(v),
        4 => ICH_LR4_EL2.set(v),
        5 => ICH_LR5_EL2.set(v),
        6 => ICH_LR6_EL2.set(v),
        7 => ICH_LR7_EL2.set(v),
        8 => ICH_LR8_EL2.set(v),
        9 => ICH_LR9_EL2.set(v),
        10 => ICH_LR10_EL2.set(v),
        11 => ICH_LR11_EL2.set(v),
        12 => ICH_LR12_EL2.set(v),
        13 => ICH_LR13_EL2.set(v),
        14 => ICH_LR14_EL2.set(v),
        15 => ICH_LR15_EL2.set(v),
        _ => {}
    }
}
