//! Counts of a domain's exits to the hypervisor, by cause, and the time
//! spent handling them: what a guest pays for being virtualised, reported
//! when the domain stops.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

/// Why a vCPU left the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// A physical interrupt (timer, device, another CPU's kick).
    Irq,
    /// A stage-2 abort: emulated MMIO (the GIC) or a fault.
    Abort,
    /// A trapped system register (ICC_SGI1R_EL1 and the like).
    Sysreg,
    /// HVC or SMC: PSCI, SMCCC, Xen hypercalls.
    Call,
    Other,
}

const KINDS: [ExitKind; 5] = [
    ExitKind::Irq,
    ExitKind::Abort,
    ExitKind::Sysreg,
    ExitKind::Call,
    ExitKind::Other,
];

impl ExitKind {
    fn name(self) -> &'static str {
        match self {
            Self::Irq => "irq",
            Self::Abort => "stage-2 abort",
            Self::Sysreg => "sysreg",
            Self::Call => "hvc/smc",
            Self::Other => "other",
        }
    }
}

/// One exit in this many (per kind) is timed. Reading the counter is not
/// free: under QEMU's TCG every read takes the global I/O lock that the
/// vCPUs' interrupt-controller accesses contend for, and timing each exit
/// made the exits it measured slower. Counts stay exact; times are scaled.
pub const TIME_ONE_IN: u64 = 16;

/// Per-domain counters; any CPU may add at any time.
#[derive(Default)]
pub struct ExitStats {
    count: [AtomicU64; 5],
    timed: [AtomicU64; 5],
    ticks: [AtomicU64; 5],
}

fn slot(kind: ExitKind) -> usize {
    KINDS.iter().position(|k| *k == kind).unwrap_or(4)
}

impl ExitStats {
    /// Count an exit; whether the caller should time it (and then
    /// [`Self::timed`] it).
    pub fn count(&self, kind: ExitKind) -> bool {
        self.count[slot(kind)]
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(TIME_ONE_IN)
    }

    /// A counted exit that was timed took `ticks`.
    pub fn timed(&self, kind: ExitKind, ticks: u64) {
        let i = slot(kind);
        self.timed[i].fetch_add(1, Ordering::Relaxed);
        self.ticks[i].fetch_add(ticks, Ordering::Relaxed);
    }

    pub fn total(&self) -> u64 {
        self.count.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// A one-line summary, with handling time from a counter of `freq` Hz.
    pub fn summary(&self, freq: u64) -> Summary<'_> {
        Summary { stats: self, freq }
    }
}

pub struct Summary<'a> {
    stats: &'a ExitStats,
    freq: u64,
}

impl Summary<'_> {
    /// Kind `i`'s estimated handling time in microseconds: the timed exits'
    /// mean times the count.
    fn estimate_us(&self, i: usize) -> u128 {
        let s = self.stats;
        let timed = u128::from(s.timed[i].load(Ordering::Relaxed));
        if timed == 0 {
            return 0;
        }
        let ticks = u128::from(s.ticks[i].load(Ordering::Relaxed));
        let count = u128::from(s.count[i].load(Ordering::Relaxed));
        ticks * count * 1_000_000 / (timed * u128::from(self.freq.max(1)))
    }
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let all: u128 = (0..KINDS.len()).map(|i| self.estimate_us(i)).sum();
        write!(
            f,
            "{} exits, about {}.{:03} ms handling them (timed 1 in {TIME_ONE_IN}; ",
            self.stats.total(),
            all / 1000,
            all % 1000
        )?;
        for (i, k) in KINDS.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let n = self.stats.count[i].load(Ordering::Relaxed);
            let t = self.estimate_us(i);
            write!(
                f,
                "{sep}{} {n} in {}.{:03} ms",
                k.name(),
                t / 1000,
                t % 1000
            )?;
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(s: &ExitStats, kind: ExitKind, ticks: u64) {
        if s.count(kind) {
            s.timed(kind, ticks);
        }
    }

    #[test]
    fn counts_every_exit_and_times_one_in_n() {
        let s = ExitStats::default();
        for _ in 0..2 * TIME_ONE_IN {
            exit(&s, ExitKind::Irq, 500);
        }
        exit(&s, ExitKind::Abort, 1_000);
        exit(&s, ExitKind::Other, 62_500);
        assert_eq!(s.total(), 2 * TIME_ONE_IN + 2);
        assert_eq!(s.timed[0].load(Ordering::Relaxed), 2);
        // 32 irq exits, 2 timed at 8 us each: about 256 us.
        assert_eq!(
            std::format!("{}", s.summary(62_500_000)),
            "34 exits, about 1.272 ms handling them (timed 1 in 16; irq 32 in 0.256 ms, \
             stage-2 abort 1 in 0.016 ms, sysreg 0 in 0.000 ms, hvc/smc 0 in 0.000 ms, \
             other 1 in 1.000 ms)"
        );
    }

    #[test]
    fn untimed_kinds_report_zero_not_a_guess() {
        let s = ExitStats::default();
        assert_eq!(s.summary(1).estimate_us(0), 0);
    }
}
