//! BLAKE3-256 (unkeyed, 32-byte output) of a module piece, written for
//! `no_std` from the BLAKE3 specification. The tree code is shared; the
//! leaves and parents under it are compressed four at a time by a
//! [`Hash4`]: [`portable4`] here, 4-lane NEON on aarch64.

/// The initial chaining value (the same words as SHA-256's).
pub const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
/// Where each message word moves between rounds.
const PERMUTATION: [usize; 16] = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];

pub const CHUNK_START: u32 = 1;
pub const CHUNK_END: u32 = 2;
pub const PARENT: u32 = 4;
pub const ROOT: u32 = 8;

pub const BLOCK_LEN: usize = 64;
pub const CHUNK_LEN: usize = 1024;

/// Most chunks whose chaining values are kept at once (2 KiB of stack):
/// complete subtrees up to this size are reduced four nodes at a time.
const BATCH_CHUNKS: usize = 64;

/// What four lanes hold for a [`Hash4`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lanes {
    /// Four whole chunks (1 KiB each), lane j numbered `counter + j`.
    Chunks { counter: u64 },
    /// Four parent blocks (two child chaining values each).
    Parents,
}

/// Compresses four equal-length inputs at once and returns their chaining
/// values (lane order).
pub type Hash4 = fn(&[&[u8]; 4], Lanes) -> [[u8; 32]; 4];

fn g(v: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize, x: u32, y: u32) {
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(x);
    v[d] = (v[d] ^ v[a]).rotate_right(16);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(12);
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(y);
    v[d] = (v[d] ^ v[a]).rotate_right(8);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(7);
}

/// The compression function's first eight output words (all that a
/// 32-byte hash needs).
pub fn compress(cv: &[u32; 8], block: &[u8], counter: u64, flags: u32) -> [u32; 8] {
    let mut m = [0u32; 16];
    let mut padded = [0u8; BLOCK_LEN];
    padded[..block.len()].copy_from_slice(block);
    for (w, b) in m.iter_mut().zip(padded.chunks_exact(4)) {
        *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    let mut v = [0u32; 16];
    v[..8].copy_from_slice(cv);
    v[8..12].copy_from_slice(&IV[..4]);
    v[12] = counter as u32;
    v[13] = (counter >> 32) as u32;
    v[14] = block.len() as u32;
    v[15] = flags;
    for round in 0..7 {
        g(&mut v, 0, 4, 8, 12, m[0], m[1]);
        g(&mut v, 1, 5, 9, 13, m[2], m[3]);
        g(&mut v, 2, 6, 10, 14, m[4], m[5]);
        g(&mut v, 3, 7, 11, 15, m[6], m[7]);
        g(&mut v, 0, 5, 10, 15, m[8], m[9]);
        g(&mut v, 1, 6, 11, 12, m[10], m[11]);
        g(&mut v, 2, 7, 8, 13, m[12], m[13]);
        g(&mut v, 3, 4, 9, 14, m[14], m[15]);
        if round < 6 {
            m = core::array::from_fn(|i| m[PERMUTATION[i]]);
        }
    }
    core::array::from_fn(|i| v[i] ^ v[i + 8])
}

fn to_bytes(cv: [u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(cv) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// A chunk (at most 1 KiB, at least one block even if empty), with `last`
/// added to its last block's flags.
fn chunk(data: &[u8], counter: u64, last: u32) -> [u8; 32] {
    let blocks = data.len().div_ceil(BLOCK_LEN).max(1);
    let mut cv = IV;
    for i in 0..blocks {
        let block = &data[i * BLOCK_LEN..data.len().min((i + 1) * BLOCK_LEN)];
        let mut flags = 0;
        if i == 0 {
            flags |= CHUNK_START;
        }
        if i == blocks - 1 {
            flags |= CHUNK_END | last;
        }
        cv = compress(&cv, block, counter, flags);
    }
    to_bytes(cv)
}

fn parent(left: &[u8; 32], right: &[u8; 32], flags: u32) -> [u8; 32] {
    let mut block = [0u8; BLOCK_LEN];
    block[..32].copy_from_slice(left);
    block[32..].copy_from_slice(right);
    to_bytes(compress(&IV, &block, 0, PARENT | flags))
}

/// [`Hash4`] with [`compress`], one lane after the other.
pub fn portable4(lanes: &[&[u8]; 4], kind: Lanes) -> [[u8; 32]; 4] {
    core::array::from_fn(|j| match kind {
        Lanes::Chunks { counter } => chunk(lanes[j], counter + j as u64, 0),
        Lanes::Parents => {
            let (l, r) = lanes[j].split_at(32);
            parent(l.try_into().unwrap(), r.try_into().unwrap(), 0)
        }
    })
}

/// Bytes in the left subtree of a `len`-byte input of more than one
/// chunk: the largest power of two of chunks that leaves some for the right.
fn left_len(len: usize) -> usize {
    let chunks = len.div_ceil(CHUNK_LEN);
    (1usize << (usize::BITS - 1 - (chunks - 1).leading_zeros())) * CHUNK_LEN
}

/// A complete subtree of `n` (a power of two, 4..=BATCH_CHUNKS) whole
/// chunks, reduced four nodes at a time by `hash4`.
fn batch(data: &[u8], counter: u64, hash4: Hash4) -> [u8; 32] {
    let mut cvs = [[0u8; 32]; BATCH_CHUNKS];
    let mut n = data.len() / CHUNK_LEN;
    for (i, four) in data.chunks_exact(4 * CHUNK_LEN).enumerate() {
        let lanes = core::array::from_fn(|j| &four[j * CHUNK_LEN..(j + 1) * CHUNK_LEN]);
        let counter = counter + 4 * i as u64;
        cvs[4 * i..4 * i + 4].copy_from_slice(&hash4(&lanes, Lanes::Chunks { counter }));
    }
    while n > 1 {
        // Parent p's block is cvs[2p] and cvs[2p + 1], side by side; its
        // result goes to cvs[p], which no later parent reads.
        let parents = n / 2;
        for first in (0..parents).step_by(4) {
            let blocks = cvs.as_flattened();
            let lanes = core::array::from_fn(|j| {
                let p = (first + j).min(parents - 1);
                &blocks[p * BLOCK_LEN..(p + 1) * BLOCK_LEN]
            });
            let out = hash4(&lanes, Lanes::Parents);
            let used = (parents - first).min(4);
            cvs[first..first + used].copy_from_slice(&out[..used]);
        }
        n = parents;
    }
    cvs[0]
}

/// The chaining value of a non-root subtree starting at chunk `counter`.
fn subtree(data: &[u8], counter: u64, hash4: Hash4) -> [u8; 32] {
    let chunks = data.len().div_ceil(CHUNK_LEN);
    if chunks <= 1 {
        return chunk(data, counter, 0);
    }
    let whole = data.len().is_multiple_of(CHUNK_LEN);
    if whole && chunks.is_power_of_two() && (4..=BATCH_CHUNKS).contains(&chunks) {
        return batch(data, counter, hash4);
    }
    let (l, r) = data.split_at(left_len(data.len()));
    let right_counter = counter + (l.len() / CHUNK_LEN) as u64;
    parent(
        &subtree(l, counter, hash4),
        &subtree(r, right_counter, hash4),
        0,
    )
}

/// BLAKE3-256 of `data`, its leaves and parents compressed by `hash4`.
pub fn hash(data: &[u8], hash4: Hash4) -> [u8; 32] {
    if data.len() <= CHUNK_LEN {
        return chunk(data, 0, ROOT);
    }
    let (l, r) = data.split_at(left_len(data.len()));
    let right_counter = (l.len() / CHUNK_LEN) as u64;
    parent(
        &subtree(l, 0, hash4),
        &subtree(r, right_counter, hash4),
        ROOT,
    )
}

/// A known answer for checking other [`Hash4`]s cheaply: the BLAKE3 of
/// [`known_sample`], whose tree has every shape the batches take (full
/// and partial parent batches, a short last chunk).
pub const KNOWN_DIGEST: [u8; 32] = [
    0x2a, 0x0a, 0xb3, 0x9f, 0x89, 0xa3, 0xc4, 0x1a, 0xc2, 0x8b, 0x15, 0x3b, 0xc4, 0x35, 0x4d, 0x28,
    0x68, 0xac, 0x08, 0x1a, 0x42, 0x92, 0x24, 0xa7, 0x48, 0xf4, 0x3c, 0x15, 0x4b, 0x3d, 0x35, 0xfb,
];

/// 21000 bytes: `(i * 7 + 3) as u8` at position i.
pub fn known_sample() -> alloc::vec::Vec<u8> {
    (0..21_000u32).map(|i| (i * 7 + 3) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    /// The lengths whose trees and tails differ in shape.
    pub(crate) const LENGTHS: [usize; 22] = [
        0,
        1,
        63,
        64,
        65,
        1023,
        1024,
        1025,
        2048,
        2049,
        3072 + 1,
        4096,
        4097,
        5 * 1024,
        7 * 1024 + 33,
        8192,
        64 * 1024,
        65 * 1024 + 1,
        129 * 1024 - 5,
        1 << 20,
        (1 << 20) - 1,
        (1 << 20) + 1000,
    ];

    #[test]
    fn matches_the_reference_on_every_tree_shape() {
        let data = sample(3 << 20);
        for n in LENGTHS.iter().copied().chain([(3 << 20) - 7, 777_777]) {
            let want = *::blake3::hash(&data[..n]).as_bytes();
            assert_eq!(hash(&data[..n], portable4), want, "{n} bytes");
        }
    }

    #[test]
    fn the_known_answer_is_blake3() {
        let want = *::blake3::hash(&known_sample()).as_bytes();
        assert_eq!(hash(&known_sample(), portable4), want);
        assert_eq!(KNOWN_DIGEST, want, "{want:#04x?}");
    }

    #[test]
    fn left_subtrees_are_powers_of_two_of_chunks() {
        assert_eq!(left_len(1025), 1024);
        assert_eq!(left_len(4096), 2048);
        assert_eq!(left_len(4097), 4096);
        assert_eq!(left_len(1 << 20), 1 << 19);
    }
}
