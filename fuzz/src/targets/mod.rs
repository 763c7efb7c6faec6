//! The harnesses, grouped by what they feed: the hypervisor's parsers of
//! guest and firmware input first, then image-builder's parsers of files.

pub mod builder_apt;
pub mod builder_cpio;
pub mod builder_deb;
pub mod builder_dtb_edit;
pub mod builder_kernel;
pub mod builder_lock;
pub mod builder_manifest;
pub mod builder_verify;
pub mod device_tree;
pub mod ffa;
pub mod image_format;
pub mod uefi_map;
pub mod vgic;
pub mod xen;

/// The tree's development signing key (public half, hex): the key the
/// images the suites build carry, so that real tables verify.
pub fn dev_public_key_hex() -> &'static str {
    include_str!("../../../keys/dev/halyard-signing.pub").trim()
}

/// The same key as bytes.
pub fn dev_public_key() -> [u8; 32] {
    hypervisor::boot::trust::parse_key(dev_public_key_hex())
        .expect("keys/dev/halyard-signing.pub is 64 hex digits")
}
