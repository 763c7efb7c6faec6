//! The static partition table and the S-EL1 partitions' execution contexts.
//!
//! A context is IDLE when its partition waits for a message (it last called
//! FFA_MSG_WAIT or FFA_MSG_SEND_DIRECT_RESP), RUNNING while a CPU executes it
//! (that CPU owns the context's saved state), INIT before its first
//! FFA_MSG_WAIT. MP partitions have one context per CPU (a request on CPU n
//! runs context n); UP partitions have one, and a request while it runs
//! elsewhere gets BUSY.

use crate::el3::context::{Context, Frame};
use crate::el3::percpu::ContextCell;
use crate::el3::setup::{SCR_SECURE_EL1, SPSR_EL1H_MASKED};
use crate::el3::start::{page_table_root, MAIR};
use crate::platform::MAX_CPUS;
use crate::{knobs, partitions, topology};
use core::sync::atomic::{AtomicU8, Ordering};

pub const PROP_DIRECT_RECV: u32 = 1 << 0;
pub const PROP_DIRECT_SEND: u32 = 1 << 1;
pub const PROP_VM_CREATED: u32 = 1 << 6;
pub const PROP_VM_DESTROYED: u32 = 1 << 7;
pub const PROP_AARCH64: u32 = 1 << 8;

/// How a partition runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Runs at S-EL1; `slot` indexes SEL1_CONTEXTS.
    SecureEl1 { slot: usize, mp: bool },
    /// An EL3 logical partition, served inside the SPMC.
    Logical,
}

pub struct Partition {
    pub id: u16,
    /// UUID bytes in string order (FF-A descriptor encoding); registers carry
    /// them as little-endian words.
    pub uuid: [u8; 16],
    pub properties: u32,
    pub kind: Kind,
}

const fn uuid(tail: u16) -> [u8; 16] {
    // b8a9a1e2-XXXX-4c52-9d6b-48616c796172 ("Halyard" in the node field).
    let t = tail.to_be_bytes();
    [
        0xb8, 0xa9, 0xa1, 0xe2, t[0], t[1], 0x4c, 0x52, 0x9d, 0x6b, 0x48, 0x61, 0x6c, 0x79, 0x61,
        0x72,
    ]
}

pub const SP1_ID: u16 = 0x8001;
pub const SP2_ID: u16 = 0x8002;
pub const LSP_ID: u16 = 0xc001;
pub const NO_BIT15_ID: u16 = 0x7ff0;

static TABLE: [Partition; 4] = [
    Partition {
        id: SP1_ID,
        uuid: uuid(0x0001),
        properties: PROP_DIRECT_RECV
            | PROP_DIRECT_SEND
            | PROP_VM_CREATED
            | PROP_VM_DESTROYED
            | PROP_AARCH64,
        kind: Kind::SecureEl1 { slot: 0, mp: true },
    },
    Partition {
        id: SP2_ID,
        uuid: uuid(0x0002),
        properties: PROP_DIRECT_RECV | PROP_AARCH64,
        kind: Kind::SecureEl1 { slot: 1, mp: false },
    },
    Partition {
        id: LSP_ID,
        uuid: uuid(0x00c1),
        properties: PROP_DIRECT_RECV,
        kind: Kind::Logical,
    },
    // Only with the `no-bit15` knob: an ID without the secure bit.
    Partition {
        id: NO_BIT15_ID,
        uuid: uuid(0x7ff0),
        properties: PROP_DIRECT_RECV,
        kind: Kind::Logical,
    },
];

/// The partitions in effect (the last entry depends on a knob).
pub fn all() -> &'static [Partition] {
    if knobs::no_bit15() {
        &TABLE
    } else {
        &TABLE[..3]
    }
}

pub fn find(id: u16) -> Option<&'static Partition> {
    all().iter().find(|p| p.id == id)
}

impl Partition {
    pub fn execution_contexts(&self) -> usize {
        match self.kind {
            Kind::SecureEl1 { mp: true, .. } => topology::cpu_count(),
            _ => 1,
        }
    }
}

/// Number of S-EL1 partitions (slots).
pub const SEL1_COUNT: usize = 2;

pub const STATE_INIT: u8 = 0;
pub const STATE_IDLE: u8 = 1;
pub const STATE_RUNNING: u8 = 2;

/// What a running context is doing, for the SPMC to check its replies.
#[derive(Clone, Copy)]
pub struct PendingRequest {
    pub source: u16,
    pub destination: u16,
    pub is64: bool,
}

pub struct ExecContext {
    pub state: AtomicU8,
    pub saved: ContextCell,
    /// Written by the CPU that claimed the context (RUNNING), read by it.
    pub pending: crate::lock::SpinLock<Option<PendingRequest>>,
}

#[allow(clippy::declare_interior_mutable_const)]
const EXEC_INIT: ExecContext = ExecContext {
    state: AtomicU8::new(STATE_INIT),
    saved: ContextCell::new(),
    pending: crate::lock::SpinLock::new(None),
};
#[allow(clippy::declare_interior_mutable_const)]
const SLOT_INIT: [ExecContext; MAX_CPUS] = [EXEC_INIT; MAX_CPUS];
static SEL1_CONTEXTS: [[ExecContext; MAX_CPUS]; SEL1_COUNT] = [SLOT_INIT; SEL1_COUNT];

pub fn context(slot: usize, index: usize) -> &'static ExecContext {
    &SEL1_CONTEXTS[slot][index]
}

/// The S-EL1 partition in a slot.
pub fn by_slot(slot: usize) -> &'static Partition {
    all()
        .iter()
        .find(|p| matches!(p.kind, Kind::SecureEl1 { slot: s, .. } if s == slot))
        .expect("every slot has a partition")
}

/// Which (slot, context index) a saved-context pointer belongs to.
pub fn locate(ctx: *mut Context) -> Option<(usize, usize)> {
    for (slot, contexts) in SEL1_CONTEXTS.iter().enumerate() {
        for (index, exec) in contexts.iter().enumerate() {
            if exec.saved.get() == ctx {
                return Some((slot, index));
            }
        }
    }
    None
}

/// SCTLR_EL1: RES1 bits, MMU, D-cache, SP alignment check, I-cache.
const SCTLR_EL1: u64 = 0x30d0_0800 | 1 | (1 << 2) | (1 << 3) | (1 << 12);
/// TCR_EL1: 39-bit VA through TTBR0 only (EPD1), WB walks, 4K, 40-bit IPA.
const TCR_EL1: u64 = 25 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23) | (2 << 32);

/// Prepares every S-EL1 context to start at its partition's entry point,
/// with its own stack, the shared identity page tables and its vectors.
pub fn prepare_contexts() {
    for slot in 0..SEL1_COUNT {
        let partition = by_slot(slot);
        for index in 0..partition.execution_contexts() {
            let exec = context(slot, index);
            // SAFETY: at boot only CPU 0 runs and no context has started, so
            // nothing else refers to the saved state.
            let saved = unsafe { &mut *exec.saved.get() };
            saved.frame = Frame::ZERO;
            saved.frame.x[0] = index as u64;
            saved.frame.elr = partitions::entry_point(slot);
            saved.frame.spsr = SPSR_EL1H_MASKED;
            saved.frame.scr = SCR_SECURE_EL1;
            saved.el1.sctlr = SCTLR_EL1;
            saved.el1.tcr = TCR_EL1;
            saved.el1.mair = MAIR;
            saved.el1.ttbr0 = page_table_root();
            saved.el1.vbar = partitions::vectors_address();
            saved.el1.sp_el1 = partitions::stack_top(slot, index);
            exec.state.store(STATE_INIT, Ordering::Relaxed);
        }
    }
}
