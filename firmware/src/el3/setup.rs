//! Per-CPU EL3 configuration: how lower ELs run and what they may use.

use crate::sysreg::{isb, read_sysreg, write_sysreg};

const SCR_NS: u64 = 1 << 0;
const SCR_RES1: u64 = (1 << 4) | (1 << 5);
const SCR_HCE: u64 = 1 << 8;
const SCR_SIF: u64 = 1 << 9;
const SCR_RW: u64 = 1 << 10;
/// Feature enables for the normal world (QEMU ignores bits of features the
/// CPU lacks): pointer auth keys/instructions, SCXTNUM, MTE tag access,
/// fine-grained traps, enhanced counter virtualisation, HCRX_EL2, TPIDR2 (SME),
/// TCR2, SCTLR2, permission indirection. Without them Linux or the
/// hypervisor would trap to EL3 when touching those registers.
const SCR_NS_FEATURES: u64 = (1 << 16)
    | (1 << 17)
    | (1 << 25)
    | (1 << 26)
    | (1 << 27)
    | (1 << 28)
    | (1 << 38)
    | (1 << 41)
    | (1 << 43)
    | (1 << 44)
    | (1 << 45);

/// Normal world: EL2 present, AArch64, non-secure; SMC enabled (SMD = 0);
/// IRQ/FIQ/SError stay with the lower ELs.
pub const SCR_NORMAL_WORLD: u64 = SCR_NS | SCR_RES1 | SCR_HCE | SCR_SIF | SCR_RW | SCR_NS_FEATURES;
/// Secure partitions: S-EL1 AArch64, no secure EL2.
pub const SCR_SECURE_EL1: u64 = SCR_RES1 | SCR_SIF | SCR_RW;

/// SPSR for entering EL2h (normal world) / EL1h (partitions), DAIF masked.
pub const SPSR_EL2H_MASKED: u64 = 0x3c9;
pub const SPSR_EL1H_MASKED: u64 = 0x3c5;

/// SCTLR_EL2 / HCR_EL2 a CPU gets before it enters the normal world: MMU and
/// caches off, EL1 AArch64, as the Linux boot protocol expects.
const SCTLR_EL2_RESET: u64 = 0x30c5_0830;
const HCR_EL2_RW: u64 = 1 << 31;

const CPTR_EZ: u64 = 1 << 8;
const CPTR_ESM: u64 = 1 << 12;
const MDCR_SDD: u64 = 1 << 16;
const ICC_SRE_EL3_ALL: u64 = 0xf;

/// EL3 controls on the calling CPU: no FP/SVE/SME traps with the longest
/// vector lengths for lower ELs, debug off in the secure world, GIC system
/// registers usable at every EL.
pub fn configure_el3() {
    let pfr0 = read_sysreg!("id_aa64pfr0_el1");
    let pfr1 = read_sysreg!("id_aa64pfr1_el1");
    let has_sve = (pfr0 >> 32) & 0xf != 0;
    let has_sme = (pfr1 >> 24) & 0xf != 0;
    write_sysreg!("cptr_el3", CPTR_EZ | CPTR_ESM);
    isb();
    if has_sve {
        // ZCR_EL3.LEN = 15: EL3 does not cap the vector length.
        write_sysreg!("s3_6_c1_c2_0", 0xf);
    }
    if has_sme {
        // SMCR_EL3: LEN = 15, FA64 when the CPU has it (ID_AA64SMFR0 bit 63).
        let smfr0 = read_sysreg!("s3_0_c0_c4_5");
        let fa64 = smfr0 & (1 << 63);
        write_sysreg!("s3_6_c1_c2_6", 0xf | fa64);
    }
    write_sysreg!("mdcr_el3", MDCR_SDD);
    write_sysreg!("scr_el3", SCR_NORMAL_WORLD);
    write_sysreg!("s3_6_c12_c12_5", ICC_SRE_EL3_ALL);
    isb();
}

/// EL2 registers a CPU needs sane before its first entry to the normal world.
pub fn reset_el2() {
    write_sysreg!("sctlr_el2", SCTLR_EL2_RESET);
    write_sysreg!("hcr_el2", HCR_EL2_RW);
    isb();
}
