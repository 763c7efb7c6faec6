//! How interrupts enter the model from outside the guest's register
//! accesses: device and timer lines (`set_level`, `raise_edge`), SGIs a vCPU
//! sends through ICC_SGI1R_EL1 / ICC_SGI0R_EL1 (trapped by the arch layer),
//! links to physical interrupts, and SPI routing by IROUTER affinity.

use super::irq::{FIRST_SPECIAL_INTID, NR_PRIVATE, NR_SGIS};
use super::{packed_affinity, Effect, Phys, VcpuSet, Vgic, VgicError};

/// GICD_IROUTER.Interrupt_Routing_Mode: 1 = any participating PE.
const IROUTER_IRM: u64 = 1 << 31;

/// ICC_SGI1R_EL1 / ICC_SGI0R_EL1 fields.
const SGIR_TARGET_LIST: u64 = 0xffff;
const SGIR_AFF1_SHIFT: u32 = 16;
const SGIR_INTID_SHIFT: u32 = 24;
const SGIR_AFF2_SHIFT: u32 = 32;
const SGIR_IRM: u64 = 1 << 40;
const SGIR_RS_SHIFT: u32 = 44;
const SGIR_AFF3_SHIFT: u32 = 48;

impl Vgic {
    /// The vCPU an IROUTER value selects. IRM = 1 (1 of N) always picks
    /// vCPU 0: it is the boot vCPU and never goes offline here; `None` when
    /// the affinity matches no vCPU (the SPI then stays pending, undelivered).
    pub(super) fn route_target(&self, route: u64) -> Option<u8> {
        if route & IROUTER_IRM != 0 {
            return Some(0);
        }
        let aff = packed_affinity(route);
        self.vcpus
            .iter()
            .position(|v| v.affinity == aff)
            .map(|v| v as u8)
    }

    /// Store an SPI's IROUTER and retarget it.
    pub(super) fn set_route(&mut self, intid: u32, route: u64, accessor: Option<usize>) {
        let target = self.route_target(route);
        self.retarget(intid, route, target, accessor);
    }

    /// Store an SPI's routing register value (IROUTER, or the ITARGETSR byte
    /// of a GICv2) and deliver it to `target` from now on.
    pub(super) fn retarget(
        &mut self,
        intid: u32,
        route: u64,
        target: Option<u8>,
        accessor: Option<usize>,
    ) {
        let Some(irq) = self.irq_mut(0, intid) else {
            return;
        };
        irq.route = route;
        if irq.target == target {
            return;
        }
        irq.target = target;
        if let Some(pintid) = irq.hw {
            self.push_effect(Effect::RouteChanged {
                intid,
                pintid,
                vcpu: target.map(usize::from),
            });
        }
        // The old holder must give it up; the new target may take it.
        self.note_change(0, intid, accessor);
        // (If a list register holds it, the holder's sync kicks the target.)
        let deliverable = self
            .irq(0, intid)
            .is_some_and(|i| i.in_lr().is_none() && self.deliverable(i));
        match target.map(usize::from) {
            Some(t) if deliverable && Some(t) != accessor => self.push_effect(Effect::Kick(t)),
            _ => {}
        }
    }

    fn check_injection(&self, vcpu: usize, intid: u32) -> Result<(), VgicError> {
        if vcpu >= self.nr_vcpus() {
            return Err(VgicError::BadVcpu(vcpu));
        }
        if !self.implemented(intid) {
            return Err(VgicError::BadIntid(intid));
        }
        Ok(())
    }

    /// The vCPUs to kick after `intid` (seen from `owner`) changed.
    fn kick_for(&self, owner: usize, intid: u32) -> VcpuSet {
        let mut set = VcpuSet::EMPTY;
        if let Some(v) = self.who_to_kick(owner, intid) {
            set.insert(v);
        }
        set
    }

    /// Drive the level input of PPI or SPI `intid` (`vcpu` selects the PPI's
    /// bank; it is ignored for SPIs). Level-triggered: pending while high;
    /// edge-triggered: a rising edge latches. HW-linked: every `true` latches.
    /// Returns the vCPUs to kick.
    pub fn set_level(
        &mut self,
        vcpu: usize,
        intid: u32,
        level: bool,
    ) -> Result<VcpuSet, VgicError> {
        self.check_injection(vcpu, intid)?;
        if intid < NR_SGIS {
            return Err(VgicError::BadIntid(intid));
        }
        if let Some(irq) = self.irq_mut(vcpu, intid) {
            irq.set_line(level);
        }
        Ok(self.kick_for(vcpu, intid))
    }

    /// Make `intid` pending once (an edge, a message, or a physical interrupt
    /// of an HW-linked INTID), whatever its trigger. `vcpu` selects the SGI/PPI
    /// bank. Returns the vCPUs to kick.
    pub fn raise_edge(&mut self, vcpu: usize, intid: u32) -> Result<VcpuSet, VgicError> {
        self.check_injection(vcpu, intid)?;
        if let Some(irq) = self.irq_mut(vcpu, intid) {
            irq.set_pending();
        }
        Ok(self.kick_for(vcpu, intid))
    }

    /// vCPU `from` wrote `value` to ICC_SGI1R_EL1: a Group 1 SGI. Returns the
    /// vCPUs to kick (it can include `from`, which may target itself).
    /// A GICv2 guest has no such register (it writes GICD_SGIR): nothing.
    pub fn send_sgi(&mut self, from: usize, value: u64) -> VcpuSet {
        self.sgi(from, value, true)
    }

    /// vCPU `from` wrote `value` to ICC_SGI0R_EL1: a Group 0 SGI.
    pub fn send_sgi0(&mut self, from: usize, value: u64) -> VcpuSet {
        self.sgi(from, value, false)
    }

    /// The targets of an SGI register value, as a set. IRM = 1: every vCPU
    /// but the sender. Else the vCPUs whose Aff3.Aff2.Aff1 match and whose
    /// Aff0 is RS * 16 + n for a bit n set in TargetList.
    pub fn sgi_targets(&self, from: usize, value: u64) -> VcpuSet {
        let mut set = VcpuSet::EMPTY;
        let irm = value & SGIR_IRM != 0;
        let field = |shift: u32| ((value >> shift) & 0xff) as u32;
        let upper = field(SGIR_AFF3_SHIFT) << 24
            | field(SGIR_AFF2_SHIFT) << 16
            | field(SGIR_AFF1_SHIFT) << 8;
        let rs = ((value >> SGIR_RS_SHIFT) & 0xf) as u32;
        for (v, vcpu) in self.vcpus.iter().enumerate() {
            let aff0 = vcpu.affinity & 0xff;
            let hit = if irm {
                v != from
            } else {
                vcpu.affinity & !0xff == upper
                    && aff0 / 16 == rs
                    && value & SGIR_TARGET_LIST & (1 << (aff0 % 16)) != 0
            };
            if hit {
                set.insert(v);
            }
        }
        set
    }

    /// An SGI reaches a target only if the target configured it in the
    /// group the register generates (single Security state rules).
    fn sgi(&mut self, from: usize, value: u64, group1: bool) -> VcpuSet {
        let intid = ((value >> SGIR_INTID_SHIFT) & 0xf) as u32;
        let mut kick = VcpuSet::EMPTY;
        if self.is_v2() {
            return kick;
        }
        for t in self.sgi_targets(from, value).iter() {
            let Some(irq) = self.irq_mut(t, intid) else {
                continue;
            };
            if irq.group1 == group1 {
                irq.set_pending();
                kick.0 |= self.kick_for(t, intid).0;
            }
        }
        kick
    }

    /// Link virtual PPI or SPI `intid` to physical INTID `pintid`: list
    /// registers then carry HW = 1, so the guest's deactivation deactivates
    /// the physical interrupt, and register writes queue `Effect`s. A PPI is
    /// linked in every vCPU's bank. Queues effects that bring the physical
    /// interrupt in line with the virtual one's trigger, enable and route.
    pub fn link_hw(&mut self, intid: u32, pintid: u32) -> Result<(), VgicError> {
        if intid < NR_SGIS || !self.implemented(intid) {
            return Err(VgicError::BadIntid(intid));
        }
        if !(NR_SGIS..FIRST_SPECIAL_INTID).contains(&pintid) {
            return Err(VgicError::BadPhysIntid(pintid));
        }
        let owners = if intid < NR_PRIVATE {
            0..self.nr_vcpus()
        } else {
            0..1
        };
        for v in owners {
            let Some(irq) = self.irq_mut(v, intid) else {
                continue;
            };
            irq.hw = Some(pintid);
            let (edge, enabled, target) = (
                irq.trigger == super::Trigger::Edge,
                irq.enabled,
                irq.target(),
            );
            let phys = Phys {
                pintid,
                vcpu: (intid < NR_PRIVATE).then_some(v),
            };
            self.push_effect(Effect::SetPhysTrigger { phys, edge });
            self.push_effect(if enabled {
                Effect::EnablePhys(phys)
            } else {
                Effect::DisablePhys(phys)
            });
            if intid >= NR_PRIVATE {
                self.push_effect(Effect::RouteChanged {
                    intid,
                    pintid,
                    vcpu: target,
                });
            }
        }
        Ok(())
    }

    /// Undo `link_hw` (every bank for a PPI). The physical interrupt is left as is.
    pub fn unlink_hw(&mut self, intid: u32) -> Result<(), VgicError> {
        if intid < NR_SGIS || !self.implemented(intid) {
            return Err(VgicError::BadIntid(intid));
        }
        for v in 0..self.nr_vcpus() {
            if let Some(irq) = self.irq_mut(v, intid) {
                irq.hw = None;
            }
        }
        Ok(())
    }
}
