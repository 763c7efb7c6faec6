//! The physical GIC, whichever version the board has, behind one set of
//! calls: a GICv3 through its system registers (`gic_cpu`) and its
//! distributor and redistributors, or a GICv2 through its four frames. The
//! board data picks the version once at boot; the vGIC glue and the CPU
//! bring-up only ever call this module.
//!
//! Interrupts below 32 (SGIs and PPIs) are always the calling CPU's own:
//! its redistributor on v3, the banked distributor registers on v2.

use core::sync::atomic::{AtomicU8, Ordering};

use aarch64_cpu::registers::{Readable, MPIDR_EL1};

use super::{gic_cpu, smp};
use crate::board::InterruptController;
use crate::drivers::{gicv2, gicv3};
use crate::percpu::PerCpu;
use crate::vgic::ListRegister;

#[derive(Clone, Copy)]
enum Host {
    V3 { gicd: u64, gicr: u64 },
    V2 { gicd: u64, gicc: u64, gich: u64 },
}

static HOST: spin::Once<Host> = spin::Once::new();
/// GICv2: each physical CPU's interface, as a target mask (learned as the
/// CPU starts: the CPU interface number need not follow the MPIDR).
static CPU_MASKS: PerCpu<AtomicU8> = PerCpu::new();
/// GICv2: SPIs routed to a CPU that has not started yet (its interface is
/// not known until it does): its physical CPU + 1, applied as it starts.
static ROUTE_WHEN_UP: [AtomicU8; SPECIAL as usize] = [const { AtomicU8::new(0) }; SPECIAL as usize];

/// An acknowledged interrupt: its INTID, and what the CPU interface needs
/// back to finish it (on v2, an SGI's source CPU).
#[derive(Clone, Copy, Debug)]
pub struct Acked {
    pub intid: u32,
    raw: u32,
}

/// INTIDs at or above this are special (1020-1023: spurious and friends).
pub const SPECIAL: u32 = 1020;

fn host() -> Host {
    *HOST.get().expect("host GIC used before init")
}

fn v3_dist(gicd: u64) -> gicv3::Distributor {
    // SAFETY: the board's GICD, recorded at boot, mapped as device memory.
    unsafe { gicv3::Distributor::new(gicd as usize) }
}

fn v3_redist(gicr: u64) -> Option<gicv3::Redistributor> {
    let aff = MPIDR_EL1.get() & 0xff_00ff_ffff;
    // SAFETY: the board's GICR region, recorded at boot, mapped as device memory.
    unsafe { gicv3::Redistributor::find(gicr as usize, aff) }
}

fn v2_dist(gicd: u64) -> gicv2::Distributor {
    // SAFETY: as `v3_dist`, for a GICv2 distributor.
    unsafe { gicv2::Distributor::new(gicd as usize) }
}

fn v2_cpu(gicc: u64) -> gicv2::CpuInterface {
    // SAFETY: the board's GICC (banked per CPU), mapped as device memory.
    unsafe { gicv2::CpuInterface::new(gicc as usize) }
}

fn v2_hyp(gich: u64) -> gicv2::HypInterface {
    // SAFETY: the board's GICH (banked per CPU), mapped as device memory.
    unsafe { gicv2::HypInterface::new(gich as usize) }
}

/// Bring up the distributor and the boot CPU's interfaces (CPU 0), for a
/// board with `cpus` CPUs.
pub fn init_boot_cpu(ic: InterruptController, cpus: usize) -> Result<(), &'static str> {
    CPU_MASKS.init(cpus, || AtomicU8::new(0));
    let host = match ic {
        InterruptController::GicV3 { gicd, gicr, .. } => Host::V3 { gicd, gicr },
        InterruptController::GicV2 {
            gicd, gicc, gich, ..
        } => Host::V2 { gicd, gicc, gich },
    };
    HOST.call_once(|| host);
    match host {
        Host::V3 { gicd, .. } => v3_dist(gicd).init(MPIDR_EL1.get() & 0xff_00ff_ffff),
        Host::V2 { gicd, .. } => {
            let d = v2_dist(gicd);
            d.init(d.this_cpu_mask());
        }
    }
    init_this_cpu(0)
}

/// Bring up the calling CPU's interfaces; it is physical CPU `pcpu`.
pub fn init_this_cpu(pcpu: usize) -> Result<(), &'static str> {
    match host() {
        Host::V3 { gicr, .. } => {
            v3_redist(gicr)
                .ok_or("no GICv3 redistributor for this CPU")?
                .init();
            gic_cpu::init();
        }
        Host::V2 { gicd, gicc, gich } => {
            let d = v2_dist(gicd);
            d.init_banked();
            let mask = d.this_cpu_mask();
            if let Some(m) = CPU_MASKS.get(pcpu) {
                m.store(mask, Ordering::Release);
            }
            for (intid, want) in ROUTE_WHEN_UP.iter().enumerate() {
                if usize::from(want.load(Ordering::Acquire)) == pcpu + 1 {
                    d.route(intid as u32, mask);
                    want.store(0, Ordering::Release);
                }
            }
            v2_cpu(gicc).init();
            v2_hyp(gich).init(nr_lrs());
        }
    }
    Ok(())
}

/// "GICv3" or "GICv2", for messages.
pub fn name() -> &'static str {
    match host() {
        Host::V3 { .. } => "GICv3",
        Host::V2 { .. } => "GICv2",
    }
}

/// Interrupt IDs the distributor implements (SGIs..last SPI).
pub fn lines() -> u32 {
    match host() {
        Host::V3 { gicd, .. } => v3_dist(gicd).lines(),
        Host::V2 { gicd, .. } => v2_dist(gicd).lines(),
    }
}

/// List registers per CPU (read once: all CPUs of a board have the same).
pub fn nr_lrs() -> usize {
    static NR: spin::Once<usize> = spin::Once::new();
    *NR.call_once(|| match host() {
        Host::V3 { .. } => gic_cpu::nr_lrs(),
        Host::V2 { gich, .. } => v2_hyp(gich).nr_lrs(),
    })
}

/// Implemented virtual priority bits.
pub fn priority_bits() -> u8 {
    match host() {
        Host::V3 { .. } => gic_cpu::priority_bits(),
        Host::V2 { gich, .. } => v2_hyp(gich).priority_bits(),
    }
}

/// Acknowledge the highest-priority pending interrupt.
pub fn ack() -> Acked {
    match host() {
        Host::V3 { .. } => {
            let intid = gic_cpu::ack();
            Acked { intid, raw: intid }
        }
        Host::V2 { gicc, .. } => {
            let raw = v2_cpu(gicc).ack();
            Acked {
                intid: raw & 0x3ff,
                raw,
            }
        }
    }
}

/// Priority drop (the interrupt stays active).
pub fn eoi(a: Acked) {
    match host() {
        Host::V3 { .. } => gic_cpu::eoi(a.intid),
        Host::V2 { gicc, .. } => v2_cpu(gicc).eoi(a.raw),
    }
}

/// Deactivate an interrupt the hypervisor handled itself.
pub fn finish(a: Acked) {
    match host() {
        Host::V3 { .. } => gic_cpu::deactivate(a.intid),
        Host::V2 { gicc, .. } => v2_cpu(gicc).deactivate(a.raw),
    }
}

/// Deactivate PPI or SPI `intid` (an HW-linked one the guest finished).
pub fn deactivate(intid: u32) {
    finish(Acked { intid, raw: intid });
}

/// List register `n` in the model's layout (ICH_LR<n>_EL2's).
pub fn read_lr(n: usize) -> u64 {
    match host() {
        Host::V3 { .. } => gic_cpu::read_lr(n),
        Host::V2 { gich, .. } => ListRegister::decode_gicv2(v2_hyp(gich).read_lr(n)).encode(),
    }
}

/// Write list register `n` from the model's layout; `source` is an SGI's
/// sending vCPU (GICv2 only: v3 list registers have no such field).
pub fn write_lr(n: usize, v: u64, source: u8) {
    match host() {
        Host::V3 { .. } => gic_cpu::write_lr(n, v),
        Host::V2 { gich, .. } => {
            let lr = if v == ListRegister::INVALID {
                0
            } else {
                ListRegister::decode(v).encode_gicv2(source)
            };
            v2_hyp(gich).write_lr(n, lr)
        }
    }
}

/// The virtual interface's control register. GICH_HCR has En, UIE,
/// LRENPIE, NPIE and EOICount where ICH_HCR_EL2 has them, which is all the
/// model uses.
pub fn hcr() -> u64 {
    match host() {
        Host::V3 { .. } => gic_cpu::hcr(),
        Host::V2 { gich, .. } => u64::from(v2_hyp(gich).hcr()),
    }
}

pub fn set_hcr(v: u64) {
    match host() {
        Host::V3 { .. } => gic_cpu::set_hcr(v),
        Host::V2 { gich, .. } => v2_hyp(gich).set_hcr(v as u32),
    }
}

/// Enable or disable an interrupt (below 32: the calling CPU's).
pub fn set_enabled(intid: u32, on: bool) {
    match host() {
        Host::V3 { gicr, .. } if intid < 32 => {
            if let Some(rd) = v3_redist(gicr) {
                rd.set_enabled(intid, on);
            }
        }
        Host::V3 { gicd, .. } => v3_dist(gicd).set_enabled(intid, on),
        Host::V2 { gicd, .. } => v2_dist(gicd).set_enabled(intid, on),
    }
}

pub fn clear_pending(intid: u32) {
    match host() {
        Host::V3 { gicr, .. } if intid < 32 => {
            if let Some(rd) = v3_redist(gicr) {
                rd.clear_pending(intid);
            }
        }
        Host::V3 { gicd, .. } => v3_dist(gicd).clear_pending(intid),
        Host::V2 { gicd, .. } => v2_dist(gicd).clear_pending(intid),
    }
}

/// Clear the active state from any CPU (SPIs) or of the calling CPU's own.
pub fn clear_active(intid: u32) {
    match host() {
        Host::V3 { gicr, .. } if intid < 32 => {
            if let Some(rd) = v3_redist(gicr) {
                rd.clear_active(intid);
            }
        }
        Host::V3 { gicd, .. } => v3_dist(gicd).clear_active(intid),
        Host::V2 { gicd, .. } => v2_dist(gicd).clear_active(intid),
    }
}

/// Edge- (true) or level-triggered.
pub fn set_edge(intid: u32, edge: bool) {
    match host() {
        Host::V3 { gicr, .. } if intid < 32 => {
            if let Some(rd) = v3_redist(gicr) {
                rd.set_edge(intid, edge);
            }
        }
        Host::V3 { gicd, .. } => v3_dist(gicd).set_edge(intid, edge),
        Host::V2 { gicd, .. } => v2_dist(gicd).set_edge(intid, edge),
    }
}

fn cpu_mask(pcpu: usize) -> Option<u8> {
    CPU_MASKS
        .get(pcpu)
        .map(|m| m.load(Ordering::Acquire))
        .filter(|&m| m != 0)
}

/// Deliver SPI `intid` to physical CPU `pcpu`.
pub fn route(intid: u32, pcpu: usize) {
    match host() {
        Host::V3 { gicd, .. } => {
            if let Some(mpidr) = smp::host_mpidr(pcpu) {
                v3_dist(gicd).route(intid, mpidr);
            }
        }
        Host::V2 { gicd, .. } => match cpu_mask(pcpu) {
            Some(mask) => v2_dist(gicd).route(intid, mask),
            None => {
                if let (Some(slot), Ok(p)) =
                    (ROUTE_WHEN_UP.get(intid as usize), u8::try_from(pcpu + 1))
                {
                    slot.store(p, Ordering::Release);
                }
            }
        },
    }
}

/// Deliver SPI `intid` to the calling CPU.
pub fn route_here(intid: u32) {
    match host() {
        Host::V3 { gicd, .. } => v3_dist(gicd).route(intid, MPIDR_EL1.get() & 0xff_00ff_ffff),
        Host::V2 { gicd, .. } => {
            let d = v2_dist(gicd);
            d.route(intid, d.this_cpu_mask());
        }
    }
}

/// Send SGI `sgi` to physical CPU `pcpu`.
pub fn send_sgi(pcpu: usize, sgi: u8) {
    match host() {
        Host::V3 { .. } => {
            if let Some(mpidr) = smp::host_mpidr(pcpu) {
                gic_cpu::send_sgi(mpidr, sgi);
            }
        }
        Host::V2 { gicd, .. } => {
            if let Some(mask) = cpu_mask(pcpu) {
                v2_dist(gicd).send_sgi(mask, sgi);
            }
        }
    }
}
