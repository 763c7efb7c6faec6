//! The reproducibility check: build the same sources twice, from two copies
//! of the tree, with everything a build must not depend on varied for the
//! second one, and compare every output byte for byte.
//!
//! Build B differs from build A in: the tree's path (long and nested), HOME,
//! the cargo target directory (outside the tree), umask, TZ, locale, the
//! order directories list their entries (the copy is seen through a
//! disorderfs mount) and the clock (the builder runs under libfaketime,
//! moved forward; the toolchain runs on the real clock, see
//! [`crate::cargo::toolchain_command`]). Shared on purpose: the toolchain
//! (CARGO_HOME, RUSTUP_HOME), the Debian package cache (pinned by SHA-256)
//! and SOURCE_DATE_EPOCH. Both builds are `--release` builds, so boot.img,
//! its .sha256, build.json, the SBOM and the archive are all compared; on a
//! difference diffoscope shows where.
//!
//! A variation this machine cannot apply (no FUSE, no faketime, no second
//! locale) is reported loudly as NOT VARIED; with `strict` (CI) that fails
//! the check.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::digest::sha256_hex;
use crate::manifest::{image_manifest_path, load_board, load_image};
use crate::record::{source_date_epoch, EpochSource};
use crate::shuffle::ShuffledMount;
use crate::workspace::Workspace;

/// What to check.
#[derive(Clone, Debug)]
pub struct ReproOptions {
    pub workspace: Workspace,
    pub board: String,
    /// Image manifest, as for [`crate::BuildOptions::image`].
    pub image: Option<PathBuf>,
    /// The image-builder binary that runs each build (the CLI passes itself).
    pub builder: PathBuf,
}

/// One output file compared between the two builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comparison {
    pub name: String,
    /// Hex SHA-256 in A and B (`missing` if a build did not write it).
    pub sha256: [String; 2],
    /// First offset at which the two differ (`None`: identical).
    pub first_difference: Option<u64>,
    /// diffoscope's report when they differ.
    pub diffoscope: Option<String>,
}

/// One thing the second build varies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variation {
    pub name: &'static str,
    pub a: String,
    pub b: String,
    /// `Err(why)`: this machine could not apply it; B equals A here.
    pub applied: Result<(), String>,
}

impl Variation {
    fn applied(name: &'static str, a: String, b: String) -> Self {
        Self {
            name,
            a,
            b,
            applied: Ok(()),
        }
    }
}

/// The result of [`repro`].
#[derive(Clone, Debug)]
pub struct ReproReport {
    /// Where the two copies were (removed by now).
    pub roots: [PathBuf; 2],
    pub variations: Vec<Variation>,
    pub files: Vec<Comparison>,
    pub elapsed: Duration,
}

impl ReproReport {
    pub fn identical(&self) -> bool {
        self.files.iter().all(|c| c.first_difference.is_none())
    }

    /// The variations this machine could not apply.
    pub fn not_varied(&self) -> Vec<&Variation> {
        self.variations
            .iter()
            .filter(|v| v.applied.is_err())
            .collect()
    }

    /// The last line of the report (`reproducible: ...`) and whether the
    /// check passed. A variation not applied fails only a `strict` check.
    pub fn verdict(&self, strict: bool) -> (String, bool) {
        let missing: Vec<&str> = self.not_varied().iter().map(|v| v.name).collect();
        let line = match (self.identical(), missing.is_empty(), strict) {
            (false, _, _) => "reproducible: DIFFER".to_string(),
            (true, true, _) => "reproducible: OK".to_string(),
            (true, false, false) => {
                format!("reproducible: OK (NOT VARIED: {})", missing.join(", "))
            }
            (true, false, true) => format!(
                "reproducible: INCOMPLETE (NOT VARIED: {}; --strict requires every variation)",
                missing.join(", ")
            ),
        };
        let ok = self.identical() && (missing.is_empty() || !strict);
        (line, ok)
    }

    /// Human-readable report: the copies, the variations, one entry per
    /// file (with diffoscope's report for a difference).
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (label, root) in ["A", "B"].iter().zip(&self.roots) {
            let len = root.as_os_str().len();
            s += &format!("tree {label}: {} ({len} chars)\n", root.display());
        }
        s += "variations (A | B):\n";
        for v in &self.variations {
            s += &format!("  {:16} {} | {}\n", v.name, v.a, v.b);
        }
        for v in self.not_varied() {
            if let Err(why) = &v.applied {
                s += &format!("NOT VARIED: {}: {why}\n", v.name);
            }
        }
        for c in &self.files {
            let verdict = match c.first_difference {
                None => "OK".to_string(),
                Some(off) => format!("DIFFER (first difference at offset {off:#x})"),
            };
            s += &format!(
                "{}: {verdict}\n  A {}\n  B {}\n",
                c.name, c.sha256[0], c.sha256[1]
            );
            if let Some(d) = &c.diffoscope {
                s += &format!("  diffoscope {} (A) {} (B):\n", c.name, c.name);
                for line in d.lines() {
                    s += &format!("    {line}\n");
                }
            }
        }
        s += &format!("took {:.1} s\n", self.elapsed.as_secs_f64());
        s
    }
}

/// First offset where `a` and `b` differ, if any (a length difference counts).
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<u64> {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => Some(i as u64),
        None if a.len() != b.len() => Some(a.len().min(b.len()) as u64),
        None => None,
    }
}

/// Removes a directory tree when dropped.
struct TempTree(PathBuf);

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Minimum length of the second copy's root path.
const LONG_PATH: usize = 100;

/// The source files of the tree: tracked and untracked-but-not-ignored, so
/// uncommitted work counts. Build outputs are never sources.
fn source_files(root: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("git")
        .args(["ls-files", "-z", "-co", "--exclude-standard"])
        .current_dir(root)
        .output()
        .context("cannot run git (the reproducibility check lists sources with git ls-files)")?;
    if !out.status.success() {
        bail!(
            "git ls-files failed in {}: {}",
            root.display(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    let mut files: Vec<PathBuf> = out
        .stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
        .filter(|p| !p.starts_with("target") && !p.starts_with("out"))
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// Copy `files` (relative to `from`) into `to`. Files deleted from the work
/// tree but still in the index are skipped, as a build would not see them.
fn copy_tree(from: &Path, to: &Path, files: &[PathBuf]) -> Result<()> {
    for rel in files {
        let src = from.join(rel);
        let Ok(meta) = std::fs::symlink_metadata(&src) else {
            continue;
        };
        let dst = to.join(rel);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        #[cfg(unix)]
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&src)?;
            std::os::unix::fs::symlink(&target, &dst)
                .with_context(|| format!("cannot link {}", dst.display()))?;
            continue;
        }
        if meta.is_file() || meta.file_type().is_symlink() {
            std::fs::copy(&src, &dst)
                .with_context(|| format!("cannot copy {} to {}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

/// The two copy roots under `base`: a short one and a long, nested one.
fn copy_roots(base: &Path) -> [PathBuf; 2] {
    let a = base.join("a");
    let mut b = base.join("b-a-rather-long-directory-name-so-that-paths-differ-in-length");
    while b.as_os_str().len() <= LONG_PATH {
        b.push("nested-deeper");
    }
    [a, b.join("halyard")]
}

/// One build's environment.
struct BuildEnv {
    /// Where the build sees the tree.
    root: PathBuf,
    home: PathBuf,
    target_dir: PathBuf,
    umask: u32,
    tz: &'static str,
    locale: String,
    /// faketime's offset (`None`: the real clock).
    clock: Option<&'static str>,
}

/// The moved clock of build B (libfaketime's relative format).
const CLOCK_OFFSET: &str = "+1234d";
/// B's locale (Debian's reproducible-builds tests use a Swiss one too);
/// scripts/setup generates it.
const LOCALE_B: &str = "fr_CH.UTF-8";

/// Whether `program` is on the PATH.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// Whether faketime moves the clock here: `date` under it must be more
/// than 1000 days ahead.
fn clock_moves() -> Result<(), String> {
    if !on_path("faketime") {
        return Err("no faketime on the PATH (scripts/setup installs it)".into());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let out = Command::new("faketime")
        .args(["-f", CLOCK_OFFSET, "date", "+%s"])
        .output()
        .map_err(|e| format!("cannot run faketime: {e}"))?;
    let moved: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    if moved > now + 1000 * 86_400 {
        Ok(())
    } else {
        Err(format!(
            "faketime -f {CLOCK_OFFSET} date printed {moved:?}, not a moved clock"
        ))
    }
}

/// Whether `locale -a` lists `locale` (glibc spells `UTF-8` as `utf8`).
fn locale_installed(locale: &str) -> bool {
    let want = locale.replace("UTF-8", "utf8");
    Command::new("locale").arg("-a").output().is_ok_and(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l == want)
    })
}

/// The command running one build with `env`.
fn build_command(opts: &ReproOptions, env: &BuildEnv, epoch: u64, image: Option<&Path>) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {:04o} && exec \"$@\"", env.umask))
        .arg("sh");
    if let Some(offset) = env.clock {
        cmd.args(["faketime", "-f", offset]);
    }
    cmd.arg(&opts.builder)
        .args(["--release", "--board", &opts.board, "--workspace"])
        .arg(&env.root)
        .arg("--out")
        .arg(env.root.join("out/repro"))
        .arg("--target-dir")
        .arg(&env.target_dir);
    if let Some(i) = image {
        cmd.arg("--image").arg(i);
    }
    // The toolchain and the package cache stay where they are for both.
    if let Some(h) = crate::cargo::cargo_home() {
        cmd.env("CARGO_HOME", h);
    }
    let rustup = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".rustup")));
    if let Some(r) = rustup {
        cmd.env("RUSTUP_HOME", r);
    }
    cmd.current_dir(&env.root)
        .env(
            crate::debian::CACHE_ENV,
            crate::debian::cache_dir(&opts.workspace.root),
        )
        .env("HOME", &env.home)
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .env("TZ", env.tz)
        .env("LC_ALL", &env.locale)
        .env("LANG", &env.locale)
        .env_remove("LANGUAGE");
    cmd
}

/// The files in a build's output directory, sorted.
fn output_names(dir: &Path) -> Result<Vec<String>> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    v.sort();
    Ok(v)
}

/// Compare every file the two builds wrote; diffoscope on each difference.
pub fn compare_outputs(a: &Path, b: &Path) -> Result<Vec<Comparison>> {
    let mut names = output_names(a)?;
    names.extend(output_names(b)?);
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for name in names {
        let (pa, pb) = (a.join(&name), b.join(&name));
        let (ba, bb) = (std::fs::read(&pa).ok(), std::fs::read(&pb).ok());
        let hash = |b: &Option<Vec<u8>>| b.as_deref().map_or("missing".into(), sha256_hex);
        let first_difference = match (&ba, &bb) {
            (Some(x), Some(y)) => first_difference(x, y),
            _ => Some(0),
        };
        let diffoscope = match (&ba, &bb, first_difference) {
            (Some(_), Some(_), Some(_)) => Some(crate::diffoscope::report(&pa, &pb)),
            _ => None,
        };
        out.push(Comparison {
            sha256: [hash(&ba), hash(&bb)],
            name,
            first_difference,
            diffoscope,
        });
    }
    Ok(out)
}

/// Build the image twice (B with every variation this machine can apply)
/// and compare the outputs.
pub fn repro(opts: &ReproOptions) -> Result<ReproReport> {
    let started = Instant::now();
    let root = opts.workspace.root.as_path();
    // Catch bad arguments before copying anything.
    let board = load_board(&opts.workspace, &opts.board)?;
    let image_path = image_manifest_path(&opts.workspace, opts.image.as_deref(), &board);
    load_image(&root.join(image_path), &board)?;
    let files = source_files(root)?;
    // One timestamp for both: the copies have no .git to ask.
    let (epoch, src) = source_date_epoch(root)?;
    if src == EpochSource::Missing {
        eprintln!("image-builder: WARNING: no SOURCE_DATE_EPOCH and no git commit: using 0");
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let base = std::env::temp_dir().join(format!("halyard-repro-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&base).with_context(|| format!("cannot create {}", base.display()))?;
    let _cleanup = TempTree(base.clone());

    let roots = copy_roots(&base);
    // B is copied from A, so both see the same sources even if the tree is
    // being edited meanwhile. B's files live in a backing directory that a
    // disorderfs mount at B's long path shows in shuffled order.
    copy_tree(root, &roots[0], &files)?;
    let backing = base.join("b-backing");
    copy_tree(&roots[0], &backing, &files)?;
    let (_mount, shuffled) = match ShuffledMount::mount(&backing, &roots[1]) {
        Ok(m) => (Some(m), Ok(())),
        Err(why) => {
            eprintln!(
                "image-builder: WARNING: directory order NOT varied: {why} (build B reads a plain copy)"
            );
            copy_tree(&backing, &roots[1], &files)?;
            (None, Err(why))
        }
    };
    let home_b = base.join("home-b");
    std::fs::create_dir(&home_b)?;
    let locale_b = locale_installed(LOCALE_B);
    if !locale_b {
        eprintln!("image-builder: WARNING: locale NOT varied: {LOCALE_B} is not installed (scripts/setup generates it)");
    }
    let clock = clock_moves();
    if let Err(why) = &clock {
        eprintln!("image-builder: WARNING: clock NOT varied: {why}");
    }
    let home_a = std::env::var_os("HOME").map_or_else(|| base.join("home-a"), PathBuf::from);
    let envs = [
        BuildEnv {
            root: roots[0].clone(),
            home: home_a,
            target_dir: roots[0].join("target/image-builder"),
            umask: 0o022,
            tz: "UTC",
            locale: "C.UTF-8".into(),
            clock: None,
        },
        BuildEnv {
            root: roots[1].clone(),
            home: home_b,
            target_dir: base.join("another-target-dir"),
            umask: 0o077,
            tz: "Pacific/Kiritimati",
            locale: if locale_b { LOCALE_B } else { "C.UTF-8" }.into(),
            clock: clock.is_ok().then_some(CLOCK_OFFSET),
        },
    ];
    let [a, b] = &envs;
    let shown = |p: &Path| p.display().to_string();
    let variations = vec![
        Variation::applied("path", shown(&a.root), shown(&b.root)),
        Variation::applied("HOME", shown(&a.home), shown(&b.home)),
        Variation::applied("target dir", shown(&a.target_dir), shown(&b.target_dir)),
        Variation::applied(
            "umask",
            format!("{:04o}", a.umask),
            format!("{:04o}", b.umask),
        ),
        Variation::applied("TZ", a.tz.into(), b.tz.into()),
        Variation {
            name: "locale",
            a: a.locale.clone(),
            b: b.locale.clone(),
            applied: if locale_b {
                Ok(())
            } else {
                Err(format!("{LOCALE_B} is not installed"))
            },
        },
        Variation {
            name: "directory order",
            a: "as stored".into(),
            b: match &shuffled {
                Ok(_) => "shuffled (disorderfs)".into(),
                Err(_) => "as stored".into(),
            },
            applied: shuffled.clone(),
        },
        Variation {
            name: "clock",
            a: "real".into(),
            b: match b.clock {
                Some(o) => format!("{o} (faketime; the toolchain on the real clock)"),
                None => "real".into(),
            },
            applied: clock,
        },
    ];

    for (label, env) in ["A", "B"].iter().zip(&envs) {
        // An image manifest inside the tree is taken from the copy.
        let image = opts.image.as_ref().map(|p| match p.strip_prefix(root) {
            Ok(rel) => env.root.join(rel),
            Err(_) => p.clone(),
        });
        let out = build_command(opts, env, epoch, image.as_deref())
            .output()
            .with_context(|| format!("cannot run {}", opts.builder.display()))?;
        if !out.status.success() {
            bail!(
                "build {label} in {} failed ({}):\n{}",
                env.root.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
        }
    }
    let files = compare_outputs(&roots[0].join("out/repro"), &roots[1].join("out/repro"))?;
    Ok(ReproReport {
        roots,
        variations,
        files,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_difference_finds_offsets() {
        assert_eq!(first_difference(b"abc", b"abc"), None);
        assert_eq!(first_difference(b"abc", b"abd"), Some(2));
        assert_eq!(first_difference(b"abc", b"abcd"), Some(3));
        assert_eq!(first_difference(b"", b"x"), Some(0));
    }

    #[test]
    fn second_root_is_long_and_distinct() {
        let [a, b] = copy_roots(Path::new("/tmp/x"));
        assert!(b.as_os_str().len() > LONG_PATH, "{}", b.display());
        assert_ne!(a.as_os_str().len(), b.as_os_str().len());
        assert!(b.components().count() > a.components().count() + 1);
    }

    #[test]
    fn render_reports_ok_and_differ() {
        let r = ReproReport {
            roots: [PathBuf::from("/t/a"), PathBuf::from("/t/bb")],
            variations: vec![
                Variation {
                    name: "umask",
                    a: "0022".into(),
                    b: "0077".into(),
                    applied: Ok(()),
                },
                Variation {
                    name: "directory order",
                    a: "as stored".into(),
                    b: "as stored".into(),
                    applied: Err("no FUSE".into()),
                },
            ],
            files: vec![
                Comparison {
                    name: "boot.img".into(),
                    sha256: ["11".into(), "11".into()],
                    first_difference: None,
                    diffoscope: None,
                },
                Comparison {
                    name: "build.json".into(),
                    sha256: ["22".into(), "33".into()],
                    first_difference: Some(0x1f),
                    diffoscope: Some("--- a\n+++ b\n".into()),
                },
            ],
            elapsed: Duration::from_millis(1500),
        };
        assert!(!r.identical());
        assert_eq!(r.not_varied().len(), 1);
        let s = r.render();
        assert!(s.contains("tree B: /t/bb (5 chars)"), "{s}");
        assert!(s.contains("  umask            0022 | 0077\n"), "{s}");
        assert!(s.contains("NOT VARIED: directory order: no FUSE\n"), "{s}");
        assert!(s.contains("boot.img: OK\n  A 11\n  B 11\n"), "{s}");
        let differ = "build.json: DIFFER (first difference at offset 0x1f)\n  A 22\n  B 33\n";
        assert!(s.contains(differ), "{s}");
        assert!(s.contains("    --- a\n    +++ b\n"), "{s}");
        assert!(s.ends_with("took 1.5 s\n"), "{s}");
        assert_eq!(r.verdict(false), ("reproducible: DIFFER".into(), false));
    }

    #[test]
    fn a_variation_not_applied_fails_only_strict_checks() {
        let mut r = ReproReport {
            roots: [PathBuf::from("/t/a"), PathBuf::from("/t/b")],
            variations: vec![Variation::applied("umask", "0022".into(), "0077".into())],
            files: Vec::new(),
            elapsed: Duration::ZERO,
        };
        assert_eq!(r.verdict(true), ("reproducible: OK".into(), true));
        r.variations.push(Variation {
            name: "clock",
            a: "real".into(),
            b: "real".into(),
            applied: Err("no faketime".into()),
        });
        assert_eq!(
            r.verdict(false),
            ("reproducible: OK (NOT VARIED: clock)".into(), true)
        );
        let (line, ok) = r.verdict(true);
        assert!(!ok);
        assert!(
            line.starts_with("reproducible: INCOMPLETE (NOT VARIED: clock;"),
            "{line}"
        );
    }

    #[test]
    fn different_outputs_are_shown_by_diffoscope() {
        // Two deliberately different output directories through the same
        // code the real check uses.
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("same.bin"), b"same").unwrap();
        }
        std::fs::write(a.join("build.json"), "{\n  \"root\": \"/tmp/a\"\n}\n").unwrap();
        std::fs::write(b.join("build.json"), "{\n  \"root\": \"/tmp/bbbb\"\n}\n").unwrap();
        std::fs::write(b.join("only-b"), b"x").unwrap();
        let c = compare_outputs(&a, &b).unwrap();
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["build.json", "only-b", "same.bin"]);
        assert_eq!(c[0].first_difference, Some(18));
        let d = c[0].diffoscope.as_deref().unwrap();
        assert!(d.contains("/tmp/a") && d.contains("/tmp/bbbb"), "{d}");
        assert_eq!(c[1].sha256[0], "missing");
        assert!(c[1].first_difference.is_some());
        assert_eq!((c[2].first_difference, &c[2].diffoscope), (None, &None));
    }

    #[test]
    fn copies_listed_files_only() {
        let from = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(from.path().join("src/deep")).unwrap();
        std::fs::write(from.path().join("src/deep/a.rs"), "a").unwrap();
        std::fs::write(from.path().join("unlisted"), "u").unwrap();
        let files = [PathBuf::from("src/deep/a.rs"), PathBuf::from("deleted.rs")];
        copy_tree(from.path(), to.path(), &files).unwrap();
        assert_eq!(
            std::fs::read(to.path().join("src/deep/a.rs")).unwrap(),
            b"a"
        );
        assert!(!to.path().join("unlisted").exists());
        assert!(!to.path().join("deleted.rs").exists());
    }

    #[test]
    fn lists_sources_with_git() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let git = |args: &[&str]| {
            let o = Command::new("git")
                .args(args)
                .current_dir(root)
                .output()
                .unwrap();
            assert!(o.status.success(), "git {args:?}: {o:?}");
        };
        git(&["init", "-q"]);
        std::fs::write(root.join(".gitignore"), "/ignored\n").unwrap();
        std::fs::write(root.join("tracked"), "t").unwrap();
        git(&["add", "tracked"]);
        std::fs::write(root.join("new"), "n").unwrap();
        std::fs::write(root.join("ignored"), "i").unwrap();
        std::fs::create_dir(root.join("target")).unwrap();
        std::fs::write(root.join("target/x"), "x").unwrap();
        let files = source_files(root).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [".gitignore", "new", "tracked"]);
    }
}
