//! The small hypercalls: `sched_op`, `vm_assist`, `platform_op` (dom0
//! setting the wallclock) and `hvm_op` (parameters Linux reads).

use super::abi::{
    errno, hvm_op, platform_op, sched_op, shared_info, u16_at, u32_at, u64_at, vm_assist,
};
use super::{rc, read_arg, target_domain, write_arg, Env, Outcome};
use crate::domain::Domain;

pub fn sched_op(args: &[u64; 5], env: &dyn Env) -> Outcome {
    match args[0] {
        // Each vCPU owns its physical CPU: nobody to yield to.
        sched_op::YIELD => Outcome::Return(0),
        // Xen's rule: no blocking while an event waits for the caller.
        sched_op::BLOCK => {
            let (me, v) = env.caller();
            let x = me.xen.lock();
            let waiting = x
                .areas
                .vcpu_info(&me.banks, v)
                .and_then(|a| a.load_u8(crate::hypercall::xen::abi::vcpu_info::UPCALL_PENDING))
                == Some(1);
            if waiting {
                Outcome::Return(0)
            } else {
                Outcome::Block
            }
        }
        sched_op::SHUTDOWN => match read_arg::<4>(env, args[1]) {
            Ok(b) => match u32_at(&b, 0) {
                sched_op::SHUTDOWN_REBOOT => Outcome::Shutdown { reboot: true },
                // Poweroff, crash, suspend, watchdog: the domain stops.
                _ => Outcome::Shutdown { reboot: false },
            },
            Err(e) => Outcome::Return(e),
        },
        _ => Outcome::Return(errno::ENOSYS),
    }
}

pub fn vm_assist(args: &[u64; 5], env: &dyn Env) -> i64 {
    let (cmd, kind) = (args[0], args[1]);
    if kind != vm_assist::TYPE_RUNSTATE_UPDATE_FLAG {
        return errno::EINVAL;
    }
    let on = match cmd {
        vm_assist::CMD_ENABLE => true,
        vm_assist::CMD_DISABLE => false,
        _ => return errno::ENOSYS,
    };
    env.caller().0.xen.lock().runstate_update_flag = on;
    0
}

/// The wallclock at system time 0, as the hardware domain last set it.
static WALLCLOCK: spin::Mutex<(u64, u32)> = spin::Mutex::new((0, 0));

pub fn platform_op(args: &[u64; 5], env: &dyn Env) -> i64 {
    rc(platform(args[0], env))
}

fn platform(arg: u64, env: &dyn Env) -> Result<i64, i64> {
    if !env.caller().0.hardware {
        return Err(errno::EPERM);
    }
    let b = read_arg::<{ platform_op::SETTIME64_LEN }>(env, arg)?;
    if u32_at(&b, 4) != platform_op::INTERFACE_VERSION {
        return Err(errno::EACCES);
    }
    if u32_at(&b, 0) != platform_op::SETTIME64 {
        return Err(errno::ENOSYS);
    }
    let (secs, nsecs, system_time) = (u64_at(&b, 8), u32_at(&b, 16), u64_at(&b, 24));
    if nsecs >= 1_000_000_000 {
        return Err(errno::EINVAL);
    }
    // Wallclock at system time 0 = the time given minus the system time.
    let total = u128::from(secs) * 1_000_000_000 + u128::from(nsecs);
    let base = total.saturating_sub(u128::from(system_time));
    let wc = ((base / 1_000_000_000) as u64, (base % 1_000_000_000) as u32);
    *WALLCLOCK.lock() = wc;
    for d in env.domains() {
        write_wallclock(d, wc);
    }
    Ok(0)
}

/// Update a domain's shared_info wallclock with the version protocol
/// (odd while the fields change).
pub fn write_wallclock(d: &Domain, (sec, nsec): (u64, u32)) {
    let x = d.xen.lock();
    let Some(sh) = x.areas.shared(&d.banks) else {
        return;
    };
    // wc_version is the low half of an aligned word (offset 1072).
    let version = sh.load_u64(shared_info::WC_VERSION).map_or(0, |w| w as u32);
    let _ = sh.store_u32(shared_info::WC_VERSION, version.wrapping_add(1));
    let _ = sh.store_u32(shared_info::WC_SEC, sec as u32);
    let _ = sh.store_u32(shared_info::WC_NSEC, nsec);
    let _ = sh.store_u32(shared_info::WC_SEC_HI, (sec >> 32) as u32);
    let _ = sh.store_u32(shared_info::WC_VERSION, version.wrapping_add(2));
}

pub fn hvm_op(args: &[u64; 5], env: &dyn Env) -> i64 {
    match args[0] {
        hvm_op::GET_PARAM => rc(get_param(args[1], env)),
        _ => errno::ENOSYS,
    }
}

/// HVMOP_get_param: the event-channel interrupt (what Linux reads when it
/// boots from ACPI) and the xenstore channel of a domain that has one (its
/// page comes later: STORE_PFN says so); every other parameter is unset
/// (0): no PV console rings.
fn get_param(arg: u64, env: &dyn Env) -> Result<i64, i64> {
    let mut b = read_arg::<{ hvm_op::PARAM_LEN }>(env, arg)?;
    let d = target_domain(env, u16_at(&b, 0))?;
    let index = u32_at(&b, 4);
    if index >= hvm_op::NR_PARAMS {
        return Err(errno::EINVAL);
    }
    let value = match index {
        hvm_op::PARAM_CALLBACK_IRQ => {
            hvm_op::CALLBACK_TYPE_PPI
                | hvm_op::CALLBACK_PPI_LEVEL_LOW
                | u64::from(crate::domain::EVTCHN_PPI)
        }
        hvm_op::PARAM_STORE_EVTCHN => u64::from(d.xen.lock().store_evtchn),
        hvm_op::PARAM_STORE_PFN if d.xen.lock().store_evtchn != 0 => hvm_op::STORE_PFN_LATE,
        _ => 0,
    };
    b[8..16].copy_from_slice(&value.to_le_bytes());
    write_arg(env, arg, &b)?;
    Ok(0)
}
