//! Where a domain's Xen shared structures live: the shared_info page and
//! each vCPU's vcpu_info area, with the registration rules of Xen 4.18+
//! (`VCPUOP_register_vcpu_info`) and the "mark events pending" step every
//! event delivery ends in.
//!
//! Locations are kept as guest-physical addresses and resolved through the
//! domain's RAM banks at every access (`HostArea::in_ram`). The banks are
//! fixed when the domain is built and no hypercall remaps RAM, so a stored
//! location can only ever reach this domain's own memory, whatever the
//! guest later does with its stage-1 tables or with the page itself.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::guest_ram::{HostArea, SharedPage};
use super::Bank;
use crate::hypercall::xen::abi::{errno, shared_info, vcpu_info, PAGE_SIZE};

/// Where shared_info lives.
enum SharedHome {
    /// In the hypervisor's page, until the guest names a gfn for it.
    Hypervisor,
    Guest {
        ipa: u64,
    },
}

/// A vCPU's info area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VcpuArea {
    /// Its slot in shared_info (vCPUs below `shared_info::LEGACY_VCPUS`).
    Legacy,
    /// None yet: events for it are recorded in shared_info only, and the
    /// registration's `pending_sel = ~0` makes the guest rescan them.
    Dummy,
    Registered {
        ipa: u64,
    },
}

pub struct GuestAreas {
    page: Box<SharedPage>,
    home: SharedHome,
    vcpus: Vec<VcpuArea>,
}

impl GuestAreas {
    pub fn new(vcpus: usize) -> Self {
        Self {
            page: SharedPage::new_boxed(),
            home: SharedHome::Hypervisor,
            vcpus: (0..vcpus)
                .map(|v| {
                    if v < shared_info::LEGACY_VCPUS {
                        VcpuArea::Legacy
                    } else {
                        VcpuArea::Dummy
                    }
                })
                .collect(),
        }
    }

    pub fn vcpu_count(&self) -> usize {
        self.vcpus.len()
    }

    pub fn vcpu_area_kind(&self, v: usize) -> Option<VcpuArea> {
        self.vcpus.get(v).copied()
    }

    /// shared_info as the hypervisor reaches it now.
    pub fn shared(&self, banks: &[Bank]) -> Option<HostArea> {
        match self.home {
            SharedHome::Hypervisor => Some(self.page.area()),
            SharedHome::Guest { ipa } => HostArea::in_ram(banks, ipa, PAGE_SIZE),
        }
    }

    /// Guest-physical address of shared_info, once the guest placed it.
    pub fn shared_gfn(&self) -> Option<u64> {
        match self.home {
            SharedHome::Hypervisor => None,
            SharedHome::Guest { ipa } => Some(ipa / PAGE_SIZE),
        }
    }

    /// Whether guest page `ipa` holds shared_info or a registered
    /// vcpu_info area: pages the hypervisor writes, which the guest may not
    /// share with the secure world.
    pub fn holds_page(&self, ipa: u64) -> bool {
        let page = ipa & !(PAGE_SIZE - 1);
        self.shared_gfn() == Some(page / PAGE_SIZE)
            || self.vcpus.iter().any(
                |a| matches!(a, VcpuArea::Registered { ipa } if ipa & !(PAGE_SIZE - 1) == page),
            )
    }

    /// `XENMEM_add_to_physmap(XENMAPSPACE_shared_info)`: shared_info
    /// becomes the guest's RAM page `gfn`, carrying its contents along (the
    /// guest hands over a page it keeps for this). Only the first
    /// `shared_info::SIZE` bytes are shared_info; the rest of the page is
    /// the guest's.
    pub fn place_shared(&mut self, banks: &[Bank], gfn: u64) -> Result<(), i64> {
        let ipa = gfn.checked_mul(PAGE_SIZE).ok_or(errno::EINVAL)?;
        let to = HostArea::in_ram(banks, ipa, PAGE_SIZE).ok_or(errno::EINVAL)?;
        if self.shared_gfn() == Some(gfn) {
            return Ok(());
        }
        let from = self.shared(banks).ok_or(errno::EINVAL)?;
        to.copy_from(0, &from, 0, shared_info::SIZE)
            .ok_or(errno::EINVAL)?;
        self.home = SharedHome::Guest { ipa };
        Ok(())
    }

    /// vCPU `v`'s info area as the hypervisor reaches it now (None for a
    /// dummy area).
    pub fn vcpu_info(&self, banks: &[Bank], v: usize) -> Option<HostArea> {
        match self.vcpus.get(v)? {
            VcpuArea::Legacy => {
                let sh = self.shared(banks)?;
                let off = v as u64 * vcpu_info::SIZE;
                sh.sub(off, vcpu_info::SIZE)
            }
            VcpuArea::Dummy => None,
            VcpuArea::Registered { ipa } => HostArea::in_ram(banks, *ipa, vcpu_info::SIZE),
        }
    }

    /// `VCPUOP_register_vcpu_info` for vCPU `v` at `(mfn << 12) + offset`,
    /// with Xen 4.18+'s checks and their order. On success the new area
    /// holds the old one's contents (moving off the legacy slot) or zeroes,
    /// then `evtchn_pending_sel = ~0`; the caller marks events pending
    /// (`mark_pending`) so that nothing sent before is lost.
    ///
    /// A running target needs no pause: the hypervisor touches vCPU areas
    /// only under the lock that guards `self`, which the caller holds.
    pub fn register_vcpu_info(
        &mut self,
        banks: &[Bank],
        v: usize,
        mfn: u64,
        offset: u32,
    ) -> Result<(), i64> {
        let kind = *self.vcpus.get(v).ok_or(errno::ENOENT)?;
        let gaddr = mfn
            .checked_mul(PAGE_SIZE)
            .and_then(|a| a.checked_add(u64::from(offset)))
            .filter(|a| *a != u64::MAX && a / PAGE_SIZE == mfn)
            .ok_or(errno::EINVAL)?;
        if matches!(kind, VcpuArea::Registered { .. }) {
            return Err(errno::EBUSY);
        }
        let last = gaddr + vcpu_info::SIZE - 1;
        if gaddr / PAGE_SIZE != last / PAGE_SIZE || !gaddr.is_multiple_of(vcpu_info::ALIGN) {
            return Err(errno::ENXIO);
        }
        let to = HostArea::in_ram(banks, gaddr, vcpu_info::SIZE).ok_or(errno::EINVAL)?;
        match (kind, self.vcpu_info(banks, v)) {
            (VcpuArea::Legacy, Some(from)) => to.copy_from(0, &from, 0, vcpu_info::SIZE),
            _ => to.fill(0, vcpu_info::SIZE, 0),
        }
        .ok_or(errno::EINVAL)?;
        to.store_u64(vcpu_info::PENDING_SEL, u64::MAX)
            .ok_or(errno::EINVAL)?;
        self.vcpus[v] = VcpuArea::Registered { ipa: gaddr };
        Ok(())
    }

    /// Set vCPU `v`'s `evtchn_upcall_pending`. True if it was clear: the
    /// event interrupt must then be raised on that vCPU. A dummy area has
    /// no flag; nothing is raised until the vCPU registers one.
    #[must_use]
    pub fn mark_pending(&self, banks: &[Bank], v: usize) -> bool {
        self.vcpu_info(banks, v)
            .and_then(|a| a.swap_u8(vcpu_info::UPCALL_PENDING, 1))
            == Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::PhysRange;

    /// A domain's RAM: `pages` pages at IPA 0x4000_0000, backed by host memory.
    pub(crate) struct Ram {
        pub pages: Vec<Box<SharedPage>>,
        pub banks: Vec<Bank>,
    }

    pub(crate) fn ram(pages: usize) -> Ram {
        let pages: Vec<_> = (0..pages).map(|_| SharedPage::new_boxed()).collect();
        let banks = pages
            .iter()
            .enumerate()
            .map(|(i, p)| Bank {
                ipa: PhysRange::new(0x4000_0000 + i as u64 * 4096, 4096),
                pa: p.area().raw().0 as u64,
            })
            .collect();
        Ram { pages, banks }
    }

    const GFN0: u64 = 0x4_0000;

    #[test]
    fn registration_errors_follow_xen_4_18() {
        let r = ram(4);
        let mut a = GuestAreas::new(2);
        let reg = |a: &mut GuestAreas, v, mfn, off| a.register_vcpu_info(&r.banks, v, mfn, off);
        assert_eq!(reg(&mut a, 2, GFN0, 0), Err(errno::ENOENT));
        assert_eq!(reg(&mut a, usize::MAX, GFN0, 0), Err(errno::ENOENT));
        assert_eq!(reg(&mut a, 0, GFN0, 4096), Err(errno::EINVAL));
        assert_eq!(reg(&mut a, 0, u64::MAX, 0), Err(errno::EINVAL));
        assert_eq!(reg(&mut a, 0, 1 << 52, 0), Err(errno::EINVAL));
        assert_eq!(reg(&mut a, 0, GFN0, 4), Err(errno::ENXIO));
        assert_eq!(reg(&mut a, 0, GFN0, 4096 - 16), Err(errno::ENXIO));
        // Outside RAM (a hole, a device, just past the end).
        assert_eq!(reg(&mut a, 0, 0x10, 0), Err(errno::EINVAL));
        assert_eq!(reg(&mut a, 0, 0x8000, 0), Err(errno::EINVAL));
        assert_eq!(reg(&mut a, 0, GFN0 + 4, 0), Err(errno::EINVAL));
        // Two vCPUs on one page; then each is busy.
        assert_eq!(reg(&mut a, 0, GFN0 + 1, 0), Ok(()));
        assert_eq!(reg(&mut a, 1, GFN0 + 1, 64), Ok(()));
        assert_eq!(reg(&mut a, 1, GFN0 + 2, 0), Err(errno::EBUSY));
        assert_eq!(reg(&mut a, 0, GFN0 + 1, 0), Err(errno::EBUSY));
        // The last fitting offset works (checked on a fresh vCPU set).
        let mut b = GuestAreas::new(1);
        assert_eq!(
            b.register_vcpu_info(&r.banks, 0, GFN0 + 3, 4096 - 48),
            Ok(())
        );
    }

    #[test]
    fn moving_off_the_legacy_slot_keeps_its_contents() {
        let r = ram(3);
        let mut a = GuestAreas::new(2);
        a.place_shared(&r.banks, GFN0).unwrap();
        let sh = a.shared(&r.banks).unwrap();
        // An event arrived for vCPU 0 in its legacy slot.
        sh.store_u64(vcpu_info::PENDING_SEL, 0b100).unwrap();
        assert!(a.mark_pending(&r.banks, 0));
        assert!(!a.mark_pending(&r.banks, 0));
        // vCPU 1 has only a dummy area: nothing to mark.
        assert!(!a.mark_pending(&r.banks, 1));
        r.pages[1].area().store_u64(16, 0x5555).unwrap();
        a.register_vcpu_info(&r.banks, 0, GFN0 + 1, 8).unwrap();
        let new = r.pages[1].area();
        assert_eq!(new.load_u8(8), Some(1), "upcall_pending carried over");
        assert_eq!(new.load_u64(16), Some(u64::MAX), "pending_sel = ~0");
        // vCPU 1's new area is zeroed, then pending_sel = ~0.
        r.pages[2].area().store_u64(0, u64::MAX).unwrap();
        a.register_vcpu_info(&r.banks, 1, GFN0 + 2, 0).unwrap();
        let v1 = r.pages[2].area();
        assert_eq!(v1.load_u64(0), Some(0));
        assert_eq!(v1.load_u64(8), Some(u64::MAX));
        assert!(a.mark_pending(&r.banks, 1));
    }

    #[test]
    fn shared_info_moves_with_its_contents() {
        let r = ram(2);
        let mut a = GuestAreas::new(1);
        a.shared(&r.banks)
            .unwrap()
            .store_u64(shared_info::EVTCHN_PENDING, 1 << 5)
            .unwrap();
        assert_eq!(a.place_shared(&r.banks, 0x10), Err(errno::EINVAL));
        assert_eq!(a.place_shared(&r.banks, u64::MAX), Err(errno::EINVAL));
        a.place_shared(&r.banks, GFN0).unwrap();
        assert_eq!(
            r.pages[0].area().load_u64(shared_info::EVTCHN_PENDING),
            Some(1 << 5)
        );
        a.place_shared(&r.banks, GFN0 + 1).unwrap();
        assert_eq!(a.shared_gfn(), Some(GFN0 + 1));
        assert_eq!(
            r.pages[1].area().load_u64(shared_info::EVTCHN_PENDING),
            Some(1 << 5)
        );
    }

    #[test]
    fn the_pages_it_holds_are_shared_info_and_registered_vcpu_info() {
        let r = ram(4);
        let mut a = GuestAreas::new(2);
        let page = |gfn: u64| gfn * PAGE_SIZE;
        assert!((0..4).all(|i| !a.holds_page(page(GFN0 + i))));
        a.place_shared(&r.banks, GFN0 + 1).unwrap();
        a.register_vcpu_info(&r.banks, 1, GFN0 + 3, 128).unwrap();
        let held: Vec<bool> = (0..4).map(|i| a.holds_page(page(GFN0 + i) + 8)).collect();
        assert_eq!(held, [false, true, false, true]);
    }
}
