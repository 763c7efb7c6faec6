//! Making the boot image: the build pipeline, the toolchain runs, ELF to
//! flat binary, assembly (the module table and layout), the PE/EFI view, the
//! split layout and U-Boot script, all-or-nothing output and progress.
pub(crate) mod assemble;
pub mod build;
pub(crate) mod cargo;
pub(crate) mod elf;
pub(crate) mod output;
pub mod pe;
pub(crate) mod progress;
pub mod split;
pub mod uboot;
