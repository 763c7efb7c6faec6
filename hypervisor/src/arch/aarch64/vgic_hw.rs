//! Connects a domain's virtual GIC model (`crate::vgic`) to the physical
//! GIC (`host_gic`, either version): emulated distributor (and, on v3,
//! redistributor) accesses from stage-2 aborts, list registers synced at
//! every exit and filled at every entry, physical interrupts forwarded as
//! hardware-linked virtual ones, SGIs (trapped ICC_SGI1R_EL1 on v3, GICD_SGIR
//! on v2), and the model's effects applied to the physical GIC.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use super::esr::MmioAccess;
use super::vectors::TrapFrame;
use aarch64_cpu::registers::{Readable, FAR_EL2};

use super::host_gic::{self, Acked};
use super::inject;
use crate::domain::guest_map::VgicLayout;
use crate::domain::Domain;
use crate::info;
use crate::percpu::PerCpu;
use crate::vgic::lr_cache::LrCache;
use crate::vgic::{split_redist_offset, Effect, ListRegister, VcpuSet, Vgic, MAX_LRS};

/// The hypervisor's own SGI, used to make a CPU re-enter its guest.
pub const KICK_SGI: u8 = 0;

/// Each physical CPU's list registers as last written or read.
static LR_CACHES: PerCpu<spin::Mutex<LrCache>> = PerCpu::new();

/// The board's PPIs (its data): the virtual interface's maintenance
/// interrupt and the EL1 virtual timer, linked to each domain's own.
static MAINTENANCE_PPI: AtomicU32 = AtomicU32::new(u32::MAX);
static VTIMER_PPI: AtomicU32 = AtomicU32::new(u32::MAX);
/// The board's GIC does not signal virtual IRQs: HCR_EL2.VI does.
static SOFT_VIRQ: AtomicBool = AtomicBool::new(false);

/// The board's GIC does not re-signal a physical interrupt after a guest's
/// HW = 1 deactivation (`Board::HW_DEACTIVATION_UNSIGNALLED`): hardware-
/// linked interrupts are loaded without HW, with EOI maintenance, and
/// deactivated here.
static UNLINK_HW: AtomicBool = AtomicBool::new(false);
/// With `UNLINK_HW`: each physical CPU's list registers loaded from a
/// hardware-linked interrupt, as its physical INTID + 1 (0: none). Only
/// that CPU touches its row, under its `LR_CACHES` lock.
static UNLINKED: PerCpu<[AtomicU32; MAX_LRS]> = PerCpu::new();

pub fn init(
    cpus: usize,
    maintenance_ppi: u32,
    vtimer_ppi: u32,
    signal: crate::board::VirtualIrqSignal,
    hw_deactivation_unsignalled: bool,
) {
    LR_CACHES.init(cpus, || spin::Mutex::new(LrCache::after_init()));
    UNLINKED.init(cpus, || [const { AtomicU32::new(0) }; MAX_LRS]);
    MAINTENANCE_PPI.store(maintenance_ppi, Ordering::Release);
    VTIMER_PPI.store(vtimer_ppi, Ordering::Release);
    let soft = signal == crate::board::VirtualIrqSignal::HcrVi;
    SOFT_VIRQ.store(soft, Ordering::Release);
    UNLINK_HW.store(hw_deactivation_unsignalled, Ordering::Release);
}

fn maintenance_ppi() -> u32 {
    MAINTENANCE_PPI.load(Ordering::Relaxed)
}

/// The EL1 virtual timer's PPI.
pub fn vtimer_ppi() -> u32 {
    VTIMER_PPI.load(Ordering::Relaxed)
}

/// A virtual GIC. A hardware domain's has every physical SPI (but those
/// passed through to other domains) and the virtual timer PPI linked 1:1
/// to the same virtual INTIDs; any other domain's has `guest_map::SPIS`
/// virtual SPIs (more if a passed-through device's line needs them), its
/// devices' SPIs and the virtual timer linked.
pub fn create(d: &Domain) -> Option<Vgic> {
    let layout = d.vgic_layout?;
    let spis = if d.hardware {
        let lines = host_gic::lines().min(1020);
        (lines.saturating_sub(32) / 32) * 32
    } else {
        let top = d.devices.irqs().max().map_or(0, |i| i + 1 - 32);
        crate::domain::guest_map::SPIS.max(top.next_multiple_of(32))
    };
    // A domain rebuilt after a reset may have left its devices' lines
    // pending or active: they start clean, disabled until it enables them.
    release_devices(d);
    let mpidrs: alloc::vec::Vec<u64> = (0..d.vcpus as usize).map(|i| d.power.mpidr(i)).collect();
    let made = match layout {
        VgicLayout::V3 { .. } => Vgic::new(&mpidrs, spis, host_gic::priority_bits()),
        VgicLayout::V2 { .. } => Vgic::new_v2(mpidrs.len(), spis, host_gic::priority_bits()),
    };
    let mut vg = match made {
        Ok(v) => v,
        Err(e) => {
            info!("d{}: cannot create the virtual GIC: {e:?}", d.id);
            return None;
        }
    };
    let linked = if d.hardware { 32..32 + spis } else { 0..0 };
    let devices = d.devices.irqs();
    for intid in linked.chain(devices).chain([vtimer_ppi()]) {
        // The console's SPI stays the hypervisor's when it keeps the UART;
        // other domains' devices' lines are theirs.
        if (d.xen_console && is_console_irq(intid)) || d.withheld_irqs.contains(&intid) {
            continue;
        }
        let _ = vg.link_hw(intid, intid);
    }
    // No vCPU runs yet: nobody to kick.
    let _ = apply(d, &mut vg, 0);
    Some(vg)
}

/// Quiesce the physical lines of the devices passed through to `d`:
/// disabled, not pending, not active (a domain that stops or resets).
pub fn release_devices(d: &Domain) {
    for intid in d.devices.irqs() {
        host_gic::set_enabled(intid, false);
        host_gic::clear_pending(intid);
        host_gic::clear_active(intid);
    }
}

/// The list-register cache of the CPU vCPU `index` of `d` runs on, and
/// that CPU.
fn cache_of(d: &Domain, index: usize) -> Option<(usize, &'static spin::Mutex<LrCache>)> {
    d.pcpu(index).and_then(|p| LR_CACHES.get(p).map(|c| (p, c)))
}

/// A vCPU (re)starts on this CPU, `pcpu`: nothing a previous guest here
/// left behind stays: its list registers are emptied and the physical
/// virtual-timer PPI, which an HW-linked interrupt may have left active,
/// is deactivated.
pub fn fresh_cpu(pcpu: usize) {
    for n in 0..host_gic::nr_lrs().min(MAX_LRS) {
        host_gic::write_lr(n, 0, 0);
    }
    lrs_reset(pcpu);
    host_gic::clear_active(vtimer_ppi());
    host_gic::clear_pending(vtimer_ppi());
}

/// `host_gic::init_this_cpu` just emptied physical CPU `pcpu`'s list registers.
pub fn lrs_reset(pcpu: usize) {
    if let Some(cache) = LR_CACHES.get(pcpu) {
        *cache.lock() = LrCache::after_init();
    }
    if let Some(row) = UNLINKED.get(pcpu) {
        for slot in row {
            slot.store(0, Ordering::Relaxed);
        }
    }
}

/// The list registers as a guest exit left them.
struct ExitLrs {
    lrs: [u64; MAX_LRS],
    n: usize,
    eoi_count: u32,
}

/// Read list register `n` of physical CPU `pcpu` (the calling one). One
/// that `load` unlinked is linked again, and if the guest deactivated it,
/// so is the physical interrupt: through this CPU interface, which makes
/// the GIC signal it again if it is pending.
fn read_lr(pcpu: usize, n: usize) -> u64 {
    let v = host_gic::read_lr(n);
    let Some(slot) = UNLINKED.get(pcpu).and_then(|row| row.get(n)) else {
        return v;
    };
    let Some(pintid) = slot.load(Ordering::Relaxed).checked_sub(1) else {
        return v;
    };
    let (lr, deactivated) = ListRegister::decode(v).relinked(pintid);
    if deactivated {
        slot.store(0, Ordering::Relaxed);
        host_gic::deactivate(pintid);
    }
    lr.encode()
}

/// Read this CPU's list registers back (outside the model's lock).
fn read_lrs(cache: &mut LrCache, pcpu: usize) -> ExitLrs {
    let n = host_gic::nr_lrs().min(MAX_LRS);
    let mut lrs = [0u64; MAX_LRS];
    cache.read_back(&mut lrs[..n], &mut |i| read_lr(pcpu, i));
    let hcr = cache.hcr_at_exit(&mut host_gic::hcr);
    ExitLrs {
        lrs,
        n,
        eoi_count: ((hcr >> 27) & 0x1f) as u32,
    }
}

/// Fold what `read_lrs` saw into the model; the vCPUs to kick.
#[must_use]
fn fold(d: &Domain, g: &mut Vgic, cache: &mut LrCache, index: usize, st: &ExitLrs) -> VcpuSet {
    g.sync(index, &st.lrs[..st.n]);
    if st.eoi_count != 0 {
        g.eoi_count(index, st.eoi_count);
        cache.clear_eoi_count(&mut host_gic::set_hcr);
    }
    apply(d, g, index)
}

/// Fill the list registers from the model's plan (outside its lock). On a
/// board whose GIC does not signal virtual IRQs, HCR_EL2.VI does, as the
/// model's `LrPlan::for_soft_virq` says.
fn load(cache: &mut LrCache, pcpu: usize, plan: &crate::vgic::LrPlan) {
    let unlink = UNLINK_HW.load(Ordering::Relaxed);
    let mut write_lr = |n: usize, v: u64| {
        let mut v = v;
        if unlink {
            let (lr, pintid) = ListRegister::decode(v).unlinked();
            if let Some(slot) = UNLINKED.get(pcpu).and_then(|row| row.get(n)) {
                slot.store(pintid.map_or(0, |p| p + 1), Ordering::Relaxed);
            }
            v = lr.encode();
        }
        host_gic::write_lr(n, v, plan.source(n))
    };
    if !SOFT_VIRQ.load(Ordering::Relaxed) {
        cache.load(
            plan.lrs(),
            1 | plan.hcr_bits(),
            &mut write_lr,
            &mut host_gic::set_hcr,
        );
        return;
    }
    let (lrs, hcr, vi) = plan.for_soft_virq();
    cache.load(
        &lrs[..plan.lrs().len()],
        1 | hcr,
        &mut write_lr,
        &mut host_gic::set_hcr,
    );
    super::vcpu::set_virtual_irq(vi);
}

/// Guest exit: fold the list registers back into the model.
pub fn exit(d: &Domain, index: usize) {
    let (Some(vg), Some((pcpu, cache))) = (&d.vgic, cache_of(d, index)) else {
        return;
    };
    let mut cache = cache.lock();
    let st = read_lrs(&mut cache, pcpu);
    let kicks = fold(d, &mut vg.lock(), &mut cache, index, &st);
    send_kicks(d, Some(index), kicks);
}

/// Guest entry: fill the list registers from the model.
pub fn entry(d: &Domain, index: usize) {
    let (Some(vg), Some((pcpu, cache))) = (&d.vgic, cache_of(d, index)) else {
        return;
    };
    let n = host_gic::nr_lrs().min(MAX_LRS);
    let plan = vg.lock().flush(index, n);
    load(&mut cache.lock(), pcpu, &plan);
}

/// A physical interrupt while the guest ran, start to finish: the exit's
/// sync, the interrupt, and the entry's flush under one hold of the model's
/// lock (the most frequent exit; the lock is shared by all vCPUs).
pub fn irq_exit(d: &Domain, index: usize) {
    let (Some(vg), Some((pcpu, cache))) = (&d.vgic, cache_of(d, index)) else {
        return irq(d, index);
    };
    let mut cache = cache.lock();
    let st = read_lrs(&mut cache, pcpu);
    let forward = take_physical(d, index);
    let n = host_gic::nr_lrs().min(MAX_LRS);
    let (plan, kicks) = {
        let mut g = vg.lock();
        let mut kicks = fold(d, &mut g, &mut cache, index, &st);
        if let Some(intid) = forward {
            kicks.0 |= forward_physical(d, &mut g, index, intid).0;
        }
        (g.flush(index, n), kicks)
    };
    load(&mut cache, pcpu, &plan);
    send_kicks(d, Some(index), kicks);
}

/// A stage-2 data abort: emulate it if it hits the virtual GIC. Returns
/// whether it did (the frame then continues after the access).
pub fn mmio(d: &Domain, index: usize, frame: &mut TrapFrame, ipa: u64, access: MmioAccess) -> bool {
    let (Some(vg), Some(layout)) = (&d.vgic, d.vgic_layout) else {
        return false;
    };
    let write = access.write.then(|| access.store_value(&frame.x));
    let mut g = vg.lock();
    let result = match layout {
        VgicLayout::V3 { gicd, .. } | VgicLayout::V2 { gicd, .. } if gicd.contains(ipa) => {
            if matches!(layout, VgicLayout::V3 { .. }) {
                g.dist_access(index, ipa - gicd.base, access.size, write)
            } else {
                g.dist_v2_access(index, ipa - gicd.base, access.size, write)
            }
        }
        VgicLayout::V3 { gicr, .. } if gicr.contains(ipa) => {
            let (frame_no, off) = split_redist_offset(ipa - gicr.base);
            g.redist_access(frame_no, off, access.size, write)
        }
        // The v2 CPU interface is the hardware's GICV, mapped: no abort.
        _ => return false,
    };
    let kicks = apply(d, &mut g, index);
    drop(g);
    send_kicks(d, Some(index), kicks);
    match result {
        Ok(v) => {
            if !access.write {
                access.complete_load(&mut frame.x, v);
            }
            frame.elr += 4;
        }
        Err(e) => {
            // Capped like every fault report: a guest must not be able to
            // flood the hypervisor's console with bad accesses.
            d.report_fault(
                super::traps::counter_ns(),
                format_args!("GIC access at {ipa:#x} refused ({e:?}): injecting abort"),
            );
            inject::data_abort(frame, FAR_EL2.get());
        }
    }
    true
}

/// A physical interrupt arrived while a guest ran.
pub fn irq(d: &Domain, index: usize) {
    if let (Some(intid), Some(vg)) = (take_physical(d, index), &d.vgic) {
        let kicks = forward_physical(d, &mut vg.lock(), index, intid);
        send_kicks(d, Some(index), kicks);
    }
}

/// Forward physical interrupt `intid`, taken while vCPU `index` of `d` ran,
/// as its HW-linked virtual interrupt. One that is not linked in this
/// domain (it belongs to another, and arrived here before its route
/// followed) is deactivated and dropped, never injected into the wrong
/// domain.
#[must_use]
fn forward_physical(d: &Domain, g: &mut Vgic, index: usize, intid: u32) -> VcpuSet {
    if g.irq(index, intid).and_then(|i| i.hw()) != Some(intid) {
        host_gic::deactivate(intid);
        info!(
            "d{}: physical interrupt {intid} is not this domain's: dropped",
            d.id
        );
        return VcpuSet::EMPTY;
    }
    raise(d, g, index, index, intid)
}

/// Acknowledge the physical interrupt. The hypervisor's own (kick SGI,
/// maintenance) are finished here; one to forward to the guest is returned
/// after its priority drop only (the guest's deactivation of the
/// HW-linked virtual interrupt deactivates the physical one).
fn take_physical(d: &Domain, _index: usize) -> Option<u32> {
    let acked: Acked = host_gic::ack();
    let intid = acked.intid;
    if intid >= host_gic::SPECIAL {
        return None;
    }
    if is_console_irq(intid) {
        host_gic::eoi(acked);
        host_gic::finish(acked);
        console_input();
        return None;
    }
    let forwarded = d.vgic.is_some() && (intid == vtimer_ppi() || intid >= 32);
    host_gic::eoi(acked);
    if !forwarded {
        // The entry flush does whatever a kick was for.
        host_gic::finish(acked);
        if intid >= 16 && intid != maintenance_ppi() {
            info!("d{}: unexpected physical interrupt {intid}", d.id);
        }
        return None;
    }
    Some(intid)
}

/// Drive the level of an emulated device's SPI `intid` of `d` and tell
/// the vCPU it targets.
pub fn set_spi_level(d: &Domain, intid: u32, level: bool) {
    let Some(vg) = &d.vgic else {
        return;
    };
    let me = super::vcpu::current_vcpu();
    let current = core::ptr::eq(me.domain, d).then_some(me.index);
    let kicks = {
        let mut g = vg.lock();
        let mut kicks = g.set_level(0, intid, level).unwrap_or_default();
        kicks.0 |= apply(d, &mut g, current.unwrap_or(usize::MAX)).0;
        kicks
    };
    send_kicks(d, current, kicks);
}

/// Make vCPU `vcpu` of `d` exit to the hypervisor soon (it may be
/// spinning in the guest with interrupts masked: the kick is physical).
pub fn kick(d: &Domain, vcpu: usize) {
    let mut set = VcpuSet::EMPTY;
    set.insert(vcpu);
    send_kicks(d, None, set);
}

/// Make virtual PPI `intid` pending on vCPU `target` of `d` (the event
/// channel upcall) and tell that vCPU's CPU.
pub fn raise_virtual(d: &Domain, target: usize, intid: u32) {
    let Some(vg) = &d.vgic else {
        return;
    };
    let me = super::vcpu::current_vcpu();
    let current = core::ptr::eq(me.domain, d).then_some(me.index);
    let kicks = raise(
        d,
        &mut vg.lock(),
        target,
        current.unwrap_or(usize::MAX),
        intid,
    );
    send_kicks(d, current, kicks);
}

/// The console UART's interrupt, when the hypervisor keeps it.
static CONSOLE_SPI: AtomicU64 = AtomicU64::new(u64::MAX);

/// Take the console UART's SPI for the hypervisor: routed to this CPU
/// (the boot CPU) and enabled.
pub fn take_console_irq(intid: u32) {
    CONSOLE_SPI.store(u64::from(intid), Ordering::Release);
    host_gic::route_here(intid);
    host_gic::set_enabled(intid, true);
    crate::console::enable_input();
}

/// Whether `intid` is the console SPI the hypervisor keeps.
pub fn is_console_irq(intid: u32) -> bool {
    CONSOLE_SPI.load(Ordering::Acquire) == u64::from(intid)
}

/// Console input arrived: route it (`console::dispatch`), with a domain's
/// UART bytes going into its vPL011 and events raised through the vGIC.
fn console_input() {
    crate::console::dispatch::route_input(
        crate::domain::all(),
        aarch64_cpu::registers::CNTFRQ_EL0.get(),
        &mut |d, bytes| super::vuart_glue::input(d, bytes),
        &mut |d, vcpu| raise_virtual(d, vcpu, crate::domain::EVTCHN_PPI),
    );
}

/// Make `intid` pending in the model; the vCPUs that must be told.
#[must_use]
/// `target` selects the PPI bank; `current` is the vCPU of `d` running on
/// this CPU (`usize::MAX` if none), for the effects on banked interrupts.
fn raise(d: &Domain, g: &mut Vgic, target: usize, current: usize, intid: u32) -> VcpuSet {
    let mut kicks = g.raise_edge(target, intid).unwrap_or_default();
    kicks.0 |= apply(d, g, current).0;
    kicks
}

/// A trapped write of ICC_SGI1R_EL1 (`group1`) or ICC_SGI0R_EL1, start to
/// finish like `irq_exit`: the exit's sync, the SGIs and the entry's flush
/// under one hold of the model's lock (Linux's IPIs make this the second
/// most frequent exit).
pub fn sgi_exit(d: &Domain, index: usize, value: u64, group1: bool) {
    let (Some(vg), Some((pcpu, cache))) = (&d.vgic, cache_of(d, index)) else {
        return;
    };
    let mut cache = cache.lock();
    let st = read_lrs(&mut cache, pcpu);
    let n = host_gic::nr_lrs().min(MAX_LRS);
    let (plan, kicks) = {
        let mut g = vg.lock();
        let mut kicks = fold(d, &mut g, &mut cache, index, &st);
        let sent = if group1 {
            g.send_sgi(index, value)
        } else {
            g.send_sgi0(index, value)
        };
        kicks.0 |= sent.0 | apply(d, &mut g, index).0;
        (g.flush(index, n), kicks)
    };
    load(&mut cache, pcpu, &plan);
    send_kicks(d, Some(index), kicks);
}

/// Make the other CPUs among `targets` re-enter their guests, so that they
/// pick up what changed. Called without the model's lock held: sending an
/// SGI can be slow (under emulation it waits for a global lock) and must
/// not keep the other CPUs spinning on ours.
fn send_kicks(d: &Domain, current: Option<usize>, targets: VcpuSet) {
    for target in targets.iter() {
        if Some(target) != current {
            if let Some(pcpu) = d.pcpu(target) {
                host_gic::send_sgi(pcpu, KICK_SGI);
            }
        }
    }
}

/// Carry out what the model asks of the physical GIC; returns the vCPUs
/// it asks to kick (for the caller to do once the lock is dropped).
#[must_use]
fn apply(d: &Domain, g: &mut Vgic, current: usize) -> VcpuSet {
    let mut kicks = VcpuSet::EMPTY;
    // Banked PPIs of another vCPU's CPU: that CPU syncs when it programs
    // its own interface (as Linux does), so only the current one's apply.
    let here = |p: crate::vgic::Phys| p.vcpu.is_none_or(|v| v == current);
    for e in g.drain_effects() {
        match e {
            Effect::Kick(v) => kicks.insert(v),
            Effect::EnablePhys(p) if here(p) => host_gic::set_enabled(p.pintid, true),
            Effect::DisablePhys(p) if here(p) => host_gic::set_enabled(p.pintid, false),
            Effect::ClearPhysPending(p) if here(p) => host_gic::clear_pending(p.pintid),
            Effect::DeactivatePhys(p) if here(p) => host_gic::deactivate(p.pintid),
            Effect::SetPhysTrigger { phys, edge } if here(phys) => {
                host_gic::set_edge(phys.pintid, edge)
            }
            Effect::RouteChanged {
                pintid,
                vcpu: Some(v),
                ..
            } => {
                if let Some(pcpu) = d.pcpu(v) {
                    host_gic::route(pintid, pcpu);
                }
            }
            _ => {}
        }
    }
    kicks
}

/// This CPU's own interrupts: the kick SGI and the maintenance interrupt.
pub fn enable_local() {
    host_gic::set_enabled(u32::from(KICK_SGI), true);
    host_gic::set_enabled(maintenance_ppi(), true);
}
