//! VM created / destroyed messages to the partitions that asked for them.

use super::*;

fn framework_msgs(w: &FakeWorld) -> Vec<(u64, u64, u64)> {
    w.smcs
        .iter()
        .filter(|r| {
            r[0] as u32 == abi::MSG_SEND_DIRECT_REQ_32 && r[2] as u32 & abi::framework::FLAG != 0
        })
        .map(|r| (r[1], r[2], r[5]))
        .collect()
}

#[test]
fn subscribers_hear_of_each_domain_built_and_torn_down() {
    let mut w = FakeWorld::default();
    let mut m = mediator(&mut w);
    m.domain_created(&mut w, 1);
    m.domain_destroyed(&mut w, 1);
    m.domain_created(&mut w, 1);
    // Only 0x8001 subscribes; source 0 (the hypervisor); VM ID = domain + 1.
    assert_eq!(
        framework_msgs(&w),
        [
            (0x8001, 0x8000_0004, 2),
            (0x8001, 0x8000_0006, 2),
            (0x8001, 0x8000_0004, 2)
        ]
    );
    assert!(m.pending_destroy().is_empty());
}

#[test]
fn retry_and_interrupted_are_retried_and_failed_destroys_kept() {
    let mut w = FakeWorld::default();
    let mut m = mediator(&mut w);
    w.direct_answers = alloc::vec![abi::error(status::RETRY), abi::error(status::INTERRUPTED)];
    m.domain_created(&mut w, 3);
    assert_eq!(
        framework_msgs(&w).len(),
        3,
        "two retries then the acknowledgement"
    );
    assert!(w.log.is_empty(), "{:?}", w.log);
    // A destroy that fails for good is kept...
    w.direct_answers = alloc::vec![abi::error(status::ABORTED)];
    m.domain_destroyed(&mut w, 3);
    assert_eq!(m.pending_destroy(), [(4, 0x8001)]);
    assert!(w.log.iter().any(|l| l.contains("will retry")));
    // ...and sent at the next chance.
    m.retry_destroyed(&mut w);
    assert!(m.pending_destroy().is_empty());
    assert_eq!(framework_msgs(&w).last(), Some(&(0x8001, 0x8000_0006, 4)));
    // A partition that keeps answering RETRY: bounded, then kept.
    w.direct_answers = (0..20).map(|_| abi::error(status::RETRY)).collect();
    m.domain_destroyed(&mut w, 5);
    assert_eq!(m.pending_destroy(), [(6, 0x8001)]);
}

#[test]
fn a_wrong_acknowledgement_is_an_error() {
    let mut w = FakeWorld::default();
    let mut m = mediator(&mut w);
    w.direct_answers = alloc::vec![abi::regs(
        abi::MSG_SEND_DIRECT_RESP_32,
        &[0x8001 << 16, 0x8000_0007]
    )];
    m.domain_created(&mut w, 1);
    assert!(
        w.log.iter().any(|l| l.contains("did not acknowledge")),
        "{:?}",
        w.log
    );
}
