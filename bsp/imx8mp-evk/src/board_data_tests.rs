//! The board's data against the upstream DTB QEMU boots it with.
use super::Imx8mpEvk;

const DTB: &[u8] = include_bytes!("../../../tests/fixtures/dtb/imx8mp-evk.dtb");

#[test]
fn board_data_matches_the_upstream_device_tree() {
    let p = hypervisor::boot::board_upstream::problems::<Imx8mpEvk>(DTB);
    assert!(p.is_empty(), "{p:#?}");
}
