//! A fake environment for the Xen hypercalls, for host tests and the fuzz
//! harness: guest memory is host memory behind banks at IPA 0x4000_0000,
//! with VA == IPA.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::RefCell;

use super::*;
use crate::board::PhysRange;
use crate::domain::guest_ram::SharedPage;
use crate::domain::{Bank, BootVcpu, Domain};
use crate::mm::page_table::PageTable;

pub const RAM: u64 = 0x4000_0000;

pub struct World {
    /// Backs every domain's RAM.
    _pages: Vec<Box<SharedPage>>,
    pub domains: Vec<Domain>,
    pub raised: RefCell<Vec<(u16, usize)>>,
    pub out: RefCell<Vec<u8>>,
    pub input: RefCell<Vec<u8>>,
    /// (domain, page) shared with the secure world.
    pub ffa_shared: RefCell<Vec<(u16, u64)>>,
}

pub fn domain(id: u16, hardware: bool, vcpus: usize, banks: Vec<Bank>) -> Domain {
    let mut d = Domain::new(
        id,
        alloc::format!("d{id}"),
        hardware,
        banks,
        PageTable {
            root: 0,
            root_level: 0,
            root_pages: 1,
        },
        (0..vcpus as u64).collect(),
        BootVcpu { entry: 0, arg0: 0 },
    );
    d.grant = Some(crate::domain::xen_state::GrantFrames {
        ipa: PhysRange::new(0x3800_0000, 4 * 4096),
    });
    d
}

impl World {
    /// Domains `ids` (the first is the hardware domain), each with `pages`
    /// pages of RAM and `vcpus` vCPUs.
    pub fn new(ids: &[u16], pages: usize, vcpus: usize) -> Self {
        let mut all = Vec::new();
        let mut domains = Vec::new();
        for (n, &id) in ids.iter().enumerate() {
            let mut banks = Vec::new();
            for i in 0..pages {
                let p = SharedPage::new_boxed();
                banks.push(Bank {
                    ipa: PhysRange::new(RAM + i as u64 * 4096, 4096),
                    pa: p.area().raw().0 as u64,
                });
                all.push(p);
            }
            domains.push(domain(id, n == 0, vcpus, banks));
        }
        World {
            _pages: all,
            domains,
            raised: RefCell::new(Vec::new()),
            out: RefCell::new(Vec::new()),
            input: RefCell::new(Vec::new()),
            ffa_shared: RefCell::new(Vec::new()),
        }
    }

    pub fn as_(&self, id: u16, vcpu: usize) -> Caller<'_> {
        let d = self.domains.iter().position(|d| d.id == id).unwrap();
        Caller { w: self, d, vcpu }
    }

    /// Host view of guest RAM of domain index `d` at `ipa`.
    pub fn area(&self, id: u16, ipa: u64, len: u64) -> crate::domain::guest_ram::HostArea {
        let d = self.domains.iter().find(|d| d.id == id).unwrap();
        crate::domain::guest_ram::HostArea::in_ram(&d.banks, ipa, len).unwrap()
    }
}

pub struct Caller<'a> {
    w: &'a World,
    d: usize,
    vcpu: usize,
}

impl GuestMemory for Caller<'_> {
    fn read(&self, gva: u64, buf: &mut [u8]) -> Result<(), GuestFault> {
        let d = &self.w.domains[self.d];
        for (i, b) in buf.iter_mut().enumerate() {
            let va = gva.checked_add(i as u64).ok_or(GuestFault { gva })?;
            let a = crate::domain::guest_ram::HostArea::in_ram(&d.banks, va, 1)
                .ok_or(GuestFault { gva: va })?;
            *b = a.load_u8(0).unwrap();
        }
        Ok(())
    }
    fn write(&self, gva: u64, bytes: &[u8]) -> Result<(), GuestFault> {
        let d = &self.w.domains[self.d];
        // All or nothing, like the real copy (checked first).
        for i in 0..bytes.len() as u64 {
            let va = gva.checked_add(i).ok_or(GuestFault { gva })?;
            crate::domain::guest_ram::HostArea::in_ram(&d.banks, va, 1)
                .ok_or(GuestFault { gva: va })?;
        }
        for (i, b) in bytes.iter().enumerate() {
            let a =
                crate::domain::guest_ram::HostArea::in_ram(&d.banks, gva + i as u64, 1).unwrap();
            a.swap_u8(0, *b);
        }
        Ok(())
    }
}

impl Env for Caller<'_> {
    fn caller(&self) -> (&Domain, usize) {
        (&self.w.domains[self.d], self.vcpu)
    }
    fn domains(&self) -> &[Domain] {
        &self.w.domains
    }
    fn memory(&self) -> &dyn GuestMemory {
        self
    }
    fn raise_event_irq(&self, domain: &Domain, vcpu: usize) {
        self.w.raised.borrow_mut().push((domain.id, vcpu));
    }
    fn console_write(&self, bytes: &[u8]) {
        self.w.out.borrow_mut().extend_from_slice(bytes);
    }
    fn console_read(&self, buf: &mut [u8]) -> usize {
        let mut input = self.w.input.borrow_mut();
        let n = buf.len().min(input.len());
        buf[..n].copy_from_slice(&input[..n]);
        input.drain(..n);
        n
    }
    fn system_time_ns(&self) -> u64 {
        1_000
    }
    fn ffa_shared(&self, domain: &Domain, ipa: u64) -> bool {
        self.w.ffa_shared.borrow().contains(&(domain.id, ipa))
    }
}

impl Caller<'_> {
    pub fn call(&self, nr: u64, a: [u64; 3]) -> i64 {
        match handle(nr, &[a[0], a[1], a[2], 0, 0], self) {
            Outcome::Return(r) => r,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    /// Put `bytes` at guest address `at` and make call `nr(cmd, at)`.
    pub fn call_with(&self, nr: u64, cmd: u64, at: u64, bytes: &[u8]) -> i64 {
        self.write(at, bytes).unwrap();
        self.call(nr, [cmd, at, 0])
    }
    pub fn read_back<const N: usize>(&self, at: u64) -> [u8; N] {
        let mut b = [0u8; N];
        self.read(at, &mut b).unwrap();
        b
    }
}

/// A scratch buffer for arguments, in the last page of 8.
pub const ARG: u64 = RAM + 7 * 4096;
