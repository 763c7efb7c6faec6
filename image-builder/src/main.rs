//! Command line of the image builder: `image-builder --board B` builds an
//! image, `image-builder --board B --image M --update-lock` re-pins the
//! image's Debian packages, `image-builder --board B --release` also writes
//! the SBOM and a release archive, `image-builder repro --board B` checks that
//! builds are reproducible, `image-builder keygen --out DIR` makes a signing
//! key pair and `image-builder verify IMAGE [--key PUB]` checks an image's
//! signature and modules.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use clap::{Args, Parser, Subcommand};
use image_builder::build::{build_with_keys, Layout};
use image_builder::exit::{self, bad_input, OrBadInput, HELP_EXIT_CODES};
use image_builder::signing::{self, DEV_PUB_WARNING};
use image_builder::workspace::Workspace;
use image_builder::{repro, update_lock, BuildOptions, ReproOptions};

#[derive(Parser, Debug)]
#[command(
    name = "image-builder",
    version,
    about = "Build a Halyard boot image for a board from YAML manifests",
    after_help = HELP_EXIT_CODES,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(flatten)]
    build: BuildArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args, Debug)]
struct BuildArgs {
    /// Board name (a manifest in manifests/boards/).
    #[arg(long, required = true)]
    board: Option<String>,
    /// Image manifest (default: the board's default image).
    #[arg(long, value_name = "FILE")]
    image: Option<PathBuf>,
    /// Output directory (default: <workspace>/out/<board>/<image>/).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Halyard source tree (default: found from the current directory).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
    /// Cargo target directory (default: <workspace>/target/image-builder).
    #[arg(long, value_name = "DIR")]
    target_dir: Option<PathBuf>,
    /// Signing key (from `keygen`); default: the file named by
    /// $HALYARD_SIGNING_KEY, else the development key in keys/dev (warns).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Secure Boot key set directory (db.key, db.crt, KEK.crt, PK.crt;
    /// scripts/secureboot-keygen makes one) for boot.efi; default: the
    /// directory named by $HALYARD_SECUREBOOT_KEYS, else the development
    /// set in keys/dev/secureboot (warns).
    #[arg(long, value_name = "DIR")]
    secureboot_keys: Option<PathBuf>,
    /// Instead of building: resolve the image's Debian packages to the
    /// current candidates (after apt-get update), download them and rewrite
    /// the lock file next to the manifest (<image>.lock.yaml).
    #[arg(long)]
    update_lock: bool,
    /// Also write the SBOM (sbom.spdx.json, SPDX 2.3) and a self-describing
    /// release archive halyard-<board>-<image>.tar.gz (image, manifests,
    /// lock file, build record, SBOM, public key, SHA256SUMS, README.txt).
    #[arg(long, conflicts_with = "update_lock")]
    release: bool,
    /// `single`: one boot.img. `split` also writes split/: the hypervisor
    /// with its signed table (halyard.bin), each module as a file, a U-Boot
    /// boot script (boot.cmd, boot.scr) and layout.json (what goes where),
    /// for boot loaders that load modules themselves.
    #[arg(
        long,
        value_enum,
        default_value = "single",
        conflicts_with = "update_lock"
    )]
    layout: LayoutArg,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LayoutArg {
    Single,
    Split,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build twice (release builds) from two copies of the tree, the second
    /// with another path, HOME, target dir, umask, TZ, locale, shuffled
    /// directory order (disorderfs) and a moved clock (faketime); compare
    /// every output and show differences with diffoscope.
    Repro {
        /// Board name (a manifest in manifests/boards/).
        #[arg(long)]
        board: String,
        /// Image manifest (default: the board's default image).
        #[arg(long, value_name = "FILE")]
        image: Option<PathBuf>,
        /// Halyard source tree (default: found from the current directory).
        #[arg(long, value_name = "DIR")]
        workspace: Option<PathBuf>,
        /// Fail unless every variation was applied (CI): without it a
        /// variation this machine cannot apply (no FUSE for disorderfs, no
        /// faketime, no second locale) is only reported as NOT VARIED.
        #[arg(long)]
        strict: bool,
    },
    /// Write a new signing key pair: DIR/halyard-signing.key (secret, mode
    /// 0600) and DIR/halyard-signing.pub.
    Keygen {
        /// Directory for the key pair (created if needed; existing keys are never overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Check a boot image: module table, signature, every module's SHA-256.
    /// Exit status 0 only if everything verifies.
    Verify {
        /// The boot image (boot.img).
        image: PathBuf,
        /// Trusted public key (a .pub from keygen); default: the development key (warns).
        #[arg(long, value_name = "PUBFILE")]
        key: Option<PathBuf>,
    },
}

/// Paths on the command line are relative to the current directory (the
/// library takes relative paths relative to the workspace root).
fn absolute(p: Option<PathBuf>) -> Result<Option<PathBuf>> {
    p.map(|p| std::path::absolute(&p).with_context(|| format!("bad path {}", p.display())))
        .transpose()
}

fn run(cli: Cli) -> Result<bool> {
    match cli.command {
        Some(Command::Repro {
            board,
            image,
            workspace,
            strict,
        }) => {
            let opts = ReproOptions {
                workspace: Workspace::locate(workspace.as_deref())?,
                board,
                image: absolute(image)?,
                builder: std::env::current_exe().context("cannot find this program's path")?,
            };
            let report = repro(&opts)?;
            print!("{}", report.render());
            let (line, ok) = report.verdict(strict);
            println!("{line}");
            Ok(ok)
        }
        Some(Command::Keygen { out }) => {
            let (key, public) = signing::keygen(&out)?;
            println!("{}", key.display());
            println!("{}", public.display());
            Ok(true)
        }
        Some(Command::Verify { image, key }) => {
            // Input first: a wrong file or key is reported before any warning.
            let bytes = std::fs::read(&image)
                .with_context(|| format!("cannot read {}", image.display()))
                .or_bad_input()?;
            if let Some(why) = image_builder::verify::not_an_image(&bytes) {
                return Err(bad_input(anyhow!(
                    "{} is not a Halyard boot image: {why}",
                    image.display()
                )));
            }
            let trusted = match key {
                Some(p) => {
                    let text = std::fs::read_to_string(&p)
                        .with_context(|| format!("cannot read {}", p.display()))
                        .or_bad_input()?;
                    signing::parse_pub_text(&text)
                        .with_context(|| format!("public key {}", p.display()))
                        .or_bad_input()?
                }
                None => {
                    eprintln!("image-builder: {DEV_PUB_WARNING}");
                    signing::dev_public_key()
                }
            };
            let report = image_builder::verify::verify_image(&bytes, &trusted);
            print!("{}", report.render());
            Ok(report.ok())
        }
        None => {
            let a = cli.build;
            let workspace = Workspace::locate(a.workspace.as_deref())?;
            let opts = BuildOptions {
                workspace,
                board: a.board.unwrap_or_default(),
                image: absolute(a.image)?,
                out_dir: absolute(a.out)?,
                target_dir: absolute(a.target_dir)?,
                layout: match a.layout {
                    LayoutArg::Single => Layout::Single,
                    LayoutArg::Split => Layout::Split,
                },
            };
            if a.update_lock {
                let u = update_lock(&opts)?;
                if u.written {
                    println!("{}", u.path.display());
                    u.changes.iter().for_each(|c| println!("  {c}"));
                } else {
                    println!("the image uses no Debian packages: no lock file needed");
                }
                // The board's own lock (its DTB), when it has one.
                if let Some(b) = image_builder::packages::update_board_lock(&opts)? {
                    println!("{}", b.path.display());
                    b.changes.iter().for_each(|c| println!("  {c}"));
                }
                return Ok(true);
            }
            let out = build_with_keys(
                &opts,
                absolute(a.key)?.as_deref(),
                absolute(a.secureboot_keys)?.as_deref(),
                a.release,
            )?;
            println!("{}", out.image.display());
            println!(
                "  size    {} bytes (hypervisor {} bytes)",
                out.image_size, out.hypervisor_size
            );
            println!("  sha256  {}", out.sha256);
            println!("  record  {}", out.record.display());
            if let Some(dir) = &out.split {
                println!(
                    "  split   {} (U-Boot: boot.scr; layout.json)",
                    dir.display()
                );
            }
            if let Some(efi) = &out.efi {
                println!("  efi     {} (Secure Boot signed)", efi.display());
            }
            if let Some(r) = &out.release {
                let c = r.counts;
                println!("  sbom    {}", r.sbom.display());
                println!(
                    "          {} crates ({} in the image, {} build tools, {} not used), {} Debian packages, {} modules",
                    c.crates(),
                    c.crates_in_image,
                    c.crates_build_tools,
                    c.crates_not_used,
                    c.debian_packages,
                    c.modules
                );
                println!("  archive {}", r.archive.display());
            }
            Ok(true)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => exit::report("image-builder", &e),
    }
}
