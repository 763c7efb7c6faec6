//! Every checked-in seed (`corpus/<target>/`) and every past finding
//! (`regressions/<target>/`) through its harness, uninstrumented: the
//! findings stay fixed in the ordinary host tests. Plus a few thousand
//! deterministic pseudo-random inputs per target, so that a harness that
//! cannot run (or a target without seeds) fails here, not only under the
//! fuzzer.

use std::path::{Path, PathBuf};

use halyard_fuzz::TARGETS;

fn dir(kind: &str, target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(kind)
        .join(target)
}

fn files(d: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(d)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_target_has_seeds_and_they_run() {
    for t in TARGETS {
        let seeds = files(&dir("corpus", t.name));
        assert!(
            !seeds.is_empty(),
            "target {} has no seeds in corpus/{}",
            t.name,
            t.name
        );
        for s in seeds {
            (t.run)(&std::fs::read(&s).unwrap());
        }
    }
}

#[test]
fn past_findings_stay_fixed() {
    for t in TARGETS {
        for f in files(&dir("regressions", t.name)) {
            eprintln!("{}: {}", t.name, f.display());
            (t.run)(&std::fs::read(&f).unwrap());
        }
    }
}

#[test]
fn pseudo_random_inputs() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for t in TARGETS {
        for n in 0..2000usize {
            let len = n % 600;
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            (t.run)(&data);
        }
    }
}

#[test]
fn target_names_are_unique() {
    let mut names: Vec<_> = TARGETS.iter().map(|t| t.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), TARGETS.len());
}
