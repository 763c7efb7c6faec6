//! The libFuzzer binary: `HALYARD_FUZZ_TARGET=<name> halyard-fuzz [libFuzzer
//! flags] CORPUS...` (scripts/fuzz sets it up). One binary for every target
//! keeps the instrumented build to one link.
#![no_main]

use std::sync::OnceLock;

static TARGET: OnceLock<&'static halyard_fuzz::Target> = OnceLock::new();

fn target() -> &'static halyard_fuzz::Target {
    TARGET.get_or_init(|| {
        let name = std::env::var("HALYARD_FUZZ_TARGET").unwrap_or_default();
        halyard_fuzz::find(&name).unwrap_or_else(|| {
            let names: Vec<_> = halyard_fuzz::TARGETS.iter().map(|t| t.name).collect();
            eprintln!(
                "halyard-fuzz: HALYARD_FUZZ_TARGET={name:?} is not a target (targets: {})",
                names.join(", ")
            );
            std::process::exit(2)
        })
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| (target().run)(data));
