//! SMC Calling Convention services offered to guests: the SMCCC version
//! call and PSCI 1.1 (Arm DEN0028, DEN0022). Numbers are from those specs.

use crate::domain::power::VcpuPower;

pub const SMCCC_VERSION: u32 = 0x8000_0000;
pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;
pub const PSCI_VERSION: u32 = 0x8400_0000;
pub const PSCI_CPU_OFF: u32 = 0x8400_0002;
pub const PSCI_CPU_ON_32: u32 = 0x8400_0003;
pub const PSCI_CPU_ON_64: u32 = 0xc400_0003;
pub const PSCI_AFFINITY_INFO_32: u32 = 0x8400_0004;
pub const PSCI_AFFINITY_INFO_64: u32 = 0xc400_0004;
pub const PSCI_MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
pub const PSCI_SYSTEM_OFF: u32 = 0x8400_0008;
pub const PSCI_SYSTEM_RESET: u32 = 0x8400_0009;
pub const PSCI_FEATURES: u32 = 0x8400_000a;

/// SMCCC "unknown function" and PSCI NOT_SUPPORTED: -1.
pub const NOT_SUPPORTED: u64 = u64::MAX;
/// MIGRATE_INFO_TYPE: no Trusted OS that needs migration.
const TOS_NOT_PRESENT: u64 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmcccOutcome {
    /// Return these values in x0..x3.
    Return([u64; 4]),
    SystemOff,
    SystemReset,
    /// CPU_ON accepted for this vCPU: start it, then return SUCCESS.
    CpuOn {
        vcpu: usize,
    },
    /// The calling vCPU turned itself off.
    CpuOff,
}

fn ret(v: u64) -> SmcccOutcome {
    SmcccOutcome::Return([v, 0, 0, 0])
}

fn implemented(fid: u32) -> bool {
    matches!(
        fid,
        SMCCC_VERSION
            | PSCI_VERSION
            | PSCI_FEATURES
            | PSCI_MIGRATE_INFO_TYPE
            | PSCI_SYSTEM_OFF
            | PSCI_SYSTEM_RESET
            | PSCI_CPU_ON_32
            | PSCI_CPU_ON_64
            | PSCI_CPU_OFF
            | PSCI_AFFINITY_INFO_32
            | PSCI_AFFINITY_INFO_64
    )
}

/// SMC32 calls pass 32-bit arguments in the low halves of the registers.
fn arg(fid: u32, v: u64) -> u64 {
    if fid & (1 << 30) == 0 {
        v & 0xffff_ffff
    } else {
        v
    }
}

/// Handle one SMCCC call from vCPU `vcpu` of a domain whose vCPUs are
/// `power` and whose RAM `in_ram` recognises (by guest-physical address);
/// `x` holds the caller's x0..x7.
pub fn handle(x: &[u64; 8], power: &VcpuPower, in_ram: &dyn Fn(u64) -> bool) -> SmcccOutcome {
    // The function ID is w0; the upper half of x0 is ignored (SMCCC 1.1+).
    let fid = x[0] as u32;
    match fid {
        PSCI_CPU_ON_32 | PSCI_CPU_ON_64 => {
            match power.cpu_on(arg(fid, x[1]), arg(fid, x[2]), arg(fid, x[3]), in_ram) {
                Ok(vcpu) => SmcccOutcome::CpuOn { vcpu },
                Err(code) => ret(code as u64),
            }
        }
        PSCI_CPU_OFF => SmcccOutcome::CpuOff,
        PSCI_AFFINITY_INFO_32 | PSCI_AFFINITY_INFO_64 => {
            ret(power.affinity_info(arg(fid, x[1]), arg(fid, x[2])) as u64)
        }
        // 1.2: x4-x17 are preserved unless a call returns values in them,
        // and FF-A's register ABI (x0-x17) is available.
        SMCCC_VERSION => ret(0x1_0002),
        SMCCC_ARCH_FEATURES => ret(if x[1] as u32 == SMCCC_VERSION {
            0
        } else {
            NOT_SUPPORTED
        }),
        PSCI_VERSION => ret(0x1_0001),
        PSCI_FEATURES => ret(if implemented(x[1] as u32) {
            0
        } else {
            NOT_SUPPORTED
        }),
        PSCI_MIGRATE_INFO_TYPE => ret(TOS_NOT_PRESENT),
        PSCI_SYSTEM_OFF => SmcccOutcome::SystemOff,
        PSCI_SYSTEM_RESET => SmcccOutcome::SystemReset,
        _ => ret(NOT_SUPPORTED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::power::{psci_ret, AFF_OFF, AFF_ON_PENDING};

    fn power() -> VcpuPower {
        VcpuPower::new(alloc::vec![0x8000_0000, 0x8000_0001])
    }

    fn ram(ipa: u64) -> bool {
        (0x4000_0000..0x4800_0000).contains(&ipa)
    }

    fn call(fid: u64, a1: u64) -> SmcccOutcome {
        handle(&[fid, a1, 0, 0, 0, 0, 0, 0], &power(), &ram)
    }

    #[test]
    fn cpu_on_off_affinity() {
        let p = power();
        let on = |p: &VcpuPower, fid: u64, mpidr: u64| {
            handle(&[fid, mpidr, 0x4008_0000, 9, 0, 0, 0, 0], p, &ram)
        };
        assert_eq!(on(&p, 0xc400_0003, 1), SmcccOutcome::CpuOn { vcpu: 1 });
        assert_eq!(on(&p, 0xc400_0003, 1), ret(psci_ret::ON_PENDING as u64));
        assert_eq!(on(&p, 0x8400_0003, 0), ret(psci_ret::ALREADY_ON as u64));
        assert_eq!(
            handle(&[0xc400_0003, 1, 0x0800_0000, 0, 0, 0, 0, 0], &p, &ram),
            ret(psci_ret::INVALID_ADDRESS as u64)
        );
        // SMC32: the upper half of x1 is not part of the MPIDR.
        assert_eq!(
            on(&p, 0x8400_0003, 0xffff_ffff_0000_0005),
            ret(psci_ret::INVALID_PARAMETERS as u64)
        );
        assert_eq!(
            handle(&[0xc400_0004, 1, 0, 0, 0, 0, 0, 0], &p, &ram),
            ret(AFF_ON_PENDING as u64)
        );
        assert_eq!(
            handle(&[0x8400_0004, 0x1_0000_0001, 0, 0, 0, 0, 0, 0], &p, &ram),
            ret(AFF_ON_PENDING as u64)
        );
        assert_eq!(p.take_start(1).map(|s| s.context), Some(9));
        p.cpu_off(1);
        assert_eq!(
            handle(&[0xc400_0004, 1, 0, 0, 0, 0, 0, 0], &p, &ram),
            ret(AFF_OFF as u64)
        );
        assert_eq!(call(0x8400_0002, 0), SmcccOutcome::CpuOff);
    }

    #[test]
    fn psci() {
        assert_eq!(call(0x8400_0000, 0), ret(0x1_0001));
        // Garbage in the upper half of x0 does not change the function.
        assert_eq!(call(0xdead_0000_8400_0000, 0), ret(0x1_0001));
        assert_eq!(call(0x8400_000a, 0x8400_0008), ret(0));
        assert_eq!(call(0x8400_000a, 0xc400_0003), ret(0));
        assert_eq!(call(0x8400_000a, 0xc400_0001), ret(NOT_SUPPORTED));
        // Linux asks before it uses SMCCC_VERSION.
        assert_eq!(call(0x8400_000a, 0x8000_0000), ret(0));
        assert_eq!(call(0x8400_0008, 0), SmcccOutcome::SystemOff);
        assert_eq!(call(0x8400_0009, 0), SmcccOutcome::SystemReset);
    }

    #[test]
    fn unknown_is_minus_one() {
        for fid in [0xc200_0000u64, 0x8400_00ff, 0, u64::MAX, 0x8400_0063] {
            assert_eq!(call(fid, 0), ret(NOT_SUPPORTED), "fid {fid:#x}");
        }
        assert_eq!(call(0x8000_0001, 0x8000_8000), ret(NOT_SUPPORTED));
    }
}
