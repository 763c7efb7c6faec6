//! An FF-A v1.2 SPMC at EL3 (also answering v1.1 and v1.0 callers; only
//! v1.0 with the `version=1.0` knob). Normal-world calls and the S-EL1
//! partitions' calls both arrive here; a direct request switches the CPU to
//! the partition, its response switches back.

pub mod abi;
pub mod direct;
pub mod memshare;
pub mod partinfo;
pub mod partitions;
pub mod rxtx;
pub mod state;

use crate::console::fwprintln;
use crate::el3::context::{Context, Frame};
use crate::el3::{percpu, vectors};
use crate::knobs;
use abi::*;
use partitions::{STATE_IDLE, STATE_INIT};
use state::STATE;

/// The version this SPMC speaks (1.0 only with the knob).
pub fn own_version() -> u32 {
    if knobs::version_1_0_only() {
        VERSION_1_0
    } else {
        VERSION_1_2
    }
}

/// Logs a refused call in one line and returns the error to the caller.
pub fn refuse(frame: &mut Frame, call: &str, error: FfaError, why: core::fmt::Arguments) {
    fwprintln!("spmc: refused {}: {} ({})", call, error.name(), why);
    set_error(frame, error);
}

/// An SMC from the normal world in the FF-A range.
pub fn normal_world_call(ctx: *mut Context) {
    // SAFETY: the normal world's context on this CPU is only touched here.
    let frame = unsafe { &mut (*ctx).frame };
    let function = frame.x[0] as u32;
    match function {
        FFA_VERSION => version(frame),
        FFA_FEATURES => features(frame, false),
        FFA_ID_GET => set_success(frame, [NORMAL_WORLD_ID as u64, 0, 0, 0, 0]),
        FFA_RXTX_MAP_32 | FFA_RXTX_MAP_64 => rxtx::map_normal_world(frame),
        FFA_RXTX_UNMAP => rxtx::unmap_normal_world(frame),
        FFA_RX_RELEASE => rxtx::release_normal_world(frame),
        FFA_PARTITION_INFO_GET => partinfo::get(frame),
        FFA_PARTITION_INFO_GET_REGS if negotiated_version() >= VERSION_1_2 => {
            partinfo::get_regs(frame)
        }
        FFA_MSG_SEND_DIRECT_REQ_32 | FFA_MSG_SEND_DIRECT_REQ_64 => direct::request(frame),
        FFA_MEM_SHARE_32 | FFA_MEM_SHARE_64 => memshare::share(frame),
        FFA_MEM_RECLAIM => memshare::reclaim(frame),
        _ => refuse(
            frame,
            crate::counters::name(function),
            FfaError::NotSupported,
            format_args!("{:#x} not implemented for the normal world", function),
        ),
    }
}

/// An SMC from an S-EL1 partition.
pub fn partition_call(ctx: *mut Context) {
    let Some((slot, index)) = partitions::locate(ctx) else {
        panic!("SMC from a secure context the SPMC does not know");
    };
    let partition = partitions::by_slot(slot);
    // SAFETY: the partition's context is RUNNING on this CPU, which owns it.
    let frame = unsafe { &mut (*ctx).frame };
    let function = frame.x[0] as u32;
    match function {
        FFA_MSG_WAIT => msg_wait(slot, index, frame),
        FFA_MSG_SEND_DIRECT_RESP_32 | FFA_MSG_SEND_DIRECT_RESP_64 => {
            direct::response(slot, index, frame)
        }
        FFA_VERSION => set_regs(frame, own_version(), [0; 6]),
        FFA_FEATURES => features(frame, true),
        FFA_ID_GET => set_success(frame, [partition.id as u64, 0, 0, 0, 0]),
        FFA_RXTX_MAP_32 | FFA_RXTX_MAP_64 => rxtx::map_partition(slot, frame),
        FFA_RX_RELEASE => rxtx::release_partition(slot, frame),
        FFA_MEM_RETRIEVE_REQ_32 | FFA_MEM_RETRIEVE_REQ_64 => memshare::retrieve(slot, frame),
        FFA_MEM_RELINQUISH => memshare::relinquish(slot, frame),
        HALYARD_SP_CRASHED => panic!(
            "partition {:#x} context {} crashed: vector {:#x} ESR_EL1 {:#x} ELR_EL1 {:#x} FAR_EL1 {:#x}",
            partition.id, index, frame.x[1], frame.x[2], frame.x[3], frame.x[4]
        ),
        _ => refuse(
            frame,
            crate::counters::name(function),
            FfaError::NotSupported,
            format_args!("{:#x} from partition {:#x}", function, partition.id),
        ),
    }
}

/// The version the normal world asked for (its last FFA_VERSION), capped
/// at what the SPMC speaks.
pub fn negotiated_version() -> u32 {
    STATE.lock().normal_world_version.min(own_version())
}

fn version(frame: &mut Frame) {
    let requested = frame.x[1] as u32;
    if requested & 0x8000_0000 != 0 {
        fwprintln!("spmc: refused FFA_VERSION {:#x}: bit 31 set", requested);
        frame.x[0] = crate::smccc::NOT_SUPPORTED & 0xffff_ffff;
        return;
    }
    let own = own_version();
    let agreed = if requested >> 16 == 1 {
        requested.min(own)
    } else {
        own
    };
    STATE.lock().normal_world_version = agreed;
    set_regs(frame, own, [0; 6]);
}

fn features(frame: &mut Frame, from_partition: bool) {
    let id = frame.x[1] as u32;
    let for_everyone = matches!(
        id,
        FFA_VERSION
            | FFA_FEATURES
            | FFA_RX_RELEASE
            | FFA_RXTX_MAP_32
            | FFA_RXTX_MAP_64
            | FFA_ID_GET
    );
    let normal_world_only = matches!(
        id,
        FFA_RXTX_UNMAP
            | FFA_PARTITION_INFO_GET
            | FFA_MSG_SEND_DIRECT_REQ_32
            | FFA_MSG_SEND_DIRECT_REQ_64
            | FFA_MEM_SHARE_32
            | FFA_MEM_SHARE_64
            | FFA_MEM_RECLAIM
    ) || (id == FFA_PARTITION_INFO_GET_REGS
        && own_version() >= VERSION_1_2);
    let partition_only = matches!(
        id,
        FFA_MSG_WAIT
            | FFA_MSG_SEND_DIRECT_RESP_32
            | FFA_MSG_SEND_DIRECT_RESP_64
            | FFA_MEM_RETRIEVE_REQ_32
            | FFA_MEM_RETRIEVE_REQ_64
            | FFA_MEM_RELINQUISH
    );
    let implemented = for_everyone
        || (normal_world_only && !from_partition)
        || (partition_only && from_partition);
    if implemented {
        // RXTX_MAP: w2 bits [1:0] = 0, minimum buffer size 4 KiB.
        set_success(frame, [0; 5]);
    } else {
        set_error(frame, FfaError::NotSupported);
    }
}

fn msg_wait(slot: usize, index: usize, frame: &mut Frame) {
    let exec = partitions::context(slot, index);
    if exec.state.load(core::sync::atomic::Ordering::Acquire) == STATE_INIT {
        fwprintln!(
            "spmc: partition {:#x} context {} initialised",
            partitions::by_slot(slot).id,
            index
        );
        run_next_init(Some((slot, index)));
    }
    refuse(
        frame,
        "FFA_MSG_WAIT",
        FfaError::Denied,
        format_args!("partition must answer its direct request with a response"),
    );
}

/// Boot: run every S-EL1 context's initialisation (until its FFA_MSG_WAIT)
/// on this CPU, then enter the normal world already prepared on it.
pub fn start_partitions_then_normal_world() -> ! {
    partitions::prepare_contexts();
    fwprintln!(
        "spmc: FF-A {}.{} SPMC {:#x}, {} partitions",
        own_version() >> 16,
        own_version() & 0xffff,
        SPMC_ID,
        partitions::all().len()
    );
    for p in partitions::all() {
        fwprintln!(
            "spmc: partition {:#06x} properties {:#x} contexts {} {}",
            p.id,
            p.properties,
            p.execution_contexts(),
            match p.kind {
                partitions::Kind::SecureEl1 { .. } => "S-EL1",
                partitions::Kind::Logical => "EL3 logical",
            }
        );
    }
    run_next_init(None)
}

/// Marks `finished` idle and starts the next context still in INIT, or
/// enters the normal world when none is left.
fn run_next_init(finished: Option<(usize, usize)>) -> ! {
    let mut next = None;
    'search: for slot in 0..partitions::SEL1_COUNT {
        for index in 0..partitions::by_slot(slot).execution_contexts() {
            if Some((slot, index)) == finished {
                continue;
            }
            let state = partitions::context(slot, index)
                .state
                .load(core::sync::atomic::Ordering::Acquire);
            if state == STATE_INIT {
                next = Some((slot, index));
                break 'search;
            }
        }
    }
    let target = match next {
        Some((slot, index)) => partitions::context(slot, index).saved.get(),
        None => percpu::normal_world(),
    };
    percpu::switch_to(target);
    if let Some((slot, index)) = finished {
        partitions::context(slot, index)
            .state
            .store(STATE_IDLE, core::sync::atomic::Ordering::Release);
    }
    if next.is_none() {
        fwprintln!("spmc: all partitions waiting for messages; entering the normal world");
    }
    vectors::exit_to_current()
}
