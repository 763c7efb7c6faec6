//! vCPU 1 as a running target: started with PSCI CPU_ON into a worker loop
//! that spins (so it is RUNNING when vCPU 0 registers its vcpu_info) and
//! carries out commands from vCPU 0 through a mailbox of plain statics.
//! Each static has one writer; `dmb` orders data before the flag that
//! publishes it (no atomics: memory is Device-typed with the MMU off).

use core::ptr::addr_of_mut;

use super::abi::*;
use super::areas::{clear_upcall, register, Sel};
use super::evtchn::{bind_ipi, clear_pending, pending_word, sel_bit, send, status};
use super::{scratch, shared_b, vcpu_info, vcpu_info_page, Ctx, Tap};
use crate::guest::calls::{smccc_hvc, smccc_hvc_args};
use crate::guest::mem::{dmb, fill, rd64, rd8, ticks, wait_for, wr64};
use crate::guest::{secondary_stack_top, start, PSCI_AFFINITY_INFO, PSCI_CPU_OFF, PSCI_CPU_ON};

pub const CHECKS: u32 = 4;
/// Sends timed by the event benchmark.
pub const BENCH_SENDS: usize = 200;

const MODE_WORKER: u64 = 0x5752_4b52;
const CMD_WATCH: u64 = 1;
const CMD_BENCH: u64 = 2;
const CMD_OFF: u64 = 3;

// Written by vCPU 0.
/// `MODE_WORKER`: vCPU 1 runs `worker` instead of the PSCI check's body.
static mut MODE: u64 = 0;
static mut CMD: u64 = 0;
/// Bumped (after CMD and PARAM) to post a command.
static mut SEQ: u64 = 0;
/// shared_info's address, the port, the number of benchmark sends.
static mut PARAM: [u64; 3] = [0; 3];
// Written by vCPU 1.
static mut ALIVE: u64 = 0;
/// Counts worker loop turns: proves vCPU 1 is running.
static mut HEARTBEAT: u64 = 0;
/// The SEQ of the last command carried out (after RESULT).
static mut ACK: u64 = 0;
/// WATCH: upcall seen, pending_sel, the port's pending word.
static mut RESULT: [u64; 3] = [0; 3];
/// BENCH: sends seen so far, and the counter when each was seen.
static mut BENCH_DONE: u64 = 0;
static mut BENCH_SEEN: [u64; BENCH_SENDS] = [0; BENCH_SENDS];

fn at(p: *mut u64) -> u64 {
    p as u64
}
fn param(i: usize) -> u64 {
    at(addr_of_mut!(PARAM).cast::<u64>()) + 8 * i as u64
}
fn result(i: usize) -> u64 {
    at(addr_of_mut!(RESULT).cast::<u64>()) + 8 * i as u64
}

pub fn worker_requested() -> bool {
    rd64(at(addr_of_mut!(MODE))) == MODE_WORKER
}

/// vCPU 1's body in worker mode.
pub fn worker() -> ! {
    let mut done = rd64(at(addr_of_mut!(SEQ)));
    dmb();
    wr64(at(addr_of_mut!(ALIVE)), 1);
    let mut beat = 0u64;
    loop {
        let seq = rd64(at(addr_of_mut!(SEQ)));
        if seq == done {
            beat += 1;
            wr64(at(addr_of_mut!(HEARTBEAT)), beat);
            continue;
        }
        dmb();
        match rd64(at(addr_of_mut!(CMD))) {
            CMD_WATCH => watch_here(),
            CMD_BENCH => bench_here(),
            CMD_OFF => {
                dmb();
                wr64(at(addr_of_mut!(ACK)), seq);
                dmb();
                smccc_hvc(PSCI_CPU_OFF);
            }
            _ => {}
        }
        dmb();
        wr64(at(addr_of_mut!(ACK)), seq);
        done = seq;
    }
}

/// On vCPU 1: wait for an upcall in its own area, report what it shows.
fn watch_here() {
    let (area, si, port) = (vcpu_info(1), rd64(param(0)), rd64(param(1)) as u32);
    let seen = wait_for(1000, || rd8(area + VI_UPCALL_PENDING) == 1);
    wr64(result(0), seen as u64);
    wr64(result(1), rd64(area + VI_PENDING_SEL));
    wr64(result(2), rd64(pending_word(si, port)));
}

/// On vCPU 1: for each benchmark send, note when the upcall shows, then
/// acknowledge it (pending bit, pending_sel, upcall) and say so.
fn bench_here() {
    let (area, si, port) = (vcpu_info(1), rd64(param(0)), rd64(param(1)) as u32);
    let seen = at(addr_of_mut!(BENCH_SEEN).cast::<u64>());
    for i in 0..rd64(param(2)).min(BENCH_SENDS as u64) {
        if !wait_for(1000, || rd8(area + VI_UPCALL_PENDING) == 1) {
            return;
        }
        wr64(seen + 8 * i, ticks());
        clear_pending(si, port);
        clear_upcall(area);
        dmb();
        wr64(at(addr_of_mut!(BENCH_DONE)), i + 1);
    }
}

/// On vCPU 0: post a command (PARAM already written).
fn post(cmd: u64) -> u64 {
    let seq = rd64(at(addr_of_mut!(SEQ))) + 1;
    wr64(at(addr_of_mut!(CMD)), cmd);
    dmb();
    wr64(at(addr_of_mut!(SEQ)), seq);
    seq
}

/// On vCPU 0: wait up to `ms` for command `seq` to be carried out.
fn acked(seq: u64, ms: u64) -> bool {
    let ok = wait_for(ms, || rd64(at(addr_of_mut!(ACK))) == seq);
    dmb();
    ok
}

/// PSCI CPU_ON of vCPU 1 into the worker: (rc, came alive).
fn start_worker() -> (i64, bool) {
    wr64(at(addr_of_mut!(MODE)), MODE_WORKER);
    wr64(at(addr_of_mut!(ALIVE)), 0);
    dmb();
    let args = [1, start::secondary_entry_point(), secondary_stack_top()];
    let rc = smccc_hvc_args(PSCI_CPU_ON, args)[0] as i64;
    let alive = wait_for(1000, || rd64(at(addr_of_mut!(ALIVE))) == 1);
    (rc, alive)
}

/// Has vCPU 1 turn itself off; true once PSCI reports it off.
pub fn stop_worker() -> bool {
    let seq = post(CMD_OFF);
    acked(seq, 1000)
        && wait_for(1000, || {
            smccc_hvc_args(PSCI_AFFINITY_INFO, [1, 0, 0])[0] == 1
        })
}

fn runs_on() -> bool {
    let beat = rd64(at(addr_of_mut!(HEARTBEAT)));
    wait_for(200, || rd64(at(addr_of_mut!(HEARTBEAT))) != beat)
}

/// What vCPU 1 saw after vCPU 0 sent on its port.
struct Watch {
    send_rc: i64,
    seen: bool,
    sel: u64,
    word: u64,
    /// vCPU 0's area afterwards: upcall_pending, pending_sel.
    vcpu0: (u8, u64),
}

impl Watch {
    /// The event reached vCPU 1's area and shared_info, and nothing else.
    fn landed(&self, port: u32) -> bool {
        self.send_rc == 0
            && self.seen
            && self.sel & sel_bit(port) != 0
            && self.word & 1 << (port % 64) != 0
            && self.vcpu0 == (0, 0)
    }
}

impl core::fmt::Display for Watch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "send {} seen {} sel {:#x} word {:#x} v0 {}/{:#x}",
            self.send_rc, self.seen as u8, self.sel, self.word, self.vcpu0.0, self.vcpu0.1
        )
    }
}

/// vCPU 0 sends on `port` (bound to vCPU 1) while vCPU 1 watches.
fn watch(port: u32) -> Watch {
    let (si, v0, v1) = (shared_b(), vcpu_info(0), vcpu_info(1));
    clear_upcall(v0);
    clear_upcall(v1);
    clear_pending(si, port);
    wr64(param(0), si);
    wr64(param(1), port as u64);
    let seq = post(CMD_WATCH);
    let send_rc = send(port);
    let done = acked(seq, 2000);
    let w = Watch {
        send_rc,
        seen: done && rd64(result(0)) == 1,
        sel: rd64(result(1)),
        word: rd64(result(2)),
        vcpu0: (rd8(v0 + VI_UPCALL_PENDING), rd64(v0 + VI_PENDING_SEL)),
    };
    clear_pending(si, port);
    clear_upcall(v1);
    w
}

/// The remote-vCPU checks; returns the port bound to vCPU 1 (0 if none),
/// with vCPU 1 left running the worker for the benchmark.
pub fn run(tap: &mut Tap, ctx: &Ctx) -> u32 {
    const NAMES: [&str; CHECKS as usize] = [
        "vcpu_op register_vcpu_info of vCPU 1 while it runs: 0, zeroed area, spurious upcall",
        "an IPI to vCPU 1 shows only in vCPU 1's area: upcall, pending_sel, pending bit",
        "areas on one page: an event for vCPU 0 lands at offset 0, not in vCPU 1's at 64",
        "vCPU 1's area survives cpu_off/on: re-registering -EBUSY, events land there",
    ];
    if !ctx.smp {
        for name in NAMES {
            tap.skip(name, "one vCPU");
        }
        return 0;
    }

    let (on, alive) = start_worker();
    let v1 = vcpu_info(1);
    let rc = register(1, vcpu_info_page() >> 12, 64);
    let (up, sel) = (rd8(v1 + VI_UPCALL_PENDING), rd64(v1 + VI_PENDING_SEL));
    // Scribbled before: the bytes between upcall_pending and pending_sel
    // show whether the area was zeroed.
    let zeroed = (1..8).all(|i| rd8(v1 + i) == 0);
    let runs = runs_on();
    tap.check(
        on == 0 && alive && rc == 0 && up == 1 && sel == !0 && zeroed && runs,
        NAMES[0],
        format_args!(
            "cpu_on {on} alive {}, rc {rc}, upcall {up}, sel {}, zeroed {}, runs {}",
            alive as u8,
            Sel(sel),
            zeroed as u8,
            runs as u8
        ),
    );

    let (rc, p1) = bind_ipi(1);
    let st = status(p1);
    let w = watch(p1);
    tap.check(
        rc == 0 && st.status == EVTCHNSTAT_IPI && st.vcpu == 1 && w.landed(p1),
        NAMES[1],
        format_args!("bind {rc} port {p1} st {}/{}; {w}", st.status, st.vcpu),
    );

    let (si, v0, p0) = (shared_b(), vcpu_info(0), ctx.p0);
    clear_upcall(v0);
    clear_upcall(v1);
    clear_pending(si, p0);
    let rc = send(p0);
    let own = (rd8(v0 + VI_UPCALL_PENDING), rd64(v0 + VI_PENDING_SEL));
    let other = (rd8(v1 + VI_UPCALL_PENDING), rd64(v1 + VI_PENDING_SEL));
    clear_pending(si, p0);
    clear_upcall(v0);
    tap.check(
        rc == 0 && own == (1, sel_bit(p0)) && other == (0, 0),
        NAMES[2],
        format_args!(
            "rc {rc}, vCPU 0 area {}/{:#x}, vCPU 1 area {}/{:#x}",
            own.0, own.1, other.0, other.1
        ),
    );

    let off = stop_worker();
    let (on, alive) = start_worker();
    // A valid spot elsewhere: if it were accepted, events would move here.
    let s = scratch();
    fill(s, 64, 0);
    let rc = register(1, s >> 12, 0);
    let w = watch(p1);
    let elsewhere = (rd8(s + VI_UPCALL_PENDING), rd64(s + VI_PENDING_SEL));
    tap.check(
        off && on == 0 && alive && rc == EBUSY && w.landed(p1) && elsewhere == (0, 0),
        NAMES[3],
        format_args!(
            "off {} on {on}/{} reg {rc}; {w}; scr {}/{}",
            off as u8, alive as u8, elsewhere.0, elsewhere.1
        ),
    );
    p1
}

/// On vCPU 0: start the benchmark loop on vCPU 1 for `sends` sends on `port`.
pub fn bench_start(port: u32, sends: usize) -> u64 {
    wr64(param(0), shared_b());
    wr64(param(1), port as u64);
    wr64(param(2), sends as u64);
    wr64(at(addr_of_mut!(BENCH_DONE)), 0);
    post(CMD_BENCH)
}

/// Benchmark sends vCPU 1 has seen and acknowledged.
pub fn bench_done() -> u64 {
    rd64(at(addr_of_mut!(BENCH_DONE)))
}

/// When vCPU 1 saw send `i`.
pub fn bench_seen(i: usize) -> u64 {
    rd64(at(addr_of_mut!(BENCH_SEEN).cast::<u64>()) + 8 * i as u64)
}

/// Wait for the end of the benchmark loop on vCPU 1.
pub fn bench_end(seq: u64) -> bool {
    acked(seq, 2000)
}
