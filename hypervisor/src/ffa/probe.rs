//! Init: ask the firmware once what it is and what partitions it has.
//! Any failure frees what was set up and leaves FF-A off.

use core::fmt;

use super::abi::{self, status, Regs, Version};
use super::env::{Env, OwnBuffers};
use super::partinfo::{CacheError, PartitionCache, BUFFER_SIZE};

const SMCCC_VERSION: u32 = 0x8000_0000;
/// FF-A's register ABI needs SMCCC 1.2 (x0..x17).
const SMCCC_1_2: u32 = 0x1_0002;
/// The oldest SPMC the mediator talks to (it needs v1.1's descriptors).
pub const MIN_SPMC_VERSION: Version = Version::V1_1;
/// The version the hypervisor asks for as the SPMC's caller: the layouts it
/// sends are v1.1's (memory transaction descriptors with 16-byte access
/// descriptors), and TF-A v2.12's EL3 SPMC refuses FFA_MEM_SHARE from a
/// normal world that asked for 1.2 (docs/ffa-interop.md). Guests still
/// negotiate up to 1.2 with the mediator, which answers v1.2's calls itself.
pub const SPMC_CALLER_VERSION: Version = Version::V1_1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeError {
    SmcccTooOld(u32),
    NoFfa,
    SpmcTooOld(Version),
    RxTxMap(i32),
    PartitionInfo(i32),
    Cache(CacheError),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::SmcccTooOld(v) if v & (1 << 31) != 0 => {
                write!(f, "the firmware has no SMCCC_VERSION (SMCCC 1.0)")
            }
            Self::SmcccTooOld(v) => write!(f, "SMCCC {}.{} is below 1.2", v >> 16, v & 0xffff),
            Self::NoFfa => write!(f, "the firmware does not implement FFA_VERSION"),
            Self::SpmcTooOld(v) => {
                write!(
                    f,
                    "the SPMC speaks FF-A {v} only; {MIN_SPMC_VERSION} is needed"
                )
            }
            Self::RxTxMap(e) => write!(f, "FFA_RXTX_MAP of the hypervisor's buffers failed ({e})"),
            Self::PartitionInfo(e) => write!(f, "FFA_PARTITION_INFO_GET failed ({e})"),
            Self::Cache(e) => write!(f, "partition list refused: {e}"),
        }
    }
}

/// ABIs the mediator forwards, if the SPMC has them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpmcFeatures {
    pub direct_req_32: bool,
    pub direct_req_64: bool,
    pub mem_share_32: bool,
    pub mem_share_64: bool,
    pub mem_reclaim: bool,
}

pub struct Probed {
    pub version: Version,
    pub features: SpmcFeatures,
    pub cache: PartitionCache,
}

fn call(env: &mut dyn Env, fid: u32, args: &[u64]) -> Regs {
    env.smc(&abi::regs(fid, args))
}

fn has(env: &mut dyn Env, fid: u32) -> bool {
    abi::is_success(&call(env, abi::FEATURES, &[u64::from(fid)]))
}

/// Ask the SPMC for its partition list through the hypervisor's RX
/// buffer and check it (also the benchmark's forwarding mode, per call).
pub fn fetch_partitions(
    env: &mut dyn Env,
    bufs: &OwnBuffers,
    log: &mut dyn FnMut(fmt::Arguments),
) -> Result<PartitionCache, ProbeError> {
    let r = call(env, abi::PARTITION_INFO_GET, &[0, 0, 0, 0, 0]);
    if let Some(e) = abi::error_code(&r) {
        return Err(ProbeError::PartitionInfo(e));
    }
    let mut rx = [0u8; BUFFER_SIZE];
    env.read_phys(bufs.rx_pa, &mut rx);
    call(env, abi::RX_RELEASE, &[]);
    PartitionCache::build(&rx, r[2] as u32, r[3] as u32, log).map_err(ProbeError::Cache)
}

/// Probe the SPMC and cache its partitions. On failure nothing stays
/// mapped with the firmware.
pub fn probe(env: &mut dyn Env, bufs: &OwnBuffers) -> Result<Probed, ProbeError> {
    let smccc = call(env, SMCCC_VERSION, &[])[0] as u32;
    if smccc & (1 << 31) != 0 || smccc < SMCCC_1_2 {
        return Err(ProbeError::SmcccTooOld(smccc));
    }
    let v = call(env, abi::VERSION, &[u64::from(SPMC_CALLER_VERSION.0)])[0] as u32;
    if v & (1 << 31) != 0 {
        return Err(ProbeError::NoFfa);
    }
    let version = Version(v);
    if version.major() != 1 || version < MIN_SPMC_VERSION {
        return Err(ProbeError::SpmcTooOld(version));
    }
    let features = SpmcFeatures {
        direct_req_32: has(env, abi::MSG_SEND_DIRECT_REQ_32),
        direct_req_64: has(env, abi::MSG_SEND_DIRECT_REQ_64),
        mem_share_32: has(env, abi::MEM_SHARE_32),
        mem_share_64: has(env, abi::MEM_SHARE_64),
        mem_reclaim: has(env, abi::MEM_RECLAIM),
    };
    let r = call(env, abi::RXTX_MAP_64, &[bufs.tx_pa, bufs.rx_pa, 1]);
    if !abi::is_success(&r) {
        return Err(ProbeError::RxTxMap(
            abi::error_code(&r).unwrap_or(status::NOT_SUPPORTED),
        ));
    }
    let mut lines: alloc::vec::Vec<alloc::string::String> = alloc::vec::Vec::new();
    let fetched = fetch_partitions(env, bufs, &mut |a| lines.push(alloc::format!("{a}")));
    for l in &lines {
        env.log(format_args!("{l}"));
    }
    match fetched {
        Ok(cache) => Ok(Probed {
            version,
            features,
            cache,
        }),
        Err(e) => {
            call(env, abi::RXTX_UNMAP, &[0]);
            Err(e)
        }
    }
}
