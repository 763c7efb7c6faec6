//! `qemu-runner` command line: parse arguments, locate the workspace and the
//! board, and hand over to the library.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use image_builder::manifest::load_board;
use image_builder::workspace::Workspace;
use qemu_runner::images::build_image;
use qemu_runner::qemu::{self, Overrides};
use qemu_runner::suite::{run_suite, SuiteOptions};

#[derive(Parser)]
#[command(
    version,
    about = "Boot Halyard images on QEMU and run board regression suites",
    after_help = image_builder::exit::HELP_EXIT_CODES
)]
struct Cli {
    /// Halyard source tree (default: the nearest ancestor of the current directory).
    #[arg(long, global = true)]
    workspace: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build (unless --image) and boot an image with the console on this terminal.
    /// Exits 0 when the guest powers off, 130 when Ctrl-A X quits QEMU,
    /// otherwise with QEMU's exit code.
    Run {
        /// Board name (a manifest in manifests/boards/), e.g. qemu-virt.
        #[arg(long)]
        board: String,
        /// A prebuilt boot image to boot instead of building one.
        #[arg(long, conflicts_with = "image_manifest")]
        image: Option<PathBuf>,
        /// Image manifest to build (default: the board's default image).
        #[arg(long)]
        image_manifest: Option<PathBuf>,
        /// Override the board's CPU count.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        smp: Option<u32>,
        /// Override the board's memory size.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        memory_mib: Option<u32>,
        /// Boot through the board's UEFI firmware with Secure Boot enforced
        /// and our keys enrolled (the built boot.efi, or the --image file).
        /// Vars and ESP go to out/uefi-run/.
        #[arg(long)]
        uefi: bool,
        /// Extra QEMU arguments, after `--`.
        #[arg(last = true)]
        qemu_args: Vec<String>,
    },
    /// Run a board's regression suite and write serial logs and junit.xml.
    Test {
        /// Board name (a manifest in manifests/boards/); its suite is tests/suites/<board>.
        #[arg(long)]
        board: String,
        /// Suite directory (default: tests/suites/<board> in the workspace).
        #[arg(long)]
        suite: Option<PathBuf>,
        /// Run only this case (repeatable).
        #[arg(long = "case", value_name = "NAME")]
        cases: Vec<String>,
        /// Also run cases marked `slow: true`.
        #[arg(long)]
        slow: bool,
        /// Output directory (default: out/test-results/<board> in the workspace).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Cases run in parallel.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        jobs: u32,
        /// Secure-world firmware for the `secure_world:` cases, instead of the
        /// secure-firmware.bin image-builder writes beside each image (e.g.
        /// scripts/interop-tfa's out/interop-tfa/flash.bin).
        #[arg(long, value_name = "PATH")]
        secure_firmware: Option<PathBuf>,
    },
}

fn absolute(p: PathBuf) -> Result<PathBuf> {
    std::path::absolute(&p).with_context(|| format!("bad path {}", p.display()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => image_builder::exit::report("qemu-runner", &e),
    }
}

fn real_main(cli: Cli) -> Result<ExitCode> {
    let ws = Workspace::locate(cli.workspace.as_deref())?;
    match cli.command {
        Cmd::Run {
            board,
            image,
            image_manifest,
            smp,
            memory_mib,
            uefi,
            qemu_args,
        } => {
            let b = load_board(&ws, &board)?;
            qemu::find_binary(&b.qemu.binary)?;
            // Without --smp, enough CPUs for every domain's pinned CPUs
            // (unpinned: the largest domain's vCPUs; each vCPU is pinned to
            // its own CPU).
            let mut smp = smp;
            let given = image.is_some();
            let image = match image {
                Some(p) => absolute(p)?,
                None => {
                    let m = image_manifest.map(absolute).transpose()?;
                    let path = image_builder::manifest::image_manifest_path(&ws, m.as_deref(), &b);
                    let manifest = image_builder::manifest::load_image(&path, &b)?;
                    let vcpus = manifest
                        .domains
                        .iter()
                        .map(|d| {
                            let pinned = d.cpus.iter().flatten().map(|c| c + 1).max();
                            pinned.unwrap_or(0).max(u32::from(d.vcpus))
                        })
                        .max()
                        .unwrap_or(1);
                    smp = smp.or(Some(vcpus.max(b.qemu.smp)));
                    build_image(&ws, &board, m.as_deref(), None)?
                }
            };
            let mut overrides = Overrides {
                smp,
                memory_mib,
                extra_args: qemu_args,
                ..Overrides::default()
            }
            .with_board_dtb(&b, &image);
            if uefi {
                let settings = b
                    .uefi
                    .as_ref()
                    .with_context(|| format!("board {board} has no uefi settings"))?;
                let app = if given {
                    image.clone()
                } else {
                    qemu_runner::uefi::UefiImage::Signed.path(&image)
                };
                let disks =
                    qemu_runner::uefi::prepare(settings, &app, &ws.root.join("out/uefi-run"))?;
                overrides.machine = Some(settings.machine.clone());
                overrides.boot_args = Some(qemu_runner::uefi::boot_args(settings, &disks));
            }
            let argv = qemu::run_argv(&b.qemu, &overrides, &image);
            println!("{}", qemu::shell_line(&argv));
            let end = qemu_runner::interactive::run(&argv)?;
            if let Some(why) = &end.message {
                eprintln!("qemu-runner: {why}");
            }
            Ok(ExitCode::from(end.code))
        }
        Cmd::Test {
            board,
            suite,
            cases,
            slow,
            out,
            jobs,
            secure_firmware,
        } => {
            let b = load_board(&ws, &board)?;
            let secure_firmware = secure_firmware.map(absolute).transpose()?;
            if let Some(f) = &secure_firmware {
                if !f.is_file() {
                    image_builder::bail_input!("--secure-firmware {}: no such file", f.display());
                }
            }
            let suite_dir = match suite {
                Some(p) => absolute(p)?,
                None => ws.root.join("tests/suites").join(&board),
            };
            let out_dir = match out {
                Some(p) => absolute(p)?,
                None => ws.root.join("out/test-results").join(&board),
            };
            let opts = SuiteOptions {
                workspace: ws.clone(),
                board: b,
                suite_dir,
                cases,
                slow,
                out_dir,
                jobs: jobs as usize,
                secure_firmware,
            };
            let provider = |manifest: &std::path::Path, dir: &std::path::Path| -> Result<PathBuf> {
                build_image(&ws, &board, Some(manifest), Some(dir))
            };
            let report = run_suite(&opts, &provider)?;
            println!("{}", report.summary(&board));
            println!("junit: {}", report.junit.display());
            Ok(if report.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
