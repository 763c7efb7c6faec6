//! SHA-256 of four messages at once, one per 32-bit lane of the AdvSIMD
//! registers, with plain vector arithmetic (add, eor, bsl, shifts). Under
//! QEMU's TCG every SHA-256 instruction is a call into C, while these
//! become inline host vector code; on hardware the SHA-256 instructions are
//! usually faster. [`pick`] checks and times both. Like `sha256`, usable
//! only before the first guest runs.

use core::sync::atomic::{AtomicUsize, Ordering};

use super::sha256::{self, H0, K};

// halyard_sha256x4_blocks(state: *mut [[u32; 4]; 8], data: *const [*const u8; 4],
//                         blocks: usize, k: *const u32)
// state[i][j] is word i of lane j; each lane's pointer advances `blocks`
// blocks. v0-v7 = the working variables a-h (their roles rotate by one
// register each round), v16-v31 = the last 16 schedule words W, one lane per
// message (W[t] in v(16 + 4 * (t % 4) + t % 16 / 4), where the transposition
// leaves it), v12-v15 = 16 round constants, v8-v11 scratch, x9-x12 = the
// lanes' data pointers.
core::arch::global_asm!(
    r#"
    .arch_extension fp
    .arch_extension simd

    // \dst = ROTR(\x, \n) on every 32-bit lane (the two halves do not overlap,
    // so shift-right-and-accumulate is an OR).
    .macro  x4_rotr dst, x, n
    shl     \dst\().4s, \x\().4s, #(32 - \n)
    usra    \dst\().4s, \x\().4s, #\n
    .endm

    // One round (FIPS 180-4, 6.2.2 step 3): h += K + W + Σ1(e) + Ch(e,f,g)
    // is T1; d += T1; h = T1 + Σ0(a) + Maj(a,b,c) becomes the next a.
    .macro  x4_round a, b, c, d, e, f, g, h, w, k, i
    dup     v8.4s, \k\().s[\i]
    add     \h\().4s, \h\().4s, v8.4s
    add     \h\().4s, \h\().4s, \w\().4s
    x4_rotr v8, \e, 6
    x4_rotr v9, \e, 11
    eor     v8.16b, v8.16b, v9.16b
    x4_rotr v9, \e, 25
    eor     v8.16b, v8.16b, v9.16b
    add     \h\().4s, \h\().4s, v8.4s
    // Ch: e selects f, else g.
    mov     v9.16b, \e\().16b
    bsl     v9.16b, \f\().16b, \g\().16b
    add     \h\().4s, \h\().4s, v9.4s
    add     \d\().4s, \d\().4s, \h\().4s
    x4_rotr v8, \a, 2
    x4_rotr v9, \a, 13
    eor     v8.16b, v8.16b, v9.16b
    x4_rotr v9, \a, 22
    eor     v8.16b, v8.16b, v9.16b
    add     \h\().4s, \h\().4s, v8.4s
    // Maj: where a and b differ c decides, else b.
    eor     v9.16b, \a\().16b, \b\().16b
    bsl     v9.16b, \c\().16b, \b\().16b
    add     \h\().4s, \h\().4s, v9.4s
    .endm

    // W[t] (in \w, holding W[t-16]) += σ0(W[t-15]) + W[t-7] + σ1(W[t-2]).
    .macro  x4_sched w, w1, w9, w14
    x4_rotr v10, \w1, 7
    x4_rotr v11, \w1, 18
    eor     v10.16b, v10.16b, v11.16b
    ushr    v11.4s, \w1\().4s, #3
    eor     v10.16b, v10.16b, v11.16b
    add     \w\().4s, \w\().4s, v10.4s
    x4_rotr v10, \w14, 17
    x4_rotr v11, \w14, 19
    eor     v10.16b, v10.16b, v11.16b
    ushr    v11.4s, \w14\().4s, #10
    eor     v10.16b, v10.16b, v11.16b
    add     \w\().4s, \w\().4s, v10.4s
    add     \w\().4s, \w\().4s, \w9\().4s
    .endm

    // A round, extending the schedule first when \ext is set.
    .macro  x4_step ext, a, b, c, d, e, f, g, h, w, w1, w9, w14, k, i
    .if \ext
    x4_sched \w, \w1, \w9, \w14
    .endif
    x4_round \a, \b, \c, \d, \e, \f, \g, \h, \w, \k, \i
    .endm

    // Sixteen rounds, with their constants loaded from x4.
    .macro  x4_rounds16 ext
    ld1     {{v12.4s, v13.4s, v14.4s, v15.4s}}, [x4], #64
    x4_step \ext, v0, v1, v2, v3, v4, v5, v6, v7, v16, v20, v22, v27, v12, 0
    x4_step \ext, v7, v0, v1, v2, v3, v4, v5, v6, v20, v24, v26, v31, v12, 1
    x4_step \ext, v6, v7, v0, v1, v2, v3, v4, v5, v24, v28, v30, v16, v12, 2
    x4_step \ext, v5, v6, v7, v0, v1, v2, v3, v4, v28, v17, v19, v20, v12, 3
    x4_step \ext, v4, v5, v6, v7, v0, v1, v2, v3, v17, v21, v23, v24, v13, 0
    x4_step \ext, v3, v4, v5, v6, v7, v0, v1, v2, v21, v25, v27, v28, v13, 1
    x4_step \ext, v2, v3, v4, v5, v6, v7, v0, v1, v25, v29, v31, v17, v13, 2
    x4_step \ext, v1, v2, v3, v4, v5, v6, v7, v0, v29, v18, v16, v21, v13, 3
    x4_step \ext, v0, v1, v2, v3, v4, v5, v6, v7, v18, v22, v20, v25, v14, 0
    x4_step \ext, v7, v0, v1, v2, v3, v4, v5, v6, v22, v26, v24, v29, v14, 1
    x4_step \ext, v6, v7, v0, v1, v2, v3, v4, v5, v26, v30, v28, v18, v14, 2
    x4_step \ext, v5, v6, v7, v0, v1, v2, v3, v4, v30, v19, v17, v22, v14, 3
    x4_step \ext, v4, v5, v6, v7, v0, v1, v2, v3, v19, v23, v21, v26, v15, 0
    x4_step \ext, v3, v4, v5, v6, v7, v0, v1, v2, v23, v27, v25, v30, v15, 1
    x4_step \ext, v2, v3, v4, v5, v6, v7, v0, v1, v27, v31, v29, v19, v15, 2
    x4_step \ext, v1, v2, v3, v4, v5, v6, v7, v0, v31, v16, v18, v23, v15, 3
    .endm

    // Words 4n..4n+3 of the four lanes (in \a-\d, a row of one lane each,
    // big-endian) transposed in place: \a gets word 4n of every lane, \b
    // word 4n+1, and so on.
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
    .global halyard_sha256x4_blocks
halyard_sha256x4_blocks:
    cbz     x2, 3f
    // d8-d15 are callee-saved.
    stp     d8, d9, [sp, #-64]!
    stp     d10, d11, [sp, #16]
    stp     d12, d13, [sp, #32]
    stp     d14, d15, [sp, #48]
    ldp     x9, x10, [x1]
    ldp     x11, x12, [x1, #16]
    add     x6, x0, #64
    ld1     {{v0.4s, v1.4s, v2.4s, v3.4s}}, [x0]
    ld1     {{v4.4s, v5.4s, v6.4s, v7.4s}}, [x6]
    // Each lane's block in one load (QEMU's TLB is direct-mapped and the
    // lanes are often 1 MiB apart: alternating between them per row would
    // miss it on every access), then made big-endian and transposed.
1:  ld1     {{v16.16b, v17.16b, v18.16b, v19.16b}}, [x9], #64
    ld1     {{v20.16b, v21.16b, v22.16b, v23.16b}}, [x10], #64
    ld1     {{v24.16b, v25.16b, v26.16b, v27.16b}}, [x11], #64
    ld1     {{v28.16b, v29.16b, v30.16b, v31.16b}}, [x12], #64
    rev32   v16.16b, v16.16b
    rev32   v17.16b, v17.16b
    rev32   v18.16b, v18.16b
    rev32   v19.16b, v19.16b
    rev32   v20.16b, v20.16b
    rev32   v21.16b, v21.16b
    rev32   v22.16b, v22.16b
    rev32   v23.16b, v23.16b
    rev32   v24.16b, v24.16b
    rev32   v25.16b, v25.16b
    rev32   v26.16b, v26.16b
    rev32   v27.16b, v27.16b
    rev32   v28.16b, v28.16b
    rev32   v29.16b, v29.16b
    rev32   v30.16b, v30.16b
    rev32   v31.16b, v31.16b
    x4_transpose v16, v20, v24, v28
    x4_transpose v17, v21, v25, v29
    x4_transpose v18, v22, v26, v30
    x4_transpose v19, v23, v27, v31
    mov     x4, x3
    x4_rounds16 0
    mov     x5, #3
2:  x4_rounds16 1
    subs    x5, x5, #1
    b.ne    2b
    // Add the block's result to the state it started from (kept in memory).
    ld1     {{v8.4s, v9.4s, v10.4s, v11.4s}}, [x0]
    add     v0.4s, v0.4s, v8.4s
    add     v1.4s, v1.4s, v9.4s
    add     v2.4s, v2.4s, v10.4s
    add     v3.4s, v3.4s, v11.4s
    st1     {{v0.4s, v1.4s, v2.4s, v3.4s}}, [x0]
    ld1     {{v8.4s, v9.4s, v10.4s, v11.4s}}, [x6]
    add     v4.4s, v4.4s, v8.4s
    add     v5.4s, v5.4s, v9.4s
    add     v6.4s, v6.4s, v10.4s
    add     v7.4s, v7.4s, v11.4s
    st1     {{v4.4s, v5.4s, v6.4s, v7.4s}}, [x6]
    subs    x2, x2, #1
    b.ne    1b
    ldp     d14, d15, [sp, #48]
    ldp     d12, d13, [sp, #32]
    ldp     d10, d11, [sp, #16]
    ldp     d8, d9, [sp], #64
3:  ret
"#
);

unsafe extern "C" {
    fn halyard_sha256x4_blocks(
        state: *mut [[u32; 4]; 8],
        data: *const [*const u8; 4],
        blocks: usize,
        k: *const u32,
    );
}

/// `digest4` with the 4-lane code, which runs while at least `min_lanes`
/// distinct messages have whole blocks left; `sha256` finishes the rest.
/// Callers make sure SIMD is usable.
fn neon_digest4(lanes: &[&[u8]; 4], min_lanes: usize) -> [[u8; 32]; 4] {
    // A lane that repeats an earlier one (same bytes, same place) is not
    // hashed again.
    let first_of = |j: usize| {
        (0..j)
            .find(|&i| lanes[i].as_ptr() == lanes[j].as_ptr() && lanes[i].len() == lanes[j].len())
            .unwrap_or(j)
    };
    let mut states = [H0; 4];
    let mut done = [0usize; 4];
    loop {
        // Whole blocks left per distinct lane; the other lanes ride along
        // as copies of the first one that has some.
        let left: [usize; 4] = core::array::from_fn(|j| match first_of(j) == j {
            true => lanes[j].len() / 64 - done[j],
            false => 0,
        });
        let busy = left.iter().filter(|&&n| n > 0).count();
        if busy == 0 || busy < min_lanes {
            break;
        }
        let lead = left.iter().position(|&n| n > 0).unwrap_or(0);
        let src = |j: usize| if left[j] > 0 { j } else { lead };
        let blocks = left.iter().copied().filter(|&n| n > 0).min().unwrap_or(0);
        let mut state: [[u32; 4]; 8] =
            core::array::from_fn(|i| core::array::from_fn(|j| states[src(j)][i]));
        let data: [*const u8; 4] =
            core::array::from_fn(|j| lanes[src(j)][done[src(j)] * 64..].as_ptr());
        // SAFETY: each pointer has at least `blocks` whole blocks after it
        // (the fewest any busy lane has left); the routine writes only
        // `state` and SIMD registers, which hold no guest state before
        // `close` (callers check `sha256::open`), and FP/SIMD is not trapped
        // at EL2 during boot.
        unsafe { halyard_sha256x4_blocks(&mut state, &data, blocks, K.as_ptr()) };
        for j in (0..4).filter(|&j| left[j] > 0) {
            states[j] = core::array::from_fn(|i| state[i][j]);
            done[j] += blocks;
        }
    }
    let mut out = [[0u8; 32]; 4];
    for j in 0..4 {
        out[j] = match first_of(j) {
            i if i < j => out[i],
            _ => sha256::finish(states[j], &lanes[j][done[j] * 64..], lanes[j].len()),
        };
    }
    out
}

/// Which code hashes the modules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hasher {
    /// This module, four pieces at a time.
    Neon4,
    /// `sha256` with the SHA-256 instructions.
    Instructions,
    /// `sha256` with the portable code.
    Portable,
}

impl Hasher {
    pub fn name(self) -> &'static str {
        match self {
            Hasher::Neon4 => "4-lane NEON",
            Hasher::Instructions => "SHA-256 instructions",
            Hasher::Portable => "portable",
        }
    }
}

/// Whether the 4-lane code agrees with the portable code on lanes of every
/// padding shape, of unequal lengths, and repeated.
fn known_answers() -> bool {
    let sample: alloc::vec::Vec<u8> = (0..4200u32).map(|i| (i * 7 + 3) as u8).collect();
    let s = |n: usize| &sample[..n];
    let tail = |n: usize| &sample[sample.len() - n..];
    let cases: [[&[u8]; 4]; 4] = [
        [s(0), s(3), s(55), s(56)],
        [s(64), s(119), s(128), s(200)],
        [s(4200), tail(1000), s(4200), tail(130)],
        [tail(777); 4],
    ];
    cases.iter().all(|lanes| {
        lanes
            .iter()
            .zip(neon_digest4(lanes, 1))
            .all(|(l, d)| d.as_slice() == <sha2::Sha256 as sha2::Digest>::digest(l).as_slice())
    })
}

/// 0 until [`pick`] chose the 4-lane code, then the fewest distinct
/// messages worth running it for.
static MIN_LANES: AtomicUsize = AtomicUsize::new(0);

/// Choose the module hasher on this CPU, before the others use it: the
/// 4-lane code if it passes its known answers and, when the SHA-256
/// instructions are usable too, hashes `sample` (the first 16 KiB) faster
/// than they do.
pub fn pick(sample: &[u8]) -> Hasher {
    let (hasher, min_lanes) = choose(sample);
    MIN_LANES.store(min_lanes, Ordering::Release);
    hasher
}

fn choose(sample: &[u8]) -> (Hasher, usize) {
    let fallback = match sha256::usable() {
        true => Hasher::Instructions,
        false => Hasher::Portable,
    };
    if !sha256::open() {
        return (fallback, 0);
    }
    if !known_answers() {
        crate::info!("4-lane SHA-256 disagrees with the portable code: not using it");
        return (fallback, 0);
    }
    if fallback == Hasher::Portable {
        return (Hasher::Neon4, 1);
    }
    // Both are warm from their known answers. The best of two runs each,
    // so that one preemption of an emulator's thread does not decide.
    let quarter = sample.len().min(16384) / 4;
    let lanes: [&[u8]; 4] = core::array::from_fn(|j| &sample[j * quarter..(j + 1) * quarter]);
    let time = |f: &dyn Fn() -> [[u8; 32]; 4]| {
        let t0 = super::boot::now_us();
        core::hint::black_box(f());
        super::boot::now_us() - t0
    };
    let (mut neon, mut instr) = (u64::MAX, u64::MAX);
    for _ in 0..2 {
        neon = neon.min(time(&|| neon_digest4(&lanes, 1)));
        instr = instr.min(time(&|| lanes.map(sha256::digest)));
    }
    // Four lanes at once are worth it for k messages when they take less
    // time than k messages one by one.
    match (1..=4).find(|&k| neon * 4 < instr * k as u64) {
        Some(k) if neon < instr => (Hasher::Neon4, k),
        _ => (Hasher::Instructions, 0),
    }
}

/// SHA-256 of four messages (a message may be given more than once): with
/// the 4-lane code if [`pick`] chose it and SIMD may still be used, else
/// one by one with `sha256`.
pub fn digest4(lanes: &[&[u8]; 4]) -> [[u8; 32]; 4] {
    match MIN_LANES.load(Ordering::Acquire) {
        n if n > 0 && sha256::open() => neon_digest4(lanes, n),
        _ => lanes.map(sha256::digest),
    }
}
