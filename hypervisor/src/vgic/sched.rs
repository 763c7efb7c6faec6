//! List-register scheduling: which of a vCPU's interrupts go into its
//! ICH_LR<n>_EL2 at guest entry (`flush`), and folding back what the guest
//! did with them at exit (`sync`). Between a flush and its sync the CPU
//! interface owns those interrupts' pending/active state; the model only
//! records what happened meanwhile (new edges, guest register writes from
//! other vCPUs) and merges it at sync, so nothing is lost or duplicated
//! beyond what edge coalescing allows.
//!
//! Policy: active interrupts first (the guest must be able to deactivate
//! them through a list register), then pending ones by priority (lower value
//! first), ties by lower INTID. When more candidates exist than registers,
//! the plan asks for the maintenance interrupts that bring the vCPU back to
//! refill: UIE (at most one valid LR left), NPIE (no LR pending any more)
//! and, if active interrupts had to be left out, LRENPIE (the guest EOId an
//! interrupt no LR holds; see `eoi_count`).

use super::irq::{InLr, Irq, NR_PRIVATE, NR_SGIS};
use super::lr::{ListRegister, LrState};
use super::{Effect, Phys, Vgic, MAX_LRS, SPI_WORDS};

const HCR_UIE: u64 = 1 << 1;
pub(super) const HCR_LRENPIE: u64 = 1 << 2;
const HCR_NPIE: u64 = 1 << 3;

/// What to load at guest entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LrPlan {
    lrs: [u64; MAX_LRS],
    nr_lrs: usize,
    /// Valid entries, at the front of `lrs()`.
    pub used: usize,
    /// More interrupts wait than fit.
    pub overflow: bool,
    /// ICH_HCR_EL2.UIE: maintenance when at most one LR is valid.
    pub uie: bool,
    /// ICH_HCR_EL2.NPIE: maintenance when no LR is pending.
    pub npie: bool,
    /// ICH_HCR_EL2.LRENPIE: maintenance while EOIcount is not 0.
    pub lrenpie: bool,
    /// GICv2: the source CPU of the SGI in each list register.
    sources: [u8; MAX_LRS],
}

impl LrPlan {
    /// The value for every ICH_LR<n>_EL2, n < nr_lrs (0 = invalid).
    pub fn lrs(&self) -> &[u64] {
        &self.lrs[..self.nr_lrs]
    }

    /// GICv2: the source CPU to encode into list register `n`
    /// (`ListRegister::encode_gicv2`); 0 for anything but an SGI.
    pub fn source(&self, n: usize) -> u8 {
        self.sources.get(n).copied().unwrap_or(0)
    }

    /// This plan for a board whose GIC does not signal virtual IRQs (the
    /// hypervisor raises them with HCR_EL2.VI): the registers to load, the
    /// ICH_HCR_EL2 bits, and whether to raise VI. A pending register
    /// raises it, with NPIE so the vCPU comes back to lower it once none
    /// is. A pending-and-active one raises it too (its pending part is
    /// taken once the guest deactivates the active one), but not NPIE: the
    /// GIC counts only the pending state as pending, so NPIE would fire at
    /// once and forever. Its EOI bit instead reports when it has emptied.
    pub fn for_soft_virq(&self) -> ([u64; MAX_LRS], u64, bool) {
        let mut lrs = self.lrs;
        let (mut pending, mut pending_active) = (false, false);
        for v in &mut lrs[..self.nr_lrs] {
            let mut lr = ListRegister::decode(*v);
            match lr.state {
                LrState::Pending => pending = true,
                LrState::PendingActive => {
                    pending_active = true;
                    lr.eoi_maintenance = lr.pintid.is_none();
                    *v = lr.encode();
                }
                _ => {}
            }
        }
        let npie = if pending { HCR_NPIE } else { 0 };
        (lrs, self.hcr_bits() | npie, pending || pending_active)
    }

    /// The bits to OR into ICH_HCR_EL2 (besides En).
    pub fn hcr_bits(&self) -> u64 {
        let mut v = 0;
        if self.uie {
            v |= HCR_UIE;
        }
        if self.lrenpie {
            v |= HCR_LRENPIE;
        }
        if self.npie {
            v |= HCR_NPIE;
        }
        v
    }
}

/// The INTIDs in a busy set, ascending: private ones (bit = INTID), then
/// SPIs (bit i of the words = INTID 32 + i).
fn marked(private: u32, spis: &[u64; SPI_WORDS]) -> impl Iterator<Item = u32> + '_ {
    let set_bits = |word: u64, base: u32| {
        let mut rest = word;
        core::iter::from_fn(move || {
            let bit = (rest != 0).then(|| rest.trailing_zeros())?;
            rest &= rest - 1;
            Some(base + bit)
        })
    };
    let spi_words = spis.iter().zip(0u32..);
    set_bits(u64::from(private), 0)
        .chain(spi_words.flat_map(move |(&w, n)| set_bits(w, NR_PRIVATE + 64 * n)))
}

/// Whether SPI `irq` belongs to `vcpu`'s scheduling right now: the list
/// registers holding it are `vcpu`'s, or none do and it is `vcpu`'s.
fn spi_belongs(irq: &Irq, vcpu: usize) -> bool {
    match irq.in_lr() {
        Some(holder) => holder == vcpu,
        None => irq.home() == Some(vcpu),
    }
}

impl Vgic {
    /// Whether interrupt `intid` belongs to `vcpu`'s scheduling right now.
    fn belongs(&self, vcpu: usize, intid: u32) -> bool {
        intid < NR_PRIVATE || self.irq(vcpu, intid).is_some_and(|i| spi_belongs(i, vcpu))
    }

    fn all_intids(&self) -> core::ops::Range<u32> {
        0..NR_PRIVATE + self.spis.len() as u32
    }

    /// The highest-priority interrupt `vcpu` could take now (pending,
    /// enabled, group enabled; in a list register or not), as (INTID,
    /// priority). The arch layer's WFI check.
    pub fn highest_pending(&self, vcpu: usize) -> Option<(u32, u8)> {
        if vcpu >= self.nr_vcpus() {
            return None;
        }
        let all = self.vcpus[vcpu].private.iter().chain(self.spis.iter());
        all.zip(0u32..)
            // Nothing pending anywhere (model or list register): skip cheaply.
            .filter(|(irq, _)| irq.latch || irq.line || irq.lr.is_some())
            .filter(|&(irq, i)| self.deliverable(irq) && self.belongs(vcpu, i))
            .map(|(irq, i)| (i, irq.priority))
            .min_by_key(|&(i, p)| (p, i))
    }

    /// Choose the list registers for `vcpu`'s next guest entry, with
    /// `nr_lrs` registers (ICH_VTR_EL2.ListRegs + 1; at most 16). The
    /// previous plan must have been synced; if it was not, it is folded back
    /// as if the guest had not touched it.
    pub fn flush(&mut self, vcpu: usize, nr_lrs: usize) -> LrPlan {
        let n = nr_lrs.min(MAX_LRS);
        let mut plan = LrPlan {
            lrs: [ListRegister::INVALID; MAX_LRS],
            nr_lrs: n,
            used: 0,
            overflow: false,
            uie: false,
            npie: false,
            lrenpie: false,
            sources: [0; MAX_LRS],
        };
        if vcpu >= self.nr_vcpus() {
            return plan;
        }
        if self.vcpus[vcpu].nr_loaded > 0 {
            self.sync(vcpu, &[]);
        }
        // Top-n candidates by (inactive, priority, INTID), kept sorted.
        let mut best = [(0u64, 0u32); MAX_LRS];
        let mut len = 0;
        let mut total = 0;
        // Only interrupts marked busy can be pending or active; those found
        // idle are unmarked. This runs at every guest entry, and a scan of
        // every INTID cost ~40 us of each exit under emulation.
        let (private_marked, spis_marked) = (self.vcpus[vcpu].busy, self.busy_spis);
        let (mut private_idle, mut spis_idle) = (0u32, [0u64; SPI_WORDS]);
        for intid in marked(private_marked, &spis_marked) {
            let Some(irq) = self.irq(vcpu, intid) else {
                continue;
            };
            if !(irq.latch || irq.line || irq.active) {
                match intid.checked_sub(NR_PRIVATE) {
                    None => private_idle |= 1 << intid,
                    Some(i) => spis_idle[i as usize / 64] |= 1 << (i % 64),
                }
                continue;
            }
            if !self.belongs(vcpu, intid) {
                continue;
            }
            let pend = irq.enabled && irq.model_pending() && self.group_enabled(irq.group1);
            if !pend && !irq.active {
                continue;
            }
            total += 1;
            let key =
                u64::from(!irq.active) << 40 | u64::from(irq.priority) << 32 | u64::from(intid);
            if len < n {
                len += 1;
            } else if n == 0 || key >= best[n - 1].0 {
                continue;
            }
            let mut at = len - 1;
            while at > 0 && best[at - 1].0 > key {
                best[at] = best[at - 1];
                at -= 1;
            }
            best[at] = (key, intid);
        }
        self.vcpus[vcpu].busy &= !private_idle;
        for (word, idle) in self.busy_spis.iter_mut().zip(spis_idle) {
            *word &= !idle;
        }
        for (slot, &(_, intid)) in best[..len].iter().enumerate() {
            let grp_on = self
                .irq(vcpu, intid)
                .is_some_and(|i| self.group_enabled(i.group1));
            let v2_sgi = self.is_v2() && intid < NR_SGIS;
            let (pend_src, act_src) = if v2_sgi {
                let st = &self.vcpus[vcpu];
                let i = intid as usize;
                (st.sgi_source[i], st.sgi_active_source[i])
            } else {
                (0, 0)
            };
            let Some(irq) = self.irq_mut(vcpu, intid) else {
                continue;
            };
            let pend = irq.enabled && irq.model_pending() && grp_on;
            // HW = 1 list registers may not be pending and active: the
            // pending part waits for the deactivation. So does a GICv2 SGI
            // pending from another source than the active one: the register
            // has one source field, and the guest's EOI must match it. The
            // EOI maintenance interrupt brings the vCPU back to load it.
            let split = v2_sgi && irq.active && pend && pend_src != act_src;
            let pend = pend && !(irq.hw.is_some() && irq.active) && !split;
            let state = LrState::new(pend, irq.active);
            let took_latch = pend && irq.latch;
            if took_latch {
                irq.latch = false;
            }
            let source = if pend { pend_src } else { act_src };
            irq.lr = Some(InLr {
                vcpu: vcpu as u8,
                state,
                took_latch,
                pend_cleared: false,
                active_set: None,
                source,
            });
            let lr = ListRegister {
                vintid: intid,
                pintid: irq.hw,
                state,
                priority: irq.priority,
                group1: irq.group1,
                eoi_maintenance: split,
            };
            plan.lrs[slot] = lr.encode();
            plan.sources[slot] = source;
            self.vcpus[vcpu].loaded[slot] = intid;
        }
        self.vcpus[vcpu].nr_loaded = len;
        plan.used = len;
        plan.overflow = total > len;
        // Active interrupts left out can only be deactivated through EOIcount.
        // Whatever is active, or was spilled, was marked busy at the start.
        for intid in marked(private_marked, &spis_marked) {
            let irq = match intid.checked_sub(NR_PRIVATE) {
                None => &mut self.vcpus[vcpu].private[intid as usize],
                Some(i) => match self.spis.get_mut(i as usize) {
                    Some(irq) => irq,
                    None => continue,
                },
            };
            if !irq.active {
                irq.spilled = false;
                continue;
            }
            if intid < NR_PRIVATE || spi_belongs(irq, vcpu) {
                irq.spilled = irq.lr.is_none();
                plan.lrenpie |= irq.spilled;
            }
        }
        if plan.overflow {
            let decoded = || plan.lrs[..len].iter().map(|v| ListRegister::decode(*v));
            plan.npie = decoded().any(|l| l.state == LrState::Pending);
            plan.uie = n >= 2;
            // One LR holding an active interrupt: ask to hear of its
            // deactivation instead (UIE would fire at once).
            if n == 1 && !plan.npie {
                let mut lr = ListRegister::decode(plan.lrs[0]);
                lr.eoi_maintenance = lr.pintid.is_none();
                plan.lrs[0] = lr.encode();
            }
        }
        plan
    }

    /// Fold the list registers read back at guest exit (ICH_LR0.. in the
    /// order `flush` planned them) into the model. Missing entries count as
    /// untouched. Acknowledged interrupts become active, deactivated ones
    /// inactive; edges and guest writes that arrived meanwhile are merged.
    /// May queue a `Kick` for the new target of an SPI retargeted meanwhile.
    pub fn sync(&mut self, vcpu: usize, lrs: &[u64]) {
        let Some(state) = self.vcpus.get(vcpu) else {
            return;
        };
        let (loaded, nr) = (state.loaded, state.nr_loaded);
        self.vcpus[vcpu].nr_loaded = 0;
        for (i, &intid) in loaded[..nr].iter().enumerate() {
            let Some(irq) = self.irq_mut(vcpu, intid) else {
                continue;
            };
            let Some(held) = irq.lr.take() else {
                continue;
            };
            let now = lrs
                .get(i)
                .map(|v| ListRegister::decode(*v))
                .filter(|l| l.vintid == intid)
                .map_or(held.state, |l| l.state);
            if now.pending() && held.took_latch && !held.pend_cleared {
                irq.latch = true;
            }
            irq.active = held.active_set.unwrap_or(now.active());
            irq.acked_by = irq.active.then_some(vcpu as u8);
            // The active instance is the one this register carried.
            if self.is_v2() && intid < NR_SGIS && now.active() {
                self.vcpus[vcpu].sgi_active_source[intid as usize] = held.source;
            }
            // An SPI retargeted while it sat here: its new vCPU may take it now.
            if let Some(home) = self.who_to_kick(vcpu, intid).filter(|&h| h != vcpu) {
                self.push_effect(Effect::Kick(home));
            }
        }
    }

    /// The guest deactivated `count` interrupts that no list register held
    /// (ICH_HCR_EL2.EOIcount, counted while LRENPIE was set): deactivate that
    /// many of the active interrupts the last flush left out, highest
    /// priority first (the order a guest nesting interrupts EOIs them).
    pub fn eoi_count(&mut self, vcpu: usize, count: u32) {
        if vcpu >= self.nr_vcpus() {
            return;
        }
        for _ in 0..count {
            let pick = self
                .all_intids()
                .filter(|&i| self.belongs(vcpu, i))
                .filter_map(|i| self.irq(vcpu, i).map(|irq| (i, irq)))
                .filter(|(_, irq)| irq.spilled && irq.active && irq.lr.is_none())
                .min_by_key(|(i, irq)| (irq.priority, *i))
                .map(|(i, _)| i);
            let Some(intid) = pick else {
                return;
            };
            let Some(irq) = self.irq_mut(vcpu, intid) else {
                return;
            };
            irq.active = false;
            irq.spilled = false;
            if let Some(pintid) = irq.hw {
                let phys = Phys {
                    pintid,
                    vcpu: (intid < NR_PRIVATE).then_some(vcpu),
                };
                self.push_effect(Effect::DeactivatePhys(phys));
            }
        }
    }
}
