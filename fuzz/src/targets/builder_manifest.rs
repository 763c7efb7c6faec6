//! image-builder's manifests: image manifests (checked against the in-tree
//! qemu-virt board, as a build does) and board manifests, from any text.

use image_builder::manifest::{parse_board, parse_image, BoardManifest};
use std::sync::OnceLock;

pub const TARGET: crate::Target = crate::Target {
    name: "builder-manifest",
    about: "image-builder image and board manifests (YAML) and their checks",
    run,
};

fn qemu_virt() -> &'static BoardManifest {
    static BOARD: OnceLock<BoardManifest> = OnceLock::new();
    BOARD.get_or_init(|| {
        parse_board(
            include_str!("../../../manifests/boards/qemu-virt.yaml"),
            "manifests/boards/qemu-virt.yaml",
            "qemu-virt",
        )
        .expect("the in-tree qemu-virt manifest parses")
    })
}

fn run(data: &[u8]) {
    let Some((&which, text)) = data.split_first() else {
        return;
    };
    // Files are read as UTF-8 first; anything else is refused there.
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    if which & 1 == 0 {
        let _ = parse_image(text, "fuzz.yaml", qemu_virt());
    } else {
        let _ = parse_board(text, "fuzz.yaml", "qemu-virt");
    }
}
