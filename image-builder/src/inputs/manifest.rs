//! Image manifests (YAML; board manifests: board_manifest.rs). Unknown
//! fields are errors, and every error names the file, and where serde knows
//! it, the field and line.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::exit::OrBadInput;
use crate::workspace::Workspace;

pub use crate::board_manifest::*;

/// `manifests/images/<image>.yaml`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageManifest {
    pub image: String,
    /// Boards this image may be built for.
    pub boards: Vec<String>,
    pub domains: Vec<DomainManifest>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DomainManifest {
    pub name: String,
    pub id: u16,
    /// The hardware domain (dom0) owns the devices the hypervisor does not keep.
    #[serde(default)]
    pub hardware: bool,
    /// Guest physical = host physical.
    #[serde(default)]
    pub direct_map: bool,
    pub vcpus: u16,
    pub memory_mib: u64,
    pub kernel: ModuleSource,
    #[serde(default)]
    pub ramdisk: Option<ModuleSource>,
    #[serde(default)]
    pub device_tree: Option<ModuleSource>,
    #[serde(default)]
    pub cmdline: String,
    /// The hardware domain's console: `hvc0` (the default: Xen's
    /// console_io, the hypervisor keeps the UART) or `uart` (the UART is
    /// passed through to it).
    #[serde(default)]
    pub console: Option<ConsoleChoice>,
    /// Physical CPUs this domain's vCPUs are pinned to, one per vCPU (vCPU
    /// i on the i-th CPU listed, in ascending order); no CPU serves two
    /// domains. Omitted: the hypervisor places them.
    #[serde(default)]
    pub cpus: Option<Vec<u32>>,
    /// Host devices passed through to this domain (not the hardware
    /// domain's: it has every device no other domain gets).
    #[serde(default)]
    pub devices: Vec<crate::devices::DeviceManifest>,
}

pub use crate::plan::ConsoleChoice;

/// Where a module's bytes come from. In YAML a one-key map: `{guest: NAME}`,
/// `{file: PATH}`, `{debian: {package, arch, [resolve], path}}` or
/// `{initramfs: {busybox, applets, init, [packages], [files]}}`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(try_from = "RawSource")]
pub enum ModuleSource {
    /// An in-tree guest: Cargo package under tests/guests/, built for the board target.
    Guest(String),
    /// A file, relative to the workspace root unless absolute.
    File(PathBuf),
    /// One file out of a Debian package, pinned by the image's lock file.
    Debian(DebianFile),
    /// A ramdisk the builder assembles: busybox, an init script, extra files.
    Initramfs(InitramfsSpec),
}

/// A Debian package as a manifest names it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(deny_unknown_fields)]
pub struct PackageRef {
    pub package: String,
    /// Debian architecture name (`arm64`, `amd64`, ...).
    pub arch: String,
    #[serde(default)]
    pub resolve: Resolve,
}

/// How a manifest's package name becomes the package that is downloaded.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "snake_case")]
pub enum Resolve {
    /// The package itself.
    #[default]
    Exact,
    /// The package is a metapackage (e.g. `linux-image-arm64`): use the one
    /// package it depends on (e.g. `linux-image-6.1.0-41-arm64`).
    Depends,
}

/// `{debian: {package, arch, resolve, path}}`: one file from a package.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DebianFile {
    pub package: String,
    pub arch: String,
    #[serde(default)]
    pub resolve: Resolve,
    /// Path inside the package's data, without a leading `/`; may be a glob
    /// (`boot/vmlinuz-*`) that must match exactly one file.
    pub path: String,
}

impl DebianFile {
    pub fn package_ref(&self) -> PackageRef {
        PackageRef {
            package: self.package.clone(),
            arch: self.arch.clone(),
            resolve: self.resolve,
        }
    }
}

/// `{initramfs: ...}`: a reproducible busybox initramfs (gzip'd cpio newc).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InitramfsSpec {
    /// The package whose `bin/busybox` becomes `/bin/busybox`.
    pub busybox: BusyboxRef,
    /// Applets to link to busybox in `/bin`: a list (each checked against
    /// the binary's applet name table; busybox itself cannot be run on the
    /// build host) or `all`, every name in that table.
    pub applets: Applets,
    /// The `/init` script: a file in the tree (mode 0755 in the archive).
    pub init: PathBuf,
    /// Whole packages (or the parts matching `include`) unpacked into the archive.
    #[serde(default)]
    pub packages: Vec<TreePackage>,
    /// Extra files from the tree.
    #[serde(default)]
    pub files: Vec<ExtraFile>,
    /// Kernel modules built out of tree for the domain's kernel (see
    /// `debian::kmod`).
    #[serde(default)]
    pub kernel_modules: Vec<crate::debian::kmod::KernelModuleSpec>,
}

/// Which busybox applets an initramfs links: YAML `all` or a list of names.
#[derive(Clone, Debug, PartialEq)]
pub enum Applets {
    /// Every applet the binary has.
    All,
    /// Just these (a name the binary lacks is a build error).
    Named(Vec<String>),
}

impl Applets {
    /// The names listed, or none for `All`.
    pub fn named(&self) -> &[String] {
        match self {
            Applets::All => &[],
            Applets::Named(v) => v,
        }
    }
}

impl<'de> Deserialize<'de> for Applets {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Applets;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`all` or a list of applet names")
            }
            fn visit_str<E: serde::de::Error>(self, w: &str) -> std::result::Result<Applets, E> {
                if w == "all" {
                    Ok(Applets::All)
                } else {
                    Err(E::custom(format!(
                        "applets must be `all` or a list of applet names, not '{w}'"
                    )))
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Applets, A::Error> {
                let mut names = Vec::new();
                while let Some(n) = seq.next_element::<String>()? {
                    names.push(n);
                }
                Ok(Applets::Named(names))
            }
        }
        d.deserialize_any(V)
    }
}

/// The busybox package: `{package: busybox-static, arch: arm64}`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BusyboxRef {
    pub package: String,
    pub arch: String,
}

impl BusyboxRef {
    pub fn package_ref(&self) -> PackageRef {
        PackageRef {
            package: self.package.clone(),
            arch: self.arch.clone(),
            resolve: Resolve::Exact,
        }
    }
}

/// A package unpacked into the initramfs.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TreePackage {
    pub package: String,
    pub arch: String,
    #[serde(default)]
    pub resolve: Resolve,
    /// Globs over paths in the package; empty means everything.
    #[serde(default)]
    pub include: Vec<String>,
}

impl TreePackage {
    pub fn package_ref(&self) -> PackageRef {
        PackageRef {
            package: self.package.clone(),
            arch: self.arch.clone(),
            resolve: self.resolve,
        }
    }
}

/// A file from the tree placed in the initramfs.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExtraFile {
    /// Path in the tree.
    pub src: PathBuf,
    /// Absolute path in the initramfs.
    pub dest: String,
    /// Permission bits as an octal string (`"0644"`, the default, or `"0755"`).
    #[serde(default = "default_file_mode")]
    pub mode: String,
}

fn default_file_mode() -> String {
    "0644".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    guest: Option<String>,
    file: Option<PathBuf>,
    debian: Option<DebianFile>,
    initramfs: Option<InitramfsSpec>,
}

impl TryFrom<RawSource> for ModuleSource {
    type Error = String;
    fn try_from(r: RawSource) -> std::result::Result<Self, String> {
        let mut found = Vec::new();
        if let Some(g) = r.guest {
            found.push(Self::Guest(g));
        }
        if let Some(f) = r.file {
            found.push(Self::File(f));
        }
        if let Some(d) = r.debian {
            found.push(Self::Debian(d));
        }
        if let Some(i) = r.initramfs {
            found.push(Self::Initramfs(i));
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            _ => Err(
                "a module source needs exactly one of 'guest', 'file', 'debian' or 'initramfs'"
                    .into(),
            ),
        }
    }
}

impl ModuleSource {
    /// The Debian packages this source needs, as the manifest names them.
    pub fn packages(&self) -> Vec<PackageRef> {
        match self {
            Self::Guest(_) | Self::File(_) => Vec::new(),
            Self::Debian(d) => vec![d.package_ref()],
            Self::Initramfs(i) => std::iter::once(i.busybox.package_ref())
                .chain(i.packages.iter().map(TreePackage::package_ref))
                .chain(i.kernel_modules.iter().flat_map(|m| m.packages()))
                .collect(),
        }
    }
}

impl ImageManifest {
    /// Every Debian package the image needs, sorted, each once.
    pub fn packages(&self) -> Vec<PackageRef> {
        let set: std::collections::BTreeSet<PackageRef> = self
            .domains
            .iter()
            .flat_map(|d| {
                [Some(&d.kernel), d.ramdisk.as_ref(), d.device_tree.as_ref()]
                    .into_iter()
                    .flatten()
            })
            .flat_map(ModuleSource::packages)
            .collect();
        set.into_iter().collect()
    }
}

/// Debian package names: lowercase letters, digits, `+ - .`, starting with a
/// letter or digit, at least two characters (Debian Policy 5.6.1). Checked
/// because they end up on apt-get's command line.
pub fn valid_package_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

/// Debian architecture names: lowercase letters and digits (and `-`).
pub fn valid_arch(arch: &str) -> bool {
    !arch.is_empty()
        && arch.starts_with(|c: char| c.is_ascii_lowercase())
        && arch
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn check_source(ctx: &str, source: &ModuleSource) -> Result<()> {
    for p in source.packages() {
        if !valid_package_name(&p.package) {
            bail!("{ctx}: '{}' is not a Debian package name", p.package);
        }
        if !valid_arch(&p.arch) {
            bail!(
                "{ctx}: package '{}': '{}' is not a Debian architecture",
                p.package,
                p.arch
            );
        }
    }
    match source {
        ModuleSource::Debian(d) => {
            if d.path.is_empty() || d.path.starts_with('/') || d.path.split('/').any(|c| c == "..")
            {
                bail!(
                    "{ctx}: path '{}' must be a relative path inside the package (e.g. boot/vmlinuz-*)",
                    d.path
                );
            }
            glob::Pattern::new(&d.path).map_err(|e| {
                anyhow::anyhow!("{ctx}: path '{}' is not a valid glob: {e}", d.path)
            })?;
        }
        ModuleSource::Initramfs(i) => {
            for a in i.applets.named() {
                if a.is_empty()
                    || a.contains(['/', '\0'])
                    || a == "."
                    || a == ".."
                    || a == "busybox"
                {
                    bail!("{ctx}: '{a}' is not a valid applet name");
                }
            }
            for f in &i.files {
                if !f.dest.starts_with('/') || f.dest.split('/').any(|c| c == "..") {
                    bail!(
                        "{ctx}: file dest '{}' must be an absolute path in the initramfs",
                        f.dest
                    );
                }
                if u32::from_str_radix(&f.mode, 8).map_or(true, |m| m > 0o7777) {
                    bail!(
                        "{ctx}: file '{}': mode '{}' is not octal permission bits (e.g. \"0644\")",
                        f.dest,
                        f.mode
                    );
                }
            }
            for p in &i.packages {
                for g in &p.include {
                    glob::Pattern::new(g).map_err(|e| {
                        anyhow::anyhow!(
                            "{ctx}: package '{}': include '{g}' is not a valid glob: {e}",
                            p.package
                        )
                    })?;
                }
            }
        }
        ModuleSource::Guest(_) | ModuleSource::File(_) => {}
    }
    Ok(())
}

/// More than any manifest or lock file needs (the largest in the tree is
/// a few KiB): a bigger file is a mistake, not something to parse.
pub const MAX_TEXT_BYTES: u64 = 1 << 20;

/// A manifest's or lock file's text, refused when larger than
/// [`MAX_TEXT_BYTES`] or not UTF-8. `what` names the kind in errors.
pub(crate) fn read_small_text(path: &Path, what: &str) -> std::io::Result<Result<String>> {
    let size = std::fs::metadata(path)?.len();
    if size > MAX_TEXT_BYTES {
        return Ok(Err(anyhow::anyhow!(
            "{what} {} is {size} bytes, more than the {MAX_TEXT_BYTES} a {what} may be",
            path.display()
        )));
    }
    let bytes = std::fs::read(path)?;
    Ok(String::from_utf8(bytes)
        .map_err(|e| anyhow::anyhow!("{what} {} is not UTF-8 text ({e})", path.display())))
}

pub(crate) fn read_text(path: &Path) -> Result<String> {
    read_small_text(path, "manifest")
        .with_context(|| format!("cannot read manifest {}", path.display()))?
}

pub(crate) fn parse_yaml<T: for<'de> Deserialize<'de>>(text: &str, origin: &str) -> Result<T> {
    serde_norway::from_str(text).with_context(|| format!("malformed manifest {origin}"))
}

pub(crate) fn yaml_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "yaml").then(|| p.file_stem()?.to_str().map(str::to_owned))?
        })
        // Lock files sit beside the manifests they pin.
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    names.sort();
    names
}

/// Path of an image manifest: an explicit path, or `manifests/images/<name>.yaml`.
pub fn image_manifest_path(
    ws: &Workspace,
    explicit: Option<&Path>,
    board: &BoardManifest,
) -> PathBuf {
    match explicit {
        Some(p) => p.to_path_buf(),
        None => ws
            .images_dir()
            .join(format!("{}.yaml", board.default_image)),
    }
}

/// Load and check an image manifest against the board it is built for.
pub fn load_image(path: &Path, board: &BoardManifest) -> Result<ImageManifest> {
    load_image_unchecked(path, board).or_bad_input()
}

fn load_image_unchecked(path: &Path, board: &BoardManifest) -> Result<ImageManifest> {
    parse_image(&read_text(path)?, &path.display().to_string(), board)
}

/// Parse and check an image manifest's text (`origin` names it in errors).
pub fn parse_image(text: &str, origin: &str, board: &BoardManifest) -> Result<ImageManifest> {
    let m: ImageManifest = parse_yaml(text, origin)?;
    let ctx = origin;
    if !m.boards.contains(&board.board) {
        bail!(
            "{ctx}: image '{}' is not for board '{}' (boards: {:?})",
            m.image,
            board.board,
            m.boards
        );
    }
    if m.domains.is_empty() {
        bail!("{ctx}: field 'domains' is empty: an image needs at least one domain");
    }
    let mut ids = std::collections::BTreeSet::new();
    for d in &m.domains {
        if !ids.insert(d.id) {
            bail!("{ctx}: domain '{}': id {} is used twice", d.name, d.id);
        }
        if d.vcpus == 0 {
            bail!(
                "{ctx}: domain '{}': field 'vcpus' must be at least 1",
                d.name
            );
        }
        if d.memory_mib == 0 && !d.direct_map {
            bail!(
                "{ctx}: domain '{}': field 'memory_mib' must be at least 1",
                d.name
            );
        }
        if d.name.is_empty() || d.name.len() > 64 {
            bail!("{ctx}: domain name '{}' must be 1 to 64 characters", d.name);
        }
        let sources = [
            ("kernel", Some(&d.kernel)),
            ("ramdisk", d.ramdisk.as_ref()),
            ("device_tree", d.device_tree.as_ref()),
        ];
        for (what, source) in sources {
            if let Some(source) = source {
                check_source(&format!("{ctx}: domain '{}': {what}", d.name), source)?;
            }
        }
    }
    if m.domains.iter().filter(|d| d.hardware).count() > 1 {
        bail!("{ctx}: more than one domain has 'hardware: true'");
    }
    crate::plan::check(ctx, &m.domains)?;
    crate::devices::check(ctx, &m.domains, board)?;
    crate::plan::check_memory(ctx, &m.domains, board.ram_mib(), 0)?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board() -> BoardManifest {
        crate::test_support::qemu_virt()
    }

    #[test]
    fn in_tree_manifests_load() {
        let b = board();
        assert_eq!(b.load_address, 0x4020_0000);
        assert_eq!(b.arch, Arch::Aarch64);
        let ws = Workspace {
            root: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."),
        };
        let p = image_manifest_path(&ws, None, &b);
        let img = load_image(&p, &b).unwrap();
        assert_eq!(
            img.domains[0].kernel,
            ModuleSource::Guest("aarch64-selftest".into())
        );
    }

    #[test]
    fn unknown_board_lists_known_ones() {
        let ws = Workspace {
            root: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."),
        };
        let e = load_board(&ws, "rpi9").unwrap_err().to_string();
        assert!(
            e.contains("unknown board 'rpi9'") && e.contains("qemu-virt"),
            "{e}"
        );
    }

    #[test]
    fn malformed_manifest_names_field_and_line() {
        let dir = std::env::temp_dir().join(format!("hy-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bad.yaml");
        std::fs::write(
            &p,
            "image: x\nboards: [qemu-virt]\ndomains:\n  - name: a\n    id: 0\n    vcpus: one\n",
        )
        .unwrap();
        let e = format!("{:#}", load_image(&p, &board()).unwrap_err());
        assert!(
            e.contains("bad.yaml") && e.contains("vcpus") && e.contains("line 6"),
            "{e}"
        );
        std::fs::write(
            &p,
            "image: x\nboards: [qemu-virt]\ndomains: []\ncolour: red\n",
        )
        .unwrap();
        let e = format!("{:#}", load_image(&p, &board()).unwrap_err());
        assert!(e.contains("colour"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn in_tree_linux_dom0_manifest() {
        let ws = crate::test_support::in_tree();
        let img = load_image(&ws.images_dir().join("linux-dom0.yaml"), &board()).unwrap();
        let d = &img.domains[0];
        assert_eq!(
            (d.id, d.hardware, d.direct_map, d.vcpus, d.memory_mib),
            (0, true, true, 2, 512)
        );
        let ModuleSource::Debian(k) = &d.kernel else {
            panic!("{:?}", d.kernel)
        };
        assert_eq!(
            (k.package.as_str(), k.resolve, k.path.as_str()),
            ("linux-image-arm64", Resolve::Depends, "boot/vmlinuz-*")
        );
        let Some(ModuleSource::Initramfs(i)) = &d.ramdisk else {
            panic!("{:?}", d.ramdisk)
        };
        assert_eq!(i.busybox.package, "busybox-static");
        assert_eq!(i.init, Path::new("manifests/images/linux-dom0/init"));
        assert_eq!(i.applets, Applets::All);
        let dests: Vec<_> = i.files.iter().map(|f| f.dest.as_str()).collect();
        assert_eq!(dests, ["/etc/inittab", "/etc/profile"]);
        let names: Vec<_> = img.packages().into_iter().map(|p| p.package).collect();
        assert_eq!(names, ["busybox-static", "linux-image-arm64"]);
    }

    #[test]
    fn source_syntax_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("i.yaml");
        let check = |kernel: &str, ramdisk: &str| {
            std::fs::write(
                &p,
                format!("image: x\nboards: [qemu-virt]\ndomains:\n  - {{name: a, id: 0, vcpus: 1, memory_mib: 8, kernel: {kernel}, ramdisk: {ramdisk}}}\n"),
            )
            .unwrap();
            load_image(&p, &board()).map_err(|e| format!("{e:#}"))
        };
        let deb = "{debian: {package: linux-image-arm64, arch: arm64, resolve: depends, path: boot/vmlinuz-*}}";
        let rd = "{initramfs: {busybox: {package: busybox-static, arch: arm64}, applets: [sh], init: init, \
            packages: [{package: kmod, arch: arm64, include: ['lib/*']}], files: [{src: a, dest: /etc/a, mode: '0600'}]}}";
        let img = check(deb, rd).unwrap();
        let pk: Vec<_> = img
            .packages()
            .into_iter()
            .map(|p| (p.package, p.resolve))
            .collect();
        assert_eq!(
            pk,
            [
                ("busybox-static".to_string(), Resolve::Exact),
                ("kmod".to_string(), Resolve::Exact),
                ("linux-image-arm64".to_string(), Resolve::Depends)
            ]
        );
        let Some(ModuleSource::Initramfs(i)) = &img.domains[0].ramdisk else {
            panic!()
        };
        assert_eq!(i.files[0].mode, "0600");
        assert_eq!(i.applets, Applets::Named(vec!["sh".into()]));
        let all = check(deb, &rd.replace("applets: [sh]", "applets: all")).unwrap();
        let Some(ModuleSource::Initramfs(i)) = &all.domains[0].ramdisk else {
            panic!()
        };
        assert_eq!(i.applets, Applets::All);

        let fails = |kernel: &str, ramdisk: &str, needle: &str| {
            let e = check(kernel, ramdisk).unwrap_err();
            assert!(e.contains(needle), "{needle:?} not in {e}");
        };
        fails(
            deb,
            &rd.replace("applets: [sh]", "applets: every"),
            "applets must be `all` or a list of applet names, not 'every'",
        );
        fails(
            "{file: a, guest: b}",
            rd,
            "exactly one of 'guest', 'file', 'debian' or 'initramfs'",
        );
        fails(
            "{debian: {package: linux-image-arm64, arch: arm64, path: x, version: 1}}",
            rd,
            "version",
        );
        fails(
            "{debian: {package: linux-image-arm64, arch: arm64, resolve: newest, path: x}}",
            rd,
            "newest",
        );
        fails(
            &deb.replace("linux-image-arm64", "-rf"),
            rd,
            "domain 'a': kernel: '-rf' is not a Debian package name",
        );
        fails(
            &deb.replace("arch: arm64", "arch: ARM64"),
            rd,
            "'ARM64' is not a Debian architecture",
        );
        fails(
            &deb.replace("boot/vmlinuz-*", "/boot/vmlinuz"),
            rd,
            "must be a relative path inside the package",
        );
        fails(
            &deb.replace("boot/vmlinuz-*", "'boot/[x'"),
            rd,
            "not a valid glob",
        );
        fails(
            deb,
            &rd.replace("[sh]", "[sh, bin/sh]"),
            "domain 'a': ramdisk: 'bin/sh' is not a valid applet name",
        );
        fails(
            deb,
            &rd.replace("dest: /etc/a", "dest: etc/a"),
            "must be an absolute path in the initramfs",
        );
        fails(
            deb,
            &rd.replace("'0600'", "'rw'"),
            "mode 'rw' is not octal permission bits",
        );
        fails(
            deb,
            &rd.replace("'lib/*'", "'[x'"),
            "include '[x' is not a valid glob",
        );
        fails(
            deb,
            &rd.replace("busybox-static, arch", "Busybox, arch"),
            "'Busybox' is not a Debian package name",
        );
    }
}
