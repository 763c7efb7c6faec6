//! AArch64 at EL2 (non-VHE): the only code that touches system registers.
pub mod boot;
pub mod cache;
pub mod esr;
pub mod firmware;
pub mod gic_cpu;
pub mod guest_mem;
pub mod head;
pub mod inject;
pub mod mmu;
pub mod sha256;
pub mod smp;
pub mod stage2;
pub mod traps;
pub mod vcpu;
pub mod vectors;
pub mod vgic_glue;
pub mod vmsa;
