//! Init against firmwares that cannot be used: FF-A stays off and nothing
//! stays mapped with the firmware.

use super::*;
use crate::ffa::partinfo::CacheError;
use crate::ffa::probe::ProbeError;

fn probe_of(w: &mut FakeWorld) -> Result<(), ProbeError> {
    probe(w, &BUFS).map(|_| ())
}

#[test]
fn a_good_spmc_is_asked_for_its_partitions_once_and_released() {
    let mut w = FakeWorld::default();
    let m = mediator(&mut w);
    assert_eq!(m.partitions().partitions().len(), 3);
    assert_eq!(w.count(abi::PARTITION_INFO_GET), 1);
    assert_eq!(w.count(abi::RX_RELEASE), 1);
    assert!(w.rxtx_mapped);
    // It asks as a v1.1 caller (the descriptor layouts it sends); the SPMC
    // answers with its own version.
    let asked: Vec<u64> = w
        .smcs
        .iter()
        .filter(|x| x[0] as u32 == abi::VERSION)
        .map(|x| x[1])
        .collect();
    assert_eq!(asked, [0x1_0001]);
    assert_eq!(m.spmc_version, Version::V1_2);
}

#[test]
fn no_smccc_1_2_no_ffa_or_a_1_0_spmc_turn_the_mediator_off() {
    let mut w = FakeWorld {
        smccc: u64::MAX,
        ..Default::default()
    };
    assert!(matches!(probe_of(&mut w), Err(ProbeError::SmcccTooOld(_))));
    let mut w = FakeWorld {
        smccc: 0x1_0001,
        ..Default::default()
    };
    assert_eq!(probe_of(&mut w), Err(ProbeError::SmcccTooOld(0x1_0001)));
    let mut w = FakeWorld {
        version: u32::MAX,
        ..Default::default()
    };
    assert_eq!(probe_of(&mut w), Err(ProbeError::NoFfa));
    let mut w = FakeWorld {
        version: Version::V1_0.0,
        ..Default::default()
    };
    assert_eq!(probe_of(&mut w), Err(ProbeError::SpmcTooOld(Version::V1_0)));
    assert!(!w.rxtx_mapped && w.count(abi::RXTX_MAP_64) == 0);
    let mut w = FakeWorld {
        version: 0x2_0000,
        ..Default::default()
    };
    assert_eq!(
        probe_of(&mut w),
        Err(ProbeError::SpmcTooOld(Version(0x2_0000)))
    );
}

#[test]
fn a_bad_partition_list_unmaps_the_buffers_again() {
    let mut w = FakeWorld {
        desc_size: 8,
        ..Default::default()
    };
    assert_eq!(
        probe_of(&mut w),
        Err(ProbeError::Cache(CacheError::SizeTooSmall(8)))
    );
    assert!(!w.rxtx_mapped, "RX/TX left mapped with the firmware");
    assert_eq!(w.count(abi::RXTX_UNMAP), 1);
    let msg = alloc::format!("{}", ProbeError::Cache(CacheError::SizeTooSmall(8)));
    assert!(msg.contains("descriptor size 8"), "{msg}");
}

#[test]
fn dropped_partitions_are_logged_at_init() {
    let mut w = FakeWorld::default();
    w.sps.push(Sp {
        id: 0x7ff0,
        ctx: 1,
        props: 1,
        uuid: uuid(7),
    });
    let m = mediator(&mut w);
    assert_eq!(m.partitions().partitions().len(), 3);
    assert_eq!(w.log.len(), 2, "{:?}", w.log);
}
