//! List-register scheduling of a GICv2 vGIC, with every plan converted to
//! GICH_LR values (`encode_gicv2` with the plan's sources) and what the
//! guest left converted back (`decode_gicv2`) before `sync`, as the arch
//! layer does on a GICv2 host.

use super::v2_regs::{ready2, sgir, w2};
use super::*;

/// The plan's registers as GICH_LR<n> values.
fn to_v2(plan: &LrPlan) -> Vec<u32> {
    (0..plan.lrs().len())
        .map(|n| ListRegister::decode(plan.lrs()[n]).encode_gicv2(plan.source(n)))
        .collect()
}

/// GICH_LR<n> values as `sync` takes them.
fn from_v2(lrs: &[u32]) -> Vec<u64> {
    lrs.iter()
        .map(|v| ListRegister::decode_gicv2(*v).encode())
        .collect()
}

/// The guest's CPU interface changed the state bits [29:28] of `lrs[n]`.
fn set_state(lrs: &mut [u32], n: usize, state: LrState) {
    let bits = u32::from(state.pending()) | u32::from(state.active()) << 1;
    lrs[n] = lrs[n] & !(3 << 28) | bits << 28;
}

// Values below: Grp1 [30] (ready2 makes everything Group 1), priority 0xa0
// as 0x14 << 23, state [29:28], CPUID [12:10], VirtualID [9:0].

#[test]
fn an_sgi_carries_its_source_through_acknowledge_and_eoi() {
    let mut g = ready2(4);
    w2(&mut g, 2, 0xf00, sgir(0, 0b1, 3));
    let plan = g.flush(0, 4);
    assert_eq!((plan.used, plan.source(0), plan.source(1)), (1, 2, 0));
    let mut lrs = to_v2(&plan);
    assert_eq!(lrs, [0x5a00_0803, 0, 0, 0]);
    set_state(&mut lrs, 0, LrState::Active); // GICV_IAR read: 2 << 10 | 3
    g.sync(0, &from_v2(&lrs));
    let sgi = *g.irq(0, 3).unwrap();
    assert!(sgi.active() && !sgi.pending());
    let plan = g.flush(0, 4);
    assert_eq!(to_v2(&plan)[0], 0x6a00_0803, "active, same source");
    let mut lrs = to_v2(&plan);
    set_state(&mut lrs, 0, LrState::Invalid); // GICV_EOIR
    g.sync(0, &from_v2(&lrs));
    assert!(!g.irq(0, 3).unwrap().active());
    assert_eq!(g.flush(0, 4).used, 0);
}

#[test]
fn an_sgi_from_another_source_waits_for_the_active_ones_eoi() {
    let mut g = ready2(4);
    w2(&mut g, 1, 0xf00, sgir(0, 0b1, 7));
    g.drain_effects();
    let mut lrs = to_v2(&g.flush(0, 4));
    set_state(&mut lrs, 0, LrState::Active);
    g.sync(0, &from_v2(&lrs));
    w2(&mut g, 3, 0xf00, sgir(0, 0b1, 7));
    assert_eq!(g.drain_effects(), [Effect::Kick(0)]);
    // One register cannot hold source 1's active SGI and source 3's
    // pending one: the active one alone, with EOI [19] to come back.
    let plan = g.flush(0, 4);
    assert_eq!(to_v2(&plan)[..2], [0x6a08_0407, 0]);
    assert!(g.irq(0, 7).unwrap().pending() && !plan.overflow);
    let mut lrs = to_v2(&plan);
    set_state(&mut lrs, 0, LrState::Invalid);
    g.sync(0, &from_v2(&lrs)); // the EOI maintenance interrupt's exit
    let plan = g.flush(0, 4);
    assert_eq!(to_v2(&plan)[0], 0x5a00_0c07, "now source 3's");
}

#[test]
fn the_same_source_again_while_active_shares_the_register() {
    let mut g = ready2(2);
    w2(&mut g, 1, 0xf00, sgir(0, 0b1, 7));
    let mut lrs = to_v2(&g.flush(0, 4));
    set_state(&mut lrs, 0, LrState::Active);
    g.sync(0, &from_v2(&lrs));
    w2(&mut g, 1, 0xf00, sgir(0, 0b1, 7));
    assert_eq!(to_v2(&g.flush(0, 4))[0], 0x7a00_0407, "pending and active");
}

#[test]
fn spis_follow_itargetsr_and_hw_ones_carry_the_physical_id() {
    let mut g = ready2(4);
    g.dist_v2_access(0, 0x828, 1, Some(0x04)).unwrap();
    assert_eq!(g.raise_edge(0, 40).unwrap(), VcpuSet(0b100));
    assert_eq!(g.flush(0, 4).used, 0);
    g.sync(0, &[]);
    let plan = g.flush(2, 4);
    assert_eq!((to_v2(&plan)[0], plan.source(0)), (0x5a00_0028, 0));
    g.link_hw(41, 73).unwrap();
    g.raise_edge(0, 41).unwrap();
    // HW [31], PhysicalID 73 [19:10], VirtualID 41.
    assert_eq!(to_v2(&g.flush(0, 4))[0], 0xda01_2429);
}

#[test]
fn an_spi_retargeted_while_in_a_register_moves_at_sync() {
    let mut g = ready2(4);
    g.raise_edge(0, 44).unwrap();
    let lrs0 = to_v2(&g.flush(0, 4));
    g.dist_v2_access(2, 0x82c, 1, Some(0x02)).unwrap();
    assert_eq!(
        g.drain_effects(),
        [Effect::Kick(0)],
        "the holder must give it up"
    );
    assert_eq!(g.flush(1, 4).used, 0, "still in vCPU 0's registers");
    g.sync(1, &[]);
    g.sync(0, &from_v2(&lrs0)); // untouched
    assert_eq!(g.drain_effects(), [Effect::Kick(1)]);
    assert_eq!(g.flush(0, 4).used, 0);
    assert_eq!(to_v2(&g.flush(1, 4))[0], 0x5a00_002c);
}

#[test]
fn maintenance_bits_and_eoicount_apply_unchanged() {
    let mut g = ready2(1);
    wd_edge_and_raise(&mut g, &[0x10, 0x20, 0x30, 0x40, 0x50, 0x60]);
    let plan = g.flush(0, 4);
    // GICH_HCR.UIE [1] | NPIE [3], the ICH_HCR_EL2 positions.
    assert_eq!(plan.hcr_bits(), 0b1010);
    let mut lrs = to_v2(&plan);
    for n in 0..4 {
        set_state(&mut lrs, n, LrState::Active);
    }
    g.sync(0, &from_v2(&lrs));
    let plan = g.flush(0, 2);
    // Two actives left out: UIE | LRENPIE [2]; the LRs hold no pending one.
    assert_eq!(plan.hcr_bits(), 0b0110);
    assert_eq!(
        to_v2(&plan),
        [0x6100_0020, 0x6200_0021],
        "priorities 0x10, 0x20 as 2 and 4"
    );
    g.sync(0, &from_v2(&to_v2(&plan)));
    g.eoi_count(0, 1); // GICH_HCR.EOICount: the guest EOId 34 from no LR
    assert!(!g.irq(0, 34).unwrap().active() && g.irq(0, 35).unwrap().active());
}

/// Edge SPIs 32.. with these priorities, raised.
fn wd_edge_and_raise(g: &mut Vgic, prios: &[u8]) {
    w2(g, 0, 0xc08, 0xaaaa_aaaa);
    for (k, p) in prios.iter().enumerate() {
        let intid = 32 + k as u32;
        g.dist_v2_access(0, 0x400 + u64::from(intid), 1, Some(u64::from(*p)))
            .unwrap();
        g.raise_edge(0, intid).unwrap();
    }
}
