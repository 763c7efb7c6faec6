//! Links the firmware with its own script: code and read-only data run in
//! place from QEMU virt's flash at 0, writable data lives in secure RAM.
//! Host builds (clippy, tests of the workspace) get a stub `main` and no
//! script.
use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=link.ld");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    fs::write(out.join("firmware.ld"), include_str!("link.ld")).expect("write linker script");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bin=halyard-firmware=-Tfirmware.ld");
}
