//! PSCI power state of a domain's vCPUs (CPU_ON, CPU_OFF, AFFINITY_INFO):
//! which are on, which are being started and where they start. The arch
//! layer brings the physical CPU behind a vCPU up; this is the bookkeeping
//! every vCPU's PSCI call goes through, safe against concurrent callers.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU8, Ordering};

/// PSCI return codes (Arm DEN0022).
pub mod psci_ret {
    pub const SUCCESS: i64 = 0;
    pub const INVALID_PARAMETERS: i64 = -2;
    pub const ALREADY_ON: i64 = -4;
    pub const ON_PENDING: i64 = -5;
    pub const INVALID_ADDRESS: i64 = -9;
}

/// AFFINITY_INFO answers.
pub const AFF_ON: i64 = 0;
pub const AFF_OFF: i64 = 1;
pub const AFF_ON_PENDING: i64 = 2;

const OFF: u8 = 0;
const ON_PENDING: u8 = 1;
const ON: u8 = 2;

/// Where a vCPU started by CPU_ON begins (PSCI: entry point, x0 = context).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartRequest {
    pub vcpu: usize,
    pub entry: u64,
    pub context: u64,
}

pub struct VcpuPower {
    /// MPIDR affinity (Aff3..Aff0 bits) each vCPU reports.
    mpidr: Vec<u64>,
    state: Vec<AtomicU8>,
    start: spin::Mutex<Vec<Option<StartRequest>>>,
}

const AFF_MASK: u64 = 0xff_00ff_ffff;

impl VcpuPower {
    /// vCPU 0 starts on; the rest are off until CPU_ON.
    pub fn new(mpidr: Vec<u64>) -> Self {
        let state = (0..mpidr.len())
            .map(|i| AtomicU8::new(if i == 0 { ON } else { OFF }))
            .collect();
        let start = spin::Mutex::new(alloc::vec![None; mpidr.len()]);
        Self {
            mpidr,
            state,
            start,
        }
    }

    pub fn count(&self) -> usize {
        self.mpidr.len()
    }

    pub fn mpidr(&self, vcpu: usize) -> u64 {
        self.mpidr[vcpu]
    }

    /// The vCPU whose affinity is `mpidr` (other bits ignored).
    pub fn by_mpidr(&self, mpidr: u64) -> Option<usize> {
        self.mpidr
            .iter()
            .position(|m| m & AFF_MASK == mpidr & AFF_MASK)
    }

    /// CPU_ON: on success the caller must get the vCPU running, then the
    /// target calls `take_start` to learn where to begin. `in_ram` says
    /// whether a guest-physical address is the domain's RAM: an entry point
    /// anywhere else gets INVALID_ADDRESS (as TF-A answers for one outside
    /// normal-world memory), never a vCPU that starts by faulting.
    pub fn cpu_on(
        &self,
        mpidr: u64,
        entry: u64,
        context: u64,
        in_ram: &dyn Fn(u64) -> bool,
    ) -> Result<usize, i64> {
        let vcpu = self.by_mpidr(mpidr).ok_or(psci_ret::INVALID_PARAMETERS)?;
        // The entry point is a guest address; anything but 4-byte aligned
        // cannot be an instruction.
        if !entry.is_multiple_of(4) {
            return Err(psci_ret::INVALID_PARAMETERS);
        }
        if !in_ram(entry) {
            return Err(psci_ret::INVALID_ADDRESS);
        }
        match self.state[vcpu].compare_exchange(
            OFF,
            ON_PENDING,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                self.start.lock()[vcpu] = Some(StartRequest {
                    vcpu,
                    entry,
                    context,
                });
                Ok(vcpu)
            }
            Err(ON) => Err(psci_ret::ALREADY_ON),
            Err(_) => Err(psci_ret::ON_PENDING),
        }
    }

    /// As at boot: vCPU 0 on, the others off, no start pending.
    pub fn reset(&self) {
        for (i, s) in self.state.iter().enumerate() {
            s.store(if i == 0 { ON } else { OFF }, Ordering::Release);
        }
        for slot in self.start.lock().iter_mut() {
            *slot = None;
        }
    }

    /// Whether vCPU `vcpu` is off.
    pub fn is_off(&self, vcpu: usize) -> bool {
        self.state
            .get(vcpu)
            .is_none_or(|s| s.load(Ordering::Acquire) == OFF)
    }

    /// Whether every vCPU but `vcpu` is off.
    pub fn only_on(&self, vcpu: usize) -> bool {
        self.state
            .iter()
            .enumerate()
            .all(|(i, s)| i == vcpu || s.load(Ordering::Acquire) == OFF)
    }

    /// The boot request for vCPU 0 (on from the start), for a domain whose
    /// first vCPU is started on another physical CPU than the boot CPU.
    pub fn boot_start(&self, entry: u64, context: u64) {
        if let Some(slot) = self.start.lock().get_mut(0) {
            *slot = Some(StartRequest {
                vcpu: 0,
                entry,
                context,
            });
        }
    }

    /// Run on the target: claim the pending start and mark the vCPU on.
    pub fn take_start(&self, vcpu: usize) -> Option<StartRequest> {
        let req = self.start.lock().get_mut(vcpu)?.take()?;
        self.state[vcpu].store(ON, Ordering::Release);
        Some(req)
    }

    /// CPU_OFF by the vCPU itself.
    pub fn cpu_off(&self, vcpu: usize) {
        if let Some(s) = self.state.get(vcpu) {
            s.store(OFF, Ordering::Release);
        }
    }

    /// AFFINITY_INFO for level 0 (single vCPU); higher levels are not
    /// supported (PSCI 1.0+ allows that).
    pub fn affinity_info(&self, mpidr: u64, level: u64) -> i64 {
        if level != 0 {
            return psci_ret::INVALID_PARAMETERS;
        }
        match self
            .by_mpidr(mpidr)
            .map(|v| self.state[v].load(Ordering::Acquire))
        {
            Some(ON) => AFF_ON,
            Some(ON_PENDING) => AFF_ON_PENDING,
            Some(_) => AFF_OFF,
            None => psci_ret::INVALID_PARAMETERS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> VcpuPower {
        VcpuPower::new(alloc::vec![0x8000_0000, 0x8000_0001, 0x8000_0002])
    }

    /// The domain's RAM: 1 GiB at 0x4000_0000.
    fn ram(ipa: u64) -> bool {
        (0x4000_0000..0x8000_0000).contains(&ipa)
    }

    #[test]
    fn cpu_on_lifecycle() {
        let p = p();
        assert_eq!(p.affinity_info(1, 0), AFF_OFF);
        assert_eq!(p.cpu_on(1, 0x4008_0000, 7, &ram), Ok(1));
        assert_eq!(p.affinity_info(1, 0), AFF_ON_PENDING);
        assert_eq!(p.cpu_on(1, 0x4008_0000, 7, &ram), Err(psci_ret::ON_PENDING));
        assert_eq!(
            p.take_start(1),
            Some(StartRequest {
                vcpu: 1,
                entry: 0x4008_0000,
                context: 7
            })
        );
        assert_eq!(p.take_start(1), None);
        assert_eq!(p.affinity_info(0x0000_ff00_0000_0001, 0), AFF_ON);
        assert_eq!(p.cpu_on(1, 0x4008_0000, 7, &ram), Err(psci_ret::ALREADY_ON));
        p.cpu_off(1);
        assert_eq!(p.affinity_info(1, 0), AFF_OFF);
        assert_eq!(p.cpu_on(1, 0x4009_0000, 8, &ram), Ok(1));
    }

    #[test]
    fn bad_arguments() {
        let p = p();
        assert_eq!(
            p.cpu_on(7, 0x4000_0000, 0, &ram),
            Err(psci_ret::INVALID_PARAMETERS)
        );
        assert_eq!(
            p.cpu_on(2, 0x4000_0002, 0, &ram),
            Err(psci_ret::INVALID_PARAMETERS)
        );
        assert_eq!(p.cpu_on(0, 0x4000_0000, 0, &ram), Err(psci_ret::ALREADY_ON));
        // Entry points outside RAM: the vCPU stays off.
        for entry in [0, 0x0900_0000, 0x3fff_fffc, 0x8000_0000, u64::MAX - 3] {
            assert_eq!(
                p.cpu_on(2, entry, 0, &ram),
                Err(psci_ret::INVALID_ADDRESS),
                "{entry:#x}"
            );
        }
        assert_eq!(p.affinity_info(2, 0), AFF_OFF);
        assert_eq!(p.take_start(2), None);
        assert_eq!(p.affinity_info(9, 0), psci_ret::INVALID_PARAMETERS);
        assert_eq!(p.affinity_info(0, 1), psci_ret::INVALID_PARAMETERS);
        p.cpu_off(99);
    }
}
