//! FF-A numbers (Arm DEN0077) and the call wrapper the client uses.

use super::super::calls::ffa_call;

pub const ERROR: u32 = 0x8400_0060;
pub const SUCCESS_32: u32 = 0x8400_0061;
pub const SUCCESS_64: u32 = 0xc400_0061;
pub const VERSION: u32 = 0x8400_0063;
pub const FEATURES: u32 = 0x8400_0064;
pub const RX_RELEASE: u32 = 0x8400_0065;
pub const RXTX_MAP_64: u32 = 0xc400_0066;
pub const RXTX_UNMAP: u32 = 0x8400_0067;
pub const PARTITION_INFO_GET: u32 = 0x8400_0068;
pub const ID_GET: u32 = 0x8400_0069;
pub const DIRECT_REQ_32: u32 = 0x8400_006f;
pub const DIRECT_REQ_64: u32 = 0xc400_006f;
pub const DIRECT_RESP_32: u32 = 0x8400_0070;
pub const DIRECT_RESP_64: u32 = 0xc400_0070;
pub const MEM_SHARE_64: u32 = 0xc400_0073;
pub const MEM_RECLAIM: u32 = 0x8400_0077;
pub const PARTITION_INFO_GET_REGS: u32 = 0xc400_008b;

pub const NOT_SUPPORTED: i32 = -1;
pub const INVALID_PARAMETERS: i32 = -2;
pub const BUSY: i32 = -4;
pub const DENIED: i32 = -6;

pub const V1_0: u32 = 0x1_0000;
pub const V1_1: u32 = 0x1_0001;
pub const V1_2: u32 = 0x1_0002;

/// The test firmware's direct-request commands (firmware/README.md).
pub const CMD_PING: u64 = 1;
pub const CMD_CHECKSUM: u64 = 2;
pub const CMD_HOLD: u64 = 4;
pub const CMD_RELEASE: u64 = 5;
pub const PING_XOR: u64 = 0x5a5a_5a5a;

pub type Regs = [u64; 18];

pub fn call(fid: u32, args: &[u64]) -> Regs {
    let mut x = [0u64; 18];
    x[0] = u64::from(fid);
    x[1..=args.len()].copy_from_slice(args);
    ffa_call(x)
}

/// The status of an FFA_ERROR answer.
pub fn error(r: &Regs) -> Option<i32> {
    (r[0] as u32 == ERROR).then_some(r[2] as u32 as i32)
}

pub fn ok(r: &Regs) -> bool {
    matches!(r[0] as u32, SUCCESS_32 | SUCCESS_64)
}

/// The error a call got, for a report: its code or "SUCCESS"/the fid.
pub struct Outcome(pub Regs);

impl core::fmt::Display for Outcome {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match error(&self.0) {
            Some(e) => write!(f, "{e}"),
            None if ok(&self.0) => write!(f, "SUCCESS"),
            None => write!(f, "{:#x}", self.0[0]),
        }
    }
}
