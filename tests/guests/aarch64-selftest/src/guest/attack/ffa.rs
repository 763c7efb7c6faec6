//! FF-A abuse through Halyard's mediator: calls out of order (before
//! VERSION, before RXTX_MAP), RX/TX buffers on memory that is not its
//! own, direct requests with spoofed sender IDs or to VMs, shares of
//! memory it does not own and with broken descriptors, reclaims of
//! handles it never got, and IDs only the secure world may use. The
//! answers are FF-A's error codes (FFA_ERROR with w2 = the code).

use super::{Class, Suite, GIC_MMIO};
use crate::guest::calls::ffa_call;
use crate::guest::ffa::abi::*;
use crate::guest::ffa::share::write_descriptor;
use crate::guest::mem::{page_addr, wr32, Page};
use crate::guest::peer_link::shared_info;

pub const CASES: u32 = 19;
const C: Class = Class::Ffa;

/// What `status` gives a call that did not fail.
const NO_ERROR: i32 = 0;
const SP1: u16 = 0x8001;
/// Where dom0's RAM lies on the host (qemu-virt): never ours.
const HOST_DOM0_RAM: u64 = 0x7e00_0000;
/// IDs only the secure world (or the SPMC) uses: MSG_WAIT, RUN,
/// INTERRUPT, DIRECT_RESP_64, MEM_RETRIEVE_REQ_64, MEM_RELINQUISH,
/// SPM_ID_GET, SECONDARY_EP_REGISTER_64.
const SECURE_ONLY: [u32; 8] = [
    0x8400_006b,
    0x8400_006d,
    0x8400_0062,
    0xc400_0070,
    0xc400_0074,
    0x8400_0076,
    0x8400_0085,
    0xc400_0087,
];

static mut TX: Page = Page::new();
static mut RX: Page = Page::new();
static mut OWN: Page = Page::new();

fn status(r: &Regs) -> i32 {
    error(r).unwrap_or(NO_ERROR)
}

/// MEM_SHARE of the descriptor at TX (total = fragment = `len`).
fn share(len: u64) -> Regs {
    call(MEM_SHARE_64, &[len, len, 0, 0])
}

pub fn run(s: &mut Suite) {
    let (tx, rx) = (page_addr(&raw mut TX), page_addr(&raw mut RX));
    let own = page_addr(&raw mut OWN);
    let early = [
        call(ID_GET, &[]),
        call(RXTX_MAP_64, &[tx, rx, 1]),
        call(PARTITION_INFO_GET, &[0; 5]),
    ];
    let codes = early.map(|r| status(&r));
    s.case(
        C,
        codes == [NOT_SUPPORTED; 3],
        "ffa id_get, rxtx_map, partition_info_get before FFA_VERSION: NOT_SUPPORTED",
        format_args!("{codes:?}"),
    );
    let bad = call(VERSION, &[0x8001_0001])[0] as i64;
    let major2 = call(VERSION, &[0x2_0000])[0];
    let still = status(&call(ID_GET, &[]));
    s.case(
        C,
        bad == -1 && major2 == u64::from(V1_2) && still == NOT_SUPPORTED,
        "ffa version with bit 31 set: NOT_SUPPORTED; version 2.0 answered 1.2 but negotiates nothing (id_get still NOT_SUPPORTED)",
        format_args!("{bad}, {major2:#x}, {still}"),
    );
    let v = call(VERSION, &[u64::from(V1_1)])[0];
    let id = call(ID_GET, &[]);
    let me = id[2] as u16;
    // FF-A VM IDs are domain id + 1; the victim's is its id + 1.
    let victim = s.peer + 1;
    s.case(
        C,
        v == u64::from(V1_2) && ok(&id) && me != victim && me != 0 && me & 0x8000 == 0,
        "ffa version 1.1: 1.2; id_get: its own VM ID, not the victim's",
        format_args!("{v:#x}, id {me:#x}, victim {victim:#x}"),
    );
    let r = [
        call(RX_RELEASE, &[]),
        call(RXTX_UNMAP, &[0]),
        call(PARTITION_INFO_GET, &[0; 5]),
        call(MEM_SHARE_64, &[64, 64, 0, 0]),
    ];
    let codes = r.map(|r| status(&r));
    s.case(
        C,
        codes == [DENIED, INVALID_PARAMETERS, DENIED, DENIED],
        "ffa before rxtx_map: rx_release DENIED, rxtx_unmap INVALID_PARAMETERS, partition_info_get DENIED, mem_share DENIED",
        format_args!("{codes:?}"),
    );
    let targets = [GIC_MMIO, s.ram_end, HOST_DOM0_RAM, 0, !0xfff];
    let codes = targets.map(|t| status(&call(RXTX_MAP_64, &[t, rx, 1])));
    s.case(
        C,
        codes == [INVALID_PARAMETERS; 5],
        "ffa rxtx_map of a TX buffer on MMIO, past RAM, on dom0's RAM, at 0, at the top: INVALID_PARAMETERS",
        format_args!("{codes:?}"),
    );
    let codes = [
        status(&call(RXTX_MAP_64, &[tx + 8, rx, 1])),
        status(&call(RXTX_MAP_64, &[tx, rx + 0x800, 1])),
        status(&call(RXTX_MAP_64, &[tx, tx, 1])),
        status(&call(RXTX_MAP_64, &[tx, rx, 0])),
        status(&call(RXTX_MAP_64, &[tx, rx, 2])),
        status(&call(RXTX_MAP_64, &[tx, rx, u64::MAX])),
    ];
    s.case(
        C,
        codes == [INVALID_PARAMETERS; 6],
        "ffa rxtx_map unaligned, one page twice, 0, 2, 2^64 - 1 pages: INVALID_PARAMETERS",
        format_args!("{codes:?}"),
    );
    let (m1, m2) = (
        call(RXTX_MAP_64, &[tx, rx, 1]),
        call(RXTX_MAP_64, &[own, rx, 1]),
    );
    let spoof_unmap = status(&call(RXTX_UNMAP, &[u64::from(victim) << 16]));
    s.case(
        C,
        ok(&m1) && status(&m2) == DENIED && spoof_unmap == INVALID_PARAMETERS,
        "ffa rxtx_map of its own pages: SUCCESS; again: DENIED; rxtx_unmap naming the victim: INVALID_PARAMETERS",
        format_args!("{}, {}, {spoof_unmap}", Outcome(m1), Outcome(m2)),
    );
    direct(s, me, victim);
    shares(s, me, victim, tx, own);
    let (none, codes) = secure_only();
    s.case(
        C,
        none,
        "ffa IDs only the secure world uses (msg_wait, run, interrupt, direct_resp, retrieve, relinquish, spm_id_get, secondary_ep): NOT_SUPPORTED",
        format_args!("{codes:?}"),
    );
    let codes = [0x8400_0071u32, 0xdead_beef, 0x8400_0085]
        .map(|f| status(&call(FEATURES, &[u64::from(f)])));
    s.case(
        C,
        codes == [NOT_SUPPORTED; 3],
        "ffa features of unknown and secure-only IDs: NOT_SUPPORTED",
        format_args!("{codes:?}"),
    );
}

fn secure_only() -> (bool, [i32; 8]) {
    let codes = SECURE_ONLY.map(|f| {
        let mut x = [0u64; 18];
        x[0] = u64::from(f);
        status(&ffa_call(x))
    });
    (codes == [NOT_SUPPORTED; 8], codes)
}

/// A direct request to `dst` naming `src` as the sender.
fn direct_req(src: u16, dst: u16, w2: u64) -> Regs {
    let w1 = u64::from(src) << 16 | u64::from(dst);
    call(DIRECT_REQ_64, &[w1, w2, CMD_PING, 0, 1, 0, 0])
}

fn direct(s: &mut Suite, me: u16, victim: u16) {
    let codes = [
        status(&direct_req(victim, SP1, 0)),
        status(&direct_req(0, SP1, 0)),
        status(&direct_req(SP1, SP1, 0)),
        status(&direct_req(1, SP1, 0)),
    ];
    s.case(
        C,
        codes == [INVALID_PARAMETERS; 4],
        "ffa direct requests as the victim, the hypervisor, a partition, dom0: INVALID_PARAMETERS",
        format_args!("{codes:?}"),
    );
    let codes = [
        status(&direct_req(me, victim, 0)),
        status(&direct_req(me, 1, 0)),
        status(&direct_req(me, me, 0)),
    ];
    s.case(
        C,
        codes == [NOT_SUPPORTED; 3],
        "ffa direct requests to the victim's VM, dom0's, its own: NOT_SUPPORTED (no VM-to-VM messages)",
        format_args!("{codes:?}"),
    );
    let w1_junk = (0xffu64 << 32) | u64::from(me) << 16 | u64::from(SP1);
    let codes = [
        status(&direct_req(me, 0x8077, 0)),
        status(&direct_req(me, SP1, 0x8000_0004)),
        status(&call(DIRECT_REQ_64, &[w1_junk, 0, CMD_PING, 0, 1, 0, 0])),
    ];
    s.case(
        C,
        codes == [INVALID_PARAMETERS; 3],
        "ffa direct requests to no partition, forging a VM-created message, junk in w1: INVALID_PARAMETERS",
        format_args!("{codes:?}"),
    );
    let mut refused = 0;
    for _ in 0..1000 {
        if status(&direct_req(victim, SP1, 0)) == INVALID_PARAMETERS {
            refused += 1;
        }
    }
    s.case(
        C,
        refused == 1000,
        "ffa 1000 direct requests spoofing the victim's ID: each INVALID_PARAMETERS",
        format_args!("{refused} of 1000"),
    );
}

fn shares(s: &mut Suite, me: u16, victim: u16, tx: u64, own: u64) {
    let foreign = [GIC_MMIO, s.ram_end, HOST_DOM0_RAM];
    let codes = foreign.map(|at| status(&share(write_descriptor(tx, false, me, SP1, &[(at, 1)]))));
    s.case(
        C,
        codes == [INVALID_PARAMETERS; 3],
        "ffa mem_share of MMIO, memory past its RAM, dom0's RAM: INVALID_PARAMETERS",
        format_args!("{codes:?}"),
    );
    let codes = [
        status(&share(write_descriptor(
            tx,
            false,
            victim,
            SP1,
            &[(own, 1)],
        ))),
        status(&share(write_descriptor(tx, false, me, victim, &[(own, 1)]))),
        status(&share(write_descriptor(tx, false, me, 0x8077, &[(own, 1)]))),
    ];
    s.case(
        C,
        codes == [INVALID_PARAMETERS; 3],
        "ffa mem_share as the victim, to the victim, to no partition: INVALID_PARAMETERS",
        format_args!("{codes:?}"),
    );
    // Pages the hypervisor uses: its TX buffer and its shared_info.
    let codes = [tx, shared_info()]
        .map(|p| status(&share(write_descriptor(tx, false, me, SP1, &[(p, 1)]))));
    s.case(
        C,
        codes == [DENIED; 2],
        "ffa mem_share of its own TX buffer and of its shared_info page: DENIED",
        format_args!("{codes:?}"),
    );
    let n = write_descriptor(tx, false, me, SP1, &[(own, 1)]);
    let codes = [
        status(&share(0)),
        status(&share(4097)),
        status(&call(MEM_SHARE_64, &[n + 16, n, 0, 0])),
        status(&call(MEM_SHARE_64, &[n, n, own, 1])),
    ];
    s.case(
        C,
        codes == [INVALID_PARAMETERS, INVALID_PARAMETERS, NOT_SUPPORTED, INVALID_PARAMETERS],
        "ffa mem_share of 0 or 4097 bytes: INVALID_PARAMETERS; fragmented: NOT_SUPPORTED; descriptor outside TX: INVALID_PARAMETERS",
        format_args!("{codes:?}"),
    );
    // Broken descriptors: two overlapping ranges, a range of 0 pages, an
    // unaligned range, a composite offset past the end, a handle chosen
    // by the sender.
    let mut codes = [0; 5];
    let bad: [&dyn Fn() -> u64; 5] = [
        &|| write_descriptor(tx, false, me, SP1, &[(own, 1), (own, 1)]),
        &|| write_descriptor(tx, false, me, SP1, &[(own, 0)]),
        &|| write_descriptor(tx, false, me, SP1, &[(own + 8, 1)]),
        &|| {
            let n = write_descriptor(tx, false, me, SP1, &[(own, 1)]);
            wr32(tx + 48 + 4, 4000);
            n
        },
        &|| {
            let n = write_descriptor(tx, false, me, SP1, &[(own, 1)]);
            wr32(tx + 8, 0x1234);
            n
        },
    ];
    for (c, make) in codes.iter_mut().zip(bad) {
        *c = status(&share(make()));
    }
    s.case(
        C,
        codes == [INVALID_PARAMETERS; 5],
        "ffa mem_share descriptors with overlapping, empty, unaligned ranges, a bad offset, a chosen handle: INVALID_PARAMETERS",
        format_args!("{codes:?}"),
    );
    let codes = [
        status(&call(MEM_RECLAIM, &[0x1234, 0, 0])),
        status(&call(MEM_RECLAIM, &[0xffff_ffff, 0xffff_ffff, 0])),
    ];
    let r = share(write_descriptor(tx, false, me, SP1, &[(own, 1)]));
    let handle = (r[2] & 0xffff_ffff) | r[3] << 32;
    let reclaim = |h: u64| call(MEM_RECLAIM, &[h & 0xffff_ffff, h >> 32, 0]);
    let (r1, r2) = (reclaim(handle), reclaim(handle));
    s.case(
        C,
        codes == [INVALID_PARAMETERS; 2] && ok(&r) && ok(&r1) && status(&r2) == INVALID_PARAMETERS,
        "ffa mem_reclaim of handles it never got: INVALID_PARAMETERS; its own share reclaimed once, then INVALID_PARAMETERS",
        format_args!("{codes:?}; share {}, {}, {}", Outcome(r), Outcome(r1), Outcome(r2)),
    );
}
