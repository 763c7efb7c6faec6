//! One ICH_LR<n>_EL2 list register, in the architectural layout (IHI 0069,
//! "ICH_LR<n>_EL2"), without touching the register: the arch layer writes
//! `encode()` into ICH_LR<n>_EL2 at guest entry and hands what it reads back
//! at exit to `Vgic::sync`. Keeping the encoding here makes it host-testable.
//!
//! Layout: vINTID [31:0]; pINTID [44:32] when HW = 1, else bit 41 = EOI
//! (maintenance interrupt when the guest deactivates it) and the rest RES0;
//! Priority [55:48]; Group [60]; HW [61]; State [63:62] (00 invalid,
//! 01 pending, 10 active, 11 pending and active).

const PINTID_SHIFT: u32 = 32;
const PINTID_MASK: u64 = 0x1fff;
const EOI: u64 = 1 << 41;
const PRIORITY_SHIFT: u32 = 48;
const GROUP: u64 = 1 << 60;
const HW: u64 = 1 << 61;
const STATE_SHIFT: u32 = 62;

/// The state field of a list register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LrState {
    Invalid,
    Pending,
    Active,
    PendingActive,
}

impl LrState {
    pub const fn new(pending: bool, active: bool) -> Self {
        match (pending, active) {
            (false, false) => Self::Invalid,
            (true, false) => Self::Pending,
            (false, true) => Self::Active,
            (true, true) => Self::PendingActive,
        }
    }
    pub const fn pending(self) -> bool {
        matches!(self, Self::Pending | Self::PendingActive)
    }
    pub const fn active(self) -> bool {
        matches!(self, Self::Active | Self::PendingActive)
    }
    const fn bits(self) -> u64 {
        self.pending() as u64 | (self.active() as u64) << 1
    }
    const fn from_bits(b: u64) -> Self {
        Self::new(b & 1 != 0, b & 2 != 0)
    }
}

/// A list register's contents, independent of any hardware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListRegister {
    pub vintid: u32,
    /// `Some` sets HW = 1: deactivating the virtual interrupt deactivates
    /// this physical INTID (13 bits are encoded).
    pub pintid: Option<u32>,
    pub state: LrState,
    pub priority: u8,
    pub group1: bool,
    /// HW = 0 only: ask for a maintenance interrupt when the guest
    /// deactivates it (ignored, and not encoded, when `pintid` is `Some`).
    pub eoi_maintenance: bool,
}

impl ListRegister {
    /// An unused list register.
    pub const INVALID: u64 = 0;

    pub const fn encode(&self) -> u64 {
        let mut v = self.vintid as u64
            | (self.priority as u64) << PRIORITY_SHIFT
            | self.state.bits() << STATE_SHIFT;
        if self.group1 {
            v |= GROUP;
        }
        match self.pintid {
            Some(p) => v |= HW | (p as u64 & PINTID_MASK) << PINTID_SHIFT,
            None if self.eoi_maintenance => v |= EOI,
            None => {}
        }
        v
    }

    pub const fn decode(v: u64) -> Self {
        let hw = v & HW != 0;
        Self {
            vintid: v as u32,
            pintid: if hw {
                Some(((v >> PINTID_SHIFT) & PINTID_MASK) as u32)
            } else {
                None
            },
            state: LrState::from_bits(v >> STATE_SHIFT),
            priority: (v >> PRIORITY_SHIFT) as u8,
            group1: v & GROUP != 0,
            eoi_maintenance: !hw && v & EOI != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_software_interrupt_by_hand_computed_value() {
        let lr = ListRegister {
            vintid: 27,
            pintid: None,
            state: LrState::Pending,
            priority: 0xa0,
            group1: true,
            eoi_maintenance: false,
        };
        // state 01 << 62 | group << 60 | 0xa0 << 48 | 27
        assert_eq!(lr.encode(), 0x50a0_0000_0000_001b);
        assert_eq!(ListRegister::decode(lr.encode()), lr);
    }

    #[test]
    fn encodes_hw_interrupt_with_physical_intid() {
        let lr = ListRegister {
            vintid: 48,
            pintid: Some(48),
            state: LrState::Active,
            priority: 0x80,
            group1: true,
            eoi_maintenance: true, // ignored with HW = 1
        };
        // 10 << 62 | HW << 61 | group << 60 | 0x80 << 48 | 48 << 32 | 48
        assert_eq!(lr.encode(), 0xb080_0030_0000_0030);
        let back = ListRegister::decode(lr.encode());
        assert_eq!(
            back,
            ListRegister {
                eoi_maintenance: false,
                ..lr
            }
        );
    }

    #[test]
    fn eoi_bit_is_bit_41_for_software_interrupts() {
        let lr = ListRegister {
            vintid: 1,
            pintid: None,
            state: LrState::PendingActive,
            priority: 0,
            group1: false,
            eoi_maintenance: true,
        };
        assert_eq!(lr.encode(), 0xc000_0200_0000_0001);
        assert_eq!(ListRegister::decode(lr.encode()), lr);
    }

    #[test]
    fn decode_reads_every_state_and_masks_pintid_to_13_bits() {
        for (bits, st) in [
            (0u64, LrState::Invalid),
            (1, LrState::Pending),
            (2, LrState::Active),
            (3, LrState::PendingActive),
        ] {
            assert_eq!(ListRegister::decode(bits << 62).state, st);
        }
        let lr = ListRegister::decode(HW | 0xffff_u64 << 32);
        assert_eq!(lr.pintid, Some(0x1fff));
        assert_eq!(ListRegister::decode(0).state, LrState::Invalid);
    }
}
