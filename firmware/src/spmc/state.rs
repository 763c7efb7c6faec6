//! SPMC state shared by all CPUs, under one lock.

use super::abi::VERSION_1_2;
use super::memshare::ShareTable;
use super::partitions::SEL1_COUNT;
use crate::lock::SpinLock;

/// An endpoint's RX/TX buffer pair (one 4 KiB page each).
#[derive(Clone, Copy)]
pub struct Mailbox {
    pub tx: u64,
    pub rx: u64,
    /// The RX buffer holds a message for its owner, who has not released it.
    pub rx_full: bool,
}

pub struct SpmcState {
    pub normal_world_version: u32,
    pub normal_world_mailbox: Option<Mailbox>,
    pub partition_mailbox: [Option<Mailbox>; SEL1_COUNT],
    pub shares: ShareTable,
}

pub static STATE: SpinLock<SpmcState> = SpinLock::new(SpmcState {
    normal_world_version: VERSION_1_2,
    normal_world_mailbox: None,
    partition_mailbox: [None; SEL1_COUNT],
    shares: ShareTable::new(),
});

pub const PAGE: u64 = 4096;
