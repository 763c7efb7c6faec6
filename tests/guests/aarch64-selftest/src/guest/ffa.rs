//! The FF-A client personality (`selftest.ffa=1.0|1.1|1.2` on the command
//! line): negotiates that version with the hypervisor's mediator, lists
//! the secure partitions every way the version allows, talks to each,
//! shares a buffer with one, and tries what a hostile guest would. One
//! TAP line per check; the plan comes last.

pub mod abi;
pub mod share;

use core::fmt::Write;

use abi::*;

use super::mem::{page_addr, rd32_bytes, rd8, wr8, Page};
use super::Tap;

static mut TX: Page = Page::new();
static mut RX: Page = Page::new();
static mut SHARED: Page2 = Page2([Page::new(), Page::new()]);

/// Two contiguous pages.
#[repr(C, align(4096))]
struct Page2([Page; 2]);

const GIC_MMIO: u64 = 0x0800_0000;

/// The partitions one listing returned: (id, contexts, properties).
struct Listing {
    count: usize,
    size: usize,
    entries: [(u16, u16, u32); 16],
}

/// Descriptors may be any size from 24 bytes (FF-A lets them grow), so
/// they are read byte by byte: with the MMU off, memory is Device-typed and
/// an unaligned load faults.
fn rd16_bytes(a: u64) -> u16 {
    u16::from(rd8(a)) | u16::from(rd8(a + 1)) << 8
}

fn list(rx: u64, r: &Regs, stride: usize) -> Listing {
    let mut l = Listing {
        count: r[2] as usize,
        size: r[3] as usize,
        entries: [(0, 0, 0); 16],
    };
    for i in 0..l.count.min(16) {
        let d = rx + (i * stride) as u64;
        l.entries[i] = (rd16_bytes(d), rd16_bytes(d + 2), rd32_bytes(d + 4));
    }
    l
}

fn has(l: &Listing, id: u16) -> bool {
    l.entries[..l.count.min(16)].iter().any(|e| e.0 == id)
}

pub fn run(tap: &mut Tap, ask: u32, ram_end: u64) {
    let (tx, rx) = (page_addr(&raw mut TX), page_addr(&raw mut RX));
    let minor = ask & 0xffff;

    let r1 = call(ID_GET, &[]);
    let r2 = call(PARTITION_INFO_GET, &[0; 5]);
    tap.check(
        error(&r1) == Some(NOT_SUPPORTED) && error(&r2) == Some(NOT_SUPPORTED),
        "ffa calls before FFA_VERSION get NOT_SUPPORTED",
        format_args!("id_get {}, partition_info_get {}", Outcome(r1), Outcome(r2)),
    );

    let v = call(VERSION, &[u64::from(ask)])[0];
    tap.check(
        v == u64::from(V1_2),
        "ffa version: the mediator answers 1.2",
        format_args!("asked 1.{minor}, got {v:#x}"),
    );

    let r = call(ID_GET, &[]);
    let me = r[2] as u16;
    tap.check(
        ok(&r) && me != 0 && me & 0x8000 == 0,
        "ffa id_get: a VM id (not 0, bit 15 clear)",
        format_args!("id {me:#x}"),
    );

    let f = |id: u32| ok(&call(FEATURES, &[u64::from(id)]));
    let regs_ok = f(PARTITION_INFO_GET_REGS) == (ask >= V1_2);
    let share_ok = f(MEM_SHARE_64);
    tap.check(
        f(PARTITION_INFO_GET)
            && f(DIRECT_REQ_64)
            && f(RX_RELEASE)
            && regs_ok
            && share_ok
            && !f(0x8400_0071),
        "ffa features: what this version may use",
        format_args!(
            "get_regs {}, mem_share {}",
            f(PARTITION_INFO_GET_REGS),
            f(MEM_SHARE_64)
        ),
    );

    let r = call(PARTITION_INFO_GET, &[0; 5]);
    tap.check(
        error(&r) == Some(DENIED),
        "ffa partition_info_get without rx/tx: DENIED",
        format_args!("{}", Outcome(r)),
    );

    let bad = [
        call(RXTX_MAP_64, &[GIC_MMIO, rx, 1]),
        call(RXTX_MAP_64, &[ram_end, rx, 1]),
        call(RXTX_MAP_64, &[0x7e00_0000, rx, 1]),
        call(RXTX_MAP_64, &[tx + 8, rx, 1]),
        call(RXTX_MAP_64, &[tx, tx, 1]),
        call(RXTX_MAP_64, &[tx, rx, 2]),
    ];
    tap.check(
        bad.iter().all(|r| error(r) == Some(INVALID_PARAMETERS)),
        "ffa rxtx_map on MMIO, past RAM, another domain's RAM, unaligned, one page twice, 2 pages: INVALID_PARAMETERS",
        format_args!("{} {} {} {} {} {}", Outcome(bad[0]), Outcome(bad[1]), Outcome(bad[2]), Outcome(bad[3]), Outcome(bad[4]), Outcome(bad[5])),
    );

    let r1 = call(RXTX_MAP_64, &[tx, rx, 1]);
    let r2 = call(RXTX_MAP_64, &[tx, rx, 1]);
    tap.check(
        ok(&r1) && error(&r2) == Some(DENIED),
        "ffa rxtx_map of two own pages: SUCCESS, again: DENIED",
        format_args!("{}, {}", Outcome(r1), Outcome(r2)),
    );

    // All partitions.
    let stride_of = |r: &Regs| if ask == V1_0 { 8 } else { r[3] as usize };
    let r = call(PARTITION_INFO_GET, &[0; 5]);
    let l = list(rx, &r, stride_of(&r).max(8));
    let sps = [0x8001u16, 0x8002, 0xc001];
    let own = has(&l, me);
    let size_ok = if ask == V1_0 {
        l.size == 0
    } else {
        l.size >= 24
    };
    let _ = write!(tap.out, "# partitions:");
    for e in &l.entries[..l.count.min(16)] {
        let _ = write!(tap.out, " {:#06x}/{}/{:#x}", e.0, e.1, e.2);
    }
    let _ = writeln!(tap.out);
    tap.check(
        ok(&r) && sps.iter().all(|&id| has(&l, id)) && own == (ask >= V1_2) && size_ok,
        "ffa partition_info_get: the test partitions, and itself only from v1.2",
        format_args!("{} entries of {} bytes, own entry {own}", l.count, l.size),
    );

    let r1 = call(PARTITION_INFO_GET, &[0; 5]);
    let r2 = call(RX_RELEASE, &[]);
    let r3 = call(RX_RELEASE, &[]);
    tap.check(
        error(&r1) == Some(BUSY) && ok(&r2) && error(&r3) == Some(DENIED),
        "ffa partition_info_get while holding rx: BUSY; rx_release: SUCCESS, again: DENIED",
        format_args!("{}, {}, {}", Outcome(r1), Outcome(r2), Outcome(r3)),
    );

    by_uuid(tap, ask, rx, &l);
    count_only(tap, ask, &l);
    get_regs(tap, ask, l.count);
    direct(tap, me, &l);
    shares(tap, ask, me, tx, ram_end);
    held_share(tap, ask, me, tx);
    bench(tap, ask, l.count);

    let r1 = call(RXTX_UNMAP, &[0]);
    let r2 = call(PARTITION_INFO_GET, &[0; 5]);
    tap.check(
        ok(&r1) && error(&r2) == Some(DENIED),
        "ffa rxtx_unmap: SUCCESS; partition_info_get after it: DENIED",
        format_args!("{}, {}", Outcome(r1), Outcome(r2)),
    );
}

/// `selftest.ffa=off`: the hypervisor has no FF-A (no SPMC, or one it
/// refused): every FF-A call is an unknown SMCCC function (x0 = -1).
pub fn absent(tap: &mut Tap) {
    let calls = [
        call(VERSION, &[u64::from(V1_1)]),
        call(ID_GET, &[]),
        call(
            RXTX_MAP_64,
            &[page_addr(&raw mut TX), page_addr(&raw mut RX), 1],
        ),
        call(PARTITION_INFO_GET, &[0; 5]),
        call(DIRECT_REQ_64, &[0x8001, 0, CMD_PING]),
    ];
    tap.check(
        calls.iter().all(|r| r[0] as i64 == -1),
        "ffa without an SPMC the mediator accepts: version, id_get, rxtx_map, partition_info_get, direct_req return -1",
        format_args!("{:#x} {:#x} {:#x} {:#x} {:#x}", calls[0][0], calls[1][0], calls[2][0], calls[3][0], calls[4][0]),
    );
}

/// Each partition by its UUID (taken from a v1.1 listing).
fn by_uuid(tap: &mut Tap, ask: u32, rx: u64, all: &Listing) {
    if ask == V1_0 {
        tap.skip(
            "ffa partition_info_get by UUID",
            "v1.0 descriptors carry no UUID",
        );
        return;
    }
    let stride = all.size;
    let r = call(PARTITION_INFO_GET, &[0; 5]);
    let mut uuids = [[0u64; 4]; 16];
    let n = (r[2] as usize).min(16);
    for (i, u) in uuids.iter_mut().enumerate().take(n) {
        for (w, word) in u.iter_mut().enumerate() {
            *word = u64::from(rd32_bytes(rx + (i * stride + 8 + 4 * w) as u64));
        }
    }
    call(RX_RELEASE, &[]);
    let mut good = 0;
    for (i, u) in uuids.iter().enumerate().take(n) {
        if u.iter().all(|&w| w == 0) {
            good += 1; // a VM's own entry has no UUID
            continue;
        }
        let r = call(PARTITION_INFO_GET, &[u[0], u[1], u[2], u[3], 0]);
        let id = rd16_bytes(rx);
        let nil = (8..24).all(|b| rd8(rx + b) == 0);
        if ok(&r) && r[2] >= 1 && id == all.entries[i].0 && nil {
            good += 1;
        }
        call(RX_RELEASE, &[]);
    }
    let r = call(PARTITION_INFO_GET, &[0x1234_5678, 9, 9, 9, 0]);
    tap.check(
        good == n && error(&r) == Some(INVALID_PARAMETERS),
        "ffa partition_info_get by each UUID: its entry with a nil UUID field; unknown UUID: INVALID_PARAMETERS",
        format_args!("{good} of {n}; unknown {}", Outcome(r)),
    );
}

fn count_only(tap: &mut Tap, ask: u32, all: &Listing) {
    let r = call(PARTITION_INFO_GET, &[0, 0, 0, 0, 1]);
    if ask == V1_0 {
        tap.check(
            error(&r) == Some(INVALID_PARAMETERS),
            "ffa partition_info_get count-only from a v1.0 caller: INVALID_PARAMETERS",
            format_args!("{}", Outcome(r)),
        );
        return;
    }
    // Count-only does not take the RX buffer: a full call right after works.
    let r2 = call(PARTITION_INFO_GET, &[0; 5]);
    call(RX_RELEASE, &[]);
    tap.check(
        ok(&r) && r[2] as usize == all.count && ok(&r2),
        "ffa partition_info_get count-only: the same count, rx not taken",
        format_args!("{} ({})", r[2], Outcome(r2)),
    );
}

fn get_regs(tap: &mut Tap, ask: u32, count: usize) {
    let r = call(PARTITION_INFO_GET_REGS, &[0, 0, 0]);
    if ask < V1_2 {
        tap.check(
            error(&r) == Some(NOT_SUPPORTED),
            "ffa partition_info_get_regs below v1.2: NOT_SUPPORTED",
            format_args!("{}", Outcome(r)),
        );
        return;
    }
    let total = (r[2] & 0xffff) as usize + 1;
    let first = r[3] as u16;
    tap.check(
        r[0] as u32 == SUCCESS_64 && total == count && r[2] >> 48 == 24 && first == 0x8001,
        "ffa partition_info_get_regs: the same partitions in registers",
        format_args!("{total} entries, first {first:#x}"),
    );
}

/// A partition with one execution context (0x8002) answers BUSY while it
/// serves another CPU: the caller tries again, as FF-A intends.
fn ping(fid: u32, me: u16, id: u16, x: u64) -> Regs {
    let w1 = u64::from(me) << 16 | u64::from(id);
    let mut r = call(fid, &[w1, 0, CMD_PING, 0, x, 0, 0]);
    for _ in 0..1000 {
        if error(&r) != Some(BUSY) {
            break;
        }
        r = call(fid, &[w1, 0, CMD_PING, 0, x, 0, 0]);
    }
    r
}

fn direct(tap: &mut Tap, me: u16, l: &Listing) {
    let mut answered = 0;
    let mut asked = 0;
    let mut first_bad = (0u16, 0u64, 0u64);
    for &(id, _, props) in &l.entries[..l.count.min(16)] {
        if id & 0x8000 == 0 || props & 1 == 0 {
            continue;
        }
        for (fid, resp) in [
            (DIRECT_REQ_32, DIRECT_RESP_32),
            (DIRECT_REQ_64, DIRECT_RESP_64),
        ] {
            asked += 1;
            let r = ping(fid, me, id, 0x1234_5678);
            let swapped = u64::from(id) << 16 | u64::from(me);
            if r[0] as u32 == resp
                && r[1] & 0xffff_ffff == swapped
                && r[3] as u32 == 0
                && r[4] as u16 == id
                && r[5] & 0xffff_ffff == 0x1234_5678 ^ PING_XOR
            {
                answered += 1;
            } else if first_bad.0 == 0 {
                first_bad = (id, r[0], r[2]);
            }
        }
    }
    tap.check(
        answered == asked && asked >= 6,
        "ffa direct requests (32 and 64) to each partition: each answers",
        format_args!(
            "{answered} of {asked}; first unanswered {:#x}: x0 {:#x} x2 {:#x}",
            first_bad.0, first_bad.1, first_bad.2
        ),
    );

    let spoofed = ping(DIRECT_REQ_64, me.wrapping_add(1), 0x8001, 1);
    let hv = ping(DIRECT_REQ_64, 0, 0x8001, 1);
    let to_vm = ping(DIRECT_REQ_64, me, me, 1);
    let nobody = ping(DIRECT_REQ_64, me, 0x8077, 1);
    let forged = call(
        DIRECT_REQ_32,
        &[u64::from(me) << 16 | 0x8001, 0x8000_0004, 0, 0, 0x99],
    );
    tap.check(
        error(&spoofed) == Some(INVALID_PARAMETERS)
            && error(&hv) == Some(INVALID_PARAMETERS)
            && error(&to_vm) == Some(NOT_SUPPORTED)
            && error(&nobody) == Some(INVALID_PARAMETERS)
            && error(&forged) == Some(INVALID_PARAMETERS),
        "ffa direct requests with another source, to a VM, to no partition, or a forged VM-created message: refused",
        format_args!("{} {} {} {} {}", Outcome(spoofed), Outcome(hv), Outcome(to_vm), Outcome(nobody), Outcome(forged)),
    );
}

fn shares(tap: &mut Tap, ask: u32, me: u16, tx: u64, ram_end: u64) {
    let buf = (&raw mut SHARED) as u64;
    let v1_0 = ask == V1_0;
    for i in 0..8192u64 {
        wr8(buf + i, (i * 7 + 3) as u8);
    }
    let want = share::fnv1a(buf, 8192);
    let n = share::write_descriptor(tx, v1_0, me, 0x8001, &[(buf, 2)]);
    let r = call(MEM_SHARE_64, &[n, n, 0, 0]);
    let handle = (r[2] & 0xffff_ffff) | r[3] << 32;
    let c = call(
        DIRECT_REQ_64,
        &[
            u64::from(me) << 16 | 0x8001,
            0,
            CMD_CHECKSUM,
            handle & 0xffff_ffff,
            handle >> 32,
            0,
            0,
        ],
    );
    let again = {
        let n = share::write_descriptor(tx, v1_0, me, 0x8002, &[(buf + 4096, 1)]);
        call(MEM_SHARE_64, &[n, n, 0, 0])
    };
    let rc = call(MEM_RECLAIM, &[handle & 0xffff_ffff, handle >> 32, 0]);
    let rc2 = call(MEM_RECLAIM, &[handle & 0xffff_ffff, handle >> 32, 0]);
    tap.check(
        ok(&r) && c[3] as u32 == 0 && c[4] as u32 == want && c[5] == 8192 && error(&again) == Some(DENIED) && ok(&rc) && error(&rc2) == Some(INVALID_PARAMETERS),
        "ffa mem_share of 2 pages to 0x8001: its checksum matches; sharing a page again: DENIED; reclaim: SUCCESS, again: INVALID_PARAMETERS",
        format_args!("handle {handle:#x}, fnv {:#x} want {want:#x}, {} bytes; {} {} {}", c[4] as u32, c[5], Outcome(again), Outcome(rc), Outcome(rc2)),
    );
    let mut refused = 0;
    let cases: [(u16, u16, u64); 4] = [
        (me, 0x8001, GIC_MMIO),
        (me, 0x8001, ram_end),
        (me.wrapping_add(1), 0x8001, buf),
        (me, me, buf),
    ];
    for (sender, receiver, at) in cases {
        let n = share::write_descriptor(tx, v1_0, sender, receiver, &[(at, 1)]);
        if error(&call(MEM_SHARE_64, &[n, n, 0, 0])) == Some(INVALID_PARAMETERS) {
            refused += 1;
        }
    }
    tap.check(
        refused == cases.len(),
        "ffa mem_share of MMIO, of memory past its RAM, as another sender, to a VM: INVALID_PARAMETERS",
        format_args!("{refused} of {}", cases.len()),
    );
}

/// A share the partition keeps (it retrieved it and has not relinquished
/// it): the owner's reclaim is DENIED until the partition lets go. The
/// v1.2 client leaves one held when it powers off, for the hypervisor's
/// teardown: its reclaim is DENIED too, until the partition, told the VM
/// is destroyed, lets go (the suite case reads both logs).
fn held_share(tap: &mut Tap, ask: u32, me: u16, tx: u64) {
    let page = (&raw mut SHARED) as u64 + 4096;
    let share_page = || {
        let n = share::write_descriptor(tx, ask == V1_0, me, 0x8001, &[(page, 1)]);
        let r = call(MEM_SHARE_64, &[n, n, 0, 0]);
        (r, (r[2] & 0xffff_ffff) | r[3] << 32)
    };
    let to_sp1 = |cmd: u64, handle: u64| {
        let w1 = u64::from(me) << 16 | 0x8001;
        call(
            DIRECT_REQ_64,
            &[w1, 0, cmd, handle & 0xffff_ffff, handle >> 32, 0, 0],
        )[3] as u32
    };
    let reclaim = |handle: u64| call(MEM_RECLAIM, &[handle & 0xffff_ffff, handle >> 32, 0]);
    let (r, handle) = share_page();
    let hold = to_sp1(CMD_HOLD, handle);
    let denied = reclaim(handle);
    let release = to_sp1(CMD_RELEASE, handle);
    let reclaimed = reclaim(handle);
    let left = if ask == V1_2 {
        let (r2, h2) = share_page();
        ok(&r2) && to_sp1(CMD_HOLD, h2) == 0
    } else {
        true
    };
    tap.check(
        ok(&r)
            && hold == 0
            && error(&denied) == Some(DENIED)
            && release == 0
            && ok(&reclaimed)
            && left,
        "ffa mem_share held by the partition: reclaim DENIED until it lets go, then SUCCESS",
        format_args!(
            "hold {hold:#x}, {}, release {release:#x}, {}{}",
            Outcome(denied),
            Outcome(reclaimed),
            if ask == V1_2 {
                "; one left held for teardown"
            } else {
                ""
            }
        ),
    );
}

/// Many queries, all answered by the mediator (the firmware's count of
/// PARTITION_INFO_GET stays at the mediator's one call at init).
fn bench(tap: &mut Tap, ask: u32, count: usize) {
    const N: usize = 1000;
    let mut t = [0u64; N];
    let mut good = 0;
    for slot in t.iter_mut() {
        let t0 = super::mem::ticks();
        let r = call(PARTITION_INFO_GET, &[0; 5]);
        *slot = super::mem::ticks() - t0;
        call(RX_RELEASE, &[]);
        if ok(&r) && r[2] as usize == count {
            good += 1;
        }
    }
    t.sort_unstable();
    let _ = writeln!(
        tap.out,
        "# bench: ffa partition_info_get (v1.{}): median {} ticks, min {}, p10 {}, p90 {} ({N} calls, CNTFRQ {} Hz)",
        ask & 0xffff,
        t[N / 2],
        t[0],
        t[N / 10],
        t[N * 9 / 10],
        super::mem::ticks_per_second()
    );
    tap.check(
        good == N,
        "ffa 1000 partition_info_get calls: all answered",
        format_args!("{good} of {N}"),
    );
}
