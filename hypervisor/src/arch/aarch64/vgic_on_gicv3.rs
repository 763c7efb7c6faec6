//! Connects a domain's virtual GIC model (`crate::vgic`) to the hardware:
//! emulated GICD/GICR accesses from stage-2 aborts, list registers synced
//! at every exit and filled at every entry, physical interrupts forwarded
//! as hardware-linked virtual ones, trapped SGI writes, and the model's
//! effects applied to the physical GIC.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use super::esr::MmioAccess;
use super::vectors::TrapFrame;
use aarch64_cpu::registers::{Readable, FAR_EL2, MPIDR_EL1};

use super::{gic_cpu, inject, smp};
use crate::board::PhysRange;
use crate::domain::Domain;
use crate::drivers::gicv3::{Distributor, Redistributor};
use crate::info;
use crate::vgic::lr_cache::LrCache;
use crate::vgic::{split_redist_offset, Effect, VcpuSet, Vgic, DIST_SIZE, MAX_LRS, REDIST_STRIDE};

/// The hypervisor's own SGI, used to make a CPU re-enter its guest.
pub const KICK_SGI: u8 = 0;

/// Each physical CPU's list registers as last written or read.
static LR_CACHES: [spin::Mutex<LrCache>; crate::boot::dt::MAX_CPUS] =
    [const { spin::Mutex::new(LrCache::after_init()) }; crate::boot::dt::MAX_CPUS];

static GICD: AtomicU64 = AtomicU64::new(0);
static GICR: AtomicU64 = AtomicU64::new(0);
/// The board's PPIs (its data): the virtual interface's maintenance
/// interrupt and the EL1 virtual timer, linked to each domain's own.
static MAINTENANCE_PPI: AtomicU32 = AtomicU32::new(u32::MAX);
static VTIMER_PPI: AtomicU32 = AtomicU32::new(u32::MAX);
/// The board's GIC does not signal virtual IRQs: HCR_EL2.VI does.
static SOFT_VIRQ: AtomicBool = AtomicBool::new(false);

pub fn init(
    gicd: u64,
    gicr: u64,
    maintenance_ppi: u32,
    vtimer_ppi: u32,
    signal: crate::board::VirtualIrqSignal,
) {
    GICD.store(gicd, Ordering::Release);
    GICR.store(gicr, Ordering::Release);
    MAINTENANCE_PPI.store(maintenance_ppi, Ordering::Release);
    VTIMER_PPI.store(vtimer_ppi, Ordering::Release);
    let soft = signal == crate::board::VirtualIrqSignal::HcrVi;
    SOFT_VIRQ.store(soft, Ordering::Release);
}

fn maintenance_ppi() -> u32 {
    MAINTENANCE_PPI.load(Ordering::Relaxed)
}

/// The EL1 virtual timer's PPI.
pub fn vtimer_ppi() -> u32 {
    VTIMER_PPI.load(Ordering::Relaxed)
}

/// The physical GIC's distributor and redistributor bases, once known.
pub fn gic_bases() -> Option<(u64, u64)> {
    let d = GICD.load(Ordering::Acquire);
    (d != 0).then(|| (d, GICR.load(Ordering::Acquire)))
}

fn dist() -> Distributor {
    // SAFETY: the board's GICD, recorded at boot, mapped as device memory.
    unsafe { Distributor::new(GICD.load(Ordering::Acquire) as usize) }
}

fn this_redist() -> Option<Redistributor> {
    let aff = MPIDR_EL1.get() & 0xff_00ff_ffff;
    // SAFETY: the board's GICR region, recorded at boot, mapped as device memory.
    unsafe { Redistributor::find(GICR.load(Ordering::Acquire) as usize, aff) }
}

/// A virtual GIC. A hardware domain's has every physical SPI (but those
/// passed through to other domains) and the virtual timer PPI linked 1:1
/// to the same virtual INTIDs; any other domain's has `guest_map::SPIS`
/// virtual SPIs (more if a passed-through device's line needs them), its
/// devices' SPIs and the virtual timer linked.
pub fn create(d: &Domain) -> Option<Vgic> {
    let spis = if d.hardware {
        let lines = dist().lines().min(1020);
        (lines.saturating_sub(32) / 32) * 32
    } else {
        let top = d.devices.irqs().max().map_or(0, |i| i + 1 - 32);
        crate::domain::guest_map::SPIS.max(top.next_multiple_of(32))
    };
    // A domain rebuilt after a reset may have left its devices' lines
    // pending or active: they start clean, disabled until it enables them.
    release_devices(d);
    let mpidrs: alloc::vec::Vec<u64> = (0..d.vcpus as usize).map(|i| d.power.mpidr(i)).collect();
    let mut vg = match Vgic::new(&mpidrs, spis, gic_cpu::priority_bits()) {
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
        let gicd = dist();
        gicd.set_enabled(intid, false);
        gicd.clear_pending(intid);
        gicd.clear_active(intid);
    }
}

/// The list-register cache of the CPU vCPU `index` of `d` runs on.
fn cache_of(d: &Domain, index: usize) -> Option<&'static spin::Mutex<LrCache>> {
    d.pcpu(index).and_then(|p| LR_CACHES.get(p))
}

/// A vCPU (re)starts on this CPU, `pcpu`: nothing a previous guest here
/// left behind stays: its list registers are emptied and the physical
/// virtual-timer PPI, which an HW-linked interrupt may have left active,
/// is deactivated.
pub fn fresh_cpu(pcpu: usize) {
    for n in 0..gic_cpu::nr_lrs().min(MAX_LRS) {
        gic_cpu::write_lr(n, 0);
    }
    lrs_reset(pcpu);
    if let Some(rd) = this_redist() {
        rd.clear_active(vtimer_ppi());
        rd.clear_pending(vtimer_ppi());
    }
}

/// `gic_cpu::init` just emptied physical CPU `pcpu`'s list registers.
pub fn lrs_reset(pcpu: usize) {
    if let Some(cache) = LR_CACHES.get(pcpu) {
        *cache.lock() = LrCache::after_init();
    }
}

/// The list registers as a guest exit left them.
struct ExitLrs {
    lrs: [u64; MAX_LRS],
    n: usize,
    eoi_count: u32,
}

/// Read this CPU's list registers back (outside the model's lock).
fn read_lrs(cache: &mut LrCache) -> ExitLrs {
    let n = gic_cpu::nr_lrs().min(MAX_LRS);
    let mut lrs = [0u64; MAX_LRS];
    cache.read_back(&mut lrs[..n], &mut gic_cpu::read_lr);
    let hcr = cache.hcr_at_exit(&mut gic_cpu::hcr);
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
        cache.clear_eoi_count(&mut gic_cpu::set_hcr);
    }
    apply(d, g, index)
}

/// Fill the list registers from the model's plan (outside its lock). On a
/// board whose GIC does not signal virtual IRQs, HCR_EL2.VI does, as the
/// model's `LrPlan::for_soft_virq` says.
fn load(cache: &mut LrCache, plan: &crate::vgic::LrPlan) {
    if !SOFT_VIRQ.load(Ordering::Relaxed) {
        cache.load(
            plan.lrs(),
            1 | plan.hcr_bits(),
            &mut gic_cpu::write_lr,
            &mut gic_cpu::set_hcr,
        );
        return;
    }
    let (lrs, hcr, vi) = plan.for_soft_virq();
    cache.load(
        &lrs[..plan.lrs().len()],
        1 | hcr,
        &mut gic_cpu::write_lr,
        &mut gic_cpu::set_hcr,
    );
    super::vcpu::set_virtual_irq(vi);
}

/// Guest exit: fold the list registers back into the model.
pub fn exit(d: &Domain, index: usize) {
    let (Some(vg), Some(cache)) = (&d.vgic, cache_of(d, index)) else {
        return;
    };
    let mut cache = cache.lock();
    let st = read_lrs(&mut cache);
    let kicks = fold(d, &mut vg.lock(), &mut cache, index, &st);
    send_kicks(d, Some(index), kicks);
}

/// Guest entry: fill the list registers from the model.
pub fn entry(d: &Domain, index: usize) {
    let (Some(vg), Some(cache)) = (&d.vgic, cache_of(d, index)) else {
        return;
    };
    let n = gic_cpu::nr_lrs().min(MAX_LRS);
    let plan = vg.lock().flush(index, n);
    load(&mut cache.lock(), &plan);
}

/// A physical interrupt while the guest ran, start to finish: the exit's
/// sync, the interrupt, and the entry's flush under one hold of the model's
/// lock (the most frequent exit; the lock is shared by all vCPUs).
pub fn irq_exit(d: &Domain, index: usize) {
    let (Some(vg), Some(cache)) = (&d.vgic, cache_of(d, index)) else {
        return irq(d, index);
    };
    let mut cache = cache.lock();
    let st = read_lrs(&mut cache);
    let forward = take_physical(d, index);
    let n = gic_cpu::nr_lrs().min(MAX_LRS);
    let (plan, kicks) = {
        let mut g = vg.lock();
        let mut kicks = fold(d, &mut g, &mut cache, index, &st);
        if let Some(intid) = forward {
            kicks.0 |= raise(d, &mut g, index, index, intid).0;
        }
        (g.flush(index, n), kicks)
    };
    load(&mut cache, &plan);
    send_kicks(d, Some(index), kicks);
}

/// A stage-2 data abort: emulate it if it hits the virtual GIC. Returns
/// whether it did (the frame then continues after the access).
pub fn mmio(d: &Domain, index: usize, frame: &mut TrapFrame, ipa: u64, access: MmioAccess) -> bool {
    let (Some(vg), Some((gicd, gicr))) = (&d.vgic, d.gic_regions) else {
        return false;
    };
    let write = access.write.then(|| access.store_value(&frame.x));
    let mut g = vg.lock();
    let result = if gicd.contains(ipa) {
        g.dist_access(index, ipa - gicd.base, access.size, write)
    } else if gicr.contains(ipa) {
        let (frame_no, off) = split_redist_offset(ipa - gicr.base);
        g.redist_access(frame_no, off, access.size, write)
    } else {
        return false;
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
            info!(
                "d{}: GIC access at {ipa:#x} refused ({e:?}): injecting abort",
                d.id
            );
            inject::data_abort(frame, FAR_EL2.get());
        }
    }
    true
}

/// The guest regions of the virtual GIC for `vcpus` vCPUs.
pub fn regions(gicd: u64, gicr: u64, vcpus: u16) -> (PhysRange, PhysRange) {
    (
        PhysRange::new(gicd, DIST_SIZE),
        PhysRange::new(gicr, REDIST_STRIDE * u64::from(vcpus)),
    )
}

/// A physical interrupt arrived while a guest ran.
pub fn irq(d: &Domain, index: usize) {
    if let (Some(intid), Some(vg)) = (take_physical(d, index), &d.vgic) {
        let kicks = raise(d, &mut vg.lock(), index, index, intid);
        send_kicks(d, Some(index), kicks);
    }
}

/// Acknowledge the physical interrupt. The hypervisor's own (kick SGI,
/// maintenance) are finished here; one to forward to the guest is returned
/// after its priority drop only (the guest's deactivation of the
/// HW-linked virtual interrupt deactivates the physical one).
fn take_physical(d: &Domain, _index: usize) -> Option<u32> {
    let intid = gic_cpu::ack();
    if intid >= gic_cpu::SPECIAL {
        return None;
    }
    if is_console_irq(intid) {
        gic_cpu::eoi(intid);
        gic_cpu::deactivate(intid);
        console_input();
        return None;
    }
    let forwarded = d.vgic.is_some() && (intid == vtimer_ppi() || intid >= 32);
    gic_cpu::eoi(intid);
    if !forwarded {
        // The entry flush does whatever a kick was for.
        gic_cpu::deactivate(intid);
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
    let d = dist();
    d.route(intid, MPIDR_EL1.get() & 0xff_00ff_ffff);
    d.set_enabled(intid, true);
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
    let (Some(vg), Some(cache)) = (&d.vgic, cache_of(d, index)) else {
        return;
    };
    let mut cache = cache.lock();
    let st = read_lrs(&mut cache);
    let n = gic_cpu::nr_lrs().min(MAX_LRS);
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
    load(&mut cache, &plan);
    send_kicks(d, Some(index), kicks);
}

/// Make the other CPUs among `targets` re-enter their guests, so that they
/// pick up what changed. Called without the model's lock held: sending an
/// SGI can be slow (under emulation it waits for a global lock) and must
/// not keep the other CPUs spinning on ours.
fn send_kicks(d: &Domain, current: Option<usize>, targets: VcpuSet) {
    for target in targets.iter() {
        if Some(target) != current {
            if let Some(mpidr) = d.pcpu(target).and_then(smp::host_mpidr) {
                gic_cpu::send_sgi(mpidr, KICK_SGI);
            }
        }
    }
}

/// Carry out what the model asks of the physical GIC; returns the vCPUs
/// it asks to kick (for the caller to do once the lock is dropped).
#[must_use]
fn apply(d: &Domain, g: &mut Vgic, current: usize) -> VcpuSet {
    let mut kicks = VcpuSet::EMPTY;
    for e in g.drain_effects() {
        match e {
            Effect::Kick(v) => kicks.insert(v),
            Effect::EnablePhys(p) | Effect::DisablePhys(p) => {
                let on = matches!(e, Effect::EnablePhys(_));
                match p.vcpu {
                    None => dist().set_enabled(p.pintid, on),
                    Some(v) if v == current => {
                        if let Some(rd) = this_redist() {
                            rd.set_enabled(p.pintid, on);
                        }
                    }
                    // Another CPU's banked PPI: that CPU syncs when it
                    // programs its own redistributor (as Linux does).
                    Some(_) => {}
                }
            }
            Effect::ClearPhysPending(p) => match p.vcpu {
                None => dist().clear_pending(p.pintid),
                Some(v) if v == current => {
                    if let Some(rd) = this_redist() {
                        rd.clear_pending(p.pintid);
                    }
                }
                Some(_) => {}
            },
            Effect::DeactivatePhys(p) => {
                if p.vcpu.is_none_or(|v| v == current) {
                    gic_cpu::deactivate(p.pintid);
                }
            }
            Effect::SetPhysTrigger { phys, edge } => match phys.vcpu {
                None => dist().set_edge(phys.pintid, edge),
                Some(v) if v == current => {
                    if let Some(rd) = this_redist() {
                        rd.set_edge(phys.pintid, edge);
                    }
                }
                Some(_) => {}
            },
            Effect::RouteChanged {
                pintid,
                vcpu: Some(v),
                ..
            } => {
                if let Some(mpidr) = d.pcpu(v).and_then(smp::host_mpidr) {
                    dist().route(pintid, mpidr);
                }
            }
            Effect::RouteChanged { vcpu: None, .. } => {}
        }
    }
    kicks
}

/// This CPU's own interrupts: the kick SGI and the maintenance interrupt.
pub fn enable_local() {
    if let Some(rd) = this_redist() {
        rd.set_enabled(u32::from(KICK_SGI), true);
        rd.set_enabled(maintenance_ppi(), true);
    }
}
