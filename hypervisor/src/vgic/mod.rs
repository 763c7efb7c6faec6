//! The virtual GIC of one domain: an architecture-neutral model of the
//! distributor, the redistributors (GICv3) and the list-register scheduling
//! that delivers virtual interrupts through the CPU's virtual interface.
//! Pure state machines: no register access, no MMIO pointers, so all of it
//! is tested on the host. Two front ends share one interrupt model:
//! - GICv3 (`Vgic::new`): a distributor (GICD) and one 128 KiB
//!   redistributor (GICR) frame per vCPU; a single Security state
//!   (GICD_CTLR.DS = 1), affinity routing only (ARE = 1), no LPIs/ITS,
//!   10-bit INTIDs; the guest's CPU interface (ICC_*) is the hardware's
//!   virtual interface; list registers in the ICH_LR<n>_EL2 layout.
//! - GICv2 (`Vgic::new_v2`, up to 8 vCPUs, vCPU i = CPU interface i): the
//!   4 KiB GICv2 distributor with no Security Extensions, SGIs sent through
//!   GICD_SGIR that remember their source CPU, SPIs routed by ITARGETSR.
//!   The guest's GICC window is the hardware's GICV frame mapped by stage
//!   2, so there is no CPU-interface emulation. The model keeps its list
//!   registers in the ICH_LR layout; `ListRegister::encode_gicv2` and
//!   `decode_gicv2` convert to and from GICH_LR<n>.
//!
//! Each front end refuses the other's frames (`AccessError::WrongVersion`);
//! `send_sgi`/`send_sgi0` do nothing on a GICv2 model.
//!
//! How the arch layer drives it (the `Vgic` sits behind the domain's lock):
//! - Domain build: `Vgic::new(mpidrs, nr_spis, priority_bits)` with the
//!   vCPUs' MPIDRs and ICH_VTR_EL2.PRIbits + 1, or `Vgic::new_v2(nr_vcpus,
//!   nr_spis, priority_bits)` with GICH_VTR.PRIbits + 1 (5 on a GIC-400);
//!   `link_hw` for every physical SPI passed through; then apply
//!   `drain_effects()`.
//! - Stage-2 abort in the GICD window: `dist_access(vcpu, ipa - gicd,
//!   size, write)` (GICv3) or `dist_v2_access(...)` (GICv2, a
//!   `DIST_V2_SIZE` frame); in the GICR window (GICv3):
//!   `split_redist_offset(ipa - gicr)` then `redist_access(frame, offset,
//!   size, write)`. `Err` means inject a data abort; `Ok(v)` is the read
//!   value (ignored for writes). Then apply `drain_effects()`: `Effect`s for
//!   the physical GIC and vCPUs to kick (a GICD_SGIR write queues a `Kick`
//!   for each target other than the writer).
//! - Trapped ICC_SGI1R_EL1 / ICC_SGI0R_EL1 write (GICv3): `send_sgi` /
//!   `send_sgi0`.
//! - Devices and timers: `set_level` (level lines), `raise_edge` (edges and
//!   physical interrupts of HW-linked INTIDs, which the hypervisor acked and
//!   priority-dropped with EOImode = 1 and leaves active). All injection
//!   calls return the vCPUs to kick (IPI if running elsewhere, wake if in WFI;
//!   the current vCPU needs nothing: it flushes at entry).
//! - Guest exit: read the list registers into `sync(vcpu, &lrs)` (GICv2:
//!   each GICH_LR<n> as `ListRegister::decode_gicv2(v).encode()`); if the
//!   last plan set LRENPIE, pass EOIcount to `eoi_count` and zero it; apply
//!   `drain_effects()` (a kick for the new target of an SPI that was
//!   retargeted while in this vCPU's LRs; DeactivatePhys from `eoi_count`).
//! - Guest entry: `flush(vcpu, nr_lrs)`: write `plan.lrs()[n]` to
//!   ICH_LR<n>_EL2 (GICv2: `ListRegister::decode(plan.lrs()[n])
//!   .encode_gicv2(plan.source(n))` to GICH_LR<n>) and the control register
//!   to En | `plan.hcr_bits()`. GICH_HCR has UIE [1], LRENPIE [2], NPIE [3]
//!   and EOICount [31:27] where ICH_HCR_EL2 has them (checked against the
//!   GICH_HCR and ICH_HCR_EL2 register descriptions), so `hcr_bits()` and
//!   `eoi_count` apply unchanged. Always sync at exit and flush at entry
//!   (at least whenever a vgic call happened in between).
//! - Maintenance interrupt: nothing beyond the exit/entry pair;
//!   UIE/NPIE/LRENPIE and an LR's EOI bit only make the CPU exit so the LRs
//!   are refilled. (GICv2: an SGI pending from another source than its
//!   active instance waits out of the LRs; the active one's LR has EOI set.)
//! - WFI: `highest_pending(vcpu)` says whether the vCPU has work (compare
//!   its priority with the virtual priority mask to honour the guest's).

mod dist;
mod dist_v2;
mod inject;
mod irq;
mod lr;
pub mod lr_cache;
mod lr_v2;
mod mmio;
mod redist;
mod sched;
#[cfg(test)]
mod tests;

use alloc::vec::Vec;

pub use dist_v2::DIST_V2_SIZE;
pub use irq::{Irq, Trigger, FIRST_SPECIAL_INTID, NR_PRIVATE, NR_SGIS};
pub use lr::{ListRegister, LrState};
pub use mmio::{split_redist_offset, AccessError, DIST_SIZE, REDIST_STRIDE};
pub use sched::LrPlan;

use irq::PhysOp;

/// Most vCPUs one `Vgic` models (`VcpuSet` is a 64-bit mask).
pub const MAX_VCPUS: usize = 64;
/// A GICv2 has eight CPU interfaces (3-bit CPU numbers, 8-bit target masks).
pub const MAX_VCPUS_V2: usize = 8;
/// ICH_VTR_EL2.ListRegs is 4 bits: at most 16 list registers.
pub const MAX_LRS: usize = 16;

/// A set of vCPU indices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuSet(pub u64);

impl VcpuSet {
    pub const EMPTY: Self = Self(0);
    pub fn insert(&mut self, vcpu: usize) {
        self.0 |= 1 << vcpu;
    }
    pub fn contains(&self, vcpu: usize) -> bool {
        vcpu < 64 && self.0 & (1 << vcpu) != 0
    }
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..64).filter(move |v| self.contains(*v))
    }
}

/// Misuse of the model by its caller (never guest-triggerable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VgicError {
    /// No vCPUs, more than `MAX_VCPUS` (`MAX_VCPUS_V2` for a GICv2), or
    /// two with the same affinity.
    BadVcpus,
    /// Not a multiple of 32, or more than 992.
    BadSpiCount,
    /// Priority bits outside 4..=8.
    BadPriorityBits,
    BadVcpu(usize),
    /// No such interrupt, or the wrong kind for the call.
    BadIntid(u32),
    /// A physical INTID that cannot be linked (SGI, special, > 1019).
    BadPhysIntid(u32),
}

/// A physical interrupt an effect applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phys {
    pub pintid: u32,
    /// For PPIs, the vCPU whose physical CPU holds the (banked) PPI; `None` for SPIs.
    pub vcpu: Option<usize>,
}

/// What the arch layer must do after a register access (`drain_effects`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The guest enabled an HW-linked interrupt: enable the physical one.
    EnablePhys(Phys),
    DisablePhys(Phys),
    /// The guest cleared the pending state (ICPENDR).
    ClearPhysPending(Phys),
    /// The guest deactivated an HW-linked interrupt by ICACTIVER (or by an
    /// EOI the list registers did not see): deactivate the physical one.
    DeactivatePhys(Phys),
    /// The guest (re)configured the trigger of an HW-linked interrupt.
    SetPhysTrigger {
        phys: Phys,
        edge: bool,
    },
    /// An HW-linked SPI is now delivered to `vcpu` (`None`: no vCPU matches
    /// its IROUTER): route the physical SPI to the CPU running that vCPU.
    RouteChanged {
        intid: u32,
        pintid: u32,
        vcpu: Option<usize>,
    },
    /// The vCPU must exit and re-flush (a new interrupt for it, or the state
    /// of one in its list registers changed). Nothing to do for the current one.
    Kick(usize),
}

/// The GIC architecture the guest sees, which decides the register frames
/// it may use (`dist_access`/`redist_access` or `dist_v2_access`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    V2,
    V3,
}

/// Per-vCPU state: affinity, redistributor, banked interrupts, loaded LRs.
#[derive(Clone, Debug)]
struct VcpuState {
    /// Aff3.Aff2.Aff1.Aff0, as in GICR_TYPER[63:32]; GICv2: the CPU
    /// interface number.
    affinity: u32,
    /// GICR_WAKER.ProcessorSleep.
    asleep: bool,
    private: [Irq; NR_PRIVATE as usize],
    /// Private INTIDs (bit = INTID) that may be pending or active: marked by
    /// every change ([`Vgic::irq_mut`]), unmarked by `flush` once seen idle.
    busy: u32,
    /// vINTIDs `flush` put in list registers 0..len, not yet synced.
    loaded: [u32; MAX_LRS],
    nr_loaded: usize,
    /// GICv2: the CPU that sent each SGI's pending instance, and the one
    /// whose instance the guest acknowledged (its EOI names that source).
    /// A GICv2 keeps a pending bit per source; one source is kept here: a
    /// second sender while one is pending takes its place and the two
    /// coalesce into one interrupt, as for any edge. Linux's IPIs carry
    /// their meaning in memory, not in the source, so nothing is lost.
    sgi_source: [u8; NR_SGIS as usize],
    sgi_active_source: [u8; NR_SGIS as usize],
}

/// The virtual GIC of one domain.
#[derive(Clone, Debug)]
pub struct Vgic {
    version: GicVersion,
    vcpus: Vec<VcpuState>,
    spis: Vec<Irq>,
    /// As GICD_TYPER.ITLinesNumber reports (a multiple of 32).
    nr_spis: u32,
    prio_mask: u8,
    /// GICD_CTLR.EnableGrp0 / EnableGrp1.
    grp0: bool,
    grp1: bool,
    effects: Vec<Effect>,
    /// The same for SPIs (bit i = INTID 32 + i).
    busy_spis: [u64; SPI_WORDS],
}

/// Words of the SPI busy set: 992 SPIs at most.
pub(super) const SPI_WORDS: usize = 16;

/// MPIDR_EL1 or GICD_IROUTER to Aff3.Aff2.Aff1.Aff0.
const fn packed_affinity(v: u64) -> u32 {
    (((v >> 32) & 0xff) << 24 | (v & 0xff_ffff)) as u32
}

impl Vgic {
    /// A reset GICv3 for vCPUs with these MPIDR_EL1 values (index = vCPU
    /// id), `nr_spis` SPIs (a multiple of 32, at most 992; INTIDs from 1020
    /// on do not exist) and `priority_bits` implemented priority bits (4..=8;
    /// the low bits of priority fields read as zero). SPIs reset routed to
    /// vCPU 0.
    pub fn new(mpidrs: &[u64], nr_spis: u32, priority_bits: u8) -> Result<Self, VgicError> {
        if mpidrs.is_empty() || mpidrs.len() > MAX_VCPUS {
            return Err(VgicError::BadVcpus);
        }
        let affs: Vec<u32> = mpidrs.iter().map(|m| packed_affinity(*m)).collect();
        if affs.iter().enumerate().any(|(i, a)| affs[..i].contains(a)) {
            return Err(VgicError::BadVcpus);
        }
        let route = mpidrs[0] & 0xff_00ff_ffff;
        Self::build(GicVersion::V3, affs, nr_spis, priority_bits, route)
    }

    /// A reset GICv2 for `nr_vcpus` vCPUs (1..=8; vCPU i is CPU interface
    /// i), `nr_spis` and `priority_bits` as for `new` (GICH_VTR.PRIbits + 1:
    /// 5 on a GIC-400). SPIs reset targeted at CPU 0 (GICD_ITARGETSR = 1).
    pub fn new_v2(nr_vcpus: usize, nr_spis: u32, priority_bits: u8) -> Result<Self, VgicError> {
        if nr_vcpus == 0 || nr_vcpus > MAX_VCPUS_V2 {
            return Err(VgicError::BadVcpus);
        }
        // Affinity i lets the routing and kick code stay shared with GICv3.
        let affs = (0..nr_vcpus as u32).collect();
        Self::build(GicVersion::V2, affs, nr_spis, priority_bits, 1)
    }

    /// `route`: every SPI's reset IROUTER (v3) or ITARGETSR byte (v2); both
    /// select vCPU 0.
    fn build(
        version: GicVersion,
        affs: Vec<u32>,
        nr_spis: u32,
        priority_bits: u8,
        route: u64,
    ) -> Result<Self, VgicError> {
        if !nr_spis.is_multiple_of(32) || nr_spis > 992 {
            return Err(VgicError::BadSpiCount);
        }
        if !(4..=8).contains(&priority_bits) {
            return Err(VgicError::BadPriorityBits);
        }
        let mut private = [Irq::new(Trigger::Level); NR_PRIVATE as usize];
        for sgi in &mut private[..NR_SGIS as usize] {
            sgi.trigger = Trigger::Edge;
        }
        let vcpus = affs
            .iter()
            .map(|&affinity| VcpuState {
                affinity,
                asleep: true,
                private,
                busy: 0,
                loaded: [0; MAX_LRS],
                nr_loaded: 0,
                sgi_source: [0; NR_SGIS as usize],
                sgi_active_source: [0; NR_SGIS as usize],
            })
            .collect();
        let implemented = nr_spis.min(FIRST_SPECIAL_INTID - NR_PRIVATE);
        let mut spi = Irq::new(Trigger::Level);
        spi.route = route;
        spi.target = Some(0);
        Ok(Self {
            version,
            vcpus,
            spis: alloc::vec![spi; implemented as usize],
            nr_spis,
            prio_mask: 0xffu8 << (8 - priority_bits),
            grp0: false,
            grp1: false,
            effects: Vec::new(),
            busy_spis: [0; SPI_WORDS],
        })
    }

    /// The architecture the guest sees.
    pub fn version(&self) -> GicVersion {
        self.version
    }

    fn is_v2(&self) -> bool {
        self.version == GicVersion::V2
    }

    pub fn nr_vcpus(&self) -> usize {
        self.vcpus.len()
    }

    /// SPIs as GICD_TYPER reports them (INTIDs 32..32 + nr_spis, minus 1020..).
    pub fn nr_spis(&self) -> u32 {
        self.nr_spis
    }

    /// vCPU `vcpu`'s Aff3.Aff2.Aff1.Aff0 (GICv2: its CPU interface number).
    pub fn affinity(&self, vcpu: usize) -> Option<u32> {
        self.vcpus.get(vcpu).map(|v| v.affinity)
    }

    /// Interrupt `intid` as vCPU `vcpu` sees it (`vcpu` matters for SGIs/PPIs only).
    pub fn irq(&self, vcpu: usize, intid: u32) -> Option<&Irq> {
        if intid < NR_PRIVATE {
            self.vcpus.get(vcpu).map(|v| &v.private[intid as usize])
        } else {
            self.spis.get((intid - NR_PRIVATE) as usize)
        }
    }

    /// The only way to change an interrupt: it is marked busy, so that
    /// `flush` looks at it (until it finds it idle).
    fn irq_mut(&mut self, vcpu: usize, intid: u32) -> Option<&mut Irq> {
        if intid < NR_PRIVATE {
            let v = self.vcpus.get_mut(vcpu)?;
            v.busy |= 1 << intid;
            Some(&mut v.private[intid as usize])
        } else {
            let i = (intid - NR_PRIVATE) as usize;
            let irq = self.spis.get_mut(i)?;
            self.busy_spis[i / 64] |= 1 << (i % 64);
            Some(irq)
        }
    }

    /// Physical-GIC work and vCPU kicks queued by register accesses and `link_hw`.
    pub fn drain_effects(&mut self) -> Vec<Effect> {
        core::mem::take(&mut self.effects)
    }

    fn push_effect(&mut self, e: Effect) {
        if !self.effects.contains(&e) {
            self.effects.push(e);
        }
    }

    fn phys_effect(&mut self, owner: usize, intid: u32, op: PhysOp) {
        let Some(pintid) = self.irq(owner, intid).and_then(|i| i.hw) else {
            return;
        };
        let phys = Phys {
            pintid,
            vcpu: (intid < NR_PRIVATE).then_some(owner),
        };
        self.push_effect(match op {
            PhysOp::Enable => Effect::EnablePhys(phys),
            PhysOp::Disable => Effect::DisablePhys(phys),
            PhysOp::ClearPending => Effect::ClearPhysPending(phys),
            PhysOp::Deactivate => Effect::DeactivatePhys(phys),
        });
    }

    fn group_enabled(&self, group1: bool) -> bool {
        if group1 {
            self.grp1
        } else {
            self.grp0
        }
    }

    /// Pending, enabled and in an enabled group: the CPU interface may take it.
    fn deliverable(&self, irq: &Irq) -> bool {
        irq.enabled && irq.pending() && self.group_enabled(irq.group1)
    }

    /// The vCPU that interrupt `intid` (seen from `owner`) is delivered to.
    fn target_of(&self, owner: usize, intid: u32) -> Option<usize> {
        if intid < NR_PRIVATE {
            Some(owner)
        } else {
            self.irq(owner, intid).and_then(|i| i.home())
        }
    }

    /// Who must exit after `intid`'s state changed: the vCPU holding it in
    /// a list register, else its target if it is now deliverable.
    fn who_to_kick(&self, owner: usize, intid: u32) -> Option<usize> {
        let irq = self.irq(owner, intid)?;
        match irq.in_lr() {
            Some(v) => Some(v),
            None if self.deliverable(irq) => self.target_of(owner, intid),
            None => None,
        }
    }

    /// Queue a kick for whoever `who_to_kick` names, unless it is `accessor`.
    fn note_change(&mut self, owner: usize, intid: u32, accessor: Option<usize>) {
        if let Some(v) = self.who_to_kick(owner, intid) {
            if Some(v) != accessor {
                self.push_effect(Effect::Kick(v));
            }
        }
    }

    /// Whether `intid` exists in this GIC.
    fn implemented(&self, intid: u32) -> bool {
        intid < NR_PRIVATE + self.spis.len() as u32
    }
}
