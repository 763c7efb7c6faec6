//! Links the firmware with its own script: code and read-only data run in
//! place from QEMU virt's flash at 0, writable data lives in secure RAM.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    fs::write(out.join("firmware.ld"), include_str!("link.ld")).expect("write linker script");
    fs::write(
        out.join("ffa-el2-test.ld"),
        include_str!("tests-el2/link.ld"),
    )
    .expect("write linker script");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bin=halyard-firmware=-Tfirmware.ld");
    // The EL2 test program (not part of the product) runs from normal-world RAM.
    println!("cargo:rustc-link-arg-bin=ffa-el2-test=-Tffa-el2-test.ld");
    println!("cargo:rerun-if-changed=link.ld");
    println!("cargo:rerun-if-changed=tests-el2/link.ld");
}
