//! FF-A function IDs, error codes and the register shapes of replies.

use crate::el3::context::Frame;

pub const FFA_ERROR: u32 = 0x8400_0060;
pub const FFA_SUCCESS_32: u32 = 0x8400_0061;
pub const FFA_SUCCESS_64: u32 = 0xc400_0061;
pub const FFA_VERSION: u32 = 0x8400_0063;
pub const FFA_FEATURES: u32 = 0x8400_0064;
pub const FFA_RX_RELEASE: u32 = 0x8400_0065;
pub const FFA_RXTX_MAP_32: u32 = 0x8400_0066;
pub const FFA_RXTX_MAP_64: u32 = 0xc400_0066;
pub const FFA_RXTX_UNMAP: u32 = 0x8400_0067;
pub const FFA_PARTITION_INFO_GET: u32 = 0x8400_0068;
pub const FFA_ID_GET: u32 = 0x8400_0069;
pub const FFA_MSG_WAIT: u32 = 0x8400_006b;
pub const FFA_MSG_SEND_DIRECT_REQ_32: u32 = 0x8400_006f;
pub const FFA_MSG_SEND_DIRECT_REQ_64: u32 = 0xc400_006f;
pub const FFA_MSG_SEND_DIRECT_RESP_32: u32 = 0x8400_0070;
pub const FFA_MSG_SEND_DIRECT_RESP_64: u32 = 0xc400_0070;
pub const FFA_MEM_SHARE_32: u32 = 0x8400_0073;
pub const FFA_MEM_SHARE_64: u32 = 0xc400_0073;
pub const FFA_MEM_RETRIEVE_REQ_32: u32 = 0x8400_0074;
pub const FFA_MEM_RETRIEVE_REQ_64: u32 = 0xc400_0074;
pub const FFA_MEM_RETRIEVE_RESP: u32 = 0x8400_0075;
pub const FFA_MEM_RELINQUISH: u32 = 0x8400_0076;
pub const FFA_MEM_RECLAIM: u32 = 0x8400_0077;
pub const FFA_PARTITION_INFO_GET_REGS: u32 = 0xc400_008b;

/// Firmware-private call a partition's exception vector makes when it faults.
pub const HALYARD_SP_CRASHED: u32 = 0x8200_ff00;

/// FF-A status codes (w2 of FFA_ERROR).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FfaError {
    NotSupported = -1,
    InvalidParameters = -2,
    NoMemory = -3,
    Busy = -4,
    Denied = -6,
    Retry = -7,
}

impl FfaError {
    pub fn name(self) -> &'static str {
        match self {
            FfaError::NotSupported => "NOT_SUPPORTED",
            FfaError::InvalidParameters => "INVALID_PARAMETERS",
            FfaError::NoMemory => "NO_MEMORY",
            FfaError::Busy => "BUSY",
            FfaError::Denied => "DENIED",
            FfaError::Retry => "RETRY",
        }
    }
}

/// FF-A versions: major in [30:16], minor in [15:0].
pub const VERSION_1_0: u32 = 0x1_0000;
pub const VERSION_1_2: u32 = 0x1_0002;

/// The SPMC's own endpoint ID, and the normal world's (the hypervisor).
pub const SPMC_ID: u16 = 0x8000;
pub const NORMAL_WORLD_ID: u16 = 0;

/// Whether an ID names a secure endpoint (bit 15 convention).
pub fn is_secure_id(id: u16) -> bool {
    id & 0x8000 != 0
}

/// SMC64 function IDs have bit 30 set; their arguments use all 64 bits.
pub fn is_smc64(id: u32) -> bool {
    id & 0x4000_0000 != 0
}

/// Writes FFA_ERROR(code) into the caller's registers.
pub fn set_error(frame: &mut Frame, error: FfaError) {
    set_regs(
        frame,
        FFA_ERROR,
        [0, error as i32 as u32 as u64, 0, 0, 0, 0],
    );
}

/// Writes FFA_SUCCESS (32-bit form) with w2..w7.
pub fn set_success(frame: &mut Frame, values: [u64; 5]) {
    set_regs(
        frame,
        FFA_SUCCESS_32,
        [0, values[0], values[1], values[2], values[3], values[4]],
    );
}

/// Writes a function ID and x1..x6 into x0..x6, clearing x7.
pub fn set_regs(frame: &mut Frame, function: u32, args: [u64; 6]) {
    frame.x[0] = function as u64;
    frame.x[1..7].copy_from_slice(&args);
    frame.x[7] = 0;
}
