//! Halyard: the common, architecture-neutral hypervisor.
//!
//! Layers, from the bottom: `arch` (the only code that touches a CPU's
//! system registers; compiled for its target only), `drivers` and `console`
//! (the hypervisor's own devices), `mm` (frames, translation tables),
//! `boot` (boot information, module table, domain builder), `domain`,
//! `hypercall` (the guest interface). A board support package implements
//! `board::Board` and calls `board_main!`.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod arch;
pub mod board;
pub mod boot;
pub mod console;
pub mod domain;
pub mod drivers;
pub mod ffa;
pub mod hypercall;
pub mod mm;
pub mod percpu;
pub mod vdev;
pub mod vgic;

/// Define the board's entry point: the arch boot code calls it with the
/// boot argument (aarch64: the DTB address) once a stack exists.
#[macro_export]
macro_rules! board_main {
    ($board:ty) => {
        const _: () = assert!(
            <$board as $crate::board::Board>::MAX_CPUS <= $crate::board::MAX_CPUS_SUPPORTED,
            "the board declares more CPUs than Halyard's per-CPU tables hold"
        );
        #[cfg(target_os = "none")]
        #[unsafe(no_mangle)]
        pub extern "C" fn halyard_board_main(boot_arg: usize) -> ! {
            $crate::arch::primary_main::<$board>(boot_arg)
        }
    };
}

/// A hypervisor bug (never guest input): report it and park this CPU.
#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    console::print(format_args!("halyard: panic: {info}\n"));
    console::flush();
    loop {
        core::hint::spin_loop();
    }
}
