//! Xen-compatible hypercalls (`hvc #0xEA1`, number in x16, arguments in
//! x0..x4, result in x0). Numbers and semantics follow Xen's public headers
//! (xen/include/public/xen.h) so stock Linux can use them unchanged.

use super::{GuestFault, GuestMemory};

pub const HYPERVISOR_CONSOLE_IO: u64 = 18;
pub const CONSOLEIO_WRITE: u64 = 0;
pub const CONSOLEIO_READ: u64 = 1;

pub const EFAULT: i64 = -14;
pub const EINVAL: i64 = -22;
pub const ENOSYS: i64 = -38;

/// Longest console write accepted in one call; bounds the time a guest can
/// keep the hypervisor busy.
pub const CONSOLE_WRITE_MAX: u64 = 64 * 1024;
const CHUNK: usize = 128;

/// Handle hypercall `nr`; `sink` receives console bytes written by the guest.
pub fn handle(nr: u64, args: &[u64; 5], mem: &dyn GuestMemory, sink: &mut dyn FnMut(&[u8])) -> i64 {
    match nr {
        HYPERVISOR_CONSOLE_IO => console_io(args, mem, sink),
        _ => ENOSYS,
    }
}

fn console_io(args: &[u64; 5], mem: &dyn GuestMemory, sink: &mut dyn FnMut(&[u8])) -> i64 {
    let (cmd, count, buf) = (args[0], args[1], args[2]);
    match cmd {
        CONSOLEIO_WRITE => {
            if count > CONSOLE_WRITE_MAX {
                return EINVAL;
            }
            let mut chunk = [0u8; CHUNK];
            let mut done = 0u64;
            while done < count {
                let n = (count - done).min(CHUNK as u64) as usize;
                let Some(gva) = buf.checked_add(done) else {
                    return EFAULT;
                };
                if let Err(GuestFault { .. }) = mem.read(gva, &mut chunk[..n]) {
                    return EFAULT;
                }
                sink(&chunk[..n]);
                done += n as u64;
            }
            0
        }
        // No console input yet: nothing to read.
        CONSOLEIO_READ => 0,
        _ => ENOSYS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guest memory: `data` visible at `base`, nothing elsewhere.
    struct Fake {
        base: u64,
        data: Vec<u8>,
    }

    impl GuestMemory for Fake {
        fn read(&self, gva: u64, buf: &mut [u8]) -> Result<(), GuestFault> {
            let off = gva.checked_sub(self.base).ok_or(GuestFault { gva })? as usize;
            let src = self
                .data
                .get(off..off + buf.len())
                .ok_or(GuestFault { gva })?;
            buf.copy_from_slice(src);
            Ok(())
        }
    }

    fn write(mem: &Fake, count: u64, buf: u64) -> (i64, Vec<u8>) {
        let mut out = Vec::new();
        let rc = handle(
            HYPERVISOR_CONSOLE_IO,
            &[CONSOLEIO_WRITE, count, buf, 0, 0],
            mem,
            &mut |b| out.extend_from_slice(b),
        );
        (rc, out)
    }

    #[test]
    fn console_write_copies_in_chunks() {
        let text: Vec<u8> = (0..300).map(|i| b'a' + (i % 26) as u8).collect();
        let mem = Fake {
            base: 0x4000_0000,
            data: text.clone(),
        };
        assert_eq!(write(&mem, 300, 0x4000_0000), (0, text));
        assert_eq!(write(&mem, 0, 0).0, 0);
    }

    #[test]
    fn bad_buffers_are_efault_or_einval() {
        let mem = Fake {
            base: 0x4000_0000,
            data: vec![b'x'; 200],
        };
        assert_eq!(write(&mem, 10, 0x1000).0, EFAULT);
        // Runs off the end of guest memory part-way.
        assert_eq!(write(&mem, 300, 0x4000_0000).0, EFAULT);
        assert_eq!(write(&mem, 16, u64::MAX - 4).0, EFAULT);
        assert_eq!(write(&mem, CONSOLE_WRITE_MAX + 1, 0x4000_0000).0, EINVAL);
    }

    #[test]
    fn unknown_calls_are_enosys() {
        let mem = Fake {
            base: 0,
            data: vec![],
        };
        let mut sink = |_: &[u8]| panic!("no output expected");
        assert_eq!(handle(999, &[0; 5], &mem, &mut sink), ENOSYS);
        assert_eq!(
            handle(HYPERVISOR_CONSOLE_IO, &[7, 0, 0, 0, 0], &mem, &mut sink),
            ENOSYS
        );
    }
}
