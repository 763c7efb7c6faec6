//! The boot image's module table: found at the hypervisor's end, checked
//! (structure, then every module's BLAKE3 pieces, or its SHA-256 if the
//! table lists no pieces) before any domain is built.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use image_format::{FormatError, ModuleEntry, ModuleTable, PIECE_SIZE};
use sha2::{Digest, Sha256};

use super::blake3::{self, Hash4};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleError {
    Table(FormatError),
    /// The table says it sits somewhere other than where we found it.
    Misplaced {
        expected: u64,
        found: u64,
    },
    HashMismatch {
        index: usize,
    },
    /// A verdict was asked for before every hash was checked.
    NotChecked,
}

/// Parse the table that starts `table_offset` bytes into the image at
/// `image`. `image` must cover the whole image (header's `image_size`).
pub fn parse_table(image: &[u8], table_offset: u64) -> Result<ModuleTable<'_>, ModuleError> {
    let start =
        usize::try_from(table_offset).map_err(|_| ModuleError::Table(FormatError::Truncated))?;
    let bytes = image
        .get(start..)
        .ok_or(ModuleError::Table(FormatError::Truncated))?;
    let table = ModuleTable::parse(bytes).map_err(ModuleError::Table)?;
    if table.header.table_offset != table_offset {
        return Err(ModuleError::Misplaced {
            expected: table_offset,
            found: table.header.table_offset,
        });
    }
    Ok(table)
}

/// The bytes of module `m` inside `image`.
pub fn module_bytes<'a>(image: &'a [u8], m: &ModuleEntry<'_>) -> Option<&'a [u8]> {
    let start = usize::try_from(m.offset).ok()?;
    let end = start.checked_add(usize::try_from(m.size).ok()?)?;
    image.get(start..end)
}

/// One unit of hashing: one [`image_format::PIECE_SIZE`] piece of a module
/// (its BLAKE3), or a whole module (its SHA-256, for tables without pieces).
#[derive(Clone, Copy, Debug)]
struct Job {
    module: usize,
    start: usize,
    end: usize,
    digest: [u8; 32],
    whole: bool,
}

/// Every module's hash check, cut into jobs that any number of CPUs can
/// take at the same time (each calls [`HashCheck::work`]). Results are read
/// per domain once every job is done.
pub struct HashCheck<'a> {
    image: &'a [u8],
    jobs: Vec<Job>,
    next: AtomicUsize,
    done: AtomicUsize,
    /// Per module: some piece (or the whole) did not match.
    bad: Vec<AtomicBool>,
}

impl<'a> HashCheck<'a> {
    pub fn new(image: &'a [u8], table: &ModuleTable<'_>) -> Self {
        Self::filtered(image, table, None)
    }

    /// Only domain `id`'s modules (a rebuild checks one domain again).
    pub fn for_domain(image: &'a [u8], table: &ModuleTable<'_>, id: u16) -> Self {
        Self::filtered(image, table, Some(id))
    }

    fn filtered(image: &'a [u8], table: &ModuleTable<'_>, only: Option<u16>) -> Self {
        let mut jobs = Vec::new();
        let mut bad = Vec::new();
        for (module, m) in table.modules().enumerate() {
            if only.is_some_and(|id| id != m.domain) {
                bad.push(AtomicBool::new(false));
                continue;
            }
            let range = usize::try_from(m.offset)
                .ok()
                .zip(usize::try_from(m.size).ok())
                .and_then(|(o, s)| Some(o..o.checked_add(s)?))
                .filter(|r| r.end <= image.len());
            bad.push(AtomicBool::new(range.is_none()));
            let Some(range) = range else { continue };
            if m.piece_blake3_list.is_none() {
                jobs.push(Job {
                    module,
                    start: range.start,
                    end: range.end,
                    digest: m.sha256,
                    whole: true,
                });
                continue;
            }
            let piece = PIECE_SIZE as usize;
            for (i, start) in range.clone().step_by(piece).enumerate() {
                match m.piece_blake3(i) {
                    Some(digest) => jobs.push(Job {
                        module,
                        start,
                        end: (start + piece).min(range.end),
                        digest,
                        whole: false,
                    }),
                    None => bad[module].store(true, Ordering::Relaxed),
                }
            }
        }
        HashCheck {
            image,
            jobs,
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            bad,
        }
    }

    pub fn jobs(&self) -> usize {
        self.jobs.len()
    }

    /// Take and check jobs until none is left. Any number of CPUs may call
    /// this at once; `hash4` (what compresses a piece's BLAKE3 tree nodes)
    /// may differ between them.
    pub fn work(&self, hash4: Hash4) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = self.jobs.get(i) else { return };
            let bytes = &self.image[job.start..job.end];
            let digest: [u8; 32] = match job.whole {
                true => Sha256::digest(bytes).into(),
                false => blake3::hash(bytes, hash4),
            };
            if digest != job.digest {
                self.bad[job.module].store(true, Ordering::Relaxed);
            }
            // Release: whoever sees the count also sees the `bad` flag.
            self.done.fetch_add(1, Ordering::Release);
        }
    }

    /// Stop handing out jobs (nothing will be trusted anyway): runners
    /// return after the job they are on. The verdict stays "not checked".
    pub fn cancel(&self) {
        self.next.store(self.jobs.len(), Ordering::Relaxed);
    }

    /// Every job has been checked (by whichever CPU took it).
    pub fn finished(&self) -> bool {
        self.done.load(Ordering::Acquire) == self.jobs.len()
    }

    /// The verdict for domain `id`: how many modules it has, or the first
    /// module that failed. Asking before [`Self::finished`] is an error,
    /// never a pass.
    pub fn domain_result(&self, table: &ModuleTable<'_>, id: u16) -> Result<usize, ModuleError> {
        if !self.finished() {
            return Err(ModuleError::NotChecked);
        }
        let mut count = 0;
        for (index, _) in table.modules().enumerate().filter(|(_, m)| m.domain == id) {
            if self
                .bad
                .get(index)
                .is_none_or(|b| b.load(Ordering::Relaxed))
            {
                return Err(ModuleError::HashMismatch { index });
            }
            count += 1;
        }
        Ok(count)
    }
}

/// Check every module's hash on this CPU; the first mismatch is reported by
/// index.
pub fn verify_hashes(image: &[u8], table: &ModuleTable<'_>) -> Result<(), ModuleError> {
    let check = HashCheck::new(image, table);
    check.work(blake3::portable4);
    let first_bad = check.bad.iter().position(|b| b.load(Ordering::Relaxed));
    match first_bad {
        Some(index) => Err(ModuleError::HashMismatch { index }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image_format::{layout, DomainSpec, ModuleKind, ModuleSpec};

    fn image() -> Vec<u8> {
        let payload = b"kernel bytes".to_vec();
        let l = layout(
            0x1000,
            &[DomainSpec {
                id: 1,
                flags: 0,
                vcpus: 1,
                memory_bytes: 1 << 26,
                pcpus: 0,
                name: "d".into(),
            }],
            &[ModuleSpec {
                kind: ModuleKind::Kernel,
                domain: 1,
                size: payload.len() as u64,
                sha256: Sha256::digest(&payload).into(),
                cmdline: String::new(),
                piece_blake3: Vec::new(),
                align: 0,
            }],
        );
        let mut img = vec![0u8; l.image_size as usize];
        img[0x1000..0x1000 + l.table.len()].copy_from_slice(&l.table);
        let o = l.module_offsets[0] as usize;
        img[o..o + payload.len()].copy_from_slice(&payload);
        img
    }

    #[test]
    fn verifies_and_detects_tampering() {
        let img = image();
        let t = parse_table(&img, 0x1000).unwrap();
        verify_hashes(&img, &t).unwrap();
        let mut bad = img.clone();
        bad[0x2000] ^= 0x80;
        let t = parse_table(&bad, 0x1000).unwrap();
        assert_eq!(
            verify_hashes(&bad, &t),
            Err(ModuleError::HashMismatch { index: 0 })
        );
    }

    /// A domain with a `kernel_len`-byte kernel and a small ramdisk, with
    /// piece digests, and the image bytes.
    fn pieced_image(kernel_len: usize) -> Vec<u8> {
        use image_format::{layout_with, LayoutOptions};
        let piece = PIECE_SIZE as usize;
        let kernel: Vec<u8> = (0..kernel_len).map(|i| (i * 31 % 251) as u8).collect();
        let ramdisk = vec![0x5a; 1000];
        let spec = |kind, b: &[u8]| ModuleSpec {
            kind,
            domain: 3,
            size: b.len() as u64,
            sha256: Sha256::digest(b).into(),
            cmdline: String::new(),
            piece_blake3: b
                .chunks(piece)
                .map(|c| *::blake3::hash(c).as_bytes())
                .collect(),
            align: 0,
        };
        let domain = DomainSpec {
            id: 3,
            flags: 0,
            vcpus: 1,
            memory_bytes: 1 << 26,
            pcpus: 0,
            name: "d".into(),
        };
        let opts = LayoutOptions {
            signed: false,
            piece_blake3: true,
        };
        let mods = [
            spec(ModuleKind::Kernel, &kernel),
            spec(ModuleKind::Ramdisk, &ramdisk),
        ];
        let l = layout_with(0x1000, &[domain], &mods, opts);
        let mut img = vec![0u8; l.image_size as usize];
        img[0x1000..0x1000 + l.table.len()].copy_from_slice(&l.table);
        for (b, o) in [&kernel, &ramdisk].iter().zip(&l.module_offsets) {
            img[*o as usize..*o as usize + b.len()].copy_from_slice(b);
        }
        img
    }

    /// Check `img` with `cpus` threads sharing the jobs.
    fn check_on(img: &[u8], cpus: usize) -> Result<usize, ModuleError> {
        let t = parse_table(img, 0x1000).unwrap();
        let check = HashCheck::new(img, &t);
        assert_eq!(check.domain_result(&t, 3), Err(ModuleError::NotChecked));
        std::thread::scope(|s| {
            for _ in 0..cpus {
                let check = &check;
                s.spawn(move || check.work(blake3::portable4));
            }
        });
        assert!(check.finished());
        check.domain_result(&t, 3)
    }

    #[test]
    fn pieces_are_checked_on_many_cpus() {
        let img = pieced_image(PIECE_SIZE as usize * 7 / 2);
        let t = parse_table(&img, 0x1000).unwrap();
        assert_eq!(HashCheck::new(&img, &t).jobs(), 4 + 1);
        for cpus in [1, 2, 4, 7] {
            assert_eq!(check_on(&img, cpus), Ok(2), "{cpus} CPUs");
        }
    }

    #[test]
    fn a_cancelled_check_never_passes() {
        let img = pieced_image(PIECE_SIZE as usize * 3);
        let t = parse_table(&img, 0x1000).unwrap();
        let check = HashCheck::new(&img, &t);
        check.cancel();
        check.work(blake3::portable4);
        assert!(!check.finished());
        assert_eq!(check.domain_result(&t, 3), Err(ModuleError::NotChecked));
    }

    #[test]
    fn a_flipped_bit_in_any_piece_names_its_module() {
        let piece = PIECE_SIZE as usize;
        // Kernels whose last piece is short, whole, or a single byte.
        for kernel_len in [piece * 7 / 2, piece * 3, piece * 2 + 1] {
            let img = pieced_image(kernel_len);
            let t = parse_table(&img, 0x1000).unwrap();
            let pieces = kernel_len.div_ceil(piece);
            assert_eq!(HashCheck::new(&img, &t).jobs(), pieces + 1);
            let kernel_at = t.modules().next().unwrap().offset as usize;
            let ramdisk_at = t.modules().nth(1).unwrap().offset as usize;
            let mut places: Vec<(usize, usize)> = (0..pieces)
                .map(|i| {
                    let len = piece.min(kernel_len - i * piece);
                    (kernel_at + i * piece + i * 97 % len, 0)
                })
                .collect();
            places.push((kernel_at + kernel_len - 1, 0));
            places.push((ramdisk_at + 999, 1));
            for (at, index) in places {
                let mut bad = img.clone();
                bad[at] ^= 0x10;
                assert_eq!(
                    check_on(&bad, 2),
                    Err(ModuleError::HashMismatch { index }),
                    "byte {at:#x}"
                );
                assert_eq!(
                    verify_hashes(&bad, &parse_table(&bad, 0x1000).unwrap()),
                    Err(ModuleError::HashMismatch { index })
                );
            }
        }
    }

    #[test]
    fn table_must_be_where_it_says() {
        let mut img = image();
        img.splice(0..0, [0u8; 0x1000]);
        assert_eq!(
            parse_table(&img, 0x2000).unwrap_err(),
            ModuleError::Misplaced {
                expected: 0x2000,
                found: 0x1000
            }
        );
        assert!(matches!(
            parse_table(&img, 0x10_0000),
            Err(ModuleError::Table(_))
        ));
    }
}
