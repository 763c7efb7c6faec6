//! Boot on the primary CPU: from the loader's hand-off (MMU off, x0 = DTB)
//! to the first domain running. The steps before the MMU is on avoid locks
//! and printing through the console lock.

use aarch64_cpu::registers::*;

use super::domains::Aarch64Boot;
use super::memory::FrameTables;
use super::{cache, host_gic, mmu, stage2, vcpu};
use crate::board::{Board, PhysRange, Timer};
use crate::boot::gather::Gathered;
use crate::boot::sequence::{build_domains, HardwareSources, Verdict};
use crate::boot::{direct_map, dt};
use crate::console;
use crate::info;
use crate::mm::frames::{FrameAllocator, PAGE_SIZE};

unsafe extern "C" {
    static __hyp_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __hyp_end: u8;
    static __boot_stack_top: u8;
}

const HEAP_SIZE: u64 = 4 << 20;
const DTB_MAGIC: u32 = 0xd00d_feed;

pub(super) static FRAMES: spin::Mutex<FrameAllocator> = spin::Mutex::new(FrameAllocator::new());

fn sym(s: &u8) -> u64 {
    s as *const u8 as u64
}

fn fatal<B: Board>(msg: &str) -> ! {
    console::early_print(B::CONSOLE, "halyard: fatal: ");
    console::early_print(B::CONSOLE, msg);
    console::early_print(B::CONSOLE, "\n");
    vcpu::halt()
}

/// Read the DTB header the loader handed us; returns the blob.
fn dtb_blob<B: Board>(dtb: u64) -> &'static [u8] {
    if dtb == 0 || !dtb.is_multiple_of(8) || !B::RAM_WINDOW.contains(dtb) {
        fatal::<B>("no device tree in x0 (boot with a DTB, e.g. QEMU -kernel on an Image)");
    }
    // SAFETY: the boot protocol hands us a DTB at x0 in RAM; the header
    // is 8-byte aligned and read before its size is trusted.
    let head = unsafe { core::slice::from_raw_parts(dtb as *const u8, 8) };
    let magic = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let size = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as u64;
    if magic != DTB_MAGIC || !(40..=(2 << 20)).contains(&size) {
        fatal::<B>("x0 does not point to a device tree");
    }
    // SAFETY: as above, now with the blob's own size (bounded to 2 MiB).
    // Nothing else runs yet: the blob is ours to tidy in place.
    let blob = unsafe { core::slice::from_raw_parts_mut(dtb as *mut u8, size as usize) };
    // The tree is checked before anything parses it, and the NOPs an
    // editor left (QEMU, U-Boot) are squeezed out.
    if crate::boot::dt_normalize::normalize(blob).is_err() {
        fatal::<B>("the device tree in x0 is malformed");
    }
    blob
}

/// Microseconds on the architected counter (for boot-time reports).
pub(super) fn now_us() -> u64 {
    let (count, freq) = (CNTPCT_EL0.get(), CNTFRQ_EL0.get().max(1));
    (u128::from(count) * 1_000_000 / u128::from(freq)) as u64
}

/// Physically contiguous, page-aligned memory for the hypervisor itself.
pub fn alloc_frames(size: u64) -> Result<u64, crate::mm::frames::FrameError> {
    FRAMES.lock().alloc(size, PAGE_SIZE)
}

/// The hypervisor's heap and free frames now (see `mm::MemoryUse`).
pub(super) fn memory_use() -> crate::mm::MemoryUse {
    crate::mm::MemoryUse::new(crate::mm::heap::used(), FRAMES.lock().free_bytes())
}

/// Bring up the physical interrupt controller for the boot CPU.
fn init_gic<B: Board>(cpus: usize) {
    let Timer::ArmGeneric { el1_virt_ppi } = B::TIMER;
    if let Err(why) = host_gic::init_boot_cpu(B::INTERRUPT_CONTROLLER, cpus) {
        fatal::<B>(why);
    }
    let maintenance_ppi = B::INTERRUPT_CONTROLLER.maintenance_ppi();
    super::vgic_hw::init(
        cpus,
        maintenance_ppi,
        el1_virt_ppi,
        B::VIRTUAL_IRQ,
        B::HW_DEACTIVATION_UNSIGNALLED,
    );
    super::vgic_hw::enable_local();
    info!(
        "{}: {} interrupt IDs, {} list registers",
        host_gic::name(),
        host_gic::lines(),
        host_gic::nr_lrs()
    );
}

/// The split layout: copy the modules the loader handed over into their
/// places in the image (common code decides what goes where).
fn gather_split(
    blob: &[u8],
    info: &dt::DtBootInfo,
    image: PhysRange,
    table_offset: u64,
) -> Gathered {
    let header_end = table_offset + image_format::HEADER_SIZE as u64;
    if header_end > image.size {
        return Gathered::NotSplit;
    }
    // SAFETY: the table header lies inside the loaded image.
    let header = unsafe {
        core::slice::from_raw_parts(
            (image.base + table_offset) as *const u8,
            image_format::HEADER_SIZE,
        )
    };
    let head_len = crate::boot::gather::head_len(table_offset, header)
        .filter(|&n| n <= image.size)
        .unwrap_or(header_end);
    // SAFETY: [base, base + head_len) is the loaded hypervisor and table,
    // only read here; the area after it is only written through `area`.
    let head = unsafe { core::slice::from_raw_parts(image.base as *const u8, head_len as usize) };
    // SAFETY: the rest of the image: reserved, mapped RAM that nothing
    // else refers to until the copies are done.
    let area = unsafe {
        core::slice::from_raw_parts_mut(
            (image.base + head_len) as *mut u8,
            (image.size - head_len) as usize,
        )
    };
    let source = |r: PhysRange| {
        crate::boot::gather::readable(r, info.ram.as_slice(), image).then(|| {
            // SAFETY: inside RAM (mapped), outside the image being written;
            // the loader's module stays untouched until this returns.
            unsafe { core::slice::from_raw_parts(r.base as *const u8, r.size as usize) }
        })
    };
    let (hash4, _) = <Aarch64Boot as crate::boot::sequence::BootArch>::hasher(&Aarch64Boot);
    let t0 = now_us();
    let out = crate::boot::gather::gather(blob, head, table_offset, area, head_len, source, hash4);
    if let Gathered::Copied(n) = out {
        cache::clean_range(image.base as usize, image.end() as usize);
        info!(
            "split layout: {n} module(s) in place in {} ms",
            (now_us() - t0) / 1000
        );
    }
    out
}

/// Entered once on the boot CPU, at EL2, MMU off, from `_start`.
pub fn primary_main<B: Board>(dtb: usize) -> ! {
    if (CurrentEL.get() >> 2) & 3 != 2 {
        fatal::<B>("not entered at EL2: start Halyard with virtualization enabled");
    }
    // SAFETY: linker-script symbols; only their addresses are used.
    let (start, text_end, rodata_end, hyp_end, stack_top) = unsafe {
        (
            sym(&__hyp_start),
            sym(&__text_end),
            sym(&__rodata_end),
            sym(&__hyp_end),
            sym(&__boot_stack_top),
        )
    };
    super::firmware::init(B::FIRMWARE);
    let blob = dtb_blob::<B>(dtb as u64);
    // The machine must be the board this image was built for, before any
    // of its registers is touched.
    let mut why = crate::boot::board_check::Message::new();
    let expected = crate::boot::board_check::Expected {
        board: B::NAME,
        gic: B::INTERRUPT_CONTROLLER,
        console: B::CONSOLE,
    };
    if !crate::boot::board_check::check(blob, &expected, &mut why) {
        fatal::<B>(why.as_str());
    }
    let mut info = dt::parse(blob, dtb as u64)
        .unwrap_or_else(|_| fatal::<B>("cannot read RAM banks from the device tree"));
    // CPUs beyond what the board declares are left off.
    info.nr_cpus = info.nr_cpus.min(B::MAX_CPUS);

    // The Image header's image_size (offset 16) covers the hypervisor and
    // every module, as image-builder wrote it.
    // SAFETY: offset 16 of our own loaded image.
    let image_size = unsafe { core::ptr::read((start + 16) as *const u64) };
    let image_range = PhysRange::new(start, image_size);
    let in_ram = info
        .ram
        .as_slice()
        .iter()
        .any(|b| b.base <= start && image_range.end() <= b.end());
    if image_size < hyp_end - start || !in_ram {
        fatal::<B>("image_size in the Image header is wrong: not an image-builder image?");
    }

    // Started by UEFI: only the RAM its memory map gives the OS after
    // ExitBootServices (within the device tree's banks) is ours; runtime
    // services, ACPI and reserved regions never reach the allocator.
    let uefi = super::efi::handoff();
    if uefi.from_uefi() && uefi.memory.usable().is_empty() {
        fatal::<B>("the UEFI memory map could not be read (malformed or too many ranges)");
    }
    let mut frames = FRAMES.lock();
    let mut add = |r: PhysRange| {
        if frames.add(r).is_err() {
            fatal::<B>("too many RAM banks");
        }
    };
    if uefi.from_uefi() {
        uefi.memory.clip_to(info.ram.as_slice()).for_each(&mut add);
    } else {
        info.ram.as_slice().iter().copied().for_each(&mut add);
    }
    // Modules a boot loader handed over (split layout) stay out of the
    // allocator until they are copied into the image.
    let loaded = crate::boot::handover::module_ranges(blob);
    let reserved = info
        .reserved
        .as_slice()
        .iter()
        .chain([&image_range, &info.dtb])
        .chain(loaded.as_slice());
    for r in reserved {
        if frames.remove(*r).is_err() {
            fatal::<B>("too many reserved regions");
        }
    }
    // The spin tables (and, beside them, the loops the CPUs wait in) stay
    // untouched until every CPU is released.
    for &at in info.release_addrs[..info.nr_cpus]
        .iter()
        .filter(|&&a| a != 0)
    {
        let page = PhysRange::new(at & !(PAGE_SIZE - 1), PAGE_SIZE);
        if frames.remove(page).is_err() {
            fatal::<B>("too many reserved regions");
        }
    }

    let sections = mmu::ImageSections {
        text: PhysRange::new(start, text_end - start),
        rodata: PhysRange::new(text_end, rodata_end - text_end),
        data: PhysRange::new(rodata_end, hyp_end - rodata_end),
    };
    let mut tables = FrameTables {
        frames: &mut frames,
        lowest: u64::MAX,
    };
    let pt = mmu::build(
        &mut tables,
        sections,
        info.ram.as_slice(),
        B::DEVICE_WINDOWS,
    )
    .unwrap_or_else(|_| fatal::<B>("cannot build the hypervisor page tables"));
    let top = B::RAM_WINDOW.end().min(
        info.ram
            .as_slice()
            .iter()
            .map(|b| b.end())
            .max()
            .unwrap_or(0),
    );
    cache::invalidate_range(tables.lowest as usize, top as usize);
    // SAFETY: `pt` maps the image, all RAM and the board's devices
    // (including the console) and its tables were just invalidated.
    unsafe { mmu::enable(&pt) };

    // SAFETY: the console UART is inside a mapped device window, and only
    // the hypervisor transmits on it.
    unsafe { console::init(B::CONSOLE) };
    let ram_mib: u64 = info.ram.as_slice().iter().map(|b| b.size).sum::<u64>() >> 20;
    info!(
        "Halyard {} on {} at EL2: {} MiB RAM, image {} KiB + modules",
        env!("CARGO_PKG_VERSION"),
        B::NAME,
        ram_mib,
        (hyp_end - start) >> 10
    );

    if uefi.from_uefi() {
        info!(
            "started by UEFI at EL{} ({}): {} MiB usable in {} range(s) of {} map entries, {} KiB kept by the firmware; boot services exited {} ms after entry",
            uefi.entry_el,
            if uefi.loaded_in_place { "loaded at the link address" } else { "copied to the link address" },
            uefi.memory.usable_bytes() >> 20,
            uefi.memory.usable().len(),
            uefi.memory.descriptors,
            uefi.memory.firmware_bytes >> 10,
            uefi.exited_us.saturating_sub(uefi.entered_us) / 1000,
        );
    }

    let heap = frames
        .alloc(HEAP_SIZE, PAGE_SIZE)
        .unwrap_or_else(|_| fatal::<B>("no memory for the heap"));
    // SAFETY: a fresh, mapped, otherwise unused block; called once.
    unsafe { crate::mm::heap::init(heap as usize, HEAP_SIZE as usize) };

    // FP/SIMD untrapped at EL2 while no guest exists: the module hashes
    // may use SIMD until `simd::close`.
    CPTR_EL2.set(vcpu::CPTR);
    // Per-CPU state is sized for the CPUs this board has.
    vcpu::init_cpus(info.nr_cpus);
    init_gic::<B>(info.nr_cpus);
    if gather_split(blob, &info, image_range, hyp_end - start) == Gathered::NoHardwareDomain {
        vcpu::halt()
    }
    // Free again what the copies left behind: RAM only, never the image,
    // the DTB or what the firmware reserved.
    let holes: alloc::vec::Vec<PhysRange> = info
        .reserved
        .as_slice()
        .iter()
        .chain([&image_range, &info.dtb])
        .copied()
        .collect();
    for r in loaded.as_slice() {
        if crate::boot::gather::readable(*r, info.ram.as_slice(), image_range) {
            for piece in direct_map::passthrough(&[*r], &holes) {
                let _ = frames.add(piece);
            }
        }
    }
    // SAFETY: the whole image was loaded into RAM by the boot loader (or
    // put together from the loader's modules just now).
    let image = unsafe { core::slice::from_raw_parts(start as *const u8, image_size as usize) };
    // Guests get RAM (direct-mapped, or at guest_map::RAM at most as large
    // as the host's) and the board's device windows: nothing above those.
    let ram_end = info
        .ram
        .as_slice()
        .iter()
        .map(|b| b.end())
        .max()
        .unwrap_or(0);
    let ram_total: u64 = info.ram.as_slice().iter().map(|b| b.size).sum();
    let top = B::DEVICE_WINDOWS
        .iter()
        .map(|w| w.end())
        .chain([
            ram_end,
            crate::domain::guest_map::RAM.saturating_add(ram_total),
        ])
        .max()
        .unwrap_or(u64::MAX);
    let g = stage2::set_top(top);
    info!(
        "stage-2: {}-bit guest-physical space, walk from level {} ({} root table(s))",
        g.ipa_bits, g.root_level, g.root_pages
    );
    // Secondary CPUs come up by PSCI CPU_ON over SMC (the only conduit
    // so far; spin-table boards will add theirs).
    super::smp::init(
        &info.cpus[..info.nr_cpus],
        &info.release_addrs[..info.nr_cpus],
    );
    // Before the domains take their memory: the mediator's RX/TX pages.
    super::ffa_glue::init(B::SPMC, &mut frames);

    let image_end = crate::mm::frames::align_up(image_range.end(), PAGE_SIZE);
    let dtb_range = PhysRange::new(
        crate::mm::frames::align_down(info.dtb.base, PAGE_SIZE),
        crate::mm::frames::align_up(info.dtb.end(), PAGE_SIZE)
            - crate::mm::frames::align_down(info.dtb.base, PAGE_SIZE),
    );
    // The firmware's DTB goes to dom0 afterwards only if it lies in memory
    // the OS owns (UEFI may keep it in its own regions).
    let dtb_range = if uefi.from_uefi() && !uefi.memory.is_usable(dtb_range) {
        PhysRange::new(dtb_range.base, 0)
    } else {
        dtb_range
    };
    let hw = HardwareSources {
        host_dtb: blob,
        give_back: [PhysRange::new(hyp_end, image_end - hyp_end), dtb_range],
        devices: direct_map::passthrough(B::DEVICE_WINDOWS, B::HYPERVISOR_DEVICES),
        hypervisor_devices: B::HYPERVISOR_DEVICES,
        console_uart: {
            let base = B::CONSOLE.base();
            crate::boot::dt::device_spi(blob, base).map(|spi| (PhysRange::new(base, 0x1000), spi))
        },
        cpus: &info.cpus[..info.nr_cpus],
        gic: B::INTERRUPT_CONTROLLER,
        guest_ram_leaves: B::GUEST_RAM_LEAVES,
        trusted_key: crate::boot::trust::TRUSTED_KEY_HEX,
    };
    let domains = match build_domains(&Aarch64Boot, &mut frames, image, hyp_end - start, &hw) {
        Verdict::Run(domains) => domains,
        Verdict::Halt => vcpu::halt(),
    };
    drop(frames);
    // What a domain's reboot rebuilds it from.
    crate::boot::rebuild::keep(image, hyp_end - start);
    let domains = crate::domain::install(domains);
    for d in domains.iter() {
        super::ffa_glue::domain_started(d);
    }
    let hvc = domains.iter().find(|d| d.xen_console).map(|d| d.id);
    let uarts: alloc::vec::Vec<u16> = domains
        .iter()
        .filter(|d| d.vuart.is_some())
        .map(|d| d.id)
        .collect();
    crate::console::set_consoles(hvc, &uarts);
    if domains.is_empty() {
        info!("no domain could be built; halting");
        vcpu::halt()
    }
    super::simd::close();
    // Every domain's first vCPU starts on its pinned CPU: the boot CPU runs
    // the one pinned to CPU 0 itself, the others are started through the
    // firmware (their vCPU 0 is on from the start, so no CPU_ON asks).
    let mut on_boot_cpu = None;
    for d in domains {
        if d.pcpu(0) == Some(0) {
            on_boot_cpu = Some(d);
            continue;
        }
        d.power.boot_start(d.boot_vcpu.entry, d.boot_vcpu.arg0);
        let rc = super::smp::start_vcpu(d, 0);
        if rc != 0 {
            info!("d{}: its first vCPU could not be started ({rc})", d.id);
        }
    }
    let Some(first) = on_boot_cpu else {
        info!("no domain runs on the boot CPU; parking it");
        vcpu::halt()
    };
    vcpu::run(
        first,
        0,
        first.boot_vcpu.entry,
        first.boot_vcpu.arg0,
        stack_top as usize,
    )
}
