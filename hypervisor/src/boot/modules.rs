//! The boot image's module table: found at the hypervisor's end, checked
//! (structure, then every module's SHA-256) before any domain is built.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use image_format::{FormatError, ModuleEntry, ModuleTable, CHUNK_SIZE};
use sha2::{Digest, Sha256};

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

/// One unit of hashing: a whole module (tables without piece digests) or
/// one [`image_format::CHUNK_SIZE`] piece of it.
#[derive(Clone, Copy, Debug)]
struct Job {
    module: usize,
    start: usize,
    end: usize,
    digest: [u8; 32],
}

/// SHA-256 of four byte strings at once, digests in the same order.
pub type Hash4<'a> = dyn Fn(&[&[u8]; 4]) -> [[u8; 32]; 4] + 'a;

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
        let mut jobs = Vec::new();
        let mut bad = Vec::new();
        for (module, m) in table.modules().enumerate() {
            let range = usize::try_from(m.offset)
                .ok()
                .zip(usize::try_from(m.size).ok())
                .and_then(|(o, s)| Some(o..o.checked_add(s)?))
                .filter(|r| r.end <= image.len());
            bad.push(AtomicBool::new(range.is_none()));
            let Some(range) = range else { continue };
            if m.chunk_digests.is_none() {
                jobs.push(Job {
                    module,
                    start: range.start,
                    end: range.end,
                    digest: m.sha256,
                });
                continue;
            }
            let piece = CHUNK_SIZE as usize;
            for (i, start) in range.clone().step_by(piece).enumerate() {
                match m.chunk_digest(i) {
                    Some(digest) => jobs.push(Job {
                        module,
                        start,
                        end: (start + piece).min(range.end),
                        digest,
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
    /// this at once; `sha256` may differ between them.
    pub fn work(&self, sha256: &dyn Fn(&[u8]) -> [u8; 32]) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = self.jobs.get(i) else { return };
            if sha256(&self.image[job.start..job.end]) != job.digest {
                self.bad[job.module].store(true, Ordering::Relaxed);
            }
            // Release: whoever sees the count also sees the `bad` flag.
            self.done.fetch_add(1, Ordering::Release);
        }
    }

    /// [`Self::work`], but taking up to four jobs at a time for `hash4`. A
    /// batch short of four jobs repeats its first one in the unused inputs.
    pub fn work_batched(&self, hash4: &Hash4<'_>) {
        loop {
            let first = self.next.fetch_add(4, Ordering::Relaxed);
            let Some(jobs) = self.jobs.get(first..self.jobs.len().min(first + 4)) else {
                return;
            };
            if jobs.is_empty() {
                return;
            }
            let lanes = core::array::from_fn(|i| {
                let job = jobs.get(i).unwrap_or(&jobs[0]);
                &self.image[job.start..job.end]
            });
            for (job, digest) in jobs.iter().zip(hash4(&lanes)) {
                if digest != job.digest {
                    self.bad[job.module].store(true, Ordering::Relaxed);
                }
            }
            // Release: whoever sees the count also sees the `bad` flags.
            self.done.fetch_add(jobs.len(), Ordering::Release);
        }
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
    check.work(&|b| Sha256::digest(b).into());
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
                name: "d".into(),
            }],
            &[ModuleSpec {
                kind: ModuleKind::Kernel,
                domain: 1,
                size: payload.len() as u64,
                sha256: Sha256::digest(&payload).into(),
                cmdline: String::new(),
                chunk_sha256: Vec::new(),
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
    fn chunked_image(kernel_len: usize) -> Vec<u8> {
        use image_format::{layout_with, LayoutOptions};
        let piece = CHUNK_SIZE as usize;
        let kernel: Vec<u8> = (0..kernel_len).map(|i| (i * 31 % 251) as u8).collect();
        let ramdisk = vec![0x5a; 1000];
        let spec = |kind, b: &[u8]| ModuleSpec {
            kind,
            domain: 3,
            size: b.len() as u64,
            sha256: Sha256::digest(b).into(),
            cmdline: String::new(),
            chunk_sha256: b.chunks(piece).map(|c| Sha256::digest(c).into()).collect(),
            align: 0,
        };
        let domain = DomainSpec {
            id: 3,
            flags: 0,
            vcpus: 1,
            memory_bytes: 1 << 26,
            name: "d".into(),
        };
        let opts = LayoutOptions {
            signed: false,
            chunk_digests: true,
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

    /// A batch hasher for the host: four digests, checking that it is
    /// always given four inputs.
    fn host_hash4(lanes: &[&[u8]; 4]) -> [[u8; 32]; 4] {
        lanes.map(|b| Sha256::digest(b).into())
    }

    /// Check `img` with `cpus` threads sharing the jobs, each taking them
    /// one at a time or in batches as `batched(thread)` says.
    fn check_on(img: &[u8], cpus: usize, batched: fn(usize) -> bool) -> Result<usize, ModuleError> {
        let t = parse_table(img, 0x1000).unwrap();
        let check = HashCheck::new(img, &t);
        assert_eq!(check.domain_result(&t, 3), Err(ModuleError::NotChecked));
        std::thread::scope(|s| {
            for cpu in 0..cpus {
                let check = &check;
                s.spawn(move || match batched(cpu) {
                    true => check.work_batched(&host_hash4),
                    false => check.work(&|b| Sha256::digest(b).into()),
                });
            }
        });
        assert!(check.finished());
        check.domain_result(&t, 3)
    }

    #[test]
    fn pieces_are_checked_on_many_cpus() {
        let img = chunked_image(CHUNK_SIZE as usize * 7 / 2);
        let t = parse_table(&img, 0x1000).unwrap();
        assert_eq!(HashCheck::new(&img, &t).jobs(), 4 + 1);
        for cpus in [1, 2, 4, 7] {
            assert_eq!(check_on(&img, cpus, |_| false), Ok(2), "{cpus} CPUs");
        }
        let kernel_at = t.modules().next().unwrap().offset as usize;
        let ramdisk_at = t.modules().nth(1).unwrap().offset as usize;
        // A flipped bit in any piece, the short last one included, or in
        // the ramdisk names the module that holds it.
        for (at, index) in [
            (kernel_at, 0),
            (kernel_at + CHUNK_SIZE as usize + 77, 0),
            (kernel_at + 3 * CHUNK_SIZE as usize + 5, 0),
            (ramdisk_at + 999, 1),
        ] {
            let mut bad = img.clone();
            bad[at] ^= 0x04;
            assert_eq!(
                check_on(&bad, 2, |_| false),
                Err(ModuleError::HashMismatch { index }),
                "byte {at:#x}"
            );
            assert_eq!(
                verify_hashes(&bad, &parse_table(&bad, 0x1000).unwrap()),
                Err(ModuleError::HashMismatch { index })
            );
        }
    }

    #[test]
    fn pieces_are_checked_in_batches() {
        let piece = CHUNK_SIZE as usize;
        // 5, 7 and 8 jobs: one to three short of a multiple of four, and
        // kernels whose last piece is short, whole, or a single byte.
        for kernel_len in [piece * 7 / 2, piece * 6, piece * 6 + 1] {
            let img = chunked_image(kernel_len);
            let t = parse_table(&img, 0x1000).unwrap();
            let pieces = kernel_len.div_ceil(piece);
            assert_eq!(HashCheck::new(&img, &t).jobs(), pieces + 1);
            for cpus in 1..=7 {
                assert_eq!(check_on(&img, cpus, |_| true), Ok(2), "{cpus} CPUs");
            }
            // Batched and one-at-a-time takers share the jobs.
            assert_eq!(check_on(&img, 3, |cpu| cpu % 2 == 0), Ok(2));
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
                for cpus in [1, 2, 5] {
                    assert_eq!(
                        check_on(&bad, cpus, |_| true),
                        Err(ModuleError::HashMismatch { index }),
                        "byte {at:#x}, {cpus} CPUs"
                    );
                }
            }
        }
    }

    #[test]
    fn a_short_batch_repeats_its_first_job() {
        let img = chunked_image(CHUNK_SIZE as usize * 2);
        let t = parse_table(&img, 0x1000).unwrap();
        let check = HashCheck::new(&img, &t);
        assert_eq!(check.jobs(), 3);
        let seen = std::sync::Mutex::new(Vec::new());
        check.work_batched(&|lanes| {
            seen.lock()
                .unwrap()
                .push(lanes.map(|l| (l.as_ptr(), l.len())));
            host_hash4(lanes)
        });
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0][3], seen[0][0]);
        assert!(check.finished());
        assert_eq!(check.domain_result(&t, 3), Ok(2));
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
