//! The address map every domain that is not direct-mapped sees (like Xen's
//! GUEST_* layout for dom0less domUs, here the QEMU `virt` one so that the
//! same kernels and device-tree habits work): where its RAM, virtual GIC,
//! virtual UART and grant frames are, and the interrupts they use.

use crate::board::{InterruptController, PhysRange};

/// Where a domain's RAM starts: the guest's address map, not the board's
/// (every board's domUs see the same map; direct-mapped domains see the
/// host's). 1 GiB, as on QEMU virt, which arm64 guests are used to.
pub const RAM: u64 = 0x4000_0000;

/// Distributor (64 KiB) and redistributors (128 KiB per vCPU).
pub const GICD: u64 = 0x0800_0000;
pub const GICR: u64 = 0x080a_0000;
/// The domain's own PL011 (4 KiB) and its SPI.
pub const UART: u64 = 0x0900_0000;
pub const UART_SPI: u32 = 33;
/// SPIs the virtual GIC offers (INTIDs 32..64): the UART's, and room.
pub const SPIS: u32 = 32;
/// Arm generic timer PPIs as INTIDs: secure and non-secure physical,
/// virtual, hypervisor (the order of the `arm,armv8-timer` binding).
pub const TIMER_PPIS: [u32; 4] = [29, 30, 27, 26];

/// A GICv2 domain's CPU interface (8 KiB, beside its 4 KiB distributor at
/// `GICD`), where QEMU virt's gic-version=2 puts it.
pub const GICC: u64 = 0x0801_0000;

/// Which virtual GIC a domain sees, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VgicLayout {
    /// GICv3: the distributor and the redistributors, both emulated.
    V3 { gicd: PhysRange, gicr: PhysRange },
    /// GICv2: the distributor, emulated, and the CPU interface at `gicc`,
    /// which is the host's virtual CPU interface (GICV, at `gicv`) mapped
    /// by stage 2: the guest's acknowledges and EOIs never trap.
    V2 {
        gicd: PhysRange,
        gicc: PhysRange,
        gicv: u64,
    },
}

impl VgicLayout {
    /// The virtual GIC of a domain with `vcpus` vCPUs on a board with
    /// `host`: a hardware domain's sits where the host's GIC is (its
    /// device tree describes the host's), any other's where this map says.
    pub fn for_domain(host: &InterruptController, hardware: bool, vcpus: u16) -> Self {
        use crate::vgic::{DIST_SIZE, DIST_V2_SIZE, REDIST_STRIDE};
        let redist = REDIST_STRIDE * u64::from(vcpus);
        match (*host, hardware) {
            (InterruptController::GicV3 { gicd, gicr, .. }, true) => Self::V3 {
                gicd: PhysRange::new(gicd, DIST_SIZE),
                gicr: PhysRange::new(gicr, redist),
            },
            (InterruptController::GicV3 { .. }, false) => Self::V3 {
                gicd: PhysRange::new(GICD, DIST_SIZE),
                gicr: PhysRange::new(GICR, redist),
            },
            (
                InterruptController::GicV2 {
                    gicd, gicc, gicv, ..
                },
                true,
            ) => Self::V2 {
                gicd: PhysRange::new(gicd, DIST_V2_SIZE),
                gicc: PhysRange::new(gicc, GICC_V2_SIZE),
                gicv,
            },
            (InterruptController::GicV2 { gicv, .. }, false) => Self::V2 {
                gicd: PhysRange::new(GICD, DIST_V2_SIZE),
                gicc: PhysRange::new(GICC, GICC_V2_SIZE),
                gicv,
            },
        }
    }

    /// The guest-physical ranges it occupies, named (for clash checks).
    pub fn regions(&self) -> [(PhysRange, &'static str); 2] {
        match *self {
            Self::V3 { gicd, gicr } => [
                (gicd, "virtual GIC distributor"),
                (gicr, "virtual GIC redistributors"),
            ],
            Self::V2 { gicd, gicc, .. } => [
                (gicd, "virtual GIC distributor"),
                (gicc, "virtual GIC CPU interface"),
            ],
        }
    }

    /// What stage 2 maps rather than traps: (IPA, PA, size).
    pub fn mapped(&self) -> Option<(u64, u64, u64)> {
        match *self {
            Self::V3 { .. } => None,
            Self::V2 { gicc, gicv, .. } => Some((gicc.base, gicv, gicc.size)),
        }
    }
}

/// A GICv2 CPU interface: 8 KiB (GICC_DIR is at 0x1000).
pub const GICC_V2_SIZE: u64 = 0x2000;
