//! List-register scheduling: selection order, overflow signalling, active
//! interrupts kept in registers, EOIcount, cross-vCPU ownership.

use super::inject::{guest_sets, ready};
use super::*;

fn states(plan: &LrPlan) -> Vec<(u32, LrState, u8)> {
    plan.lrs()[..plan.used]
        .iter()
        .map(|v| ListRegister::decode(*v))
        .map(|l| (l.vintid, l.state, l.priority))
        .collect()
}

/// Edge-triggered SPIs 32..=41 with priorities from `prios`, all raised.
fn ten_pending(g: &mut Vgic, prios: [u8; 10]) {
    wd(g, 0x0c08, 0xaaaa_aaaa);
    for (k, p) in prios.iter().enumerate() {
        g.dist_access(0, 0x0420 + k as u64, 1, Some(u64::from(*p)))
            .unwrap();
        g.raise_edge(0, 32 + k as u32).unwrap();
    }
}

#[test]
fn more_pending_than_registers_highest_priority_first() {
    let mut g = ready(&MPIDRS);
    ten_pending(
        &mut g,
        [0x80, 0x40, 0xc0, 0x40, 0x10, 0xf0, 0x40, 0x80, 0x20, 0x60],
    );
    let plan = g.flush(0, 4);
    assert_eq!(plan.used, 4);
    assert_eq!(
        states(&plan),
        [
            (36, LrState::Pending, 0x10),
            (40, LrState::Pending, 0x20),
            (33, LrState::Pending, 0x40), // ties: lower INTID first
            (35, LrState::Pending, 0x40),
        ]
    );
    assert!(plan.overflow && plan.uie && plan.npie && !plan.lrenpie);
    assert_eq!(plan.hcr_bits(), 0b1010);
    assert_eq!(
        g.irq(0, 38).unwrap().in_lr(),
        None,
        "0x40 but INTID 38 waits"
    );
}

#[test]
fn active_interrupts_keep_their_registers() {
    let mut g = ready(&MPIDRS);
    ten_pending(
        &mut g,
        [0x80, 0x40, 0xc0, 0x40, 0x10, 0xf0, 0x40, 0x80, 0x20, 0x60],
    );
    let mut lrs = g.flush(0, 4).lrs().to_vec();
    guest_sets(&mut lrs, 36, LrState::Active);
    guest_sets(&mut lrs, 40, LrState::Active);
    g.sync(0, &lrs);
    g.dist_access(0, 0x0420 + 9, 1, Some(0)).unwrap(); // 41 now the most urgent
    let plan = g.flush(0, 3);
    assert_eq!(
        states(&plan),
        [
            (36, LrState::Active, 0x10),
            (40, LrState::Active, 0x20),
            (41, LrState::Pending, 0x00),
        ]
    );
}

#[test]
fn repeated_flush_and_sync_deliver_everything_exactly_once() {
    let mut g = ready(&MPIDRS);
    ten_pending(
        &mut g,
        [0x80, 0x40, 0xc0, 0x40, 0x10, 0xf0, 0x40, 0x80, 0x20, 0x60],
    );
    let mut delivered = Vec::new();
    for _ in 0..5 {
        let plan = g.flush(0, 4);
        let mut lrs = plan.lrs().to_vec();
        for (intid, _, _) in states(&plan) {
            delivered.push(intid);
            guest_sets(&mut lrs, intid, LrState::Invalid); // ack + EOI
        }
        g.sync(0, &lrs);
    }
    assert_eq!(delivered, [36, 40, 33, 35, 38, 41, 32, 39, 34, 37]);
    assert_eq!(g.highest_pending(0), None);
}

#[test]
fn an_unsynced_plan_is_folded_back_untouched() {
    let mut g = ready(&MPIDRS);
    ten_pending(&mut g, [0x80; 10]);
    let first = g.flush(0, 4);
    let second = g.flush(0, 4); // the arch layer skipped sync
    assert_eq!(first, second);
    g.sync(0, &[]);
    assert_eq!(
        (32..42).filter(|&i| g.irq(0, i).unwrap().pending()).count(),
        10
    );
}

#[test]
fn actives_beyond_the_registers_are_deactivated_by_eoicount() {
    let mut g = ready(&MPIDRS);
    ten_pending(
        &mut g,
        [0x80, 0x70, 0x60, 0x50, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    );
    g.link_hw(33, 99).unwrap();
    g.drain_effects();
    // The guest takes three interrupts and handles them nested.
    let mut lrs = g.flush(0, 4).lrs().to_vec();
    for intid in [32, 33, 34] {
        guest_sets(&mut lrs, intid, LrState::Active);
    }
    g.sync(0, &lrs);
    let plan = g.flush(0, 2);
    assert!(plan.lrenpie && plan.overflow);
    assert_eq!(
        states(&plan),
        [(34, LrState::Active, 0x60), (33, LrState::Active, 0x70)],
        "actives by priority; 35 (pending, 0x50) waits"
    );
    g.sync(0, plan.lrs());
    let plan = g.flush(0, 1);
    assert_eq!(states(&plan), [(34, LrState::Active, 0x60)]);
    assert!(plan.lrenpie, "33 and 32 left out");
    // The guest EOIs 34 (in the LR), then 33 (not in any LR).
    let mut lrs = plan.lrs().to_vec();
    guest_sets(&mut lrs, 34, LrState::Invalid);
    g.sync(0, &lrs);
    g.eoi_count(0, 1);
    assert!(
        !g.irq(0, 33).unwrap().active(),
        "the higher-priority one left out"
    );
    assert!(g.irq(0, 32).unwrap().active());
    let phys = Phys {
        pintid: 99,
        vcpu: None,
    };
    assert_eq!(
        g.drain_effects(),
        [Effect::DeactivatePhys(phys)],
        "HW-linked"
    );
    g.eoi_count(0, 5); // one more left out, then nothing: no effect
    assert!(!g.irq(0, 32).unwrap().active());
    assert!(g.drain_effects().is_empty());
    let plan = g.flush(0, 4);
    assert_eq!(
        states(&plan)[0],
        (35, LrState::Pending, 0x50),
        "no actives left"
    );
    assert!(!plan.lrenpie);
}

#[test]
fn a_single_register_uses_eoi_maintenance_for_an_active_interrupt() {
    let mut g = ready(&MPIDRS);
    ten_pending(&mut g, [0x80; 10]);
    let mut lrs = g.flush(0, 1).lrs().to_vec();
    guest_sets(&mut lrs, 32, LrState::Active);
    g.sync(0, &lrs);
    let plan = g.flush(0, 1);
    let lr = ListRegister::decode(plan.lrs()[0]);
    assert_eq!(
        (lr.vintid, lr.state, lr.eoi_maintenance),
        (32, LrState::Active, true)
    );
    assert!(
        plan.overflow && !plan.uie && !plan.npie,
        "UIE would fire at once"
    );
    g.sync(0, plan.lrs());
    let mut none = Vgic::new(&MPIDRS, 32, 5).unwrap();
    assert_eq!(none.flush(0, 40).lrs().len(), MAX_LRS, "clamped to 16");
    assert_eq!(none.flush(9, 4).used, 0, "no such vCPU");
}

#[test]
fn an_acknowledged_spi_stays_with_its_vcpu_until_deactivated() {
    let mut g = ready(&MPIDRS);
    g.raise_edge(0, 44).unwrap();
    let mut lrs0 = g.flush(0, 4).lrs().to_vec();
    g.dist_access(2, 0x6000 + 44 * 8, 8, Some(1)).unwrap(); // retarget meanwhile
    assert_eq!(
        g.drain_effects(),
        [Effect::Kick(0)],
        "the holder must give it up"
    );
    assert_eq!(g.flush(1, 4).used, 0, "still in vCPU 0's registers");
    g.sync(1, &[]);
    guest_sets(&mut lrs0, 44, LrState::Active);
    g.sync(0, &lrs0);
    assert_eq!(g.irq(0, 44).unwrap().home(), Some(0), "active on vCPU 0");
    g.raise_edge(0, 44).unwrap();
    let lrs0 = g.flush(0, 4).lrs().to_vec();
    assert_eq!(ListRegister::decode(lrs0[0]).state, LrState::PendingActive);
    assert_eq!(g.flush(1, 4).used, 0);
    g.sync(1, &[]);
    let mut lrs0 = lrs0;
    guest_sets(&mut lrs0, 44, LrState::Pending); // EOI of the first
    g.drain_effects();
    g.sync(0, &lrs0);
    assert_eq!(
        g.drain_effects(),
        [Effect::Kick(1)],
        "vCPU 1 may take it now"
    );
    assert_eq!(g.flush(0, 4).used, 0, "inactive: it follows IROUTER now");
    g.sync(0, &[]);
    assert_eq!(g.highest_pending(1), Some((44, 0xa0)));
    assert_eq!(g.flush(1, 4).used, 1);
}

#[test]
fn guest_writes_for_an_interrupt_held_elsewhere_apply_at_sync() {
    let mut g = ready(&MPIDRS);
    g.raise_edge(0, 45).unwrap();
    g.raise_edge(0, 46).unwrap();
    let mut lrs = g.flush(0, 4).lrs().to_vec();
    g.dist_access(3, 0x0284, 4, Some(1 << 14)).unwrap(); // vCPU 3: ICPENDR 46
    assert_eq!(g.drain_effects(), [Effect::Kick(0)]);
    assert!(
        !g.irq(0, 46).unwrap().pending(),
        "reads see the write at once"
    );
    guest_sets(&mut lrs, 45, LrState::Active);
    g.dist_access(3, 0x0384, 4, Some(1 << 13)).unwrap(); // ICACTIVER 45
    assert!(!g.irq(0, 45).unwrap().active());
    g.sync(0, &lrs);
    assert!(
        !g.irq(0, 45).unwrap().active(),
        "the write wins over the LR"
    );
    assert!(!g.irq(0, 46).unwrap().pending(), "cleared while in the LR");
    assert_eq!(g.flush(0, 4).used, 0);
}

#[test]
fn disabling_a_group_withdraws_loaded_interrupts() {
    let mut g = ready(&MPIDRS);
    g.dist_access(0, 0x6000 + 47 * 8, 8, Some(1)).unwrap();
    g.raise_edge(0, 47).unwrap();
    let lrs = g.flush(1, 4).lrs().to_vec();
    g.drain_effects();
    wd(&mut g, 0x0000, 1); // vCPU 0: Group 1 off
    assert_eq!(g.drain_effects(), [Effect::Kick(1)]);
    g.sync(1, &lrs);
    assert_eq!(g.flush(1, 4).used, 0, "Group 1 is off");
    assert!(g.irq(0, 47).unwrap().pending(), "still pending for later");
}

/// `flush` looks only at interrupts changed since it last saw them idle:
/// one that went idle, even while another vCPU's flush unmarked it, must
/// be found again once raised.
#[test]
fn an_interrupt_seen_idle_is_found_again_when_raised() {
    let mut g = ready(&MPIDRS);
    g.raise_edge(0, 33).unwrap();
    let mut lrs = g.flush(0, 4).lrs().to_vec();
    guest_sets(&mut lrs, 33, LrState::Invalid);
    g.sync(0, &lrs);
    // Idle now: both vCPUs' flushes find nothing (and unmark it).
    assert_eq!(g.flush(1, 4).used, 0);
    assert_eq!(g.flush(0, 4).used, 0);
    g.raise_edge(0, 33).unwrap();
    assert_eq!(states(&g.flush(0, 4)), [(33, LrState::Pending, 0xa0)]);
}

/// Software virtual-IRQ signalling (boards whose GIC does not drive the
/// CPU's virtual IRQ): raise VI with NPIE for a pending register; for one
/// pending and active, raise VI without NPIE (it would fire at once) and
/// ask for EOI maintenance instead; nothing to raise once all are active.
#[test]
fn soft_virq_follows_the_list_registers() {
    let mut g = ready(&MPIDRS);
    wd(&mut g, 0x0c08, 0xaaaa_aaaa);
    g.raise_edge(0, 33).unwrap();
    let plan = g.flush(0, 4);
    let (_, hcr, vi) = plan.for_soft_virq();
    assert!(vi);
    assert_eq!(hcr & 0b1000, 0b1000, "NPIE while an LR is pending");

    // The guest takes it; while it is active the same edge comes again.
    let mut lrs = plan.lrs().to_vec();
    guest_sets(&mut lrs, 33, LrState::Active);
    g.sync(0, &lrs);
    let plan = g.flush(0, 4);
    let (_, hcr, vi) = plan.for_soft_virq();
    assert!(!vi && hcr & 0b1000 == 0, "only active: VI down, no NPIE");
    g.sync(0, plan.lrs());
    g.raise_edge(0, 33).unwrap();
    let plan = g.flush(0, 4);
    assert_eq!(states(&plan), [(33, LrState::PendingActive, 0xa0)]);
    let (loaded, hcr, vi) = plan.for_soft_virq();
    assert!(vi, "the pending part is taken after deactivation");
    assert_eq!(hcr & 0b1000, 0, "no NPIE: it would fire at once");
    assert!(ListRegister::decode(loaded[0]).eoi_maintenance);
}
