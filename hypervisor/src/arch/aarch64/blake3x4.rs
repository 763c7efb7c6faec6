//! BLAKE3 compression of four inputs at once, one per 32-bit lane of the
//! AdvSIMD registers: four consecutive chunks of a piece (so the lanes read
//! nearby memory), or four parent nodes. Plain vector adds, eors and shifts,
//! which QEMU's TCG turns into inline host vector code. Like all SIMD in the
//! hypervisor, usable only before the first guest runs (`simd::open`).

use core::sync::atomic::{AtomicBool, Ordering};

use aarch64_cpu::registers::*;

use super::simd;
use crate::boot::blake3::{self, Lanes, CHUNK_END, CHUNK_START, IV, PARENT};

// halyard_blake3x4(lanes: *const [*const u8; 4], blocks: usize,
//                  counters: *const [u32; 8], flags: u32, start: u32, end: u32,
//                  out: *mut [[u8; 32]; 4], iv: *const u32)
// Lane j hashes `blocks` 64-byte blocks from lanes[j] with counter
// (counters[4 + j] << 32 | counters[j]); every block gets `flags`, the first
// also `start`, the last also `end`. v0-v7 = the chaining values, v0-v15 the
// state during a block, word w of the four blocks' messages in
// v(16 + w / 4 + 4 * (w % 4)) (where the transposition leaves it), except
// word 15, which is kept at [sp, #64] so that v31 is free as a temporary.
core::arch::global_asm!(
    r#"
    .arch_extension fp
    .arch_extension simd

    // \dst = ROTR(\x, \n) on every lane (the halves do not overlap, so
    // shift-right-and-accumulate is an OR; TCG expands sli/sri far worse).
    .macro  x4_rotr dst, x, n
    shl     \dst\().4s, \x\().4s, #(32 - \n)
    usra    \dst\().4s, \x\().4s, #\n
    .endm

    // \a += message word \m (`s`: the word kept on the stack).
    .macro  x4_addm a, m
    .ifc    \m, s
    ldr     q31, [sp, #64]
    add     \a\().4s, \a\().4s, v31.4s
    .else
    add     \a\().4s, \a\().4s, \m\().4s
    .endif
    .endm

    // Half of the G function on four columns (or diagonals) at once:
    // a += b + m; d = ROTR(d ^ a, \r1); c += d; b = ROTR(b ^ c, \r2).
    // Step by step across the four, so that the host can overlap them:
    // under TCG each vector op goes through memory, and one G alone is a
    // chain of dependent stores and loads.
    .macro  x4_half a0, b0, c0, d0, a1, b1, c1, d1, a2, b2, c2, d2, a3, b3, c3, d3, m0, m1, m2, m3, r1, r2
    add     \a0\().4s, \a0\().4s, \b0\().4s
    add     \a1\().4s, \a1\().4s, \b1\().4s
    add     \a2\().4s, \a2\().4s, \b2\().4s
    add     \a3\().4s, \a3\().4s, \b3\().4s
    x4_addm \a0, \m0
    x4_addm \a1, \m1
    x4_addm \a2, \m2
    x4_addm \a3, \m3
    eor     v31.16b, \d0\().16b, \a0\().16b
    x4_rotr \d0, v31, \r1
    eor     v31.16b, \d1\().16b, \a1\().16b
    x4_rotr \d1, v31, \r1
    eor     v31.16b, \d2\().16b, \a2\().16b
    x4_rotr \d2, v31, \r1
    eor     v31.16b, \d3\().16b, \a3\().16b
    x4_rotr \d3, v31, \r1
    add     \c0\().4s, \c0\().4s, \d0\().4s
    add     \c1\().4s, \c1\().4s, \d1\().4s
    add     \c2\().4s, \c2\().4s, \d2\().4s
    add     \c3\().4s, \c3\().4s, \d3\().4s
    eor     v31.16b, \b0\().16b, \c0\().16b
    x4_rotr \b0, v31, \r2
    eor     v31.16b, \b1\().16b, \c1\().16b
    x4_rotr \b1, v31, \r2
    eor     v31.16b, \b2\().16b, \c2\().16b
    x4_rotr \b2, v31, \r2
    eor     v31.16b, \b3\().16b, \c3\().16b
    x4_rotr \b3, v31, \r2
    .endm

    // A round: the G function on the columns, then on the diagonals, with
    // the message words in the order this round uses them.
    .macro  x4_round m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15
    x4_half v0, v4, v8, v12, v1, v5, v9, v13, v2, v6, v10, v14, v3, v7, v11, v15, \m0, \m2, \m4, \m6, 16, 12
    x4_half v0, v4, v8, v12, v1, v5, v9, v13, v2, v6, v10, v14, v3, v7, v11, v15, \m1, \m3, \m5, \m7, 8, 7
    x4_half v0, v5, v10, v15, v1, v6, v11, v12, v2, v7, v8, v13, v3, v4, v9, v14, \m8, \m10, \m12, \m14, 16, 12
    x4_half v0, v5, v10, v15, v1, v6, v11, v12, v2, v7, v8, v13, v3, v4, v9, v14, \m9, \m11, \m13, \m15, 8, 7
    .endm

    // Rows \a-\d (four words of one lane each) transposed in place: \a
    // gets the first word of every lane, \b the second, and so on.
    .macro  x4_transpose a, b, c, d
    trn1    v8.4s, \a\().4s, \b\().4s
    trn2    v9.4s, \a\().4s, \b\().4s
    trn1    v10.4s, \c\().4s, \d\().4s
    trn2    v11.4s, \c\().4s, \d\().4s
    trn1    \a\().2d, v8.2d, v10.2d
    trn1    \b\().2d, v9.2d, v11.2d
    trn2    \c\().2d, v8.2d, v10.2d
    trn2    \d\().2d, v9.2d, v11.2d
    .endm

    .section .text, "ax"
    .global halyard_blake3x4
    .p2align 2
halyard_blake3x4:
    cbz     x1, 9f
    // d8-d15 are callee-saved; [sp, #64] holds message word 15.
    sub     sp, sp, #80
    stp     d8, d9, [sp]
    stp     d10, d11, [sp, #16]
    stp     d12, d13, [sp, #32]
    stp     d14, d15, [sp, #48]
    ldp     x9, x10, [x0]
    ldp     x11, x12, [x0, #16]
    mov     x14, x7
    ld1r    {{v0.4s}}, [x14], #4
    ld1r    {{v1.4s}}, [x14], #4
    ld1r    {{v2.4s}}, [x14], #4
    ld1r    {{v3.4s}}, [x14], #4
    ld1r    {{v4.4s}}, [x14], #4
    ld1r    {{v5.4s}}, [x14], #4
    ld1r    {{v6.4s}}, [x14], #4
    ld1r    {{v7.4s}}, [x14], #4
1:  // Each lane's block in one load, then transposed.
    ld1     {{v16.4s, v17.4s, v18.4s, v19.4s}}, [x9], #64
    ld1     {{v20.4s, v21.4s, v22.4s, v23.4s}}, [x10], #64
    ld1     {{v24.4s, v25.4s, v26.4s, v27.4s}}, [x11], #64
    ld1     {{v28.4s, v29.4s, v30.4s, v31.4s}}, [x12], #64
    x4_transpose v16, v20, v24, v28
    x4_transpose v17, v21, v25, v29
    x4_transpose v18, v22, v26, v30
    x4_transpose v19, v23, v27, v31
    str     q31, [sp, #64]
    // State words 8-15: the IV's first half, counter, block length, flags.
    mov     x14, x7
    ld1r    {{v8.4s}}, [x14], #4
    ld1r    {{v9.4s}}, [x14], #4
    ld1r    {{v10.4s}}, [x14], #4
    ld1r    {{v11.4s}}, [x14], #4
    ld1     {{v12.4s, v13.4s}}, [x2]
    movi    v14.4s, #64
    orr     w13, w3, w4
    cmp     x1, #1
    csel    w15, w5, wzr, eq
    orr     w13, w13, w15
    dup     v15.4s, w13
    mov     w4, wzr
    x4_round v16, v20, v24, v28, v17, v21, v25, v29, v18, v22, v26, v30, v19, v23, v27, s
    x4_round v24, v25, v28, v26, v29, v16, v17, v23, v20, v30, v19, v21, v22, v27, s, v18
    x4_round v28, v17, v26, v19, v23, v24, v29, v27, v25, v21, v22, v16, v30, s, v18, v20
    x4_round v26, v29, v19, v22, v27, v28, v23, s, v17, v16, v30, v24, v21, v18, v20, v25
    x4_round v19, v23, v22, v30, s, v26, v27, v18, v29, v24, v21, v28, v16, v20, v25, v17
    x4_round v22, v27, v30, v21, v18, v19, s, v20, v23, v28, v16, v26, v24, v25, v17, v29
    x4_round v30, s, v21, v16, v20, v22, v18, v25, v27, v26, v24, v19, v28, v17, v29, v23
    eor     v0.16b, v0.16b, v8.16b
    eor     v1.16b, v1.16b, v9.16b
    eor     v2.16b, v2.16b, v10.16b
    eor     v3.16b, v3.16b, v11.16b
    eor     v4.16b, v4.16b, v12.16b
    eor     v5.16b, v5.16b, v13.16b
    eor     v6.16b, v6.16b, v14.16b
    eor     v7.16b, v7.16b, v15.16b
    subs    x1, x1, #1
    b.ne    1b
    // Back to one lane per register: lane j's words 0-3 in vj, 4-7 in v(4+j).
    x4_transpose v0, v1, v2, v3
    x4_transpose v4, v5, v6, v7
    st1     {{v0.4s}}, [x6], #16
    st1     {{v4.4s}}, [x6], #16
    st1     {{v1.4s}}, [x6], #16
    st1     {{v5.4s}}, [x6], #16
    st1     {{v2.4s}}, [x6], #16
    st1     {{v6.4s}}, [x6], #16
    st1     {{v3.4s}}, [x6], #16
    st1     {{v7.4s}}, [x6], #16
    ldp     d14, d15, [sp, #48]
    ldp     d12, d13, [sp, #32]
    ldp     d10, d11, [sp, #16]
    ldp     d8, d9, [sp], #80
9:  ret
"#
);

unsafe extern "C" {
    fn halyard_blake3x4(
        lanes: *const [*const u8; 4],
        blocks: usize,
        counters: *const [u32; 8],
        flags: u32,
        start: u32,
        end: u32,
        out: *mut [[u8; 32]; 4],
        iv: *const u32,
    );
}

/// [`blake3::Hash4`] with the 4-lane code. Callers make sure SIMD is usable.
fn neon4(lanes: &[&[u8]; 4], kind: Lanes) -> [[u8; 32]; 4] {
    let len = lanes[0].len();
    assert!(len > 0 && len.is_multiple_of(64) && lanes.iter().all(|l| l.len() == len));
    let (counter, step, flags, start, end) = match kind {
        Lanes::Chunks { counter } => (counter, 1, 0, CHUNK_START, CHUNK_END),
        Lanes::Parents => (0, 0, PARENT, 0, 0),
    };
    let lane_counter = |j: usize| counter + j as u64 * step;
    let counters: [u32; 8] = core::array::from_fn(|i| match i {
        0..4 => lane_counter(i) as u32,
        _ => (lane_counter(i - 4) >> 32) as u32,
    });
    let ptrs = lanes.map(|l| l.as_ptr());
    let mut out = [[0u8; 32]; 4];
    // SAFETY: every pointer has `len / 64` whole blocks after it (checked
    // above); the routine writes only `out`, its own stack frame and SIMD
    // registers, which hold no guest state while `simd::open` (callers
    // check), and FP/SIMD is not trapped at EL2 during boot.
    unsafe {
        halyard_blake3x4(
            &ptrs,
            len / 64,
            &counters,
            flags,
            start,
            end,
            &mut out,
            IV.as_ptr(),
        )
    };
    out
}

/// Whether the 4-lane code gives the known answer (precomputed, so that
/// the check costs no portable hashing at boot).
fn known_answers() -> bool {
    blake3::hash(&blake3::known_sample(), neon4) == blake3::KNOWN_DIGEST
}

/// Set once [`pick`] chose the 4-lane code.
static NEON: AtomicBool = AtomicBool::new(false);

/// Which code compresses the pieces' BLAKE3 trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hasher {
    Neon4,
    Portable,
}

impl Hasher {
    pub fn name(self) -> &'static str {
        match self {
            Hasher::Neon4 => "BLAKE3 4-lane NEON",
            Hasher::Portable => "BLAKE3 portable",
        }
    }
}

/// Choose the hasher, on one CPU before the others use [`hash4`]: the
/// 4-lane code if the CPU has AdvSIMD, SIMD may still be used, and it
/// passes its known answers.
pub fn pick() -> Hasher {
    // ID_AA64PFR0_EL1.AdvSIMD (bits 23:20) is 0xf when there is none.
    let present = (ID_AA64PFR0_EL1.get() >> 20) & 0xf != 0xf;
    let ok = present && simd::open() && known_answers();
    if present && simd::open() && !ok {
        crate::info!("4-lane BLAKE3 gives a wrong known answer: not using it");
    }
    NEON.store(ok, Ordering::Release);
    match ok {
        true => Hasher::Neon4,
        false => Hasher::Portable,
    }
}

/// [`blake3::Hash4`]: the 4-lane code if [`pick`] chose it and SIMD may
/// still be used, else the portable code.
pub fn hash4(lanes: &[&[u8]; 4], kind: Lanes) -> [[u8; 32]; 4] {
    match NEON.load(Ordering::Acquire) && simd::open() {
        true => neon4(lanes, kind),
        false => blake3::portable4(lanes, kind),
    }
}
