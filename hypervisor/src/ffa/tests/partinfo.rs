//! PARTITION_INFO_GET from the cache: every version, UUID, flag and
//! buffer state, and never a call to the secure world.

use super::*;

fn words(u: [u8; 16]) -> [u64; 4] {
    core::array::from_fn(|i| u64::from(u32::from_le_bytes(u[4 * i..4 * i + 4].try_into().unwrap())))
}

fn info(m: &mut Mediator, w: &mut FakeWorld, u: [u8; 16], flags: u64) -> Regs {
    let [a, b, c, d] = words(u);
    call(
        m,
        w,
        &caller(1),
        abi::PARTITION_INFO_GET,
        &[a, b, c, d, flags],
    )
}

fn rx(w: &mut FakeWorld, len: usize) -> Vec<u8> {
    w.peek(RAM_PA + 0x1000, len)
}

#[test]
fn every_version_uuid_and_flag() {
    let nil = [0u8; 16];
    for v in [Version::V1_0, Version::V1_1, Version::V1_2] {
        for size in [24usize, 28, 30] {
            let mut w = FakeWorld {
                desc_size: size,
                ..Default::default()
            };
            let mut m = mediator(&mut w);
            let smcs = w.smcs.len();
            ready(&mut m, &mut w, &caller(1), v);
            let me = usize::from(v >= Version::V1_2);
            let dsize = if v == Version::V1_0 { 8 } else { size };

            // All partitions.
            let r = info(&mut m, &mut w, nil, 0);
            assert!(abi::is_success(&r), "{v} {r:x?}");
            assert_eq!(r[2] as usize, 3 + me, "{v}");
            assert_eq!(
                r[3] as usize,
                if v == Version::V1_0 { 0 } else { size },
                "{v}"
            );
            let b = rx(&mut w, dsize * (3 + me));
            assert_eq!(&b[0..2], &0x8001u16.to_le_bytes());
            assert_eq!(&b[dsize..dsize + 2], &0x8002u16.to_le_bytes());
            assert_eq!(
                &b[2 * dsize + 4..2 * dsize + 8],
                &abi::props::DIRECT_REQ_RECV.to_le_bytes()
            );
            if v >= Version::V1_1 {
                assert_eq!(&b[8..24], &uuid(1));
                // The firmware's extra bytes are passed on as they were.
                assert!(b[24..dsize].iter().all(|&x| x == 0xee));
            }
            if me == 1 {
                let own = &b[3 * dsize..];
                assert_eq!(
                    &own[0..2],
                    &2u16.to_le_bytes(),
                    "the caller (domain 1) is VM 2"
                );
                assert_eq!(&own[2..4], &2u16.to_le_bytes(), "its vCPUs");
                assert!(own[8..].iter().all(|&x| x == 0));
            }
            // Until released, the RX buffer is the guest's.
            assert_eq!(code(&info(&mut m, &mut w, nil, 0)), Some(status::BUSY));
            assert!(abi::is_success(&call(
                &mut m,
                &mut w,
                &caller(1),
                abi::RX_RELEASE,
                &[]
            )));

            // One partition by UUID: its UUID field comes back nil.
            let r = info(&mut m, &mut w, uuid(2), 0);
            assert_eq!(r[2], 1, "{v}");
            let b = rx(&mut w, dsize);
            assert_eq!(&b[0..2], &0x8002u16.to_le_bytes());
            assert!(b[8.min(dsize)..24.min(dsize)].iter().all(|&x| x == 0));
            call(&mut m, &mut w, &caller(1), abi::RX_RELEASE, &[]);

            // An unknown UUID.
            assert_eq!(
                code(&info(&mut m, &mut w, uuid(77), 0)),
                Some(status::INVALID_PARAMETERS)
            );

            // Count only: v1.1 and later, and no buffer taken.
            let r = info(&mut m, &mut w, nil, 1);
            if v == Version::V1_0 {
                assert_eq!(code(&r), Some(status::INVALID_PARAMETERS));
            } else {
                assert_eq!((r[2] as usize, r[3]), (3 + me, 0), "{v}");
                let r = info(&mut m, &mut w, uuid(3), 1);
                assert_eq!(r[2], 1);
                assert!(
                    abi::is_success(&info(&mut m, &mut w, nil, 0)),
                    "count-only took the buffer"
                );
                call(&mut m, &mut w, &caller(1), abi::RX_RELEASE, &[]);
            }
            // Reserved flag bits.
            for f in [2u64, 3, 0x8000_0000] {
                assert_eq!(
                    code(&info(&mut m, &mut w, nil, f)),
                    Some(status::INVALID_PARAMETERS)
                );
            }
            assert_eq!(w.smcs.len(), smcs, "{v}: a query reached the secure world");
        }
    }
}

#[test]
fn without_buffers_or_before_version() {
    let mut w = FakeWorld::default();
    let mut m = mediator(&mut w);
    let nil = [0u8; 16];
    assert_eq!(
        code(&info(&mut m, &mut w, nil, 0)),
        Some(status::NOT_SUPPORTED)
    );
    call(&mut m, &mut w, &caller(1), abi::VERSION, &[0x1_0001]);
    assert_eq!(code(&info(&mut m, &mut w, nil, 0)), Some(status::DENIED));
    // Count only needs no buffer.
    assert_eq!(info(&mut m, &mut w, nil, 1)[2], 3);
    // Releasing what the guest does not hold.
    assert_eq!(
        code(&call(&mut m, &mut w, &caller(1), abi::RX_RELEASE, &[])),
        Some(status::DENIED)
    );
}

#[test]
fn a_thousand_queries_make_no_smc() {
    let mut w = FakeWorld::default();
    let mut m = mediator(&mut w);
    ready(&mut m, &mut w, &caller(1), Version::V1_1);
    let before = w.smcs.len();
    for _ in 0..1000 {
        assert_eq!(info(&mut m, &mut w, [0; 16], 0)[2], 3);
        call(&mut m, &mut w, &caller(1), abi::RX_RELEASE, &[]);
    }
    assert_eq!(w.smcs.len(), before);
    assert_eq!(w.count(abi::PARTITION_INFO_GET), 1);
}

#[test]
fn the_forwarding_mode_asks_every_time() {
    let mut w = FakeWorld::default();
    let mut m = mediator(&mut w);
    let c = Caller {
        forward_partition_info: true,
        ..caller(1)
    };
    ready(&mut m, &mut w, &c, Version::V1_1);
    for _ in 0..5 {
        let r = call(&mut m, &mut w, &c, abi::PARTITION_INFO_GET, &[0; 5]);
        assert_eq!(r[2], 3);
        call(&mut m, &mut w, &c, abi::RX_RELEASE, &[]);
    }
    // Other domains are still answered from the cache.
    ready(&mut m, &mut w, &caller(2), Version::V1_1);
    call(&mut m, &mut w, &caller(2), abi::PARTITION_INFO_GET, &[0; 5]);
    assert_eq!(w.count(abi::PARTITION_INFO_GET), 6);
}

#[test]
fn get_regs_for_v1_2_callers() {
    let mut w = FakeWorld::default();
    let mut m = mediator(&mut w);
    let c = caller(1);
    call(&mut m, &mut w, &c, abi::VERSION, &[0x1_0002]);
    let r = call(&mut m, &mut w, &c, abi::PARTITION_INFO_GET_REGS, &[0, 0, 0]);
    assert_eq!(r[0] as u32, abi::SUCCESS_64);
    // 3 partitions + the caller: total-1 = 3, last index 3, size 24.
    assert_eq!(r[2], 24 << 48 | 3 << 16 | 3);
    assert_eq!(
        r[3],
        0x8001 | 4 << 16 | u64::from(standard_sps()[0].props) << 32
    );
    assert_eq!(r[4].to_le_bytes(), uuid(1)[..8]);
    assert_eq!(r[3 + 9] & 0xffff, 2, "the caller's own entry last");
    // From index 2.
    let r = call(&mut m, &mut w, &c, abi::PARTITION_INFO_GET_REGS, &[0, 0, 2]);
    assert_eq!(r[2] & 0xffff_ffff, 3 << 16 | 3);
    assert_eq!(r[3] & 0xffff, 0xc001);
    // Past the end, a tag, an unknown UUID.
    assert_eq!(
        code(&call(
            &mut m,
            &mut w,
            &c,
            abi::PARTITION_INFO_GET_REGS,
            &[0, 0, 4]
        )),
        Some(status::INVALID_PARAMETERS)
    );
    assert_eq!(
        code(&call(
            &mut m,
            &mut w,
            &c,
            abi::PARTITION_INFO_GET_REGS,
            &[0, 0, 1 << 16]
        )),
        Some(status::RETRY)
    );
    assert_eq!(
        code(&call(
            &mut m,
            &mut w,
            &c,
            abi::PARTITION_INFO_GET_REGS,
            &[5, 5, 0]
        )),
        Some(status::INVALID_PARAMETERS)
    );
    // v1.1 callers do not have it.
    let c2 = caller(2);
    call(&mut m, &mut w, &c2, abi::VERSION, &[0x1_0001]);
    assert_eq!(
        code(&call(
            &mut m,
            &mut w,
            &c2,
            abi::PARTITION_INFO_GET_REGS,
            &[0, 0, 0]
        )),
        Some(status::NOT_SUPPORTED)
    );
}
