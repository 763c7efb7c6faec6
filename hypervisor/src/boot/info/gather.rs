//! The split layout put back together: each module a boot loader handed
//! over is matched against the signed table by its hash and copied to the
//! place the table gives it in the image, so that from then on the boot is
//! the same as from `boot.img` (every piece is still checked by
//! `modules::HashCheck`, the signature by `trust`).
//!
//! A module is identified by its size and the BLAKE3 of its first piece
//! (cheap: at most one piece per module before the full check). One that
//! matches no entry is refused by name; one Xen's rules take as the
//! hardware domain's kernel or ramdisk must be exactly that; a kind or a
//! `xen,domain` owner that contradicts the table refuses it. The loader's
//! `bootargs` are never used: the command line is the signed table's.

use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};

use image_format::{ModuleKind, ModuleTable, PIECE_SIZE};

use crate::board::PhysRange;
use crate::boot::handover::{Declared, LoaderModule};
use crate::boot::module_rules;

/// Where one loader module goes: module `from` to table entry `entry`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub from: usize,
    pub entry: usize,
    /// Offset from the image start.
    pub offset: u64,
    pub len: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub copies: Vec<Placement>,
    /// What to print, in order (warnings and refusals).
    pub messages: Vec<String>,
    /// The table has a hardware domain and no module became its kernel:
    /// Xen's "no hardware domain was built", and a halt.
    pub no_hardware_kernel: bool,
}

fn kind_of(d: Declared) -> Option<ModuleKind> {
    match d {
        Declared::Kernel => Some(ModuleKind::Kernel),
        Declared::Ramdisk => Some(ModuleKind::Ramdisk),
        Declared::DeviceTree => Some(ModuleKind::DeviceTree),
        Declared::Other | Declared::Untyped => None,
    }
}

fn describe(m: &LoaderModule<'_>) -> String {
    match m.owner {
        Some(o) => format!("module #{} ({}/{})", m.number, o, m.name),
        None => format!("module #{} ({})", m.number, m.name),
    }
}

/// Decide every copy. `bytes` gives a module's contents (None: not in
/// memory the hypervisor may read, or overlapping the image); `piece0`
/// hashes a module's first piece.
pub fn plan<'m>(
    table: &ModuleTable<'_>,
    mods: &[LoaderModule<'m>],
    bytes: impl Fn(&LoaderModule<'m>) -> Option<&'m [u8]>,
    piece0: impl Fn(&[u8]) -> [u8; 32],
) -> Plan {
    let mut out = Plan::default();
    let entries: Vec<_> = table.modules().collect();
    let domain_name = |id: u16| {
        table
            .domains()
            .find(|d| d.id == id)
            .map_or(String::new(), |d| String::from(d.name))
    };
    let hw = table.domains().find(|d| d.is_hardware()).map(|d| d.id);
    let pick = match hw {
        Some(_) => module_rules::pick_hardware(mods),
        None => module_rules::HardwarePick::default(),
    };
    out.messages.extend(pick.warning.clone());
    let mut filled: Vec<Option<usize>> = vec![None; entries.len()];
    for (i, m) in mods.iter().enumerate() {
        let who = describe(m);
        let Some(data) = bytes(m) else {
            out.messages.push(format!(
                "{who} at {:#x}..{:#x} is outside RAM or overlaps the image: refused",
                m.range.base,
                m.range.end()
            ));
            continue;
        };
        if m.declared == Declared::Other {
            out.messages
                .push(format!("{who} is of a kind Halyard does not use: ignored"));
            continue;
        }
        let head = &data[..data.len().min(PIECE_SIZE as usize)];
        let digest = piece0(head);
        let same: Vec<usize> = (0..entries.len())
            .filter(|&e| {
                entries[e].size == data.len() as u64 && entries[e].piece_blake3(0) == Some(digest)
            })
            .collect();
        if same.is_empty() {
            out.messages.push(format!(
                "{who}, {} bytes, is not in the signed table: refused",
                data.len()
            ));
            continue;
        }
        let role = match hw {
            Some(d) if pick.kernel == Some(i) => Some((d, ModuleKind::Kernel)),
            Some(d) if pick.ramdisk == Some(i) => Some((d, ModuleKind::Ramdisk)),
            _ => None,
        };
        if let Some((d, k)) = role {
            if !same
                .iter()
                .any(|&e| entries[e].domain == d && entries[e].kind == k)
            {
                out.messages.push(format!(
                    "{who} is the hardware domain's {} by Xen's module rules, but the signed table lists it for another use: refused",
                    k.name()
                ));
                continue;
            }
        }
        let fits = |e: usize| {
            let entry = &entries[e];
            let kind_ok = kind_of(m.declared).is_none_or(|k| k == entry.kind);
            let owner_ok = m.owner.is_none_or(|o| o == domain_name(entry.domain));
            let role_ok = role.is_none_or(|(d, k)| entry.kind == k || entry.domain != d);
            kind_ok && owner_ok && role_ok
        };
        let take: Vec<usize> = same.iter().copied().filter(|&e| fits(e)).collect();
        if take.is_empty() {
            let e = &entries[same[0]];
            out.messages.push(format!(
                "{who} is d{} ({})'s {} in the signed table, which its node contradicts: refused",
                e.domain,
                domain_name(e.domain),
                e.kind.name()
            ));
            continue;
        }
        let new: Vec<usize> = take.into_iter().filter(|&e| filled[e].is_none()).collect();
        if new.is_empty() {
            out.messages.push(format!(
                "{who} repeats a module already handed over: ignored"
            ));
            continue;
        }
        // A node shared by several domains carries one of their lines.
        if m.bootargs
            .is_some_and(|b| !b.is_empty() && new.iter().all(|&e| entries[e].cmdline != b))
        {
            out.messages.push(format!(
                "{who}: the loader's bootargs are ignored; the signed table's command line is used"
            ));
        }
        for e in new {
            filled[e] = Some(i);
            let entry = &entries[e];
            out.copies.push(Placement {
                from: i,
                entry: e,
                offset: entry.offset,
                len: entry.size,
            });
        }
    }
    for (e, entry) in entries.iter().enumerate() {
        if filled[e].is_none() {
            out.messages.push(format!(
                "d{} ({}): its {} was not handed over by the loader",
                entry.domain,
                domain_name(entry.domain),
                entry.kind.name()
            ));
        }
    }
    out.no_hardware_kernel = hw.is_some_and(|d| {
        !(0..entries.len()).any(|e| {
            entries[e].domain == d && entries[e].kind == ModuleKind::Kernel && filled[e].is_some()
        })
    });
    out
}

/// The split layout's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gathered {
    /// The loader handed over no modules: they are in the image.
    NotSplit,
    /// This many copies were made into the image.
    Copied(usize),
    /// Xen's "no hardware domain was built": stop the machine.
    NoHardwareDomain,
}

/// Put a split layout back together: read the loader's module nodes from
/// `blob`, match them against the table at the start of `head` (the image
/// up to its first module) and copy each into `area`, the rest of the
/// image (`area_offset` bytes from its start). `source` reads a module's
/// memory (None where it may not be read).
pub fn gather<'m>(
    blob: &'m [u8],
    head: &[u8],
    table_offset: u64,
    area: &mut [u8],
    area_offset: u64,
    source: impl Fn(PhysRange) -> Option<&'m [u8]>,
    hash4: crate::boot::blake3::Hash4,
) -> Gathered {
    let mods = match crate::boot::handover::modules(blob) {
        Ok(m) if m.is_empty() => return Gathered::NotSplit,
        Ok(m) => m,
        Err(e) => {
            crate::info!("boot modules from the loader cannot be read ({e:?})");
            return Gathered::NotSplit;
        }
    };
    crate::info!(
        "split layout: {} module(s) handed over by the loader",
        mods.len()
    );
    let table = match crate::boot::modules::parse_table(head, table_offset) {
        Ok(t) if t.header.has_piece_blake3() => t,
        _ => {
            crate::info!("split layout: the image has no usable module table (piece digests needed): nothing to match the modules against");
            return Gathered::Copied(0);
        }
    };
    let p = plan(
        &table,
        &mods,
        |m| source(m.range),
        |b| crate::boot::blake3::hash(b, hash4),
    );
    for line in &p.messages {
        crate::info!("{line}");
    }
    if p.no_hardware_kernel {
        crate::info!("no kernel for the hardware domain: no hardware domain was built");
        return Gathered::NoHardwareDomain;
    }
    let mut copied = 0;
    for c in &p.copies {
        let Some(data) = source(mods[c.from].range) else {
            continue;
        };
        let dst = c
            .offset
            .checked_sub(area_offset)
            .and_then(|o| usize::try_from(o).ok())
            .and_then(|o| area.get_mut(o..o.checked_add(data.len())?));
        match dst {
            Some(dst) if data.len() as u64 == c.len => {
                dst.copy_from_slice(data);
                copied += 1;
            }
            _ => crate::info!(
                "module #{}: its place in the image is outside the image: not copied",
                mods[c.from].number
            ),
        }
    }
    Gathered::Copied(copied)
}

/// How much of the image the table needs (up to the end of the table
/// itself), from its first bytes; None if no table starts there.
pub fn head_len(table_offset: u64, header: &[u8]) -> Option<u64> {
    if header.get(..8)? != image_format::MAGIC.as_slice() {
        return None;
    }
    let size = u32::from_le_bytes(header.get(20..24)?.try_into().ok()?);
    table_offset.checked_add(u64::from(size))
}

/// Whether a loaded module may be read: in RAM, and clear of the image
/// (which the copies write) and of the hypervisor.
pub fn readable(m: PhysRange, ram: &[PhysRange], image: PhysRange) -> bool {
    let in_ram = ram.iter().any(|b| b.base <= m.base && m.end() <= b.end());
    let clear = m.end() <= image.base || image.end() <= m.base;
    in_ram && clear
}

#[cfg(test)]
#[path = "gather_tests.rs"]
mod tests;
