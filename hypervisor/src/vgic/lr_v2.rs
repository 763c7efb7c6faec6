//! One GICv2 list register, GICH_LR<n> (IHI 0048B, 5.3.9), converted to and
//! from the model's own format (`ListRegister`, whose `encode` is the GICv3
//! ICH_LR<n>_EL2 layout that `LrPlan::lrs` and `Vgic::sync` use). On a
//! GICv2 host the arch layer writes `encode_gicv2` of each planned register
//! into GICH_LR<n> at entry and hands `decode_gicv2(...).encode()` of what
//! it reads back to `sync` at exit.
//!
//! Layout: VirtualID [9:0]; HW [31]; when HW = 1 PhysicalID [19:10], else
//! EOI [19] (maintenance interrupt when the guest deactivates it) and, for
//! SGIs, CPUID [12:10] (the source CPU the guest reads from GICV_IAR and
//! must give back at EOI); Priority [27:23] (the top 5 bits of the 8-bit
//! priority); State [29:28] as in ICH_LR<n>_EL2; Grp1 [30].

use super::irq::NR_SGIS;
use super::lr::{ListRegister, LrState};

const VIRTUAL_ID: u32 = 0x3ff;
const PHYSICAL_ID_SHIFT: u32 = 10;
const PHYSICAL_ID: u32 = 0x3ff;
const CPUID_SHIFT: u32 = 10;
const CPUID: u32 = 0x7;
const EOI: u32 = 1 << 19;
const PRIORITY_SHIFT: u32 = 23;
const PRIORITY: u32 = 0x1f;
const STATE_SHIFT: u32 = 28;
const GRP1: u32 = 1 << 30;
const HW: u32 = 1 << 31;

impl ListRegister {
    /// This register as GICH_LR<n>, with `source` (0..8) as the CPUID of
    /// an SGI without HW. The priority keeps its top 5 bits: a GICv2
    /// virtual interface implements at most 5 (GICH_VTR.PRIbits).
    pub const fn encode_gicv2(&self, source: u8) -> u32 {
        let state = self.state.pending() as u32 | (self.state.active() as u32) << 1;
        let mut v = self.vintid & VIRTUAL_ID
            | (self.priority as u32 >> 3) << PRIORITY_SHIFT
            | state << STATE_SHIFT;
        if self.group1 {
            v |= GRP1;
        }
        match self.pintid {
            Some(p) => v |= HW | (p & PHYSICAL_ID) << PHYSICAL_ID_SHIFT,
            None => {
                if self.eoi_maintenance {
                    v |= EOI;
                }
                if self.vintid < NR_SGIS {
                    v |= (source as u32 & CPUID) << CPUID_SHIFT;
                }
            }
        }
        v
    }

    /// A GICH_LR<n> value in the model's terms. The CPUID of an SGI is
    /// dropped: the model remembers the source it loaded.
    pub const fn decode_gicv2(v: u32) -> Self {
        let hw = v & HW != 0;
        let state = (v >> STATE_SHIFT) & 3;
        Self {
            vintid: v & VIRTUAL_ID,
            pintid: if hw {
                Some((v >> PHYSICAL_ID_SHIFT) & PHYSICAL_ID)
            } else {
                None
            },
            state: LrState::new(state & 1 != 0, state & 2 != 0),
            priority: (((v >> PRIORITY_SHIFT) & PRIORITY) << 3) as u8,
            group1: v & GRP1 != 0,
            eoi_maintenance: !hw && v & EOI != 0,
        }
    }
}

/// A hardware-linked interrupt loaded without its HW bit, for a virtual
/// interface whose HW = 1 deactivation cannot be relied on (QEMU's GICv2
/// model: deactivating through the list register deactivates the physical
/// interrupt but does not re-evaluate the physical CPU interface, so the
/// same interrupt pending again meanwhile, such as a virtual timer the
/// guest re-armed in its handler, is never signalled). The register is
/// loaded as a software one with EOI maintenance; at exit `relink` puts the
/// physical INTID back and says whether the guest deactivated it, for the
/// hypervisor to deactivate the physical interrupt itself (GICC_DIR).
impl ListRegister {
    /// This register without HW (and with EOI maintenance instead) if it
    /// is hardware-linked, and the physical INTID it was linked to.
    pub const fn unlinked(self) -> (Self, Option<u32>) {
        match self.pintid {
            Some(p) if !matches!(self.state, LrState::Invalid) => (
                Self {
                    pintid: None,
                    eoi_maintenance: true,
                    ..self
                },
                Some(p),
            ),
            _ => (self, None),
        }
    }

    /// What `unlinked` made, as read back, linked to `pintid` again; and
    /// whether the guest has deactivated it meanwhile.
    pub const fn relinked(self, pintid: u32) -> (Self, bool) {
        let deactivated = matches!(self.state, LrState::Invalid);
        (
            Self {
                pintid: Some(pintid),
                eoi_maintenance: false,
                ..self
            },
            deactivated,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lr(vintid: u32, pintid: Option<u32>, state: LrState, priority: u8) -> ListRegister {
        ListRegister {
            vintid,
            pintid,
            state,
            priority,
            group1: false,
            eoi_maintenance: false,
        }
    }

    #[test]
    fn sgi_carries_its_source_in_cpuid() {
        let l = lr(3, None, LrState::Pending, 0xa0);
        // pending 01 << 28 | 0xa0 >> 3 = 0x14 << 23 | source 5 << 10 | 3
        assert_eq!(l.encode_gicv2(5), 0x1a00_1403);
        assert_eq!(ListRegister::decode_gicv2(0x1a00_1403), l);
        // Only 3 bits of source exist.
        assert_eq!(l.encode_gicv2(0xff) & 0x1c00, 0x1c00);
    }

    #[test]
    fn source_is_not_encoded_for_ppis_and_spis() {
        let l = lr(27, None, LrState::Active, 0x80);
        // active 10 << 28 | 0x10 << 23 | 27
        assert_eq!(l.encode_gicv2(7), 0x2800_001b);
        let l = lr(100, None, LrState::PendingActive, 0xf8);
        assert_eq!(l.encode_gicv2(2), 0x3f80_0064);
    }

    #[test]
    fn hw_interrupt_has_physical_id_and_no_eoi_or_cpuid() {
        let mut l = lr(48, Some(80), LrState::Pending, 0x08);
        l.group1 = true;
        l.eoi_maintenance = true; // not encodable with HW = 1
                                  // HW | Grp1 | pending | 1 << 23 | 80 << 10 | 48
        assert_eq!(l.encode_gicv2(3), 0xd081_4030);
        let back = ListRegister::decode_gicv2(0xd081_4030);
        assert_eq!(
            back,
            ListRegister {
                eoi_maintenance: false,
                ..l
            }
        );
        // PhysicalID is 10 bits.
        let wide = lr(48, Some(0x7ff), LrState::Active, 0);
        assert_eq!(
            ListRegister::decode_gicv2(wide.encode_gicv2(0)).pintid,
            Some(0x3ff)
        );
    }

    #[test]
    fn eoi_bit_is_bit_19_for_software_interrupts() {
        let mut l = lr(9, None, LrState::Active, 0);
        l.eoi_maintenance = true;
        assert_eq!(l.encode_gicv2(1), 0x2008_0409);
        assert_eq!(ListRegister::decode_gicv2(0x2008_0409), l);
    }

    #[test]
    fn priority_keeps_its_top_five_bits() {
        let l = lr(40, None, LrState::Pending, 0xa7);
        assert_eq!(l.encode_gicv2(0) >> 23 & 0x1f, 0x14);
        assert_eq!(ListRegister::decode_gicv2(l.encode_gicv2(0)).priority, 0xa0);
    }

    #[test]
    fn round_trips_through_the_model_format() {
        for state in [
            LrState::Invalid,
            LrState::Pending,
            LrState::Active,
            LrState::PendingActive,
        ] {
            for (vintid, pintid) in [(0, None), (15, None), (31, None), (1019, Some(1019))] {
                for eoi in [false, true] {
                    let l = ListRegister {
                        vintid,
                        pintid,
                        state,
                        priority: 0xe8,
                        group1: eoi,
                        eoi_maintenance: eoi && pintid.is_none(),
                    };
                    let v2 = l.encode_gicv2(6);
                    assert_eq!(ListRegister::decode_gicv2(v2), l, "{l:?}");
                    // Through the internal (ICH_LR) format and back.
                    let v3 = ListRegister::decode_gicv2(v2).encode();
                    assert_eq!(ListRegister::decode(v3).encode_gicv2(6), v2);
                }
            }
        }
        assert_eq!(ListRegister::decode_gicv2(0).state, LrState::Invalid);
        let empty = ListRegister::decode(ListRegister::INVALID);
        assert_eq!(empty.encode_gicv2(0), 0, "an unused register stays 0");
    }

    #[test]
    fn hw_link_can_be_replaced_by_eoi_maintenance() {
        let hw = lr(27, Some(27), LrState::Pending, 0xa0);
        let (soft, p) = hw.unlinked();
        assert_eq!(p, Some(27));
        assert_eq!(soft.pintid, None);
        assert!(soft.eoi_maintenance);
        // As GICH_LR: no HW bit, EOI (bit 19) set.
        let raw = soft.encode_gicv2(0);
        assert_eq!(raw & (1 << 31), 0);
        assert_ne!(raw & (1 << 19), 0);
        // Read back untouched, taken, then deactivated by the guest.
        let back = ListRegister::decode_gicv2(raw);
        assert_eq!(back.relinked(27), (hw, false));
        let mut taken = back;
        taken.state = LrState::Active;
        let (again, done) = taken.relinked(27);
        assert_eq!(again.pintid, Some(27));
        assert!(!again.eoi_maintenance && !done);
        let mut gone = back;
        gone.state = LrState::Invalid;
        assert!(gone.relinked(27).1);
        // Software interrupts and empty registers are left alone.
        let sw = lr(31, None, LrState::Pending, 0xa0);
        assert_eq!(sw.unlinked(), (sw, None));
        let empty = ListRegister::decode(ListRegister::INVALID);
        assert_eq!(empty.unlinked(), (empty, None));
    }
}
