//! Host tests of the mediator against a fake SPMC and fake guest memory
//! (`super::fake`).

mod cache;
mod calls;
mod direct;
mod domain_call;
mod mem_share;
mod partinfo;
mod probe;
mod property;
mod vm_events;

pub use super::abi::{self, status, Regs, Version};
pub use super::env::Env;
pub use super::fake::*;
pub use super::mediator::{Action, Caller, Mediator};
pub use super::probe::probe;
pub use alloc::vec::Vec;
