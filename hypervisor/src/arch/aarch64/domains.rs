//! The boot sequence's arch interface on aarch64 (`boot::sequence`): the
//! other CPUs hash with 4-lane NEON BLAKE3, domains are built with EL2's
//! memory environment, and a hardware domain gets the virtual GIC.

use alloc::boxed::Box;

use super::blake3x4;
use super::memory::Env;
use crate::board::Leaves;
use crate::boot::blake3::Hash4;
use crate::boot::domain_builder::BuildEnv;
use crate::boot::sequence::{self, BootArch};
use crate::domain::Domain;
use crate::mm::frames::FrameAllocator;

pub struct Aarch64Boot;

impl<'t> sequence::Helpers for super::smp::Helpers<'t> {
    fn count(&self) -> usize {
        super::smp::Helpers::count(self)
    }
    fn finish(self, frames: &mut FrameAllocator) {
        super::smp::Helpers::finish(self, frames)
    }
}

impl BootArch for Aarch64Boot {
    type Helpers<'t> = super::smp::Helpers<'t>;

    fn now_us(&self) -> u64 {
        super::boot::now_us()
    }
    fn start_helpers<'t>(
        &'t self,
        frames: &mut FrameAllocator,
        task: &'t (dyn Fn() + Sync),
    ) -> Self::Helpers<'t> {
        super::smp::start_helpers(frames, task)
    }
    fn hasher(&self) -> (Hash4, &'static str) {
        (blake3x4::hash4, blake3x4::pick().name())
    }
    fn build_env<'f>(
        &self,
        frames: &'f mut FrameAllocator,
        leaves: Leaves,
    ) -> Box<dyn BuildEnv + 'f> {
        Box::new(Env::new(frames, leaves))
    }
    /// The model behind the layout the domain builder chose.
    fn attach_vgic(&self, dom: &mut Domain) {
        dom.vgic = super::vgic_hw::create(dom).map(spin::Mutex::new);
    }
    fn take_console_irq(&self, spi: u32) {
        super::vgic_hw::take_console_irq(spi);
    }
}
