//! MEM_SHARE: own, unshared pages only; host addresses for the SPMC;
//! reclaim and teardown.

use super::*;
use crate::ffa::mem_share;

pub use crate::ffa::fake::share_descriptor as descriptor;

fn share(m: &mut Mediator, w: &mut FakeWorld, c: &Caller, d: &[u8]) -> Regs {
    w.write_phys(RAM_PA, d); // the TX buffer (IPA RAM_IPA)
    let n = d.len() as u64;
    call(m, w, c, abi::MEM_SHARE_64, &[n, n, 0, 0])
}

fn setup() -> (Mediator, FakeWorld) {
    let mut w = FakeWorld::default();
    let mut m = mediator(&mut w);
    ready(&mut m, &mut w, &caller(1), Version::V1_1);
    ready(&mut m, &mut w, &caller(2), Version::V1_1);
    (m, w)
}

#[test]
fn a_share_reaches_the_spmc_with_host_addresses_and_is_reclaimed() {
    let (mut m, mut w) = setup();
    let c = caller(1);
    let d = descriptor(
        2,
        0x8001,
        &[
            (RAM_IPA + 0x10000, 2),
            (RAM_IPA + 0x12000, 1),
            (RAM_IPA + 0x20000, 1),
        ],
        4,
    );
    let r = share(&mut m, &mut w, &c, &d);
    assert!(abi::is_success(&r), "{r:x?}");
    let handle = r[2] | r[3] << 32;
    assert_eq!(handle, 0x1_0000_0007);
    // What the SPMC got: contiguous host pages merged, in the hypervisor's TX.
    let sent = w.peek(HV_TX, 48 + 16 + 16 + 32);
    assert_eq!(&sent[0..2], &2u16.to_le_bytes());
    assert_eq!(
        u32::from_le_bytes(sent[68..72].try_into().unwrap()),
        2,
        "two runs"
    );
    assert_eq!(
        u64::from_le_bytes(sent[80..88].try_into().unwrap()),
        RAM_PA + 0x10000
    );
    assert_eq!(u32::from_le_bytes(sent[88..92].try_into().unwrap()), 3);
    assert_eq!(
        u64::from_le_bytes(sent[96..104].try_into().unwrap()),
        RAM_PA + 0x20000
    );
    assert!(m.is_shared(1, RAM_IPA + 0x12000) && !m.is_shared(1, RAM_IPA + 0x13000));
    assert!(!m.is_shared(2, RAM_IPA + 0x12000));
    // The same pages again: refused, without asking the SPMC.
    let before = w.count(abi::MEM_SHARE_64);
    let again = descriptor(2, 0x8002, &[(RAM_IPA + 0x11000, 1)], 1);
    assert_eq!(
        code(&share(&mut m, &mut w, &c, &again)),
        Some(status::DENIED)
    );
    assert_eq!(w.count(abi::MEM_SHARE_64), before);
    // Another domain cannot reclaim it; the owner can.
    let rc = |m: &mut Mediator, w: &mut FakeWorld, c: &Caller| {
        call(
            m,
            w,
            c,
            abi::MEM_RECLAIM,
            &[handle & 0xffff_ffff, handle >> 32, 0],
        )
    };
    assert_eq!(
        code(&rc(&mut m, &mut w, &caller(2))),
        Some(status::INVALID_PARAMETERS)
    );
    assert!(abi::is_success(&rc(&mut m, &mut w, &c)));
    assert!(!m.is_shared(1, RAM_IPA + 0x12000));
    assert_eq!(
        code(&rc(&mut m, &mut w, &c)),
        Some(status::INVALID_PARAMETERS),
        "reclaimed twice"
    );
}

#[test]
fn memory_the_guest_does_not_own_never_reaches_the_spmc() {
    let (mut m, mut w) = setup();
    let c = caller(1);
    let inv = Some(status::INVALID_PARAMETERS);
    // One live share, so every case is also compared against it (a range
    // whose end wraps must not reach that comparison).
    let live = descriptor(2, 0x8001, &[(RAM_IPA + 0x40000, 1)], 1);
    assert!(abi::is_success(&share(&mut m, &mut w, &c, &live)));
    let cases: Vec<(&str, Vec<u8>)> = alloc::vec![
        ("MMIO", descriptor(2, 0x8001, &[(0x0800_0000, 1)], 1)),
        (
            "past the end of RAM",
            descriptor(2, 0x8001, &[(RAM_IPA + RAM_SIZE - 0x1000, 2)], 2)
        ),
        ("null", descriptor(2, 0x8001, &[(0, 1)], 1)),
        (
            "unaligned",
            descriptor(2, 0x8001, &[(RAM_IPA + 0x10, 1)], 1)
        ),
        ("wrapping", descriptor(2, 0x8001, &[(!0xfff, 2)], 2)),
        (
            "a spoofed sender",
            descriptor(3, 0x8001, &[(RAM_IPA + 0x10000, 1)], 1)
        ),
        (
            "a VM as receiver",
            descriptor(2, 3, &[(RAM_IPA + 0x10000, 1)], 1)
        ),
        (
            "a dropped partition",
            descriptor(2, 0x7ff0, &[(RAM_IPA + 0x10000, 1)], 1)
        ),
        (
            "total pages wrong",
            descriptor(2, 0x8001, &[(RAM_IPA + 0x10000, 1)], 2)
        ),
        (
            "zero pages",
            descriptor(2, 0x8001, &[(RAM_IPA + 0x10000, 0)], 0)
        ),
        (
            "overlapping ranges",
            descriptor(
                2,
                0x8001,
                &[(RAM_IPA + 0x10000, 2), (RAM_IPA + 0x11000, 1)],
                3
            )
        ),
        (
            "too many pages",
            descriptor(2, 0x8001, &[(RAM_IPA + 0x10000, 129)], 129)
        ),
    ];
    for (what, d) in &cases {
        assert_eq!(code(&share(&mut m, &mut w, &c, d)), inv, "{what}");
    }
    // Truncated and corrupted descriptors.
    let good = descriptor(2, 0x8001, &[(RAM_IPA + 0x10000, 1)], 1);
    for cut in [0usize, 10, 47, 63, 79, 90] {
        assert!(
            code(&share(&mut m, &mut w, &c, &good[..cut.max(1)])).is_some(),
            "cut at {cut}"
        );
    }
    let mut bad = good.clone();
    bad[52..56].copy_from_slice(&0xffff_fff0u32.to_le_bytes()); // composite offset
    assert_eq!(code(&share(&mut m, &mut w, &c, &bad)), inv);
    let mut bad = good.clone();
    bad[68..72].copy_from_slice(&u32::MAX.to_le_bytes()); // range count
    assert_eq!(code(&share(&mut m, &mut w, &c, &bad)), inv);
    let mut bad = good.clone();
    bad[28..32].copy_from_slice(&2u32.to_le_bytes()); // two receivers
    assert_eq!(
        code(&share(&mut m, &mut w, &c, &bad)),
        Some(status::NOT_SUPPORTED)
    );
    let mut bad = good.clone();
    bad[8] = 1; // a handle chosen by the guest
    assert_eq!(code(&share(&mut m, &mut w, &c, &bad)), inv);
    // Fragments, a buffer other than TX, lengths beyond a page.
    let n = good.len() as u64;
    assert_eq!(
        code(&call(
            &mut m,
            &mut w,
            &c,
            abi::MEM_SHARE_64,
            &[n, n - 1, 0, 0]
        )),
        Some(status::NOT_SUPPORTED)
    );
    assert_eq!(
        code(&call(
            &mut m,
            &mut w,
            &c,
            abi::MEM_SHARE_64,
            &[n, n, RAM_IPA, 1]
        )),
        inv
    );
    assert_eq!(
        code(&call(
            &mut m,
            &mut w,
            &c,
            abi::MEM_SHARE_64,
            &[8192, 8192, 0, 0]
        )),
        inv
    );
    // Only the live share reached the SPMC.
    assert_eq!(w.count(abi::MEM_SHARE_64) + w.count(abi::MEM_SHARE_32), 1);
}

#[test]
fn pages_the_hypervisor_writes_are_never_shared() {
    let (mut m, mut w) = setup();
    // A page holding Xen's shared_info or a vcpu_info area.
    let xen_page = RAM_IPA + 0x30000;
    let ram = FakeRam {
        holes: Vec::new(),
        reserved: alloc::vec![xen_page],
    };
    let c = Caller {
        ram: &ram,
        ..caller(1)
    };
    let before = w.count(abi::MEM_SHARE_64);
    for (what, ipa, pages) in [
        ("a Xen shared page", xen_page, 1),
        ("a range ending on it", xen_page - 0x2000, 3),
        ("its own TX buffer", RAM_IPA, 1),
        ("its own RX buffer", RAM_IPA + 0x1000, 1),
    ] {
        let d = descriptor(2, 0x8001, &[(ipa, pages)], pages);
        assert_eq!(
            code(&share(&mut m, &mut w, &c, &d)),
            Some(status::DENIED),
            "{what}"
        );
    }
    assert_eq!(w.count(abi::MEM_SHARE_64), before, "the SPMC saw none");
    let next = descriptor(2, 0x8001, &[(xen_page + 0x1000, 1)], 1);
    assert!(abi::is_success(&share(&mut m, &mut w, &c, &next)));
}

#[test]
fn sharing_needs_buffers() {
    let mut w = FakeWorld::default();
    let mut m = mediator(&mut w);
    let c = caller(1);
    call(&mut m, &mut w, &c, abi::VERSION, &[0x1_0001]);
    assert_eq!(
        code(&call(
            &mut m,
            &mut w,
            &c,
            abi::MEM_SHARE_32,
            &[80, 80, 0, 0]
        )),
        Some(status::DENIED)
    );
}

/// The same share in v1.0's layout: a 32-byte header with the receiver
/// count at 28 and the access descriptor at 32.
fn descriptor_v1_0(sender: u16, receiver: u16, ranges: &[(u64, u32)]) -> Vec<u8> {
    let total = ranges.iter().map(|r| r.1).sum();
    let v11 = descriptor(sender, receiver, ranges, total);
    let mut d = alloc::vec![0u8; 32];
    d[..24].copy_from_slice(&v11[..24]);
    d[28..32].copy_from_slice(&1u32.to_le_bytes());
    d.extend_from_slice(&v11[48..]);
    d[36..40].copy_from_slice(&48u32.to_le_bytes()); // composite right after
    d
}

#[test]
fn a_v1_0_caller_shares_in_its_layout_and_the_spmc_gets_v1_1() {
    let mut w = FakeWorld::default();
    let mut m = mediator(&mut w);
    let c = caller(4);
    ready(&mut m, &mut w, &c, Version::V1_0);
    let d = descriptor_v1_0(5, 0x8001, &[(RAM_IPA + 0x10000, 2)]);
    let r = share(&mut m, &mut w, &c, &d);
    assert!(abi::is_success(&r), "{r:x?}");
    let sent = w.peek(HV_TX, 96);
    let v11 = descriptor(5, 0x8001, &[(RAM_PA + 0x10000, 2)], 2);
    assert_eq!(sent, &v11[..96], "the v1.1 layout, host addresses");
    assert!(m.is_shared(4, RAM_IPA + 0x11000));
}

#[test]
fn v1_0_descriptors_are_checked_before_their_layout_changes() {
    let d = descriptor_v1_0(5, 0x8001, &[(RAM_IPA, 1)]);
    let up = mem_share::upgrade_v1_0(&d).unwrap();
    assert_eq!(up, descriptor(5, 0x8001, &[(RAM_IPA, 1)], 1));
    let with = |at: usize, v: u32| {
        let mut b = d.clone();
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        mem_share::upgrade_v1_0(&b)
    };
    let inv = Err(status::INVALID_PARAMETERS);
    assert_eq!(with(24, 1), inv, "reserved word");
    assert_eq!(with(28, 0), inv, "no receiver");
    assert_eq!(with(28, 2), Err(status::NOT_SUPPORTED), "two receivers");
    assert_eq!(with(36, 40), inv, "composite inside the access descriptor");
    let mut reserved_byte = d.clone();
    reserved_byte[3] = 1;
    assert_eq!(mem_share::upgrade_v1_0(&reserved_byte), inv);
    for len in [0, 3, 31, 36, 39] {
        assert_eq!(mem_share::upgrade_v1_0(&d[..len]), inv, "{len} bytes");
    }
    // A composite offset past the end survives the move and is refused
    // by the ordinary check, before the SPMC sees anything.
    let mut w = FakeWorld::default();
    let mut m = mediator(&mut w);
    let c = caller(4);
    ready(&mut m, &mut w, &c, Version::V1_0);
    let mut far = d.clone();
    far[36..40].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    assert!(mem_share::upgrade_v1_0(&far).is_ok());
    assert_eq!(
        code(&share(&mut m, &mut w, &c, &far)),
        Some(status::INVALID_PARAMETERS)
    );
    assert_eq!(w.count(abi::MEM_SHARE_64), 0);
}

#[test]
fn at_most_32_live_shares_per_domain() {
    let (mut m, mut w) = setup();
    let c = caller(1);
    for i in 0..32u64 {
        let d = descriptor(2, 0x8001, &[(RAM_IPA + 0x10000 + i * 0x1000, 1)], 1);
        assert!(abi::is_success(&share(&mut m, &mut w, &c, &d)), "share {i}");
    }
    let d = descriptor(2, 0x8001, &[(RAM_IPA + 0x80000, 1)], 1);
    assert_eq!(
        code(&share(&mut m, &mut w, &c, &d)),
        Some(status::NO_MEMORY)
    );
}

#[test]
fn teardown_reclaims_and_keeps_what_the_partition_holds() {
    let (mut m, mut w) = setup();
    let c = caller(1);
    for i in 0..2u64 {
        let d = descriptor(2, 0x8001, &[(RAM_IPA + 0x10000 + i * 0x1000, 1)], 1);
        assert!(abi::is_success(&share(&mut m, &mut w, &c, &d)));
    }
    let d = descriptor(3, 0x8002, &[(RAM_IPA + 0x10000, 1)], 1);
    assert!(abi::is_success(&share(&mut m, &mut w, &caller(2), &d)));
    m.domain_destroyed(&mut w, 1);
    assert_eq!(m.shares().len(), 1, "domain 2's share stays");
    assert_eq!(w.count(abi::MEM_RECLAIM), 2);
    // A partition that still holds a share: the pages stay marked shared.
    w.refuse_reclaim = true;
    m.domain_destroyed(&mut w, 2);
    assert!(m.is_shared(2, RAM_IPA + 0x10000));
    assert!(
        w.log
            .iter()
            .any(|l| l.contains("not reclaimed from 0x8002 (DENIED)")),
        "{:?}",
        w.log
    );
    // The domain's next life: the orphan's handle is not its own, its pages
    // cannot be shared again.
    ready(&mut m, &mut w, &caller(2), Version::V1_1);
    let h = m.shares()[0].handle;
    assert_eq!(
        code(&call(
            &mut m,
            &mut w,
            &caller(2),
            abi::MEM_RECLAIM,
            &[h & 0xffff_ffff, h >> 32, 0]
        )),
        Some(status::INVALID_PARAMETERS)
    );
    w.refuse_reclaim = false;
    let again = descriptor(3, 0x8001, &[(RAM_IPA + 0x10000, 1)], 1);
    assert_eq!(
        code(&share(&mut m, &mut w, &caller(2), &again)),
        Some(status::DENIED)
    );
    // Each domain event retries; once the partition lets go it succeeds.
    let before = w.count(abi::MEM_RECLAIM);
    m.retry_destroyed(&mut w);
    assert_eq!(w.count(abi::MEM_RECLAIM), before + 1);
    assert!(m.shares().is_empty() && !m.is_shared(2, RAM_IPA + 0x10000));
    assert!(w.log.iter().any(|l| l.contains("reclaimed at last")));
    m.retry_destroyed(&mut w);
    assert_eq!(
        w.count(abi::MEM_RECLAIM),
        before + 1,
        "nothing left to retry"
    );
}
