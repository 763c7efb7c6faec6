//! A BSP's whole build script: `halyard_link::at(LOAD_ADDRESS)`. It links
//! the bare-metal image with the hypervisor's one layout
//! (`hypervisor/link.ld`, which the hypervisor crate hands over as
//! `DEP_HALYARD_LAYOUT`) placed at the board's load address. Host builds
//! (the BSP's tests) are left alone.

/// Link the BSP's binary at `load_address` (where the board's loader puts
/// the image: for an arm64 Image, a 2 MiB boundary + text_offset 2 MiB).
pub fn at(load_address: u64) {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let layout = std::env::var("DEP_HALYARD_LAYOUT")
        .expect("the BSP depends on the hypervisor crate, which names its layout");
    println!("cargo:rustc-link-arg-bins=--defsym=HALYARD_LOAD_ADDRESS={load_address:#x}");
    println!("cargo:rustc-link-arg-bins=-T{layout}");
}
