//! A domain's Xen-interface state, behind one lock per domain: shared
//! areas, event-channel ports, the grant-table frames and what the guest
//! switched on.

use super::events::Ports;
use super::guest_areas::GuestAreas;
use crate::board::PhysRange;

/// Grant-table frames the domain was given, mapped at build time at the
/// guest-physical range its device tree names (`/hypervisor` reg[0]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantFrames {
    pub ipa: PhysRange,
}

impl GrantFrames {
    pub fn frames(&self) -> u32 {
        (self.ipa.size / 4096) as u32
    }
}

pub struct XenState {
    pub areas: GuestAreas,
    pub ports: Ports,
    /// VMASST_TYPE_runstate_update_flag.
    pub runstate_update_flag: bool,
    pub gnttab_version: u32,
}

impl XenState {
    pub fn new(vcpus: usize) -> Self {
        Self {
            areas: GuestAreas::new(vcpus),
            ports: Ports::default(),
            runstate_update_flag: false,
            gnttab_version: 1,
        }
    }
}
