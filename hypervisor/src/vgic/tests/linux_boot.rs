//! The register sequence Linux's irq-gic-v3 driver issues at boot, in its
//! order: probe, distributor init, redistributor discovery and wake-up,
//! SGI/PPI init, then enabling interrupts and routing one.

use super::*;

const DEF_PRI_X4: u64 = 0xa0a0_a0a0;

#[test]
fn distributor_probe_reads_a_gicv3_without_lpis_or_security() {
    let mut g = gic();
    assert_eq!(rd(&mut g, 0xffe8) & 0xf0, 0x30, "PIDR2.ArchRev = GICv3");
    let typer = rd(&mut g, 0x0004);
    assert_eq!(typer & 0x1f, 2, "ITLinesNumber: INTIDs up to 95");
    assert_eq!((typer >> 19) & 0x1f, 9, "IDbits: 10-bit INTIDs");
    assert_eq!(typer & (1 << 17), 0, "no LPIs");
    assert_eq!(typer & (1 << 16), 0, "no MBIS");
    assert_eq!(typer & (1 << 10), 0, "SecurityExtn = 0");
    assert_eq!(typer & (1 << 8), 0, "no extended SPIs");
    assert_eq!(typer & (7 << 5), 0, "CPUNumber is 0 with ARE only");
    assert_ne!(typer & (1 << 26), 0, "RSS");
    assert_eq!(typer & (1 << 25), 0, "1 of N routing supported");
    assert_eq!(rd(&mut g, 0x000c), 0, "TYPER2: no vSGIs, no nASSGIcap");
    assert_eq!(rd(&mut g, 0x0008), 0x4800_043b, "IIDR");
    assert_eq!(rd(&mut g, 0xfff0), 0x0d);
    assert_eq!(rd(&mut g, 0xfffc), 0xb1);
}

/// gic_dist_init + gic_dist_config.
fn linux_dist_init(g: &mut Vgic) {
    wd(g, 0x0000, 0);
    assert_eq!(rd(g, 0x0000) >> 31, 0, "RWP reads 0");
    let lines = 32 * ((rd(g, 0x0004) & 0x1f) + 1);
    for i in (32..lines).step_by(32) {
        wd(g, 0x0080 + i / 8, 0xffff_ffff);
    }
    for i in (32..lines).step_by(16) {
        wd(g, 0x0c00 + i / 4, 0);
    }
    for i in (32..lines).step_by(4) {
        wd(g, 0x0400 + i, DEF_PRI_X4);
    }
    for i in (32..lines).step_by(32) {
        wd(g, 0x0380 + i / 8, 0xffff_ffff);
        wd(g, 0x0180 + i / 8, 0xffff_ffff);
    }
    assert_eq!(rd(g, 0x0000) >> 31, 0);
    // ARE_NS | EnableGrp1A | EnableGrp1 in Linux's names.
    wd(g, 0x0000, 0x13);
    assert_eq!(rd(g, 0x0000) >> 31, 0);
    for i in 32..lines {
        g.dist_access(0, 0x6000 + i * 8, 8, Some(0)).unwrap();
    }
}

#[test]
fn distributor_init_programs_every_spi() {
    let mut g = gic();
    linux_dist_init(&mut g);
    assert_eq!(
        rd(&mut g, 0x0000),
        0x53,
        "ARE and DS read as one, both groups on"
    );
    for intid in 32..96 {
        let i = *g.irq(0, intid).unwrap();
        assert!(i.group1() && !i.enabled() && !i.active());
        assert_eq!(i.priority(), 0xa0);
        assert_eq!(i.trigger(), Trigger::Level);
        assert_eq!(i.target(), Some(0));
    }
    assert_eq!(rd(&mut g, 0x0084), 0xffff_ffff);
    assert_eq!(rd(&mut g, 0x0080), 0, "SGI/PPI group bits are RAZ in GICD");
    assert_eq!(rd(&mut g, 0x0420), DEF_PRI_X4 & 0xf8f8_f8f8);
}

#[test]
fn redistributor_discovery_and_wakeup_handshake() {
    let mut g = gic();
    // gic_iterate_rdists: walk frames until TYPER.Last.
    let mut frame = 0;
    loop {
        assert_eq!(rr(&mut g, frame, 0xffe8) & 0xf0, 0x30, "GICR PIDR2");
        let typer = g.redist_access(frame, 0x0008, 8, None).unwrap();
        assert_eq!(typer >> 32, frame as u64, "affinity of vCPU {frame}");
        assert_eq!((typer >> 8) & 0xffff, frame as u64, "Processor_Number");
        assert_eq!(typer & 0b1011, 0, "no PLPIS, VLPIS, DirectLPI");
        let lo = rr(&mut g, frame, 0x0008);
        let hi = rr(&mut g, frame, 0x000c);
        assert_eq!(hi << 32 | lo, typer, "32-bit halves of TYPER");
        if typer & (1 << 4) != 0 {
            break;
        }
        frame += 1;
    }
    assert_eq!(frame, 3, "Last is set on the last vCPU's frame only");
    assert_eq!(rr(&mut g, 4, 0xffe8), 0, "no frame past the last vCPU");

    // gic_enable_redist(true) on vCPU 2.
    let waker = rr(&mut g, 2, 0x0014);
    assert_eq!(waker, 0b110, "reset: ProcessorSleep and ChildrenAsleep");
    wr(&mut g, 2, 0x0014, waker & !0b10);
    assert_eq!(rr(&mut g, 2, 0x0014) & 0b100, 0, "ChildrenAsleep clears");
    assert_eq!(rr(&mut g, 1, 0x0014), 0b110, "other frames untouched");
    // gic_enable_redist(false): sleep again, and the bit sticks.
    wr(&mut g, 2, 0x0014, 0b10);
    assert_eq!(rr(&mut g, 2, 0x0014), 0b110);
    assert_eq!(rr(&mut g, 2, 0x0000), 0, "GICR_CTLR: no LPIs, RWP 0, UWP 0");
}

/// gic_cpu_init on one vCPU's frame.
fn linux_cpu_init(g: &mut Vgic, v: usize) {
    wr(g, v, 0x0014, 0);
    wr(g, v, SGI + 0x0080, 0xffff_ffff);
    wr(g, v, SGI + 0x0380, 0xffff_ffff);
    wr(g, v, SGI + 0x0180, 0xffff_ffff);
    for i in (0..32).step_by(4) {
        wr(g, v, SGI + 0x0400 + i, DEF_PRI_X4);
    }
    assert_eq!(rr(g, v, 0x0000) & (1 << 3), 0, "GICR_CTLR.RWP");
}

#[test]
fn sgi_frame_init_is_banked_per_vcpu() {
    let mut g = gic();
    linux_cpu_init(&mut g, 1);
    for intid in 0..32 {
        let i = *g.irq(1, intid).unwrap();
        assert!(i.group1() && !i.enabled());
        assert_eq!(i.priority(), 0xa0);
        assert!(
            !g.irq(0, intid).unwrap().group1(),
            "vCPU 0's bank is untouched"
        );
    }
    assert_eq!(rr(&mut g, 1, SGI + 0x0c00), 0xaaaa_aaaa, "SGIs are edge");
    wr(&mut g, 1, SGI + 0x0c00, 0);
    assert_eq!(
        rr(&mut g, 1, SGI + 0x0c00),
        0xaaaa_aaaa,
        "ICFGR0 is read-only"
    );
    // IPIs: enable SGIs 0..7 from the vCPU's own frame.
    wr(&mut g, 1, SGI + 0x0100, 0xff);
    assert_eq!(rr(&mut g, 1, SGI + 0x0100), 0xff);
    assert_eq!(rr(&mut g, 1, SGI + 0x0180), 0xff);
}

#[test]
fn enabling_and_routing_an_spi_then_delivering_it() {
    let mut g = gic();
    linux_dist_init(&mut g);
    for v in 0..4 {
        linux_cpu_init(&mut g, v);
    }
    // irq_set_type(34, EDGE_RISING): read-modify-write of ICFGR2 and check.
    let cfg = rd(&mut g, 0x0c08);
    wd(&mut g, 0x0c08, cfg | 2 << 4);
    assert_eq!(rd(&mut g, 0x0c08), 2 << 4);
    assert_eq!(g.irq(0, 34).unwrap().trigger(), Trigger::Edge);
    // irq_set_affinity(34, vCPU 2): writeq of IROUTER.
    g.dist_access(0, 0x6000 + 34 * 8, 8, Some(2)).unwrap();
    assert_eq!(g.irq(0, 34).unwrap().target(), Some(2));
    // priority byte, then unmask: ISENABLER1 bit 2.
    g.dist_access(0, 0x0400 + 34, 1, Some(0x80)).unwrap();
    wd(&mut g, 0x0104, 1 << 2);
    assert!(g.irq(0, 34).unwrap().enabled());

    let kick = g.raise_edge(0, 34).unwrap();
    assert_eq!(kick, VcpuSet(1 << 2));
    assert_eq!(g.flush(0, 4).used, 0, "not vCPU 0's");
    let plan = g.flush(2, 4);
    assert_eq!(plan.used, 1);
    let lr = ListRegister::decode(plan.lrs()[0]);
    assert_eq!(
        lr,
        ListRegister {
            vintid: 34,
            pintid: None,
            state: LrState::Pending,
            priority: 0x80,
            group1: true,
            eoi_maintenance: false,
        }
    );
    assert_eq!(plan.hcr_bits(), 0);
    assert_eq!(plan.lrs()[1..], [0, 0, 0]);
}
