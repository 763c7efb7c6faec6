//! FF-A/PSCI test program for the secure firmware: runs at EL2 in place of
//! Halyard (loaded raw at 0x40200000), calls the firmware by SMC, prints
//! TAP on the normal UART and powers off. Not part of the product.
#![no_std]
#![no_main]

use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

core::arch::global_asm!(
    r#"
    .section .text.start, "ax"
    .global _start
_start:
    msr     daifset, #0xf
    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
1:  cmp     x1, x2
    b.hs    2f
    str     xzr, [x1], #8
    b       1b
2:  ldr     x1, =page_table
    mov     x2, #0x401
    movk    x2, #0x40, lsl #48
    str     x2, [x1]
    ldr     x2, =0x40000705
    str     x2, [x1, #8]
    ldr     x1, =stacks
    add     sp, x1, #0x4000
    bl      mmu_on
    bl      {main}
    .global secondary_entry
secondary_entry:
    mov     x19, x0
    ldr     x1, =stacks
    add     sp, x1, #0x8000
    bl      mmu_on
    mov     x0, x19
    bl      {secondary}
mmu_on:
    ldr     x0, =0xff00
    msr     mair_el2, x0
    ldr     x0, =0x80823519
    msr     tcr_el2, x0
    ldr     x0, =page_table
    msr     ttbr0_el2, x0
    dsb     sy
    tlbi    alle2
    dsb     sy
    isb
    ldr     x0, =0x30c51835
    msr     sctlr_el2, x0
    isb
    ret

    .section .bss.tables, "aw", %nobits
    .balign 4096
page_table:
    .space 4096
    .global tx_page
tx_page:
    .space 4096
    .global rx_page
rx_page:
    .space 4096
stacks:
    .space 0x8000
"#,
    main = sym test_main,
    secondary = sym secondary_main,
);

extern "C" {
    static tx_page: u8;
    static rx_page: u8;
    fn secondary_entry();
}

struct Uart;
impl Write for Uart {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            // SAFETY: the normal PL011 data/flag registers, mapped as Device.
            unsafe {
                while core::ptr::read_volatile(0x0900_0018 as *const u32) & (1 << 5) != 0 {}
                core::ptr::write_volatile(0x0900_0000 as *mut u32, b as u32);
            }
        }
        Ok(())
    }
}

macro_rules! say { ($($a:tt)*) => { let _ = writeln!(Uart, $($a)*); } }

fn smc(a: [u64; 8]) -> [u64; 8] {
    let mut r = a;
    // SAFETY: an SMC to the firmware under test; it writes x0..x7 (and
    // x8..x17 for PARTITION_INFO_GET_REGS, hence the clobbers).
    unsafe {
        core::arch::asm!("smc #0", inout("x0") r[0], inout("x1") r[1], inout("x2") r[2],
            inout("x3") r[3], inout("x4") r[4], inout("x5") r[5], inout("x6") r[6],
            inout("x7") r[7], out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _,
            out("x17") _, options(nostack))
    };
    r
}

fn call(f: u32, x1: u64, x2: u64, x3: u64, x4: u64, x5: u64) -> [u64; 8] {
    smc([f as u64, x1, x2, x3, x4, x5, 0, 0])
}

const ERROR: u64 = 0x8400_0060;
const SUCCESS: u64 = 0x8400_0061;
const RESP32: u64 = 0x8400_0070;
const RESP64: u64 = 0xc400_0070;
const REQ32: u32 = 0x8400_006f;
const REQ64: u32 = 0xc400_006f;

fn is_error(r: &[u64; 8], code: i32) -> bool {
    r[0] == ERROR && r[2] as u32 == code as u32
}

struct Tap {
    n: u32,
    failed: u32,
}

impl Tap {
    fn check(&mut self, ok: bool, what: &str, r: &[u64; 8]) {
        self.n += 1;
        if ok {
            say!("ok {} - {}", self.n, what);
        } else {
            self.failed += 1;
            say!("not ok {} - {} (x0..x7 {:x?})", self.n, what, r);
        }
    }
}

fn tx() -> &'static mut [u8] {
    // SAFETY: our own TX page; the firmware reads it only during our SMCs.
    unsafe { core::slice::from_raw_parts_mut(core::ptr::addr_of!(tx_page) as *mut u8, 4096) }
}

fn rx() -> &'static [u8] {
    // SAFETY: our own RX page, written by the firmware during our SMCs.
    unsafe { core::slice::from_raw_parts(core::ptr::addr_of!(rx_page), 4096) }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Writes a v1.1 share descriptor for `receiver` over `ranges` into TX.
fn share_descriptor(receiver: u16, ranges: &[(u64, u32)]) -> usize {
    let d = tx();
    let len = 80 + 16 * ranges.len();
    d[..len].fill(0);
    d[2..4].copy_from_slice(&0x2fu16.to_le_bytes());
    d[24..28].copy_from_slice(&16u32.to_le_bytes());
    d[28..32].copy_from_slice(&1u32.to_le_bytes());
    d[32..36].copy_from_slice(&48u32.to_le_bytes());
    d[48..50].copy_from_slice(&receiver.to_le_bytes());
    d[50] = 2;
    d[52..56].copy_from_slice(&64u32.to_le_bytes());
    let pages: u32 = ranges.iter().map(|r| r.1).sum();
    d[64..68].copy_from_slice(&pages.to_le_bytes());
    d[68..72].copy_from_slice(&(ranges.len() as u32).to_le_bytes());
    for (n, (addr, p)) in ranges.iter().enumerate() {
        let at = 80 + 16 * n;
        d[at..at + 8].copy_from_slice(&addr.to_le_bytes());
        d[at + 8..at + 12].copy_from_slice(&p.to_le_bytes());
    }
    len
}

fn fill_and_hash(ranges: &[(u64, u32)], seed: u8) -> u32 {
    let mut hash = 0x811c_9dc5u32;
    let mut k = seed as u32;
    for &(addr, pages) in ranges {
        // SAFETY: free normal-world RAM (this program owns all of it).
        let mem =
            unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, pages as usize * 4096) };
        for b in mem.iter_mut() {
            k = k.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (k >> 16) as u8;
            hash ^= *b as u32;
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    hash
}

fn share_and_checksum(t: &mut Tap, receiver: u16, ranges: &[(u64, u32)], seed: u8) {
    let expected = fill_and_hash(ranges, seed);
    let bytes: u64 = ranges.iter().map(|r| r.1 as u64 * 4096).sum();
    let len = share_descriptor(receiver, ranges) as u64;
    let r = call(0xc400_0073, len, len, 0, 0, 0);
    t.check(
        r[0] == SUCCESS,
        "MEM_SHARE_64 to a partition returns a handle",
        &r,
    );
    let handle = r[2] | (r[3] << 32);
    let r = smc([
        REQ32 as u64,
        receiver as u64,
        0,
        2,
        handle & 0xffff_ffff,
        handle >> 32,
        0,
        0,
    ]);
    t.check(
        r[0] == RESP32 && r[3] == 0 && r[4] == expected as u64 && r[5] == bytes,
        "CHECKSUM: the partition retrieved the share and its FNV-1a matches",
        &r,
    );
    let r = call(0x8400_0077, handle & 0xffff_ffff, handle >> 32, 0, 0, 0);
    t.check(r[0] == SUCCESS, "MEM_RECLAIM after relinquish succeeds", &r);
    let r = call(0x8400_0077, handle & 0xffff_ffff, handle >> 32, 0, 0, 0);
    t.check(
        is_error(&r, -2),
        "MEM_RECLAIM of a reclaimed handle: INVALID_PARAMETERS",
        &r,
    );
}

static SECONDARY_PING: AtomicU64 = AtomicU64::new(u64::MAX);

extern "C" fn secondary_main(_context: u64) -> ! {
    let r = smc([REQ32 as u64, 0x8001, 0, 1, 0, 0, 0, 0]);
    let value = if r[0] == RESP32 && r[4] == 0x8001 {
        r[6]
    } else {
        0xdead
    };
    SECONDARY_PING.store(value, Ordering::Release);
    call(0x8400_0002, 0, 0, 0, 0, 0);
    loop {
        core::hint::spin_loop();
    }
}

extern "C" fn test_main() -> ! {
    let mut t = Tap { n: 0, failed: 0 };
    say!("# ffa-el2-test: FF-A and PSCI against the secure firmware");
    let r = call(0x8400_0000, 0, 0, 0, 0, 0);
    t.check(r[0] == 0x1_0001, "PSCI_VERSION is 1.1", &r);
    let r = call(0x8000_0000, 0, 0, 0, 0, 0);
    t.check(r[0] == 0x1_0002, "SMCCC_VERSION is 1.2", &r);
    let r = call(0x8400_000a, 0x8000_0000, 0, 0, 0, 0);
    t.check(r[0] == 0, "PSCI_FEATURES(SMCCC_VERSION) is 0", &r);
    let r = call(0x8200_0001, 0, 0, 0, 0, 0);
    t.check(r[0] == u64::MAX, "unknown SMC returns -1", &r);
    let r = call(0x8400_0063, 0x1_0002, 0, 0, 0, 0);
    let expected_version = r[0];
    t.check(r[0] == 0x1_0002 || r[0] == 0x1_0000, "FFA_VERSION(1.2)", &r);
    let v1_0 = expected_version == 0x1_0000;
    say!("# firmware speaks FF-A {:#x}", expected_version);
    let r = call(0x8400_0069, 0, 0, 0, 0, 0);
    t.check(r[0] == SUCCESS && r[2] == 0, "FFA_ID_GET is 0", &r);
    let r = call(0x8400_0064, 0xc400_0066, 0, 0, 0, 0);
    t.check(
        r[0] == SUCCESS && r[2] == 0,
        "FFA_FEATURES(RXTX_MAP_64): 4K minimum",
        &r,
    );
    let r = call(0x8400_0064, 0x8400_0071, 0, 0, 0, 0);
    t.check(
        is_error(&r, -1),
        "FFA_FEATURES(MEM_DONATE): NOT_SUPPORTED",
        &r,
    );
    let r = call(0x8400_0068, 0, 0, 0, 0, 0);
    t.check(
        is_error(&r, -4),
        "PARTITION_INFO_GET without RX buffer: BUSY",
        &r,
    );
    let txa = core::ptr::addr_of!(tx_page) as u64;
    let rxa = core::ptr::addr_of!(rx_page) as u64;
    let r = call(0xc400_0066, txa + 8, rxa, 1, 0, 0);
    t.check(
        is_error(&r, -2),
        "RXTX_MAP misaligned: INVALID_PARAMETERS",
        &r,
    );
    let r = call(0xc400_0066, 0x0e00_0000, rxa, 1, 0, 0);
    t.check(
        is_error(&r, -2),
        "RXTX_MAP of secure RAM: INVALID_PARAMETERS",
        &r,
    );
    let r = call(0xc400_0066, txa, rxa, 1, 0, 0);
    t.check(r[0] == SUCCESS, "RXTX_MAP_64", &r);
    let r = call(0xc400_0066, txa, rxa, 1, 0, 0);
    t.check(is_error(&r, -6), "RXTX_MAP again: DENIED", &r);
    if !v1_0 {
        let r = call(0x8400_0068, 0, 0, 0, 0, 1);
        t.check(
            r[0] == SUCCESS && r[2] == 3,
            "PARTITION_INFO_GET count only: 3",
            &r,
        );
    }
    let r = call(0x8400_0068, 0, 0, 0, 0, 0);
    let stride = if v1_0 { 8 } else { r[3] as usize };
    let ok = r[0] == SUCCESS && r[2] == 3 && stride >= 8;
    let b = rx();
    let entries: [(u16, u16, u32); 3] = core::array::from_fn(|n| {
        (
            le16(b, n * stride),
            le16(b, n * stride + 2),
            le32(b, n * stride + 4),
        )
    });
    t.check(
        ok && entries == [(0x8001, 2, 0x1c3), (0x8002, 1, 0x101), (0xc001, 1, 0x1)],
        "PARTITION_INFO_GET(nil): SP1 (2 contexts), SP2, LSP with their properties",
        &r,
    );
    say!(
        "# descriptor stride {}, first UUID bytes {:02x?}",
        stride,
        &b[8..24]
    );
    if stride > 24 {
        t.check(
            b[24..stride].iter().all(|&x| x == 0xee),
            "bytes past 24 are 0xEE",
            &r,
        );
    }
    let r = call(0x8400_0068, 0, 0, 0, 0, 0);
    t.check(
        is_error(&r, -4),
        "PARTITION_INFO_GET before RX_RELEASE: BUSY",
        &r,
    );
    let r = call(0x8400_0065, 0, 0, 0, 0, 0);
    t.check(r[0] == SUCCESS, "RX_RELEASE", &r);
    let r = call(0x8400_0065, 0, 0, 0, 0, 0);
    t.check(is_error(&r, -6), "RX_RELEASE again: DENIED", &r);
    // SP2's UUID b8a9a1e2-0002-4c52-9d6b-48616c796172 as little-endian words.
    let sp2 = [0xe2a1_a9b8u64, 0x524c_0200, 0x6148_6b9d, 0x7261_796c];
    let r = call(0x8400_0068, sp2[0], sp2[1], sp2[2], sp2[3], 0);
    t.check(
        r[0] == SUCCESS && r[2] == 1 && le16(rx(), 0) == 0x8002,
        "PARTITION_INFO_GET(SP2 UUID)",
        &r,
    );
    call(0x8400_0065, 0, 0, 0, 0, 0);
    let r = call(0x8400_0068, 1, 2, 3, 4, 0);
    t.check(
        is_error(&r, -2),
        "PARTITION_INFO_GET(unknown UUID): INVALID_PARAMETERS",
        &r,
    );
    if !v1_0 {
        let r = smc([0xc400_008b, 0, 0, 0, 0, 0, 0, 0]);
        t.check(
            r[0] == 0xc400_0061
                && r[2] == ((24u64 << 48) | (2u64 << 16) | 2)
                && r[3] == (0x8001u64 | (2u64 << 16) | (0x1c3u64 << 32)),
            "PARTITION_INFO_GET_REGS(nil): 3 partitions, SP1 first",
            &r,
        );
        let r = smc([
            0xc400_008b,
            sp2[0] | sp2[1] << 32,
            sp2[2] | sp2[3] << 32,
            0,
            0,
            0,
            0,
            0,
        ]);
        t.check(
            r[0] == 0xc400_0061 && r[3] & 0xffff == 0x8002,
            "PARTITION_INFO_GET_REGS(SP2 UUID)",
            &r,
        );
    }
    for (id, wide) in [(0x8001u64, false), (0x8002, true), (0xc001, false)] {
        let f = if wide { REQ64 } else { REQ32 };
        let r = smc([f as u64, id, 0, 1, 0, 0x1234_5678, 0, 0]);
        let resp = if wide { RESP64 } else { RESP32 };
        t.check(
            r[0] == resp
                && r[1] == id << 16
                && r[3] == 0
                && r[4] == id
                && r[5] == 0x1234_5678 ^ 0x5a5a_5a5a
                && r[6] == 0
                && r[7] >= 1,
            "direct request PING answered by the partition (context 0)",
            &r,
        );
    }
    let r = smc([REQ32 as u64, 0x8003, 0, 1, 0, 0, 0, 0]);
    t.check(
        is_error(&r, -2),
        "direct request to no partition: INVALID_PARAMETERS",
        &r,
    );
    let r = smc([REQ32 as u64, 0x8000_8001, 0, 1, 0, 0, 0, 0]);
    t.check(
        is_error(&r, -2),
        "direct request from a secure source: INVALID_PARAMETERS",
        &r,
    );
    let r = smc([REQ32 as u64, 0x8001, 0, 9, 0, 0, 0, 0]);
    t.check(
        r[0] == RESP32 && r[3] == 0xffff_ffff,
        "unknown command: w3 = NOT_SUPPORTED",
        &r,
    );
    let r = smc([REQ32 as u64, 0x8001, 1 << 31 | 4, 0, 0, 7, 0, 0]);
    t.check(
        r[0] == RESP32 && r[2] == 1 << 31 | 5 && r[3] == 0,
        "VM created message acknowledged by SP1",
        &r,
    );
    let r = smc([REQ32 as u64, 0x8001, 1 << 31 | 6, 0, 0, 7, 0, 0]);
    t.check(
        r[0] == RESP32 && r[2] == 1 << 31 | 7,
        "VM destroyed message acknowledged by SP1",
        &r,
    );
    let r = smc([REQ32 as u64, 0x8002, 1 << 31 | 4, 0, 0, 7, 0, 0]);
    t.check(
        is_error(&r, -2),
        "VM created to SP2 (no bit 6): INVALID_PARAMETERS",
        &r,
    );
    let r = smc([REQ32 as u64, 0x8001, 0, 3, 0, 0, 0, 0]);
    t.check(
        r[0] == RESP32 && r[4] == 2 && r[5] == (6 << 16 | 7) && r[6] == (4 << 16 | 7),
        "VM_LOG: two messages, newest first",
        &r,
    );
    share_and_checksum(&mut t, 0x8001, &[(0x4100_0000, 2), (0x4110_0000, 1)], 1);
    share_and_checksum(&mut t, 0x8002, &[(0x4120_0000, 4)], 2);
    let len = share_descriptor(0x8001, &[(0x0e00_0000, 1)]) as u64;
    let r = call(0xc400_0073, len, len, 0, 0, 0);
    t.check(
        is_error(&r, -2),
        "MEM_SHARE of secure memory: INVALID_PARAMETERS",
        &r,
    );
    let len = share_descriptor(0xc001, &[(0x4100_0000, 1)]) as u64;
    let r = call(0xc400_0073, len, len, 0, 0, 0);
    t.check(
        is_error(&r, -2),
        "MEM_SHARE to the logical partition: INVALID_PARAMETERS",
        &r,
    );
    let r = call(0x8400_0071, 0, 0, 0, 0, 0);
    t.check(is_error(&r, -1), "MEM_DONATE: NOT_SUPPORTED", &r);
    // SP1 is an MP partition: a request on CPU 1 runs its context 1.
    let r = call(0xc400_0003, 1, secondary_entry as *const () as u64, 0, 0, 0);
    t.check(r[0] == 0, "CPU_ON CPU 1", &r);
    let r = call(0xc400_0003, 1, secondary_entry as *const () as u64, 0, 0, 0);
    t.check(
        r[0] as i64 == -4 || r[0] as i64 == -5,
        "CPU_ON CPU 1 again: ALREADY_ON/ON_PENDING",
        &r,
    );
    let mut spins = 0u64;
    while SECONDARY_PING.load(Ordering::Acquire) == u64::MAX && spins < 200_000_000 {
        spins += 1;
    }
    let served_by = SECONDARY_PING.load(Ordering::Acquire);
    t.check(
        served_by == 1,
        "PING from CPU 1 served by SP1's context 1",
        &[served_by, 0, 0, 0, 0, 0, 0, 0],
    );
    let mut r = [0u64; 8];
    for _ in 0..1_000_000 {
        r = call(0xc400_0004, 1, 0, 0, 0, 0);
        if r[0] == 1 {
            break;
        }
    }
    t.check(
        r[0] == 1,
        "AFFINITY_INFO: CPU 1 off again after CPU_OFF",
        &r,
    );
    let r = call(0x8400_0067, 0, 0, 0, 0, 0);
    t.check(r[0] == SUCCESS, "RXTX_UNMAP", &r);
    say!("1..{}", t.n);
    say!("# {} of {} checks failed", t.failed, t.n);
    call(0x8400_0008, 0, 0, 0, 0, 0);
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    say!("Bail out! {}", info);
    loop {
        core::hint::spin_loop();
    }
}
