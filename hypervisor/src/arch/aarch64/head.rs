//! The first instructions: a Linux arm64 `Image` header (so QEMU -kernel,
//! U-Boot booti and TF-A accept the hypervisor as a kernel) that is also the
//! start of a PE/COFF image (so UEFI firmware accepts it as an EFI
//! application, see `efi.rs`), then a stack, a zeroed BSS and the EL2
//! vector base before any Rust runs. Symbols come from the BSP's linker
//! script.
//!
//! File layout (the BSP's linker script asserts it):
//!
//! ```text
//! 0x000  Image header (64 bytes); code0 reads "MZ", res5 (0x3c) = 0x40
//! 0x040  PE signature, COFF header, PE32+ optional header, 1 section header
//! ....   _start's code (the Linux boot protocol entry)
//! 0x800  EL2 vectors (2 KiB)
//! 0x1000 the PE section: EFI entry, the rest of the hypervisor, and what
//!        image-builder appends (module table, modules); image-builder
//!        patches the PE sizes together with the Image header's image_size
//! ```
//!
//! The PE fields follow the PE/COFF specification (PE32+): one section,
//! file offset = RVA (so the loaded image is byte for byte the file and
//! can be copied to the link address as a whole), no relocations (nothing
//! needs fixing up: the EFI entry is position-independent until it runs at
//! the link address), ImageBase = the link address (EDK2 tries that address
//! first), subsystem 10 (EFI application). sbsign fills the certificate
//! table directory entry when it signs.

/// File offset of the PE header (`res5` of the Image header).
pub const PE_HEADER_OFFSET: usize = 0x40;
/// Where the PE section starts, in the file and in memory.
pub const PE_SECTION_OFFSET: usize = 0x1000;

core::arch::global_asm!(
    r#"
    .section .text.head, "ax"
    .global _start
_start:
    .long   0xfa405a4d              // code0: "MZ" for PE/COFF; as code `ccmp x18, #0, #0xd, pl`, which only sets flags
    b       halyard_primary_entry   // code1
    .quad   0x200000                // text_offset: 2 MiB above a 2 MiB-aligned base
    .quad   __hyp_image_size        // image_size; image-builder adds the modules
    .quad   0x2                     // flags: little-endian, 4 KiB pages, base near DRAM start
    .quad   0, 0, 0                 // res2 (module table offset, image-builder), res3, res4
    .ascii  "ARM\x64"               // magic
    .long   .Lpe_header - _start    // res5: PE header offset (the MZ header's e_lfanew)
.Lpe_header:
    .ascii  "PE\0\0"
    .short  0xaa64                  // Machine: arm64
    .short  1                       // NumberOfSections
    .long   0, 0, 0                 // TimeDateStamp, PointerToSymbolTable, NumberOfSymbols
    .short  .Lpe_sections - .Lpe_optional // SizeOfOptionalHeader
    .short  0x0206                  // Characteristics: executable, no line numbers, no debug info
.Lpe_optional:
    .short  0x20b                   // PE32+
    .byte   0, 0                    // linker version
    .long   __hyp_image_size - 0x1000 // SizeOfCode (image-builder patches)
    .long   0, 0                    // SizeOfInitializedData, SizeOfUninitializedData
    .long   halyard_efi_entry - _start // AddressOfEntryPoint
    .long   0x1000                  // BaseOfCode
    .quad   _start                  // ImageBase: the link address
    .long   0x1000                  // SectionAlignment
    .long   0x200                   // FileAlignment
    .short  0, 0, 0, 0, 0, 0        // OS, image and subsystem versions
    .long   0                       // Win32VersionValue
    .long   __hyp_image_size        // SizeOfImage (image-builder patches)
    .long   0x1000                  // SizeOfHeaders
    .long   0                       // CheckSum
    .short  10                      // Subsystem: EFI application
    .short  0                       // DllCharacteristics
    .quad   0, 0, 0, 0              // stack and heap reserve/commit
    .long   0                       // LoaderFlags
    .long   6                       // NumberOfRvaAndSizes
    .quad   0, 0, 0, 0              // export, import, resource, exception tables
    .quad   0                       // certificate table (sbsign)
    .quad   0                       // base relocation table: none needed
.Lpe_sections:
    .ascii  ".text\0\0\0"
    .long   __hyp_image_size - 0x1000 // VirtualSize (image-builder patches)
    .long   0x1000                  // VirtualAddress
    .long   __hyp_image_size - 0x1000 // SizeOfRawData (image-builder patches)
    .long   0x1000                  // PointerToRawData
    .long   0, 0                    // PointerToRelocations, PointerToLinenumbers
    .short  0, 0                    // NumberOfRelocations, NumberOfLinenumbers
    .long   0xe0000020              // code; execute, read, write

    .global halyard_primary_entry
halyard_primary_entry:
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
