//! The GICv2 front end's distributor: what Linux's GICv2 driver reads and
//! programs, banked SGI/PPI registers, ITARGETSR routing, SGIR and the
//! per-source SGI pending registers, sizes and RAZ/WI, and the refusal of
//! the other version's frames.

use super::*;

/// Four vCPUs, 64 SPIs, 5 priority bits (a GIC-400).
pub(super) fn gic2() -> Vgic {
    Vgic::new_v2(4, 64, 5).unwrap()
}

pub(super) fn r2(g: &mut Vgic, vcpu: usize, off: u64) -> u64 {
    g.dist_v2_access(vcpu, off, 4, None).unwrap()
}

pub(super) fn w2(g: &mut Vgic, vcpu: usize, off: u64, v: u64) {
    g.dist_v2_access(vcpu, off, 4, Some(v)).unwrap();
}

/// GICD_SGIR: TargetListFilter, CPUTargetList, SGIINTID.
pub(super) fn sgir(filter: u64, list: u64, intid: u64) -> u64 {
    filter << 24 | list << 16 | intid
}

/// `n` vCPUs; groups on, every interrupt Group 1, enabled, priority 0xa0.
pub(super) fn ready2(n: usize) -> Vgic {
    let mut g = Vgic::new_v2(n, 64, 5).unwrap();
    w2(&mut g, 0, 0x000, 3);
    for v in 0..n {
        w2(&mut g, v, 0x080, 0xffff_ffff);
        w2(&mut g, v, 0x100, 0xffff_ffff);
        for i in (0..32).step_by(4) {
            w2(&mut g, v, 0x400 + i, 0xa0a0_a0a0);
        }
    }
    for r in 1..3 {
        w2(&mut g, 0, 0x080 + 4 * r, 0xffff_ffff);
        w2(&mut g, 0, 0x100 + 4 * r, 0xffff_ffff);
    }
    for i in (32..96).step_by(4) {
        w2(&mut g, 0, 0x400 + i, 0xa0a0_a0a0);
    }
    g.drain_effects();
    g
}

#[test]
fn construction_checks_vcpus_spis_and_priority_bits() {
    assert_eq!(Vgic::new_v2(0, 32, 5).unwrap_err(), VgicError::BadVcpus);
    assert_eq!(Vgic::new_v2(9, 32, 5).unwrap_err(), VgicError::BadVcpus);
    assert_eq!(Vgic::new_v2(2, 48, 5).unwrap_err(), VgicError::BadSpiCount);
    assert_eq!(
        Vgic::new_v2(2, 32, 3).unwrap_err(),
        VgicError::BadPriorityBits
    );
    let g = Vgic::new_v2(8, 992, 8).unwrap();
    assert_eq!((g.version(), g.nr_vcpus()), (GicVersion::V2, 8));
    assert_eq!(g.affinity(5), Some(5), "vCPU i is CPU interface i");
    assert_eq!(gic().version(), GicVersion::V3);
    let spi = *gic2().irq(0, 40).unwrap();
    assert_eq!((spi.route(), spi.target()), (1, Some(0)), "reset: CPU 0");
}

#[test]
fn each_version_refuses_the_other_ones_frames() {
    let mut g = gic2();
    assert_eq!(g.dist_access(0, 0, 4, None), Err(AccessError::WrongVersion));
    assert_eq!(
        g.redist_access(0, 0x14, 4, Some(0)),
        Err(AccessError::WrongVersion)
    );
    assert_eq!(g.send_sgi(0, 1 << 24 | 0xf), VcpuSet::EMPTY);
    assert_eq!(g.send_sgi0(0, 1 << 40), VcpuSet::EMPTY);
    assert!((0..4).all(|v| !g.irq(v, 1).unwrap().pending()));
    let mut v3 = gic();
    assert_eq!(
        v3.dist_v2_access(0, 0x004, 4, None),
        Err(AccessError::WrongVersion)
    );
}

#[test]
fn linux_probe_reads_ctlr_typer_iidr_and_ids() {
    let mut g = gic2();
    assert_eq!(r2(&mut g, 0, 0x000), 0, "reset: disabled");
    // ITLinesNumber 2 (64 SPIs), CPUNumber 3, SecurityExtn 0.
    assert_eq!(r2(&mut g, 0, 0x004), 0x62);
    assert_eq!(r2(&mut g, 0, 0x008), 0x4800_043b);
    let big = &mut Vgic::new_v2(8, 992, 5).unwrap();
    assert_eq!(r2(big, 7, 0x004), 0xff);
    w2(&mut g, 1, 0x000, 1); // what Linux writes: EnableGrp0 only
    assert_eq!(r2(&mut g, 0, 0x000), 1);
    w2(&mut g, 0, 0x000, 0xffff_ffff);
    assert_eq!(r2(&mut g, 2, 0x000), 3, "only the two enables exist");
    let ids: Vec<u64> = [0xfd0, 0xfe0, 0xfe4, 0xfe8, 0xff0, 0xff4, 0xff8, 0xffc]
        .iter()
        .map(|&o| r2(&mut g, 0, o))
        .collect();
    assert_eq!(ids, [0x04, 0x48, 0xb0, 0x2b, 0x0d, 0xf0, 0x05, 0xb1]);
    assert_eq!(r2(&mut g, 0, 0xfe8) >> 4 & 0xf, 2, "PIDR2.ArchRev: GICv2");
}

#[test]
fn itargetsr_banked_bytes_spi_masks_and_routing() {
    let mut g = gic2();
    // INTIDs 0..31: each byte is the reader's own bit, writes ignored.
    assert_eq!(r2(&mut g, 2, 0x800), 0x0404_0404);
    assert_eq!(r2(&mut g, 3, 0x81c), 0x0808_0808);
    w2(&mut g, 0, 0x804, 0xffff_ffff);
    assert_eq!(r2(&mut g, 0, 0x804), 0x0101_0101);
    assert_eq!(g.dist_v2_access(1, 0x81f, 1, None), Ok(0x02));
    // SPIs reset to CPU 0; byte and word writes; the lowest CPU receives.
    assert_eq!(r2(&mut g, 0, 0x820), 0x0101_0101);
    g.dist_v2_access(0, 0x828, 1, Some(0x0c)).unwrap();
    assert_eq!(g.irq(0, 40).unwrap().target(), Some(2));
    w2(&mut g, 0, 0x82c, 0x0108_0a06);
    assert_eq!(r2(&mut g, 1, 0x82c), 0x0108_0a06);
    let targets: Vec<Option<usize>> = (44..48).map(|i| g.irq(0, i).unwrap().target()).collect();
    assert_eq!(targets, [Some(1), Some(1), Some(3), Some(0)]);
    // CPUs 4..7 do not exist: masked off; nothing left means nobody.
    g.dist_v2_access(0, 0x830, 1, Some(0xf4)).unwrap();
    assert_eq!(g.dist_v2_access(0, 0x830, 1, None), Ok(0x04));
    g.dist_v2_access(0, 0x831, 1, Some(0xf0)).unwrap();
    assert_eq!(g.dist_v2_access(0, 0x831, 1, None), Ok(0));
    assert_eq!(g.irq(0, 49).unwrap().target(), None);
    // Past the last SPI: RAZ/WI.
    w2(&mut g, 0, 0x860, 0x0202_0202);
    assert_eq!(r2(&mut g, 0, 0x860), 0);
}

#[test]
fn an_spi_targeting_nobody_is_not_delivered_until_retargeted() {
    let mut g = ready2(4);
    g.dist_v2_access(0, 0x828, 1, Some(0)).unwrap();
    assert_eq!(g.raise_edge(0, 40).unwrap(), VcpuSet::EMPTY);
    assert!((0..4).all(|v| g.highest_pending(v).is_none()));
    g.dist_v2_access(0, 0x828, 1, Some(0x08)).unwrap();
    assert_eq!(g.drain_effects(), [Effect::Kick(3)]);
    assert_eq!(g.highest_pending(3), Some((40, 0xa0)));
}

#[test]
fn itargetsr_of_hw_linked_spi_reports_route_changes() {
    let mut g = ready2(4);
    g.link_hw(50, 90).unwrap();
    g.drain_effects();
    g.dist_v2_access(1, 0x832, 1, Some(0x06)).unwrap();
    let route = |vcpu| Effect::RouteChanged {
        intid: 50,
        pintid: 90,
        vcpu,
    };
    assert_eq!(g.drain_effects(), [route(Some(1))]);
    g.dist_v2_access(1, 0x832, 1, Some(0x02)).unwrap();
    assert!(g.drain_effects().is_empty(), "same CPU: nothing to move");
    assert_eq!(g.dist_v2_access(1, 0x832, 1, None), Ok(0x02));
    g.dist_v2_access(1, 0x832, 1, Some(0)).unwrap();
    assert_eq!(g.drain_effects(), [route(None)]);
}

#[test]
fn sgir_filters_and_kicks_other_targets() {
    let mut g = ready2(4);
    w2(&mut g, 0, 0xf00, sgir(0, 0b1111_0110, 5)); // CPUs 4..7 do not exist
    assert_eq!(g.drain_effects(), [Effect::Kick(1), Effect::Kick(2)]);
    let pending = |g: &Vgic, sgi| {
        (0..4)
            .filter(|&v| g.irq(v, sgi).unwrap().pending())
            .collect::<Vec<_>>()
    };
    assert_eq!(pending(&g, 5), [1, 2]);
    // All but self, from vCPU 2.
    w2(&mut g, 2, 0xf00, sgir(1, 0xff, 6));
    assert_eq!(pending(&g, 6), [0, 1, 3]);
    assert_eq!(
        g.drain_effects(),
        [Effect::Kick(0), Effect::Kick(1), Effect::Kick(3)]
    );
    // Self only: pending, but no kick (the sender's entry flush takes it).
    w2(&mut g, 3, 0xf00, sgir(2, 0x01, 7));
    assert_eq!(pending(&g, 7), [3]);
    assert!(g.drain_effects().is_empty());
    // Reserved filter: nothing. NSATT [15] and SGIINTID's upper bits ignored.
    w2(&mut g, 0, 0xf00, sgir(3, 0xff, 8));
    assert!(pending(&g, 8).is_empty());
    w2(&mut g, 0, 0xf00, sgir(0, 0x08, 0x8009));
    assert_eq!(pending(&g, 9), [3]);
    assert_eq!(r2(&mut g, 0, 0xf00), 0, "write-only");
    assert_eq!(
        g.dist_v2_access(0, 0xf00, 1, Some(1)),
        Err(AccessError::BadSize)
    );
    // The source is recorded per target: SPENDSGIR1 byte 1 (SGI 5), bit 0.
    // vCPU 1: SGI 5 from 0 (byte 1, bit 0), SGI 6 from 2 (byte 2, bit 2).
    assert_eq!(r2(&mut g, 1, 0xf24), 0x0004_0100);
    // vCPU 3: SGI 6 from 2, SGI 7 from 3 (byte 3, bit 3).
    assert_eq!(r2(&mut g, 3, 0xf24), 0x0804_0000);
    assert_eq!(g.dist_v2_access(3, 0xf27, 1, None), Ok(0x08));
}

#[test]
fn sgis_ignore_the_group_without_security_extensions() {
    let mut g = ready2(2);
    w2(&mut g, 1, 0x080, 0xffff_0000); // SGIs Group 0 on vCPU 1
    w2(&mut g, 0, 0x000, 1); // only Group 0 enabled
    w2(&mut g, 0, 0xf00, sgir(0, 0b10, 3));
    assert!(g.irq(1, 3).unwrap().pending());
    assert_eq!(g.drain_effects(), [Effect::Kick(1)]);
    assert_eq!(g.highest_pending(1), Some((3, 0xa0)));
}

#[test]
fn spendsgir_and_cpendsgir_track_one_source_per_sgi() {
    let mut g = ready2(4);
    // vCPU 1 makes its SGI 5 pending from CPU 3 (byte 1 of SPENDSGIR1).
    g.dist_v2_access(1, 0xf25, 1, Some(0x08)).unwrap();
    assert!(g.irq(1, 5).unwrap().pending() && !g.irq(0, 5).unwrap().pending());
    assert_eq!(r2(&mut g, 1, 0xf24), 0x0000_0800);
    assert_eq!(
        r2(&mut g, 1, 0xf14),
        0x0000_0800,
        "CPENDSGIR reads the same"
    );
    assert!(g.drain_effects().is_empty(), "the accessor's own SGI");
    // Clearing another source's bit clears nothing.
    g.dist_v2_access(1, 0xf15, 1, Some(0x04)).unwrap();
    assert!(g.irq(1, 5).unwrap().pending());
    g.dist_v2_access(1, 0xf15, 1, Some(0x08)).unwrap();
    assert!(!g.irq(1, 5).unwrap().pending());
    assert_eq!(r2(&mut g, 1, 0xf24), 0);
    // A second sender while pending takes the first one's place.
    w2(&mut g, 0, 0xf00, sgir(0, 0b10, 12));
    w2(&mut g, 2, 0xf00, sgir(0, 0b10, 12));
    assert_eq!(r2(&mut g, 1, 0xf2c), 0x0000_0004);
    // Word write: several bits keep the lowest; CPUs past the last ignored.
    w2(&mut g, 2, 0xf20, 0x00f0_0006);
    assert_eq!(
        r2(&mut g, 2, 0xf20),
        0x0000_0002,
        "SGI 0 from 1; SGI 2 none"
    );
    assert_eq!(
        g.dist_v2_access(2, 0xf22, 2, None),
        Err(AccessError::BadSize)
    );
}

#[test]
fn sgi_pending_bits_of_ispendr_and_icpendr_are_read_only() {
    let mut g = ready2(2);
    w2(&mut g, 1, 0x200, 0xffff_ffff);
    let pending = |g: &Vgic, v| (0..32).filter(|&i| g.irq(v, i).unwrap().pending()).count();
    assert_eq!(pending(&g, 1), 16, "PPIs only");
    assert_eq!(pending(&g, 0), 0, "banked");
    assert_eq!(r2(&mut g, 1, 0x200), 0xffff_0000);
    w2(&mut g, 0, 0xf00, sgir(0, 0b10, 4));
    w2(&mut g, 1, 0x280, 0xffff_ffff);
    assert_eq!(r2(&mut g, 1, 0x280), 0x0000_0010, "SGI 4 stays pending");
}

#[test]
fn sgi_and_ppi_registers_are_banked_per_vcpu() {
    let mut g = gic2();
    w2(&mut g, 1, 0x100, 0x0001_0002); // ISENABLER0: SGI 1, PPI 16
    assert_eq!(r2(&mut g, 1, 0x100), 0x0001_0002);
    assert_eq!(r2(&mut g, 0, 0x100), 0);
    w2(&mut g, 1, 0x180, 0x0000_0002);
    assert_eq!(r2(&mut g, 1, 0x100), 0x0001_0000);
    w2(&mut g, 2, 0x080, 0x8000_0000); // IGROUPR0: PPI 31 Group 1
    assert!(g.irq(2, 31).unwrap().group1() && !g.irq(3, 31).unwrap().group1());
    g.dist_v2_access(3, 0x41b, 1, Some(0xff)).unwrap(); // PPI 27's priority
    assert_eq!(g.irq(3, 27).unwrap().priority(), 0xf8, "5 bits");
    assert_eq!(g.irq(0, 27).unwrap().priority(), 0);
    assert_eq!(r2(&mut g, 3, 0x418), 0xf800_0000);
    w2(&mut g, 3, 0x300, 0x0800_0000); // ISACTIVER0: PPI 27
    assert!(g.irq(3, 27).unwrap().active() && !g.irq(2, 27).unwrap().active());
    // ICFGR0: SGIs edge, read-only. ICFGR1: PPIs, banked and writable.
    w2(&mut g, 0, 0xc00, 0);
    assert_eq!(r2(&mut g, 0, 0xc00), 0xaaaa_aaaa);
    w2(&mut g, 2, 0xc04, 0x0000_0008); // PPI 17 edge
    assert_eq!(r2(&mut g, 2, 0xc04), 0x0000_0008);
    assert_eq!(r2(&mut g, 1, 0xc04), 0);
    assert_eq!(g.irq(2, 17).unwrap().trigger(), Trigger::Edge);
    // SPIs are shared: any vCPU sees the same bits.
    w2(&mut g, 3, 0x104, 0x0000_0100);
    assert_eq!(r2(&mut g, 0, 0x104), 0x0000_0100);
    w2(&mut g, 1, 0xc08, 0x0002_0000); // SPI 40 edge
    assert_eq!(g.irq(0, 40).unwrap().trigger(), Trigger::Edge);
}

#[test]
fn sizes_alignment_raz_wi_and_bad_arguments() {
    let mut g = gic2();
    let err = |g: &mut Vgic, off, size| g.dist_v2_access(0, off, size, None).unwrap_err();
    assert_eq!(err(&mut g, 0x004, 1), AccessError::BadSize);
    assert_eq!(err(&mut g, 0x100, 2), AccessError::BadSize);
    assert_eq!(err(&mut g, 0x400, 2), AccessError::BadSize, "no halfwords");
    assert_eq!(err(&mut g, 0x820, 8), AccessError::BadSize);
    assert_eq!(err(&mut g, 0x401, 4), AccessError::Misaligned);
    assert_eq!(err(&mut g, 0xf21, 2), AccessError::Misaligned);
    assert_eq!(err(&mut g, 0x003, 3), AccessError::BadSize);
    assert_eq!(err(&mut g, 0x1000, 4), AccessError::BadOffset);
    assert_eq!(g.dist_v2_access(4, 0, 4, None), Err(AccessError::BadVcpu));
    let raz_wi: &[u64] = &[
        0x00c, 0x010, 0x040, // reserved
        0x10c, 0x20c, 0x468, 0x86c, 0xc18, // past the last SPI
        0xd00, 0xdfc, // implementation defined
        0xe00, 0xe04, // NSACR
        0xf04, 0xf30, 0xfcc, // reserved
    ];
    for &off in raz_wi {
        w2(&mut g, 0, off, 0xffff_ffff);
        assert_eq!(r2(&mut g, 0, off), 0, "GICD {off:#x}");
    }
    for intid in 32..96 {
        assert_eq!(*g.irq(0, intid).unwrap(), *gic2().irq(0, intid).unwrap());
    }
    w2(&mut g, 0, 0xfe8, 0);
    assert_eq!(r2(&mut g, 0, 0xfe8), 0x2b, "ID registers are read-only");
}
