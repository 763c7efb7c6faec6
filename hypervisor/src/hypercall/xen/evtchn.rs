//! `event_channel_op` with the 2-level ABI. FIFO (`init_control`) is not
//! offered: -ENOSYS, and Linux falls back to 2-level.

use super::abi::{errno, evtchn_op as op, put_u16, put_u32, u16_at, u32_at, DOMID_SELF};
use super::{rc, read_arg, target_domain, write_arg, Env};
use crate::domain::events::{self, Binding, Channel};
use crate::domain::Domain;

pub fn event_channel_op(args: &[u64; 5], env: &dyn Env) -> i64 {
    let arg = args[1];
    rc(match args[0] {
        op::BIND_INTERDOMAIN => bind_interdomain(env, arg),
        op::BIND_VIRQ => bind_virq(env, arg),
        op::BIND_IPI => bind_ipi(env, arg),
        op::ALLOC_UNBOUND => alloc_unbound(env, arg),
        op::CLOSE => with_port(env, arg, close),
        op::SEND => with_port(env, arg, send),
        op::UNMASK => with_port(env, arg, unmask),
        op::STATUS => status(env, arg),
        op::BIND_VCPU => bind_vcpu(env, arg),
        _ => Err(errno::ENOSYS),
    })
}

fn with_port(
    env: &dyn Env,
    arg: u64,
    f: fn(&dyn Env, u32) -> Result<i64, i64>,
) -> Result<i64, i64> {
    let b = read_arg::<{ op::PORT_LEN }>(env, arg)?;
    f(env, u32_at(&b, 0))
}

/// Raise the event interrupt where a delivery step asked for it.
fn notify(env: &dyn Env, d: &Domain, raise: Option<usize>) {
    if let Some(v) = raise {
        env.raise_event_irq(d, v);
    }
}

fn bind_virq(env: &dyn Env, arg: u64) -> Result<i64, i64> {
    let mut b = read_arg::<{ op::BIND_VIRQ_LEN }>(env, arg)?;
    let (virq, vcpu) = (u32_at(&b, 0), u32_at(&b, 4) as usize);
    let (me, _) = env.caller();
    events::check_virq(virq, vcpu, usize::from(me.vcpus))?;
    let port = {
        let mut x = me.xen.lock();
        if x.ports.virq_port(virq, vcpu).is_some() {
            return Err(errno::EEXIST);
        }
        x.ports.alloc(Binding::Virq(virq), vcpu)?
    };
    put_u32(&mut b, 8, port);
    write_back(env, me, arg, &b, port)
}

/// Copy a result out; if that fails, the port just made is closed again
/// so that a bad buffer leaves nothing behind.
fn write_back(env: &dyn Env, me: &Domain, arg: u64, b: &[u8], port: u32) -> Result<i64, i64> {
    if let Err(e) = write_arg(env, arg, b) {
        me.xen.lock().ports.free(port);
        return Err(e);
    }
    Ok(0)
}

fn bind_ipi(env: &dyn Env, arg: u64) -> Result<i64, i64> {
    let mut b = read_arg::<{ op::BIND_IPI_LEN }>(env, arg)?;
    let vcpu = u32_at(&b, 0) as usize;
    let (me, _) = env.caller();
    if vcpu >= usize::from(me.vcpus) {
        return Err(errno::ENOENT);
    }
    let port = me.xen.lock().ports.alloc(Binding::Ipi, vcpu)?;
    put_u32(&mut b, 4, port);
    write_back(env, me, arg, &b, port)
}

fn alloc_unbound(env: &dyn Env, arg: u64) -> Result<i64, i64> {
    let mut b = read_arg::<{ op::ALLOC_UNBOUND_LEN }>(env, arg)?;
    let d = target_domain(env, u16_at(&b, 0))?;
    let remote = match u16_at(&b, 2) {
        DOMID_SELF => d.id,
        id => {
            env.domains()
                .iter()
                .find(|x| x.id == id)
                .ok_or(errno::ESRCH)?
                .id
        }
    };
    let port = d.xen.lock().ports.alloc(Binding::Unbound { remote }, 0)?;
    put_u32(&mut b, 4, port);
    write_back(env, d, arg, &b, port)
}

/// Lock two domains' Xen state in id order (one lock if they are the same).
fn lock_pair<R>(
    a: &Domain,
    b: &Domain,
    f: impl FnOnce(
        &mut crate::domain::xen_state::XenState,
        Option<&mut crate::domain::xen_state::XenState>,
    ) -> R,
) -> R {
    if a.id == b.id {
        return f(&mut a.xen.lock(), None);
    }
    let (first, second) = if a.id < b.id { (a, b) } else { (b, a) };
    let mut g1 = first.xen.lock();
    let mut g2 = second.xen.lock();
    if a.id < b.id {
        f(&mut g1, Some(&mut g2))
    } else {
        f(&mut g2, Some(&mut g1))
    }
}

fn bind_interdomain(env: &dyn Env, arg: u64) -> Result<i64, i64> {
    let mut b = read_arg::<{ op::BIND_INTERDOMAIN_LEN }>(env, arg)?;
    let (me, _) = env.caller();
    let rport = u32_at(&b, 4);
    let remote = match u16_at(&b, 0) {
        DOMID_SELF => me,
        id => env
            .domains()
            .iter()
            .find(|x| x.id == id)
            .ok_or(errno::ESRCH)?,
    };
    let lport = lock_pair(me, remote, |mine, theirs| {
        let waiting = Binding::Unbound { remote: me.id };
        let remote_state = theirs.as_deref().unwrap_or(&*mine);
        let rc = remote_state.ports.get(rport).ok_or(errno::EINVAL)?;
        if rc.binding != waiting {
            return Err(errno::EINVAL);
        }
        let lport = mine.ports.alloc(
            Binding::Interdomain {
                remote: remote.id,
                remote_port: rport,
            },
            0,
        )?;
        let remote_state = match theirs {
            Some(t) => t,
            None => mine,
        };
        remote_state.ports.set(
            rport,
            Channel {
                binding: Binding::Interdomain {
                    remote: me.id,
                    remote_port: lport,
                },
                vcpu: rc.vcpu,
            },
        );
        Ok(lport)
    })?;
    // As Xen does: the new port starts pending, so an event the other side
    // sent before the bind is not lost.
    let raise = {
        let x = me.xen.lock();
        events::set_pending(&x.areas, &me.banks, lport, 0)
    };
    notify(env, me, raise);
    put_u32(&mut b, 8, lport);
    write_arg(env, arg, &b)?;
    Ok(0)
}

fn close(env: &dyn Env, port: u32) -> Result<i64, i64> {
    let (me, _) = env.caller();
    let was = {
        let mut x = me.xen.lock();
        let was = x.ports.free(port).ok_or(errno::EINVAL)?;
        events::clear_pending(&x.areas, &me.banks, port);
        was
    };
    // The other end of an interdomain channel waits for a new partner.
    if let Binding::Interdomain {
        remote,
        remote_port,
    } = was
    {
        if let Some(r) = env.domains().iter().find(|d| d.id == remote) {
            let mut x = r.xen.lock();
            if let Some(c) = x.ports.get(remote_port) {
                if c.binding
                    == (Binding::Interdomain {
                        remote: me.id,
                        remote_port: port,
                    })
                {
                    x.ports.set(
                        remote_port,
                        Channel {
                            binding: Binding::Unbound { remote: me.id },
                            vcpu: c.vcpu,
                        },
                    );
                }
            }
        }
    }
    Ok(0)
}

fn send(env: &dyn Env, port: u32) -> Result<i64, i64> {
    let (me, _) = env.caller();
    let c = me.xen.lock().ports.get(port).ok_or(errno::EINVAL)?;
    match c.binding {
        Binding::Ipi => {
            let raise = {
                let x = me.xen.lock();
                events::set_pending(&x.areas, &me.banks, port, c.vcpu)
            };
            notify(env, me, raise);
            Ok(0)
        }
        Binding::Interdomain {
            remote,
            remote_port,
        } => {
            let Some(r) = env.domains().iter().find(|d| d.id == remote) else {
                return Ok(0);
            };
            let raise = {
                let x = r.xen.lock();
                let back = Binding::Interdomain {
                    remote: me.id,
                    remote_port: port,
                };
                match x.ports.get(remote_port) {
                    Some(rc) if rc.binding == back => {
                        events::set_pending(&x.areas, &r.banks, remote_port, rc.vcpu)
                    }
                    _ => None,
                }
            };
            notify(env, r, raise);
            Ok(0)
        }
        // Nobody listens yet: dropped, as on Xen.
        Binding::Unbound { .. } => Ok(0),
        Binding::Virq(_) | Binding::Free => Err(errno::EINVAL),
    }
}

fn unmask(env: &dyn Env, port: u32) -> Result<i64, i64> {
    let (me, _) = env.caller();
    let raise = {
        let x = me.xen.lock();
        let c = x.ports.get(port).ok_or(errno::EINVAL)?;
        events::unmask(&x.areas, &me.banks, port, c.vcpu)
    };
    notify(env, me, raise);
    Ok(0)
}

fn status(env: &dyn Env, arg: u64) -> Result<i64, i64> {
    let mut b = read_arg::<{ op::STATUS_LEN }>(env, arg)?;
    let d = target_domain(env, u16_at(&b, 0))?;
    let port = u32_at(&b, 4);
    let (c, valid) = {
        let x = d.xen.lock();
        (x.ports.get(port), x.ports.is_valid(port))
    };
    let c = match c {
        Some(c) => c,
        None if valid => Channel {
            binding: Binding::Free,
            vcpu: 0,
        },
        None => return Err(errno::EINVAL),
    };
    b[16..24].fill(0);
    let status = match c.binding {
        Binding::Free => op::STAT_CLOSED,
        Binding::Unbound { remote } => {
            put_u16(&mut b, 16, remote);
            op::STAT_UNBOUND
        }
        Binding::Interdomain {
            remote,
            remote_port,
        } => {
            put_u16(&mut b, 16, remote);
            put_u32(&mut b, 20, remote_port);
            op::STAT_INTERDOMAIN
        }
        Binding::Virq(v) => {
            put_u32(&mut b, 16, v);
            op::STAT_VIRQ
        }
        Binding::Ipi => op::STAT_IPI,
    };
    put_u32(&mut b, 8, status);
    put_u32(&mut b, 12, c.vcpu as u32);
    write_arg(env, arg, &b)?;
    Ok(0)
}

/// EVTCHNOP_bind_vcpu: move where a port's events go (Linux's IRQ
/// affinity). Per-vCPU VIRQs and IPIs stay where they were bound.
fn bind_vcpu(env: &dyn Env, arg: u64) -> Result<i64, i64> {
    let b = read_arg::<{ op::BIND_VCPU_LEN }>(env, arg)?;
    let (port, vcpu) = (u32_at(&b, 0), u32_at(&b, 4) as usize);
    let (me, _) = env.caller();
    if vcpu >= usize::from(me.vcpus) {
        return Err(errno::ENOENT);
    }
    let mut x = me.xen.lock();
    let mut c = x.ports.get(port).ok_or(errno::EINVAL)?;
    match c.binding {
        Binding::Virq(v) if crate::hypercall::xen::abi::virq::per_vcpu(v) => {
            return Err(errno::EINVAL)
        }
        Binding::Ipi => return Err(errno::EINVAL),
        _ => {}
    }
    c.vcpu = vcpu;
    x.ports.set(port, c);
    Ok(0)
}

/// Make global VIRQ `virq` pending for domain `d` (if it bound one); the
/// vCPU whose event interrupt must be raised, if any.
#[must_use]
pub fn raise_global_virq(d: &Domain, virq: u32) -> Option<usize> {
    let x = d.xen.lock();
    let port = x.ports.virq_port(virq, 0)?;
    let c = x.ports.get(port)?;
    events::set_pending(&x.areas, &d.banks, port, c.vcpu)
}
