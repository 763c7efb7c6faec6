//! vCPU 1's side of the remote checks: started with PSCI CPU_ON into a
//! loop that spins (so it is RUNNING when vCPU 0 registers its vcpu_info)
//! and carries out commands from vCPU 0 through a mailbox of plain
//! statics. Each static has one writer; `dmb` orders data before the flag
//! that publishes it (no atomics: memory is Device-typed with the MMU off).

use core::ptr::addr_of_mut;

use super::abi::*;
use super::areas::clear_upcall;
use super::evtchn::{clear_pending, pending_word};
use super::{shared_b, vcpu_info};
use crate::guest::calls::{smccc_hvc, smccc_hvc_args};
use crate::guest::mem::{dmb, rd64, rd8, ticks, wait_for, wr64};
use crate::guest::{
    secondary_stack_top, start, AFF_OFF, PSCI_AFFINITY_INFO, PSCI_CPU_OFF, PSCI_CPU_ON,
};

/// Sends timed by the event benchmark.
pub const BENCH_SENDS: usize = 200;

const MODE_WORKER: u64 = 0x5752_4b52;
pub const CMD_WATCH: u64 = 1;
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
pub fn param(i: usize) -> u64 {
    at(addr_of_mut!(PARAM).cast::<u64>()) + 8 * i as u64
}
pub fn result(i: usize) -> u64 {
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
pub fn post(cmd: u64) -> u64 {
    let seq = rd64(at(addr_of_mut!(SEQ))) + 1;
    wr64(at(addr_of_mut!(CMD)), cmd);
    dmb();
    wr64(at(addr_of_mut!(SEQ)), seq);
    seq
}

/// On vCPU 0: wait up to `ms` for command `seq` to be carried out.
pub fn acked(seq: u64, ms: u64) -> bool {
    let ok = wait_for(ms, || rd64(at(addr_of_mut!(ACK))) == seq);
    dmb();
    ok
}

/// PSCI CPU_ON of vCPU 1 into the worker: (rc, came alive).
pub fn start_worker() -> (i64, bool) {
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
            smccc_hvc_args(PSCI_AFFINITY_INFO, [1, 0, 0])[0] == AFF_OFF
        })
}

/// vCPU 1 keeps turning its loop (it was not left paused).
pub fn runs_on() -> bool {
    let beat = rd64(at(addr_of_mut!(HEARTBEAT)));
    wait_for(200, || rd64(at(addr_of_mut!(HEARTBEAT))) != beat)
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
