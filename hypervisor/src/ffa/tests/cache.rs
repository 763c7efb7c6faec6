//! Building the cache from the firmware's answer: every check happens here.

use alloc::string::String;
use alloc::vec::Vec;

use super::*;
use crate::ffa::partinfo::{CacheError, PartitionCache};

fn build(sps: &[Sp], size: usize, count: u32) -> (Result<PartitionCache, CacheError>, Vec<String>) {
    let mut rx = descriptors(sps, size);
    rx.resize(4096, 0);
    let mut log = Vec::new();
    let r = PartitionCache::build(&rx, count, size as u32, &mut |a| {
        log.push(alloc::format!("{a}"))
    });
    (r, log)
}

#[test]
fn v1_1_descriptors_are_kept_whole() {
    let sps = standard_sps();
    let (c, log) = build(&sps, 24, 3);
    let c = c.unwrap();
    assert!(log.is_empty());
    assert_eq!(c.desc_size(), 24);
    let ids: Vec<u16> = c.partitions().iter().map(|p| p.id).collect();
    assert_eq!(ids, [0x8001, 0x8002, 0xc001]);
    assert_eq!(c.partitions()[0].uuid, uuid(1));
    assert_eq!(c.partitions()[0].exec_contexts, 4);
}

#[test]
fn sizes_below_24_and_from_a_page_are_refused() {
    let sps = standard_sps();
    assert_eq!(build(&sps, 8, 3).0, Err(CacheError::SizeTooSmall(8)));
    assert_eq!(build(&sps, 23, 3).0, Err(CacheError::SizeTooSmall(23)));
    let rx = [0u8; 4096];
    let r = PartitionCache::build(&rx, 1, 4096, &mut |_| {});
    assert_eq!(r, Err(CacheError::SizeTooLarge(4096)));
    let r = PartitionCache::build(&rx, 1, u32::MAX, &mut |_| {});
    assert_eq!(r, Err(CacheError::SizeTooLarge(u32::MAX)));
    // The largest size below a page is fine for one entry.
    let r = PartitionCache::build(&rx, 0, 4095, &mut |_| {});
    assert!(r.is_ok());
}

#[test]
fn odd_sizes_are_copied_byte_wise_and_the_extra_bytes_kept() {
    for size in [28usize, 30, 25, 33, 4095 / 3] {
        let sps = standard_sps();
        let (c, _) = build(&sps, size, 3);
        let c = c.unwrap();
        assert_eq!(c.desc_size(), size);
        assert_eq!(c.partitions()[2].id, 0xc001, "size {size}");
        assert_eq!(c.partitions()[2].uuid, uuid(3), "size {size}");
    }
}

#[test]
fn a_count_that_does_not_fit_the_buffer_is_refused() {
    let sps = standard_sps();
    assert_eq!(
        build(&sps, 24, 171).0,
        Err(CacheError::CountDoesNotFit {
            count: 171,
            size: 24
        })
    );
    assert_eq!(
        build(&sps, 30, u32::MAX).0,
        Err(CacheError::CountDoesNotFit {
            count: u32::MAX,
            size: 30
        })
    );
    // 170 * 24 = 4080 fits (the entries past the three are zero: IDs 0, dropped).
    assert!(build(&sps, 24, 170).0.is_ok());
}

#[test]
fn ids_without_bit_15_are_dropped_with_one_convention_line() {
    let mut sps = standard_sps();
    sps.insert(
        1,
        Sp {
            id: 0x7ff0,
            ctx: 1,
            props: 1,
            uuid: uuid(9),
        },
    );
    sps.push(Sp {
        id: 0x0002,
        ctx: 1,
        props: 1,
        uuid: uuid(8),
    });
    let (c, log) = build(&sps, 24, 5);
    let ids: Vec<u16> = c.unwrap().partitions().iter().map(|p| p.id).collect();
    assert_eq!(ids, [0x8001, 0x8002, 0xc001]);
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(log[0].contains("not using bit 15"));
    assert!(log[1].contains("0x7ff0 dropped"));
    assert!(log[2].contains("0x0002 dropped"));
}

#[test]
fn more_than_64_secure_partitions_are_refused() {
    let sps: Vec<Sp> = (0..65)
        .map(|i| Sp {
            id: 0x8001 + i,
            ctx: 1,
            props: 1,
            uuid: uuid(i as u8),
        })
        .collect();
    assert_eq!(build(&sps, 24, 65).0, Err(CacheError::TooMany(65)));
    assert!(build(&sps[..64], 24, 64).0.is_ok());
}
