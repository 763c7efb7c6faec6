//! Running cases: one case against an already-built image, and a whole
//! board suite (select cases, build each image once, run, report).
//!
//! `run_case` is the single code path every QEMU test run goes through, the
//! suite's and the integration tests' alike; `run_suite` adds the selection,
//! image builds, parallelism and the reports (console lines, logs, JUnit).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use image_builder::bail_input;
use image_builder::exit::OrBadInput;
use image_builder::manifest::BoardManifest;
use image_builder::workspace::Workspace;

use crate::case::{load_suite, Case};
use crate::qemu::{self, Capture, Limits, Overrides, SerialLine};
use crate::verdict::{judge, Verdict};

/// How long QEMU keeps running after a forbidden line, to capture context.
pub const FORBID_GRACE: Duration = Duration::from_secs(2);

/// The result of one case.
#[derive(Clone, Debug)]
pub enum Status {
    Passed,
    /// The run did not meet the case's expectations.
    Failed(String),
    /// The case could not be run (image build or QEMU start failed).
    Error(String),
    /// Not run, and why.
    Skipped(String),
}

/// Everything known about one case after the run.
#[derive(Clone, Debug)]
pub struct CaseResult {
    pub name: String,
    pub description: String,
    pub status: Status,
    /// QEMU's run time (zero if QEMU did not run).
    pub duration: Duration,
    /// The QEMU command line (empty if QEMU did not run).
    pub argv: Vec<String>,
    pub capture: Option<Capture>,
    pub verdict: Option<Verdict>,
}

impl CaseResult {
    fn not_run(case: &Case, status: Status) -> Self {
        Self {
            name: case.name.clone(),
            description: case.description.clone(),
            status,
            duration: Duration::ZERO,
            argv: Vec::new(),
            capture: None,
            verdict: None,
        }
    }

    pub fn passed(&self) -> bool {
        matches!(self.status, Status::Passed)
    }

    /// The console line for this case: `PASS|FAIL|ERROR|SKIP name (secs) [reason]`.
    pub fn summary_line(&self) -> String {
        let secs = format!("({:.2} s)", self.duration.as_secs_f64());
        match &self.status {
            Status::Passed => {
                let first = match self.verdict.as_ref().and_then(|v| v.first_line) {
                    Some(t) => format!("first line after {:.3} s", t.as_secs_f64()),
                    None => "no serial output".into(),
                };
                format!("PASS {} {secs} {first}", self.name)
            }
            Status::Failed(r) => format!("FAIL {} {secs} {}", self.name, indent(r)),
            Status::Error(r) => format!("ERROR {} {}", self.name, indent(r)),
            Status::Skipped(r) => format!("SKIP {} ({r})", self.name),
        }
    }
}

fn indent(s: &str) -> String {
    s.replace('\n', "\n    ")
}

/// A serial log: each line prefixed with `[   0.123]`, the seconds since
/// QEMU start.
pub fn format_serial_log(lines: &[SerialLine]) -> String {
    let mut s = String::new();
    for l in lines {
        s.push_str(&format!("[{:8.3}] {}\n", l.at.as_secs_f64(), l.text));
    }
    s
}

/// The QEMU arguments that hand the split layout next to `image` over.
fn loader_args(
    board: &BoardManifest,
    loader: crate::loader::Loader,
    case: &Case,
    image: &Path,
    case_dir: &Path,
    root: &Path,
) -> Result<Vec<String>> {
    use crate::loader::Loader;
    let dir = crate::loader::split_dir(image);
    let uboot = || {
        let p =
            board.qemu.uboot.as_ref().with_context(|| {
                format!("board {} has no qemu.uboot in its manifest", board.board)
            })?;
        if !p.is_file() {
            anyhow::bail!(
                "U-Boot {} not found: install it with scripts/setup (Debian package u-boot-qemu)",
                p.display()
            );
        }
        Ok(p.clone())
    };
    match loader {
        Loader::GuestLoader => {
            let mut layout = crate::loader::read_layout(&dir)?;
            for name in &case.withhold_modules {
                let before = layout.modules.len();
                layout.modules.retain(|m| &m.loaded.file != name);
                if layout.modules.len() == before {
                    anyhow::bail!("withhold_modules: the split layout has no module file {name:?}");
                }
            }
            let extra: Vec<(PathBuf, String)> = case
                .extra_modules
                .iter()
                .map(|m| (root.join(&m.file), m.kind.clone()))
                .collect();
            crate::loader::guest_loader_args(&dir, &layout, &extra)
        }
        Loader::UBoot => {
            let u = uboot()?;
            let layout = crate::loader::read_layout(&dir)?;
            let mut files = vec![
                (dir.join("boot.scr"), "boot.scr".to_string()),
                (
                    dir.join(&layout.hypervisor.file),
                    layout.hypervisor.file.clone(),
                ),
            ];
            for m in &layout.modules {
                files.push((dir.join(&m.loaded.file), m.loaded.file.clone()));
            }
            Ok(crate::uboot_disk::args(
                &u,
                &crate::uboot_disk::make(&files, case_dir)?,
            ))
        }
        Loader::UBootBooti => {
            let u = uboot()?;
            let script = image_builder::uboot::booti_script(board.load_address, "boot.img");
            let scr = case_dir.join("boot.scr");
            std::fs::write(&scr, image_builder::uboot::script_image(&script, 0)?)
                .with_context(|| format!("cannot write {}", scr.display()))?;
            let files = [
                (scr, "boot.scr".to_string()),
                (image.to_path_buf(), "boot.img".to_string()),
            ];
            Ok(crate::uboot_disk::args(
                &u,
                &crate::uboot_disk::make(&files, case_dir)?,
            ))
        }
    }
}

/// Boot `image` on `board`'s QEMU as `case` says, judge the run and write
/// `serial.log`, `stderr.log` and `qemu-cmdline.txt` into `case_dir`.
/// Errors only if QEMU cannot be run at all (or the logs cannot be written).
pub fn run_case(
    board: &BoardManifest,
    case: &Case,
    image: &Path,
    case_dir: &Path,
    workspace_root: &Path,
) -> Result<CaseResult> {
    run_case_with_firmware(board, case, image, case_dir, workspace_root, None)
}

/// [`run_case`], with `secure_firmware` (if given) booted by `secure_world:`
/// cases instead of the firmware beside the image.
pub fn run_case_with_firmware(
    board: &BoardManifest,
    case: &Case,
    image: &Path,
    case_dir: &Path,
    workspace_root: &Path,
    secure_firmware: Option<&Path>,
) -> Result<CaseResult> {
    let exp = case.expectations()?;
    let firmware = crate::secure_world::firmware_for(image, secure_firmware);
    let mut overrides = Overrides {
        smp: case.smp,
        memory_mib: case.memory_mib,
        extra_args: case.qemu_extra_args.clone(),
        ..Overrides::default()
    }
    .with_board_dtb(board, image);
    std::fs::create_dir_all(case_dir)
        .with_context(|| format!("cannot create {}", case_dir.display()))?;
    let uefi_settings = match &case.uefi {
        Some(_) => Some(board.uefi.as_ref().with_context(|| {
            format!(
                "case {}: board {} has no uefi settings in its manifest",
                case.name, board.board
            )
        })?),
        None => None,
    };
    let uefi_app;
    let image = match &case.uefi {
        Some(u) => {
            uefi_app = match u.image_base {
                Some(base) => crate::uefi::relocated_app(image, base, case_dir)
                    .with_context(|| format!("case {}: moving the PE ImageBase", case.name))?,
                None => u.image.path(image),
            };
            uefi_app.as_path()
        }
        None => image,
    };
    let tampered;
    let image = if case.tamper.is_empty() {
        image
    } else {
        tampered = crate::tamper::apply(image, &case.tamper, case_dir)
            .with_context(|| format!("case {}: tampering with the image", case.name))?;
        tampered.as_path()
    };
    if let Some(settings) = uefi_settings {
        let disks = crate::uefi::prepare(settings, image, case_dir)
            .with_context(|| format!("case {}: preparing the UEFI boot", case.name))?;
        overrides.machine = Some(settings.machine.clone());
        overrides.boot_args = Some(crate::uefi::boot_args(settings, &disks));
    }
    if let Some(loader) = case.loader {
        overrides.boot_args = Some(
            loader_args(board, loader, case, image, case_dir, workspace_root)
                .with_context(|| format!("case {}: preparing the {loader:?} boot", case.name))?,
        );
    }
    let secure = match &case.secure_world {
        Some(sc) => {
            let sb = crate::secure_world::prepare(board, sc, &firmware, image, case_dir)
                .with_context(|| format!("case {}: preparing the secure-world boot", case.name))?;
            overrides.machine = Some(sb.machine.clone());
            overrides.boot_args = Some(sb.boot_args.clone());
            overrides.extra_args.extend(sb.extra_args.iter().cloned());
            Some((sc, sb.log))
        }
        None => None,
    };
    let argv = qemu::test_argv(&board.qemu, &overrides, image);
    let timeout = Duration::from_secs(case.timeout_s);
    let limits = Limits {
        timeout,
        grace: FORBID_GRACE,
    };
    let input = case.serial_input()?;
    let cap = qemu::capture_with_input(
        &argv,
        limits,
        &|line| {
            exp.forbidden(line).is_some() || exp.stop_on.as_ref().is_some_and(|r| r.is_match(line))
        },
        &input,
    )
    .with_context(|| format!("case {}: running QEMU", case.name))?;
    let mut verdict = judge(&exp, &cap.lines, &cap.end, timeout);
    if let (Some((sc, log)), None) = (&secure, &verdict.reason) {
        if let Some(why) = crate::secure_world::judge(sc, log)? {
            verdict.passed = false;
            verdict.reason = Some(why);
        }
    }

    std::fs::create_dir_all(case_dir)
        .with_context(|| format!("cannot create {}", case_dir.display()))?;
    let write = |name: &str, text: &str| {
        let p = case_dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))
    };
    write("serial.log", &format_serial_log(&cap.lines))?;
    write("stderr.log", &cap.stderr)?;
    write("qemu-cmdline.txt", &(qemu::shell_line(&argv) + "\n"))?;

    Ok(CaseResult {
        name: case.name.clone(),
        description: case.description.clone(),
        status: match &verdict.reason {
            None => Status::Passed,
            Some(r) => Status::Failed(r.clone()),
        },
        duration: cap.elapsed,
        argv,
        capture: Some(cap),
        verdict: Some(verdict),
    })
}

/// Builds the boot image for an image manifest into a directory and returns
/// its path. In production [`crate::images::build_image`]; tests pass
/// prebuilt images.
pub type ImageProvider<'a> = dyn Fn(&Path, &Path) -> Result<PathBuf> + Sync + 'a;

/// What to run.
#[derive(Clone, Debug)]
pub struct SuiteOptions {
    pub workspace: Workspace,
    pub board: BoardManifest,
    /// Directory of `<case>.yaml` files.
    pub suite_dir: PathBuf,
    /// Run only these cases (all if empty).
    pub cases: Vec<String>,
    /// Also run cases marked `slow`.
    pub slow: bool,
    /// Receives `junit.xml`, `<case>/` and `images/<image>/`.
    pub out_dir: PathBuf,
    /// Cases run in parallel (at least 1).
    pub jobs: usize,
    /// Firmware `secure_world:` cases boot instead of the one beside each
    /// image (`--secure-firmware`).
    pub secure_firmware: Option<PathBuf>,
}

/// The outcome of a suite run.
#[derive(Debug)]
pub struct SuiteReport {
    /// In case-file order.
    pub results: Vec<CaseResult>,
    pub duration: Duration,
    pub junit: PathBuf,
}

impl SuiteReport {
    pub fn count(&self, f: impl Fn(&Status) -> bool) -> usize {
        self.results.iter().filter(|r| f(&r.status)).count()
    }

    /// True if no case failed or errored.
    pub fn success(&self) -> bool {
        self.count(|s| matches!(s, Status::Failed(_) | Status::Error(_))) == 0
    }

    pub fn summary(&self, board: &str) -> String {
        let passed = self.count(|s| matches!(s, Status::Passed));
        let failed = self.count(|s| matches!(s, Status::Failed(_)));
        let errors = self.count(|s| matches!(s, Status::Error(_)));
        let skipped = self.count(|s| matches!(s, Status::Skipped(_)));
        let mut s = format!("{board}: {passed} passed, {failed} failed");
        if errors > 0 {
            s.push_str(&format!(", {errors} could not run"));
        }
        if skipped > 0 {
            s.push_str(&format!(", {skipped} skipped (slow; use --slow)"));
        }
        s.push_str(&format!(" in {:.1} s", self.duration.as_secs_f64()));
        s
    }
}

/// Case directories live next to `images/` in the output directory.
const RESERVED_CASE_NAMES: &[&str] = &["images"];

/// Run a board's suite: select cases, build each distinct image once, run the
/// cases (`jobs` at a time), print one line per case as it finishes, write
/// `junit.xml`. A missing QEMU is an error before anything is built.
pub fn run_suite(opts: &SuiteOptions, provider: &ImageProvider) -> Result<SuiteReport> {
    let start = Instant::now();
    let board = &opts.board;
    let all = load_suite(&opts.suite_dir).or_bad_input()?;
    for c in &all {
        if RESERVED_CASE_NAMES.contains(&c.name.as_str()) {
            bail_input!(
                "{}: case name '{}' is reserved (it names a directory in the output)",
                opts.suite_dir.display(),
                c.name
            );
        }
    }
    for want in &opts.cases {
        if !all.iter().any(|c| &c.name == want) {
            bail_input!(
                "no case '{want}' in {} (cases: {})",
                opts.suite_dir.display(),
                all.iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    qemu::find_binary(&board.qemu.binary)?;

    let selected: Vec<&Case> = all
        .iter()
        .filter(|c| opts.cases.is_empty() || opts.cases.contains(&c.name))
        .collect();
    let mut slots: Vec<Option<CaseResult>> = vec![None; selected.len()];
    let mut runnable = Vec::new();
    for (i, c) in selected.iter().enumerate() {
        if c.slow && !opts.slow {
            let r = CaseResult::not_run(c, Status::Skipped("slow; use --slow".into()));
            println!("{}", r.summary_line());
            slots[i] = Some(r);
        } else {
            runnable.push(i);
        }
    }

    // Build each distinct image manifest once.
    let mut images: BTreeMap<PathBuf, Result<PathBuf, String>> = BTreeMap::new();
    for &i in &runnable {
        let manifest = selected[i].image_manifest(&opts.workspace.root);
        if images.contains_key(&manifest) {
            continue;
        }
        let built = crate::images::image_name(&manifest, board)
            .and_then(|name| {
                let dir = opts.out_dir.join("images").join(&name);
                println!("building image {name} ({})", manifest.display());
                provider(&manifest, &dir)
            })
            .map_err(|e| format!("image build failed: {e:#}"));
        images.insert(manifest, built);
    }

    let next = AtomicUsize::new(0);
    let slots = Mutex::new(slots);
    let run_one = |i: usize| -> CaseResult {
        let case = selected[i];
        let manifest = case.image_manifest(&opts.workspace.root);
        match &images[&manifest] {
            Err(e) => CaseResult::not_run(case, Status::Error(e.clone())),
            Ok(image) => match run_case_with_firmware(
                board,
                case,
                image,
                &opts.out_dir.join(&case.name),
                &opts.workspace.root,
                opts.secure_firmware.as_deref(),
            ) {
                Ok(r) => r,
                Err(e) => CaseResult::not_run(case, Status::Error(format!("{e:#}"))),
            },
        }
    };
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.clamp(1, runnable.len().max(1)) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                let Some(&i) = runnable.get(k) else { break };
                let r = run_one(i);
                println!("{}", r.summary_line());
                slots.lock().unwrap()[i] = Some(r);
            });
        }
    });

    let results: Vec<CaseResult> = slots
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every case has a result"))
        .collect();
    let duration = start.elapsed();
    std::fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("cannot create {}", opts.out_dir.display()))?;
    let junit = opts.out_dir.join("junit.xml");
    crate::junit::write(&junit, &board.board, &results, duration)?;
    Ok(SuiteReport {
        results,
        duration,
        junit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_log_prefixes_seconds() {
        let l = [
            SerialLine::new(Duration::from_millis(123), "halyard: hello"),
            SerialLine::new(Duration::from_millis(12_345), ""),
        ];
        assert_eq!(
            format_serial_log(&l),
            "[   0.123] halyard: hello\n[  12.345] \n"
        );
    }

    fn result(status: Status, first: Option<Duration>) -> CaseResult {
        CaseResult {
            name: "c".into(),
            description: String::new(),
            status,
            duration: Duration::from_millis(1500),
            argv: Vec::new(),
            capture: None,
            verdict: Some(Verdict {
                passed: true,
                reason: None,
                first_line: first,
                matches: Vec::new(),
            }),
        }
    }

    #[test]
    fn summary_lines() {
        let r = result(Status::Passed, Some(Duration::from_millis(42)));
        assert_eq!(r.summary_line(), "PASS c (1.50 s) first line after 0.042 s");
        let r = result(Status::Failed("timeout after 5s; x:\n  a".into()), None);
        assert_eq!(
            r.summary_line(),
            "FAIL c (1.50 s) timeout after 5s; x:\n      a"
        );
        let r = result(Status::Skipped("slow; use --slow".into()), None);
        assert_eq!(r.summary_line(), "SKIP c (slow; use --slow)");
    }
}
