//! Building the image's domains at boot: modules verified (their pieces'
//! BLAKE3, 4-lane NEON while SIMD is allowed, on the other CPUs while this
//! one checks the signature and builds the hardware domain), ordinary
//! domains first, then the hardware domain from all the RAM that is left,
//! which also gets the virtual GIC.

use alloc::vec::Vec;

use super::blake3x4;
use super::boot::now_us;
use super::memory::Env;
use super::vcpu;
use crate::board::{Leaves, PhysRange};
use crate::boot::{direct_map, domain_builder, hardware_domain, modules, trust};
use crate::info;
use crate::mm::frames::{FrameAllocator, PAGE_SIZE};

/// Give a hardware domain a virtual GIC at the physical GIC's addresses
/// (its device tree describes the host's GIC).
fn attach_vgic(dom: &mut crate::domain::Domain) {
    let Some((gicd, gicr)) = super::vgic_glue::gic_bases() else {
        return;
    };
    dom.gic_regions = Some(super::vgic_glue::regions(gicd, gicr, dom.vcpus));
    dom.vgic = super::vgic_glue::create(dom).map(spin::Mutex::new);
}

/// What the hardware domain is built from, besides the modules.
pub struct HardwareSources<'a> {
    pub host_dtb: &'a [u8],
    /// Regions that become dom0 RAM once copied from: the modules, the DTB.
    pub give_back: [PhysRange; 2],
    pub devices: Vec<PhysRange>,
    pub hidden_nodes: &'static [&'static str],
    /// The console UART and its SPI, which the hypervisor keeps when the
    /// hardware domain's console is hvc0.
    pub console_uart: Option<(PhysRange, u32)>,
    pub cpus: &'a [u64],
    /// How every domain's RAM is mapped at stage 2 (the board's choice).
    pub guest_ram_leaves: Leaves,
}

/// Memory the hypervisor keeps back from the hardware domain for its own
/// later needs (stage-2 tables, per-CPU stacks).
const HYP_RESERVE: u64 = 16 << 20;

/// Last-level stage-2 tables for all RAM still free, if it is mapped with
/// pages: one 4 KiB table per 2 MiB (1/512 of it). Blocks need next to none.
fn stage2_table_bytes(frames: &FrameAllocator, leaves: Leaves) -> u64 {
    match leaves {
        Leaves::Blocks => 0,
        Leaves::Pages => {
            let free: u64 = frames.ranges().iter().map(|r| r.size).sum();
            (free / 512).next_multiple_of(PAGE_SIZE)
        }
    }
}

/// Build every domain of the image: ordinary ones first, then the hardware
/// domain from all RAM that is left. The hardware domain comes first in the
/// result (it runs on the boot CPU).
pub fn build_domains(
    frames: &mut FrameAllocator,
    image: &[u8],
    table_offset: u64,
    hw: &HardwareSources<'_>,
) -> Vec<crate::domain::Domain> {
    let table = match modules::parse_table(image, table_offset) {
        Ok(t) => t,
        Err(e) => {
            info!("module table rejected: {e:?}; nothing to run");
            return Vec::new();
        }
    };
    // Every module's hash (piece by piece when the table lists pieces) is
    // the boot's biggest cost: the other CPUs start on it now, while this
    // one checks the signature and builds the hardware domain, then joins.
    // Nothing is trusted before both the signature and the hashes are.
    let t0 = now_us();
    let check = modules::HashCheck::new(image, &table);
    let hasher = blake3x4::pick();
    let hash_task = || check.work(blake3x4::hash4);
    let mut hashing = Some(super::smp::start_helpers(frames, &hash_task));
    let mut finish_hashing = |frames: &mut FrameAllocator| {
        let Some(helpers) = hashing.take() else {
            return;
        };
        let cpus = helpers.count() + 1;
        hash_task();
        helpers.finish(frames);
        info!(
            "module hashes: {} piece(s) checked on {cpus} CPU(s) in {} ms ({})",
            check.jobs(),
            (now_us() - t0) / 1000,
            hasher.name()
        );
    };

    let from_table = image.get(table_offset as usize..).unwrap_or(&[]);
    match trust::verify_table(&table, from_table, trust::TRUSTED_KEY_HEX) {
        Ok(key) => info!(
            "module table signature verified (Ed25519 key {:02x}{:02x}{:02x}{:02x}...)",
            key[0], key[1], key[2], key[3]
        ),
        Err(e) => {
            info!("module table not trusted ({e:?}): refusing every domain");
            check.cancel();
            finish_hashing(frames);
            return Vec::new();
        }
    }
    // A domain's modules' verdict (once hashing is finished): how many
    // verified, or None if one failed (said here; the hardware domain's
    // failure stops the machine).
    let verdict = |d: &image_format::DomainEntry<'_>| match check.domain_result(&table, d.id) {
        Ok(n) => Some(n),
        Err(e) => {
            info!(
                "d{} ({}): {e:?}: a module fails its hash check; domain refused",
                d.id, d.name
            );
            if d.is_hardware() {
                info!("the hardware domain cannot be built: halting");
                vcpu::halt();
            }
            None
        }
    };
    let mut out = Vec::new();
    let is_hw = |d: &image_format::DomainEntry<'_>| d.is_hardware() && d.is_direct_mapped();
    let order = table
        .domains()
        .filter(|d| !is_hw(d))
        .chain(table.domains().filter(is_hw));
    for d in order {
        let t1 = now_us();
        let built = if is_hw(&d) {
            // Built while the hashes are still being checked (its modules
            // normally run in place, so this mostly reads their headers);
            // it runs only if they verify, and a refusal halts the machine.
            let keep = HYP_RESERVE + stage2_table_bytes(frames, hw.guest_ram_leaves);
            let reserve = frames.alloc(keep, PAGE_SIZE);
            let ram = direct_map::merge_ranges(frames.ranges(), &hw.give_back);
            for r in &ram {
                let _ = frames.remove(*r);
            }
            if let Ok(base) = reserve {
                let _ = frames.free(base, keep);
            }
            let inputs = hardware_domain::HardwareInputs {
                host_dtb: hw.host_dtb,
                ram: &ram,
                avoid: &hw.give_back,
                devices: &hw.devices,
                remove_nodes: hw.hidden_nodes,
                console_uart: hw.console_uart.map(|(r, _)| r),
                cpus: hw.cpus,
                // The EL2 map is the identity: the image's address is its PA.
                image_base: image.as_ptr() as u64,
            };
            let built = hardware_domain::build(
                &mut Env::new(frames, hw.guest_ram_leaves),
                image,
                &table,
                &d,
                &inputs,
            )
            .map(|mut dom| {
                if let (true, Some((_, spi))) = (dom.xen_console, hw.console_uart) {
                    // Before the vGIC links every SPI to dom0.
                    super::vgic_glue::take_console_irq(spi);
                    info!("d{}: console on hvc0; Halyard keeps the UART (IRQ {spi}); Ctrl-A three times switches input", dom.id);
                }
                attach_vgic(&mut dom);
                dom
            });
            finish_hashing(frames);
            built
        } else {
            // Ordinary domains get copies of their modules: verified first.
            finish_hashing(frames);
            if verdict(&d).is_none() {
                continue;
            }
            domain_builder::build_domain(
                &mut Env::new(frames, hw.guest_ram_leaves),
                image,
                &table,
                &d,
            )
        };
        let Some(verified) = verdict(&d) else {
            continue;
        };
        match built {
            Ok(dom) => {
                info!("d{}: domain built in {} ms", d.id, (now_us() - t1) / 1000);
                let mib = dom.ram_bytes() >> 20;
                let where_ = dom.banks.first().map_or(0, |b| b.pa);
                info!(
                    "d{} ({}): {mib} MiB RAM from host {where_:#x}, {verified} module(s) verified",
                    d.id, d.name
                );
                if dom.hardware {
                    out.insert(0, dom);
                } else {
                    out.push(dom);
                }
            }
            Err(e) => info!("d{} ({}): cannot build: {e:?}", d.id, d.name),
        }
    }
    finish_hashing(frames);
    out
}
