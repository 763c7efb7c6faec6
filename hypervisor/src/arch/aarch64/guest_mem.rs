//! Reading guest memory by guest virtual address, for hypercall buffers.

use aarch64_cpu::registers::*;

use crate::domain::Domain;
use crate::hypercall::{GuestFault, GuestMemory};

const PAGE: u64 = 4096;

/// The running guest's memory, through its current stage-1 and stage-2.
pub struct CurrentGuest<'a> {
    pub domain: &'a Domain,
}

/// Guest VA -> IPA with the guest's stage-1, checked for reading (`AT
/// S1E1R`) or writing (`AT S1E1W`: the hypervisor never writes where the
/// guest's own tables forbid it to). PAR_EL1 belongs to the guest, so it is
/// preserved.
fn gva_to_ipa(gva: u64, write: bool) -> Option<u64> {
    let saved = PAR_EL1.get();
    if write {
        // SAFETY: address translation only writes PAR_EL1, restored below.
        unsafe { core::arch::asm!("at s1e1w, {}", "isb", in(reg) gva, options(nostack)) };
    } else {
        // SAFETY: as above.
        unsafe { core::arch::asm!("at s1e1r, {}", "isb", in(reg) gva, options(nostack)) };
    }
    let par = PAR_EL1.get();
    PAR_EL1.set(saved);
    (par & 1 == 0).then_some((par & 0x000f_ffff_ffff_f000) | (gva & (PAGE - 1)))
}

impl CurrentGuest<'_> {
    /// Host addresses of `[gva, gva+len)`, page piece by page piece: each
    /// piece is checked to lie in the domain's RAM (and to be writable by
    /// the guest, for `write`) before any is used.
    fn pieces(
        &self,
        gva: u64,
        len: usize,
        write: bool,
        each: &mut dyn FnMut(usize, u64, usize),
    ) -> Result<(), GuestFault> {
        let mut done = 0usize;
        while done < len {
            let va = gva.checked_add(done as u64).ok_or(GuestFault { gva })?;
            let n = ((PAGE - (va % PAGE)) as usize).min(len - done);
            let ipa = gva_to_ipa(va, write).ok_or(GuestFault { gva: va })?;
            let pa = self
                .domain
                .ipa_to_pa(ipa, n as u64)
                .ok_or(GuestFault { gva: va })?;
            each(done, pa, n);
            done += n;
        }
        Ok(())
    }
}

impl GuestMemory for CurrentGuest<'_> {
    fn read(&self, gva: u64, buf: &mut [u8]) -> Result<(), GuestFault> {
        self.pieces(gva, buf.len(), false, &mut |done, pa, n| {
            // SAFETY: `pa..pa+n` lies inside the domain's RAM (checked by
            // ipa_to_pa), which the hypervisor maps read-write.
            let src = unsafe { core::slice::from_raw_parts(pa as *const u8, n) };
            buf[done..done + n].copy_from_slice(src);
        })
    }

    fn write(&self, gva: u64, bytes: &[u8]) -> Result<(), GuestFault> {
        // Check every piece first: a write is all or nothing.
        self.pieces(gva, bytes.len(), true, &mut |_, _, _| {})?;
        self.pieces(gva, bytes.len(), true, &mut |done, pa, n| {
            // SAFETY: as for `read`; the range was checked just above and
            // the guest's own stage-1 cannot change under this trap.
            let dst = unsafe { core::slice::from_raw_parts_mut(pa as *mut u8, n) };
            dst.copy_from_slice(&bytes[done..done + n]);
        })
    }
}
