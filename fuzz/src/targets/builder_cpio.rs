//! The initramfs writer fed hostile paths, link targets and modes (as a
//! manifest's applet list or a package's data tree gives them): it either
//! refuses with an error or writes an archive that reads back entry by
//! entry.

use std::io::Read;

use arbitrary::{Arbitrary, Unstructured};
use image_builder::cpio::{Archive, Node};

pub const TARGET: crate::Target = crate::Target {
    name: "builder-cpio",
    about: "image-builder initramfs (cpio newc) writer with hostile paths, links and modes",
    run,
};

#[derive(Arbitrary, Debug)]
enum Entry {
    Dir(String, u32),
    File(String, u32, Vec<u8>),
    Symlink(String, String),
    CharDev(String, u32, u32, u32),
}

fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut a = Archive::new();
    for _ in 0..32 {
        let Ok(e) = Entry::arbitrary(&mut u) else {
            break;
        };
        let _ = match e {
            Entry::Dir(p, mode) => a.dir(&p, mode),
            Entry::File(p, mode, bytes) => a.file(&p, mode, bytes),
            Entry::Symlink(p, target) => a.symlink(&p, &target),
            Entry::CharDev(p, mode, major, minor) => a.char_dev(&p, mode, major, minor),
        };
        let _ = a.resolve("bin/sh").map(|n| matches!(n, Node::Dir));
    }
    let Ok(bytes) = a.write(0) else { return };
    let mut rest = bytes.as_slice();
    loop {
        let mut r = cpio::newc::Reader::new(rest).expect("the written archive reads back");
        let trailer = r.entry().is_trailer();
        let mut body = Vec::new();
        r.read_to_end(&mut body)
            .expect("an entry's data reads back");
        rest = r.finish().expect("entry ends inside the archive");
        if trailer {
            break;
        }
    }
}
