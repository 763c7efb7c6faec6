//! The FF-A mediator between guests and the secure world's SPMC
//! (Arm FF-A, DEN0077): architecture-neutral and host-tested. The arch
//! glue routes guests' FF-A calls here and supplies the SMC conduit.
//!
//! The rule it is built around: the secure partitions' list is static,
//! so it is asked for once, at init, checked and cached
//! (`partinfo::PartitionCache`); guests are answered from the cache with
//! no call to the secure world.

#![forbid(unsafe_code)]

pub mod abi;
pub mod domain_call;
pub mod env;
pub mod guest;
pub mod mediator;
pub mod mem_share;
pub mod partinfo;
pub mod probe;

#[cfg(any(test, feature = "host-fakes"))]
pub mod fake;
#[cfg(test)]
mod tests;

pub use env::{Env, OwnBuffers};
pub use mediator::{forwarded_reply, Action, Caller, Mediator};
