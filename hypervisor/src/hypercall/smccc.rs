//! SMC Calling Convention services offered to guests: the SMCCC version
//! call and PSCI 1.1 (Arm DEN0028, DEN0022). Numbers are from those specs.

pub const SMCCC_VERSION: u32 = 0x8000_0000;
pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;
pub const PSCI_VERSION: u32 = 0x8400_0000;
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
}

fn ret(v: u64) -> SmcccOutcome {
    SmcccOutcome::Return([v, 0, 0, 0])
}

fn implemented(fid: u32) -> bool {
    matches!(
        fid,
        PSCI_VERSION | PSCI_FEATURES | PSCI_MIGRATE_INFO_TYPE | PSCI_SYSTEM_OFF | PSCI_SYSTEM_RESET
    )
}

/// Handle one SMCCC call; `x` holds the caller's x0..x7.
pub fn handle(x: &[u64; 8]) -> SmcccOutcome {
    // The function ID is w0; the upper half of x0 is ignored (SMCCC 1.1+).
    match x[0] as u32 {
        SMCCC_VERSION => ret(0x1_0001),
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

    fn call(fid: u64, a1: u64) -> SmcccOutcome {
        handle(&[fid, a1, 0, 0, 0, 0, 0, 0])
    }

    #[test]
    fn psci() {
        assert_eq!(call(0x8400_0000, 0), ret(0x1_0001));
        // Garbage in the upper half of x0 does not change the function.
        assert_eq!(call(0xdead_0000_8400_0000, 0), ret(0x1_0001));
        assert_eq!(call(0x8400_000a, 0x8400_0008), ret(0));
        assert_eq!(call(0x8400_000a, 0xc400_0003), ret(NOT_SUPPORTED));
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
