//! The Xen hypercalls against the fake environment (`super::fake`).

use super::abi::*;
use super::fake::*;
use super::*;

fn add_to_physmap(space: u32, idx: u64, gpfn: u64) -> [u8; 24] {
    let mut b = [0u8; 24];
    put_u16(&mut b, 0, DOMID_SELF);
    put_u32(&mut b, 4, space);
    put_u64(&mut b, 8, idx);
    put_u64(&mut b, 16, gpfn);
    b
}

fn port_arg(port: u32) -> [u8; 4] {
    port.to_le_bytes()
}

#[test]
fn version_and_features() {
    let w = World::new(&[0, 1], 8, 2);
    let d0 = w.as_(0, 0);
    assert_eq!(d0.call(nr::XEN_VERSION, [0, 0, 0]), 0x4_0013);
    assert_eq!(d0.call(nr::XEN_VERSION, [xenver::PAGESIZE, 0, 0]), 4096);
    assert_eq!(d0.call_with(nr::XEN_VERSION, 6, ARG, &[0; 8]), 0);
    let f = u32_at(&d0.read_back::<8>(ARG), 4);
    assert_eq!(f, features(true, false));
    assert_ne!(f & (1 << feature::DOM0), 0);
    let d1 = w.as_(1, 0);
    assert_eq!(d1.call_with(nr::XEN_VERSION, 6, ARG, &[0; 8]), 0);
    assert_eq!(u32_at(&d1.read_back::<8>(ARG), 4) & (1 << feature::DOM0), 0);
    assert_eq!(
        d1.call_with(nr::XEN_VERSION, 6, ARG, &[1, 0, 0, 0, 0, 0, 0, 0]),
        errno::EINVAL
    );
    assert_eq!(d1.call(nr::XEN_VERSION, [6, 0x10, 0]), errno::EFAULT);
    assert_eq!(d0.call(nr::XEN_VERSION, [xenver::EXTRAVERSION, ARG, 0]), 0);
    assert_eq!(&d0.read_back::<9>(ARG), b"-halyard\0");
    assert_eq!(d0.call(nr::XEN_VERSION, [xenver::CAPABILITIES, ARG, 0]), 0);
    assert_eq!(d0.call(nr::XEN_VERSION, [99, ARG, 0]), errno::ENOSYS);
}

use super::version::features;

#[test]
fn shared_info_is_placed_and_moved_and_grant_frames_are_fixed() {
    let w = World::new(&[0], 8, 1);
    let d = w.as_(0, 0);
    let gfn = RAM / 4096;
    assert_eq!(
        d.call_with(nr::MEMORY_OP, 7, ARG, &add_to_physmap(0, 0, gfn + 2)),
        0
    );
    assert_eq!(w.domains[0].xen.lock().areas.shared_gfn(), Some(gfn + 2));
    assert_eq!(
        d.call_with(nr::MEMORY_OP, 7, ARG, &add_to_physmap(0, 0, gfn + 3)),
        0
    );
    assert_eq!(w.domains[0].xen.lock().areas.shared_gfn(), Some(gfn + 3));
    // Not RAM, a bad idx, an unknown space.
    assert_eq!(
        d.call_with(nr::MEMORY_OP, 7, ARG, &add_to_physmap(0, 0, 0x10)),
        errno::EINVAL
    );
    assert_eq!(
        d.call_with(nr::MEMORY_OP, 7, ARG, &add_to_physmap(0, 1, gfn)),
        errno::EINVAL
    );
    // Xen on Arm: a space it does not map (gmfn, gmfn_range, unknown)
    // is -ENOSYS; gmfn_foreign outside a batch is -EINVAL.
    for space in [2, 3, 9, u32::MAX] {
        assert_eq!(
            d.call_with(nr::MEMORY_OP, 7, ARG, &add_to_physmap(space, 0, gfn)),
            errno::ENOSYS,
            "space {space}"
        );
    }
    assert_eq!(
        d.call_with(nr::MEMORY_OP, 7, ARG, &add_to_physmap(4, 0, gfn)),
        errno::EINVAL
    );
    // Grant frames: only where the device tree put them.
    let g = 0x3800_0000 / 4096;
    assert_eq!(
        d.call_with(nr::MEMORY_OP, 7, ARG, &add_to_physmap(1, 0, g)),
        0
    );
    assert_eq!(
        d.call_with(nr::MEMORY_OP, 7, ARG, &add_to_physmap(1, 3, g + 3)),
        0
    );
    assert_eq!(
        d.call_with(nr::MEMORY_OP, 7, ARG, &add_to_physmap(1, 4, g + 4)),
        errno::EINVAL
    );
    assert_eq!(
        d.call_with(nr::MEMORY_OP, 7, ARG, &add_to_physmap(1, 0, gfn)),
        errno::EINVAL
    );
    assert_eq!(
        d.call_with(nr::MEMORY_OP, 7, ARG, &add_to_physmap(1, 1 << 31, g)),
        errno::EINVAL
    );
    assert_eq!(d.call(nr::MEMORY_OP, [7, 0, 0]), errno::EFAULT);
    assert_eq!(d.call(nr::MEMORY_OP, [1, ARG, 0]), errno::ENOSYS);
    // Grant table size and version.
    let mut q = [0u8; 16];
    put_u16(&mut q, 0, DOMID_SELF);
    d.write(ARG, &q).unwrap();
    assert_eq!(d.call(nr::GRANT_TABLE_OP, [6, ARG, 1]), 0);
    let r = d.read_back::<16>(ARG);
    assert_eq!((u32_at(&r, 4), u32_at(&r, 8), u16_at(&r, 12)), (4, 4, 0));
    assert_eq!(d.call(nr::GRANT_TABLE_OP, [6, ARG, 2]), errno::EINVAL);
    assert_eq!(
        d.call(nr::GRANT_TABLE_OP, [6, ARG, u64::from(u32::MAX)]),
        errno::EINVAL
    );
    assert_eq!(d.call(nr::GRANT_TABLE_OP, [6, 0, 1]), errno::EFAULT);
    assert_eq!(
        d.call_with(nr::GRANT_TABLE_OP, 8, ARG, &1u32.to_le_bytes()),
        errno::EINVAL
    );
    d.write(ARG, &1u32.to_le_bytes()).unwrap();
    assert_eq!(d.call(nr::GRANT_TABLE_OP, [8, ARG, 1]), 0);
    // Xen with grant tables v1 only (Arm's default, max_version 1):
    // version 2 is -ENOSYS ("as before set_version was introduced"), any
    // other version -EINVAL.
    d.write(ARG, &2u32.to_le_bytes()).unwrap();
    assert_eq!(d.call(nr::GRANT_TABLE_OP, [8, ARG, 1]), errno::ENOSYS);
    for v in [0u32, 3, u32::MAX] {
        d.write(ARG, &v.to_le_bytes()).unwrap();
        assert_eq!(d.call(nr::GRANT_TABLE_OP, [8, ARG, 1]), errno::EINVAL);
    }
    assert_eq!(d.call(nr::GRANT_TABLE_OP, [12, 0, 0]), errno::ENOSYS);
}

fn register(c: &Caller<'_>, vcpu: u64, mfn: u64, offset: u32) -> i64 {
    let mut b = [0xeeu8; 16];
    put_u64(&mut b, 0, mfn);
    put_u32(&mut b, 8, offset);
    c.write(ARG, &b).unwrap();
    c.call(nr::VCPU_OP, [vcpu_op::REGISTER_VCPU_INFO, vcpu, ARG])
}

#[test]
fn vcpu_info_registration() {
    let w = World::new(&[0], 8, 2);
    let c = w.as_(0, 0);
    let gfn = RAM / 4096;
    assert_eq!(register(&c, 2, gfn, 0), errno::ENOENT);
    assert_eq!(register(&c, 0xffff_ffff, gfn, 0), errno::ENOENT);
    assert_eq!(register(&c, 0, gfn, 4096), errno::EINVAL);
    assert_eq!(register(&c, 0, gfn, 4), errno::ENXIO);
    assert_eq!(register(&c, 0, gfn, 4096 - 16), errno::ENXIO);
    assert_eq!(register(&c, 0, 0x10, 0), errno::EINVAL);
    assert_eq!(register(&c, 0, 0x8000, 0), errno::EINVAL);
    assert_eq!(c.call(nr::VCPU_OP, [10, 0, 0]), errno::EFAULT);
    assert_eq!(c.call(nr::VCPU_OP, [0, 0, ARG]), errno::EINVAL);
    assert!(w.raised.borrow().is_empty());
    // vCPU 0 registers vCPU 1 (which may be running) first, then itself,
    // both on one page; each gets its spurious upcall.
    assert_eq!(register(&c, 1, gfn + 1, 64), 0);
    assert_eq!(register(&c, 0, gfn + 1, 0), 0);
    assert_eq!(*w.raised.borrow(), [(0, 1), (0, 0)]);
    let page = w.area(0, RAM + 4096, 4096);
    for off in [0, 64] {
        assert_eq!(page.load_u8(off), Some(1));
        assert_eq!(page.load_u64(off + 8), Some(u64::MAX));
    }
    assert_eq!(register(&c, 1, gfn + 2, 0), errno::EBUSY);
    assert_eq!(register(&c, 0, gfn + 1, 0), errno::EBUSY);
}

#[test]
fn pages_shared_with_the_secure_world_hold_no_xen_area() {
    let w = World::new(&[0, 1], 8, 2);
    let gfn = RAM / 4096;
    w.ffa_shared.borrow_mut().push((0, RAM + 3 * 4096));
    let d0 = w.as_(0, 0);
    assert_eq!(
        d0.call_with(nr::MEMORY_OP, 7, ARG, &add_to_physmap(0, 0, gfn + 3)),
        errno::EBUSY
    );
    assert_eq!(w.domains[0].xen.lock().areas.shared_gfn(), None);
    assert_eq!(register(&d0, 1, gfn + 3, 64), errno::EBUSY);
    // The page next to it, and the same page in another domain, are fine.
    assert_eq!(
        d0.call_with(nr::MEMORY_OP, 7, ARG, &add_to_physmap(0, 0, gfn + 4)),
        0
    );
    assert_eq!(register(&d0, 1, gfn + 5, 64), 0);
    let d1 = w.as_(1, 0);
    assert_eq!(
        d1.call_with(nr::MEMORY_OP, 7, ARG, &add_to_physmap(0, 0, gfn + 3)),
        0
    );
}

/// Bind an IPI port for `vcpu`; its number.
fn bind_ipi(c: &Caller<'_>, vcpu: u32) -> u32 {
    let mut b = [0u8; 8];
    put_u32(&mut b, 0, vcpu);
    assert_eq!(
        c.call_with(nr::EVENT_CHANNEL_OP, evtchn_op::BIND_IPI, ARG, &b),
        0
    );
    u32_at(&c.read_back::<8>(ARG), 4)
}

#[test]
fn events_reach_the_registered_area_of_their_vcpu() {
    let w = World::new(&[0], 8, 2);
    let c = w.as_(0, 0);
    let gfn = RAM / 4096;
    assert_eq!(
        c.call_with(nr::MEMORY_OP, 7, ARG, &add_to_physmap(0, 0, gfn)),
        0
    );
    assert_eq!(register(&c, 1, gfn + 1, 64), 0);
    let v1 = w.area(0, RAM + 4096 + 64, 48);
    // Acknowledge the spurious upcall as Linux would.
    v1.swap_u8(0, 0);
    v1.store_u64(8, 0);
    w.raised.borrow_mut().clear();
    let p = bind_ipi(&c, 1);
    assert_eq!(p, 1);
    assert_eq!(c.call_with(nr::EVENT_CHANNEL_OP, 4, ARG, &port_arg(p)), 0);
    assert_eq!(*w.raised.borrow(), [(0, 1)]);
    assert_eq!(v1.load_u8(0), Some(1));
    assert_eq!(v1.load_u64(8), Some(1));
    let sh = w.area(0, RAM, 4096);
    assert_eq!(sh.load_u64(shared_info::EVTCHN_PENDING), Some(1 << p));
    // Pending already: no second interrupt.
    assert_eq!(c.call_with(nr::EVENT_CHANNEL_OP, 4, ARG, &port_arg(p)), 0);
    assert_eq!(w.raised.borrow().len(), 1);
    // Masked: only the pending bit; unmask delivers it.
    sh.store_u64(shared_info::EVTCHN_PENDING, 0).unwrap();
    v1.swap_u8(0, 0);
    v1.store_u64(8, 0);
    sh.store_u64(shared_info::EVTCHN_MASK, 1 << p).unwrap();
    assert_eq!(c.call_with(nr::EVENT_CHANNEL_OP, 4, ARG, &port_arg(p)), 0);
    assert_eq!(v1.load_u8(0), Some(0));
    assert_eq!(c.call_with(nr::EVENT_CHANNEL_OP, 9, ARG, &port_arg(p)), 0);
    assert_eq!(v1.load_u8(0), Some(1));
    assert_eq!(sh.load_u64(shared_info::EVTCHN_MASK), Some(0));
    assert_eq!(w.raised.borrow().len(), 2);
}

#[test]
fn event_channel_errors_and_status() {
    let w = World::new(&[0, 1], 8, 2);
    let c = w.as_(1, 0);
    let op = |cmd, port: u32| c.call_with(nr::EVENT_CHANNEL_OP, cmd, ARG, &port_arg(port));
    for cmd in [evtchn_op::SEND, evtchn_op::CLOSE, evtchn_op::UNMASK] {
        assert_eq!(op(cmd, 0), errno::EINVAL);
        assert_eq!(op(cmd, 1000), errno::EINVAL);
        assert_eq!(op(cmd, u32::MAX), errno::EINVAL);
        assert_eq!(c.call(nr::EVENT_CHANNEL_OP, [cmd, 0, 0]), errno::EFAULT);
    }
    assert_eq!(c.call(nr::EVENT_CHANNEL_OP, [11, ARG, 0]), errno::ENOSYS);
    // VIRQ binding rules.
    let bind_virq = |virq: u32, vcpu: u32| {
        let mut b = [0u8; 12];
        put_u32(&mut b, 0, virq);
        put_u32(&mut b, 4, vcpu);
        let rc = c.call_with(nr::EVENT_CHANNEL_OP, evtchn_op::BIND_VIRQ, ARG, &b);
        (rc, u32_at(&c.read_back::<12>(ARG), 8))
    };
    assert_eq!(bind_virq(virq::CONSOLE, 0), (0, 1));
    assert_eq!(bind_virq(virq::CONSOLE, 0).0, errno::EEXIST);
    // Xen checks a global VIRQ's vCPU before the vCPU exists: -EINVAL
    // for any vCPU but 0, existing or not.
    assert_eq!(bind_virq(virq::CONSOLE, 1).0, errno::EINVAL);
    assert_eq!(bind_virq(virq::CONSOLE, 9).0, errno::EINVAL);
    assert_eq!(bind_virq(virq::TIMER, 1), (0, 2));
    assert_eq!(bind_virq(virq::NR, 0).0, errno::EINVAL);
    assert_eq!(bind_virq(virq::TIMER, 9).0, errno::ENOENT);
    // Sending on a VIRQ port is refused; closing twice is an error.
    assert_eq!(op(evtchn_op::SEND, 1), errno::EINVAL);
    assert_eq!(op(evtchn_op::CLOSE, 2), 0);
    assert_eq!(op(evtchn_op::CLOSE, 2), errno::EINVAL);
    // Status of a VIRQ port, a closed one, and another domain's.
    let status = |dom: u16, port: u32| {
        let mut b = [0u8; 24];
        put_u16(&mut b, 0, dom);
        put_u32(&mut b, 4, port);
        let rc = c.call_with(nr::EVENT_CHANNEL_OP, evtchn_op::STATUS, ARG, &b);
        let r = c.read_back::<24>(ARG);
        (rc, u32_at(&r, 8), u32_at(&r, 16))
    };
    assert_eq!(
        status(DOMID_SELF, 1),
        (0, evtchn_op::STAT_VIRQ, virq::CONSOLE)
    );
    assert_eq!(status(1, 2), (0, evtchn_op::STAT_CLOSED, 0));
    assert_eq!(status(1, 63), (0, evtchn_op::STAT_CLOSED, 0));
    assert_eq!(status(1, 1000).0, errno::EINVAL);
    assert_eq!(status(DOMID_SELF, u32::MAX).0, errno::EINVAL);
    assert_eq!(status(0, 1).0, errno::EPERM);
    assert_eq!(status(7, 1).0, errno::ESRCH);
    // A result that cannot be written back leaves no port behind.
    let mut b = [0u8; 8];
    put_u32(&mut b, 0, 0);
    let end = RAM + 8 * 4096 - 4;
    c.write(end, &b[..4]).unwrap();
    assert_eq!(
        c.call(nr::EVENT_CHANNEL_OP, [evtchn_op::BIND_IPI, end, 0]),
        errno::EFAULT
    );
    assert_eq!(bind_ipi(&c, 0), 2);
}

/// Domain `id`'s first word of pending event bits.
fn pending_word(w: &World, id: usize) -> u64 {
    let d = &w.domains[id];
    let sh = d.xen.lock().areas.shared(&d.banks).unwrap();
    sh.load_u64(shared_info::EVTCHN_PENDING).unwrap()
}

/// EVTCHNOP_bind_interdomain to `port` of `dom`: (rc, the local port).
fn bind(c: &Caller<'_>, dom: u16, port: u32) -> (i64, u32) {
    let mut b = [0u8; 12];
    put_u16(&mut b, 0, dom);
    put_u32(&mut b, 4, port);
    let rc = c.call_with(nr::EVENT_CHANNEL_OP, evtchn_op::BIND_INTERDOMAIN, ARG, &b);
    (rc, u32_at(&c.read_back::<12>(ARG), 8))
}

#[test]
fn interdomain_channels_connect_and_disconnect() {
    let w = World::new(&[0, 1], 8, 2);
    let (d0, d1) = (w.as_(0, 0), w.as_(1, 0));
    // d1 offers a port to d0; d0 binds it.
    let mut b = [0u8; 8];
    put_u16(&mut b, 0, DOMID_SELF);
    put_u16(&mut b, 2, 0);
    assert_eq!(
        d1.call_with(nr::EVENT_CHANNEL_OP, evtchn_op::ALLOC_UNBOUND, ARG, &b),
        0
    );
    let p1 = u32_at(&d1.read_back::<8>(ARG), 4);
    // d1 itself may not bind it (it is offered to d0); unknown domain.
    assert_eq!(bind(&d1, DOMID_SELF, p1).0, errno::EINVAL);
    assert_eq!(bind(&d0, 5, p1).0, errno::ESRCH);
    let (rc, p0) = bind(&d0, 1, p1);
    assert_eq!(rc, 0);
    assert_eq!(bind(&d0, 1, p1).0, errno::EINVAL);
    // Each side's send lands in the other's shared_info.
    let send = |c: &Caller<'_>, p: u32| c.call_with(nr::EVENT_CHANNEL_OP, 4, ARG, &port_arg(p));
    assert_eq!(send(&d0, p0), 0);
    let sh1 = w.domains[1]
        .xen
        .lock()
        .areas
        .shared(&w.domains[1].banks)
        .unwrap();
    assert_eq!(sh1.load_u64(shared_info::EVTCHN_PENDING), Some(1 << p1));
    assert_eq!(send(&d1, p1), 0);
    let sh0 = w.domains[0]
        .xen
        .lock()
        .areas
        .shared(&w.domains[0].banks)
        .unwrap();
    assert_ne!(
        sh0.load_u64(shared_info::EVTCHN_PENDING).unwrap() & (1 << p0),
        0
    );
    // d0 closes: d1's end waits for d0 again and its sends are dropped.
    assert_eq!(d0.call_with(nr::EVENT_CHANNEL_OP, 3, ARG, &port_arg(p0)), 0);
    let c = w.domains[1].xen.lock().ports.get(p1).unwrap();
    assert_eq!(
        c.binding,
        crate::domain::events::Binding::Unbound { remote: 0 }
    );
    assert_eq!(send(&d1, p1), 0);
    assert_eq!(
        sh0.load_u64(shared_info::EVTCHN_PENDING).unwrap() & (1 << p0),
        0
    );
    // A domU may not allocate in dom0's table.
    put_u16(&mut b, 0, 0);
    assert_eq!(d1.call_with(nr::EVENT_CHANNEL_OP, 6, ARG, &b), errno::EPERM);
}

#[test]
fn console_shutdown_and_the_rest() {
    let w = World::new(&[0, 1], 8, 1);
    let (d0, d1) = (w.as_(0, 0), w.as_(1, 0));
    d0.write(ARG, b"hello").unwrap();
    assert_eq!(d0.call(nr::CONSOLE_IO, [0, 5, ARG]), 0);
    assert_eq!(&*w.out.borrow(), b"hello");
    assert_eq!(d0.call(nr::CONSOLE_IO, [0, 1 << 40, ARG]), errno::EINVAL);
    assert_eq!(d0.call(nr::CONSOLE_IO, [0, 16, 0x1000]), errno::EFAULT);
    w.input.borrow_mut().extend_from_slice(b"ls\n");
    assert_eq!(d1.call(nr::CONSOLE_IO, [1, 16, ARG]), errno::EPERM);
    // A bad buffer takes nothing out of the input.
    assert_eq!(
        d0.call(nr::CONSOLE_IO, [1, 16, RAM + 8 * 4096 - 8]),
        errno::EFAULT
    );
    assert_eq!(d0.call(nr::CONSOLE_IO, [1, 16, ARG]), 3);
    assert_eq!(&d0.read_back::<3>(ARG), b"ls\n");
    assert_eq!(d0.call(nr::CONSOLE_IO, [1, 16, ARG]), 0);
    assert_eq!(d0.call(nr::CONSOLE_IO, [7, 16, ARG]), errno::ENOSYS);
    // sched_op.
    let sched = |c: &Caller<'_>, cmd: u64, reason: u32| {
        c.write(ARG, &reason.to_le_bytes()).unwrap();
        handle(nr::SCHED_OP, &[cmd, ARG, 0, 0, 0], c)
    };
    assert_eq!(sched(&d0, 2, 0), Outcome::Shutdown { reboot: false });
    assert_eq!(sched(&d0, 2, 1), Outcome::Shutdown { reboot: true });
    assert_eq!(sched(&d0, 0, 0), Outcome::Return(0));
    // vCPU 0's legacy slot has its upcall flag set (nothing registered):
    // block returns at once; clear, it blocks.
    let sh = w.domains[0]
        .xen
        .lock()
        .areas
        .shared(&w.domains[0].banks)
        .unwrap();
    sh.swap_u8(0, 1);
    assert_eq!(sched(&d0, 1, 0), Outcome::Return(0));
    sh.swap_u8(0, 0);
    assert_eq!(sched(&d0, 1, 0), Outcome::Block);
    assert_eq!(sched(&d0, 99, 0), Outcome::Return(errno::ENOSYS));
    assert_eq!(
        handle(nr::SCHED_OP, &[2, 0, 0, 0, 0], &d0),
        Outcome::Return(errno::EFAULT)
    );
    // vm_assist, hvm params, physdev and the unknown.
    assert_eq!(d0.call(nr::VM_ASSIST, [0, 5, 0]), 0);
    assert_eq!(d0.call(nr::VM_ASSIST, [0, 1, 0]), errno::EINVAL);
    let mut p = [0u8; 16];
    put_u16(&mut p, 0, DOMID_SELF);
    assert_eq!(d0.call_with(nr::HVM_OP, 1, ARG, &p), 0);
    assert_eq!(
        u64_at(&d0.read_back::<16>(ARG), 8),
        (2 << 56) | (1 << 9) | 31
    );
    put_u32(&mut p, 4, 2);
    assert_eq!(d0.call_with(nr::HVM_OP, 1, ARG, &p), 0);
    assert_eq!(u64_at(&d0.read_back::<16>(ARG), 8), 0);
    put_u32(&mut p, 4, 1000);
    assert_eq!(d0.call_with(nr::HVM_OP, 1, ARG, &p), errno::EINVAL);
    for n in [nr::PHYSDEV_OP, 13, 35, 36, 41, 4242, u64::MAX] {
        assert_eq!(d0.call(n, [0, ARG, 0]), errno::ENOSYS, "hypercall {n}");
    }
}

#[test]
fn settime_updates_every_domains_wallclock() {
    let w = World::new(&[0, 1], 8, 1);
    let (d0, d1) = (w.as_(0, 0), w.as_(1, 0));
    assert_eq!(
        d1.call_with(nr::MEMORY_OP, 7, ARG, &add_to_physmap(0, 0, RAM / 4096)),
        0
    );
    let mut b = [0u8; 32];
    put_u32(&mut b, 0, platform_op::SETTIME64);
    put_u32(&mut b, 4, platform_op::INTERFACE_VERSION);
    put_u64(&mut b, 8, 1_700_000_010);
    put_u32(&mut b, 16, 500);
    put_u64(&mut b, 24, 10_000_000_000);
    assert_eq!(d1.call(nr::PLATFORM_OP, [ARG, 0, 0]), errno::EPERM);
    d0.write(ARG, &b).unwrap();
    assert_eq!(d0.call(nr::PLATFORM_OP, [ARG, 0, 0]), 0);
    let sh = w.area(1, RAM, 4096);
    let w0 = sh.load_u64(shared_info::WC_VERSION).unwrap();
    let w1 = sh.load_u64(shared_info::WC_NSEC).unwrap();
    assert_eq!(w0 as u32, 2, "even version after the update");
    assert_eq!(w1 as u32, 500);
    let sec = sh.load_u64(shared_info::WC_SEC - 4).unwrap() >> 32;
    assert_eq!(sec, 1_700_000_000);
    put_u32(&mut b, 4, 1);
    d0.write(ARG, &b).unwrap();
    assert_eq!(d0.call(nr::PLATFORM_OP, [ARG, 0, 0]), errno::EACCES);
}

/// The guest changes what its physical map shows around a registered
/// vcpu_info area: Halyard never remaps RAM, so every such attempt is
/// refused or leaves the page the domain's own, and the hypervisor's
/// stored location keeps resolving into the domain's RAM bank.
#[test]
fn a_registered_area_stays_in_the_domains_own_memory() {
    let w = World::new(&[0, 1], 8, 1);
    let c = w.as_(1, 0);
    let gfn = RAM / 4096 + 2;
    assert_eq!(register(&c, 0, gfn, 128), 0);
    // Grant frames over the area's page: refused (they live elsewhere).
    assert_eq!(
        c.call_with(nr::MEMORY_OP, 7, ARG, &add_to_physmap(1, 0, gfn)),
        errno::EINVAL
    );
    // Ballooning the page out or populating over it: not offered.
    for cmd in [1u64, 6, 3] {
        assert_eq!(c.call(nr::MEMORY_OP, [cmd, ARG, 0]), errno::ENOSYS);
    }
    // shared_info placed on the same page: both live there, as asked.
    assert_eq!(
        c.call_with(nr::MEMORY_OP, 7, ARG, &add_to_physmap(0, 0, gfn)),
        0
    );
    let d = &w.domains[1];
    let x = d.xen.lock();
    let info = x.areas.vcpu_info(&d.banks, 0).unwrap();
    let page = w.area(1, gfn * 4096, 4096);
    assert_eq!(info.raw().0, page.raw().0 + 128);
    // It is inside one of d1's banks, and in none of d0's.
    let inside = |banks: &[crate::domain::Bank]| {
        banks.iter().any(|b| {
            let a = info.raw().0 as u64;
            a >= b.pa && a + 48 <= b.pa + b.ipa.size
        })
    };
    assert!(inside(&d.banks));
    assert!(!inside(&w.domains[0].banks));
    drop(x);
    // Events still reach it.
    let p = bind_ipi(&c, 0);
    info.swap_u8(0, 0);
    info.store_u64(8, 0);
    assert_eq!(c.call_with(nr::EVENT_CHANNEL_OP, 4, ARG, &port_arg(p)), 0);
    assert_eq!(info.load_u8(0), Some(1));
}

#[test]
fn the_xenstore_channel_waits_for_dom0_and_survives_a_reboot() {
    let w = World::new(&[0, 1], 8, 1);
    let (d0, d1) = (w.as_(0, 0), w.as_(1, 0));
    let store = w.domains[1].xen.lock().open_store_channel(0).unwrap();
    let param = |c: &Caller<'_>, index: u32| {
        let mut p = [0u8; 16];
        put_u16(&mut p, 0, DOMID_SELF);
        put_u32(&mut p, 4, index);
        assert_eq!(c.call_with(nr::HVM_OP, 1, ARG, &p), 0);
        u64_at(&c.read_back::<16>(ARG), 8)
    };
    // The domU learns its port and that the store page comes later; dom0
    // has no store channel (its xenstore is local).
    assert_eq!(param(&d1, 2), u64::from(store));
    assert_eq!(param(&d1, 1), u64::MAX);
    assert_eq!((param(&d0, 2), param(&d0, 1)), (0, 0));
    let (rc, p0) = bind(&d0, 1, store);
    assert_eq!(rc, 0);
    assert_eq!(d0.call_with(nr::EVENT_CHANNEL_OP, 4, ARG, &port_arg(p0)), 0);
    assert_eq!(pending_word(&w, 1), 1 << store);
    // d1 is rebuilt: dom0's end waits for it again, d1 has a fresh store
    // port, and dom0 binds that one.
    w.domains[0].xen.lock().ports.orphan(1);
    let c = w.domains[0].xen.lock().ports.get(p0).unwrap();
    assert_eq!(
        c.binding,
        crate::domain::events::Binding::Unbound { remote: 1 }
    );
    let mut fresh = crate::domain::xen_state::XenState::new(1);
    let again = fresh.open_store_channel(0).unwrap();
    *w.domains[1].xen.lock() = fresh;
    assert_eq!(bind(&d0, 1, again).0, 0);
}
