//! The hypervisor's linker layout, at this board's load address (an arm64
//! Image at RAM base 0x40000000 + text_offset 2 MiB).
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        let layout =
            std::env::var("DEP_HALYARD_LAYOUT").expect("the hypervisor crate names its layout");
        println!("cargo:rustc-link-arg-bins=--defsym=HALYARD_LOAD_ADDRESS=0x40200000");
        println!("cargo:rustc-link-arg-bins=-T{layout}");
    }
}
