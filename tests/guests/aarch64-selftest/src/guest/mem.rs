//! Memory the guest shares with the hypervisor or with its other vCPU.
//! The MMU is off, so every access is Device-typed: only naturally aligned
//! volatile loads and stores (no atomics, no unaligned accesses), with
//! `dmb` where another observer must see writes in order.

/// One 4 KiB page of the guest's own RAM, page-aligned (lives in .bss).
#[repr(C, align(4096))]
pub struct Page(pub [u8; 4096]);

impl Page {
    pub const fn new() -> Self {
        Page([0; 4096])
    }
}

/// Guest-physical address of a page static (VA == IPA with the MMU off).
pub fn page_addr(p: *mut Page) -> u64 {
    p as u64
}

pub fn rd8(a: u64) -> u8 {
    // SAFETY: callers pass addresses inside the guest's own RAM; bytes
    // have no alignment requirement.
    unsafe { (a as *const u8).read_volatile() }
}

pub fn wr8(a: u64, v: u8) {
    // SAFETY: as for `rd8`.
    unsafe { (a as *mut u8).write_volatile(v) }
}

pub fn wr16(a: u64, v: u16) {
    assert!(a.is_multiple_of(2), "unaligned u16 store at {a:#x}");
    // SAFETY: an aligned address inside the guest's own RAM.
    unsafe { (a as *mut u16).write_volatile(v) }
}

pub fn rd16(a: u64) -> u16 {
    assert!(a.is_multiple_of(2), "unaligned u16 load at {a:#x}");
    // SAFETY: an aligned address inside the guest's own RAM.
    unsafe { (a as *const u16).read_volatile() }
}

pub fn rd32(a: u64) -> u32 {
    assert!(a.is_multiple_of(4), "unaligned u32 load at {a:#x}");
    // SAFETY: an aligned address inside the guest's own RAM.
    unsafe { (a as *const u32).read_volatile() }
}

pub fn wr32(a: u64, v: u32) {
    assert!(a.is_multiple_of(4), "unaligned u32 store at {a:#x}");
    // SAFETY: an aligned address inside the guest's own RAM.
    unsafe { (a as *mut u32).write_volatile(v) }
}

pub fn rd64(a: u64) -> u64 {
    assert!(a.is_multiple_of(8), "unaligned u64 load at {a:#x}");
    // SAFETY: an aligned address inside the guest's own RAM.
    unsafe { (a as *const u64).read_volatile() }
}

pub fn wr64(a: u64, v: u64) {
    assert!(a.is_multiple_of(8), "unaligned u64 store at {a:#x}");
    // SAFETY: an aligned address inside the guest's own RAM.
    unsafe { (a as *mut u64).write_volatile(v) }
}

/// Little-endian u32 at any address, byte by byte (for odd addresses).
pub fn rd32_bytes(a: u64) -> u32 {
    (0..4).fold(0, |v, i| v | (rd8(a + i) as u32) << (8 * i))
}

/// Little-endian `v` at any address, byte by byte.
pub fn wr_bytes(a: u64, v: u64, len: u64) {
    for i in 0..len {
        wr8(a + i, (v >> (8 * i)) as u8);
    }
}

/// Fill `len` bytes at the 8-aligned `a` with `byte` (len a multiple of 8).
pub fn fill(a: u64, len: u64, byte: u8) {
    let word = u64::from_ne_bytes([byte; 8]);
    for off in (0..len).step_by(8) {
        wr64(a + off, word);
    }
}

/// Orders this vCPU's memory accesses before and after it, as seen by the
/// other vCPU and the hypervisor.
pub fn dmb() {
    // SAFETY: a barrier only.
    unsafe { core::arch::asm!("dmb sy", options(nostack)) };
}

/// The virtual counter; the ISB keeps the read from moving across the
/// code being timed.
pub fn ticks() -> u64 {
    let t: u64;
    // SAFETY: reads the virtual counter, which EL1 and EL0 may read.
    unsafe { core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) t, options(nostack)) };
    t
}

/// Counter frequency in Hz.
pub fn ticks_per_second() -> u64 {
    let f: u64;
    // SAFETY: reads a read-only system register.
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) f, options(nomem, nostack)) };
    f
}

/// Polls `cond` for up to `ms` milliseconds of counter time; true if it held.
pub fn wait_for(ms: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = ticks() + ticks_per_second() * ms / 1000;
    loop {
        if cond() {
            return true;
        }
        if ticks() > deadline {
            return cond();
        }
    }
}
