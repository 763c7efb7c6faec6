//! Tell the BSPs where the hypervisor's linker layout is (DEP_HALYARD_LAYOUT).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:layout={dir}/link.ld");
    println!("cargo:rerun-if-changed=link.ld");
}
