//! `vcpu_op` as Xen offers it on Arm: registering a vCPU's info area
//! (Xen 4.18+ semantics, see `domain::guest_areas`) and its runstate area,
//! by virtual or physical address.

use super::abi::{errno, runstate, u32_at, u64_at, vcpu_op, PAGE_SIZE};
use super::{rc, read_arg, Env};
use crate::domain::guest_ram::HostArea;

/// XEN_RUNSTATE_UPDATE: set in state_entry_time while the area is rewritten.
const RUNSTATE_UPDATE: u64 = 1 << 63;

pub fn vcpu_op(args: &[u64; 5], env: &dyn Env) -> i64 {
    let (cmd, vcpuid, arg) = (args[0], args[1] as u32 as usize, args[2]);
    let (me, _) = env.caller();
    if vcpuid >= usize::from(me.vcpus) {
        return errno::ENOENT;
    }
    match cmd {
        vcpu_op::REGISTER_VCPU_INFO => rc(register_vcpu_info(env, vcpuid, arg)),
        vcpu_op::REGISTER_RUNSTATE_MEMORY_AREA => rc(runstate_by_va(env, arg)),
        vcpu_op::REGISTER_RUNSTATE_PHYS_AREA => rc(runstate_by_pa(env, arg)),
        // Arm's vcpu_op has nothing else.
        _ => errno::EINVAL,
    }
}

fn register_vcpu_info(env: &dyn Env, v: usize, arg: u64) -> Result<i64, i64> {
    let b = read_arg::<{ vcpu_op::REGISTER_VCPU_INFO_LEN }>(env, arg)?;
    // `rsvd` is not checked: Linux leaves it uninitialised.
    let (mfn, offset) = (u64_at(&b, 0), u32_at(&b, 8));
    let (me, _) = env.caller();
    let raise = {
        let mut x = me.xen.lock();
        // Not on a page shared with the secure world (see memory.rs).
        if mfn
            .checked_mul(PAGE_SIZE)
            .is_some_and(|ipa| env.ffa_shared(me, ipa))
        {
            return Err(errno::EBUSY);
        }
        x.areas.register_vcpu_info(&me.banks, v, mfn, offset)?;
        // pending_sel is ~0 now: mark the upcall so nothing sent before
        // is lost (the guest sees one spurious upcall).
        x.areas.mark_pending(&me.banks, v)
    };
    if raise {
        env.raise_event_irq(me, v);
    }
    Ok(0)
}

/// A vCPU's runstate: running since the domain started, never runnable
/// or offline (each vCPU owns its physical CPU), so the guest sees no
/// steal time. Written once, at registration.
fn runstate_bytes(now_ns: u64, flag: u64) -> [u8; runstate::SIZE] {
    let mut b = [0u8; runstate::SIZE];
    b[0..4].copy_from_slice(&runstate::RUNNING.to_le_bytes());
    b[8..16].copy_from_slice(&(now_ns | flag).to_le_bytes());
    b[16..24].copy_from_slice(&now_ns.to_le_bytes());
    b
}

fn write_runstate(env: &dyn Env, write: &dyn Fn(&[u8]) -> bool) -> bool {
    let (me, _) = env.caller();
    let now = env.system_time_ns() & !RUNSTATE_UPDATE;
    if me.xen.lock().runstate_update_flag {
        // The update protocol: flag set, body written, flag cleared.
        write(&runstate_bytes(now, RUNSTATE_UPDATE)) && write(&runstate_bytes(now, 0))
    } else {
        write(&runstate_bytes(now, 0))
    }
}

/// VCPUOP_register_runstate_memory_area: a guest virtual address. Like
/// Xen, an address that does not translate is accepted and not written.
fn runstate_by_va(env: &dyn Env, arg: u64) -> Result<i64, i64> {
    let va = u64_at(&read_arg::<8>(env, arg)?, 0);
    write_runstate(env, &|b| env.memory().write(va, b).is_ok());
    Ok(0)
}

/// VCPUOP_register_runstate_phys_area: a guest physical address, with the
/// vcpu_info area's checks (~0 unregisters, which needs nothing here).
fn runstate_by_pa(env: &dyn Env, arg: u64) -> Result<i64, i64> {
    let pa = u64_at(&read_arg::<8>(env, arg)?, 0);
    if pa == u64::MAX {
        return Ok(0);
    }
    let last = pa
        .checked_add(runstate::SIZE as u64 - 1)
        .ok_or(errno::EINVAL)?;
    if pa / PAGE_SIZE != last / PAGE_SIZE || !pa.is_multiple_of(8) {
        return Err(errno::ENXIO);
    }
    let (me, _) = env.caller();
    let area = HostArea::in_ram(&me.banks, pa, runstate::SIZE as u64).ok_or(errno::EINVAL)?;
    write_runstate(env, &|b| {
        b.chunks(8).enumerate().all(|(i, w)| {
            let mut v = [0u8; 8];
            v.copy_from_slice(w);
            area.store_u64(i as u64 * 8, u64::from_le_bytes(v))
                .is_some()
        })
    });
    Ok(0)
}
