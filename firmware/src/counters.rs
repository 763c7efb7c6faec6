//! Counts every SMC from the normal world by function ID, for the test
//! harness to check which calls the hypervisor made. Printed at SYSTEM_OFF
//! and SYSTEM_RESET as
//!   `fw: smc 0x84000068 FFA_PARTITION_INFO_GET 1` (one line per ID, sorted)
//!   `fw: smc other N` (only when IDs overflowed the table)
//!   `fw: smc total N`

use crate::console::fwprintln;
use core::sync::atomic::{AtomicU64, Ordering};

const SLOTS: usize = 64;
const FREE: u64 = u64::MAX;

#[allow(clippy::declare_interior_mutable_const)]
const FREE_SLOT: AtomicU64 = AtomicU64::new(FREE);
#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);

static IDS: [AtomicU64; SLOTS] = [FREE_SLOT; SLOTS];
static COUNTS: [AtomicU64; SLOTS] = [ZERO; SLOTS];
static OTHER: AtomicU64 = AtomicU64::new(0);
static TOTAL: AtomicU64 = AtomicU64::new(0);

pub fn count(id: u32) {
    TOTAL.fetch_add(1, Ordering::Relaxed);
    let id = id as u64;
    for slot in 0..SLOTS {
        let mut held = IDS[slot].load(Ordering::Acquire);
        if held == FREE {
            held = match IDS[slot].compare_exchange(FREE, id, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => id,
                Err(other) => other,
            };
        }
        if held == id {
            COUNTS[slot].fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    OTHER.fetch_add(1, Ordering::Relaxed);
}

pub fn print() {
    let mut rows = [(0u64, 0u64); SLOTS];
    let mut used = 0;
    for slot in 0..SLOTS {
        let id = IDS[slot].load(Ordering::Acquire);
        if id != FREE {
            rows[used] = (id, COUNTS[slot].load(Ordering::Relaxed));
            used += 1;
        }
    }
    let rows = &mut rows[..used];
    rows.sort_unstable_by_key(|row| row.0);
    for (id, count) in rows.iter() {
        fwprintln!("smc {:#010x} {} {}", id, name(*id as u32), count);
    }
    let other = OTHER.load(Ordering::Relaxed);
    if other != 0 {
        fwprintln!("smc other {}", other);
    }
    fwprintln!("smc total {}", TOTAL.load(Ordering::Relaxed));
}

/// Names of the calls this firmware knows (others print as `?`).
pub fn name(id: u32) -> &'static str {
    match id {
        0x8000_0000 => "SMCCC_VERSION",
        0x8000_0001 => "SMCCC_ARCH_FEATURES",
        0x8000_0002 => "SMCCC_ARCH_SOC_ID",
        0x8000_8000 => "SMCCC_ARCH_WORKAROUND_1",
        0x8000_7fff => "SMCCC_ARCH_WORKAROUND_2",
        0x8000_3fff => "SMCCC_ARCH_WORKAROUND_3",
        0x8400_0000 => "PSCI_VERSION",
        0x8400_0001 | 0xc400_0001 => "PSCI_CPU_SUSPEND",
        0x8400_0002 => "PSCI_CPU_OFF",
        0x8400_0003 | 0xc400_0003 => "PSCI_CPU_ON",
        0x8400_0004 | 0xc400_0004 => "PSCI_AFFINITY_INFO",
        0x8400_0006 => "PSCI_MIGRATE_INFO_TYPE",
        0x8400_0008 => "PSCI_SYSTEM_OFF",
        0x8400_0009 => "PSCI_SYSTEM_RESET",
        0x8400_000a => "PSCI_FEATURES",
        0x8400_000e | 0xc400_000e => "PSCI_SYSTEM_SUSPEND",
        0x8400_0012 | 0xc400_0012 => "PSCI_SYSTEM_RESET2",
        0x8400_0060 => "FFA_ERROR",
        0x8400_0061 | 0xc400_0061 => "FFA_SUCCESS",
        0x8400_0062 => "FFA_INTERRUPT",
        0x8400_0063 => "FFA_VERSION",
        0x8400_0064 => "FFA_FEATURES",
        0x8400_0065 => "FFA_RX_RELEASE",
        0x8400_0066 | 0xc400_0066 => "FFA_RXTX_MAP",
        0x8400_0067 => "FFA_RXTX_UNMAP",
        0x8400_0068 => "FFA_PARTITION_INFO_GET",
        0x8400_0069 => "FFA_ID_GET",
        0x8400_006b => "FFA_MSG_WAIT",
        0x8400_006c => "FFA_YIELD",
        0x8400_006d => "FFA_RUN",
        0x8400_006f | 0xc400_006f => "FFA_MSG_SEND_DIRECT_REQ",
        0x8400_0070 | 0xc400_0070 => "FFA_MSG_SEND_DIRECT_RESP",
        0x8400_0071 | 0xc400_0071 => "FFA_MEM_DONATE",
        0x8400_0072 | 0xc400_0072 => "FFA_MEM_LEND",
        0x8400_0073 | 0xc400_0073 => "FFA_MEM_SHARE",
        0x8400_0074 | 0xc400_0074 => "FFA_MEM_RETRIEVE_REQ",
        0x8400_0075 => "FFA_MEM_RETRIEVE_RESP",
        0x8400_0076 => "FFA_MEM_RELINQUISH",
        0x8400_0077 => "FFA_MEM_RECLAIM",
        0x8400_007a => "FFA_MEM_FRAG_RX",
        0x8400_007b => "FFA_MEM_FRAG_TX",
        0x8400_0084 => "FFA_RX_ACQUIRE",
        0x8400_0085 => "FFA_SPM_ID_GET",
        0x8400_0086 => "FFA_MSG_SEND2",
        0x8400_008a | 0xc400_008a => "FFA_CONSOLE_LOG",
        0xc400_008b => "FFA_PARTITION_INFO_GET_REGS",
        0xc400_008d => "FFA_MSG_SEND_DIRECT_REQ2",
        0xc400_008e => "FFA_MSG_SEND_DIRECT_RESP2",
        _ => "?",
    }
}
