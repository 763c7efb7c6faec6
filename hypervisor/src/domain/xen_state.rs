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
    /// The xenstore event channel (HVM_PARAM_STORE_EVTCHN): a port left
    /// unbound for the hardware domain to bind (Xen's `xen,enhanced`
    /// domains); 0 = none.
    pub store_evtchn: u32,
}

impl XenState {
    pub fn new(vcpus: usize) -> Self {
        Self {
            areas: GuestAreas::new(vcpus),
            ports: Ports::default(),
            runstate_update_flag: false,
            gnttab_version: 1,
            store_evtchn: 0,
        }
    }

    /// Open the xenstore channel: a port waiting for `backend` (the
    /// hardware domain) to bind to it, notifying vCPU 0.
    pub fn open_store_channel(&mut self, backend: u16) -> Result<u32, i64> {
        let port = self.ports.alloc(
            crate::domain::events::Binding::Unbound { remote: backend },
            0,
        )?;
        self.store_evtchn = port;
        Ok(port)
    }
}
