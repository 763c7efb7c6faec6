//! The test partitions' direct-request protocol (firmware/README.md), shared
//! by the S-EL1 partitions and the EL3 logical ones.

pub const CMD_PING: u64 = 1;
pub const CMD_CHECKSUM: u64 = 2;
pub const CMD_VM_LOG: u64 = 3;
pub const CMD_HOLD: u64 = 4;
pub const CMD_RELEASE: u64 = 5;

pub const PING_XOR: u64 = 0x5a5a_5a5a;
/// FF-A NOT_SUPPORTED as a 32-bit word, for unknown commands.
pub const UNKNOWN_COMMAND: u64 = 0xffff_ffff;
/// FF-A error codes as 32-bit words, for replies.
pub const INVALID_PARAMETERS: u32 = -2i32 as u32;
pub const NO_MEMORY: u32 = -3i32 as u32;

/// w3..w7 of a PING reply.
pub fn ping_reply(id: u16, w5: u64, context: usize, served: u32) -> [u64; 5] {
    [
        0,
        id as u64,
        (w5 ^ PING_XOR) & 0xffff_ffff,
        context as u64,
        served as u64,
    ]
}

/// 32-bit FNV-1a, continued over `bytes`.
pub fn fnv1a(mut hash: u32, bytes: &[u8]) -> u32 {
    for &byte in bytes {
        hash ^= byte as u32;
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

pub const FNV_OFFSET: u32 = 0x811c_9dc5;
