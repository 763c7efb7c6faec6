//! FF-A (Arm DEN0077) function IDs, status codes, versions and register
//! helpers: the numbers from the specification, nothing else.

/// x0..x17: SMCCC 1.2 passes and returns up to 18 registers.
pub type Regs = [u64; 18];

pub const ERROR: u32 = 0x8400_0060;
pub const SUCCESS_32: u32 = 0x8400_0061;
pub const SUCCESS_64: u32 = 0xc400_0061;
pub const INTERRUPT: u32 = 0x8400_0062;
pub const VERSION: u32 = 0x8400_0063;
pub const FEATURES: u32 = 0x8400_0064;
pub const RX_RELEASE: u32 = 0x8400_0065;
pub const RXTX_MAP_32: u32 = 0x8400_0066;
pub const RXTX_MAP_64: u32 = 0xc400_0066;
pub const RXTX_UNMAP: u32 = 0x8400_0067;
pub const PARTITION_INFO_GET: u32 = 0x8400_0068;
pub const ID_GET: u32 = 0x8400_0069;
pub const MSG_SEND_DIRECT_REQ_32: u32 = 0x8400_006f;
pub const MSG_SEND_DIRECT_REQ_64: u32 = 0xc400_006f;
pub const MSG_SEND_DIRECT_RESP_32: u32 = 0x8400_0070;
pub const MSG_SEND_DIRECT_RESP_64: u32 = 0xc400_0070;
pub const MEM_SHARE_32: u32 = 0x8400_0073;
pub const MEM_SHARE_64: u32 = 0xc400_0073;
pub const MEM_RECLAIM: u32 = 0x8400_0077;
pub const PARTITION_INFO_GET_REGS: u32 = 0xc400_008b;

/// Status codes (w2 of FFA_ERROR).
pub mod status {
    pub const NOT_SUPPORTED: i32 = -1;
    pub const INVALID_PARAMETERS: i32 = -2;
    pub const NO_MEMORY: i32 = -3;
    pub const BUSY: i32 = -4;
    pub const INTERRUPTED: i32 = -5;
    pub const DENIED: i32 = -6;
    pub const RETRY: i32 = -7;
    pub const ABORTED: i32 = -8;

    /// The code's name, for logs.
    pub fn name(code: i32) -> &'static str {
        match code {
            NOT_SUPPORTED => "NOT_SUPPORTED",
            INVALID_PARAMETERS => "INVALID_PARAMETERS",
            NO_MEMORY => "NO_MEMORY",
            BUSY => "BUSY",
            INTERRUPTED => "INTERRUPTED",
            DENIED => "DENIED",
            RETRY => "RETRY",
            ABORTED => "ABORTED",
            _ => "an unknown error",
        }
    }
}

/// A version word: major in [30:16], minor in [15:0], bit 31 clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32);

impl Version {
    pub const V1_0: Version = Version(0x1_0000);
    pub const V1_1: Version = Version(0x1_0001);
    pub const V1_2: Version = Version(0x1_0002);

    pub const fn major(self) -> u32 {
        (self.0 >> 16) & 0x7fff
    }
    pub const fn minor(self) -> u32 {
        self.0 & 0xffff
    }
    pub const fn is_valid(self) -> bool {
        self.0 & (1 << 31) == 0
    }
}

impl core::fmt::Display for Version {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{}", self.major(), self.minor())
    }
}

/// Endpoint IDs with bit 15 set belong to the secure world.
pub const fn is_secure_id(id: u16) -> bool {
    id & 0x8000 != 0
}

/// Partition properties (partition info descriptor, [31:0]).
pub mod props {
    pub const DIRECT_REQ_RECV: u32 = 1 << 0;
    pub const DIRECT_REQ_SEND: u32 = 1 << 1;
    pub const NOTIFY_VM_CREATED: u32 = 1 << 6;
    pub const NOTIFY_VM_DESTROYED: u32 = 1 << 7;
    pub const AARCH64: u32 = 1 << 8;
}

/// Framework messages in a direct request: w2 bit 31 plus the message type.
pub mod framework {
    pub const FLAG: u32 = 1 << 31;
    pub const VM_CREATED: u32 = FLAG | 4;
    pub const VM_CREATED_ACK: u32 = FLAG | 5;
    pub const VM_DESTROYED: u32 = FLAG | 6;
    pub const VM_DESTROYED_ACK: u32 = FLAG | 7;
}

/// The SMC64 form of a call has bit 30 set.
pub const fn is_smc64(fid: u32) -> bool {
    fid & (1 << 30) != 0
}

pub fn regs(x0: u32, rest: &[u64]) -> Regs {
    let mut r = [0u64; 18];
    r[0] = x0 as u64;
    r[1..=rest.len()].copy_from_slice(rest);
    r
}

/// FFA_ERROR with `code` in w2.
pub fn error(code: i32) -> Regs {
    regs(ERROR, &[0, code as u32 as u64])
}

/// FFA_SUCCESS (32-bit form) with w2.. as given.
pub fn success(w2: &[u64]) -> Regs {
    let mut r = regs(SUCCESS_32, &[0]);
    r[2..2 + w2.len()].copy_from_slice(w2);
    r
}

/// The status of an FFA_ERROR answer, or `None` for anything else.
pub fn error_code(r: &Regs) -> Option<i32> {
    (r[0] as u32 == ERROR).then_some(r[2] as u32 as i32)
}

pub fn is_success(r: &Regs) -> bool {
    matches!(r[0] as u32, SUCCESS_32 | SUCCESS_64)
}
