//! SGI decoding, level and edge semantics through the list registers, and
//! the effects of HW-linked interrupts.

use super::*;

/// Groups on, every interrupt Group 1, enabled, priority 0xa0.
pub(super) fn ready(mpidrs: &[u64]) -> Vgic {
    let mut g = Vgic::new(mpidrs, 64, 5).unwrap();
    wd(&mut g, 0x0000, 3);
    for n in 1..3 {
        wd(&mut g, 0x0080 + 4 * n, 0xffff_ffff);
        wd(&mut g, 0x0100 + 4 * n, 0xffff_ffff);
    }
    for v in 0..mpidrs.len() {
        wr(&mut g, v, SGI + 0x0080, 0xffff_ffff);
        wr(&mut g, v, SGI + 0x0100, 0xffff_ffff);
    }
    for i in (0..96).step_by(4) {
        wd(&mut g, 0x0400 + i, 0xa0a0_a0a0);
        for v in 0..mpidrs.len() {
            if i < 32 {
                wr(&mut g, v, SGI + 0x0400 + i, 0xa0a0_a0a0);
            }
        }
    }
    g.drain_effects();
    g
}

/// Sync `lrs` after setting the state of the LR holding `intid`.
pub(super) fn guest_sets(lrs: &mut [u64], intid: u32, state: LrState) {
    let lr = lrs
        .iter_mut()
        .find(|v| ListRegister::decode(**v).vintid == intid && **v != 0)
        .expect("interrupt in a list register");
    let mut d = ListRegister::decode(*lr);
    d.state = state;
    *lr = d.encode();
}

fn sgi1r(intid: u64, aff3: u64, aff2: u64, aff1: u64, rs: u64, list: u64) -> u64 {
    aff3 << 48 | rs << 44 | aff2 << 32 | intid << 24 | aff1 << 16 | list
}

#[test]
fn sgi_target_list_and_affinity_levels() {
    // Two clusters of two, one vCPU at Aff0 = 17 (RS = 1), one in Aff3 = 2.
    let mpidrs = [0x0, 0x1, 0x100, 0x111, 0x2_0001_0000];
    let mut g = ready(&mpidrs);
    let kick = g.send_sgi(0, sgi1r(5, 0, 0, 0, 0, 0b10));
    assert_eq!(kick, VcpuSet(0b10));
    assert!(g.irq(1, 5).unwrap().pending());
    assert!(!g.irq(0, 5).unwrap().pending());
    assert_eq!(g.sgi_targets(0, sgi1r(0, 0, 0, 1, 0, 0b11)), VcpuSet(0b100));
    assert_eq!(
        g.sgi_targets(0, sgi1r(0, 0, 0, 1, 1, 0b10)),
        VcpuSet(0b1000),
        "RS 1"
    );
    assert_eq!(
        g.sgi_targets(0, sgi1r(0, 0, 0, 1, 0, 1 << 1)),
        VcpuSet::EMPTY
    );
    assert_eq!(
        g.sgi_targets(0, sgi1r(0, 2, 1, 0, 0, 0b1)),
        VcpuSet(0b10000),
        "Aff3.Aff2"
    );
    assert_eq!(g.sgi_targets(0, sgi1r(0, 0, 1, 0, 0, 0b1)), VcpuSet::EMPTY);
    assert_eq!(
        g.sgi_targets(1, sgi1r(0, 0, 0, 0, 0, 0b11)),
        VcpuSet(0b11),
        "self may be listed"
    );
    let all_but_2 = 1 << 40 | sgi1r(3, 0, 0, 0, 0, 0);
    assert_eq!(
        g.send_sgi(2, all_but_2),
        VcpuSet(0b11011),
        "IRM: everyone else"
    );
    assert!(!g.irq(2, 3).unwrap().pending());
    assert!(g.irq(4, 3).unwrap().pending());
}

#[test]
fn sgi_reaches_only_the_group_it_was_generated_for() {
    let mut g = ready(&MPIDRS);
    wr(&mut g, 1, SGI + 0x0080, 0xffff_fffe); // SGI 0 of vCPU 1: Group 0
    assert_eq!(g.send_sgi(0, sgi1r(0, 0, 0, 0, 0, 0b10)), VcpuSet::EMPTY);
    assert!(!g.irq(1, 0).unwrap().pending());
    assert_eq!(g.send_sgi0(0, sgi1r(0, 0, 0, 0, 0, 0b10)), VcpuSet(0b10));
    assert!(g.irq(1, 0).unwrap().pending());
    wr(&mut g, 2, SGI + 0x0180, 1 << 1); // SGI 1 of vCPU 2 disabled
    assert_eq!(g.send_sgi(0, sgi1r(1, 0, 0, 0, 0, 0b100)), VcpuSet::EMPTY);
    assert!(
        g.irq(2, 1).unwrap().pending(),
        "pending, just not deliverable"
    );
}

#[test]
fn level_interrupt_stays_pending_while_the_line_is_high() {
    let mut g = ready(&MPIDRS);
    assert_eq!(g.set_level(0, 40, true), Ok(VcpuSet(1)));
    let mut lrs = g.flush(0, 4).lrs().to_vec();
    guest_sets(&mut lrs, 40, LrState::Active); // acknowledged
    g.sync(0, &lrs);
    let i = *g.irq(0, 40).unwrap();
    assert!(
        i.active() && i.pending(),
        "line still high: active and pending"
    );
    let mut lrs = g.flush(0, 4).lrs().to_vec();
    assert_eq!(ListRegister::decode(lrs[0]).state, LrState::PendingActive);
    assert_eq!(
        g.set_level(0, 40, false),
        Ok(VcpuSet(1)),
        "withdraw it from the LR"
    );
    g.sync(0, &lrs);
    lrs = g.flush(0, 4).lrs().to_vec();
    assert_eq!(
        ListRegister::decode(lrs[0]).state,
        LrState::Active,
        "line dropped"
    );
    guest_sets(&mut lrs, 40, LrState::Invalid); // EOI
    g.sync(0, &lrs);
    assert_eq!(g.flush(0, 4).used, 0);
    assert_eq!(
        g.set_level(0, 5, true),
        Err(VgicError::BadIntid(5)),
        "SGIs have no line"
    );
    assert_eq!(g.set_level(0, 96, true), Err(VgicError::BadIntid(96)));
    assert_eq!(g.set_level(4, 20, true), Err(VgicError::BadVcpu(4)));
}

#[test]
fn level_line_that_drops_before_acknowledge_is_withdrawn() {
    let mut g = ready(&MPIDRS);
    g.set_level(0, 41, true).unwrap();
    let lrs = g.flush(0, 4).lrs().to_vec();
    g.set_level(0, 41, false).unwrap();
    g.sync(0, &lrs); // still pending in the LR, but the line is low now
    assert!(!g.irq(0, 41).unwrap().pending());
    assert_eq!(g.flush(0, 4).used, 0);
}

#[test]
fn edge_raised_again_while_active_is_not_lost() {
    let mut g = ready(&MPIDRS);
    wd(&mut g, 0x0c08, 0xaaaa_aaaa); // 32..47 edge
    g.raise_edge(0, 42).unwrap();
    let mut lrs = g.flush(0, 4).lrs().to_vec();
    guest_sets(&mut lrs, 42, LrState::Active);
    g.raise_edge(0, 42).unwrap(); // arrives while the guest handles it
    g.sync(0, &lrs);
    let mut lrs = g.flush(0, 4).lrs().to_vec();
    assert_eq!(ListRegister::decode(lrs[0]).state, LrState::PendingActive);
    guest_sets(&mut lrs, 42, LrState::Pending); // EOI of the first
    g.sync(0, &lrs);
    assert!(g.irq(0, 42).unwrap().pending() && !g.irq(0, 42).unwrap().active());
    // Raised again while still pending in the LR: the edges coalesce.
    let lrs = g.flush(0, 4).lrs().to_vec();
    g.raise_edge(0, 42).unwrap();
    g.sync(0, &lrs);
    let plan = g.flush(0, 4);
    assert_eq!(plan.used, 1);
    assert_eq!(ListRegister::decode(plan.lrs()[0]).state, LrState::Pending);
}

#[test]
fn hw_link_queues_physical_effects_and_sets_the_hw_bit() {
    let mut g = ready(&MPIDRS);
    g.link_hw(50, 80).unwrap();
    let spi = |pintid| Phys { pintid, vcpu: None };
    assert_eq!(
        g.drain_effects(),
        [
            Effect::SetPhysTrigger {
                phys: spi(80),
                edge: false
            },
            Effect::EnablePhys(spi(80)),
            Effect::RouteChanged {
                intid: 50,
                pintid: 80,
                vcpu: Some(0)
            },
        ]
    );
    wd(&mut g, 0x0184, 1 << 18);
    wd(&mut g, 0x0104, 1 << 18);
    wd(&mut g, 0x0284, 1 << 18);
    wd(&mut g, 0x0c0c, 2 << 4);
    g.dist_access(0, 0x6000 + 50 * 8, 8, Some(1)).unwrap();
    assert_eq!(
        g.drain_effects(),
        [
            Effect::DisablePhys(spi(80)),
            Effect::EnablePhys(spi(80)),
            Effect::ClearPhysPending(spi(80)),
            Effect::SetPhysTrigger {
                phys: spi(80),
                edge: true
            },
            Effect::RouteChanged {
                intid: 50,
                pintid: 80,
                vcpu: Some(1)
            },
        ]
    );
    // The physical interrupt fired; the hypervisor forwards it.
    assert_eq!(g.raise_edge(0, 50), Ok(VcpuSet(0b10)));
    let mut lrs = g.flush(1, 4).lrs().to_vec();
    let lr = ListRegister::decode(lrs[0]);
    assert_eq!(
        (lr.vintid, lr.pintid, lr.state),
        (50, Some(80), LrState::Pending)
    );
    guest_sets(&mut lrs, 50, LrState::Active);
    g.raise_edge(0, 50).unwrap(); // e.g. ISPENDR by the guest: pending again
    g.sync(1, &lrs);
    let lrs = g.flush(1, 4).lrs().to_vec();
    assert_eq!(
        ListRegister::decode(lrs[0]).state,
        LrState::Active,
        "HW: never PA"
    );
    g.sync(1, &lrs);
}

#[test]
fn icactiver_on_hw_interrupt_deactivates_the_physical_one() {
    let mut g = ready(&MPIDRS);
    g.link_hw(27, 27).unwrap(); // a PPI, per vCPU bank
    let effects = g.drain_effects();
    assert_eq!(effects.len(), 8, "trigger + enable for each of 4 banks");
    g.raise_edge(2, 27).unwrap();
    let mut lrs = g.flush(2, 4).lrs().to_vec();
    guest_sets(&mut lrs, 27, LrState::Active);
    g.sync(2, &lrs);
    wr(&mut g, 2, SGI + 0x0380, 1 << 27);
    let ppi = Phys {
        pintid: 27,
        vcpu: Some(2),
    };
    assert!(g.drain_effects().contains(&Effect::DeactivatePhys(ppi)));
    assert!(!g.irq(2, 27).unwrap().active());
    wr(&mut g, 2, SGI + 0x0380, 1 << 27);
    assert!(
        !g.drain_effects().contains(&Effect::DeactivatePhys(ppi)),
        "not active"
    );
    assert_eq!(g.link_hw(3, 3), Err(VgicError::BadIntid(3)));
    assert_eq!(g.link_hw(40, 1020), Err(VgicError::BadPhysIntid(1020)));
    g.unlink_hw(27).unwrap();
    assert_eq!(g.irq(1, 27).unwrap().hw(), None);
}
