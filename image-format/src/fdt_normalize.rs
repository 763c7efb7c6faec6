//! Make a firmware's device tree safe for the `fdt` crate before anything
//! reads it: check the structure block token by token (every offset and
//! length inside the blob, nodes balanced, property names inside the
//! strings block) and squeeze out FDT_NOP tokens. Editors of a tree
//! (libfdt's `setprop`/`delprop`, as QEMU and U-Boot use) leave NOPs
//! behind, and the `fdt` crate asserts on a NOP between a node's
//! properties. A malformed tree is an error, never a panic. Bounded: one
//! pass over the block; needs no heap (the hypervisor runs it before there is one). Shared with image-builder,
//! which edits board trees with the same crate.

const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;
const MAGIC: u32 = 0xd00d_feed;
/// Deeper nesting than any real tree, and a bound on the walk's state.
const MAX_DEPTH: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormalizeError {
    BadHeader,
    /// A token, name or value runs outside the structure block.
    Truncated {
        at: usize,
    },
    UnknownToken {
        at: usize,
        token: u32,
    },
    Unbalanced {
        at: usize,
    },
    BadName {
        at: usize,
    },
    /// `#address-cells` or `#size-cells` that is not one u32.
    BadCells {
        at: usize,
    },
    /// A property after a child node, inside the same node.
    PropertyAfterChild {
        at: usize,
    },
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let w = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The memory reservation block: 16-byte (address, size) entries up to a
/// zero one, all inside the blob (the `fdt` crate slices them unchecked).
fn check_reservations(blob: &[u8], off: usize, total: usize) -> Result<(), NormalizeError> {
    if !off.is_multiple_of(8) {
        return Err(NormalizeError::BadHeader);
    }
    let mut at = off;
    while at.checked_add(16).is_some_and(|end| end <= total) {
        if blob[at..at + 16].iter().all(|&b| b == 0) {
            return Ok(());
        }
        at += 16;
    }
    Err(NormalizeError::BadHeader)
}

/// Check `blob` and remove its NOP tokens in place; how many were removed.
pub fn normalize(blob: &mut [u8]) -> Result<usize, NormalizeError> {
    let total = be32(blob, 4).ok_or(NormalizeError::BadHeader)? as usize;
    if be32(blob, 0) != Some(MAGIC) || total > blob.len() || total < 40 {
        return Err(NormalizeError::BadHeader);
    }
    let field = |at: usize| {
        be32(blob, at)
            .map(|v| v as usize)
            .ok_or(NormalizeError::BadHeader)
    };
    let (off_struct, off_strings) = (field(8)?, field(12)?);
    let (size_strings, size_struct) = (field(32)?, field(36)?);
    let struct_end = off_struct
        .checked_add(size_struct)
        .filter(|&e| e <= total)
        .ok_or(NormalizeError::BadHeader)?;
    if off_strings
        .checked_add(size_strings)
        .is_none_or(|e| e > total)
    {
        return Err(NormalizeError::BadHeader);
    }
    check_reservations(blob, field(16)?, total)?;
    let (mut read, mut write) = (off_struct, off_struct);
    let mut depth = 0usize;
    let mut roots = 0usize;
    // Bit d: the open node at depth d + 1 already has a child.
    let mut had_child = 0u64;
    let mut removed = 0;
    loop {
        let at = read;
        let token = be32(blob, at)
            .filter(|_| at + 4 <= struct_end)
            .ok_or(NormalizeError::Truncated { at })?;
        let len = match token {
            NOP => {
                read += 4;
                removed += 1;
                continue;
            }
            BEGIN_NODE => {
                let name = blob
                    .get(at + 4..struct_end)
                    .ok_or(NormalizeError::Truncated { at })?;
                let n = name
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or(NormalizeError::Truncated { at })?;
                if core::str::from_utf8(&name[..n]).is_err() {
                    return Err(NormalizeError::BadName { at });
                }
                // One root; its END_NODE ends the tree (only END follows).
                if depth == 0 && roots > 0 {
                    return Err(NormalizeError::Unbalanced { at });
                }
                roots += usize::from(depth == 0);
                if depth > 0 {
                    had_child |= 1 << (depth - 1);
                }
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(NormalizeError::Unbalanced { at });
                }
                had_child &= !(1 << (depth - 1));
                4 + align4(n + 1)
            }
            END_NODE => {
                depth = depth
                    .checked_sub(1)
                    .ok_or(NormalizeError::Unbalanced { at })?;
                4
            }
            PROP => {
                let len = be32(blob, at + 4).ok_or(NormalizeError::Truncated { at })? as usize;
                let name_off = be32(blob, at + 8).ok_or(NormalizeError::Truncated { at })? as usize;
                let name = blob
                    .get(off_strings + name_off.min(size_strings)..off_strings + size_strings)
                    .filter(|_| name_off < size_strings)
                    .ok_or(NormalizeError::BadName { at })?;
                let n = name.iter().position(|&c| c == 0);
                let utf8 = n.is_some_and(|n| core::str::from_utf8(&name[..n]).is_ok());
                if !utf8 || depth == 0 {
                    return Err(NormalizeError::BadName { at });
                }
                // Properties come before a node's children (the `fdt`
                // crate asserts so while skipping a node).
                if had_child & (1 << (depth - 1)) != 0 {
                    return Err(NormalizeError::PropertyAfterChild { at });
                }
                // Cell counts are one u32 (the `fdt` crate reads them with
                // `expect` wherever a child's `reg` is decoded).
                let cells =
                    n.is_some_and(|n| matches!(&name[..n], b"#address-cells" | b"#size-cells"));
                if cells && len != 4 {
                    return Err(NormalizeError::BadCells { at });
                }
                12usize
                    .checked_add(align4(len))
                    .filter(|&l| at + l <= struct_end)
                    .ok_or(NormalizeError::Truncated { at })?
            }
            END => {
                if depth != 0 || roots != 1 {
                    return Err(NormalizeError::Unbalanced { at });
                }
                4
            }
            other => return Err(NormalizeError::UnknownToken { at, token: other }),
        };
        if at + len > struct_end {
            return Err(NormalizeError::Truncated { at });
        }
        if write != read {
            blob.copy_within(read..read + len, write);
        }
        read += len;
        write += len;
        if token == END {
            break;
        }
    }
    if removed > 0 {
        // The block shrank; what follows it (the strings) stays where it is.
        put32(blob, 36, (write - off_struct) as u32);
    }
    Ok(removed)
}
