//! The first instructions: a Linux arm64 `Image` header (so QEMU -kernel,
//! U-Boot booti, TF-A and UEFI loaders accept the hypervisor as a kernel),
//! then a stack, a zeroed BSS and the EL2 vector base before any Rust runs.
//! Symbols come from the BSP's linker script.

core::arch::global_asm!(
    r#"
    .section .text.head, "ax"
    .global _start
_start:
    b       1f                      // code0
    .word   0                       // code1
    .quad   0x200000                // text_offset: 2 MiB above a 2 MiB-aligned base
    .quad   __hyp_image_size        // image_size; image-builder adds the modules
    .quad   0x2                     // flags: little-endian, 4 KiB pages, base near DRAM start
    .quad   0, 0, 0                 // res2..res4
    .ascii  "ARM\x64"               // magic
    .word   0                       // res5
1:
    msr     daifset, #0xf
    mov     x19, x0                 // x0 = DTB (Linux boot protocol)
    // We are linked at a fixed address; refuse to run anywhere else.
    adr     x1, _start
    ldr     x2, =_start
    cmp     x1, x2
    b.ne    3f
    adrp    x1, __boot_stack_top
    add     x1, x1, :lo12:__boot_stack_top
    mov     sp, x1
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
2:  cmp     x1, x2
    b.hs    4f
    str     xzr, [x1], #8
    b       2b
4:  adrp    x1, halyard_el2_vectors
    add     x1, x1, :lo12:halyard_el2_vectors
    msr     vbar_el2, x1
    isb
    mov     x0, x19
    bl      halyard_board_main
3:  wfe
    b       3b
    .ltorg
"#
);
