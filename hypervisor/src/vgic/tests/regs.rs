//! Register semantics: access sizes, byte lanes, RAZ/WI regions, IROUTER
//! halves and affinity matching, set/clear register pairs.

use super::*;

#[test]
fn ipriorityr_byte_and_word_lanes_agree() {
    let mut g = gic(); // 5 priority bits: the low 3 read as zero
    g.dist_access(0, 0x0400 + 41, 1, Some(0xff)).unwrap();
    assert_eq!(g.irq(0, 41).unwrap().priority(), 0xf8);
    assert_eq!(
        rd(&mut g, 0x0428),
        0x0000_f800,
        "byte 1 of the word for 40..43"
    );
    wd(&mut g, 0x0428, 0x1122_3344);
    let bytes: Vec<u64> = (40..44)
        .map(|i| g.dist_access(0, 0x0400 + i, 1, None).unwrap())
        .collect();
    assert_eq!(bytes, [0x40, 0x30, 0x20, 0x10]);
    assert_eq!(g.irq(0, 43).unwrap().priority(), 0x10);
    // Redistributor bytes: SGI 5 of vCPU 3.
    g.redist_access(3, SGI + 0x0405, 1, Some(0x68)).unwrap();
    assert_eq!(g.irq(3, 5).unwrap().priority(), 0x68);
    assert_eq!(rr(&mut g, 3, SGI + 0x0404), 0x6800);
    let mut eight = Vgic::new(&MPIDRS, 32, 8).unwrap();
    eight.dist_access(0, 0x0420, 1, Some(0xff)).unwrap();
    assert_eq!(
        eight.irq(0, 32).unwrap().priority(),
        0xff,
        "8 bits keep all"
    );
}

#[test]
fn raz_wi_regions_ignore_writes_and_read_zero() {
    let mut g = gic();
    let raz_wi: &[u64] = &[
        0x0010, // STATUSR
        0x0040, // SETSPI_NSR (no MBIS)
        0x0080,
        0x0100,
        0x0200,
        0x0300, // INTIDs 0..31 in GICD
        0x0400,
        0x041c, // their priorities
        0x0800,
        0x0820, // ITARGETSR
        0x0c00,
        0x0c04, // their ICFGR
        0x0d04,
        0x0e08, // IGRPMODR, NSACR
        0x0f00,
        0x0f10,
        0x0f20, // SGIR, CPENDSGIR, SPENDSGIR
        0x1000,
        0x2000,
        0x3000, // extended SPI ranges
        0x6000,
        0x60f8,          // IROUTER for INTIDs < 32
        0x6000 + 96 * 8, // IROUTER past the last SPI
        0x8000,
        0xc000,
        0xfff8 - 0x100, // IROUTERnE, reserved
    ];
    for &off in raz_wi {
        wd(&mut g, off, 0xffff_ffff);
        assert_eq!(rd(&mut g, off), 0, "GICD {off:#x}");
    }
    for intid in 0..32 {
        assert_eq!(*g.irq(0, intid).unwrap(), *gic().irq(0, intid).unwrap());
    }
    // Bits of INTIDs past the last SPI: GICD_ISENABLER3 covers 96..127.
    wd(&mut g, 0x010c, 0xffff_ffff);
    assert_eq!(rd(&mut g, 0x010c), 0);
    for off in [
        0x0000,
        0x0010,
        0x0040,
        0x0070,
        0x0078,
        0x00a0,
        0xfffc - 0x10,
    ] {
        wr(&mut g, 1, off, 0xffff_ffff);
        assert_eq!(rr(&mut g, 1, off), 0, "GICR {off:#x}");
    }
    for off in [0x0084, 0x0104, 0x0d00, 0x0e00, 0x0f80, 0x0c08, 0x0420] {
        wr(&mut g, 1, SGI + off, 0xffff_ffff);
        assert_eq!(rr(&mut g, 1, SGI + off), 0, "SGI_base {off:#x}");
    }
    assert_eq!(g.redist_access(0, 0x0070, 8, Some(u64::MAX)), Ok(0));
    assert_eq!(g.redist_access(0, 0x0070, 8, None), Ok(0), "PROPBASER");
    assert_eq!(g.redist_access(9, 0x0008, 8, None), Ok(0), "no such frame");
    assert_eq!(
        g.dist_access(0, 0x5002, 2, Some(1)),
        Ok(0),
        "reserved: any aligned size"
    );
    assert!(g.drain_effects().is_empty());
}

#[test]
fn illegal_sizes_and_alignment_are_refused() {
    let mut g = gic();
    use AccessError::*;
    assert_eq!(g.dist_access(0, 0x0000, 3, None), Err(BadSize));
    assert_eq!(
        g.dist_access(0, 0x0000, 2, None),
        Err(BadSize),
        "CTLR halfword"
    );
    assert_eq!(g.dist_access(0, 0x0000, 8, None), Err(BadSize));
    assert_eq!(
        g.dist_access(0, 0x0108, 8, Some(0)),
        Err(BadSize),
        "ISENABLER pair"
    );
    assert_eq!(g.dist_access(0, 0x0104, 1, Some(1)), Err(BadSize));
    assert_eq!(g.dist_access(0, 0x0102, 4, None), Err(Misaligned));
    assert_eq!(
        g.dist_access(0, 0x0420, 2, None),
        Err(BadSize),
        "IPRIORITYR halfword"
    );
    assert_eq!(
        g.dist_access(0, 0x0c08, 1, None),
        Err(BadSize),
        "ICFGR byte"
    );
    assert_eq!(
        g.dist_access(0, 0x6100, 2, None),
        Err(BadSize),
        "IROUTER halfword"
    );
    assert_eq!(g.dist_access(0, 0x6104, 8, None), Err(Misaligned));
    assert_eq!(
        g.dist_access(0, 0xffe8, 1, None),
        Err(BadSize),
        "ID regs are words"
    );
    assert_eq!(g.dist_access(0, 0x1_0000, 4, None), Err(BadOffset));
    assert_eq!(g.dist_access(4, 0x0000, 4, None), Err(BadVcpu));
    assert_eq!(g.redist_access(0, 0x0014, 2, None), Err(BadSize), "WAKER");
    assert_eq!(g.redist_access(0, 0x0008, 2, None), Err(BadSize), "TYPER");
    assert_eq!(g.redist_access(0, SGI + 0x0100, 2, None), Err(BadSize));
    assert_eq!(g.redist_access(0, 0x2_0000, 4, None), Err(BadOffset));
    assert_eq!(g.redist_access(0, 0x0001, 4, None), Err(Misaligned));
    assert_eq!(split_redist_offset(0x4_0014), (2, 0x14));
}

#[test]
fn irouter_halves_aff3_irm_and_unmatched_affinity() {
    let mpidrs = [0x0, 0x100, 0x1_0000_0200];
    let mut g = Vgic::new(&mpidrs, 32, 5).unwrap();
    assert_eq!(g.irq(0, 40).unwrap().target(), Some(0), "reset: vCPU 0");
    let off = 0x6000 + 40 * 8;
    g.dist_access(0, off, 4, Some(0x200)).unwrap();
    assert_eq!(g.irq(0, 40).unwrap().target(), None, "0.0.2.0 is nobody");
    g.dist_access(0, off + 4, 4, Some(0x1)).unwrap();
    assert_eq!(g.dist_access(0, off, 8, None), Ok(0x1_0000_0200));
    assert_eq!(g.irq(0, 40).unwrap().target(), Some(2), "Aff3 = 1 matches");
    assert_eq!(g.dist_access(0, off + 4, 4, None), Ok(1));
    g.dist_access(0, off, 8, Some(0xffff_ffff_ffff_ffff))
        .unwrap();
    assert_eq!(
        g.dist_access(0, off, 8, None),
        Ok(0xff_80ff_ffff),
        "RES0 bits"
    );
    assert_eq!(
        g.irq(0, 40).unwrap().target(),
        Some(0),
        "IRM = 1 picks vCPU 0"
    );
    g.dist_access(0, off, 8, Some(0x100)).unwrap();
    assert_eq!(g.irq(0, 40).unwrap().target(), Some(1));
}

#[test]
fn unrouted_spi_is_never_delivered() {
    let mut g = gic();
    wd(&mut g, 0x0000, 3);
    wd(&mut g, 0x0084, 0xffff_ffff);
    wd(&mut g, 0x0104, 1 << 3);
    g.dist_access(0, 0x6000 + 35 * 8, 8, Some(0x7)).unwrap();
    assert_eq!(g.raise_edge(0, 35).unwrap(), VcpuSet::EMPTY);
    for v in 0..4 {
        assert_eq!(g.flush(v, 4).used, 0);
    }
    g.drain_effects();
    g.dist_access(1, 0x6000 + 35 * 8, 8, Some(0x3)).unwrap();
    assert_eq!(
        g.drain_effects(),
        [Effect::Kick(3)],
        "routing it makes it deliverable"
    );
    assert_eq!(g.flush(3, 4).used, 1);
}

#[test]
fn set_clear_pairs_and_group_enables() {
    let mut g = gic();
    wd(&mut g, 0x0084, 1 << 4); // INTID 36 group 1, the rest group 0
    wd(&mut g, 0x0104, 0b11 << 4);
    wd(&mut g, 0x0184, 1 << 5);
    assert_eq!(rd(&mut g, 0x0104), 1 << 4);
    wd(&mut g, 0x0204, 0b11 << 4); // pend 36 and 37
    assert_eq!(rd(&mut g, 0x0284), 0b11 << 4);
    wd(&mut g, 0x0284, 1 << 5);
    assert_eq!(rd(&mut g, 0x0204), 1 << 4);
    wd(&mut g, 0x0304, 1 << 6);
    assert_eq!(rd(&mut g, 0x0384), 1 << 6);
    wd(&mut g, 0x0384, 1 << 6);
    assert_eq!(rd(&mut g, 0x0304), 0);
    assert_eq!(g.highest_pending(0), None, "groups disabled");
    wd(&mut g, 0x0000, 1); // Group 0 only
    assert_eq!(g.highest_pending(0), None, "36 is Group 1");
    assert_eq!(g.drain_effects(), [], "vCPU 0 wrote it; nothing to kick");
    g.dist_access(2, 0x0000, 4, Some(2)).unwrap();
    assert_eq!(g.highest_pending(0), Some((36, 0)));
    assert_eq!(g.drain_effects(), [Effect::Kick(0)]);
    assert_eq!(rd(&mut g, 0x0000), 0x52, "Group 0 off, Group 1 on");
}

#[test]
fn icfgr_spi_and_ppi_configuration() {
    let mut g = gic();
    wd(&mut g, 0x0c08, 0xffff_ffff);
    assert_eq!(rd(&mut g, 0x0c08), 0xaaaa_aaaa, "bits 2k are RES0");
    assert_eq!(g.irq(0, 47).unwrap().trigger(), Trigger::Edge);
    wr(&mut g, 2, SGI + 0x0c04, 2 << 22); // PPI 27 edge on vCPU 2
    assert_eq!(g.irq(2, 27).unwrap().trigger(), Trigger::Edge);
    assert_eq!(g.irq(1, 27).unwrap().trigger(), Trigger::Level);
    assert_eq!(rr(&mut g, 2, SGI + 0x0c04), 2 << 22);
}
