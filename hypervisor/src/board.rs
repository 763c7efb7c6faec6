//! The Board trait: the only seam a board support package implements.
//!
//! A BSP is data: which console, interrupt controller, timer and firmware
//! interface the board has, where its RAM and device windows are. Nothing
//! here assumes an architecture; each variant says which one it is for, and
//! a variant exists only when the hypervisor implements it (x86's console,
//! APIC and firmware come with the code for them).

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
    /// NXP i.MX UART (i.MX 6/7/8M), memory-mapped.
    ImxUart { base: u64 },
}

impl ConsoleDevice {
    pub const fn base(&self) -> u64 {
        match *self {
            Self::Pl011 { base } | Self::ImxUart { base } => base,
        }
    }
}

/// The board's interrupt controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterruptController {
    /// Arm GICv3: distributor and redistributor frames, and the PPI of the
    /// virtual interface's maintenance interrupt.
    GicV3 {
        gicd: u64,
        gicr: u64,
        maintenance_ppi: u32,
    },
    /// Arm GICv2 with the virtualization extensions (GIC-400): distributor,
    /// CPU interface, virtual interface control and virtual CPU interface
    /// frames, and the maintenance PPI. Guests get a GICv2 whose CPU
    /// interface is the GICV frame mapped in their stage 2.
    GicV2 {
        gicd: u64,
        gicc: u64,
        gich: u64,
        gicv: u64,
        maintenance_ppi: u32,
    },
}

impl InterruptController {
    /// The distributor's base (both versions have one, emulated for guests).
    pub const fn gicd(&self) -> u64 {
        match *self {
            Self::GicV3 { gicd, .. } | Self::GicV2 { gicd, .. } => gicd,
        }
    }
    pub const fn maintenance_ppi(&self) -> u32 {
        match *self {
            Self::GicV3 {
                maintenance_ppi, ..
            }
            | Self::GicV2 {
                maintenance_ppi, ..
            } => maintenance_ppi,
        }
    }
}

/// The timer guests use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Arm generic timer: the PPI (INTID) of the EL1 virtual timer, which
    /// is linked to each domain's own.
    ArmGeneric { el1_virt_ppi: u32 },
}

/// How a pending virtual interrupt reaches a vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VirtualIrqSignal {
    /// The GIC's virtual CPU interface drives the CPU's virtual IRQ input
    /// (every real Arm GICv3 system, QEMU's virt).
    GicCpuInterface,
    /// The board's GIC does not drive it (QEMU 10's imx8mp-evk wires only
    /// the physical IRQ and FIQ to the CPUs): the hypervisor raises the
    /// virtual IRQ itself with HCR_EL2.VI while a list register holds a
    /// pending interrupt, and asks for the maintenance interrupt
    /// (ICH_HCR_EL2.NPIE) to lower it when none does.
    HcrVi,
}

/// How the hypervisor reaches the board's firmware (power, CPU bring-up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// Arm PSCI over SMCCC: `smc #0` to EL3 (`hvc` is impossible from EL2).
    ArmPsciSmc,
    /// No PSCI (a Raspberry Pi 4 as its boot firmware leaves it): CPUs
    /// start by spin-table, each at its device-tree `cpu-release-addr`, and
    /// the BCM2835-family power-management block at `pm` (its RSTC/RSTS
    /// watchdog registers) resets or powers off the board.
    SpinTableBcm2835Pm { pm: u64 },
}

/// The secure world's partition manager, for the FF-A mediator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spmc {
    /// None: guests' FF-A calls get NOT_SUPPORTED.
    None,
    /// The EL3 firmware may run an FF-A SPMC (TF-A's EL3 SPMC, Hafnium at
    /// S-EL2, or Halyard's test firmware), reached with `smc #0`. At boot
    /// the mediator asks it for FF-A >= 1.1 and its partitions; if it does
    /// not answer, FF-A stays off.
    FfaSmc,
}

/// Everything the common hypervisor needs to know about a board.
pub trait Board: 'static {
    const NAME: &'static str;
    const CONSOLE: ConsoleDevice;
    const INTERRUPT_CONTROLLER: InterruptController;
    const TIMER: Timer;
    const FIRMWARE: Firmware;
    /// Most CPUs the board can have: CPUs the device tree lists beyond
    /// them are left off (at most `MAX_CPUS_SUPPORTED`).
    const MAX_CPUS: usize;
    /// Where RAM may appear. The real banks come from the boot information;
    /// this window is mapped cacheable before that is known.
    const RAM_WINDOW: PhysRange;
    /// MMIO windows the hypervisor maps as device memory.
    const DEVICE_WINDOWS: &'static [PhysRange];
    /// MMIO the hypervisor keeps (e.g. the interrupt controller): never
    /// passed through to the hardware domain.
    const HYPERVISOR_DEVICES: &'static [PhysRange];
    /// The largest leaves guest RAM gets in the stage-2 (nested) tables.
    /// Blocks shorten every walk and spare TLB entries on hardware; a board
    /// that is really an emulator may do better with pages (see qemu-virt).
    const GUEST_RAM_LEAVES: Leaves = Leaves::Blocks;
    /// How guests' virtual interrupts are signalled.
    const VIRTUAL_IRQ: VirtualIrqSignal = VirtualIrqSignal::GicCpuInterface;
    /// Whether the board's firmware may run an FF-A SPMC.
    const SPMC: Spmc = Spmc::None;
    /// The GIC's virtual interface deactivates a hardware-linked
    /// interrupt (HW = 1 list register) without the physical CPU interface
    /// noticing: QEMU's GICv2 model (hw/intc/arm_gic.c) deactivates the
    /// physical interrupt but re-evaluates only the virtual interface, so a
    /// physical interrupt that became pending again while active (a virtual
    /// timer the guest re-armed in its handler) stays unsignalled until an
    /// unrelated access to the GIC. Such a board loads those interrupts
    /// without HW, with EOI maintenance, and the hypervisor deactivates
    /// the physical interrupt itself when the guest has.
    const HW_DEACTIVATION_UNSIGNALLED: bool = false;
}

/// The most CPUs any board may declare (vCPU sets are 64-bit masks); the
/// per-CPU tables are sized at boot for the CPUs the board has.
pub const MAX_CPUS_SUPPORTED: usize = crate::boot::dt::MAX_CPUS;
