//! Event channels with Xen's 2-level ABI: a domain's ports, what each is
//! bound to, and delivery into shared_info's pending/mask bitmaps and the
//! target vCPU's `evtchn_pending_sel` / `evtchn_upcall_pending`.
//!
//! Everything here runs under the owning domain's Xen lock. Operations
//! that join two domains (bind_interdomain, close, send) are split by the
//! caller into steps under one lock at a time (see `hypercall::xen::evtchn`).

use alloc::vec::Vec;

use super::guest_areas::GuestAreas;
use super::Bank;
use crate::hypercall::xen::abi::{errno, shared_info, virq};

/// Ports a domain may have (the 2-level ABI allows 4096 on 64-bit; this
/// bounds the table each domain can make the hypervisor allocate).
pub const MAX_PORTS: u32 = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    Free,
    /// Waiting for `remote` to bind to it.
    Unbound {
        remote: u16,
    },
    Interdomain {
        remote: u16,
        remote_port: u32,
    },
    Virq(u32),
    Ipi,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channel {
    pub binding: Binding,
    /// The vCPU notified when the port becomes pending.
    pub vcpu: usize,
}

const FREE: Channel = Channel {
    binding: Binding::Free,
    vcpu: 0,
};

#[derive(Default)]
pub struct Ports {
    /// Index = port; port 0 is never handed out (Xen reserves it).
    table: Vec<Channel>,
    /// (virq, vcpu) -> port.
    virqs: Vec<(u32, usize, u32)>,
}

impl Ports {
    pub fn get(&self, port: u32) -> Option<Channel> {
        self.table
            .get(port as usize)
            .copied()
            .filter(|c| c.binding != Binding::Free)
    }

    /// Whether `port` names a slot of the table (free or not): the first
    /// 64 always do, as Xen's first bucket; beyond, those allocated so far.
    pub fn is_valid(&self, port: u32) -> bool {
        (port as usize) < self.table.len().max(64)
    }

    /// The lowest free port, bound as `binding` for `vcpu`.
    pub fn alloc(&mut self, binding: Binding, vcpu: usize) -> Result<u32, i64> {
        let free = self
            .table
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, c)| c.binding == Binding::Free)
            .map(|(i, _)| i);
        let port = match free {
            Some(p) => p,
            None if self.table.len() < MAX_PORTS as usize => {
                if self.table.is_empty() {
                    self.table.push(FREE);
                }
                self.table.push(FREE);
                self.table.len() - 1
            }
            None => return Err(errno::ENOSPC),
        };
        self.table[port] = Channel { binding, vcpu };
        if let Binding::Virq(v) = binding {
            self.virqs.push((v, vcpu, port as u32));
        }
        Ok(port as u32)
    }

    pub fn set(&mut self, port: u32, c: Channel) {
        if let Some(slot) = self.table.get_mut(port as usize) {
            *slot = c;
        }
    }

    /// The port bound to `v` on `vcpu` (global VIRQs bind on vCPU 0).
    pub fn virq_port(&self, v: u32, vcpu: usize) -> Option<u32> {
        self.virqs
            .iter()
            .find(|(vq, vc, _)| *vq == v && *vc == vcpu)
            .map(|(_, _, p)| *p)
    }

    /// Free `port`; the binding it had.
    pub fn free(&mut self, port: u32) -> Option<Binding> {
        let c = self.get(port)?;
        self.table[port as usize] = FREE;
        self.virqs.retain(|(_, _, p)| *p != port);
        Some(c.binding)
    }

    /// Domain `remote` went away (it was rebuilt): each channel bound to it
    /// waits for it to bind again, as the surviving end of a closed
    /// interdomain channel does.
    pub fn orphan(&mut self, remote: u16) {
        for c in &mut self.table {
            if matches!(c.binding, Binding::Interdomain { remote: r, .. } if r == remote) {
                c.binding = Binding::Unbound { remote };
            }
        }
    }

    /// Every bound port, for the console's event-channel dump.
    pub fn bound(&self) -> impl Iterator<Item = (u32, Channel)> + '_ {
        self.table
            .iter()
            .enumerate()
            .filter(|(_, c)| c.binding != Binding::Free)
            .map(|(p, c)| (p as u32, *c))
    }
}

/// Check a VIRQ bind request in Xen's order: the VIRQ exists (-EINVAL), a
/// global one is bound on vCPU 0 (-EINVAL, whether or not the vCPU named
/// exists), then the vCPU exists (-ENOENT).
pub fn check_virq(v: u32, vcpu: usize, vcpus: usize) -> Result<(), i64> {
    if v >= virq::NR || (!virq::per_vcpu(v) && vcpu != 0) {
        return Err(errno::EINVAL);
    }
    if vcpu >= vcpus {
        return Err(errno::ENOENT);
    }
    Ok(())
}

fn bit(port: u32) -> (u64, u64) {
    (u64::from(port / 64) * 8, 1u64 << (port % 64))
}

/// Make `port` pending (2-level): its pending bit; if it was clear and the
/// port is not masked, its word's bit in the target vCPU's pending_sel;
/// if that was clear, the vCPU's upcall flag. Returns the vCPU whose event
/// interrupt must be raised, if any.
#[must_use]
pub fn set_pending(areas: &GuestAreas, banks: &[Bank], port: u32, vcpu: usize) -> Option<usize> {
    let sh = areas.shared(banks)?;
    let (word, mask) = bit(port);
    let was = sh.fetch_or_u64(shared_info::EVTCHN_PENDING + word, mask)?;
    if was & mask != 0 {
        return None;
    }
    notify_if_unmasked(areas, banks, port, vcpu)
}

/// The guest unmasked `port` (EVTCHNOP_unmask): clear the mask bit and,
/// if the port is pending, tell its vCPU as `set_pending` would.
#[must_use]
pub fn unmask(areas: &GuestAreas, banks: &[Bank], port: u32, vcpu: usize) -> Option<usize> {
    let sh = areas.shared(banks)?;
    let (word, mask) = bit(port);
    sh.fetch_and_u64(shared_info::EVTCHN_MASK + word, !mask)?;
    if sh.load_u64(shared_info::EVTCHN_PENDING + word)? & mask == 0 {
        return None;
    }
    notify_if_unmasked(areas, banks, port, vcpu)
}

fn notify_if_unmasked(areas: &GuestAreas, banks: &[Bank], port: u32, vcpu: usize) -> Option<usize> {
    let sh = areas.shared(banks)?;
    let (word, mask) = bit(port);
    if sh.load_u64(shared_info::EVTCHN_MASK + word)? & mask != 0 {
        return None;
    }
    let sel = 1u64 << (port / 64);
    let info = areas.vcpu_info(banks, vcpu)?;
    let was = info.fetch_or_u64(crate::hypercall::xen::abi::vcpu_info::PENDING_SEL, sel)?;
    if was & sel != 0 {
        return None;
    }
    areas.mark_pending(banks, vcpu).then_some(vcpu)
}

/// Clear `port`'s pending bit (when it is closed).
pub fn clear_pending(areas: &GuestAreas, banks: &[Bank], port: u32) {
    if let Some(sh) = areas.shared(banks) {
        let (word, mask) = bit(port);
        let _ = sh.fetch_and_u64(shared_info::EVTCHN_PENDING + word, !mask);
    }
}
