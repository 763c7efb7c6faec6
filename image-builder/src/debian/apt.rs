//! The machine's apt, the one way Debian packages get onto the build host:
//! `apt-cache show` to learn candidate versions and dependencies,
//! `apt-get download NAME:ARCH=VERSION` to fetch a `.deb`, and
//! `dpkg --add-architecture` when a foreign architecture (arm64 on an x86
//! host) is not yet known. Behind the [`PackageSource`] trait so the
//! lock-file logic can be tested without a network.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

/// What the builder needs from a package archive.
pub trait PackageSource {
    /// Make packages of `arch` available (adds a foreign architecture if
    /// needed); with `refresh`, also update the package lists (once per
    /// process).
    fn prepare(&self, arch: &str, refresh: bool) -> Result<()>;
    /// The control stanza of `name:arch`, at `version` or the candidate.
    fn show(&self, name: &str, arch: &str, version: Option<&str>) -> Result<Stanza>;
    /// Download `name:arch=version` into the empty directory `dir`; returns
    /// the file it wrote.
    fn download(&self, name: &str, arch: &str, version: &str, dir: &Path) -> Result<PathBuf>;
}

/// One package's control fields (`Field: value`, continuation lines joined).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stanza {
    pub fields: Vec<(String, String)>,
}

impl Stanza {
    /// Parse the first stanza of `apt-cache show` / a `control` file.
    pub fn parse(text: &str) -> Self {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if line.trim().is_empty() {
                if fields.is_empty() {
                    continue;
                }
                break;
            }
            if line.starts_with([' ', '\t']) {
                if let Some((_, v)) = fields.last_mut() {
                    v.push('\n');
                    v.push_str(line.trim());
                }
            } else if let Some((k, v)) = line.split_once(':') {
                fields.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        Self { fields }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The `Depends` field as a list of (name, exact version if `(= V)`);
    /// a dependency with alternatives (`a | b`) is returned as its text.
    pub fn depends(&self) -> Vec<Dependency> {
        let Some(d) = self.get("Depends") else {
            return Vec::new();
        };
        d.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s.contains('|') {
                    return Dependency::Alternatives(s.to_string());
                }
                let (name, rest) = match s.split_once('(') {
                    Some((n, r)) => (n.trim(), Some(r.trim_end_matches(')').trim())),
                    None => (s, None),
                };
                let name = name.split(':').next().unwrap_or(name).trim().to_string();
                let exact = rest
                    .and_then(|r| r.strip_prefix('='))
                    .map(|v| v.trim().to_string());
                Dependency::Package { name, exact }
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dependency {
    Package { name: String, exact: Option<String> },
    Alternatives(String),
}

/// The real thing: apt-get / apt-cache / dpkg on this machine.
#[derive(Debug, Default)]
pub struct Apt {
    state: Mutex<AptState>,
}

#[derive(Debug, Default)]
struct AptState {
    /// Architectures already checked in this process.
    prepared: Vec<String>,
    /// Whether this process already ran `apt-get update`.
    updated: bool,
}

fn run(cmd: &mut Command) -> Result<Output> {
    let shown = format!("{cmd:?}");
    cmd.output()
        .with_context(|| format!("cannot run {shown} (is this a Debian machine with apt?)"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim_end().to_string()
}

/// Whether this process runs as root (apt-get update and dpkg need it).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| text(&o.stdout) == "0")
}

/// Run a command that changes the machine's apt state: as root directly,
/// otherwise through sudo. Says so on stderr either way.
fn run_privileged(args: &[&str]) -> Result<()> {
    let root = is_root();
    let mut cmd = if root {
        Command::new(args[0])
    } else {
        let mut c = Command::new("sudo");
        c.arg(args[0]);
        c
    };
    cmd.args(&args[1..]);
    eprintln!(
        "image-builder: running {}{}",
        if root { "" } else { "sudo " },
        args.join(" ")
    );
    let out = run(&mut cmd)?;
    if !out.status.success() {
        bail!(
            "{}{} failed ({}): {}",
            if root { "" } else { "sudo " },
            args.join(" "),
            out.status,
            text(&out.stderr)
        );
    }
    Ok(())
}

impl Apt {
    pub fn new() -> Self {
        Self::default()
    }

    fn native_arch() -> Result<String> {
        let out = run(Command::new("dpkg").arg("--print-architecture"))?;
        Ok(text(&out.stdout))
    }

    fn foreign_archs() -> Result<Vec<String>> {
        let out = run(Command::new("dpkg").arg("--print-foreign-architectures"))?;
        Ok(text(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect())
    }
}

impl PackageSource for Apt {
    fn prepare(&self, arch: &str, refresh: bool) -> Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !state.prepared.iter().any(|a| a == arch) {
            // `all` (architecture-independent packages) is always available.
            if arch != "all"
                && Self::native_arch()? != arch
                && !Self::foreign_archs()?.iter().any(|a| a == arch)
            {
                eprintln!(
                    "image-builder: dpkg does not know the foreign architecture {arch} yet: \
                     adding it so apt can fetch {arch} packages"
                );
                run_privileged(&["dpkg", "--add-architecture", arch])?;
                run_privileged(&["apt-get", "update", "-q"])?;
                state.updated = true;
            }
            state.prepared.push(arch.to_string());
        }
        if refresh && !state.updated {
            eprintln!("image-builder: refreshing the package lists");
            run_privileged(&["apt-get", "update", "-q"])?;
            state.updated = true;
        }
        Ok(())
    }

    fn show(&self, name: &str, arch: &str, version: Option<&str>) -> Result<Stanza> {
        let spec = match version {
            Some(v) => format!("{name}:{arch}={v}"),
            None => format!("{name}:{arch}"),
        };
        let out = run(Command::new("apt-cache")
            .args(["show", "--no-all-versions", &spec])
            .env("LC_ALL", "C"))?;
        let stanza = Stanza::parse(&String::from_utf8_lossy(&out.stdout));
        if !out.status.success() || stanza.get("Version").is_none() {
            bail!(
                "apt-cache show {spec}: no such package in the package lists ({})",
                text(&out.stderr)
            );
        }
        Ok(stanza)
    }

    fn download(&self, name: &str, arch: &str, version: &str, dir: &Path) -> Result<PathBuf> {
        let spec = format!("{name}:{arch}={version}");
        let out = run(Command::new("apt-get")
            .args(["download", "-q", &spec])
            .current_dir(dir)
            .env("LC_ALL", "C"))?;
        if !out.status.success() {
            let mut why = text(&out.stderr);
            if why.is_empty() {
                why = text(&out.stdout);
            }
            if why.contains("Unable to locate package") {
                why.push_str(" (are the package lists current? `apt-get update` refreshes them)");
            }
            bail!("apt-get download {spec} failed: {why}");
        }
        let debs: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "deb"))
            .collect();
        match debs.as_slice() {
            [one] => Ok(one.clone()),
            _ => bail!(
                "apt-get download {spec} left {} .deb files in {} (expected one)",
                debs.len(),
                dir.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: &str = "Package: linux-image-arm64\n\
        Source: linux-signed-arm64 (6.1.158+1)\n\
        Version: 6.1.158-1\n\
        Depends: linux-image-6.1.0-41-arm64 (= 6.1.158-1)\n\
        Description: Linux for 64-bit ARMv8 machines (meta-package)\n \
        continued here\n\
        \n\
        Package: second-stanza\n";

    #[test]
    fn parses_the_first_stanza() {
        let s = Stanza::parse(SHOW);
        assert_eq!(s.get("version"), Some("6.1.158-1"));
        assert_eq!(s.get("Package"), Some("linux-image-arm64"));
        assert_eq!(
            s.get("Description"),
            Some("Linux for 64-bit ARMv8 machines (meta-package)\ncontinued here")
        );
        assert_eq!(s.fields.len(), 5);
        assert_eq!(
            s.depends(),
            [Dependency::Package {
                name: "linux-image-6.1.0-41-arm64".into(),
                exact: Some("6.1.158-1".into())
            }]
        );
    }

    #[test]
    fn depends_forms() {
        let s = Stanza::parse("Package: x\nDepends: a, b:any (>= 2), c (= 1:2.3-4), d | e\n");
        assert_eq!(
            s.depends(),
            [
                Dependency::Package {
                    name: "a".into(),
                    exact: None
                },
                Dependency::Package {
                    name: "b".into(),
                    exact: None
                },
                Dependency::Package {
                    name: "c".into(),
                    exact: Some("1:2.3-4".into())
                },
                Dependency::Alternatives("d | e".into()),
            ]
        );
        assert!(Stanza::parse("Package: x\n").depends().is_empty());
    }
}
