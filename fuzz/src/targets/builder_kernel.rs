//! Kernel images as image-builder takes them: an arm64 `Image`, possibly
//! gzip'd (Debian's vmlinuz), with its header checked and its footprint
//! computed.

use image_builder::board_manifest::Arch;
use image_builder::kernel;

pub const TARGET: crate::Target = crate::Target {
    name: "builder-kernel",
    about: "image-builder kernel preparation (gzip'd or plain arm64 Image header)",
    run,
};

fn run(data: &[u8]) {
    let _ = kernel::arm64_footprint(data);
    let _ = kernel::prepare(Arch::Aarch64, data.to_vec());
}
