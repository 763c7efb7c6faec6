//! One guest's FF-A state: its negotiated version and its RX/TX pair.

use super::abi::{status, Version};
use super::partinfo::BUFFER_SIZE;

/// The mediator's view of a guest's memory: the host-physical address of
/// one 4 KiB page of the guest's own RAM, by guest-physical address.
/// Anything else (MMIO, holes, another domain's memory) is `None`.
pub trait GuestRam {
    fn page_pa(&self, ipa: u64) -> Option<u64>;
    /// Whether the hypervisor itself writes page `ipa` for the guest (Xen's
    /// shared_info or a vcpu_info area): such a page is never shared with
    /// the secure world, where a partition could rewrite it behind the
    /// hypervisor's back.
    fn reserved(&self, _ipa: u64) -> bool {
        false
    }
}

/// FF-A's answer to a guest's FFA_VERSION: the version Halyard implements.
pub const MEDIATOR_VERSION: Version = Version::V1_2;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxTx {
    pub tx_pa: u64,
    pub rx_pa: u64,
    pub tx_ipa: u64,
    pub rx_ipa: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestFfa {
    version: Option<Version>,
    /// Set by the first call other than VERSION: the version is final.
    frozen: bool,
    pub rxtx: Option<RxTx>,
    /// The mediator wrote the RX buffer and the guest has not released it.
    pub rx_held_by_guest: bool,
}

impl GuestFfa {
    /// FFA_VERSION: record what the guest asked for (same major, minor
    /// capped at ours) until another call freezes it; always answer ours.
    pub fn negotiate(&mut self, asked: u32) -> u64 {
        let v = Version(asked);
        if !v.is_valid() {
            return status::NOT_SUPPORTED as i64 as u64;
        }
        if !self.frozen && v.major() == MEDIATOR_VERSION.major() {
            self.version = Some(v.min(MEDIATOR_VERSION));
        }
        u64::from(MEDIATOR_VERSION.0)
    }

    /// Any call but VERSION: the negotiated version, which is now final,
    /// or NOT_SUPPORTED when the guest never called VERSION.
    pub fn version_for_call(&mut self) -> Result<Version, i32> {
        let v = self.version.ok_or(status::NOT_SUPPORTED)?;
        self.frozen = true;
        Ok(v)
    }

    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// FFA_RXTX_MAP of one page pair (`pages` counts 4 KiB pages).
    pub fn map(&mut self, ram: &dyn GuestRam, tx: u64, rx: u64, pages: u64) -> Result<(), i32> {
        if self.rxtx.is_some() {
            return Err(status::DENIED);
        }
        if pages != 1 {
            return Err(status::INVALID_PARAMETERS);
        }
        let aligned = |a: u64| a.is_multiple_of(BUFFER_SIZE as u64);
        if !aligned(tx) || !aligned(rx) || tx == rx {
            return Err(status::INVALID_PARAMETERS);
        }
        let (Some(tx_pa), Some(rx_pa)) = (ram.page_pa(tx), ram.page_pa(rx)) else {
            return Err(status::INVALID_PARAMETERS);
        };
        self.rxtx = Some(RxTx {
            tx_pa,
            rx_pa,
            tx_ipa: tx,
            rx_ipa: rx,
        });
        self.rx_held_by_guest = false;
        Ok(())
    }

    pub fn unmap(&mut self) -> Result<(), i32> {
        self.rxtx.take().ok_or(status::INVALID_PARAMETERS)?;
        self.rx_held_by_guest = false;
        Ok(())
    }

    /// The RX buffer, to be filled for the guest: it must be mapped and
    /// not still held by the guest.
    pub fn acquire_rx(&mut self) -> Result<u64, i32> {
        let b = self.rxtx.ok_or(status::DENIED)?;
        if self.rx_held_by_guest {
            return Err(status::BUSY);
        }
        self.rx_held_by_guest = true;
        Ok(b.rx_pa)
    }

    pub fn release_rx(&mut self) -> Result<(), i32> {
        if self.rxtx.is_none() || !self.rx_held_by_guest {
            return Err(status::DENIED);
        }
        self.rx_held_by_guest = false;
        Ok(())
    }

    /// A new boot of the domain starts from nothing.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// A domain's RAM banks as the mediator's `GuestRam`.
#[derive(Clone, Copy)]
pub struct BankRam<'a>(pub &'a [crate::domain::Bank]);

impl GuestRam for BankRam<'_> {
    fn page_pa(&self, ipa: u64) -> Option<u64> {
        if !ipa.is_multiple_of(BUFFER_SIZE as u64) {
            return None;
        }
        let end = ipa.checked_add(BUFFER_SIZE as u64)?;
        let b = self
            .0
            .iter()
            .find(|b| ipa >= b.ipa.base && end <= b.ipa.end())?;
        Some(b.pa + (ipa - b.ipa.base))
    }
}

#[cfg(test)]
#[test]
fn bank_ram_translates_whole_pages_inside_banks_only() {
    use crate::board::PhysRange;
    use crate::domain::Bank;
    let banks = [
        Bank {
            ipa: PhysRange::new(0x4000_0000, 0x10_0000),
            pa: 0x9000_0000,
        },
        Bank {
            ipa: PhysRange::new(0x5000_0000, 0x2000),
            pa: 0xa000_0000,
        },
    ];
    let r = BankRam(&banks);
    assert_eq!(r.page_pa(0x4000_3000), Some(0x9000_3000));
    assert_eq!(r.page_pa(0x400f_f000), Some(0x900f_f000));
    assert_eq!(r.page_pa(0x4010_0000), None);
    assert_eq!(r.page_pa(0x5000_1000), Some(0xa000_1000));
    assert_eq!(r.page_pa(0x4000_0800), None);
    assert_eq!(r.page_pa(!0xfff), None);
    assert_eq!(r.page_pa(0), None);
}
