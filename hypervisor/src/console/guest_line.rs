//! Collects a domain's console bytes into whole lines, so that lines of
//! different domains and of the hypervisor never interleave mid-line, and
//! makes them safe to print: control characters a guest sends (terminal
//! escape sequences, carriage returns) are shown as '?' rather than passed to
//! the operator's terminal.

pub const LINE_MAX: usize = 160;

pub struct GuestLine {
    buf: [u8; LINE_MAX],
    len: usize,
}

impl GuestLine {
    pub const fn new() -> Self {
        Self {
            buf: [0; LINE_MAX],
            len: 0,
        }
    }

    /// Feed bytes; `emit` is called with each complete (or full) line,
    /// without its newline.
    pub fn push(&mut self, bytes: &[u8], mut emit: impl FnMut(&str)) {
        for &b in bytes {
            match b {
                b'\n' => self.flush(&mut emit),
                b'\r' => {}
                _ => {
                    self.buf[self.len] = if b == b'\t' || (0x20..0x7f).contains(&b) {
                        b
                    } else {
                        b'?'
                    };
                    self.len += 1;
                    if self.len == LINE_MAX {
                        self.flush(&mut emit);
                    }
                }
            }
        }
    }

    /// Emit whatever is buffered, e.g. when the domain goes away.
    pub fn flush(&mut self, emit: &mut impl FnMut(&str)) {
        if self.len > 0 {
            // Only printable ASCII was stored, so this cannot fail.
            emit(core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?"));
            self.len = 0;
        }
    }
}

impl Default for GuestLine {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(chunks: &[&[u8]]) -> Vec<String> {
        let mut l = GuestLine::new();
        let mut out = Vec::new();
        for c in chunks {
            l.push(c, |s| out.push(s.to_string()));
        }
        out
    }

    #[test]
    fn joins_chunks_and_splits_lines() {
        assert_eq!(
            feed(&[b"ok 1", b" - a\nok 2\r\n", b"tail"]),
            ["ok 1 - a", "ok 2"]
        );
    }

    #[test]
    fn escapes_control_bytes_and_wraps_long_lines() {
        assert_eq!(feed(&[b"\x1b[2Jx\xff\n"]), ["?[2Jx?"]);
        let long = vec![b'a'; LINE_MAX + 5];
        let out = feed(&[&long, b"\n"]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].len(), LINE_MAX);
        assert_eq!(out[1], "aaaaa");
    }
}
