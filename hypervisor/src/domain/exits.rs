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

/// Per-domain counters; any CPU may add at any time.
#[derive(Default)]
pub struct ExitStats {
    count: [AtomicU64; 5],
    ticks: [AtomicU64; 5],
}

impl ExitStats {
    pub fn record(&self, kind: ExitKind, ticks: u64) {
        let i = KINDS.iter().position(|k| *k == kind).unwrap_or(4);
        self.count[i].fetch_add(1, Ordering::Relaxed);
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

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = |t: &AtomicU64| {
            u128::from(t.load(Ordering::Relaxed)) * 1_000_000 / u128::from(self.freq.max(1))
        };
        let all: u128 = self.stats.ticks.iter().map(us).sum();
        write!(
            f,
            "{} exits, {}.{:03} ms handling them (",
            self.stats.total(),
            all / 1000,
            all % 1000
        )?;
        for (i, k) in KINDS.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let n = self.stats.count[i].load(Ordering::Relaxed);
            let t = us(&self.stats.ticks[i]);
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

    #[test]
    fn counts_and_sums_time() {
        let s = ExitStats::default();
        s.record(ExitKind::Irq, 500);
        s.record(ExitKind::Irq, 500);
        s.record(ExitKind::Abort, 1_000);
        s.record(ExitKind::Other, 62_500);
        assert_eq!(s.total(), 4);
        assert_eq!(
            std::format!("{}", s.summary(62_500_000)),
            "4 exits, 1.032 ms handling them (irq 2 in 0.016 ms, stage-2 abort 1 in 0.016 ms, \
             sysreg 0 in 0.000 ms, hvc/smc 0 in 0.000 ms, other 1 in 1.000 ms)"
        );
    }
}
