//! The hypervisor's own lines about a domain (its faults, its resets and
//! rebuilds) share one budget per domain, like the domain's console: a guest
//! that faults or resets itself in a loop cannot flood the console through
//! the hypervisor. Each boot's fault-report cap is not enough on its own,
//! because a reset starts a fresh boot. What is dropped is counted, and the
//! count is said with the next line let through, or when the domain stops.

#![forbid(unsafe_code)]

use crate::console::rate_limit::{Decision, RateLimit};

/// Lines about one domain the hypervisor prints at once (a domain's boot,
/// a few dozen faults and some reboots fit).
pub const NOTICE_BURST: u32 = 64;
/// Lines per second about one domain after the burst.
pub const NOTICES_PER_SECOND: u64 = 2;

#[derive(Debug)]
pub struct Notices(spin::Mutex<RateLimit>);

impl Notices {
    pub const fn new() -> Self {
        Self(spin::Mutex::new(RateLimit::with_budget(
            NOTICE_BURST,
            NOTICES_PER_SECOND,
        )))
    }

    /// `line`, about domain `id` at time `now_ns`, goes to `print` if the
    /// budget allows, after a line counting the ones dropped before it.
    /// Whether it was printed.
    pub fn say(
        &self,
        id: u16,
        now_ns: u64,
        line: core::fmt::Arguments<'_>,
        print: Print<'_>,
    ) -> bool {
        let decision = self.0.lock().line(now_ns);
        match decision {
            Decision::Drop => return false,
            Decision::Print => print(line),
            Decision::PrintAfterDropped(n) => {
                say_dropped(id, n, print);
                print(line);
            }
        }
        true
    }

    /// The count of lines dropped and not yet said, said now (the domain
    /// stops for good, so no later line would carry it).
    pub fn flush(&self, id: u16, print: Print<'_>) {
        let n = self.0.lock().take_dropped();
        if n > 0 {
            say_dropped(id, n, print);
        }
    }
}

impl Default for Notices {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a line goes (the console; a buffer in tests).
pub type Print<'a> = &'a mut dyn FnMut(core::fmt::Arguments<'_>);

fn say_dropped(id: u16, n: u64, print: Print<'_>) {
    print(format_args!(
        "d{id}: {n} line(s) about d{id} dropped by the rate limit ({NOTICE_BURST} lines, then {NOTICES_PER_SECOND} per second)"
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;
    use core::cell::RefCell;

    const S: u64 = 1_000_000_000;

    #[test]
    fn a_reset_loop_is_heard_then_counted_not_printed() {
        let n = Notices::new();
        let out: RefCell<Vec<String>> = RefCell::new(Vec::new());
        let mut print = |a: core::fmt::Arguments<'_>| out.borrow_mut().push(a.to_string());
        // A storm: 4 lines per reset, 1000 resets in one second.
        for boot in 2..1002u64 {
            for what in ["PSCI SYSTEM_RESET", "exits", "rebooting", "memory"] {
                n.say(7, S + boot, format_args!("d7: {what} {boot}"), &mut print);
            }
        }
        assert_eq!(out.borrow().len(), NOTICE_BURST as usize);
        assert_eq!(out.borrow()[0], "d7: PSCI SYSTEM_RESET 2");
        // Half a second on: one line, after the count of what was lost.
        n.say(7, S + S / 2 + 1002, format_args!("d7: later"), &mut print);
        let dropped = 4000 - u64::from(NOTICE_BURST);
        assert_eq!(
            out.borrow()[64..],
            [
                alloc::format!(
                    "d7: {dropped} line(s) about d7 dropped by the rate limit (64 lines, then 2 per second)"
                ),
                "d7: later".to_string(),
            ]
        );
        // Nothing dropped since: flushing says nothing; then a drop is said.
        n.flush(7, &mut print);
        assert_eq!(out.borrow().len(), 66);
        assert!(!n.say(7, S + S / 2 + 1003, format_args!("d7: lost"), &mut print));
        n.flush(7, &mut print);
        assert_eq!(
            out.borrow()[66],
            "d7: 1 line(s) about d7 dropped by the rate limit (64 lines, then 2 per second)"
        );
    }
}
