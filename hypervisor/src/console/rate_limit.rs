//! A guest may not flood the console the hypervisor and every other domain
//! share: each domain's lines pass a token bucket (a burst, then a steady
//! rate), and what it drops is counted and reported in one line when its
//! output is let through again (or when it stops). The hardware domain's
//! console (hvc0 on the physical UART) is its own and is not limited.

#![forbid(unsafe_code)]

/// Lines a domain may print at once (a Linux domU's boot log fits).
pub const BURST_LINES: u32 = 1000;
/// Lines per second after the burst.
pub const LINES_PER_SECOND: u64 = 100;

#[derive(Debug)]
pub struct RateLimit {
    burst: u32,
    ns_per_line: u64,
    tokens: u32,
    /// Time up to which tokens were credited.
    credited_ns: u64,
    dropped: u64,
}

/// What to do with one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Print,
    /// Print it, after a notice that `dropped` lines were dropped before it.
    PrintAfterDropped(u64),
    Drop,
}

impl RateLimit {
    /// A guest console's budget (`BURST_LINES`, then `LINES_PER_SECOND`).
    pub const fn new() -> Self {
        Self::with_budget(BURST_LINES, LINES_PER_SECOND)
    }

    /// `burst` lines at once, then `per_second` (at least one of each).
    pub const fn with_budget(burst: u32, per_second: u64) -> Self {
        let burst = if burst == 0 { 1 } else { burst };
        let per_second = if per_second == 0 { 1 } else { per_second };
        let ns_per_line = 1_000_000_000 / per_second;
        Self {
            burst,
            ns_per_line: if ns_per_line == 0 { 1 } else { ns_per_line },
            tokens: burst,
            credited_ns: 0,
            dropped: 0,
        }
    }

    /// One line at time `now_ns` (any monotonic clock).
    pub fn line(&mut self, now_ns: u64) -> Decision {
        let earned = now_ns.saturating_sub(self.credited_ns) / self.ns_per_line;
        if earned > 0 {
            let room = u64::from(self.burst - self.tokens);
            self.tokens += earned.min(room) as u32;
            self.credited_ns = if earned >= room {
                now_ns
            } else {
                self.credited_ns + earned * self.ns_per_line
            };
        }
        if self.tokens == 0 {
            self.dropped = self.dropped.saturating_add(1);
            return Decision::Drop;
        }
        self.tokens -= 1;
        match core::mem::take(&mut self.dropped) {
            0 => Decision::Print,
            n => Decision::PrintAfterDropped(n),
        }
    }

    /// Lines dropped and not yet reported (taken).
    pub fn take_dropped(&mut self) -> u64 {
        core::mem::take(&mut self.dropped)
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn a_burst_then_the_steady_rate() {
        let mut r = RateLimit::new();
        let t0 = 5 * S;
        for i in 0..BURST_LINES {
            assert_eq!(r.line(t0), Decision::Print, "line {i}");
        }
        for _ in 0..1000 {
            assert_eq!(r.line(t0), Decision::Drop);
        }
        // A second later: 100 more lines, the first says what was lost.
        assert_eq!(r.line(t0 + S), Decision::PrintAfterDropped(1000));
        for _ in 1..LINES_PER_SECOND {
            assert_eq!(r.line(t0 + S), Decision::Print);
        }
        assert_eq!(r.line(t0 + S), Decision::Drop);
        assert_eq!(r.take_dropped(), 1);
        assert_eq!(r.take_dropped(), 0);
    }

    #[test]
    fn a_quiet_domain_gets_its_burst_back_and_no_more() {
        let mut r = RateLimit::new();
        for _ in 0..BURST_LINES {
            r.line(0);
        }
        assert_eq!(r.line(0), Decision::Drop);
        // An hour of silence refills the burst, not an hour's worth.
        let later = 3600 * S;
        assert_eq!(r.line(later), Decision::PrintAfterDropped(1));
        for _ in 1..BURST_LINES {
            assert_eq!(r.line(later), Decision::Print);
        }
        assert_eq!(r.line(later), Decision::Drop);
    }

    #[test]
    fn a_clock_that_goes_back_or_wraps_grants_nothing() {
        let mut r = RateLimit::new();
        for _ in 0..BURST_LINES {
            r.line(10 * S);
        }
        assert_eq!(r.line(S), Decision::Drop);
        assert_eq!(r.line(0), Decision::Drop);
        assert_eq!(r.line(u64::MAX), Decision::PrintAfterDropped(2));
    }

    #[test]
    fn a_smaller_budget_is_kept_the_same_way() {
        let mut r = RateLimit::with_budget(3, 2);
        for _ in 0..3 {
            assert_eq!(r.line(S), Decision::Print);
        }
        assert_eq!(r.line(S), Decision::Drop);
        // Half a second earns one line; it says what was lost.
        assert_eq!(r.line(S + S / 2), Decision::PrintAfterDropped(1));
        assert_eq!(r.line(S + S / 2), Decision::Drop);
        // A zero budget is taken as one line, one per second: never silent.
        let mut z = RateLimit::with_budget(0, 0);
        assert_eq!(z.line(0), Decision::Print);
        assert_eq!(z.line(0), Decision::Drop);
        assert_eq!(z.line(S), Decision::PrintAfterDropped(1));
    }
}
