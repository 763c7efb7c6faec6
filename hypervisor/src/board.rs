//! The Board trait: the only seam a board support package implements.
//!
//! A BSP is data: which console, interrupt controller, timer and firmware
//! interface the board has, where its device windows are, how it is booted.
//! Nothing here assumes an architecture; each variant says which one it is for.

pub use crate::mm::page_table::Leaves;

/// A physical address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhysRange {
    pub base: u64,
    pub size: u64,
}

impl PhysRange {
    pub const fn new(base: u64, size: u64) -> Self {
        Self { base, size }
    }
    pub const fn end(&self) -> u64 {
        self.base + self.size
    }
    pub const fn contains(&self, addr: u64) -> bool {
        addr >= self.base && addr < self.end()
    }
}

/// The UART the hypervisor prints on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleDevice {
    /// Arm PrimeCell PL011, memory-mapped.
    Pl011 { base: u64 },
    /// 16550-compatible UART on x86 I/O ports.
    Ns16550Io { port: u16 },
}

/// The board's interrupt controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterruptController {
    /// Arm GICv3: distributor and redistributor frames.
    GicV3 { gicd: u64, gicr: u64 },
    /// Arm GICv2: distributor, CPU interface, virtual interface, virtual CPU interface.
    GicV2 {
        gicd: u64,
        gicc: u64,
        gich: u64,
        gicv: u64,
    },
    /// x86 local APIC + I/O APIC.
    Apic { ioapic: u64 },
}

/// The timer the hypervisor and guests use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Arm generic timer; PPI numbers (INTID) of each timer.
    ArmGeneric {
        el2_phys_ppi: u32,
        el1_virt_ppi: u32,
        el1_phys_ppi: u32,
    },
    /// x86 local APIC timer.
    LocalApic,
}

/// How the hypervisor reaches the board's firmware (power, CPU bring-up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// Arm PSCI over SMCCC: `smc #0` to EL3 (`hvc` is impossible from EL2).
    ArmPsciSmc,
    /// x86: ACPI / keyboard-controller reset and QEMU's debug exit.
    X86Platform,
}

/// The secure-world partition manager, when the board has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spmc {
    /// FF-A version the SPMC speaks (major << 16 | minor).
    pub ffa_version: u32,
}

/// How the boot image is started on this board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootProtocol {
    /// Linux arm64 `Image` (QEMU -kernel, U-Boot booti, TF-A BL33): x0 = DTB.
    LinuxArm64Image,
    /// UEFI application.
    Uefi,
    /// Multiboot2 (GRUB) or PVH (QEMU -kernel) on x86_64.
    Multiboot2OrPvh,
}

/// Everything the common hypervisor needs to know about a board.
pub trait Board: 'static {
    const NAME: &'static str;
    const CONSOLE: ConsoleDevice;
    const INTERRUPT_CONTROLLER: InterruptController;
    const TIMER: Timer;
    const FIRMWARE: Firmware;
    const BOOT: BootProtocol;
    /// Most CPUs the board can have (sizes per-CPU state).
    const MAX_CPUS: usize;
    /// Where RAM may appear. The real banks come from the boot information;
    /// this window is mapped cacheable before that is known.
    const RAM_WINDOW: PhysRange;
    /// MMIO windows the hypervisor maps as device memory.
    const DEVICE_WINDOWS: &'static [PhysRange];
    /// MMIO the hypervisor keeps (e.g. the interrupt controller): never
    /// passed through to the hardware domain.
    const HYPERVISOR_DEVICES: &'static [PhysRange];
    /// Host device-tree nodes the hardware domain must not see, because
    /// the hypervisor keeps or does not virtualise that hardware.
    const DOM0_HIDDEN_NODES: &'static [&'static str];
    const SPMC: Option<Spmc> = None;
    /// The largest leaves guest RAM gets in the stage-2 (nested) tables.
    /// Blocks shorten every walk and spare TLB entries on hardware; a board
    /// that is really an emulator may do better with pages (see qemu-virt).
    const GUEST_RAM_LEAVES: Leaves = Leaves::Blocks;
}
