//! The board's data against the device tree QEMU 10 generates for it
//! (tests/fixtures/dtb): a typo fails here, not at boot.
use super::QemuVirt;

const DTB: &[u8] = include_bytes!("../../../tests/fixtures/dtb/qemu-virt-gicv3.dtb");

#[test]
fn board_data_matches_qemus_device_tree() {
    let p = hypervisor::boot::board_upstream::problems::<QemuVirt>(DTB);
    assert!(p.is_empty(), "{p:#?}");
}
