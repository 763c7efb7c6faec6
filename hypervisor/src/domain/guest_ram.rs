//! The hypervisor's access to a domain's shared structures in memory
//! (shared_info, vCPU info areas): by guest-physical address, resolved
//! through the domain's RAM banks at every access, or in a page the
//! hypervisor owns. The guest may touch the same words at the same time,
//! so shared words are accessed atomically and copies are volatile.

use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use super::Bank;

/// `len` bytes at a host address: inside a RAM bank of one domain (the
/// banks never change while the domain exists and no other domain is
/// given that memory) or inside a page the hypervisor allocated for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostArea {
    addr: usize,
    len: u64,
}

impl HostArea {
    /// The area `[ipa, ipa+len)` of a domain with `banks`, if it lies in one bank.
    pub fn in_ram(banks: &[Bank], ipa: u64, len: u64) -> Option<Self> {
        let end = ipa.checked_add(len)?;
        let b = banks
            .iter()
            .find(|b| ipa >= b.ipa.base && end <= b.ipa.end())?;
        Some(Self {
            addr: usize::try_from(b.pa + (ipa - b.ipa.base)).ok()?,
            len,
        })
    }

    /// An area in memory the hypervisor owns and keeps alive as long as
    /// this value is used (see `SharedPage`).
    pub(crate) fn owned(addr: usize, len: u64) -> Self {
        Self { addr, len }
    }

    /// Host address and length (tests look behind the area).
    #[cfg(any(test, feature = "host-fakes"))]
    pub fn raw(&self) -> (usize, u64) {
        (self.addr, self.len)
    }

    /// The part `[off, off+len)` of this area.
    pub fn sub(&self, off: u64, len: u64) -> Option<HostArea> {
        let end = off.checked_add(len)?;
        (end <= self.len).then(|| HostArea::owned(self.addr + off as usize, len))
    }

    fn check(&self, off: u64, size: u64, align: u64) -> Option<usize> {
        let end = off.checked_add(size)?;
        let at = self.addr.checked_add(usize::try_from(off).ok()?)?;
        (end <= self.len && at.is_multiple_of(align as usize)).then_some(at)
    }

    fn word(&self, off: u64) -> Option<&AtomicU64> {
        let at = self.check(off, 8, 8)?;
        // SAFETY: `at` is 8-aligned and inside the area, which is memory
        // the hypervisor maps read-write for as long as the domain (or the
        // owning page) exists; the guest shares it, hence atomic access.
        Some(unsafe { AtomicU64::from_ptr(at as *mut u64) })
    }

    fn byte(&self, off: u64) -> Option<&AtomicU8> {
        let at = self.check(off, 1, 1)?;
        // SAFETY: as for `word`; bytes need no alignment.
        Some(unsafe { AtomicU8::from_ptr(at as *mut u8) })
    }

    pub fn load_u64(&self, off: u64) -> Option<u64> {
        Some(self.word(off)?.load(Ordering::Acquire))
    }

    pub fn store_u64(&self, off: u64, v: u64) -> Option<()> {
        self.word(off)?.store(v, Ordering::Release);
        Some(())
    }

    /// Set `bits`; the old value.
    pub fn fetch_or_u64(&self, off: u64, bits: u64) -> Option<u64> {
        Some(self.word(off)?.fetch_or(bits, Ordering::AcqRel))
    }

    pub fn fetch_and_u64(&self, off: u64, bits: u64) -> Option<u64> {
        Some(self.word(off)?.fetch_and(bits, Ordering::AcqRel))
    }

    pub fn swap_u8(&self, off: u64, v: u8) -> Option<u8> {
        Some(self.byte(off)?.swap(v, Ordering::AcqRel))
    }

    pub fn load_u8(&self, off: u64) -> Option<u8> {
        Some(self.byte(off)?.load(Ordering::Acquire))
    }

    /// A 32-bit store (the wallclock fields), as two halves of its word
    /// would race with the guest: done as one atomic u32.
    pub fn store_u32(&self, off: u64, v: u32) -> Option<()> {
        let at = self.check(off, 4, 4)?;
        // SAFETY: as for `word`, 4-aligned.
        unsafe { core::sync::atomic::AtomicU32::from_ptr(at as *mut u32) }
            .store(v, Ordering::Release);
        Some(())
    }

    /// Copy `len` bytes from `from` (at `from_off`) into this area at `off`,
    /// byte by byte (either side may be any alignment).
    pub fn copy_from(&self, off: u64, from: &HostArea, from_off: u64, len: u64) -> Option<()> {
        self.check(off, len, 1)?;
        from.check(from_off, len, 1)?;
        for i in 0..len {
            let b = from.byte(from_off + i)?.load(Ordering::Relaxed);
            self.byte(off + i)?.store(b, Ordering::Relaxed);
        }
        core::sync::atomic::fence(Ordering::Release);
        Some(())
    }

    pub fn fill(&self, off: u64, len: u64, v: u8) -> Option<()> {
        self.check(off, len, 1)?;
        for i in 0..len {
            self.byte(off + i)?.store(v, Ordering::Relaxed);
        }
        core::sync::atomic::fence(Ordering::Release);
        Some(())
    }
}

/// A page the hypervisor owns for a domain (shared_info before the guest
/// places it): page-aligned, zeroed, on the heap.
#[repr(C, align(4096))]
pub struct SharedPage([AtomicU64; 512]);

impl SharedPage {
    pub fn new_boxed() -> alloc::boxed::Box<Self> {
        alloc::boxed::Box::new(SharedPage([const { AtomicU64::new(0) }; 512]))
    }

    /// The page as an area; valid while `self` is.
    pub fn area(&self) -> HostArea {
        HostArea::owned(self.0.as_ptr() as usize, 4096)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::PhysRange;

    #[test]
    fn areas_stay_inside_one_bank_and_check_alignment() {
        let page = SharedPage::new_boxed();
        let host = page.area().addr as u64;
        let banks = [Bank {
            ipa: PhysRange::new(0x4000_0000, 0x1000),
            pa: host,
        }];
        let a = HostArea::in_ram(&banks, 0x4000_0ff0, 16).unwrap();
        assert_eq!(a.fetch_or_u64(8, 2), Some(0));
        assert_eq!(a.load_u64(8), Some(2));
        assert_eq!(page.0[511].load(Ordering::Relaxed), 2);
        // Unaligned word, past the end, straddling the bank.
        assert_eq!(a.load_u64(4), None);
        assert_eq!(a.load_u64(16), None);
        assert_eq!(HostArea::in_ram(&banks, 0x4000_0ff8, 16), None);
        assert_eq!(HostArea::in_ram(&banks, 0x3fff_fff8, 16), None);
        assert_eq!(HostArea::in_ram(&banks, u64::MAX - 4, 16), None);
        assert_eq!(a.copy_from(0, &a, 8, 8), Some(()));
        assert_eq!(a.load_u64(0), Some(2));
        assert_eq!(a.copy_from(4, &a, 0, 16), None);
    }
}
