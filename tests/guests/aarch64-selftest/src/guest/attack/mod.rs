//! `selftest.role=attacker selftest.peer=N`: the hostile suite's attacker.
//! It binds the event channels the victim (domain N) offers, then tries
//! what a hostile guest would, one TAP line per case: bad hypercall
//! arguments, PSCI and SMCCC abuse, FF-A abuse, memory and device accesses
//! outside its map, vCPUs that never yield or never make progress. Each
//! case checks the exact answer (a Xen errno, a PSCI or FF-A code, or an
//! abort taken by its own vector), then sends the victim a heartbeat: the
//! case is `ok` only if the victim, having found its memory unchanged,
//! answers within 2 s. A summary by class ends the run; then the domain
//! powers itself off (which stops it alone).

mod evtchn;
mod ffa;
mod hypercalls;
mod hypercalls_vcpu;
mod memory;
mod no_progress;
mod psci;
mod start_gate;
mod time;
pub mod vcpu1;

use core::fmt::Write;

use super::calls::smccc_hvc;
use super::cmdline_number;
use super::mem::{page_addr, wait_for, wr64, Page};
use super::peer_link::{bind_interdomain, clear, map_shared_info, pending, send};
use super::{Console, PSCI_SYSTEM_OFF};

pub use vcpu1::requested as vcpu1_requested;

/// The case classes of the issue, in the order they run.
#[derive(Clone, Copy)]
pub enum Class {
    Hypercalls,
    Psci,
    Ffa,
    Memory,
    Time,
    NoProgress,
}

const CLASS_NAMES: [&str; 6] = [
    "hypercalls",
    "psci/smccc",
    "ffa",
    "memory/devices",
    "time",
    "no-progress",
];

/// The plan: every module says how many cases it runs.
const PLAN: u32 = hypercalls::CASES
    + hypercalls_vcpu::CASES
    + evtchn::CASES
    + psci::CASES
    + ffa::CASES
    + memory::CASES
    + time::CASES
    + no_progress::CASES;

/// Guest-physical addresses with nothing of this domain behind them.
pub const HOLE: u64 = 0x1000_0000;
pub const GIC_MMIO: u64 = 0x0800_0000;
/// A domain id no domain has.
pub const NO_DOMAIN: u16 = 0x7fe0;

pub struct Suite {
    out: Console,
    n: u32,
    failed: u32,
    /// Cases after which the victim did not answer.
    silent: u32,
    per_class: [u32; 6],
    failed_class: [u32; 6],
    /// Our end of the heartbeat channel and of the end channel.
    beat: u32,
    end: u32,
    /// The victim's heartbeat port (in its own table).
    pub victim_beat: u32,
    pub peer: u16,
    pub ram_end: u64,
}

impl Suite {
    /// One case: `ok` is its own verdict; the victim must answer too.
    pub fn case(&mut self, class: Class, ok: bool, name: &str, detail: core::fmt::Arguments<'_>) {
        let answered = self.heartbeat();
        self.n += 1;
        let c = class as usize;
        self.per_class[c] += 1;
        let pass = ok && answered;
        if !pass {
            self.failed += 1;
            self.failed_class[c] += 1;
        }
        if !answered {
            self.silent += 1;
        }
        let verdict = if pass { "ok" } else { "not ok" };
        let victim = if answered {
            ""
        } else {
            "; victim did not answer"
        };
        let _ = writeln!(
            self.out,
            "{verdict} {} - {}: {name} ({detail}{victim})",
            self.n, CLASS_NAMES[c]
        );
    }

    /// Send a heartbeat and wait up to 2 s for the victim's answer.
    pub fn heartbeat(&mut self) -> bool {
        let beat = self.beat;
        clear(beat);
        if send(beat) != 0 {
            return false;
        }
        let answered = wait_for(2000, || pending(beat));
        clear(beat);
        answered
    }
}

/// Scratch pages for argument structures: one page, and two contiguous
/// ones for structures that cross a page boundary.
static mut ARGS: Page = Page::new();
#[repr(C, align(4096))]
struct TwoPages([Page; 2]);
static mut CROSSING: TwoPages = TwoPages([Page::new(), Page::new()]);

/// A zeroed argument block of 256 bytes.
pub fn args() -> u64 {
    let a = page_addr(core::ptr::addr_of_mut!(ARGS));
    for off in (0..256).step_by(8) {
        wr64(a + off, 0);
    }
    a
}

/// The boundary between two pages of our own RAM.
pub fn page_boundary() -> u64 {
    core::ptr::addr_of_mut!(CROSSING) as u64 + 4096
}

/// Bind the victim's two ports (the heartbeat one was offered first, so
/// it has the lower number); the victim may still be starting.
fn bind_victim(peer: u16) -> Option<(u32, u32, u32)> {
    let mut found: [(u32, u32); 2] = [(0, 0); 2];
    let mut n = 0;
    let bound = wait_for(10_000, || {
        for port in 1..32 {
            if n == 2 {
                break;
            }
            if found[..n].iter().any(|f| f.0 == port) {
                continue;
            }
            let (rc, local) = bind_interdomain(peer, port);
            if rc == 0 {
                found[n] = (port, local);
                n += 1;
            }
        }
        n == 2
    });
    bound.then(|| (found[0].0, found[0].1, found[1].1))
}

pub fn run(dtb: u64) -> ! {
    let mut out = Console::new();
    let peer = cmdline_number(dtb, "selftest.peer").unwrap_or(0) as u16;
    let ram_end = super::ram_end(dtb).unwrap_or(super::RAM_END_DEFAULT);
    let si = map_shared_info();
    let Some((victim_beat, beat, end)) = bind_victim(peer).filter(|_| si == 0 && peer != 0) else {
        let _ = writeln!(
            out,
            "Bail out! no victim to bind (peer d{peer}, shared_info {si})"
        );
        off();
    };
    // A new interdomain port starts pending (Xen's rule).
    clear(beat);
    clear(end);
    if start_gate::asked(dtb) {
        let _ = writeln!(out, "# attacker: waiting for a line on its UART to start");
        if !start_gate::wait_for_line() {
            let _ = writeln!(out, "Bail out! no line on its UART to start");
            off();
        }
    }
    let _ = writeln!(out, "1..{PLAN}");
    let _ = writeln!(
        out,
        "# attacker: bound to d{peer}'s ports {victim_beat} (heartbeat, ours {beat}) and end (ours {end})"
    );
    let mut s = Suite {
        out,
        n: 0,
        failed: 0,
        silent: 0,
        per_class: [0; 6],
        failed_class: [0; 6],
        beat,
        end,
        victim_beat,
        peer,
        ram_end,
    };
    hypercalls::run(&mut s);
    hypercalls_vcpu::run(&mut s);
    evtchn::run(&mut s);
    psci::run(&mut s);
    ffa::run(&mut s);
    memory::run(&mut s);
    time::run(&mut s);
    no_progress::run(&mut s);
    finish(s)
}

/// Tell the victim the suite is over, wait for its summary, print ours.
fn finish(mut s: Suite) -> ! {
    clear(s.end);
    let sent = send(s.end);
    let end = s.end;
    let answered = sent == 0 && wait_for(2000, || pending(end));
    let _ = write!(s.out, "# hostile suite:");
    for (i, name) in CLASS_NAMES.iter().enumerate() {
        let sep = if i + 1 < CLASS_NAMES.len() { "," } else { ":" };
        let _ = write!(s.out, " {name} {}{sep}", s.per_class[i]);
    }
    let _ = writeln!(s.out, " {} ok, {} not ok", s.n - s.failed, s.failed);
    let victim = if s.silent == 0 && answered {
        "victim answered after every case"
    } else {
        "victim did NOT answer after every case"
    };
    let _ = writeln!(
        s.out,
        "# hostile suite: {} cases of {PLAN} planned, {} failed; {victim}",
        s.n, s.failed
    );
    off()
}

fn off() -> ! {
    smccc_hvc(PSCI_SYSTEM_OFF);
    loop {
        core::hint::spin_loop();
    }
}

/// True if every result equals `want`.
pub fn all(rcs: &[i64], want: i64) -> bool {
    rcs.iter().all(|&r| r == want)
}

/// Pointers that must never be followed: null, a hole, MMIO, two bytes
/// before the end of RAM (so any structure runs off its end), and one
/// that wraps around the address space.
pub fn bad_pointers(ram_end: u64) -> [u64; 5] {
    [0, HOLE, GIC_MMIO, ram_end - 2, u64::MAX - 1]
}
