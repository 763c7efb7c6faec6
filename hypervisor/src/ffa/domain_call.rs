//! One FF-A call from a domain, as the arch glue hands it over: the
//! caller's view (its ID, vCPUs, RAM) is built from the domain, and a
//! MEM_SHARE is checked against the pages holding its Xen shared areas
//! under the domain's Xen lock, which XENMEM_add_to_physmap and vcpu_info
//! registration hold while they ask `Mediator::is_shared`: a page is never
//! both (lock order: the domain's Xen lock, then the mediator).

use super::abi::{self, Regs};
use super::guest::{BankRam, GuestRam};
use super::{Action, Caller, Env, Mediator};
use crate::domain::guest_areas::GuestAreas;
use crate::domain::Domain;

fn is_mem_share(fid: u32) -> bool {
    fid == abi::MEM_SHARE_32 || fid == abi::MEM_SHARE_64
}

/// A domain's RAM with the pages holding its Xen shared areas reserved.
struct XenAwareRam<'a> {
    banks: BankRam<'a>,
    areas: &'a GuestAreas,
}

impl GuestRam for XenAwareRam<'_> {
    fn page_pa(&self, ipa: u64) -> Option<u64> {
        self.banks.page_pa(ipa)
    }
    fn reserved(&self, ipa: u64) -> bool {
        self.areas.holds_page(ipa)
    }
}

/// Handle `x` (x0..x17) from `domain`. A forwarded direct request is left
/// to the caller, to run without the mediator held.
pub fn handle(
    domain: &Domain,
    mediator: &spin::Mutex<Mediator>,
    env: &mut dyn Env,
    x: &Regs,
) -> Action {
    let bank_ram = BankRam(&domain.banks);
    let xen = is_mem_share(x[0] as u32).then(|| domain.xen.lock());
    let xen_ram = xen.as_ref().map(|x| XenAwareRam {
        banks: bank_ram,
        areas: &x.areas,
    });
    let ram: &dyn GuestRam = match &xen_ram {
        Some(r) => r,
        None => &bank_ram,
    };
    let caller = Caller {
        domain: domain.id,
        vcpus: domain.vcpus,
        ram,
        forward_partition_info: domain.ffa_bench_forwarding,
    };
    let action = mediator.lock().handle(env, &caller, x);
    drop(xen);
    action
}
