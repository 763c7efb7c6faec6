//! Console input when the hypervisor keeps the UART: bytes typed go to the
//! hardware domain's hvc0 or, after the switch sequence (Ctrl-A three
//! times, as on Xen), to the hypervisor's own key commands.

/// The byte the switch sequence repeats: Ctrl-A.
pub const SWITCH_BYTE: u8 = 0x01;
const SWITCH_COUNT: u8 = 3;
/// Bytes of input held for the domain (the excess is dropped, as on a UART).
pub const RING: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Domain,
    Hypervisor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routed {
    /// For the domain's input ring.
    Domain(u8),
    /// A key for the hypervisor's console.
    Key(u8),
    /// Input now goes to the named side.
    Switched(Focus),
    /// Part of a possible switch sequence: held back for now.
    Held,
}

pub struct InputRouter {
    focus: Focus,
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
            focus: Focus::Domain,
            run: 0,
            ring: [0; RING],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    pub fn focus(&self) -> Focus {
        self.focus
    }

    /// Route one typed byte. Ctrl-As that do not complete the sequence are
    /// passed on when the next other byte comes (so a lone Ctrl-A still
    /// reaches the shell).
    pub fn feed(&mut self, b: u8, out: &mut impl FnMut(Routed)) {
        if b == SWITCH_BYTE {
            self.run += 1;
            if self.run == SWITCH_COUNT {
                self.run = 0;
                self.focus = match self.focus {
                    Focus::Domain => Focus::Hypervisor,
                    Focus::Hypervisor => Focus::Domain,
                };
                out(Routed::Switched(self.focus));
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
        match self.focus {
            Focus::Hypervisor => out(Routed::Key(b)),
            Focus::Domain => {
                if self.len == RING {
                    self.dropped += 1;
                } else {
                    self.ring[(self.head + self.len) % RING] = b;
                    self.len += 1;
                }
                out(Routed::Domain(b));
            }
        }
    }

    /// Take up to `buf.len()` bytes of the domain's input.
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
        assert_eq!(v[2], Routed::Switched(Focus::Domain));
        assert_eq!(r.focus(), Focus::Domain);
    }

    #[test]
    fn a_full_ring_drops_and_counts() {
        let mut r = InputRouter::new();
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
