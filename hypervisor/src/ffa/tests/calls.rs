//! Version negotiation, IDs, features and the RX/TX checks.

use super::*;

#[test]
fn version_first_then_frozen() {
    let mut w = FakeWorld::default();
    let mut m = mediator(&mut w);
    let c = caller(3);
    assert_eq!(
        code(&call(&mut m, &mut w, &c, abi::ID_GET, &[])),
        Some(status::NOT_SUPPORTED)
    );
    // A version with bit 31 set is refused in x0 itself.
    assert_eq!(
        call(&mut m, &mut w, &c, abi::VERSION, &[0x8001_0000])[0] as i64,
        -1
    );
    assert_eq!(
        call(&mut m, &mut w, &c, abi::VERSION, &[0x1_0001])[0],
        0x1_0002
    );
    // Renegotiating before the first other call is allowed...
    call(&mut m, &mut w, &c, abi::VERSION, &[0x1_0000]);
    let r = call(&mut m, &mut w, &c, abi::ID_GET, &[]);
    assert_eq!((r[0] as u32, r[2]), (abi::SUCCESS_32, 4), "ID = domain + 1");
    // ...but not after: still 1.0, so count-only is refused.
    call(&mut m, &mut w, &c, abi::VERSION, &[0x1_0002]);
    let r = call(
        &mut m,
        &mut w,
        &c,
        abi::PARTITION_INFO_GET,
        &[0, 0, 0, 0, 1],
    );
    assert_eq!(code(&r), Some(status::INVALID_PARAMETERS));
    // A newer minor is capped at 1.2; another major records nothing.
    let c5 = caller(5);
    assert_eq!(
        call(&mut m, &mut w, &c5, abi::VERSION, &[0x2_0000])[0],
        0x1_0002
    );
    assert_eq!(
        code(&call(&mut m, &mut w, &c5, abi::ID_GET, &[])),
        Some(status::NOT_SUPPORTED)
    );
    call(&mut m, &mut w, &c5, abi::VERSION, &[0x1_0007]);
    let r = call(
        &mut m,
        &mut w,
        &c5,
        abi::FEATURES,
        &[u64::from(abi::PARTITION_INFO_GET_REGS)],
    );
    assert!(abi::is_success(&r), "1.7 counts as 1.2");
}

#[test]
fn features_say_what_a_guest_may_use() {
    let mut w = FakeWorld {
        features: alloc::vec![abi::MSG_SEND_DIRECT_REQ_32],
        ..Default::default()
    };
    let mut m = mediator(&mut w);
    let c = caller(1);
    call(&mut m, &mut w, &c, abi::VERSION, &[0x1_0001]);
    let f = |m: &mut Mediator, w: &mut FakeWorld, id: u32| {
        call(m, w, &c, abi::FEATURES, &[u64::from(id)])
    };
    for id in [
        abi::VERSION,
        abi::ID_GET,
        abi::PARTITION_INFO_GET,
        abi::RX_RELEASE,
        abi::RXTX_UNMAP,
        abi::MSG_SEND_DIRECT_REQ_32,
    ] {
        assert!(abi::is_success(&f(&mut m, &mut w, id)), "{id:#x}");
    }
    assert_eq!(f(&mut m, &mut w, abi::RXTX_MAP_64)[2], 0);
    for id in [
        abi::MSG_SEND_DIRECT_REQ_64,
        abi::MEM_SHARE_64,
        abi::MEM_RECLAIM,
        abi::PARTITION_INFO_GET_REGS,
        0x8400_0071,
        1,
        0,
    ] {
        assert_eq!(
            code(&f(&mut m, &mut w, id)),
            Some(status::NOT_SUPPORTED),
            "{id:#x}"
        );
    }
    // Unknown function IDs.
    for fid in [0x8400_0071u32, 0x8400_00ff, 0xc400_0077] {
        assert_eq!(
            code(&call(&mut m, &mut w, &c, fid, &[])),
            Some(status::NOT_SUPPORTED)
        );
    }
}

#[test]
fn rxtx_map_takes_one_pair_of_own_pages() {
    let mut w = FakeWorld::default();
    let mut m = mediator(&mut w);
    let c = caller(1);
    call(&mut m, &mut w, &c, abi::VERSION, &[0x1_0001]);
    let map = |m: &mut Mediator, w: &mut FakeWorld, tx: u64, rx: u64, n: u64| {
        code(&call(m, w, &c, abi::RXTX_MAP_64, &[tx, rx, n]))
    };
    let inv = Some(status::INVALID_PARAMETERS);
    let end = RAM_IPA + RAM_SIZE;
    assert_eq!(
        map(&mut m, &mut w, RAM_IPA + 8, RAM_IPA + 0x1000, 1),
        inv,
        "unaligned"
    );
    assert_eq!(
        map(&mut m, &mut w, RAM_IPA, RAM_IPA, 1),
        inv,
        "the same page twice"
    );
    assert_eq!(map(&mut m, &mut w, 0x0800_0000, RAM_IPA, 1), inv, "MMIO");
    assert_eq!(
        map(&mut m, &mut w, RAM_IPA, end, 1),
        inv,
        "past the end of RAM"
    );
    assert_eq!(map(&mut m, &mut w, 0, RAM_IPA, 1), inv, "null");
    assert_eq!(
        map(&mut m, &mut w, RAM_IPA, RAM_IPA + 0x1000, 2),
        inv,
        "two pages"
    );
    assert_eq!(
        map(&mut m, &mut w, RAM_IPA, RAM_IPA + 0x1000, 0),
        inv,
        "no pages"
    );
    assert_eq!(map(&mut m, &mut w, end - 0x1000, RAM_IPA, 1), None);
    assert_eq!(
        map(&mut m, &mut w, RAM_IPA + 0x2000, RAM_IPA + 0x3000, 1),
        Some(status::DENIED),
        "already mapped"
    );
    // SMC32: the upper halves are not part of the address.
    let c2 = caller(2);
    call(&mut m, &mut w, &c2, abi::VERSION, &[0x1_0001]);
    let r = call(
        &mut m,
        &mut w,
        &c2,
        abi::RXTX_MAP_32,
        &[0xffff_0000_0000_0000 | RAM_IPA, RAM_IPA + 0x1000, 1],
    );
    assert!(abi::is_success(&r));
    // Unmap: the caller's ID or 0; then the buffers are gone.
    assert_eq!(
        code(&call(&mut m, &mut w, &c, abi::RXTX_UNMAP, &[7 << 16])),
        inv
    );
    assert!(abi::is_success(&call(
        &mut m,
        &mut w,
        &c,
        abi::RXTX_UNMAP,
        &[2 << 16]
    )));
    assert_eq!(code(&call(&mut m, &mut w, &c, abi::RXTX_UNMAP, &[0])), inv);
    assert_eq!(
        code(&call(&mut m, &mut w, &c, abi::PARTITION_INFO_GET, &[0; 5])),
        Some(status::DENIED)
    );
    // None of this was the firmware's business.
    assert_eq!(w.count(abi::RXTX_MAP_32) + w.count(abi::RXTX_MAP_64), 1);
}

#[test]
fn a_hole_in_guest_ram_is_not_a_buffer() {
    let mut w = FakeWorld::default();
    let mut m = mediator(&mut w);
    let holed = FakeRam {
        holes: alloc::vec![RAM_IPA + 0x5000],
        reserved: Vec::new(),
    };
    let c = Caller {
        domain: 1,
        vcpus: 1,
        ram: &holed,
        forward_partition_info: false,
    };
    call(&mut m, &mut w, &c, abi::VERSION, &[0x1_0001]);
    let r = call(
        &mut m,
        &mut w,
        &c,
        abi::RXTX_MAP_64,
        &[RAM_IPA + 0x5000, RAM_IPA, 1],
    );
    assert_eq!(code(&r), Some(status::INVALID_PARAMETERS));
}
