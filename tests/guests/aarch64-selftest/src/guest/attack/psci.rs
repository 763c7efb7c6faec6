//! SMCCC and PSCI abuse: CPU_ON with bad MPIDRs, entries outside RAM and
//! on CPUs already on; CPU_OFF of its secondary vCPU; AFFINITY_INFO of
//! CPUs it does not have; SMCCC_VERSION and ARCH_FEATURES with junk; the
//! PSCI calls Halyard does not offer; and function IDs of other owners
//! (vendor hypervisor, SiP, trusted OS, yielding calls) over HVC and over
//! SMC, which must never reach the firmware: SMCCC's NOT_SUPPORTED (-1).
//! SYSTEM_RESET is left out: it would rebuild this domain mid-suite.

use super::vcpu1::{self, PARK};
use super::{Class, Suite, GIC_MMIO};
use crate::guest::calls::{smccc_hvc, smccc_hvc_args, smccc_smc};
use crate::guest::{start, PSCI_AFFINITY_INFO, PSCI_CPU_ON};

pub const CASES: u32 = 17;
const C: Class = Class::Psci;

const NOT_SUPPORTED: i64 = -1;
const INVALID_PARAMETERS: i64 = -2;
const ALREADY_ON: i64 = -4;
const INVALID_ADDRESS: i64 = -9;
const SMCCC_VERSION: u64 = 0x8000_0000;
const SMCCC_ARCH_FEATURES: u64 = 0x8000_0001;
const PSCI_VERSION: u64 = 0x8400_0000;
const PSCI_FEATURES: u64 = 0x8400_000a;
const MIGRATE_INFO_TYPE: u64 = 0x8400_0006;
const CPU_SUSPEND: u64 = 0xc400_0001;
const SYSTEM_SUSPEND: u64 = 0xc400_000e;

fn hvc(fid: u64, a: [u64; 3]) -> i64 {
    smccc_hvc_args(fid, a)[0] as i64
}

fn cpu_on(mpidr: u64, entry: u64) -> i64 {
    hvc(PSCI_CPU_ON, [mpidr, entry, 0])
}

/// Each of `fids` answers NOT_SUPPORTED through `call`.
fn none_supported(fids: &[u64], call: impl Fn(u64) -> i64) -> (bool, [i64; 6]) {
    let mut rcs = [0; 6];
    for (r, &f) in rcs.iter_mut().zip(fids) {
        *r = call(f);
    }
    (rcs[..fids.len()].iter().all(|&r| r == NOT_SUPPORTED), rcs)
}

pub fn run(s: &mut Suite) {
    let entry = start::secondary_entry_point();
    let rcs = [2, 0xff, 0x100, 0x1_0000, u64::MAX].map(|m| cpu_on(m, entry));
    s.case(
        C,
        rcs.iter().all(|&r| r == INVALID_PARAMETERS),
        "psci cpu_on of MPIDRs 2, 0xff, 0x100, 0x10000, 2^64 - 1 (it has 0 and 1): INVALID_PARAMETERS",
        format_args!("{rcs:?}"),
    );
    let rcs = [0, s.ram_end, GIC_MMIO, !3].map(|e| cpu_on(1, e));
    s.case(
        C,
        rcs.iter().all(|&r| r == INVALID_ADDRESS) && vcpu1::affinity_off(),
        "psci cpu_on of vCPU 1 at 0, past RAM, on MMIO, at 2^64 - 4: INVALID_ADDRESS; it stays off",
        format_args!("{rcs:?}"),
    );
    // Halyard's rule: an unaligned entry cannot be an instruction, so the
    // parameter itself is invalid.
    let rc = cpu_on(1, entry + 2);
    s.case(
        C,
        rc == INVALID_PARAMETERS && vcpu1::affinity_off(),
        "psci cpu_on of vCPU 1 at an unaligned entry in RAM: INVALID_PARAMETERS; it stays off",
        format_args!("{rc}"),
    );
    let rc = cpu_on(0, entry);
    s.case(
        C,
        rc == ALREADY_ON,
        "psci cpu_on of the calling vCPU 0: ALREADY_ON",
        format_args!("{rc}"),
    );
    let (rc, alive) = vcpu1::start(PARK);
    let again = cpu_on(1, entry);
    let aff = hvc(PSCI_AFFINITY_INFO, [1, 0, 0]);
    s.case(
        C,
        rc == 0 && alive && again == ALREADY_ON && aff == 0,
        "psci cpu_on of vCPU 1: it runs; cpu_on again: ALREADY_ON; affinity_info: ON",
        format_args!("rc {rc}, alive {alive}, again {again}, affinity {aff}"),
    );
    let off = vcpu1::stop();
    s.case(
        C,
        off,
        "psci cpu_off by the secondary vCPU 1: affinity_info says OFF",
        format_args!("off {off}"),
    );
    vcpu1::clear_mode();
    let rcs = [
        hvc(PSCI_AFFINITY_INFO, [5, 0, 0]),
        hvc(PSCI_AFFINITY_INFO, [0xff, 0, 0]),
        hvc(PSCI_AFFINITY_INFO, [0, 1, 0]),
        hvc(PSCI_AFFINITY_INFO, [0, 3, 0]),
    ];
    s.case(
        C,
        rcs.iter().all(|&r| r == INVALID_PARAMETERS),
        "psci affinity_info of MPIDRs 5, 0xff, and at levels 1, 3: INVALID_PARAMETERS",
        format_args!("{rcs:?}"),
    );
    let v = [
        smccc_hvc(0xdead_beef_0000_0000 | SMCCC_VERSION)[0],
        smccc_smc(0xdead_beef_0000_0000 | PSCI_VERSION)[0],
    ];
    s.case(
        C,
        v == [0x1_0002, 0x1_0001],
        "smccc_version over hvc and psci_version over smc, junk in x0's upper half: 1.2 and 1.1",
        format_args!("{:#x} {:#x}", v[0], v[1]),
    );
    let junk = [
        0xdead_beef,
        0x8000_8000,
        0x8000_7fff,
        0x8000_3fff,
        0x8400_0000_0000_0000,
    ];
    let (none, rcs) = none_supported(&junk, |f| hvc(SMCCC_ARCH_FEATURES, [f, 0, 0]));
    let version = hvc(SMCCC_ARCH_FEATURES, [SMCCC_VERSION, 0, 0]);
    s.case(
        C,
        none && version == 0,
        "smccc_arch_features of junk and the workaround IDs: NOT_SUPPORTED; of SMCCC_VERSION: 0",
        format_args!("{rcs:?}, version {version}"),
    );
    let ids = [
        0x1234_5678,
        CPU_SUSPEND,
        SYSTEM_SUSPEND,
        0x8400_00ff,
        u64::MAX,
    ];
    let (none, rcs) = none_supported(&ids, |f| hvc(PSCI_FEATURES, [f, 0, 0]));
    let on = hvc(PSCI_FEATURES, [PSCI_CPU_ON, 0, 0]);
    s.case(
        C,
        none && on == 0,
        "psci_features of junk, cpu_suspend, system_suspend: NOT_SUPPORTED; of cpu_on: 0",
        format_args!("{rcs:?}, cpu_on {on}"),
    );
    // CPU_SUSPEND, MIGRATE, SYSTEM_SUSPEND, SYSTEM_RESET2, MEM_PROTECT,
    // CPU_FREEZE: not offered.
    let ids = [
        CPU_SUSPEND,
        0xc400_0005,
        SYSTEM_SUSPEND,
        0xc400_0012,
        0x8400_0013,
        0x8400_000b,
    ];
    let (none, rcs) = none_supported(&ids, |f| hvc(f, [1, 0, 0]));
    s.case(
        C,
        none,
        "psci calls not offered (cpu_suspend, migrate, system_suspend, system_reset2, mem_protect, cpu_freeze): NOT_SUPPORTED",
        format_args!("{rcs:?}"),
    );
    let ids = [0x8600_0000, 0x8600_ff01, 0x8600_ff03, 0xc600_0001];
    let (none, rcs) = none_supported(&ids, |f| hvc(f, [0; 3]));
    s.case(
        C,
        none,
        "vendor hypervisor service calls (incl. the UID query) over hvc: NOT_SUPPORTED",
        format_args!("{rcs:?}"),
    );
    let ids = [0xc200_0001, 0x8200_0000, 0xc200_ffff, 0x8300_0000];
    let (none, rcs) = none_supported(&ids, |f| smccc_smc(f)[0] as i64);
    s.case(
        C,
        none,
        "SiP and OEM service calls over smc: NOT_SUPPORTED, never forwarded to the firmware",
        format_args!("{rcs:?}"),
    );
    let ids = [0xb200_0000, 0xbf00_ff01, 0xf200_0000, 0xb000_0000];
    let (none, rcs) = none_supported(&ids, |f| smccc_smc(f)[0] as i64);
    s.case(
        C,
        none,
        "trusted application and trusted OS calls over smc: NOT_SUPPORTED, never forwarded",
        format_args!("{rcs:?}"),
    );
    let ids = [
        0x8000_3fff,
        0x8000_ff00,
        0x8400_0100,
        0x8500_0000,
        0xc400_ff00,
    ];
    let (none, rcs) = none_supported(&ids, |f| smccc_smc(f)[0] as i64);
    s.case(
        C,
        none,
        "unknown Arm architecture and standard secure service calls over smc: NOT_SUPPORTED",
        format_args!("{rcs:?}"),
    );
    let ids = [0x0400_0000, 0, 0x0200_0001, 0x3f00_0000];
    let (none, rcs) = none_supported(&ids, |f| hvc(f, [0; 3]));
    s.case(
        C,
        none,
        "yielding (non-fast) calls over hvc: NOT_SUPPORTED",
        format_args!("{rcs:?}"),
    );
    let t = hvc(MIGRATE_INFO_TYPE, [u64::MAX, u64::MAX, u64::MAX]);
    s.case(
        C,
        t == 2,
        "psci migrate_info_type with junk arguments: 2 (no trusted OS to migrate)",
        format_args!("{t}"),
    );
}
