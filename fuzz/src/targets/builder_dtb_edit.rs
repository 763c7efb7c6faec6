//! A board's device tree edited as its manifest asks (`dtb: disable:`),
//! from a hostile blob: the edit either fails with an error or writes a
//! tree that parses.

use image_builder::board_manifest::DtDisable;
use image_builder::dtb_edit;

pub const TARGET: crate::Target = crate::Target {
    name: "builder-dtb-edit",
    about: "image-builder board DTB edits (disable nodes) on hostile blobs",
    run,
};

fn run(data: &[u8]) {
    let edits = [
        DtDisable {
            path: "/soc/serial@fe201000".into(),
            why: "fuzz".into(),
        },
        DtDisable {
            path: "/pl011@9000000".into(),
            why: "fuzz".into(),
        },
    ];
    for n in 0..=edits.len() {
        if let Ok(out) = dtb_edit::apply(data, &edits[..n]) {
            assert!(fdt::Fdt::new(&out).is_ok(), "an edited tree does not parse");
        }
    }
}
