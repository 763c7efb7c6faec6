//! Xen-compatible hypercalls (`hvc #0xEA1`, number in x16, arguments in
//! x0..x4, result in x0), so that stock Linux runs on Halyard as it does on
//! Xen. Numbers, layouts and error codes are Xen's (see `abi`); the
//! semantics are Xen 4.19's. Handlers copy their arguments in once, do
//! bounded work and copy results out; a bad pointer is -EFAULT.

pub mod abi;
mod console;
pub mod evtchn;
#[cfg(any(test, feature = "host-fakes"))]
pub mod fake;
mod memory;
mod misc;
#[cfg(test)]
mod property;
#[cfg(test)]
mod tests;
mod vcpu;
mod version;

use super::{GuestFault, GuestMemory};
use crate::domain::Domain;
use abi::{errno, nr};

/// What the hypercall layer needs from the rest of the hypervisor.
pub trait Env {
    /// The calling domain and vCPU.
    fn caller(&self) -> (&Domain, usize);
    /// Every domain, for calls that name another one.
    fn domains(&self) -> &[Domain];
    /// The caller's memory, by its virtual addresses.
    fn memory(&self) -> &dyn GuestMemory;
    /// Raise the event-channel interrupt on vCPU `vcpu` of `domain`.
    fn raise_event_irq(&self, domain: &Domain, vcpu: usize);
    /// Console output of the caller.
    fn console_write(&self, bytes: &[u8]);
    /// Console input waiting for the caller; bytes copied.
    fn console_read(&self, buf: &mut [u8]) -> usize;
    /// Xen system time: nanoseconds of the counter the guests see.
    fn system_time_ns(&self) -> u64;
    /// Whether `domain` has page `ipa` shared with the secure world (FF-A
    /// MEM_SHARE): the hypervisor puts none of its shared structures there.
    fn ffa_shared(&self, domain: &Domain, ipa: u64) -> bool;
}

/// What the trap glue does after a hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Put this in x0 and return to the guest.
    Return(i64),
    /// SCHEDOP_shutdown: stop the domain (and the machine, for the hardware domain).
    Shutdown { reboot: bool },
    /// SCHEDOP_block: wait for an interrupt, then return 0.
    Block,
}

/// Handle hypercall `nr` with arguments x0..x4.
pub fn handle(nr: u64, args: &[u64; 5], env: &dyn Env) -> Outcome {
    let rc = match nr {
        nr::CONSOLE_IO => console::console_io(args, env),
        nr::XEN_VERSION => version::xen_version(args, env),
        nr::MEMORY_OP => memory::memory_op(args, env),
        nr::GRANT_TABLE_OP => memory::grant_table_op(args, env),
        nr::VCPU_OP => vcpu::vcpu_op(args, env),
        nr::EVENT_CHANNEL_OP => evtchn::event_channel_op(args, env),
        nr::SCHED_OP => return misc::sched_op(args, env),
        nr::VM_ASSIST => misc::vm_assist(args, env),
        nr::PLATFORM_OP => misc::platform_op(args, env),
        nr::HVM_OP => misc::hvm_op(args, env),
        _ => errno::ENOSYS,
    };
    Outcome::Return(rc)
}

/// Copy a `N`-byte argument structure in.
fn read_arg<const N: usize>(env: &dyn Env, gva: u64) -> Result<[u8; N], i64> {
    let mut b = [0u8; N];
    env.memory()
        .read(gva, &mut b)
        .map_err(|GuestFault { .. }| errno::EFAULT)?;
    Ok(b)
}

fn write_arg(env: &dyn Env, gva: u64, bytes: &[u8]) -> Result<(), i64> {
    env.memory()
        .write(gva, bytes)
        .map_err(|GuestFault { .. }| errno::EFAULT)
}

/// The domain a `domid` argument names: DOMID_SELF or the caller's own id,
/// or (for the hardware domain) any existing domain.
fn target_domain(env: &dyn Env, domid: u16) -> Result<&Domain, i64> {
    let (me, _) = env.caller();
    if domid == abi::DOMID_SELF || domid == me.id {
        return Ok(me);
    }
    let other = env
        .domains()
        .iter()
        .find(|d| d.id == domid)
        .ok_or(errno::ESRCH)?;
    if me.hardware {
        Ok(other)
    } else {
        Err(errno::EPERM)
    }
}

/// Result of a Rust-level handler as the guest's x0.
fn rc(r: Result<i64, i64>) -> i64 {
    r.unwrap_or_else(|e| e)
}
