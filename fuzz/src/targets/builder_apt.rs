//! Debian archive index stanzas (Packages, Release, control files) and
//! their dependency fields, as image-builder resolves packages from them.

use image_builder::apt::Stanza;

pub const TARGET: crate::Target = crate::Target {
    name: "builder-apt-index",
    about: "image-builder Debian index stanzas and Depends parsing",
    run,
};

fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for para in text.split("\n\n") {
        let s = Stanza::parse(para);
        let _ = s.get("Package");
        let _ = s.depends();
    }
}
