//! Domains: a guest's identity, memory, console and run state.

pub mod events;
pub mod exits;
pub mod fault_policy;
pub mod guest_areas;
pub mod guest_map;
pub mod guest_ram;
pub mod notices;
pub mod power;
pub mod xen_state;

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::board::PhysRange;
use crate::console::guest_console::GuestConsole;
use crate::mm::page_table::PageTable;

/// Where a vCPU starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootVcpu {
    pub entry: u64,
    /// First argument register (x0 on Arm: the device tree).
    pub arg0: u64,
}

/// A block of guest RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bank {
    pub ipa: PhysRange,
    pub pa: u64,
}

pub struct Domain {
    pub id: u16,
    pub name: String,
    /// Owns the devices the hypervisor does not keep; its output is printed bare.
    pub hardware: bool,
    /// RAM banks: guest-physical range and host-physical base of each.
    pub banks: Vec<Bank>,
    pub stage2: PageTable,
    pub vcpus: u16,
    pub boot_vcpu: BootVcpu,
    /// PSCI state of each vCPU.
    pub power: power::VcpuPower,
    /// The virtual GIC and where the guest sees it.
    pub vgic: Option<spin::Mutex<crate::vgic::Vgic>>,
    pub vgic_layout: Option<guest_map::VgicLayout>,
    console: spin::Mutex<GuestConsole>,
    running: AtomicBool,
    /// Fault reports left before the hypervisor stops logging this domain's
    /// faults (a guest looping on a fault must not flood the console).
    reports_left: AtomicU32,
    /// The budget of the hypervisor's own lines about this domain.
    notices: notices::Notices,
    /// Exits to the hypervisor, by cause, and their handling time.
    pub exits: exits::ExitStats,
    /// The Xen interface's per-domain state.
    pub xen: spin::Mutex<xen_state::XenState>,
    /// Grant-table frames, when the domain was given some.
    pub grant: Option<xen_state::GrantFrames>,
    /// Guest-physical = host-physical for all its RAM.
    pub direct_mapped: bool,
    /// The physical CPU each vCPU runs on (pinned for the domain's life).
    pub pcpus: Vec<usize>,
    /// vCPUs asked to stop (bit per vCPU): another vCPU reboots the domain.
    stop_requests: core::sync::atomic::AtomicU64,
    /// Which boot of the domain is running (1 first; a reboot counts up).
    pub boot_count: AtomicU32,
    /// The domain's own PL011 (domains that are not the hardware domain).
    pub vuart: Option<spin::Mutex<crate::vdev::pl011::Vpl011>>,
    /// The hardware domain's console is hvc0 (the hypervisor keeps the UART).
    pub xen_console: bool,
    /// Host devices passed through to it (MMIO 1:1, SPIs HW-linked).
    pub devices: crate::boot::passthrough::DeviceSet,
    /// The hardware domain's SPIs that went to other domains.
    pub withheld_irqs: Vec<u32>,
    /// The domain whose xenstore serves this one (the hardware domain, for
    /// every other domain beside it: Xen's `xen,enhanced`); a store channel
    /// to it is opened at every boot.
    pub store_backend: Option<u16>,
    /// Benchmark only: the FF-A mediator forwards this domain's
    /// PARTITION_INFO_GET to the SPMC (`FFA_BENCH_FORWARDING`).
    pub ffa_bench_forwarding: bool,
}

/// The PPI that signals event channels to a domain's vCPUs (Xen's
/// GUEST_EVTCHN_PPI). No board in use wires a device to PPI 31; the
/// hardware domain's device tree is checked for it when it is built.
pub const EVTCHN_PPI: u32 = 31;

/// Faults of one domain the hypervisor reports on its console.
pub const FAULT_REPORTS: u32 = 32;

impl core::fmt::Debug for Domain {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Domain(d{} {:?})", self.id, self.name)
    }
}

impl Domain {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: u16,
        name: String,
        hardware: bool,
        banks: Vec<Bank>,
        stage2: PageTable,
        mpidrs: Vec<u64>,
        boot_vcpu: BootVcpu,
    ) -> Self {
        let mpidrs_len = mpidrs.len();
        Self {
            id,
            name,
            hardware,
            banks,
            stage2,
            vcpus: mpidrs.len() as u16,
            boot_vcpu,
            power: power::VcpuPower::new(mpidrs),
            vgic: None,
            vgic_layout: None,
            console: spin::Mutex::new(GuestConsole::new(!hardware)),
            running: AtomicBool::new(true),
            reports_left: AtomicU32::new(FAULT_REPORTS),
            notices: notices::Notices::new(),
            exits: exits::ExitStats::default(),
            xen: spin::Mutex::new(xen_state::XenState::new(mpidrs_len)),
            grant: None,
            direct_mapped: false,
            pcpus: (0..mpidrs_len).collect(),
            xen_console: false,
            boot_count: AtomicU32::new(1),
            stop_requests: core::sync::atomic::AtomicU64::new(0),
            vuart: None,
            devices: Default::default(),
            withheld_irqs: Vec::new(),
            store_backend: None,
            ffa_bench_forwarding: false,
        }
    }

    /// Host-physical address of guest-physical `[ipa, ipa+len)`, if it is
    /// all inside one RAM bank of the domain.
    pub fn ipa_to_pa(&self, ipa: u64, len: u64) -> Option<u64> {
        let end = ipa.checked_add(len)?;
        self.banks
            .iter()
            .find(|b| ipa >= b.ipa.base && end <= b.ipa.end())
            .map(|b| b.pa + (ipa - b.ipa.base))
    }

    /// The physical CPU vCPU `vcpu` runs on.
    pub fn pcpu(&self, vcpu: usize) -> Option<usize> {
        self.pcpus.get(vcpu).copied()
    }

    /// Pin the vCPUs to the CPUs set in `mask` (vCPU i on the i-th set
    /// bit), as the module table says; a mask of 0 keeps vCPU i on CPU i.
    pub fn pin(&mut self, mask: u64) {
        if mask != 0 {
            self.pcpus = (0..64).filter(|c| mask & (1 << c) != 0).collect();
        }
    }

    pub fn ram_bytes(&self) -> u64 {
        self.banks.iter().map(|b| b.ipa.size).sum()
    }

    /// Bytes the guest wrote to its console at `now_ns` (rate-limited for
    /// all but the hardware domain, `console::rate_limit`).
    pub fn console_write(&self, bytes: &[u8], now_ns: u64) {
        let (id, bare) = (self.id, self.hardware);
        self.console.lock().write(
            bytes,
            now_ns,
            &mut |line| print_line(id, bare, line),
            &mut |n| report_dropped(id, n),
        );
    }

    /// Report a fault of this domain at `now_ns`, while this boot's
    /// reports last (the last says that further ones are suppressed) and
    /// the domain's notice budget allows.
    pub fn report_fault(&self, now_ns: u64, what: core::fmt::Arguments<'_>) {
        let left = self
            .reports_left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        match left {
            Ok(1) => {
                self.notice(
                    now_ns,
                    format_args!("{what} (further faults of d{} not reported)", self.id),
                );
            }
            Ok(_) => {
                self.notice(now_ns, what);
            }
            Err(_) => {}
        }
    }

    /// A line of the hypervisor's about this domain (`dN: ` and `what`),
    /// within the domain's notice budget (`notices`).
    /// Whether it was printed.
    pub fn notice(&self, now_ns: u64, what: core::fmt::Arguments<'_>) -> bool {
        self.notice_line(now_ns, format_args!("d{}: {what}", self.id))
    }

    /// A whole line of the hypervisor's about this domain, within the same
    /// budget (a vCPU's start: CPU_ON/CPU_OFF loops and resets repeat it).
    pub fn notice_line(&self, now_ns: u64, line: core::fmt::Arguments<'_>) -> bool {
        self.notices
            .say(self.id, now_ns, line, &mut |l| crate::info!("{l}"))
    }

    /// Say how many notices were dropped (the domain stops for good).
    pub fn flush_notices(&self) {
        self.notices
            .flush(self.id, &mut |line| crate::info!("{line}"));
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// Ask vCPU `vcpu` to stop at its next exit.
    pub fn request_stop(&self, vcpu: usize) {
        if vcpu < 64 {
            self.stop_requests.fetch_or(1 << vcpu, Ordering::AcqRel);
        }
    }

    /// Whether vCPU `vcpu` was asked to stop (the request is taken).
    pub fn take_stop_request(&self, vcpu: usize) -> bool {
        vcpu < 64 && self.stop_requests.fetch_and(!(1 << vcpu), Ordering::AcqRel) & (1 << vcpu) != 0
    }

    /// Back to the state of a fresh boot, for a reboot: vCPUs off but the
    /// first, no Xen areas or channels, an empty UART, running. (The
    /// virtual GIC is renewed by the arch layer, which creates it.)
    pub fn reset_runtime(&self) {
        let mut fresh = xen_state::XenState::new(usize::from(self.vcpus));
        if let Some(backend) = self.store_backend {
            let _ = fresh.open_store_channel(backend);
        }
        *self.xen.lock() = fresh;
        // A channel another domain had bound to this one waits for it anew.
        for other in all().iter().filter(|o| o.id != self.id) {
            other.xen.lock().ports.orphan(self.id);
        }
        if let Some(u) = &self.vuart {
            *u.lock() = crate::vdev::pl011::Vpl011::new();
        }
        self.power.reset();
        self.stop_requests.store(0, Ordering::Release);
        self.reports_left.store(FAULT_REPORTS, Ordering::Release);
        self.running.store(true, Ordering::Release);
    }

    /// Mark the domain shut down and flush its last console line.
    pub fn shut_down(&self) {
        self.running.store(false, Ordering::Release);
        let (id, bare) = (self.id, self.hardware);
        self.console
            .lock()
            .flush(&mut |line| print_line(id, bare, line), &mut |n| {
                report_dropped(id, n)
            });
    }
}

fn report_dropped(id: u16, n: u64) {
    use crate::console::rate_limit::{BURST_LINES, LINES_PER_SECOND};
    crate::info!(
        "d{id}: console: {n} line(s) dropped by the rate limit ({BURST_LINES} lines, then {LINES_PER_SECOND} per second)"
    );
}

fn print_line(id: u16, bare: bool, line: &str) {
    if bare {
        crate::console::print(format_args!("{line}\n"));
    } else {
        crate::console::print(format_args!("(d{id}) {line}\n"));
    }
}

static DOMAINS: spin::Once<alloc::vec::Vec<Domain>> = spin::Once::new();

/// Fix the set of domains (once, at boot); returns them.
pub fn install(domains: alloc::vec::Vec<Domain>) -> &'static [Domain] {
    DOMAINS.call_once(|| domains)
}

pub fn all() -> &'static [Domain] {
    DOMAINS.get().map(|v| v.as_slice()).unwrap_or(&[])
}

/// Whether the machine should power off now that a domain stopped: when
/// the hardware domain stops, or the last domain does.
pub fn machine_should_stop(stopped: &Domain) -> bool {
    stopped.hardware || all().iter().all(|d| !d.is_running())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipa_translation_is_bounded() {
        let d = Domain::new(
            1,
            "t".into(),
            false,
            alloc::vec![
                Bank {
                    ipa: PhysRange::new(0x4000_0000, 0x100_0000),
                    pa: 0x8000_0000
                },
                Bank {
                    ipa: PhysRange::new(0x5000_0000, 0x1000),
                    pa: 0x5000_0000
                },
            ],
            PageTable {
                root: 0,
                root_level: 0,
                root_pages: 1,
            },
            alloc::vec![0],
            BootVcpu { entry: 0, arg0: 0 },
        );
        assert_eq!(d.ipa_to_pa(0x4000_1000, 16), Some(0x8000_1000));
        assert_eq!(d.ipa_to_pa(0x40ff_fff0, 16), Some(0x80ff_fff0));
        assert_eq!(d.ipa_to_pa(0x40ff_fff0, 17), None);
        assert_eq!(d.ipa_to_pa(0x3fff_ffff, 1), None);
        assert_eq!(d.ipa_to_pa(u64::MAX, 2), None);
        assert_eq!(d.ipa_to_pa(0x5000_0ff8, 8), Some(0x5000_0ff8));
        // Not across banks, even adjacent ones.
        assert_eq!(d.ipa_to_pa(0x5000_0ff8, 9), None);
        assert_eq!(d.ram_bytes(), 0x100_1000);
        // A faulting loop spends the report budget once, then stays quiet.
        for _ in 0..FAULT_REPORTS + 10 {
            d.report_fault(0, format_args!("fault"));
        }
        assert_eq!(d.reports_left.load(Ordering::Acquire), 0);
    }
}
