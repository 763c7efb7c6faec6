//! image-builder's lock files (the pinned Debian packages of an image).

use image_builder::lock::LockFile;

pub const TARGET: crate::Target = crate::Target {
    name: "builder-lock",
    about: "image-builder lock files (YAML) and their checks",
    run,
};

fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(lock) = LockFile::parse(text, std::path::Path::new("fuzz.lock.yaml")) {
        // What parses must write back to text that parses to the same lock.
        let again = LockFile::parse(&lock.to_yaml(), std::path::Path::new("again.lock.yaml"))
            .expect("a lock file written from a parsed one parses");
        assert_eq!(
            again.to_yaml(),
            lock.to_yaml(),
            "lock file round trip differs"
        );
    }
}
