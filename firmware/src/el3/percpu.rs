//! Per-CPU EL3 state: which saved context the CPU runs, its EL3 stack top,
//! and the normal world's context on that CPU.

use super::context::{Context, Frame, OptionalEl1};
use crate::platform::MAX_CPUS;
use crate::sysreg::{cpu_index, read_sysreg, write_sysreg};
use core::cell::UnsafeCell;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, Ordering};

/// Found by the vectors through TPIDR_EL3: the first word is the frame the
/// next exception saves into and `el3_exit` restores from, the second the
/// EL3 stack top. Layout is fixed (`repr(C)`), the assembly depends on it.
#[repr(C)]
pub struct CpuLocal {
    frame: AtomicPtr<Frame>,
    stack_top: AtomicU64,
    /// The context whose EL1 system registers are in the hardware now.
    loaded: AtomicPtr<Context>,
}

#[allow(clippy::declare_interior_mutable_const)]
const CPU_LOCAL_INIT: CpuLocal = CpuLocal {
    frame: AtomicPtr::new(null_mut()),
    stack_top: AtomicU64::new(0),
    loaded: AtomicPtr::new(null_mut()),
};
static CPU_LOCAL: [CpuLocal; MAX_CPUS] = [CPU_LOCAL_INIT; MAX_CPUS];

/// A context owned by one CPU at a time. Whoever holds the pointer from
/// `get()` must be the only CPU running or switching that context: the
/// normal world's context per CPU is touched only by that CPU, and a
/// partition context only by the CPU that claimed it (see spmc::partitions).
pub struct ContextCell(UnsafeCell<Context>);

// SAFETY: access is serialised by ownership as described above.
unsafe impl Sync for ContextCell {}

impl ContextCell {
    pub const fn new() -> Self {
        ContextCell(UnsafeCell::new(Context::ZERO))
    }

    pub fn get(&self) -> *mut Context {
        self.0.get()
    }
}

impl Default for ContextCell {
    fn default() -> Self {
        Self::new()
    }
}

#[allow(clippy::declare_interior_mutable_const)]
const CONTEXT_INIT: ContextCell = ContextCell::new();
static NORMAL_WORLD: [ContextCell; MAX_CPUS] = [CONTEXT_INIT; MAX_CPUS];

/// Which optional EL1 registers exist (set once by CPU 0 before others run).
static OPTIONAL_EL1: AtomicU8 = AtomicU8::new(0);

/// Reads ID_AA64MMFR3_EL1 for FEAT_TCR2, FEAT_SCTLR2 and FEAT_S1PIE.
pub fn detect_optional_el1() {
    let mmfr3 = read_sysreg!("s3_0_c0_c7_3");
    let mut bits = 0u8;
    if mmfr3 & 0xf != 0 {
        bits |= 1;
    }
    if (mmfr3 >> 4) & 0xf != 0 {
        bits |= 2;
    }
    if (mmfr3 >> 8) & 0xf != 0 {
        bits |= 4;
    }
    OPTIONAL_EL1.store(bits, Ordering::Relaxed);
}

pub fn optional_el1() -> OptionalEl1 {
    let bits = OPTIONAL_EL1.load(Ordering::Relaxed);
    OptionalEl1 {
        tcr2: bits & 1 != 0,
        sctlr2: bits & 2 != 0,
        pie: bits & 4 != 0,
    }
}

/// Points TPIDR_EL3 at this CPU's `CpuLocal` and makes the normal world's
/// context the current one (its EL1 registers are what the hardware holds).
pub fn init_this_cpu(cpu: usize, stack_top: u64) {
    let local = &CPU_LOCAL[cpu];
    local.stack_top.store(stack_top, Ordering::Relaxed);
    let nw = NORMAL_WORLD[cpu].get();
    local.loaded.store(nw, Ordering::Relaxed);
    // SAFETY: `nw` points into a static; taking a field address creates no reference.
    let frame = unsafe { core::ptr::addr_of_mut!((*nw).frame) };
    local.frame.store(frame, Ordering::Relaxed);
    write_sysreg!("tpidr_el3", local as *const CpuLocal as u64);
}

/// The normal world's context on this CPU.
pub fn normal_world() -> *mut Context {
    NORMAL_WORLD[cpu_index()].get()
}

/// The context whose frame the last exception on this CPU saved into.
pub fn current() -> *mut Context {
    CPU_LOCAL[cpu_index()].loaded.load(Ordering::Relaxed)
}

/// Makes `target` the context this CPU returns to: saves the EL1 registers
/// of the context leaving into it and loads the target's.
pub fn switch_to(target: *mut Context) {
    let local = &CPU_LOCAL[cpu_index()];
    let leaving = local.loaded.load(Ordering::Relaxed);
    if leaving == target {
        return;
    }
    let opt = optional_el1();
    // SAFETY: both contexts are owned by this CPU right now (the caller
    // claimed the target), and no reference to either is live.
    unsafe {
        (*leaving).el1.save(opt);
        (*target).el1.restore(opt);
        local
            .frame
            .store(core::ptr::addr_of_mut!((*target).frame), Ordering::Relaxed);
    }
    local.loaded.store(target, Ordering::Relaxed);
}
