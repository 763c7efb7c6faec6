//! The secure partitions' list, asked of the SPMC once at init and kept.
//!
//! Everything that needs checking is checked here, when the cache is
//! built: guests' PARTITION_INFO_GET calls are then answered from it with
//! no call to the secure world and no walk of firmware buffers. Entries
//! are kept as the firmware's bytes (its descriptor size may exceed the
//! 24 bytes v1.1 defines; the extra bytes are copied, never interpreted)
//! and read byte-wise, so no size makes an access unaligned.

use alloc::vec::Vec;
use core::fmt;

use super::abi::{is_secure_id, props, status, Version};

/// The descriptor size FF-A v1.1 defines (id, contexts, properties, UUID).
pub const V1_1_DESC_SIZE: usize = 24;
/// The v1.0 descriptor: no UUID.
pub const V1_0_DESC_SIZE: usize = 8;
/// RX/TX buffers are one 4 KiB page.
pub const BUFFER_SIZE: usize = 4096;
/// Most partitions kept (Xen keeps 64 too).
pub const MAX_PARTITIONS: usize = 64;
pub const NIL_UUID: [u8; 16] = [0; 16];

/// The fields the mediator reads from one descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    pub id: u16,
    pub exec_contexts: u16,
    pub props: u32,
    pub uuid: [u8; 16],
}

impl Partition {
    fn parse(d: &[u8]) -> Self {
        let mut uuid = [0; 16];
        uuid.copy_from_slice(&d[8..24]);
        Self {
            id: u16::from_le_bytes([d[0], d[1]]),
            exec_contexts: u16::from_le_bytes([d[2], d[3]]),
            props: u32::from_le_bytes([d[4], d[5], d[6], d[7]]),
            uuid,
        }
    }
    pub fn receives_direct_requests(&self) -> bool {
        self.props & props::DIRECT_REQ_RECV != 0
    }
}

/// Why the firmware's list was not cached (FF-A is then disabled).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheError {
    /// Descriptors shorter than v1.1's 24 bytes.
    SizeTooSmall(u32),
    /// Descriptors of a page or more.
    SizeTooLarge(u32),
    /// `count` descriptors of `size` bytes do not fit the buffer.
    CountDoesNotFit { count: u32, size: u32 },
    /// More secure partitions than the mediator keeps.
    TooMany(u32),
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::SizeTooSmall(s) => write!(f, "descriptor size {s} is below v1.1's 24 bytes"),
            Self::SizeTooLarge(s) => write!(f, "descriptor size {s} is a page or more"),
            Self::CountDoesNotFit { count, size } => write!(
                f,
                "{count} descriptors of {size} bytes do not fit a {BUFFER_SIZE}-byte buffer"
            ),
            Self::TooMany(n) => write!(f, "{n} partitions: at most {MAX_PARTITIONS} are kept"),
        }
    }
}

/// The secure partitions, as the firmware described them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionCache {
    desc_size: usize,
    /// Each kept partition's descriptor, `desc_size` bytes apart.
    raw: Vec<u8>,
    parts: Vec<Partition>,
}

impl PartitionCache {
    /// Build the cache from the firmware's answer: `count` descriptors of
    /// `size` bytes at the start of `rx`. Entries without bit 15 in their
    /// ID are dropped, each with a line to `log`, plus one line saying the
    /// firmware breaks the convention.
    pub fn build(
        rx: &[u8],
        count: u32,
        size: u32,
        log: &mut dyn FnMut(fmt::Arguments),
    ) -> Result<Self, CacheError> {
        let sz = size as usize;
        if sz < V1_1_DESC_SIZE {
            return Err(CacheError::SizeTooSmall(size));
        }
        if sz >= BUFFER_SIZE {
            return Err(CacheError::SizeTooLarge(size));
        }
        let total = (count as usize).checked_mul(sz);
        if total.is_none_or(|t| t > rx.len().min(BUFFER_SIZE)) {
            return Err(CacheError::CountDoesNotFit { count, size });
        }
        let mut cache = Self {
            desc_size: sz,
            ..Self::default()
        };
        let mut warned = false;
        for d in rx.chunks_exact(sz).take(count as usize) {
            let p = Partition::parse(d);
            if !is_secure_id(p.id) {
                if !warned {
                    log(format_args!(
                        "firmware is not using bit 15 for secure endpoint IDs"
                    ));
                    warned = true;
                }
                log(format_args!(
                    "partition {:#06x} dropped: its ID is not a secure endpoint's",
                    p.id
                ));
                continue;
            }
            if cache.parts.len() == MAX_PARTITIONS {
                return Err(CacheError::TooMany(count));
            }
            cache.raw.extend_from_slice(d);
            cache.parts.push(p);
        }
        Ok(cache)
    }

    pub fn partitions(&self) -> &[Partition] {
        &self.parts
    }
    pub fn desc_size(&self) -> usize {
        self.desc_size
    }
    pub fn find(&self, id: u16) -> Option<&Partition> {
        self.parts.iter().find(|p| p.id == id)
    }

    fn matching(&self, uuid: &[u8; 16]) -> impl Iterator<Item = usize> + '_ {
        let nil = *uuid == NIL_UUID;
        let uuid = *uuid;
        (0..self.parts.len()).filter(move |&i| nil || self.parts[i].uuid == uuid)
    }

    /// Answer one PARTITION_INFO_GET: descriptors into `out` (the caller's
    /// RX buffer contents), returning (count, size for w3).
    pub fn answer(&self, q: &Query, out: &mut Vec<u8>) -> Result<(u32, u32), i32> {
        let count_only = match q.flags {
            0 => false,
            1 if q.version >= Version::V1_1 => true,
            _ => return Err(status::INVALID_PARAMETERS),
        };
        let nil = q.uuid == NIL_UUID;
        let sps: Vec<usize> = self.matching(&q.uuid).collect();
        if !nil && sps.is_empty() {
            return Err(status::INVALID_PARAMETERS);
        }
        let me = q.own_entry();
        let count = sps.len() + usize::from(me.is_some());
        if count_only {
            return Ok((count as u32, 0));
        }
        let size = if q.version < Version::V1_1 {
            V1_0_DESC_SIZE
        } else {
            self.desc_size
        };
        if count * size > BUFFER_SIZE {
            return Err(status::NO_MEMORY);
        }
        out.clear();
        for i in sps {
            let d = &self.raw[i * self.desc_size..][..self.desc_size];
            let at = out.len();
            out.extend_from_slice(&d[..size]);
            if !nil && size >= V1_1_DESC_SIZE {
                // Asked by UUID: the field is returned as nil (FF-A v1.1 13.8).
                out[at + 8..at + 24].fill(0);
            }
        }
        if let Some(p) = me {
            let at = out.len();
            out.resize(at + size, 0);
            write_header(&mut out[at..], &p);
        }
        let w3 = if q.version < Version::V1_1 { 0 } else { size };
        Ok((count as u32, w3 as u32))
    }

    /// PARTITION_INFO_GET_REGS (v1.2): up to five 24-byte descriptors in
    /// x3..x17, from `start`; returns x2..x17.
    pub fn answer_regs(&self, q: &Query, start: u16, tag: u16) -> Result<[u64; 16], i32> {
        if q.version < Version::V1_2 {
            return Err(status::NOT_SUPPORTED);
        }
        if tag != 0 {
            // The list never changes, so no tag was ever handed out.
            return Err(status::RETRY);
        }
        let nil = q.uuid == NIL_UUID;
        let mut all: Vec<Partition> = self.matching(&q.uuid).map(|i| self.parts[i]).collect();
        if !nil && all.is_empty() {
            return Err(status::INVALID_PARAMETERS);
        }
        all.extend(q.own_entry());
        if usize::from(start) >= all.len() {
            return Err(status::INVALID_PARAMETERS);
        }
        let last = (usize::from(start) + 5).min(all.len()) - 1;
        let mut r = [0u64; 16];
        r[0] = (V1_1_DESC_SIZE as u64) << 48 | (last as u64) << 16 | (all.len() as u64 - 1);
        for (n, p) in all[start.into()..=last].iter().enumerate() {
            let uuid = if nil { p.uuid } else { NIL_UUID };
            r[1 + 3 * n] =
                u64::from(p.id) | u64::from(p.exec_contexts) << 16 | u64::from(p.props) << 32;
            r[2 + 3 * n] = u64::from_le_bytes(uuid[..8].try_into().unwrap_or_default());
            r[3 + 3 * n] = u64::from_le_bytes(uuid[8..].try_into().unwrap_or_default());
        }
        Ok(r)
    }
}

fn write_header(d: &mut [u8], p: &Partition) {
    d[0..2].copy_from_slice(&p.id.to_le_bytes());
    d[2..4].copy_from_slice(&p.exec_contexts.to_le_bytes());
    d[4..8].copy_from_slice(&p.props.to_le_bytes());
}

/// One guest's PARTITION_INFO_GET, as the mediator saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    pub uuid: [u8; 16],
    pub flags: u32,
    /// The caller's negotiated version.
    pub version: Version,
    pub caller_id: u16,
    pub caller_vcpus: u16,
}

impl Query {
    /// A v1.2 caller asking for all partitions sees itself too (FF-A v1.2
    /// lists the caller; older Linux drivers choke on their own entry, so
    /// earlier versions do not). Other VMs never appear: Halyard offers no
    /// messaging between VMs.
    fn own_entry(&self) -> Option<Partition> {
        (self.version >= Version::V1_2 && self.uuid == NIL_UUID).then_some(Partition {
            id: self.caller_id,
            exec_contexts: self.caller_vcpus,
            props: props::DIRECT_REQ_SEND | props::AARCH64,
            uuid: NIL_UUID,
        })
    }
}

/// The UUID of a call's w1..w4 (each word holds four bytes, low byte first).
pub fn uuid_from_words(w: [u64; 4]) -> [u8; 16] {
    let mut u = [0; 16];
    for (i, word) in w.iter().enumerate() {
        u[4 * i..4 * i + 4].copy_from_slice(&(*word as u32).to_le_bytes());
    }
    u
}

/// The UUID of GET_REGS's x1/x2 (two 64-bit halves, low byte first).
pub fn uuid_from_halves(lo: u64, hi: u64) -> [u8; 16] {
    let mut u = [0; 16];
    u[..8].copy_from_slice(&lo.to_le_bytes());
    u[8..].copy_from_slice(&hi.to_le_bytes());
    u
}
