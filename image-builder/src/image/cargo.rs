//! Running the toolchain: builds the BSP and in-tree guests with one fixed
//! cargo invocation (profile, target, flags, environment) so that two
//! checkouts at different paths produce bit-identical ELF files.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Cargo profile for bare-metal images (defined in the workspace Cargo.toml).
pub const PROFILE: &str = "firmware";

/// How to run cargo for one build.
#[derive(Clone, Debug)]
pub struct Cargo {
    /// The cargo binary: `$CARGO` (set by `cargo run`/`cargo test`) or `cargo`.
    pub program: OsString,
    /// Workspace root: current directory of every command.
    pub root: PathBuf,
    pub target: String,
    pub target_dir: PathBuf,
    /// Passed to the build as `SOURCE_DATE_EPOCH`.
    pub source_date_epoch: u64,
    /// Passed to the build as `HALYARD_TRUSTED_KEY` (see
    /// [`crate::signing::TRUSTED_KEY_ENV`]): the hex Ed25519 public key the
    /// hypervisor is to trust, i.e. the one this image is signed with.
    pub trusted_key: String,
}

/// `$CARGO_HOME`, else `~/.cargo`: where registry sources live.
pub fn cargo_home() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("CARGO_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(h));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| Path::new(&h).join(".cargo"))
}

/// The rustc flags for a build rooted at `root`: remap the workspace and the
/// cargo home so no absolute path of this machine reaches the binary.
/// Returned in `CARGO_ENCODED_RUSTFLAGS` form (0x1f-separated).
pub fn encoded_rustflags(root: &Path, cargo_home: Option<&Path>) -> OsString {
    let mut flags = OsString::from("--remap-path-prefix=");
    flags.push(root);
    flags.push("=/halyard");
    if let Some(home) = cargo_home {
        flags.push("\x1f--remap-path-prefix=");
        flags.push(home);
        flags.push("=/cargo");
    }
    flags
}

/// Environment variables that would change the flags or the output directory
/// behind our back (an outer `cargo test` sets some of them).
const REMOVED_ENV: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_INCREMENTAL",
];

/// Preloaded libraries never reach the toolchain. `image-builder repro`
/// runs its second build under libfaketime (a moved clock), and rustc under
/// libfaketime 0.9.10 never returns (seen: `rustc -vV` hangs): the builder
/// runs on the moved clock, the compiler on the real one.
const PRELOAD_ENV: &[&str] = &["LD_PRELOAD", "FAKETIME", "FAKETIME_NO_CACHE"];

/// A command running a toolchain program (cargo, rustc) without preloads.
pub fn toolchain_command(program: &OsString) -> Command {
    let mut cmd = Command::new(program);
    for var in PRELOAD_ENV {
        cmd.env_remove(var);
    }
    cmd
}

impl Cargo {
    pub fn new(
        root: &Path,
        target: &str,
        target_dir: &Path,
        source_date_epoch: u64,
        trusted_key: String,
    ) -> Self {
        Cargo {
            program: std::env::var_os("CARGO")
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "cargo".into()),
            root: root.to_path_buf(),
            target: target.to_string(),
            target_dir: target_dir.to_path_buf(),
            source_date_epoch,
            trusted_key,
        }
    }

    /// The command that builds `package`; exposed so tests can inspect it.
    pub fn build_command(&self, package: &str) -> Command {
        let mut cmd = toolchain_command(&self.program);
        cmd.current_dir(&self.root)
            .args([
                "build",
                "--locked",
                "--profile",
                PROFILE,
                "-p",
                package,
                "--target",
            ])
            .arg(&self.target)
            .arg("--target-dir")
            .arg(&self.target_dir);
        for var in REMOVED_ENV {
            cmd.env_remove(var);
        }
        cmd.env(
            "CARGO_ENCODED_RUSTFLAGS",
            encoded_rustflags(&self.root, cargo_home().as_deref()),
        )
        .env("SOURCE_DATE_EPOCH", self.source_date_epoch.to_string())
        // Read by the BSP/hypervisor with `option_env!`, which makes cargo
        // track it: another key rebuilds whatever embeds it.
        .env(crate::signing::TRUSTED_KEY_ENV, &self.trusted_key);
        cmd
    }

    /// Build `package` and return the path of its ELF executable.
    pub fn build(&self, package: &str) -> Result<PathBuf> {
        let mut cmd = self.build_command(package);
        let out = cmd
            .output()
            .with_context(|| format!("cannot run {}", self.program.to_string_lossy()))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            bail!(
                "cargo build of package '{package}' for {} failed ({}):\n{}",
                self.target,
                out.status,
                stderr.trim_end()
            );
        }
        let elf = self
            .target_dir
            .join(&self.target)
            .join(PROFILE)
            .join(package);
        if !elf.is_file() {
            bail!(
                "cargo built package '{package}' but {} does not exist (is it a binary crate named '{package}'?)",
                elf.display()
            );
        }
        Ok(elf)
    }
}

/// First line of `<program> -V` run in `root` (so rust-toolchain.toml applies).
pub fn tool_version(program: &OsString, root: &Path) -> Result<String> {
    let out = toolchain_command(program)
        .arg("-V")
        .current_dir(root)
        .output()
        .with_context(|| format!("cannot run {} -V", program.to_string_lossy()))?;
    if !out.status.success() {
        bail!(
            "{} -V failed: {}",
            program.to_string_lossy(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `rustc` as cargo would pick it: `$RUSTC`, else `rustc` on the PATH.
pub fn rustc_program() -> OsString {
    std::env::var_os("RUSTC")
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "rustc".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustflags_remap_root_and_cargo_home() {
        let f = encoded_rustflags(Path::new("/src/a b"), Some(Path::new("/home/u/.cargo")));
        assert_eq!(
            f,
            "--remap-path-prefix=/src/a b=/halyard\x1f--remap-path-prefix=/home/u/.cargo=/cargo"
        );
        let f = encoded_rustflags(Path::new("/src"), None);
        assert_eq!(f, "--remap-path-prefix=/src=/halyard");
    }

    #[test]
    fn build_command_is_fixed_and_clean() {
        let c = Cargo {
            program: "cargo".into(),
            root: PathBuf::from("/ws"),
            target: "aarch64-unknown-none-softfloat".into(),
            target_dir: PathBuf::from("/ws/target/image-builder"),
            source_date_epoch: 42,
            trusted_key: "ab".repeat(32),
        };
        let cmd = c.build_command("bsp-qemu-virt");
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "build",
                "--locked",
                "--profile",
                "firmware",
                "-p",
                "bsp-qemu-virt",
                "--target",
                "aarch64-unknown-none-softfloat",
                "--target-dir",
                "/ws/target/image-builder"
            ]
        );
        assert_eq!(cmd.get_current_dir(), Some(Path::new("/ws")));
        let envs: std::collections::HashMap<_, _> = cmd
            .get_envs()
            .map(|(k, v)| (k.to_string_lossy().into_owned(), v.map(|v| v.to_owned())))
            .collect();
        for var in [
            "RUSTFLAGS",
            "CARGO_BUILD_RUSTFLAGS",
            "CARGO_TARGET_DIR",
            "LD_PRELOAD",
        ] {
            assert_eq!(envs.get(var), Some(&None), "{var} must be removed");
        }
        let flags = envs["CARGO_ENCODED_RUSTFLAGS"].clone().unwrap();
        assert!(flags
            .to_string_lossy()
            .starts_with("--remap-path-prefix=/ws=/halyard"));
        assert_eq!(envs["SOURCE_DATE_EPOCH"].as_deref(), Some("42".as_ref()));
        assert_eq!(
            envs["HALYARD_TRUSTED_KEY"].as_deref(),
            Some("ab".repeat(32).as_ref())
        );
    }
}
