//! Debian binary packages as image-builder reads them: the ar container,
//! the control member and the data tree (tar, plain or xz/zstd/gzip).

use image_builder::deb;

pub const TARGET: crate::Target = crate::Target {
    name: "builder-deb",
    about: "image-builder .deb reader: ar, tar, xz/zstd/gzip members, control fields, data entries",
    run,
};

fn run(data: &[u8]) {
    let _ = deb::control(data);
    let _ = deb::data_entries(data, &|p| p.starts_with("boot/"));
    let _ = deb::extract_one(data, "boot/vmlinuz-*");
}
