//! Console input when the hypervisor keeps the UART: what is typed goes to
//! one console at a time. The switch sequence (Ctrl-A three times, as on
//! Xen) moves on to the next: the hardware domain's hvc0, then Halyard's
//! own key console, then each other domain's virtual UART, then round.

/// The byte the switch sequence repeats: Ctrl-A.
pub const SWITCH_BYTE: u8 = 0x01;
const SWITCH_COUNT: u8 = 3;
/// Bytes of input held for hvc0 (the excess is dropped, as on a UART).
pub const RING: usize = 1024;
/// Most domains with a console of their own.
pub const MAX_CONSOLES: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    /// The hardware domain's hvc0 (its input ring).
    Hvc(u16),
    /// Another domain's virtual UART.
    Uart(u16),
    Hypervisor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routed {
    /// Into the hvc0 ring (announce it to that domain).
    Hvc(u8),
    /// For a domain's virtual UART.
    Uart(u16, u8),
    /// A key for the hypervisor's console.
    Key(u8),
    /// Input now goes here.
    Switched(Focus),
    /// Part of a possible switch sequence: held back for now.
    Held,
}

pub struct InputRouter {
    /// The rotation, in order; `focus` indexes it.
    order: [Focus; MAX_CONSOLES + 2],
    count: usize,
    focus: usize,
    run: u8,
    ring: [u8; RING],
    head: usize,
    len: usize,
    /// Bytes dropped because the ring was full.
    pub dropped: u64,
}

impl InputRouter {
    pub const fn new() -> Self {
        Self {
            order: [Focus::Hypervisor; MAX_CONSOLES + 2],
            count: 1,
            focus: 0,
            run: 0,
            ring: [0; RING],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    /// The consoles to rotate through: `hvc` (the hardware domain whose
    /// console is hvc0) first, then Halyard, then `uarts` (domains with a
    /// virtual UART). Input starts at the first.
    pub fn set_consoles(&mut self, hvc: Option<u16>, uarts: &[u16]) {
        let mut n = 0;
        if let Some(d) = hvc {
            self.order[n] = Focus::Hvc(d);
            n += 1;
        }
        self.order[n] = Focus::Hypervisor;
        n += 1;
        for &d in uarts.iter().take(MAX_CONSOLES) {
            self.order[n] = Focus::Uart(d);
            n += 1;
        }
        self.count = n;
        self.focus = 0;
    }

    pub fn focus(&self) -> Focus {
        self.order[self.focus]
    }

    /// Route one typed byte. Ctrl-As that do not complete the sequence are
    /// passed on when the next other byte comes (so a lone Ctrl-A still
    /// reaches the shell).
    pub fn feed(&mut self, b: u8, out: &mut impl FnMut(Routed)) {
        if b == SWITCH_BYTE {
            self.run += 1;
            if self.run == SWITCH_COUNT {
                self.run = 0;
                self.focus = (self.focus + 1) % self.count;
                out(Routed::Switched(self.focus()));
            } else {
                out(Routed::Held);
            }
            return;
        }
        for _ in 0..core::mem::take(&mut self.run) {
            self.deliver(SWITCH_BYTE, out);
        }
        self.deliver(b, out);
    }

    fn deliver(&mut self, b: u8, out: &mut impl FnMut(Routed)) {
        match self.focus() {
            Focus::Hypervisor => out(Routed::Key(b)),
            Focus::Uart(d) => out(Routed::Uart(d, b)),
            Focus::Hvc(_) => {
                if self.len == RING {
                    self.dropped += 1;
                } else {
                    self.ring[(self.head + self.len) % RING] = b;
                    self.len += 1;
                }
                out(Routed::Hvc(b));
            }
        }
    }

    /// Take up to `buf.len()` bytes of hvc0's input.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.len);
        for slot in buf.iter_mut().take(n) {
            *slot = self.ring[self.head];
            self.head = (self.head + 1) % RING;
        }
        self.len -= n;
        n
    }
}

impl Default for InputRouter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(r: &mut InputRouter, bytes: &[u8]) -> Vec<Routed> {
        let mut v = Vec::new();
        for &b in bytes {
            r.feed(b, &mut |x| v.push(x));
        }
        v
    }

    #[test]
    fn three_ctrl_a_switch_and_fewer_pass_through() {
        let mut r = InputRouter::new();
        r.set_consoles(Some(0), &[]);
        assert_eq!(feed(&mut r, b"ls\n").len(), 3);
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf), 3);
        assert_eq!(&buf[..3], b"ls\n");
        // Two Ctrl-As then a key: all three reach the domain.
        feed(&mut r, &[1, 1, b'x']);
        assert_eq!(r.read(&mut buf), 3);
        assert_eq!(&buf[..3], &[1, 1, b'x']);
        let v = feed(&mut r, &[1, 1, 1, b'h']);
        assert_eq!(v[2], Routed::Switched(Focus::Hypervisor));
        assert_eq!(v[3], Routed::Key(b'h'));
        assert_eq!(r.read(&mut buf), 0, "keys do not reach the domain");
        let v = feed(&mut r, &[1, 1, 1]);
        assert_eq!(v[2], Routed::Switched(Focus::Hvc(0)));
        assert_eq!(r.focus(), Focus::Hvc(0));
    }

    #[test]
    fn the_rotation_visits_every_domain_uart() {
        let mut r = InputRouter::new();
        r.set_consoles(Some(0), &[1, 2]);
        let sw = |r: &mut InputRouter| match feed(r, &[1, 1, 1])[2] {
            Routed::Switched(f) => f,
            other => panic!("{other:?}"),
        };
        assert_eq!(sw(&mut r), Focus::Hypervisor);
        assert_eq!(sw(&mut r), Focus::Uart(1));
        assert_eq!(feed(&mut r, b"a"), [Routed::Uart(1, b'a')]);
        assert_eq!(sw(&mut r), Focus::Uart(2));
        assert_eq!(sw(&mut r), Focus::Hvc(0));
        // dom0less: Halyard first, then the domains.
        r.set_consoles(None, &[3]);
        assert_eq!(r.focus(), Focus::Hypervisor);
        assert_eq!(sw(&mut r), Focus::Uart(3));
        assert_eq!(sw(&mut r), Focus::Hypervisor);
    }

    #[test]
    fn a_full_ring_drops_and_counts() {
        let mut r = InputRouter::new();
        r.set_consoles(Some(0), &[]);
        let many = vec![b'a'; RING + 10];
        feed(&mut r, &many);
        assert_eq!(r.dropped, 10);
        let mut buf = vec![0u8; RING + 10];
        assert_eq!(r.read(&mut buf), RING);
        feed(&mut r, b"z");
        assert_eq!(r.read(&mut buf), 1);
        assert_eq!(buf[0], b'z');
    }
}
