//! System register access. EL3 owns every register it touches here; the
//! macros keep the single `unsafe` per access in one reviewed place.

/// Reads a system register by name (or `s3_*` encoding).
macro_rules! read_sysreg {
    ($name:literal) => {{
        let value: u64;
        // SAFETY: reading a system register has no memory effects; the
        // firmware runs at EL3 where every register it names is accessible.
        unsafe {
            core::arch::asm!(concat!("mrs {}, ", $name), out(reg) value,
                options(nomem, nostack, preserves_flags))
        };
        value
    }};
}

/// Writes a system register by name (or `s3_*` encoding).
macro_rules! write_sysreg {
    ($name:literal, $value:expr) => {{
        let value: u64 = $value;
        // SAFETY: EL3 configuration and context-switch code is the only
        // writer of these registers, and each caller documents why the new
        // value is correct for the world that runs next.
        unsafe {
            core::arch::asm!(concat!("msr ", $name, ", {}"), in(reg) value,
                options(nostack, preserves_flags))
        };
    }};
}

pub(crate) use read_sysreg;
pub(crate) use write_sysreg;

/// Instruction synchronisation barrier.
pub fn isb() {
    // SAFETY: a barrier has no operands and cannot break memory safety.
    unsafe { core::arch::asm!("isb", options(nostack, preserves_flags)) };
}

/// Wakes CPUs waiting in WFE.
pub fn sev() {
    // SAFETY: as above; DSB first so mailbox writes are visible.
    unsafe { core::arch::asm!("dsb sy", "sev", options(nostack, preserves_flags)) };
}

/// Waits for an event (another CPU's SEV or a spurious wake-up).
pub fn wfe() {
    // SAFETY: as above.
    unsafe { core::arch::asm!("wfe", options(nostack, preserves_flags)) };
}

/// This CPU's index: MPIDR Aff0 (the start code parks CPUs outside 0..MAX_CPUS).
pub fn cpu_index() -> usize {
    (read_sysreg!("mpidr_el1") & 0xff) as usize
}
