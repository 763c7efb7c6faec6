//! SHA-256 with the Armv8 SHA-256 instructions, for verifying boot modules:
//! tens of MiB that the portable code hashes several times slower (and
//! under QEMU's TCG, seconds slower). It uses SIMD registers, which the rest
//! of the hypervisor never touches because they hold guest state; it is
//! therefore only usable before the first guest runs (`close`), and only
//! after a known-answer check passed.

use core::sync::atomic::{AtomicBool, Ordering};

use aarch64_cpu::registers::*;
use sha2::Digest;

static OPEN: AtomicBool = AtomicBool::new(true);

/// The round constants (FIPS 180-4, 4.2.2).
pub(super) const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// The initial hash value (FIPS 180-4, 5.3.3).
pub(super) const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

// halyard_sha256_blocks(state: *mut [u32; 8], data: *const u8, blocks: usize, k: *const u32)
// v0 = ABCD, v1 = EFGH, v2/v3 = their values before the block,
// v4-v7 = message schedule W, v16 = W + K, v17 = ABCD before the step.
core::arch::global_asm!(
    r#"
    .arch_extension fp
    .arch_extension simd
    .arch_extension sha2
    .section .text, "ax"
    .global halyard_sha256_blocks
halyard_sha256_blocks:
    ld1     {{v0.4s, v1.4s}}, [x0]
    cbz     x2, 3f
1:  ld1     {{v4.16b, v5.16b, v6.16b, v7.16b}}, [x1], #64
    rev32   v4.16b, v4.16b
    rev32   v5.16b, v5.16b
    rev32   v6.16b, v6.16b
    rev32   v7.16b, v7.16b
    mov     v2.16b, v0.16b
    mov     v3.16b, v1.16b
    mov     x4, x3
    mov     x5, #12
2:  // Twelve steps of four rounds that also extend the schedule.
    ld1     {{v16.4s}}, [x4], #16
    add     v16.4s, v16.4s, v4.4s
    sha256su0 v4.4s, v5.4s
    mov     v17.16b, v0.16b
    sha256h q0, q1, v16.4s
    sha256h2 q1, q17, v16.4s
    sha256su1 v4.4s, v6.4s, v7.4s
    // Rotate the schedule: (v4, v5, v6, v7) <- (v5, v6, v7, v4).
    mov     v18.16b, v4.16b
    mov     v4.16b, v5.16b
    mov     v5.16b, v6.16b
    mov     v6.16b, v7.16b
    mov     v7.16b, v18.16b
    subs    x5, x5, #1
    b.ne    2b
    mov     x5, #4
4:  // The last four steps use the schedule as it stands.
    ld1     {{v16.4s}}, [x4], #16
    add     v16.4s, v16.4s, v4.4s
    mov     v17.16b, v0.16b
    sha256h q0, q1, v16.4s
    sha256h2 q1, q17, v16.4s
    mov     v4.16b, v5.16b
    mov     v5.16b, v6.16b
    mov     v6.16b, v7.16b
    subs    x5, x5, #1
    b.ne    4b
    add     v0.4s, v0.4s, v2.4s
    add     v1.4s, v1.4s, v3.4s
    subs    x2, x2, #1
    b.ne    1b
3:  st1     {{v0.4s, v1.4s}}, [x0]
    ret
"#
);

unsafe extern "C" {
    fn halyard_sha256_blocks(state: *mut [u32; 8], data: *const u8, blocks: usize, k: *const u32);
}

/// Runs whole 64-byte blocks through a state.
type Blocks = fn(&mut [u32; 8], &[u8]);

/// Whole blocks with the instructions: callers make sure they are usable.
fn hw_blocks(state: &mut [u32; 8], blocks: &[u8]) {
    debug_assert_eq!(blocks.len() % 64, 0);
    // SAFETY: reads `blocks.len() / 64` whole blocks of `blocks`; writes only
    // `state`; the SIMD registers it clobbers hold no guest state (checked
    // by callers through `OPEN`), and FP/SIMD is not trapped at EL2 during
    // boot.
    unsafe { halyard_sha256_blocks(state, blocks.as_ptr(), blocks.len() / 64, K.as_ptr()) };
}

/// Whole blocks with the portable code.
fn soft_blocks(state: &mut [u32; 8], blocks: &[u8]) {
    for b in blocks.chunks_exact(64) {
        sha2::compress256(
            state,
            &[*sha2::digest::generic_array::GenericArray::from_slice(b)],
        );
    }
}

/// The digest of a `total`-byte message whose leading bytes are already
/// in `state` and whose other bytes are `rest`.
fn finish_with(mut state: [u32; 8], rest: &[u8], total: usize, run: Blocks) -> [u8; 32] {
    let full = rest.len() / 64 * 64;
    run(&mut state, &rest[..full]);
    // Padding: the rest, 0x80, zeros, then the length in bits.
    let rest = &rest[full..];
    let mut tail = [0u8; 128];
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    let len = if rest.len() < 56 { 64 } else { 128 };
    tail[len - 8..len].copy_from_slice(&((total as u64) * 8).to_be_bytes());
    run(&mut state, &tail[..len]);
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

/// [`finish_with`] the instructions while they are usable.
pub(super) fn finish(state: [u32; 8], rest: &[u8], total: usize) -> [u8; 32] {
    finish_with(
        state,
        rest,
        total,
        if usable() { hw_blocks } else { soft_blocks },
    )
}

/// Whether the instructions can be used now: present, before any guest,
/// and giving the right answers on known inputs of every padding shape.
pub(super) fn usable() -> bool {
    if !open() || (ID_AA64ISAR0_EL1.get() >> 12) & 0xf == 0 {
        return false;
    }
    static CHECKED: spin::Once<bool> = spin::Once::new();
    *CHECKED.call_once(|| {
        let mut sample = [0u8; 200];
        for (i, b) in sample.iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        let ok = [0, 3, 55, 56, 64, 119, 128, 200].iter().all(|&n| {
            finish_with(H0, &sample[..n], n, hw_blocks).as_slice()
                == sha2::Sha256::digest(&sample[..n]).as_slice()
        });
        if !ok {
            crate::info!("SHA-256 instructions disagree with the portable code: not using them");
        }
        ok
    })
}

/// SHA-256 of `data`, with the CPU's instructions while that is allowed.
pub fn digest(data: &[u8]) -> [u8; 32] {
    if usable() {
        finish_with(H0, data, data.len(), hw_blocks)
    } else {
        sha2::Sha256::digest(data).into()
    }
}

/// Whether SIMD registers may still be used (no guest has run yet).
pub(super) fn open() -> bool {
    OPEN.load(Ordering::Acquire)
}

/// From now on guests own the SIMD registers: never use them again.
pub fn close() {
    OPEN.store(false, Ordering::Release);
}
