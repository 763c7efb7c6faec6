//! Direct requests: the caller's own ID as source, secure partitions that
//! receive them as destination, no framework messages from guests.

use super::*;

fn req(m: &mut Mediator, w: &mut FakeWorld, c: &Caller, fid: u32, w1: u64, w2: u64) -> Regs {
    call(m, w, c, fid, &[w1, w2, 0, 41, 0, 0, 0])
}

#[test]
fn forwarded_with_the_callers_id_to_secure_partitions() {
    let mut w = FakeWorld::default();
    let mut m = mediator(&mut w);
    let c = caller(1);
    call(&mut m, &mut w, &c, abi::VERSION, &[0x1_0001]);
    for (fid, resp) in [
        (abi::MSG_SEND_DIRECT_REQ_32, abi::MSG_SEND_DIRECT_RESP_32),
        (abi::MSG_SEND_DIRECT_REQ_64, abi::MSG_SEND_DIRECT_RESP_64),
    ] {
        for sp in [0x8001u64, 0x8002, 0xc001] {
            let r = req(&mut m, &mut w, &c, fid, 2 << 16 | sp, 0);
            assert_eq!(r[0] as u32, resp);
            assert_eq!(r[1], sp << 16 | 2);
            assert_eq!(r[4], 42);
            assert!(
                r[8..].iter().all(|&v| v == 0),
                "secure registers beyond x7 leaked"
            );
        }
    }
    // SMC32: arguments are masked before they reach the firmware.
    req(
        &mut m,
        &mut w,
        &c,
        abi::MSG_SEND_DIRECT_REQ_32,
        0xffff_ffff_0000_0000 | 2 << 16 | 0x8001,
        0,
    );
    let last = w.smcs.last().unwrap();
    assert_eq!(last[1], 2 << 16 | 0x8001);
}

#[test]
fn spoofed_sources_and_bad_destinations_never_reach_the_firmware() {
    let mut w = FakeWorld::default();
    let mut m = mediator(&mut w);
    let c = caller(1);
    call(&mut m, &mut w, &c, abi::VERSION, &[0x1_0001]);
    let before = w.smcs.len();
    let inv = Some(status::INVALID_PARAMETERS);
    let f = abi::MSG_SEND_DIRECT_REQ_64;
    assert_eq!(
        code(&req(&mut m, &mut w, &c, f, 3 << 16 | 0x8001, 0)),
        inv,
        "another VM's ID"
    );
    assert_eq!(
        code(&req(&mut m, &mut w, &c, f, 0x8001, 0)),
        inv,
        "the hypervisor's ID"
    );
    assert_eq!(
        code(&req(&mut m, &mut w, &c, f, 0x8002 << 16 | 0x8001, 0)),
        inv,
        "a partition's ID"
    );
    assert_eq!(
        code(&req(&mut m, &mut w, &c, f, 1 << 32 | 2 << 16 | 0x8001, 0)),
        inv,
        "bits above w1"
    );
    assert_eq!(
        code(&req(&mut m, &mut w, &c, f, 2 << 16 | 0x8001, 0x8000_0004)),
        inv,
        "a forged VM-created message"
    );
    assert_eq!(
        code(&req(&mut m, &mut w, &c, f, 2 << 16 | 0x8009, 0)),
        inv,
        "no such partition"
    );
    assert_eq!(
        code(&req(&mut m, &mut w, &c, f, 2 << 16 | 3, 0)),
        Some(status::NOT_SUPPORTED),
        "a VM"
    );
    assert_eq!(
        code(&req(&mut m, &mut w, &c, f, 2 << 16 | 2, 0)),
        Some(status::NOT_SUPPORTED),
        "itself"
    );
    assert_eq!(w.smcs.len(), before);
}

#[test]
fn without_the_firmwares_support_direct_requests_are_not_offered() {
    let mut w = FakeWorld {
        features: alloc::vec![],
        ..Default::default()
    };
    let mut m = mediator(&mut w);
    let c = caller(1);
    call(&mut m, &mut w, &c, abi::VERSION, &[0x1_0001]);
    let r = req(
        &mut m,
        &mut w,
        &c,
        abi::MSG_SEND_DIRECT_REQ_32,
        2 << 16 | 0x8001,
        0,
    );
    assert_eq!(code(&r), Some(status::NOT_SUPPORTED));
}

#[test]
fn partitions_that_do_not_receive_requests_are_not_destinations() {
    let mut w = FakeWorld::default();
    w.sps.push(Sp {
        id: 0x8004,
        ctx: 1,
        props: abi::props::AARCH64,
        uuid: uuid(4),
    });
    let mut m = mediator(&mut w);
    let c = caller(1);
    call(&mut m, &mut w, &c, abi::VERSION, &[0x1_0001]);
    let r = req(
        &mut m,
        &mut w,
        &c,
        abi::MSG_SEND_DIRECT_REQ_64,
        2 << 16 | 0x8004,
        0,
    );
    assert_eq!(code(&r), Some(status::INVALID_PARAMETERS));
}
