//! The property test of `property.rs` for the GICv2 front end: the same mix
//! of device edges and levels and priority changes, with SGIs sent through
//! GICD_SGIR (all three target filters) and SPENDSGIR, SPIs moved with
//! ITARGETSR (including to nobody), and list registers that live in the
//! guest as GICH_LR values (`encode_gicv2` / `decode_gicv2` at every
//! entry and exit). The guest acknowledges by GICH_LR contents and EOIs
//! the way a GICv2 virtual CPU interface matches them: by VirtualID and,
//! for SGIs, by the source CPU it acknowledged; a register with EOI set
//! brings the vCPU out at once (the maintenance interrupt). Checked
//! throughout, besides `property.rs`'s invariants: every acknowledged SGI
//! names a CPU that sent it, and no EOI misses a register that holds its
//! SGI active from another source (that interrupt would stay active).

use std::collections::BTreeMap;

use super::property::Rng;
use super::v2_regs::{ready2, sgir, w2};
use super::*;

const NR_VCPUS: usize = 3;
const SHARED: usize = usize::MAX;
const LEVEL: [u32; 5] = [20, 32, 34, 36, 38];
const EDGE_PRIVATE: [u32; 4] = [1, 2, 9, 22];
const EDGE_SPI: [u32; 4] = [33, 35, 37, 39];
const PRIOS: [u8; 6] = [0x00, 0x20, 0x40, 0x60, 0x80, 0xa0];

const STATE_SHIFT: u32 = 28;
const EOI: u32 = 1 << 19;
const HW: u32 = 1 << 31;

fn cpuid(lr: u32) -> u8 {
    (lr >> 10 & 7) as u8
}

#[derive(Default, Debug)]
struct Track {
    raises: u32,
    acks: u32,
    last_raise: u64,
    last_ack: u64,
}

#[derive(Default)]
struct Guest {
    /// GICH_LR<n> as loaded at the last entry and changed since.
    lrs: Vec<u32>,
    /// Acknowledged, not yet EOId: (INTID, priority, source), innermost last.
    stack: Vec<(u32, u8, u8)>,
    eoicount: u32,
    to_lower: Vec<u32>,
}

struct World {
    g: Vgic,
    guests: Vec<Guest>,
    track: BTreeMap<(usize, u32), Track>,
    lines: BTreeMap<(usize, u32), bool>,
    /// SGI sends per (target, SGI) not yet matched by an acknowledge.
    senders: BTreeMap<(usize, u32), Vec<u8>>,
    t: u64,
    overflows: u32,
    unseen_eois: u32,
    /// EOI maintenance exits (an SGI's second source waited for them).
    eoi_exits: u32,
    /// Sources seen in acknowledged SGIs (bit per vCPU).
    sources_seen: u8,
    nr_lrs: [usize; NR_VCPUS],
}

fn bank(vcpu: usize, intid: u32) -> usize {
    if intid < NR_PRIVATE {
        vcpu
    } else {
        SHARED
    }
}

impl World {
    fn new(rng: &mut Rng) -> Self {
        let mut g = ready2(NR_VCPUS);
        w2(&mut g, 0, 0xc08, 0xaaaa_aaaa & !0x3333_3333); // odd 32..47 edge
        for v in 0..NR_VCPUS {
            w2(&mut g, v, 0xc04, 2 << 12); // PPI 22 edge
        }
        g.link_hw(37, 37).unwrap();
        for intid in 0..40u32 {
            for v in 0..NR_VCPUS {
                let p = u64::from(PRIOS[rng.below(6) as usize]);
                g.dist_v2_access(v, 0x400 + u64::from(intid), 1, Some(p))
                    .unwrap();
            }
        }
        let mut w = World {
            g,
            guests: (0..NR_VCPUS).map(|_| Guest::default()).collect(),
            track: BTreeMap::new(),
            lines: BTreeMap::new(),
            senders: BTreeMap::new(),
            t: 1,
            overflows: 0,
            unseen_eois: 0,
            eoi_exits: 0,
            sources_seen: 0,
            nr_lrs: [4; NR_VCPUS],
        };
        for v in 0..NR_VCPUS {
            w.exit_and_enter(v);
        }
        w
    }

    fn raised(&mut self, key: (usize, u32)) {
        let tr = self.track.entry(key).or_default();
        tr.raises += 1;
        tr.last_raise = self.t;
    }

    fn exit_and_enter(&mut self, v: usize) {
        let guest = &mut self.guests[v];
        let back: Vec<u64> = guest
            .lrs
            .iter()
            .map(|x| ListRegister::decode_gicv2(*x).encode())
            .collect();
        self.g.sync(v, &back);
        self.unseen_eois += guest.eoicount;
        self.g.eoi_count(v, core::mem::take(&mut guest.eoicount));
        for intid in core::mem::take(&mut guest.to_lower) {
            self.g.set_level(v, intid, false).unwrap();
            self.lines.insert((bank(v, intid), intid), false);
        }
        let plan = self.g.flush(v, self.nr_lrs[v]);
        self.overflows += u32::from(plan.overflow);
        self.guests[v].lrs = (0..plan.lrs().len())
            .map(|n| ListRegister::decode(plan.lrs()[n]).encode_gicv2(plan.source(n)))
            .collect();
        self.g.drain_effects();
    }

    fn ack(&mut self, v: usize) -> bool {
        let guest = &mut self.guests[v];
        let running = guest.stack.last().map_or(0x100, |s| u32::from(s.1));
        let best = (0..guest.lrs.len())
            .map(|i| (i, ListRegister::decode_gicv2(guest.lrs[i])))
            .filter(|(_, l)| l.state == LrState::Pending && u32::from(l.priority) < running)
            .min_by_key(|(i, l)| (l.priority, *i));
        let Some((i, lr)) = best else {
            return false;
        };
        guest.lrs[i] = guest.lrs[i] & !(3 << STATE_SHIFT) | 2 << STATE_SHIFT;
        let intid = lr.vintid;
        let source = if intid < NR_SGIS {
            cpuid(guest.lrs[i])
        } else {
            0
        };
        guest.stack.push((intid, lr.priority, source));
        if LEVEL.contains(&intid) {
            guest.to_lower.push(intid);
        }
        if intid < NR_SGIS {
            let sent = self.senders.entry((v, intid)).or_default();
            let at = sent.iter().position(|&s| s == source);
            let at = at.unwrap_or_else(|| panic!("vCPU {v}: SGI {intid} from {source}: {sent:?}"));
            sent.remove(at);
            self.sources_seen |= 1 << source;
        }
        let tr = self.track.entry((bank(v, intid), intid)).or_default();
        tr.acks += 1;
        tr.last_ack = self.t;
        true
    }

    fn eoi(&mut self, v: usize) {
        let guest = &mut self.guests[v];
        let Some((intid, _, source)) = guest.stack.pop() else {
            return;
        };
        let active = |x: u32| ListRegister::decode_gicv2(x).vintid == intid && x >> 29 & 1 == 1;
        let matches = |x: u32| active(x) && (intid >= NR_SGIS || cpuid(x) == source);
        match guest.lrs.iter().position(|&x| matches(x)) {
            Some(i) => {
                guest.lrs[i] &= !(2 << STATE_SHIFT);
                if guest.lrs[i] & (EOI | HW) == EOI {
                    self.eoi_exits += 1;
                    self.exit_and_enter(v);
                }
            }
            None => {
                assert!(
                    !guest.lrs.iter().any(|&x| active(x)),
                    "vCPU {v}: EOI of {intid} from {source} misses {:x?}",
                    guest.lrs
                );
                guest.eoicount += 1;
            }
        }
    }

    fn send_sgi(&mut self, rng: &mut Rng, v: usize, intid: u32) {
        let targets: Vec<usize> = if rng.below(4) == 0 {
            // SPENDSGIR: the accessor's own SGI, from any source.
            let source = rng.below(NR_VCPUS as u64) as u8;
            let off = 0xf20 + u64::from(intid);
            self.g.dist_v2_access(v, off, 1, Some(1 << source)).unwrap();
            self.senders.entry((v, intid)).or_default().push(source);
            vec![v]
        } else {
            let filter = rng.below(3);
            let list = rng.below(1 << NR_VCPUS);
            w2(&mut self.g, v, 0xf00, sgir(filter, list, u64::from(intid)));
            let targets: Vec<usize> = (0..NR_VCPUS)
                .filter(|&t| match filter {
                    0 => list & (1 << t) != 0,
                    1 => t != v,
                    _ => t == v,
                })
                .collect();
            for &t in &targets {
                self.senders.entry((t, intid)).or_default().push(v as u8);
            }
            targets
        };
        for t in targets {
            self.raised((t, intid));
        }
    }

    fn step(&mut self, rng: &mut Rng) {
        self.t += 1;
        let v = rng.below(NR_VCPUS as u64) as usize;
        match rng.below(10) {
            0..=2 => {
                self.ack(v);
            }
            3 | 4 => self.eoi(v),
            5 => {
                if v == 0 {
                    self.nr_lrs[0] = 1 + rng.below(4) as usize;
                }
                self.exit_and_enter(v)
            }
            6 => {
                let intid = EDGE_SPI[rng.below(4) as usize];
                self.g.raise_edge(0, intid).unwrap();
                self.raised((SHARED, intid));
            }
            7 => {
                let intid = EDGE_PRIVATE[rng.below(4) as usize];
                if intid < NR_SGIS {
                    self.send_sgi(rng, v, intid);
                } else {
                    self.g.raise_edge(v, intid).unwrap();
                    self.raised((v, intid));
                }
            }
            8 => {
                let intid = LEVEL[rng.below(5) as usize];
                let key = (bank(v, intid), intid);
                if !self.lines.get(&key).copied().unwrap_or(false) {
                    self.g.set_level(v, intid, true).unwrap();
                    self.lines.insert(key, true);
                    self.raised(key);
                }
            }
            _ => {
                let intid = 32 + rng.below(8) as u32;
                match rng.below(3) {
                    // A CPU mask, empty now and then: the SPI waits.
                    0 => {
                        let mask = rng.below(1 << NR_VCPUS);
                        self.g
                            .dist_v2_access(v, 0x800 + u64::from(intid), 1, Some(mask))
                            .unwrap();
                    }
                    1 => {
                        let word = (0..4).fold(0, |w, k| w | (1 + rng.below(7)) << (8 * k));
                        let off = 0x800 + u64::from(intid & !3);
                        w2(&mut self.g, v, off, word);
                    }
                    _ if !self.g.irq(0, intid).unwrap().active() => {
                        let p = u64::from(PRIOS[rng.below(6) as usize]);
                        self.g
                            .dist_v2_access(v, 0x400 + u64::from(intid), 1, Some(p))
                            .unwrap();
                    }
                    _ => {}
                }
            }
        }
        self.check();
    }

    fn check(&self) {
        let mut spis_held = Vec::new();
        for (v, guest) in self.guests.iter().enumerate() {
            let valid: Vec<(u32, ListRegister)> = guest
                .lrs
                .iter()
                .map(|&x| (x, ListRegister::decode_gicv2(x)))
                .filter(|(_, l)| l.state != LrState::Invalid)
                .collect();
            for (i, &(raw, l)) in valid.iter().enumerate() {
                assert!(
                    !valid[..i].iter().any(|o| o.1.vintid == l.vintid),
                    "vCPU {v}: {l:?} twice"
                );
                assert!(
                    l.pintid.is_none() || l.state != LrState::PendingActive,
                    "{l:?}"
                );
                if l.vintid < NR_SGIS {
                    assert!(usize::from(cpuid(raw)) < NR_VCPUS, "{raw:#x}");
                    // An active SGI is one the guest acknowledged, from that source.
                    assert!(
                        !l.state.active()
                            || guest
                                .stack
                                .iter()
                                .any(|s| (s.0, s.2) == (l.vintid, cpuid(raw))),
                        "vCPU {v}: {raw:#x} vs {:?}",
                        guest.stack
                    );
                }
                if l.vintid >= NR_PRIVATE {
                    assert!(
                        !spis_held.contains(&l.vintid),
                        "SPI {} in two vCPUs",
                        l.vintid
                    );
                    spis_held.push(l.vintid);
                }
            }
        }
        for (key, tr) in &self.track {
            if !LEVEL.contains(&key.1) {
                assert!(
                    tr.acks <= tr.raises,
                    "{key:?} delivered more than raised: {tr:?}"
                );
            }
        }
    }

    /// No more input: give every SPI a CPU, then run every vCPU until
    /// nothing is left.
    fn drain(&mut self, rng: &mut Rng) {
        for off in (0x820..0x828).step_by(4) {
            let word = (0..4).fold(0, |w, k| w | (1 + rng.below(7)) << (8 * k));
            w2(&mut self.g, 0, off, word);
        }
        self.nr_lrs = [4; NR_VCPUS];
        for _ in 0..200 {
            for v in 0..NR_VCPUS {
                self.t += 1;
                self.exit_and_enter(v);
                while self.ack(v) {}
                while !self.guests[v].stack.is_empty() {
                    self.eoi(v);
                }
                self.check();
            }
            let idle = (0..NR_VCPUS).all(|v| {
                self.g.highest_pending(v).is_none()
                    && self.guests[v].to_lower.is_empty()
                    && self.guests[v]
                        .lrs
                        .iter()
                        .all(|x| ListRegister::decode_gicv2(*x).state == LrState::Invalid)
            });
            if idle {
                return;
            }
        }
        panic!("did not drain");
    }
}

#[test]
fn random_gicv2_traffic_loses_and_duplicates_nothing() {
    let (mut unseen, mut eoi_exits, mut sources) = (0, 0, 0);
    for seed in 1..=12u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut w = World::new(&mut rng);
        for _ in 0..4000 {
            w.step(&mut rng);
        }
        w.drain(&mut rng);
        let mut acks = 0;
        for (key, tr) in &w.track {
            assert!(
                tr.last_ack > tr.last_raise,
                "seed {seed}: {key:?} lost: {tr:?}"
            );
            acks += tr.acks;
        }
        assert!(
            acks > 300,
            "seed {seed}: the guest took only {acks} interrupts"
        );
        assert!(w.overflows > 20, "seed {seed}: {} overflows", w.overflows);
        unseen += w.unseen_eois;
        eoi_exits += w.eoi_exits;
        sources |= w.sources_seen;
        for v in 0..NR_VCPUS {
            for intid in 0..40 {
                let i = w.g.irq(v, intid).unwrap();
                assert!(
                    !i.active() && !i.pending(),
                    "seed {seed}: {v}/{intid} {i:?}"
                );
            }
        }
    }
    assert!(unseen > 0, "no EOI ever missed the list registers");
    assert!(eoi_exits > 0, "no SGI ever waited for another source's EOI");
    assert_eq!(sources, 0b111, "SGIs from every vCPU");
    eprintln!("EOIs through EOIcount: {unseen}; EOI maintenance exits: {eoi_exits}");
}
