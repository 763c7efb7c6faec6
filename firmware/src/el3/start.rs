//! Reset entry. Every CPU starts here at EL3, from flash at address 0 (QEMU
//! virt with secure=on starts all CPUs, not just CPU 0). The code before Rust
//! runs is kept minimal: build the identity page tables (CPU 0), turn on the
//! MMU (every CPU), copy .data and clear .bss (CPU 0), then enter Rust on the
//! CPU's own stack. With the MMU off every data access is Device memory, which
//! QEMU 10 faults on when unaligned, so no Rust runs before this.
//!
//! Secondary CPUs wait with the MMU off until CPU 0 publishes BOOT_READY, then
//! turn on their MMU with the same tables and enter `secondary_main`, which
//! parks them in the PSCI holding pen.

use crate::platform::MAX_CPUS;

/// EL3 stack per CPU.
pub const EL3_STACK_SIZE: usize = 16 * 1024;
/// Value CPU 0 stores in `boot_ready` once secondaries may turn on their MMU.
pub const BOOT_READY_MAGIC: u64 = 0x4841_4c59_5244_5921;

// Translation table descriptors (4 KiB granule, stage 1). The same tables
// serve EL3 and the S-EL1 partitions; in the EL1&0 regime bit 54 is UXN and
// PXN stays 0, so partitions may run their code from flash.
//   valid block 0b01, AttrIndx [4:2] (0 Device-nGnRnE, 1 Normal WB),
//   NS [5], AP [7:6] (00 RW, 10 RO), SH [9:8] (11 inner), AF [10], XN [54].
const DESC_FLASH: u64 = 0x1 | (1 << 2) | (2 << 6) | (3 << 8) | (1 << 10);
const DESC_DEVICE: u64 = 0x1 | (1 << 10) | (1 << 54);
const DESC_SECURE_RAM: u64 = 0x1 | (1 << 2) | (3 << 8) | (1 << 10) | (1 << 54);
const DESC_NS_RAM: u64 = DESC_SECURE_RAM | (1 << 5);
/// MAIR: attribute 0 Device-nGnRnE, attribute 1 Normal write-back.
pub const MAIR: u64 = 0xff00;
/// TCR_EL3: 39-bit VA (T0SZ 25), WB walks, inner shareable, 4K, 40-bit PA, RES1 bits.
const TCR_EL3: u64 = 25 | (1 << 8) | (1 << 10) | (3 << 12) | (2 << 16) | (1 << 23) | (1 << 31);
/// SCTLR_EL3: RES1 bits, MMU, D-cache, SP alignment check, I-cache.
const SCTLR_EL3: u64 = 0x30c5_0830 | 1 | (1 << 2) | (1 << 3) | (1 << 12);

core::arch::global_asm!(
    r#"
    .section .text.start, "ax"
    .global _start
_start:
    msr     daifset, #0xf
    ldr     x0, =el3_vectors
    msr     vbar_el3, x0
    isb
    mrs     x19, mpidr_el1
    ubfx    x20, x19, #0, #8
    ubfx    x21, x19, #8, #16
    cbnz    x21, park
    cmp     x20, #{max_cpus}
    b.hs    park
    cbnz    x20, wait_for_primary

    bl      build_page_tables
    bl      enable_mmu
    ldr     x0, =__data_start
    ldr     x1, =__data_end
    ldr     x2, =__data_load
1:  cmp     x0, x1
    b.hs    2f
    ldr     x3, [x2], #8
    str     x3, [x0], #8
    b       1b
2:  ldr     x0, =__bss_start
    ldr     x1, =__bss_end
3:  cmp     x0, x1
    b.hs    4f
    str     xzr, [x0], #8
    b       3b
4:  bl      set_stack
    mov     x0, x20
    bl      {primary_main}
    b       park

wait_for_primary:
    ldr     x1, =boot_ready
    ldr     x3, ={ready_magic}
5:  wfe
    ldr     x2, [x1]
    cmp     x2, x3
    b.ne    5b
    bl      enable_mmu
    bl      set_stack
    mov     x0, x20
    bl      {secondary_main}
park:
    wfe
    b       park

// sp = el3_stacks + (x20 + 1) * EL3_STACK_SIZE
set_stack:
    ldr     x0, =el3_stacks
    add     x1, x20, #1
    mov     x2, #{stack_size}
    madd    x0, x1, x2, x0
    mov     sp, x0
    ret

// Level 1: GiB 0 through a level-2 table, GiB 1..255 normal-world RAM
// (NS), the rest invalid. Level 2 (GiB 0, 2 MiB blocks): flash below
// 128 MiB, secure RAM at 0x0e000000-0x0effffff, devices elsewhere.
build_page_tables:
    ldr     x0, =pt_level2
    mov     x1, #0
    ldr     x4, ={desc_flash}
    ldr     x5, ={desc_device}
    ldr     x6, ={desc_secure_ram}
6:  lsl     x2, x1, #21
    mov     x3, x5
    cmp     x1, #64
    csel    x3, x4, x3, lo
    cmp     x1, #112
    b.lo    7f
    cmp     x1, #120
    csel    x3, x6, x3, lo
7:  orr     x2, x2, x3
    str     x2, [x0, x1, lsl #3]
    add     x1, x1, #1
    cmp     x1, #512
    b.lo    6b

    ldr     x0, =pt_level1
    ldr     x2, =pt_level2
    orr     x2, x2, #3
    str     x2, [x0]
    mov     x1, #1
    ldr     x4, ={desc_ns_ram}
8:  lsl     x2, x1, #30
    orr     x2, x2, x4
    cmp     x1, #256
    csel    x2, xzr, x2, hs
    str     x2, [x0, x1, lsl #3]
    add     x1, x1, #1
    cmp     x1, #512
    b.lo    8b
    dsb     sy
    ret

enable_mmu:
    ldr     x0, ={mair}
    msr     mair_el3, x0
    ldr     x0, ={tcr}
    msr     tcr_el3, x0
    ldr     x0, =pt_level1
    msr     ttbr0_el3, x0
    dsb     sy
    tlbi    alle3
    dsb     sy
    isb
    ldr     x0, ={sctlr}
    msr     sctlr_el3, x0
    isb
    ret

    .section .noinit.tables, "aw", %nobits
    .balign 4096
    .global pt_level1
pt_level1:
    .space 4096
pt_level2:
    .space 4096
    .global boot_ready
boot_ready:
    .space 8

    .section .bss.el3_stacks, "aw", %nobits
    .balign 16
    .global el3_stacks
el3_stacks:
    .space {stack_size} * {max_cpus}
"#,
    max_cpus = const MAX_CPUS,
    stack_size = const EL3_STACK_SIZE,
    ready_magic = const BOOT_READY_MAGIC,
    desc_flash = const DESC_FLASH,
    desc_device = const DESC_DEVICE,
    desc_secure_ram = const DESC_SECURE_RAM,
    desc_ns_ram = const DESC_NS_RAM,
    mair = const MAIR,
    tcr = const TCR_EL3,
    sctlr = const SCTLR_EL3,
    primary_main = sym crate::primary_main,
    secondary_main = sym crate::secondary_main,
);

extern "C" {
    static pt_level1: u8;
    static boot_ready: u64;
    static el3_stacks: u8;
}

/// Physical (= virtual) address of the level-1 table, for partitions' TTBR0_EL1.
pub fn page_table_root() -> u64 {
    core::ptr::addr_of!(pt_level1) as u64
}

/// Top of this CPU's EL3 stack (the exception path restarts from it).
pub fn stack_top(cpu: usize) -> u64 {
    let base = core::ptr::addr_of!(el3_stacks) as u64;
    base + ((cpu + 1) * EL3_STACK_SIZE) as u64
}

/// Lets the secondaries (waiting with their MMU off) continue.
pub fn release_secondaries() {
    set_boot_ready(BOOT_READY_MAGIC);
}

/// Withdraws the release, so that after a warm reset the secondaries wait
/// for CPU 0 again instead of seeing a stale flag.
pub fn withdraw_release() {
    set_boot_ready(0);
}

fn set_boot_ready(value: u64) {
    // SAFETY: `boot_ready` is an 8-byte word in .noinit that only CPU 0
    // writes; the secondaries poll it with plain loads. The cache clean makes
    // the store visible to CPUs whose MMU (and so cache) is still off.
    unsafe {
        let ptr = core::ptr::addr_of!(boot_ready) as *mut u64;
        core::ptr::write_volatile(ptr, value);
        core::arch::asm!("dc civac, {}", "dsb sy", "sev", in(reg) ptr, options(nostack));
    }
}
