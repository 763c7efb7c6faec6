//! Linux kernel modules built out of tree for a domain's initramfs (manifest
//! `initramfs: {kernel_modules: [...]}`): a driver the distribution's kernel
//! configuration leaves out (Linux's FF-A driver on Debian's arm64 kernel) is
//! compiled from the distribution's own kernel source package against the
//! pinned kernel's headers, with the distribution's cross compiler.
//!
//! Every input but the compiler is a pinned .deb from the image's lock file,
//! unpacked (never installed) into a private directory; the compiler is the
//! host's, named by the headers (`.kernelvariables`) and recorded with its
//! version in build.json. Build paths are mapped out of the object and the
//! environment is fixed, so the module is the same bytes on every build.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::deb::{data_entries, EntryKind};
use crate::digest::sha256_hex;
use crate::initramfs::Fetches;
use crate::lock::LockedPackage;
use crate::manifest::{PackageRef, Resolve};

/// One module to build: `{name, source, config, build_tree, dest}`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KernelModuleSpec {
    /// The module make produces (`ffa-module` for `ffa-module.ko`).
    pub name: String,
    pub source: SourceDir,
    /// Kconfig symbols (without `CONFIG_`) the kernel's configuration lacks,
    /// as Kconfig would set them for this directory: `m` or `y`.
    #[serde(default)]
    pub config: BTreeMap<String, Tristate>,
    /// The packages that together are the kernel's build tree: its headers,
    /// the headers they include, and the kbuild tools for this host.
    pub build_tree: Vec<PackageRef>,
    /// Where the `.ko` goes in the archive.
    pub dest: String,
}

/// A directory of the kernel source tarball inside a Debian package
/// (`linux-source-6.1` ships `usr/src/linux-source-6.1.tar.xz`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceDir {
    pub package: String,
    pub arch: String,
    /// Relative to the top of the kernel tree (`drivers/firmware/arm_ffa`).
    pub dir: String,
}

impl SourceDir {
    pub fn package_ref(&self) -> PackageRef {
        PackageRef {
            package: self.package.clone(),
            arch: self.arch.clone(),
            resolve: Resolve::Exact,
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Tristate {
    Y,
    M,
}

impl KernelModuleSpec {
    pub fn packages(&self) -> impl Iterator<Item = PackageRef> + '_ {
        std::iter::once(self.source.package_ref()).chain(self.build_tree.iter().cloned())
    }
}

/// What build.json says about a built module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BuiltModuleRecord {
    pub name: String,
    pub dest: String,
    /// The kernel release it was built for (from the headers package).
    pub kernel_release: String,
    pub vermagic: String,
    /// `CC --version`'s first line: the one input not pinned by the lock.
    pub compiler: String,
    pub size: u64,
    pub sha256: String,
}

pub struct BuiltModule {
    /// Debug info stripped, as Debian ships its modules.
    pub bytes: Vec<u8>,
    pub record: BuiltModuleRecord,
    pub packages: Vec<LockedPackage>,
}

/// Kernel `ARCH=` and the cross tool prefix for a Debian architecture.
fn kernel_arch(debian_arch: &str) -> Result<(&'static str, &'static str)> {
    Ok(match debian_arch {
        "arm64" => ("arm64", "aarch64-linux-gnu-"),
        "amd64" => ("x86", "x86_64-linux-gnu-"),
        other => bail!("building modules for Debian architecture '{other}' is not supported"),
    })
}

/// The manifest's words end up in a Kbuild file and on make's command line.
pub fn check_spec(m: &KernelModuleSpec) -> Result<()> {
    let word = |s: &str, extra: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    };
    if !word(&m.name, "_-") {
        bail!(
            "kernel module name '{}': letters, digits, '_' and '-' only",
            m.name
        );
    }
    for key in m.config.keys() {
        if !word(key, "_") || key.starts_with("CONFIG_") {
            bail!(
                "kernel module {}: config key '{key}' must be a Kconfig symbol without CONFIG_",
                m.name
            );
        }
    }
    let plain = |p: &str| {
        !p.is_empty()
            && Path::new(p)
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
    };
    if !plain(&m.source.dir) || !word(&m.source.dir, "_-/.") {
        bail!(
            "kernel module {}: source dir '{}' must be a plain relative path",
            m.name,
            m.source.dir
        );
    }
    if !plain(m.dest.trim_start_matches('/')) {
        bail!(
            "kernel module {}: dest '{}' must be a plain path",
            m.name,
            m.dest
        );
    }
    if m.build_tree.is_empty() {
        bail!(
            "kernel module {}: build_tree names no packages (the kernel headers)",
            m.name
        );
    }
    Ok(())
}

/// Build `spec` from the fetched packages, at SOURCE_DATE_EPOCH `epoch`.
pub fn build(spec: &KernelModuleSpec, fetches: &Fetches, epoch: u64) -> Result<BuiltModule> {
    check_spec(spec)?;
    let what = format!("kernel module {}", spec.name);
    let tmp = tempfile::Builder::new()
        .prefix("halyard-kmod-")
        .tempdir()
        .context("creating a build directory")?;
    let root = tmp.path().join("root");
    let mut packages = Vec::new();
    let mut target_arch = None;
    for r in &spec.build_tree {
        let f = fetched(fetches, r)?;
        unpack_usr(&f.read()?, &root)
            .with_context(|| format!("{what}: unpacking {}", f.locked.spec()))?;
        if f.locked.name.starts_with("linux-headers-") && f.locked.arch != "all" {
            target_arch = Some(f.locked.arch.clone());
        }
        packages.push(f.locked.clone());
    }
    let tree =
        BuildTree::find(&root).with_context(|| format!("{what}: the build_tree packages"))?;
    let target_arch = target_arch.with_context(|| {
        format!("{what}: build_tree has no architecture-specific linux-headers-* package")
    })?;
    let (karch, cross) = kernel_arch(&target_arch)?;

    let src = fetched(fetches, &spec.source.package_ref())?;
    let module_dir = tmp.path().join("module");
    let n = extract_source_dir(&src.read()?, &spec.source.dir, &module_dir)
        .with_context(|| format!("{what}: source from {}", src.locked.spec()))?;
    if n == 0 {
        bail!(
            "{what}: {} has no files under {}",
            src.locked.spec(),
            spec.source.dir
        );
    }
    packages.push(src.locked.clone());
    write_kbuild(&module_dir, &spec.config).with_context(|| what.clone())?;

    let cc = format!("{cross}{}", tree.cc_name()?);
    let compiler = tool_version(&cc).with_context(|| {
        format!(
            "{what}: the compiler {cc} the headers name is not usable: install Debian's {}",
            cc_package(&cc)
        )
    })?;
    run_make(&tree, &module_dir, &spec.source.dir, karch, cross, epoch)
        .with_context(|| what.clone())?;

    let ko = module_dir.join(format!("{}.ko", spec.name));
    if !ko.is_file() {
        let made: Vec<String> = std::fs::read_dir(&module_dir)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".ko"))
            .collect();
        bail!(
            "{what}: make built no {}.ko (it built: {})",
            spec.name,
            made.join(", ")
        );
    }
    let vermagic =
        modinfo(&std::fs::read(&ko)?, "vermagic").with_context(|| format!("{what}: .modinfo"))?;
    if !vermagic.starts_with(&format!("{} ", tree.release)) {
        bail!(
            "{what}: vermagic '{vermagic}' is not for kernel {}",
            tree.release
        );
    }
    let stripped = tmp.path().join("stripped.ko");
    let strip = format!("{cross}strip");
    let status = Command::new(&strip)
        .arg("--strip-debug")
        .arg("-o")
        .arg(&stripped)
        .arg(&ko)
        .status()
        .with_context(|| {
            format!(
                "{what}: running {strip} (Debian's binutils-{})",
                cross.trim_end_matches('-')
            )
        })?;
    if !status.success() {
        bail!("{what}: {strip} failed ({status})");
    }
    let bytes = std::fs::read(&stripped)?;
    Ok(BuiltModule {
        record: BuiltModuleRecord {
            name: spec.name.clone(),
            dest: spec.dest.trim_start_matches('/').to_string(),
            kernel_release: tree.release.clone(),
            vermagic,
            compiler,
            size: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
        },
        bytes,
        packages,
    })
}

fn fetched<'a>(fetches: &'a Fetches, r: &PackageRef) -> Result<&'a crate::debian::Fetched> {
    fetches
        .get(r)
        .with_context(|| format!("internal error: package {} was not fetched", r.package))
}

/// Debian's package for a cross compiler: `aarch64-linux-gnu-gcc-12` is in
/// `gcc-12-aarch64-linux-gnu`.
fn cc_package(cc: &str) -> String {
    match cc.split_once("-gcc") {
        Some((triplet, version)) => format!("gcc{version}-{triplet}"),
        None => cc.to_string(),
    }
}

fn tool_version(tool: &str) -> Result<String> {
    let out = Command::new(tool).arg("--version").output()?;
    if !out.status.success() {
        bail!("{tool} --version failed");
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string())
}

/// Write a package's `usr/` tree under `root` (the rest, such as
/// `lib/modules/*/build` links, is not needed to build).
fn unpack_usr(deb: &[u8], root: &Path) -> Result<()> {
    let in_usr = |p: &str| p == "usr" || p.starts_with("usr/");
    let entries = data_entries(deb, &in_usr)?;
    for e in entries.iter().filter(|e| in_usr(&e.path)) {
        let rel = Path::new(&e.path);
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            bail!("package path '{}' is not a plain relative path", e.path);
        }
        let dest = root.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match &e.kind {
            EntryKind::Dir => std::fs::create_dir_all(&dest)?,
            EntryKind::File(b) => write_file(&dest, b, e.mode)?,
            EntryKind::Symlink(t) => {
                // An absolute link points into the unpacked tree, not the host.
                let target = match t.strip_prefix('/') {
                    Some(abs) => root.join(abs),
                    None => PathBuf::from(t),
                };
                std::os::unix::fs::symlink(target, &dest)
                    .with_context(|| format!("linking {}", e.path))?;
            }
            EntryKind::HardLink(t) => {
                std::fs::copy(root.join(t), &dest)
                    .with_context(|| format!("hard link {}", e.path))?;
            }
        }
    }
    Ok(())
}

fn write_file(dest: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(dest, bytes).with_context(|| format!("writing {}", dest.display()))?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(mode & 0o755 | 0o600))?;
    Ok(())
}

/// The unpacked headers: where make runs, and what was unpacked beside it.
struct BuildTree {
    /// `usr/src/linux-headers-RELEASE` (has Module.symvers).
    headers: PathBuf,
    release: String,
    /// Trees the object must not name (mapped away).
    others: Vec<PathBuf>,
}

impl BuildTree {
    fn find(root: &Path) -> Result<Self> {
        let src = root.join("usr/src");
        let mut found = Vec::new();
        let mut others = Vec::new();
        for e in
            std::fs::read_dir(&src).with_context(|| format!("no usr/src in {}", root.display()))?
        {
            let path = e?.path();
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            match name.strip_prefix("linux-headers-") {
                Some(release) if path.join("Module.symvers").is_file() => {
                    found.push((path.clone(), release.to_string()))
                }
                _ => others.push(path.canonicalize().unwrap_or(path)),
            }
        }
        let lib = root.join("usr/lib");
        if let Ok(dir) = std::fs::read_dir(&lib) {
            others.extend(dir.filter_map(|e| Some(e.ok()?.path())));
        }
        let [(headers, release)] = <[_; 1]>::try_from(found).map_err(|f: Vec<_>| {
            anyhow::anyhow!(
                "expected one usr/src/linux-headers-*/ with Module.symvers, found {}",
                f.len()
            )
        })?;
        // Debian's headers include their -common half by absolute path.
        let makefile = headers.join("Makefile");
        let text = std::fs::read_to_string(&makefile).context("headers Makefile")?;
        let rooted = text.replace(
            "include /usr/src/",
            &format!("include {}/usr/src/", root.display()),
        );
        std::fs::write(&makefile, rooted)?;
        check_host_tools(root)?;
        Ok(Self {
            headers,
            release,
            others,
        })
    }

    /// The compiler the kernel was built with, without the cross prefix
    /// (Debian's headers say `CC = ... $(CROSS_COMPILE)gcc-12`).
    fn cc_name(&self) -> Result<String> {
        let vars =
            std::fs::read_to_string(self.headers.join(".kernelvariables")).unwrap_or_default();
        Ok(vars
            .lines()
            .filter(|l| l.trim_start().starts_with("CC "))
            .find_map(|l| l.split("$(CROSS_COMPILE)").nth(1))
            .map(|s| s.split_whitespace().next().unwrap_or("gcc").to_string())
            .unwrap_or_else(|| "gcc".to_string()))
    }
}

/// The kbuild tools (modpost, fixdep) run on this machine: they must be
/// built for it.
fn check_host_tools(root: &Path) -> Result<()> {
    let lib = root.join("usr/lib");
    let modpost = std::fs::read_dir(&lib)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e.ok()?.path().join("scripts/mod/modpost")))
        .find(|p| p.is_file())
        .context(
            "no usr/lib/linux-kbuild-*/scripts/mod/modpost: build_tree lacks the kbuild package",
        )?;
    let bytes = std::fs::read(&modpost)?;
    let arch = object::File::parse(&*bytes)
        .map(|f| object::Object::architecture(&f))
        .context("modpost is not an ELF file")?;
    let host = match std::env::consts::ARCH {
        "x86_64" => object::Architecture::X86_64,
        "aarch64" => object::Architecture::Aarch64,
        _ => object::Architecture::Unknown,
    };
    if arch != host {
        bail!(
            "the kbuild package's tools are built for {arch:?}, this host is {}: name the kbuild package for this host's architecture in build_tree",
            std::env::consts::ARCH
        );
    }
    Ok(())
}

/// Extract the files under `dir` of the kernel tarball in `deb` into `out`.
fn extract_source_dir(deb: &[u8], dir: &str, out: &Path) -> Result<usize> {
    let (_, xz) = crate::deb::extract_one(deb, "usr/src/linux-source-*.tar.xz")?;
    let mut archive = tar::Archive::new(liblzma::read::XzDecoder::new(&xz[..]));
    let mut n = 0;
    for entry in archive.entries().context("reading the kernel tarball")? {
        let mut entry = entry.context("reading the kernel tarball")?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry.path()?.into_owned();
        // linux-source-6.1/drivers/... : the first component is the tree's name.
        let Ok(rest) = path.strip_prefix(
            path.components()
                .next()
                .map_or(Path::new(""), |c| Path::new(c.as_os_str())),
        ) else {
            continue;
        };
        let Ok(inside) = rest.strip_prefix(dir) else {
            continue;
        };
        if !inside
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            continue;
        }
        let dest = out.join(inside);
        std::fs::create_dir_all(dest.parent().unwrap_or(out))?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes)?;
        write_file(&dest, &bytes, 0o644)?;
        n += 1;
    }
    Ok(n)
}

/// A Kbuild file wins over the directory's Makefile: it sets what Kconfig
/// would have set for the symbols the kernel's .config leaves unset, for the
/// Makefile (`CONFIG_X := m`) and for the C code (the macros autoconf.h
/// would define), then includes the driver's own Makefile.
fn write_kbuild(module_dir: &Path, config: &BTreeMap<String, Tristate>) -> Result<()> {
    let kbuild = module_dir.join("Kbuild");
    if kbuild.exists() {
        bail!("the source directory has its own Kbuild file; this builder writes one");
    }
    let mut text = String::from("# Written by image-builder (debian/kmod.rs).\n");
    for (key, v) in config {
        let (val, define) = match v {
            Tristate::M => ("m", format!("CONFIG_{key}_MODULE")),
            Tristate::Y => ("y", format!("CONFIG_{key}")),
        };
        text.push_str(&format!(
            "CONFIG_{key} := {val}\nccflags-y += -D{define}=1\n"
        ));
    }
    text.push_str("include $(src)/Makefile\n");
    std::fs::write(kbuild, text)?;
    Ok(())
}

fn run_make(
    tree: &BuildTree,
    module: &Path,
    dir: &str,
    karch: &str,
    cross: &str,
    epoch: u64,
) -> Result<()> {
    // No build directory may end up in the object (debug info, __FILE__).
    let mut maps = vec![
        format!("-ffile-prefix-map={}/={dir}/", module.display()),
        format!("-ffile-prefix-map={}=.", tree.headers.display()),
    ];
    maps.extend(
        tree.others
            .iter()
            .map(|p| format!("-ffile-prefix-map={}/=", p.display())),
    );
    let out = Command::new("make")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "HOME",
            std::env::var_os("HOME").unwrap_or_else(|| "/".into()),
        )
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .env("KBUILD_BUILD_TIMESTAMP", format!("@{epoch}"))
        .env("KBUILD_BUILD_USER", "halyard")
        .env("KBUILD_BUILD_HOST", "halyard")
        .arg("-C")
        .arg(&tree.headers)
        .arg(format!("M={}", module.display()))
        .arg(format!("ARCH={karch}"))
        .arg(format!("CROSS_COMPILE={cross}"))
        .arg(format!("KCFLAGS={}", maps.join(" ")))
        .arg("modules")
        .output()
        .context("running make (Debian's make package)")?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let tail = || {
        log.lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    };
    if !out.status.success() {
        bail!("make failed ({}):\n{}", out.status, tail());
    }
    // modpost warns about symbols the kernel does not export: a module that
    // would not load.
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARNING") || l.contains("undefined"))
        .collect();
    if !warnings.is_empty() {
        bail!("the build warned:\n{}", warnings.join("\n"));
    }
    Ok(())
}

/// One `key=value` of an ELF module's `.modinfo` section.
fn modinfo(ko: &[u8], key: &str) -> Result<String> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(ko).context("not an ELF file")?;
    let section = file
        .section_by_name(".modinfo")
        .context("no .modinfo section")?;
    let data = section.data()?;
    data.split(|&b| b == 0)
        .filter_map(|f| std::str::from_utf8(f).ok())
        .find_map(|f| f.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .map(str::to_string)
        .with_context(|| format!("no {key}= in .modinfo"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> KernelModuleSpec {
        serde_norway::from_str(yaml).unwrap()
    }

    const GOOD: &str = "name: ffa-module
source: {package: linux-source-6.1, arch: all, dir: drivers/firmware/arm_ffa}
config: {ARM_FFA_TRANSPORT: m, ARM_FFA_SMCCC: y}
build_tree: [{package: linux-headers-6.1.0-56-arm64, arch: arm64}]
dest: /lib/modules/ffa-module.ko
";

    #[test]
    fn a_good_spec_passes_and_lists_its_packages() {
        let s = spec(GOOD);
        check_spec(&s).unwrap();
        let names: Vec<String> = s.packages().map(|p| p.package).collect();
        assert_eq!(names, ["linux-source-6.1", "linux-headers-6.1.0-56-arm64"]);
    }

    #[test]
    fn words_that_reach_make_or_kbuild_are_checked() {
        for (from, to, why) in [
            ("name: ffa-module", "name: ffa module", "name"),
            ("ARM_FFA_SMCCC: y", "\"X := y\\n\": y", "config key"),
            (
                "ARM_FFA_SMCCC: y",
                "CONFIG_ARM_FFA_SMCCC: y",
                "without CONFIG_",
            ),
            ("dir: drivers/firmware/arm_ffa", "dir: ../etc", "source dir"),
            ("dir: drivers/firmware/arm_ffa", "dir: '/abs'", "source dir"),
            (
                "dest: /lib/modules/ffa-module.ko",
                "dest: lib/../../x",
                "dest",
            ),
            (
                "build_tree: [{package: linux-headers-6.1.0-56-arm64, arch: arm64}]",
                "build_tree: []",
                "build_tree",
            ),
        ] {
            let bad = GOOD.replace(from, to);
            assert_ne!(bad, GOOD, "{from}");
            let err = check_spec(&spec(&bad)).unwrap_err().to_string();
            assert!(err.contains(why), "{to}: {err}");
        }
    }

    #[test]
    fn tristate_is_y_or_m() {
        let bad = GOOD.replace("ARM_FFA_SMCCC: y", "ARM_FFA_SMCCC: n");
        assert!(serde_norway::from_str::<KernelModuleSpec>(&bad).is_err());
    }

    #[test]
    fn kbuild_sets_make_variables_and_c_macros() {
        let dir = tempfile::tempdir().unwrap();
        write_kbuild(dir.path(), &spec(GOOD).config).unwrap();
        let text = std::fs::read_to_string(dir.path().join("Kbuild")).unwrap();
        assert!(text.contains(
            "CONFIG_ARM_FFA_TRANSPORT := m\nccflags-y += -DCONFIG_ARM_FFA_TRANSPORT_MODULE=1\n"
        ));
        assert!(text.contains("CONFIG_ARM_FFA_SMCCC := y\nccflags-y += -DCONFIG_ARM_FFA_SMCCC=1\n"));
        assert!(text.ends_with("include $(src)/Makefile\n"));
        assert!(
            write_kbuild(dir.path(), &BTreeMap::new()).is_err(),
            "an existing Kbuild is not overwritten"
        );
    }

    #[test]
    fn cross_compiler_packages() {
        assert_eq!(
            cc_package("aarch64-linux-gnu-gcc-12"),
            "gcc-12-aarch64-linux-gnu"
        );
        assert_eq!(
            kernel_arch("arm64").unwrap(),
            ("arm64", "aarch64-linux-gnu-")
        );
        assert!(kernel_arch("mips").is_err());
    }
}
