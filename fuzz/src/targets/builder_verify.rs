//! `image-builder verify` on any file: finding the table (from the arm64
//! header, or by scanning), stripping an Authenticode signature (PE
//! certificate table), the signature, every module's digests and the
//! device section.

use image_builder::verify;

pub const TARGET: crate::Target = crate::Target {
    name: "builder-verify",
    about: "image-builder verify: table search, PE certificate table, signature, digests",
    run,
};

fn run(data: &[u8]) {
    let _ = verify::not_an_image(data);
    let _ = verify::find_table(data);
    let report = verify::verify_image(data, &super::dev_public_key());
    let _ = report.render();
}
