//! When the hypervisor may use SIMD registers: only at boot, before the
//! first guest runs. From then on they hold guest state, which the
//! hypervisor never saves around its own use.

use core::sync::atomic::{AtomicBool, Ordering};

static OPEN: AtomicBool = AtomicBool::new(true);

/// Whether SIMD registers may still be used (no guest has run yet).
pub fn open() -> bool {
    OPEN.load(Ordering::Acquire)
}

/// From now on guests own the SIMD registers: never use them again.
pub fn close() {
    OPEN.store(false, Ordering::Release);
}
