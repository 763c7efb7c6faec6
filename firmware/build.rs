//! Links the firmware with its own script: code and read-only data run in
//! place from QEMU virt's flash at 0, writable data lives in secure RAM.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let script = include_str!("link.ld");
    fs::write(out.join("firmware.ld"), script).expect("write linker script");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tfirmware.ld");
    println!("cargo:rerun-if-changed=link.ld");
}
