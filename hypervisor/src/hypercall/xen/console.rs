//! `console_io`: the hardware domain's hvc0 (write and read), and console
//! output for every domain.

use super::abi::{console_io, errno};
use super::{Env, GuestFault};

/// Longest console write accepted in one call; bounds the time a guest can
/// keep the hypervisor busy.
pub const CONSOLE_WRITE_MAX: u64 = 64 * 1024;
/// Most bytes one read returns (the input ring is smaller anyway).
const READ_MAX: usize = 256;
const CHUNK: usize = 128;

pub fn console_io(args: &[u64; 5], env: &dyn Env) -> i64 {
    let (cmd, count, buf) = (args[0], args[1], args[2]);
    match cmd {
        console_io::WRITE => {
            if count > CONSOLE_WRITE_MAX {
                return errno::EINVAL;
            }
            let mut chunk = [0u8; CHUNK];
            let mut done = 0u64;
            while done < count {
                let n = (count - done).min(CHUNK as u64) as usize;
                let Some(gva) = buf.checked_add(done) else {
                    return errno::EFAULT;
                };
                if let Err(GuestFault { .. }) = env.memory().read(gva, &mut chunk[..n]) {
                    return errno::EFAULT;
                }
                env.console_write(&chunk[..n]);
                done += n as u64;
            }
            0
        }
        console_io::READ => {
            // Xen lets only the hardware (console) domain read.
            if !env.caller().0.hardware {
                return errno::EPERM;
            }
            if count > i32::MAX as u64 {
                return -7; // -E2BIG
            }
            let mut chunk = [0u8; READ_MAX];
            let want = (count as usize).min(READ_MAX);
            // Check the whole buffer before taking input out of the ring.
            if env.memory().write(buf, &chunk[..want]).is_err() {
                return errno::EFAULT;
            }
            let n = env.console_read(&mut chunk[..want]);
            match env.memory().write(buf, &chunk[..n]) {
                Ok(()) => n as i64,
                Err(_) => errno::EFAULT,
            }
        }
        _ => errno::ENOSYS,
    }
}
