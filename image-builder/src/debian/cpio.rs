//! Normalised cpio "newc" archives, the format Linux unpacks an initramfs
//! from. The `cpio` crate writes the headers; this module decides every
//! field so that the same contents give the same bytes whatever the order
//! they were added in: entries sorted by path, every parent directory
//! present, uid/gid 0, one mtime, inode numbers 1.. in path order, nlink
//! as a filesystem would have it (directories 2 + subdirectories), then
//! the `TRAILER!!!` entry.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{bail, Context, Result};

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;

/// What a path is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    CharDev { major: u32, minor: u32 },
}

/// Permission bits and contents of one path.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    mode: u32,
    node: Node,
}

/// An archive being put together. Paths are given with or without a
/// leading `/`; they are stored without it (as `gen_init_cpio` does).
#[derive(Clone, Debug, Default)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

fn clean(path: &str) -> Result<String> {
    let p = path.trim_start_matches('/').trim_end_matches('/');
    if p.is_empty() || p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        bail!("'{path}' is not a clean path for the initramfs");
    }
    Ok(p.to_string())
}

impl Archive {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `path`. Adding the same path twice with the same node and mode
    /// is allowed (a directory named by two sources); anything else is an
    /// error naming the path.
    pub fn add(&mut self, path: &str, mode: u32, node: Node) -> Result<()> {
        let path = clean(path)?;
        if mode > 0o7777 {
            bail!("{path}: mode {mode:o} has more than permission bits");
        }
        let entry = Entry { mode, node };
        if let Some(old) = self.entries.get(&path) {
            if *old != entry {
                bail!("{path} is added twice with different contents or modes");
            }
        }
        self.entries.insert(path, entry);
        Ok(())
    }

    pub fn dir(&mut self, path: &str, mode: u32) -> Result<()> {
        self.add(path, mode, Node::Dir)
    }

    pub fn file(&mut self, path: &str, mode: u32, bytes: Vec<u8>) -> Result<()> {
        self.add(path, mode, Node::File(bytes))
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> Result<()> {
        self.add(path, 0o777, Node::Symlink(target.to_string()))
    }

    pub fn char_dev(&mut self, path: &str, mode: u32, major: u32, minor: u32) -> Result<()> {
        self.add(path, mode, Node::CharDev { major, minor })
    }

    /// Whether `path` (cleaned as by [`Archive::add`]) is in the archive.
    pub fn contains(&self, path: &str) -> bool {
        clean(path).is_ok_and(|p| self.entries.contains_key(&p))
    }

    /// The node at `path`, following symlinks (in the last component)
    /// within the archive.
    pub fn resolve(&self, path: &str) -> Option<&Node> {
        let mut path = clean(path).ok()?;
        for _ in 0..16 {
            let e = self.entries.get(&path)?;
            match &e.node {
                Node::Symlink(t) => {
                    path = if t.starts_with('/') {
                        clean(t).ok()?
                    } else {
                        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                        clean(&format!("{dir}/{t}")).ok()?
                    };
                }
                n => return Some(n),
            }
        }
        None
    }

    /// All paths with every missing parent directory (mode 0755) added.
    fn completed(&self) -> Result<BTreeMap<String, Entry>> {
        let mut all = self.entries.clone();
        for path in self.entries.keys() {
            let mut p = path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                match all.get(parent) {
                    Some(Entry {
                        node: Node::Dir, ..
                    }) => {}
                    Some(_) => bail!("{path}: its parent {parent} is not a directory"),
                    None => {
                        all.insert(
                            parent.to_string(),
                            Entry {
                                mode: 0o755,
                                node: Node::Dir,
                            },
                        );
                    }
                }
                p = parent;
            }
        }
        Ok(all)
    }

    /// Number of entries [`Archive::write`] writes, trailer excluded.
    pub fn len(&self) -> Result<usize> {
        Ok(self.completed()?.len())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The archive's bytes, every timestamp `mtime`.
    pub fn write(&self, mtime: u32) -> Result<Vec<u8>> {
        let all = self.completed()?;
        let mut subdirs: BTreeMap<&str, u32> = BTreeMap::new();
        for (path, e) in &all {
            if e.node == Node::Dir {
                if let Some((parent, _)) = path.rsplit_once('/') {
                    *subdirs.entry(parent).or_default() += 1;
                }
            }
        }
        let mut out = Vec::new();
        // BTreeMap iterates in byte order of the paths: the archive order.
        for (ino, (path, e)) in (1u32..).zip(&all) {
            let (kind, data, nlink, rdev): (u32, &[u8], u32, (u32, u32)) = match &e.node {
                Node::Dir => (
                    S_IFDIR,
                    &[],
                    2 + subdirs.get(path.as_str()).copied().unwrap_or(0),
                    (0, 0),
                ),
                Node::File(b) => (S_IFREG, b, 1, (0, 0)),
                Node::Symlink(t) => (S_IFLNK, t.as_bytes(), 1, (0, 0)),
                Node::CharDev { major, minor } => (S_IFCHR, &[], 1, (*major, *minor)),
            };
            let size = u32::try_from(data.len())
                .with_context(|| format!("{path}: larger than the newc format's 4 GiB"))?;
            let mut w = cpio::newc::Builder::new(path)
                .ino(ino)
                .mode(kind | e.mode)
                .uid(0)
                .gid(0)
                .nlink(nlink)
                .mtime(mtime)
                .rdev_major(rdev.0)
                .rdev_minor(rdev.1)
                .write(&mut out, size);
            w.write_all(data)?;
            w.finish()?;
        }
        cpio::newc::trailer(&mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Read;

    use super::*;

    /// Read an archive back with the `cpio` crate: (name, ino, mode, uid,
    /// gid, nlink, mtime, rdev, data), trailer included.
    #[allow(clippy::type_complexity)]
    pub fn read_back(
        mut bytes: &[u8],
    ) -> Vec<(String, u32, u32, u32, u32, u32, u32, (u32, u32), Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            let mut r = cpio::newc::Reader::new(bytes).unwrap();
            let e = r.entry().clone();
            let mut data = Vec::new();
            r.read_to_end(&mut data).unwrap();
            let trailer = e.is_trailer();
            out.push((
                e.name().to_string(),
                e.ino(),
                e.mode(),
                e.uid(),
                e.gid(),
                e.nlink(),
                e.mtime(),
                (e.rdev_major(), e.rdev_minor()),
                data,
            ));
            bytes = r.finish().unwrap();
            if trailer {
                return out;
            }
        }
    }

    fn sample(order: &[usize]) -> Archive {
        let mut a = Archive::new();
        for &i in order {
            match i {
                0 => a.file("/bin/busybox", 0o755, b"BB".to_vec()).unwrap(),
                1 => a.symlink("bin/sh", "busybox").unwrap(),
                2 => a.char_dev("/dev/console", 0o600, 5, 1).unwrap(),
                3 => a.file("/init", 0o755, b"#!/bin/sh\n".to_vec()).unwrap(),
                4 => a.dir("/proc", 0o555).unwrap(),
                5 => a
                    .file("/etc/deep/er/x.conf", 0o644, b"x=1\n".to_vec())
                    .unwrap(),
                _ => unreachable!(),
            }
        }
        a
    }

    #[test]
    fn same_contents_in_any_order_give_the_same_bytes() {
        let a = sample(&[0, 1, 2, 3, 4, 5]).write(1_700_000_000).unwrap();
        let b = sample(&[5, 3, 1, 4, 0, 2]).write(1_700_000_000).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len() % 4, 0);
        // Another mtime gives other bytes, and only the mtime fields differ.
        let c = sample(&[0, 1, 2, 3, 4, 5]).write(1).unwrap();
        assert_ne!(a, c);
        let ra = read_back(&a);
        let rc = read_back(&c);
        assert!(ra.iter().zip(&rc).all(|(x, y)| x.0 == y.0 && x.8 == y.8));
    }

    #[test]
    fn fields_are_normalised() {
        let bytes = sample(&[3, 2, 1, 0, 4, 5]).write(1234).unwrap();
        let r = read_back(&bytes);
        let names: Vec<&str> = r.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "bin",
                "bin/busybox",
                "bin/sh",
                "dev",
                "dev/console",
                "etc",
                "etc/deep",
                "etc/deep/er",
                "etc/deep/er/x.conf",
                "init",
                "proc",
                "TRAILER!!!"
            ]
        );
        for (i, e) in r[..r.len() - 1].iter().enumerate() {
            assert_eq!(e.1, i as u32 + 1, "{}: inodes follow path order", e.0);
            assert_eq!((e.3, e.4), (0, 0), "{}: root-owned", e.0);
            assert_eq!(e.6, 1234, "{}: mtime", e.0);
        }
        let by = |n: &str| r.iter().find(|e| e.0 == n).unwrap();
        assert_eq!(by("bin").2, 0o040_755);
        assert_eq!(by("bin/busybox").2, 0o100_755);
        assert_eq!(by("bin/busybox").8, b"BB");
        assert_eq!(by("bin/sh").2, 0o120_777);
        assert_eq!(by("bin/sh").8, b"busybox");
        assert_eq!(by("dev/console").2, 0o020_600);
        assert_eq!(by("dev/console").7, (5, 1));
        assert_eq!(by("proc").2, 0o040_555);
        // nlink: 2 for a leaf directory, +1 per subdirectory, 1 otherwise.
        assert_eq!(by("etc").5, 3);
        assert_eq!(by("etc/deep/er").5, 2);
        assert_eq!(by("init").5, 1);
        let t = r.last().unwrap();
        assert_eq!((t.1, t.2, t.5, t.6), (0, 0, 1, 0));
    }

    #[test]
    fn conflicts_are_errors() {
        let mut a = Archive::new();
        a.dir("/etc", 0o755).unwrap();
        a.dir("etc/", 0o755).unwrap();
        let e = a.dir("/etc", 0o700).unwrap_err().to_string();
        assert!(e.contains("etc is added twice"), "{e}");
        a.file("/x", 0o644, b"1".to_vec()).unwrap();
        a.file("/x/y", 0o644, b"2".to_vec()).unwrap();
        let e = a.write(0).unwrap_err().to_string();
        assert!(e.contains("x/y: its parent x is not a directory"), "{e}");
        assert!(a.file("/a/../b", 0o644, vec![]).is_err());
        assert!(a.file("/", 0o644, vec![]).is_err());
        assert!(a.file("/m", 0o100_644, vec![]).is_err());
    }

    #[test]
    fn resolves_symlinks_inside_the_archive() {
        let a = sample(&[0, 1, 2, 3, 4, 5]);
        assert_eq!(a.resolve("/bin/sh"), Some(&Node::File(b"BB".to_vec())));
        let mut b = a.clone();
        b.symlink("/usr/bin/sh", "/bin/sh").unwrap();
        b.symlink("/loop", "loop").unwrap();
        assert_eq!(b.resolve("/usr/bin/sh"), Some(&Node::File(b"BB".to_vec())));
        assert!(b.resolve("/loop").is_none());
        assert!(a.resolve("/nothing").is_none());
        assert_eq!(a.len().unwrap(), 11);
    }
}
