//! `image-builder verify`: check a finished boot image offline, as the
//! hypervisor will on the board: the module table's structure, its Ed25519
//! signature against a trusted public key, and every module's SHA-256 and,
//! when the table lists them, the BLAKE3 of each of its 1 MiB pieces.
//!
//! Finding the table: for a Linux arm64 `Image` the builder records the
//! table's offset in the header's `res2` field (u64 at offset 32). Images
//! from before that field was written have 0 there; for them the table is
//! looked for at 4 KiB-aligned offsets (its header names its own offset,
//! which must match).

use image_format::{
    signature_block, verify_signature, ModuleTable, SigError, MODULE_ALIGN, PIECE_SIZE,
    PUBLIC_KEY_SIZE,
};

use crate::digest::{blake3, hex, sha256};
use crate::sniff::{describe, is_arm64_image, ARM64_TABLE_OFFSET_OFFSET};

/// Why `bytes` cannot be a Halyard boot image of any board (checked before
/// anything else, so a wrong file is named as such), or `None`.
pub fn not_an_image(bytes: &[u8]) -> Option<String> {
    if is_arm64_image(bytes) {
        None
    } else {
        Some(format!(
            "no arm64 Image header (it looks like {})",
            describe(bytes)
        ))
    }
}

/// One module's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleCheck {
    pub index: usize,
    pub domain: String,
    pub kind: &'static str,
    pub size: u64,
    /// How many piece BLAKE3s the table lists for it (0: none).
    pub pieces: usize,
    pub ok: bool,
}

/// What `verify` found. `problems` is empty exactly when the image verifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub table_offset: Option<u64>,
    /// The signer's key named in the image's signature block (hex).
    pub signer: Option<String>,
    pub signature_ok: bool,
    pub modules: Vec<ModuleCheck>,
    /// The devices the table passes through, one line each.
    pub devices: Vec<String>,
    /// Each failure, naming the part: "table corrupt: ...", "signature does
    /// not verify: ...", "module 1 (dom0 ramdisk): SHA-256 mismatch".
    pub problems: Vec<String>,
    /// Size of a Secure Boot signature appended to a boot.efi (left to the
    /// firmware to check).
    pub authenticode: Option<usize>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// One line per part, then the verdict.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if let Some(off) = self.table_offset {
            s += &format!("table      at {off:#x}\n");
        }
        if let Some(k) = &self.signer {
            let v = if self.signature_ok { "ok" } else { "BAD" };
            s += &format!("signature  {v}  (key {k})\n");
        }
        if let Some(n) = self.authenticode {
            s += &format!(
                "secure boot signature: {n} bytes after the image (the firmware checks it; not checked here)\n"
            );
        }
        for m in &self.modules {
            let v = if m.ok { "ok " } else { "BAD" };
            let pieces = match m.pieces {
                0 => String::new(),
                n => format!(" + {n} piece BLAKE3(s)"),
            };
            s += &format!(
                "module {}   {v}  {} {}, {} bytes (SHA-256{pieces})\n",
                m.index, m.domain, m.kind, m.size
            );
        }
        for d in &self.devices {
            s += &format!("device     {d}\n");
        }
        if self.ok() {
            s += "verdict: OK\n";
        } else {
            for p in &self.problems {
                s += &format!("error: {p}\n");
            }
            s += "verdict: FAILED\n";
        }
        s
    }
}

/// Where the module table starts in `image`.
pub fn find_table(image: &[u8]) -> Result<u64, String> {
    if !is_arm64_image(image) {
        return Err("not a Linux arm64 Image (no ARM\\x64 magic at offset 56)".into());
    }
    let mut res2 = [0u8; 8];
    res2.copy_from_slice(&image[ARM64_TABLE_OFFSET_OFFSET..ARM64_TABLE_OFFSET_OFFSET + 8]);
    let recorded = u64::from_le_bytes(res2);
    if recorded != 0 {
        return Ok(recorded);
    }
    // An image from before res2 was written: look at 4 KiB boundaries.
    (MODULE_ALIGN..image.len() as u64)
        .step_by(MODULE_ALIGN as usize)
        .find(|&off| {
            ModuleTable::parse(&image[off as usize..]).is_ok_and(|t| t.header.table_offset == off)
        })
        .ok_or_else(|| "no module table found (Image header res2 is 0)".into())
}

/// The image without a Secure Boot (Authenticode) signature, if a signer
/// appended one to a boot.efi: the certificate table and the zero padding
/// (at most 7 bytes) before it. The firmware checks that signature; the
/// module table still describes the bytes before it.
fn without_authenticode(image: &[u8]) -> (&[u8], Option<usize>) {
    let Some((off, size)) = crate::pe::certificate_table(image) else {
        return (image, None);
    };
    let body = &image[..off];
    let padding = body.iter().rev().take(8).take_while(|&&b| b == 0).count();
    let table_end = find_table(body).ok().and_then(|t| {
        let from = body.get(usize::try_from(t).ok()?..)?;
        Some(ModuleTable::parse(from).ok()?.header.image_size as usize)
    });
    match table_end {
        Some(end) if end <= off && off - end <= padding.min(7) => (&image[..end], Some(size)),
        _ => (image, None),
    }
}

/// Check `image` against `trusted_key`.
pub fn verify_image(image: &[u8], trusted_key: &[u8; PUBLIC_KEY_SIZE]) -> VerifyReport {
    let (image, authenticode) = without_authenticode(image);
    let mut r = VerifyReport {
        table_offset: None,
        signer: None,
        signature_ok: false,
        modules: Vec::new(),
        devices: Vec::new(),
        problems: Vec::new(),
        authenticode,
    };
    let table = find_table(image).and_then(|off| {
        r.table_offset = Some(off);
        let from = usize::try_from(off)
            .ok()
            .and_then(|o| image.get(o..))
            .ok_or_else(|| format!("table offset {off:#x} is past the end of the image"))?;
        let t = ModuleTable::parse(from).map_err(|e| e.to_string())?;
        if t.header.table_offset != off {
            return Err(format!(
                "the table at {off:#x} says it is at {:#x}",
                t.header.table_offset
            ));
        }
        if t.header.image_size != image.len() as u64 {
            return Err(format!(
                "the table describes a {}-byte image, the file has {} bytes",
                t.header.image_size,
                image.len()
            ));
        }
        Ok(t)
    });
    let table = match table {
        Ok(t) => t,
        Err(e) => {
            r.problems.push(format!("table corrupt: {e}"));
            return r;
        }
    };
    match signature_block(image, &table.header) {
        Ok(None) => r.problems.push("image is not signed".into()),
        Err(e) => r.problems.push(format!("signature does not verify: {e}")),
        Ok(Some(block)) => {
            r.signer = Some(hex(block.public_key));
            match verify_signature(table.as_bytes(), &block, trusted_key) {
                Ok(()) => r.signature_ok = true,
                Err(SigError::UntrustedKey) => r.problems.push(format!(
                    "signature does not verify: signed by key {}, not the trusted key {}",
                    hex(block.public_key),
                    hex(trusted_key)
                )),
                Err(e) => r.problems.push(format!("signature does not verify: {e}")),
            }
        }
    }
    let names: Vec<(u16, &str)> = table.domains().map(|d| (d.id, d.name)).collect();
    let name_of = |id: u16| names.iter().find(|(d, _)| *d == id).map_or("?", |(_, n)| n);
    for dev in table.devices() {
        let mmio: Vec<String> = dev.mmio().map(|(b, s)| format!("{b:#x}+{s:#x}")).collect();
        let irqs: Vec<String> = dev.irqs().map(|i| i.to_string()).collect();
        r.devices.push(format!(
            "{} -> {} (MMIO {}; INTID {})",
            dev.path,
            name_of(dev.domain),
            if mmio.is_empty() {
                "none".into()
            } else {
                mmio.join(", ")
            },
            if irqs.is_empty() {
                "none".into()
            } else {
                irqs.join(", ")
            },
        ));
    }
    for (index, m) in table.modules().enumerate() {
        let domain = names
            .iter()
            .find(|(id, _)| *id == m.domain)
            .map_or("?", |(_, n)| n)
            .to_string();
        let bytes = usize::try_from(m.offset)
            .ok()
            .zip(usize::try_from(m.size).ok())
            .and_then(|(o, s)| image.get(o..o.checked_add(s)?));
        let whole_ok = bytes.is_some_and(|b| sha256(b) == m.sha256);
        // The pieces are what the hypervisor checks when the table lists
        // them: each must match too.
        let bad_piece = bytes.and_then(|b| {
            m.piece_blake3_list?;
            b.chunks(PIECE_SIZE as usize)
                .enumerate()
                .find(|(i, piece)| m.piece_blake3(*i) != Some(blake3(piece)))
                .map(|(i, _)| i)
        });
        let ok = whole_ok && bad_piece.is_none();
        let kind = m.kind.name();
        if !ok {
            let piece_msg;
            let why = if bytes.is_none() {
                "outside the file"
            } else if !whole_ok {
                "SHA-256 mismatch"
            } else {
                piece_msg = format!(
                    "BLAKE3 of 1 MiB piece {} does not match the table",
                    bad_piece.unwrap_or_default()
                );
                &piece_msg
            };
            r.problems
                .push(format!("module {index} ({domain} {kind}): {why}"));
        }
        r.modules.push(ModuleCheck {
            index,
            domain,
            kind,
            size: m.size,
            pieces: m.piece_blake3_list.map_or(0, |l| l.len() / 32),
            ok,
        });
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assemble::{assemble, Module};
    use crate::manifest::ImageFormat;
    use crate::signing::{dev_public_key, load_signing_key};
    use image_format::arm64_image::MAGIC_BYTES as ARM64_MAGIC;
    use image_format::{domain_flags, DomainSpec, ModuleKind};

    /// A signed two-module image: table at 0x2000, kernel and ramdisk of dom0.
    fn image() -> Vec<u8> {
        let mut hyp = vec![0x11u8; 0x2000];
        hyp[16..48].fill(0);
        hyp[56..60].copy_from_slice(&ARM64_MAGIC);
        let domain = DomainSpec {
            id: 0,
            flags: domain_flags::HARDWARE,
            vcpus: 1,
            memory_bytes: 64 << 20,
            pcpus: 0,
            name: "dom0".into(),
        };
        let module = |kind, bytes: Vec<u8>| Module {
            kind,
            domain: 0,
            cmdline: String::new(),
            bytes,
        };
        let key = load_signing_key(None).unwrap();
        let a = assemble(
            &hyp,
            &[domain],
            &[
                module(ModuleKind::Kernel, vec![1; 5000]),
                module(ModuleKind::Ramdisk, vec![2; 300]),
            ],
            ImageFormat::LinuxArm64Image,
            Some(&key),
        )
        .unwrap();
        a.bytes
    }

    #[test]
    fn names_the_bad_module() {
        let good = image();
        let r = verify_image(&good, &dev_public_key());
        assert!(r.ok(), "{}", r.render());
        assert_eq!(r.modules.len(), 2);
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x80;
        let r = verify_image(&bad, &dev_public_key());
        assert_eq!(r.problems, ["module 1 (dom0 ramdisk): SHA-256 mismatch"]);
        assert!(r.signature_ok);
        let text = r.render();
        assert!(
            text.contains("module 0   ok   dom0 kernel, 5000 bytes"),
            "{text}"
        );
        assert!(
            text.contains("module 1   BAD  dom0 ramdisk, 300 bytes"),
            "{text}"
        );
        assert!(text.ends_with("verdict: FAILED\n"), "{text}");
    }

    #[test]
    fn finds_the_table_without_res2() {
        let mut img = image();
        assert_eq!(find_table(&img), Ok(0x2000));
        img[ARM64_TABLE_OFFSET_OFFSET..ARM64_TABLE_OFFSET_OFFSET + 8].fill(0);
        assert_eq!(find_table(&img), Ok(0x2000));
        assert!(verify_image(&img, &dev_public_key()).ok());
        // res2 pointing elsewhere: the table is not there.
        img[ARM64_TABLE_OFFSET_OFFSET] = 0x10;
        let r = verify_image(&img, &dev_public_key());
        assert!(r.problems[0].starts_with("table corrupt: "), "{r:?}");
    }

    #[test]
    fn a_grown_or_shrunk_file_is_a_corrupt_table() {
        let mut img = image();
        img.push(0);
        let r = verify_image(&img, &dev_public_key());
        assert!(
            r.problems[0].starts_with("table corrupt: the table describes a"),
            "{r:?}"
        );
    }

    #[test]
    fn a_signed_piece_digest_that_disagrees_is_named() {
        use image_format::{DOMAIN_ENTRY_SIZE, HEADER_SIZE};
        let mut img = image();
        let (t, size) = {
            let t = ModuleTable::parse(&img[0x2000..]).unwrap();
            assert!(t.header.has_piece_blake3());
            (0x2000, t.header.table_size as usize)
        };
        // Module 0's list of piece digests: change its first byte and sign
        // the table again, as a faulty or hostile builder could.
        let entry = t + HEADER_SIZE + DOMAIN_ENTRY_SIZE;
        let list = u32::from_le_bytes(img[entry + 4..entry + 8].try_into().unwrap()) as usize;
        img[t + list] ^= 1;
        let block = load_signing_key(None).unwrap().sign(&img[t..t + size]);
        img[t + size..t + size + block.len()].copy_from_slice(&block);
        let r = verify_image(&img, &dev_public_key());
        assert!(r.signature_ok);
        assert_eq!(
            r.problems,
            ["module 0 (dom0 kernel): BLAKE3 of 1 MiB piece 0 does not match the table"]
        );
    }

    #[test]
    fn a_secure_boot_signature_after_the_image_is_set_aside() {
        let hyp = crate::pe::tests::pe_head(0x2000);
        let module = Module {
            kind: ModuleKind::Kernel,
            domain: 0,
            cmdline: String::new(),
            bytes: vec![3; 777],
        };
        let domain = DomainSpec {
            id: 0,
            flags: 0,
            vcpus: 1,
            memory_bytes: 64 << 20,
            pcpus: 0,
            name: "d".into(),
        };
        let key = load_signing_key(None).unwrap();
        let plain = assemble(
            &hyp,
            &[domain],
            &[module],
            ImageFormat::LinuxArm64Image,
            Some(&key),
        )
        .unwrap()
        .bytes;
        // What sbsign does: pad to 8 bytes, append the certificate table,
        // point data directory 4 at it.
        let mut efi = plain.clone();
        efi.resize(plain.len().next_multiple_of(8), 0);
        let at = efi.len() as u32;
        efi.extend_from_slice(&[0x30; 40]);
        let opt = 0x58;
        efi[opt + 108..opt + 112].copy_from_slice(&16u32.to_le_bytes());
        efi[opt + 144..opt + 148].copy_from_slice(&at.to_le_bytes());
        efi[opt + 148..opt + 152].copy_from_slice(&40u32.to_le_bytes());
        let r = verify_image(&efi, &dev_public_key());
        assert!(r.ok(), "{}", r.render());
        assert_eq!(r.authenticode, Some(40));
        assert!(r.render().contains("secure boot signature: 40 bytes"));
        // The modules are still checked.
        let mut bad = efi.clone();
        bad[plain.len() - 1] ^= 1;
        let r = verify_image(&bad, &dev_public_key());
        assert_eq!(r.problems, ["module 0 (d kernel): SHA-256 mismatch"]);
        // Extra bytes between the image and the certificates are not padding.
        let mut grown = plain.clone();
        grown.extend_from_slice(&[0; 8]);
        let at = grown.len() as u32;
        grown.extend_from_slice(&[0x30; 40]);
        grown[opt + 108..opt + 112].copy_from_slice(&16u32.to_le_bytes());
        grown[opt + 144..opt + 148].copy_from_slice(&at.to_le_bytes());
        grown[opt + 148..opt + 152].copy_from_slice(&40u32.to_le_bytes());
        assert!(!verify_image(&grown, &dev_public_key()).ok());
    }
}
