//! One virtual interrupt's state, as the GICv3 architecture defines it
//! (IHI 0069, "Interrupt handling state machine"): enable, pending (an
//! edge/software latch and a level input, kept apart because they clear
//! differently), active, priority, group, trigger, SPI routing, and an
//! optional link to a physical INTID. Also the bookkeeping for the time the
//! interrupt is held in a vCPU's list register, when the CPU interface (not
//! this model) owns its pending/active state.

use super::lr::LrState;

/// SGIs are INTIDs 0..16.
pub const NR_SGIS: u32 = 16;
/// SGIs and PPIs (0..32) are banked per vCPU; SPIs start here.
pub const NR_PRIVATE: u32 = 32;
/// 1020..=1023 are special INTIDs; no interrupt has them.
pub const FIRST_SPECIAL_INTID: u32 = 1020;

/// How an interrupt is triggered (GICD_ICFGR / GICR_ICFGR: 0 = level, 1 = edge).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Level,
    Edge,
}

/// Bookkeeping while an interrupt sits in a vCPU's list register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct InLr {
    pub vcpu: u8,
    /// The state `flush` wrote to the list register.
    pub state: LrState,
    /// The pending state written came from the latch, which `flush` cleared.
    pub took_latch: bool,
    /// The guest cleared the pending state (ICPENDR) since the flush.
    pub pend_cleared: bool,
    /// The guest set or cleared the active state (IS/ICACTIVER) since the flush.
    pub active_set: Option<bool>,
    /// GICv2 SGIs: the source CPU written to the list register.
    pub source: u8,
}

/// What a register write asks of the physical GIC for an HW-linked interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PhysOp {
    Enable,
    Disable,
    ClearPending,
    Deactivate,
}

/// One interrupt. Fields are private to the model; read them with the accessors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Irq {
    pub(super) enabled: bool,
    /// Pending latch: edges, ISPENDR writes, SGIs. Cleared by ICPENDR and on
    /// acknowledge (the move into the list register).
    pub(super) latch: bool,
    /// The input level (level-sensitive sources; unused for HW-linked ones,
    /// whose level the physical GIC tracks).
    pub(super) line: bool,
    pub(super) active: bool,
    pub(super) priority: u8,
    pub(super) group1: bool,
    pub(super) trigger: Trigger,
    pub(super) hw: Option<u32>,
    /// GICD_IROUTER value (SPIs only): Aff0-2 [23:0], IRM [31], Aff3 [39:32].
    /// GICv2: the GICD_ITARGETSR byte (a mask of CPU interfaces).
    pub(super) route: u64,
    /// The vCPU `route` selects (SPIs only; `None`: no vCPU matches). GICv2:
    /// the lowest CPU in the mask; the model delivers to one vCPU only.
    pub(super) target: Option<u8>,
    pub(super) lr: Option<InLr>,
    /// The vCPU that acknowledged it while it stays active (SPIs): its
    /// deactivation must come from there, even if IROUTER changed since.
    pub(super) acked_by: Option<u8>,
    /// Active but left out of its vCPU's list registers at the last flush:
    /// a candidate for an EOI the list registers did not see (EOIcount).
    pub(super) spilled: bool,
}

impl Irq {
    /// Reset state: disabled, inactive, not pending, Group 0, priority 0.
    pub(super) const fn new(trigger: Trigger) -> Self {
        Self {
            enabled: false,
            latch: false,
            line: false,
            active: false,
            priority: 0,
            group1: false,
            trigger,
            hw: None,
            route: 0,
            target: None,
            lr: None,
            acked_by: None,
            spilled: false,
        }
    }

    /// Pending as far as the model knows, leaving aside a list register.
    pub(super) fn model_pending(&self) -> bool {
        self.latch || (self.trigger == Trigger::Level && self.line && self.hw.is_none())
    }

    /// Pending, as the guest reads it from ISPENDR.
    pub fn pending(&self) -> bool {
        let in_lr = self
            .lr
            .is_some_and(|l| l.state.pending() && !l.pend_cleared);
        self.model_pending() || in_lr
    }

    /// Active, as the guest reads it from ISACTIVER.
    pub fn active(&self) -> bool {
        match self.lr {
            Some(l) => l.active_set.unwrap_or(l.state.active()),
            None => self.active,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }
    pub fn priority(&self) -> u8 {
        self.priority
    }
    pub fn group1(&self) -> bool {
        self.group1
    }
    pub fn trigger(&self) -> Trigger {
        self.trigger
    }
    /// The physical INTID this interrupt is linked to.
    pub fn hw(&self) -> Option<u32> {
        self.hw
    }
    /// The level input last reported with `Vgic::set_level`.
    pub fn line(&self) -> bool {
        self.line
    }
    /// GICD_IROUTER (SPIs); GICv2: the GICD_ITARGETSR byte.
    pub fn route(&self) -> u64 {
        self.route
    }
    /// The vCPU an SPI is delivered to.
    pub fn target(&self) -> Option<usize> {
        self.target.map(usize::from)
    }
    /// The vCPU an SPI belongs to now: the one that acknowledged it while it
    /// is active, else its target.
    pub fn home(&self) -> Option<usize> {
        match self.acked_by {
            Some(v) if self.active() => Some(usize::from(v)),
            _ => self.target(),
        }
    }
    /// The vCPU whose list registers hold it since the last `flush`.
    pub fn in_lr(&self) -> Option<usize> {
        self.lr.map(|l| usize::from(l.vcpu))
    }

    /// Report the input level. An edge-triggered interrupt latches on a
    /// rising edge; a level-triggered one is pending while the line is high.
    /// HW-linked interrupts latch on every assertion: the physical GIC holds
    /// the real level and signals again only after deactivation.
    pub(super) fn set_line(&mut self, level: bool) {
        if self.hw.is_some() {
            self.latch |= level;
            return;
        }
        if self.trigger == Trigger::Edge && level && !self.line {
            self.latch = true;
        }
        self.line = level;
    }

    /// ISPENDR.
    pub(super) fn set_pending(&mut self) {
        self.latch = true;
    }

    /// ICPENDR: clears the latch; a level line still high keeps it pending.
    pub(super) fn clear_pending(&mut self) -> Option<PhysOp> {
        self.latch = false;
        if let Some(l) = self.lr.as_mut() {
            l.pend_cleared = true;
        }
        self.hw.map(|_| PhysOp::ClearPending)
    }

    /// IS/ICACTIVER.
    pub(super) fn set_active(&mut self, active: bool) -> Option<PhysOp> {
        let was = self.active();
        match self.lr.as_mut() {
            Some(l) => l.active_set = Some(active),
            None => self.active = active,
        }
        (self.hw.is_some() && was && !active).then_some(PhysOp::Deactivate)
    }

    /// IS/ICENABLER.
    pub(super) fn set_enabled(&mut self, enabled: bool) -> Option<PhysOp> {
        self.enabled = enabled;
        self.hw.map(|_| {
            if enabled {
                PhysOp::Enable
            } else {
                PhysOp::Disable
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_pending_follows_line_and_latch_separately() {
        let mut i = Irq::new(Trigger::Level);
        i.set_line(true);
        assert!(i.pending());
        i.clear_pending();
        assert!(i.pending(), "ICPENDR does not clear an asserted level");
        i.set_line(false);
        assert!(!i.pending());
        i.set_pending();
        assert!(i.pending(), "ISPENDR latches even with the line low");
        i.clear_pending();
        assert!(!i.pending());
    }

    #[test]
    fn edge_latches_on_rising_edges_only() {
        let mut i = Irq::new(Trigger::Edge);
        i.set_line(true);
        assert!(i.pending());
        i.clear_pending();
        i.set_line(true);
        assert!(!i.pending(), "a steady high line is not a new edge");
        i.set_line(false);
        i.set_line(true);
        assert!(i.pending());
    }

    #[test]
    fn hw_linked_level_latches_and_reports_physical_ops() {
        let mut i = Irq::new(Trigger::Level);
        i.hw = Some(40);
        i.set_line(true);
        i.set_line(false);
        assert!(
            i.pending(),
            "the physical GIC owns the level; the assertion latched"
        );
        assert_eq!(i.clear_pending(), Some(PhysOp::ClearPending));
        assert_eq!(i.set_enabled(true), Some(PhysOp::Enable));
        assert_eq!(
            i.set_active(false),
            None,
            "not active: nothing to deactivate"
        );
        i.set_active(true);
        assert_eq!(i.set_active(false), Some(PhysOp::Deactivate));
    }

    #[test]
    fn list_register_overrides_are_visible_to_reads() {
        let mut i = Irq::new(Trigger::Edge);
        i.lr = Some(InLr {
            vcpu: 1,
            state: LrState::PendingActive,
            took_latch: true,
            pend_cleared: false,
            active_set: None,
            source: 0,
        });
        assert!(i.pending() && i.active());
        i.clear_pending();
        i.set_active(false);
        assert!(!i.pending() && !i.active());
        assert_eq!(i.in_lr(), Some(1));
    }
}
