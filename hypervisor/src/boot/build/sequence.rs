//! The boot sequence, arch-neutral: read the module table, check its
//! signature and every module's hash, build each domain, and hand back the
//! ones to start. Nothing is trusted before both the signature and the
//! hashes are; a domain whose modules fail is refused alone; a bad table
//! refuses all; a hardware domain that cannot be trusted stops the machine.
//!
//! The architecture supplies `BootArch`: other CPUs to share the hashing,
//! a clock, the build environment (memory and stage-2) and the interrupt
//! controller hooks. `tests` drive the whole sequence with a fake.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::board::{Leaves, PhysRange};
use crate::boot::blake3::Hash4;
use crate::boot::domain_builder::{self, BuildEnv};
use crate::boot::{direct_map, hardware_domain, modules, passthrough, trust};
use crate::domain::Domain;
use crate::info;
use crate::mm::frames::{FrameAllocator, PAGE_SIZE};

/// CPUs lent to the hashing; finished before their task goes away.
pub trait Helpers {
    /// How many other CPUs took the task.
    fn count(&self) -> usize;
    /// Wait for every helper and take back what they used.
    fn finish(self, frames: &mut FrameAllocator);
}

/// What the boot sequence needs from the architecture.
pub trait BootArch {
    type Helpers<'t>: Helpers
    where
        Self: 't;
    fn now_us(&self) -> u64;
    /// Start `task` on every other CPU; it keeps running there.
    fn start_helpers<'t>(
        &'t self,
        frames: &mut FrameAllocator,
        task: &'t (dyn Fn() + Sync),
    ) -> Self::Helpers<'t>;
    /// The 4-lane BLAKE3 to hash with, and its name for the log.
    fn hasher(&self) -> (Hash4, &'static str);
    /// Memory and stage-2 for building a domain.
    fn build_env<'f>(
        &self,
        frames: &'f mut FrameAllocator,
        leaves: Leaves,
    ) -> Box<dyn BuildEnv + 'f>;
    /// Give a hardware domain its virtual GIC.
    fn attach_vgic(&self, dom: &mut Domain);
    /// Keep the console UART's interrupt for the hypervisor.
    fn take_console_irq(&self, spi: u32);
}

/// What the hardware domain is built from, besides the modules.
pub struct HardwareSources<'a> {
    pub host_dtb: &'a [u8],
    /// Regions that become dom0 RAM once copied from: the modules, the DTB.
    pub give_back: [PhysRange; 2],
    pub devices: Vec<PhysRange>,
    /// The devices the hypervisor keeps (besides the console UART): no
    /// domain may be given them.
    pub hypervisor_devices: &'a [PhysRange],
    pub cpus: &'a [u64],
    /// The board's interrupt controller (which virtual GIC domains get).
    pub gic: crate::board::InterruptController,
    /// How every domain's RAM is mapped at stage 2 (the board's choice).
    pub guest_ram_leaves: Leaves,
    /// The console UART and its SPI, which the hypervisor keeps when the
    /// hardware domain's console is hvc0.
    pub console_uart: Option<(PhysRange, u32)>,
    /// The public key the table must be signed with (hex), as compiled in.
    pub trusted_key: Option<&'a str>,
}

/// How the boot ends.
#[derive(Debug)]
pub enum Verdict {
    /// Start these (the hardware domain first: it runs on the boot CPU).
    Run(Vec<Domain>),
    /// The hardware domain cannot be trusted or built: stop the machine.
    Halt,
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
/// domain from all RAM that is left.
pub fn build_domains<A: BootArch>(
    arch: &A,
    frames: &mut FrameAllocator,
    image: &[u8],
    table_offset: u64,
    hw: &HardwareSources<'_>,
) -> Verdict {
    let table = match modules::parse_table(image, table_offset) {
        Ok(t) => t,
        Err(e) => {
            info!("module table rejected: {e:?}; nothing to run");
            return Verdict::Run(Vec::new());
        }
    };
    // Every module's hash (piece by piece when the table lists pieces) is
    // the boot's biggest cost: the other CPUs start on it now, while this
    // one checks the signature and builds the hardware domain, then joins.
    let t0 = arch.now_us();
    let check = modules::HashCheck::new(image, &table);
    let (hash4, hasher_name) = arch.hasher();
    let hash_task = || check.work(hash4);
    let mut hashing = Some(arch.start_helpers(frames, &hash_task));
    let mut finish_hashing = |frames: &mut FrameAllocator| {
        let Some(helpers) = hashing.take() else {
            return;
        };
        let cpus = helpers.count() + 1;
        hash_task();
        helpers.finish(frames);
        info!(
            "module hashes: {} piece(s) checked on {cpus} CPU(s) in {} ms ({hasher_name})",
            check.jobs(),
            (arch.now_us() - t0) / 1000,
        );
    };

    let from_table = image.get(table_offset as usize..).unwrap_or(&[]);
    match trust::verify_table(&table, from_table, hw.trusted_key) {
        Ok(key) => info!(
            "module table signature verified (Ed25519 key {:02x}{:02x}{:02x}{:02x}...)",
            key[0], key[1], key[2], key[3]
        ),
        Err(e) => {
            info!("module table not trusted ({e:?}): refusing every domain");
            check.cancel();
            finish_hashing(frames);
            return Verdict::Run(Vec::new());
        }
    }
    // A domain's modules' verdict (once hashing is finished): how many
    // verified, or None if one failed.
    let verdict = |d: &image_format::DomainEntry<'_>| match check.domain_result(&table, d.id) {
        Ok(n) => Some(n),
        Err(e) => {
            info!(
                "d{} ({}): {e:?}: a module fails its hash check; domain refused",
                d.id, d.name
            );
            None
        }
    };
    let mut devices = check_devices(&table, hw);
    let mut out = Vec::new();
    let is_hw = |d: &image_format::DomainEntry<'_>| d.is_hardware() && d.is_direct_mapped();
    let order = table
        .domains()
        .filter(|d| !is_hw(d))
        .chain(table.domains().filter(is_hw));
    for d in order {
        let t1 = arch.now_us();
        let built = if is_hw(&d) {
            // Built while the hashes are still being checked (its modules
            // normally run in place, so this mostly reads their headers);
            // it runs only if they verify.
            let built = build_hardware(arch, frames, image, &table, &d, hw, &devices.withheld);
            finish_hashing(frames);
            built
        } else {
            // Ordinary domains get copies of their modules: verified first.
            finish_hashing(frames);
            if verdict(&d).is_none() {
                continue;
            }
            if let Some(r) = devices.refusal(d.id) {
                info!(
                    "d{} ({}): device {}: {}; domain refused",
                    d.id, d.name, r.path, r.why
                );
                continue;
            }
            domain_builder::build_domain(
                &mut *arch.build_env(frames, hw.guest_ram_leaves),
                image,
                &table,
                &d,
                devices.take(d.id),
                &hw.gic,
            )
            .map(|mut dom| {
                arch.attach_vgic(&mut dom);
                dom
            })
        };
        let Some(verified) = verdict(&d) else {
            if d.is_hardware() {
                info!("the hardware domain cannot be built: halting");
                return Verdict::Halt;
            }
            continue;
        };
        match built {
            Ok(dom) => {
                info!(
                    "d{}: domain built in {} ms",
                    d.id,
                    (arch.now_us() - t1) / 1000
                );
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
            Err(e) => {
                info!("d{} ({}): cannot build: {e:?}", d.id, d.name);
                if d.is_hardware() {
                    info!("the hardware domain cannot be built: halting");
                    return Verdict::Halt;
                }
            }
        }
    }
    finish_hashing(frames);
    // Without a hardware domain that drives the UART itself, Halyard keeps
    // it, so that the other domains' consoles get input (Ctrl-A x3).
    let passed_through = out.iter().any(|d| d.hardware && !d.xen_console);
    let taken = out.iter().any(|d| d.xen_console);
    if !passed_through && !taken && out.iter().any(|d| d.vuart.is_some()) {
        if let Some((_, spi)) = hw.console_uart {
            arch.take_console_irq(spi);
        }
    }
    let mut out = place(out, hw.cpus.len());
    open_store_channels(&mut out);
    Verdict::Run(out)
}

/// Beside a hardware domain every other domain is `xen,enhanced`: it gets a
/// xenstore event channel, left unbound for the hardware domain to bind
/// (what Xen's dom0less builder does; dom0's xenstore tooling binds it and
/// then says where the store page is).
fn open_store_channels(domains: &mut [Domain]) {
    let Some(backend) = domains.iter().find(|d| d.hardware).map(|d| d.id) else {
        return;
    };
    for d in domains.iter_mut().filter(|d| !d.hardware) {
        d.store_backend = Some(backend);
        match d.xen.lock().open_store_channel(backend) {
            Ok(port) => info!(
                "d{}: xenstore event channel: port {port}, for d{backend} to bind",
                d.id
            ),
            Err(e) => info!("d{}: no xenstore event channel ({e})", d.id),
        }
    }
}

/// The table's passthrough devices, checked against the host's tree and
/// what the hypervisor keeps (its devices, the console UART and its SPI).
fn check_devices(
    table: &image_format::ModuleTable<'_>,
    hw: &HardwareSources<'_>,
) -> passthrough::Checked {
    let mut mmio = hw.hypervisor_devices.to_vec();
    let mut irqs = Vec::new();
    if let Some((uart, spi)) = hw.console_uart {
        mmio.push(uart);
        irqs.push(spi);
    }
    let checked = passthrough::check(
        table,
        hw.host_dtb,
        &passthrough::Kept {
            mmio: &mmio,
            irqs: &irqs,
        },
    );
    for (id, set) in &checked.sets {
        for dev in &set.devices {
            info!(
                "d{id}: device {} passed through (MMIO {}, IRQ {:?})",
                dev.path,
                dev.mmio.len(),
                dev.irqs
            );
        }
    }
    checked
}

/// Keep the domains whose vCPUs all have a physical CPU of their own (in
/// the order given: the hardware domain first); a domain that names a CPU
/// the board lacks or one another domain already has is refused, naming both.
fn place(domains: Vec<Domain>, cpus: usize) -> Vec<Domain> {
    let mut owner: Vec<Option<u16>> = alloc::vec![None; cpus];
    let mut out = Vec::new();
    for d in domains {
        let clash = d.pcpus.iter().find_map(|&c| match owner.get(c) {
            None => Some(alloc::format!(
                "physical CPU {c} does not exist ({cpus} CPUs)"
            )),
            Some(Some(o)) => Some(alloc::format!("physical CPU {c} already runs d{o}")),
            Some(None) => None,
        });
        if let Some(why) = clash {
            info!(
                "d{} ({}): {why}; domain refused (pin it with 'cpus' in the image manifest)",
                d.id, d.name
            );
            continue;
        }
        for &c in &d.pcpus {
            owner[c] = Some(d.id);
        }
        out.push(d);
    }
    out
}

/// The hardware domain: all RAM left (minus the hypervisor's reserve),
/// direct-mapped, with the host's devices and a vGIC.
fn build_hardware<A: BootArch>(
    arch: &A,
    frames: &mut FrameAllocator,
    image: &[u8],
    table: &image_format::ModuleTable<'_>,
    d: &image_format::DomainEntry<'_>,
    hw: &HardwareSources<'_>,
    withheld: &passthrough::Withheld,
) -> Result<Domain, domain_builder::BuildError> {
    let keep = HYP_RESERVE + stage2_table_bytes(frames, hw.guest_ram_leaves);
    let reserve = frames.alloc(keep, PAGE_SIZE);
    // Other domains' modules stay where they are: a reboot reloads them.
    let kept = crate::boot::rebuild::module_pages(table, image.as_ptr() as u64);
    let give = direct_map::passthrough(&hw.give_back, &kept);
    let ram = direct_map::merge_ranges(frames.ranges(), &give);
    for r in &ram {
        let _ = frames.remove(*r);
    }
    if let Ok(base) = reserve {
        let _ = frames.free(base, keep);
    }
    // Devices given to other domains are not dom0's: no node, no mapping.
    let devices = direct_map::passthrough(&hw.devices, &withheld.mmio);
    let remove: Vec<&str> = withheld.paths.iter().map(|p| p.as_str()).collect();
    let inputs = hardware_domain::HardwareInputs {
        host_dtb: hw.host_dtb,
        ram: &ram,
        avoid: &hw.give_back,
        devices: &devices,
        remove_nodes: &remove,
        console_uart: hw.console_uart.map(|(r, _)| r),
        cpus: hw.cpus,
        gic: hw.gic,
        // The EL2 map is the identity: the image's address is its PA.
        image_base: image.as_ptr() as u64,
    };
    let mut dom = hardware_domain::build(
        &mut *arch.build_env(frames, hw.guest_ram_leaves),
        image,
        table,
        d,
        &inputs,
    )?;
    dom.withheld_irqs = withheld.irqs.clone();
    if let (true, Some((_, spi))) = (dom.xen_console, hw.console_uart) {
        // Before the vGIC links every SPI to dom0.
        arch.take_console_irq(spi);
        info!(
            "d{}: console on hvc0; Halyard keeps the UART (IRQ {spi}); Ctrl-A three times switches input",
            dom.id
        );
    }
    arch.attach_vgic(&mut dom);
    Ok(dom)
}
