//! One domain's console output: bytes become lines (`GuestLine`), and a
//! domain other than the hardware domain passes each line through its
//! rate limit (`RateLimit`); lines it drops are reported as a count.

#![forbid(unsafe_code)]

use super::guest_line::GuestLine;
use super::rate_limit::{Decision, RateLimit};

pub struct GuestConsole {
    line: GuestLine,
    limit: Option<RateLimit>,
}

impl GuestConsole {
    /// `limited`: whether this domain's lines are rate-limited.
    pub const fn new(limited: bool) -> Self {
        Self {
            line: GuestLine::new(),
            limit: if limited {
                Some(RateLimit::new())
            } else {
                None
            },
        }
    }

    /// Feed bytes written at `now_ns`; `emit` gets each line let through,
    /// `dropped` the count of lines dropped before it.
    pub fn write(
        &mut self,
        bytes: &[u8],
        now_ns: u64,
        emit: &mut dyn FnMut(&str),
        dropped: &mut dyn FnMut(u64),
    ) {
        let limit = &mut self.limit;
        self.line
            .push(bytes, |l| match limit.as_mut().map(|r| r.line(now_ns)) {
                None | Some(Decision::Print) => emit(l),
                Some(Decision::PrintAfterDropped(n)) => {
                    dropped(n);
                    emit(l);
                }
                Some(Decision::Drop) => {}
            });
    }

    /// The domain stops: its last partial line, and what was dropped.
    pub fn flush(&mut self, emit: &mut dyn FnMut(&str), dropped: &mut dyn FnMut(u64)) {
        self.line.flush(&mut |l| emit(l));
        match self.limit.as_mut().map(RateLimit::take_dropped) {
            Some(n) if n > 0 => dropped(n),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::rate_limit::BURST_LINES;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    fn run(c: &mut GuestConsole, bytes: &[u8], now: u64, out: &mut Vec<String>) {
        let mut lines = Vec::new();
        let mut notes = Vec::new();
        c.write(bytes, now, &mut |l| lines.push(l.to_string()), &mut |n| {
            notes.push(alloc::format!("[{n} dropped]"))
        });
        // A notice comes right before the line it precedes.
        if let Some(n) = notes.pop() {
            out.push(n);
        }
        out.extend(lines);
    }

    #[test]
    fn a_flood_is_cut_and_counted() {
        let mut c = GuestConsole::new(true);
        let mut out = Vec::new();
        for i in 0..BURST_LINES + 50 {
            run(&mut c, alloc::format!("line {i}\n").as_bytes(), 0, &mut out);
        }
        assert_eq!(out.len(), BURST_LINES as usize);
        run(&mut c, b"after a second\n", 1_000_000_000, &mut out);
        assert_eq!(&out[out.len() - 2..], ["[50 dropped]", "after a second"]);
        let (mut last, mut notes) = (Vec::new(), Vec::new());
        c.write(
            b"x\n".repeat(200).as_slice(),
            1_000_000_000,
            &mut |_| {},
            &mut |_| {},
        );
        c.flush(&mut |l| last.push(l.to_string()), &mut |n| notes.push(n));
        assert!(last.is_empty());
        assert_eq!(notes, [101]);
    }

    #[test]
    fn the_hardware_domain_is_not_limited() {
        let mut c = GuestConsole::new(false);
        let mut n = 0;
        for _ in 0..10 * BURST_LINES {
            c.write(b"dom0\n", 0, &mut |_| n += 1, &mut |_| {
                panic!("nothing dropped")
            });
        }
        assert_eq!(n, 10 * BURST_LINES);
    }
}
