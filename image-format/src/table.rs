//! Zero-copy, bounds-checked reader for the module table. Everything it reads
//! is untrusted until the signature is checked, so no input may panic it.

use crate::devices::{self, DeviceEntry, DeviceFault, Shared};
use crate::signature::{SignatureBlock, SIGNATURE_BLOCK_SIZE};

/// `b"HALYMODT"`: identifies a module table.
pub const MAGIC: [u8; 8] = *b"HALYMODT";
/// The only version this code reads and writes.
pub const VERSION: u16 = 1;
pub const HEADER_SIZE: usize = 48;
pub const DOMAIN_ENTRY_SIZE: usize = 32;
pub const MODULE_ENTRY_SIZE: usize = 64;
/// Upper bounds that keep a hostile table from making the reader loop long.
pub const MAX_DOMAINS: usize = 64;
pub const MAX_MODULES: usize = 256;

/// What a module is; decides how the domain builder uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum ModuleKind {
    /// A guest kernel (aarch64: Linux arm64 `Image` format).
    Kernel = 1,
    /// An initial ramdisk (cpio, possibly compressed).
    Ramdisk = 2,
    /// A flattened device tree blob for the domain.
    DeviceTree = 3,
}

impl ModuleKind {
    pub fn from_u16(v: u16) -> Option<Self> {
        match v {
            1 => Some(Self::Kernel),
            2 => Some(Self::Ramdisk),
            3 => Some(Self::DeviceTree),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Kernel => "kernel",
            Self::Ramdisk => "ramdisk",
            Self::DeviceTree => "device-tree",
        }
    }
}

/// Table flags: the u64 at header offset 40.
pub mod table_flags {
    /// A signature block follows the table (see [`crate::SignatureBlock`]).
    pub const SIGNED: u64 = 1 << 0;
    /// Every module also lists the BLAKE3-256 of each [`crate::PIECE_SIZE`]
    /// piece, so that pieces can be checked on several CPUs at once: the
    /// u32 at module entry offset 4 is the table-relative offset of
    /// `piece_count(size)` digests.
    pub const PIECE_BLAKE3: u64 = 1 << 1;
    /// A device section follows the module entries: host devices passed
    /// through to a domain (see [`crate::devices`]).
    pub const DEVICES: u64 = 1 << 2;
    pub const ALL: u64 = SIGNED | PIECE_BLAKE3 | DEVICES;
    /// Offset of the flags in the table header.
    pub const OFFSET: usize = 40;
}

/// Domain flags.
pub mod domain_flags {
    /// The hardware domain (dom0): owns the devices the hypervisor does not keep.
    pub const HARDWARE: u16 = 1 << 0;
    /// Guest physical addresses equal host physical addresses.
    pub const DIRECT_MAP: u16 = 1 << 1;
    /// The hardware domain's console is hvc0 (Xen's console_io): the
    /// hypervisor keeps the UART and multiplexes it.
    pub const HVC_CONSOLE: u16 = 1 << 2;
    pub const ALL: u16 = HARDWARE | DIRECT_MAP | HVC_CONSOLE;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// Fewer bytes than the header or the declared table size.
    Truncated,
    BadMagic,
    UnsupportedVersion(u16),
    /// Header or entry sizes differ from this version's.
    BadLayout,
    TooManyEntries,
    /// A string reference points outside the table or is not UTF-8.
    BadString {
        entry: usize,
    },
    UnknownModuleKind {
        module: usize,
        kind: u16,
    },
    UnknownDomainFlags {
        domain: usize,
        flags: u16,
    },
    /// A module names a domain id that no domain entry has.
    UnknownDomain {
        module: usize,
        domain: u16,
    },
    DuplicateDomain {
        domain: u16,
    },
    /// A domain pins a number of physical CPUs other than its vCPU count.
    BadPcpus {
        domain: u16,
    },
    /// Two domains pin the same physical CPU.
    SharedPcpu {
        first: u16,
        second: u16,
        cpu: u32,
    },
    /// A module's bytes lie outside the image or overlap the table.
    ModuleOutOfImage {
        module: usize,
    },
    ModuleMisaligned {
        module: usize,
    },
    UnknownTableFlags {
        flags: u64,
    },
    /// The table says it is signed, but the image ends inside the block.
    SignatureTruncated,
    /// The table says it is signed, but no `HALYSIG1` block follows it.
    BadSignatureMagic,
    /// A module's piece digests lie outside the table.
    BadPieceList {
        module: usize,
    },
    BadDevice {
        device: usize,
        fault: DeviceFault,
    },
    /// Two devices share something: a device is given twice, or two
    /// devices overlap. `first`/`second` are their domains.
    DeviceConflict {
        first: u16,
        second: u16,
        shared: Shared,
    },
}

impl core::fmt::Display for FormatError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::Truncated => write!(f, "module table truncated"),
            Self::BadMagic => write!(f, "module table magic missing"),
            Self::UnsupportedVersion(v) => write!(f, "module table version {v} unsupported"),
            Self::BadLayout => write!(f, "module table entry sizes do not match version 1"),
            Self::TooManyEntries => write!(f, "module table has too many entries"),
            Self::BadString { entry } => {
                write!(f, "entry {entry}: string out of table or not UTF-8")
            }
            Self::UnknownModuleKind { module, kind } => {
                write!(f, "module {module}: unknown kind {kind}")
            }
            Self::UnknownDomainFlags { domain, flags } => {
                write!(f, "domain {domain}: unknown flags {flags:#x}")
            }
            Self::UnknownDomain { module, domain } => {
                write!(
                    f,
                    "module {module}: names domain {domain}, which is not in the table"
                )
            }
            Self::DuplicateDomain { domain } => write!(f, "domain {domain} listed twice"),
            Self::BadPcpus { domain } => write!(
                f,
                "domain {domain}: pins a number of physical CPUs other than its vCPUs"
            ),
            Self::SharedPcpu { first, second, cpu } => write!(
                f,
                "domains {first} and {second} both pin physical CPU {cpu}"
            ),
            Self::ModuleOutOfImage { module } => write!(f, "module {module}: outside the image"),
            Self::ModuleMisaligned { module } => write!(f, "module {module}: not 4 KiB aligned"),
            Self::UnknownTableFlags { flags } => {
                write!(f, "module table has unknown flags {flags:#x}")
            }
            Self::SignatureTruncated => write!(f, "signature block truncated"),
            Self::BadSignatureMagic => write!(f, "signature block magic missing"),
            Self::BadPieceList { module } => {
                write!(f, "module {module}: piece digests outside the table")
            }
            Self::BadDevice { device, fault } => write!(f, "device {device}: {fault}"),
            Self::DeviceConflict {
                first,
                second,
                shared,
            } => write!(f, "domains {first} and {second} both get {shared}"),
        }
    }
}

pub(crate) fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(v)
}

pub(crate) fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(v)
}

/// The fixed-size start of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub domain_count: u16,
    pub module_count: u16,
    /// Bytes from the table start to the end of its string area.
    pub table_size: u32,
    /// Bytes from the image start to the end of the last module.
    pub image_size: u64,
    /// Offset of this table from the image start (= the hypervisor's size).
    pub table_offset: u64,
    /// [`table_flags`]; 0 in images written before signing existed.
    pub flags: u64,
}

impl Header {
    pub fn is_signed(&self) -> bool {
        self.flags & table_flags::SIGNED != 0
    }

    pub fn has_piece_blake3(&self) -> bool {
        self.flags & table_flags::PIECE_BLAKE3 != 0
    }

    pub fn has_devices(&self) -> bool {
        self.flags & table_flags::DEVICES != 0
    }

    /// Offset from the image start of the signature block, if signed.
    pub fn signature_offset(&self) -> Option<u64> {
        self.is_signed()
            .then(|| self.table_offset.checked_add(u64::from(self.table_size)))
            .flatten()
    }

    /// End of what the table occupies: the table, and its signature block
    /// if signed. Modules start at or after it.
    pub fn reserved_end(&self) -> Option<u64> {
        let end = self.table_offset.checked_add(u64::from(self.table_size))?;
        if self.is_signed() {
            end.checked_add(SIGNATURE_BLOCK_SIZE as u64)
        } else {
            Some(end)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainEntry<'a> {
    pub id: u16,
    pub flags: u16,
    pub vcpus: u16,
    pub memory_bytes: u64,
    pub name: &'a str,
    /// Physical CPUs the vCPUs are pinned to (bit per CPU; 0: unpinned).
    pub pcpus: u64,
}

impl DomainEntry<'_> {
    pub fn is_hardware(&self) -> bool {
        self.flags & domain_flags::HARDWARE != 0
    }
    pub fn is_direct_mapped(&self) -> bool {
        self.flags & domain_flags::DIRECT_MAP != 0
    }
    pub fn has_hvc_console(&self) -> bool {
        self.flags & domain_flags::HVC_CONSOLE != 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModuleEntry<'a> {
    pub kind: ModuleKind,
    pub domain: u16,
    /// Offset from the image start.
    pub offset: u64,
    pub size: u64,
    pub sha256: [u8; 32],
    pub cmdline: &'a str,
    /// With [`table_flags::PIECE_BLAKE3`]: the BLAKE3-256 of each
    /// [`crate::PIECE_SIZE`] piece, concatenated.
    pub piece_blake3_list: Option<&'a [u8]>,
}

impl ModuleEntry<'_> {
    /// The expected BLAKE3-256 of piece `i`, if the table lists pieces.
    pub fn piece_blake3(&self, i: usize) -> Option<[u8; 32]> {
        let raw = self.piece_blake3_list?.get(i * 32..i * 32 + 32)?;
        let mut d = [0u8; 32];
        d.copy_from_slice(raw);
        Some(d)
    }
}

/// A parsed, structurally validated module table.
#[derive(Clone, Copy, Debug)]
pub struct ModuleTable<'a> {
    pub header: Header,
    bytes: &'a [u8],
    /// Entries in the device section (0 without one).
    device_count: usize,
}

impl<'a> ModuleTable<'a> {
    /// Parse and validate the table at the start of `bytes`. The caller
    /// passes at least the table (more is fine). Module ranges are checked
    /// against the header's image size; whether those bytes are really
    /// present is the caller's business.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        if bytes.len() < HEADER_SIZE {
            return Err(FormatError::Truncated);
        }
        if bytes[0..8] != MAGIC {
            return Err(FormatError::BadMagic);
        }
        let version = u16_at(bytes, 8);
        if version != VERSION {
            return Err(FormatError::UnsupportedVersion(version));
        }
        if usize::from(u16_at(bytes, 10)) != HEADER_SIZE
            || usize::from(u16_at(bytes, 12)) != DOMAIN_ENTRY_SIZE
            || usize::from(u16_at(bytes, 14)) != MODULE_ENTRY_SIZE
        {
            return Err(FormatError::BadLayout);
        }
        let header = Header {
            domain_count: u16_at(bytes, 16),
            module_count: u16_at(bytes, 18),
            table_size: u32_at(bytes, 20),
            image_size: u64_at(bytes, 24),
            table_offset: u64_at(bytes, 32),
            flags: u64_at(bytes, table_flags::OFFSET),
        };
        if header.flags & !table_flags::ALL != 0 {
            return Err(FormatError::UnknownTableFlags {
                flags: header.flags,
            });
        }
        let (nd, nm) = (
            usize::from(header.domain_count),
            usize::from(header.module_count),
        );
        if nd > MAX_DOMAINS || nm > MAX_MODULES {
            return Err(FormatError::TooManyEntries);
        }
        let entries = HEADER_SIZE + nd * DOMAIN_ENTRY_SIZE + nm * MODULE_ENTRY_SIZE;
        let size = header.table_size as usize;
        if size < entries || bytes.len() < size {
            return Err(FormatError::Truncated);
        }
        let (device_count, section) = if header.has_devices() {
            let n = devices::section(&bytes[..size], entries)?;
            (n, devices::section_size(n))
        } else {
            (0, 0)
        };
        if size < entries + section {
            return Err(FormatError::Truncated);
        }
        let table = ModuleTable {
            header,
            bytes: &bytes[..size],
            device_count,
        };
        table.validate()?;
        Ok(table)
    }

    /// The table's own bytes (what a signature covers).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    fn string(&self, entry: usize, off: usize) -> Result<&'a str, FormatError> {
        let bad = FormatError::BadString { entry };
        let start = u32_at(self.bytes, off) as usize;
        let len = u32_at(self.bytes, off + 4) as usize;
        let end = start.checked_add(len).ok_or(bad)?;
        let raw = self.bytes.get(start..end).ok_or(bad)?;
        core::str::from_utf8(raw).map_err(|_| bad)
    }

    fn domain_raw(&self, i: usize) -> Result<DomainEntry<'a>, FormatError> {
        let o = HEADER_SIZE + i * DOMAIN_ENTRY_SIZE;
        let b = self.bytes;
        Ok(DomainEntry {
            id: u16_at(b, o),
            flags: u16_at(b, o + 2),
            vcpus: u16_at(b, o + 4),
            memory_bytes: u64_at(b, o + 8),
            name: self.string(i, o + 16)?,
            pcpus: u64_at(b, o + 24),
        })
    }

    fn module_raw(&self, i: usize) -> Result<ModuleEntry<'a>, FormatError> {
        let o = HEADER_SIZE
            + usize::from(self.header.domain_count) * DOMAIN_ENTRY_SIZE
            + i * MODULE_ENTRY_SIZE;
        let b = self.bytes;
        let raw_kind = u16_at(b, o);
        let kind = ModuleKind::from_u16(raw_kind).ok_or(FormatError::UnknownModuleKind {
            module: i,
            kind: raw_kind,
        })?;
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&b[o + 24..o + 56]);
        let size = u64_at(b, o + 16);
        let piece_blake3_list = if self.header.has_piece_blake3() {
            let bad = FormatError::BadPieceList { module: i };
            let start = u32_at(b, o + 4) as usize;
            let len = usize::try_from(crate::piece_count(size))
                .ok()
                .and_then(|n| n.checked_mul(32))
                .ok_or(bad)?;
            let end = start.checked_add(len).ok_or(bad)?;
            Some(b.get(start..end).ok_or(bad)?)
        } else {
            None
        };
        Ok(ModuleEntry {
            kind,
            domain: u16_at(b, o + 2),
            offset: u64_at(b, o + 8),
            size,
            sha256,
            cmdline: self.string(i, o + 56)?,
            piece_blake3_list,
        })
    }

    /// Where the device section starts (right after the module entries).
    fn device_section(&self) -> usize {
        HEADER_SIZE
            + usize::from(self.header.domain_count) * DOMAIN_ENTRY_SIZE
            + usize::from(self.header.module_count) * MODULE_ENTRY_SIZE
    }

    fn device_raw(&self, i: usize) -> Result<DeviceEntry<'a>, FormatError> {
        devices::entry(self.bytes, self.device_section(), i, |off| {
            self.string(i, off)
        })
    }

    fn validate_devices(&self) -> Result<(), FormatError> {
        for i in 0..self.device_count {
            let d = self.device_raw(i)?;
            devices::check_entry(i, &d)?;
            let fault = match self.domains().find(|e| e.id == d.domain) {
                None => Some(DeviceFault::UnknownDomain(d.domain)),
                Some(e) if e.is_hardware() => Some(DeviceFault::HardwareDomain(d.domain)),
                Some(_) => None,
            };
            if let Some(fault) = fault {
                return Err(FormatError::BadDevice { device: i, fault });
            }
            for j in 0..i {
                let e = self.device_raw(j)?;
                if let Some(shared) = devices::shared(&e, &d) {
                    return Err(FormatError::DeviceConflict {
                        first: e.domain,
                        second: d.domain,
                        shared,
                    });
                }
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), FormatError> {
        let nd = usize::from(self.header.domain_count);
        for i in 0..nd {
            let d = self.domain_raw(i)?;
            if d.flags & !domain_flags::ALL != 0 {
                return Err(FormatError::UnknownDomainFlags {
                    domain: i,
                    flags: d.flags,
                });
            }
            if d.pcpus != 0 && d.pcpus.count_ones() != u32::from(d.vcpus) {
                return Err(FormatError::BadPcpus { domain: d.id });
            }
            for j in 0..i {
                let e = self.domain_raw(j)?;
                if e.id == d.id {
                    return Err(FormatError::DuplicateDomain { domain: d.id });
                }
                let both = e.pcpus & d.pcpus;
                if both != 0 {
                    return Err(FormatError::SharedPcpu {
                        first: e.id,
                        second: d.id,
                        cpu: both.trailing_zeros(),
                    });
                }
            }
        }
        let table_end = self.header.reserved_end().ok_or(FormatError::Truncated)?;
        for i in 0..usize::from(self.header.module_count) {
            let m = self.module_raw(i)?;
            if !(0..nd).any(|d| self.domain_raw(d).map(|d| d.id) == Ok(m.domain)) {
                return Err(FormatError::UnknownDomain {
                    module: i,
                    domain: m.domain,
                });
            }
            if m.offset % crate::MODULE_ALIGN != 0 {
                return Err(FormatError::ModuleMisaligned { module: i });
            }
            let end = m.offset.checked_add(m.size);
            if m.offset < table_end || end.is_none_or(|e| e > self.header.image_size) {
                return Err(FormatError::ModuleOutOfImage { module: i });
            }
        }
        self.validate_devices()
    }

    pub fn domains(&self) -> impl Iterator<Item = DomainEntry<'a>> + '_ {
        // Validated in `parse`, so the entries decode.
        (0..usize::from(self.header.domain_count)).filter_map(|i| self.domain_raw(i).ok())
    }

    pub fn modules(&self) -> impl Iterator<Item = ModuleEntry<'a>> + '_ {
        (0..usize::from(self.header.module_count)).filter_map(|i| self.module_raw(i).ok())
    }

    /// The devices passed through to domains (none without a device section).
    pub fn devices(&self) -> impl Iterator<Item = DeviceEntry<'a>> + '_ {
        (0..self.device_count).filter_map(|i| self.device_raw(i).ok())
    }

    /// The signature block after the table. `from_table` is what was given
    /// to [`ModuleTable::parse`] (the table and the rest of the image).
    /// `Ok(None)` for an unsigned table.
    pub fn signature(
        &self,
        from_table: &'a [u8],
    ) -> Result<Option<SignatureBlock<'a>>, FormatError> {
        if !self.header.is_signed() {
            return Ok(None);
        }
        let rest = from_table
            .get(self.header.table_size as usize..)
            .ok_or(FormatError::SignatureTruncated)?;
        SignatureBlock::parse(rest).map(Some)
    }

    /// The first module of `kind` owned by `domain`.
    pub fn module(&self, domain: u16, kind: ModuleKind) -> Option<ModuleEntry<'a>> {
        self.modules()
            .find(|m| m.domain == domain && m.kind == kind)
    }
}
