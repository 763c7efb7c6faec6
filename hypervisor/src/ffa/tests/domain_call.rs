//! A domain's calls through `domain_call`: its Xen shared areas are
//! reserved for MEM_SHARE, and the mediator records the share it forwards.

use super::mem_share::descriptor;
use super::*;
use crate::ffa::domain_call;
use crate::hypercall::xen::fake::{World, RAM};

fn go(
    d: &crate::domain::Domain,
    m: &spin::Mutex<Mediator>,
    w: &mut FakeWorld,
    fid: u32,
    args: &[u64],
) -> Regs {
    match domain_call::handle(d, m, w, &abi::regs(fid, args)) {
        Action::Reply(r) => r,
        Action::Forward(f) => crate::ffa::forwarded_reply(&w.smc(&f)),
    }
}

#[test]
fn a_page_holding_shared_info_is_never_shared_through_a_domain_call() {
    let mut w = FakeWorld::default();
    let m = spin::Mutex::new(mediator(&mut w));
    let world = World::new(&[1], 8, 1);
    let d = &world.domains[0];
    let page = |n: u64| RAM + n * 4096;
    assert_eq!(go(d, &m, &mut w, abi::VERSION, &[0x1_0001])[0], 0x1_0002);
    assert!(abi::is_success(&go(
        d,
        &m,
        &mut w,
        abi::RXTX_MAP_64,
        &[page(0), page(1), 1]
    )));
    d.xen
        .lock()
        .areas
        .place_shared(&d.banks, page(3) / 4096)
        .unwrap();
    let tx_pa = d.banks[0].pa;
    let share = |w: &mut FakeWorld, n: u64| {
        let desc = descriptor(2, 0x8001, &[(page(n), 1)], 1);
        w.write_phys(tx_pa, &desc);
        let len = desc.len() as u64;
        go(d, &m, w, abi::MEM_SHARE_64, &[len, len, 0, 0])
    };
    assert_eq!(abi::error_code(&share(&mut w, 3)), Some(status::DENIED));
    assert_eq!(w.count(abi::MEM_SHARE_64), 0, "the SPMC never saw it");
    assert!(abi::is_success(&share(&mut w, 4)));
    assert!(m.lock().is_shared(1, page(4)));
}
