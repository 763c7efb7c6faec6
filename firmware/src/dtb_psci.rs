//! Adds a `/psci` node to a flattened device tree in place: QEMU's DTB has
//! none when EL3 firmware runs, but the normal world finds PSCI through it.
//! The node goes last under the root; the strings block moves up to make
//! room and gets the two property names appended.

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

const HDR_TOTALSIZE: usize = 4;
const HDR_OFF_STRUCT: usize = 8;
const HDR_OFF_STRINGS: usize = 12;
const HDR_OFF_RSVMAP: usize = 16;
const HDR_VERSION: usize = 20;
const HDR_SIZE_STRINGS: usize = 32;
const HDR_SIZE_STRUCT: usize = 36;

const COMPATIBLE: &[u8] = b"arm,psci-1.0\0arm,psci-0.2\0";
const METHOD: &[u8] = b"smc\0";
const NEW_STRINGS: &[u8] = b"compatible\0method\0";

fn be32(dtb: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([dtb[at], dtb[at + 1], dtb[at + 2], dtb[at + 3]])
}

fn put_be32(dtb: &mut [u8], at: usize, value: u32) {
    dtb[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// What `add_psci_node` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Added { new_size: usize },
    AlreadyPresent,
}

/// `dtb` is the tree plus the free space after it that it may grow into.
pub fn add_psci_node(dtb: &mut [u8]) -> Result<Outcome, &'static str> {
    if dtb.len() < 40 || be32(dtb, 0) != FDT_MAGIC {
        return Err("no FDT magic");
    }
    if be32(dtb, HDR_VERSION) < 17 {
        return Err("FDT version < 17");
    }
    let total = be32(dtb, HDR_TOTALSIZE) as usize;
    let off_struct = be32(dtb, HDR_OFF_STRUCT) as usize;
    let off_strings = be32(dtb, HDR_OFF_STRINGS) as usize;
    let off_rsvmap = be32(dtb, HDR_OFF_RSVMAP) as usize;
    let size_struct = be32(dtb, HDR_SIZE_STRUCT) as usize;
    let size_strings = be32(dtb, HDR_SIZE_STRINGS) as usize;
    let struct_end = off_struct + size_struct;
    let strings_end = off_strings + size_strings;
    if off_rsvmap > off_struct
        || off_strings < struct_end
        || strings_end > total
        || total > dtb.len()
    {
        return Err("unexpected FDT block order");
    }
    if has_root_child(&dtb[off_struct..struct_end], b"psci")? {
        return Ok(Outcome::AlreadyPresent);
    }
    if be32(dtb, struct_end - 4) != FDT_END || be32(dtb, struct_end - 8) != FDT_END_NODE {
        return Err("structure block does not end with the root's END_NODE");
    }

    let node = build_node(size_strings as u32);
    let extra = node.1;
    let insert_at = struct_end - 8;
    let new_end = strings_end + extra + NEW_STRINGS.len();
    if new_end > dtb.len() {
        return Err("no room to grow the DTB");
    }
    dtb.copy_within(insert_at..strings_end, insert_at + extra);
    dtb[insert_at..insert_at + extra].copy_from_slice(&node.0[..extra]);
    dtb[strings_end + extra..new_end].copy_from_slice(NEW_STRINGS);
    put_be32(dtb, HDR_OFF_STRINGS, (off_strings + extra) as u32);
    put_be32(dtb, HDR_SIZE_STRUCT, (size_struct + extra) as u32);
    put_be32(
        dtb,
        HDR_SIZE_STRINGS,
        (size_strings + NEW_STRINGS.len()) as u32,
    );
    let new_total = total.max((new_end + 7) & !7);
    put_be32(dtb, HDR_TOTALSIZE, new_total as u32);
    Ok(Outcome::Added {
        new_size: new_total,
    })
}

/// The node's structure-block bytes (and their length); property names
/// refer to NEW_STRINGS appended at `strings_len`.
fn build_node(strings_len: u32) -> ([u8; 96], usize) {
    let mut out = [0u8; 96];
    let mut at = 0;
    let word = |out: &mut [u8; 96], at: &mut usize, value: u32| {
        out[*at..*at + 4].copy_from_slice(&value.to_be_bytes());
        *at += 4;
    };
    word(&mut out, &mut at, FDT_BEGIN_NODE);
    out[at..at + 4].copy_from_slice(b"psci");
    at += align4(5);
    for (name_off, value) in [(0u32, COMPATIBLE), (11, METHOD)] {
        word(&mut out, &mut at, FDT_PROP);
        word(&mut out, &mut at, value.len() as u32);
        word(&mut out, &mut at, strings_len + name_off);
        out[at..at + value.len()].copy_from_slice(value);
        at += align4(value.len());
    }
    word(&mut out, &mut at, FDT_END_NODE);
    (out, at)
}

/// Whether the root node has a child called `name` (or `name@...`).
fn has_root_child(block: &[u8], name: &[u8]) -> Result<bool, &'static str> {
    let mut at = 0;
    let mut depth = 0usize;
    while at + 4 <= block.len() {
        let token = be32(block, at);
        at += 4;
        match token {
            FDT_BEGIN_NODE => {
                let len = block[at..]
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or("unterminated node name")?;
                let node = &block[at..at + len];
                if depth == 1
                    && node.starts_with(name)
                    && (node.len() == name.len() || node[name.len()] == b'@')
                {
                    return Ok(true);
                }
                depth += 1;
                at += align4(len + 1);
            }
            FDT_END_NODE => depth = depth.checked_sub(1).ok_or("unbalanced END_NODE")?,
            FDT_PROP => {
                if at + 8 > block.len() {
                    return Err("truncated property");
                }
                let len = be32(block, at) as usize;
                at += 8 + align4(len);
            }
            FDT_NOP => {}
            FDT_END => return Ok(false),
            _ => return Err("bad structure token"),
        }
    }
    Err("structure block without FDT_END")
}

/// Size of the root's `memory@40000000` bank (its `reg` with two address
/// and two size cells, as QEMU virt writes it). fw_cfg's RAM-size item is
/// not populated on Arm virt, so the DTB is where the firmware learns it.
pub fn normal_world_ram_size(dtb: &[u8]) -> Option<u64> {
    if dtb.len() < 40 || be32(dtb, 0) != FDT_MAGIC {
        return None;
    }
    let off_struct = be32(dtb, HDR_OFF_STRUCT) as usize;
    let off_strings = be32(dtb, HDR_OFF_STRINGS) as usize;
    let end = off_struct + be32(dtb, HDR_SIZE_STRUCT) as usize;
    let (mut at, mut depth, mut in_memory) = (off_struct, 0usize, false);
    while at + 4 <= end {
        let token = be32(dtb, at);
        at += 4;
        match token {
            FDT_BEGIN_NODE => {
                let len = dtb[at..].iter().position(|&b| b == 0)?;
                in_memory = depth == 1 && &dtb[at..at + len] == b"memory@40000000";
                depth += 1;
                at += align4(len + 1);
            }
            FDT_END_NODE => {
                depth = depth.checked_sub(1)?;
                in_memory = false;
            }
            FDT_PROP => {
                let len = be32(dtb, at) as usize;
                let name = off_strings + be32(dtb, at + 4) as usize;
                let value = at + 8;
                if in_memory && dtb.get(name..name + 4) == Some(b"reg\0") && len >= 16 {
                    let high = be32(dtb, value + 8) as u64;
                    return Some((high << 32) | be32(dtb, value + 12) as u64);
                }
                at = value + align4(len);
            }
            FDT_NOP => {}
            _ => return None,
        }
    }
    None
}
