//! QEMU fw_cfg over MMIO (docs/specs/fw_cfg.rst): a 16-bit big-endian
//! selector register at +8 and a data register at +0 that yields the selected
//! item's bytes in order, one per byte read.

use crate::mmio;
use crate::platform::FW_CFG;

const DATA: usize = FW_CFG;
const SELECTOR: usize = FW_CFG + 8;
/// The file directory: u32 count, then {u32 size, u16 select, u16, name[56]}.
const FILE_DIR: u16 = 0x19;
const NAME_LEN: usize = 56;

fn select(key: u16) {
    mmio::write16(SELECTOR, key.to_be());
}

fn read_bytes(out: &mut [u8]) {
    for byte in out.iter_mut() {
        *byte = mmio::read8(DATA);
    }
}

fn read_be32() -> u32 {
    let mut bytes = [0u8; 4];
    read_bytes(&mut bytes);
    u32::from_be_bytes(bytes)
}

/// Reads the named fw_cfg file into `out`; returns its full size (which may
/// exceed `out`, then only the start is read), or None if there is no such file.
pub fn read_file(name: &str, out: &mut [u8]) -> Option<usize> {
    select(FILE_DIR);
    let count = read_be32();
    for _ in 0..count {
        let size = read_be32() as usize;
        let mut head = [0u8; 4];
        read_bytes(&mut head);
        let key = u16::from_be_bytes([head[0], head[1]]);
        let mut entry_name = [0u8; NAME_LEN];
        read_bytes(&mut entry_name);
        let len = entry_name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        if &entry_name[..len] == name.as_bytes() {
            select(key);
            let take = size.min(out.len());
            read_bytes(&mut out[..take]);
            return Some(size);
        }
    }
    None
}
