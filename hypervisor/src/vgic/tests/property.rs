//! Property-style test: a deterministic pseudo-random mix of device edges
//! and levels, SGIs, IROUTER changes and priority changes, against a guest
//! model that acknowledges the highest-priority pending list register above
//! its running priority, nests, and EOIs in order (EOImode 0), with exits at
//! random points. Checked throughout: no vINTID twice in one vCPU's LRs, no
//! SPI in two vCPUs' LRs, no HW list register pending-and-active, no edge
//! delivered more often than raised. Checked at the end, after draining:
//! every raise was followed by an acknowledge, and nothing is left pending
//! or active. vCPU 0's number of list registers changes at random (1..=4)
//! so that active interrupts get left out and are EOId through EOIcount.

use std::collections::BTreeMap;

use super::inject::ready;
use super::*;

const NR_VCPUS: usize = 2;
/// Bank of an SPI in the tracking keys.
const SHARED: usize = usize::MAX;
const LEVEL: [u32; 5] = [20, 32, 34, 36, 38];
const EDGE_PRIVATE: [u32; 3] = [1, 2, 22];
const EDGE_SPI: [u32; 4] = [33, 35, 37, 39];
const PRIOS: [u8; 6] = [0x00, 0x20, 0x40, 0x60, 0x80, 0xa0];

pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn below(&mut self, n: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) % n
    }
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
    lrs: Vec<u64>,
    /// Acknowledged, not yet EOId: (INTID, priority), innermost last.
    stack: Vec<(u32, u8)>,
    eoicount: u32,
    /// Level interrupts handled: the device deasserts at the next exit.
    to_lower: Vec<u32>,
}

struct World {
    g: Vgic,
    guests: Vec<Guest>,
    track: BTreeMap<(usize, u32), Track>,
    lines: BTreeMap<(usize, u32), bool>,
    t: u64,
    /// Plans that overflowed, EOIs no list register saw: the paths must run.
    overflows: u32,
    unseen_eois: u32,
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
        let mut g = ready(&MPIDRS[..NR_VCPUS]);
        wd(&mut g, 0x0c08, 0xaaaa_aaaa & !0x3333_3333); // odd 32..47 edge
        wr(&mut g, 0, SGI + 0x0c04, 2 << 12); // PPI 22 edge on both vCPUs
        wr(&mut g, 1, SGI + 0x0c04, 2 << 12);
        g.link_hw(37, 37).unwrap();
        for intid in 0..40 {
            for v in 0..NR_VCPUS {
                let p = u64::from(PRIOS[rng.below(6) as usize]);
                if intid < NR_PRIVATE {
                    g.redist_access(v, SGI + 0x400 + u64::from(intid), 1, Some(p))
                        .unwrap();
                } else {
                    g.dist_access(v, 0x400 + u64::from(intid), 1, Some(p))
                        .unwrap();
                }
            }
        }
        let mut w = World {
            g,
            guests: (0..NR_VCPUS).map(|_| Guest::default()).collect(),
            track: BTreeMap::new(),
            lines: BTreeMap::new(),
            t: 1,
            overflows: 0,
            unseen_eois: 0,
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
        self.g.sync(v, &guest.lrs);
        self.unseen_eois += guest.eoicount;
        self.g.eoi_count(v, core::mem::take(&mut guest.eoicount));
        for intid in core::mem::take(&mut guest.to_lower) {
            self.g.set_level(v, intid, false).unwrap();
            self.lines.insert((bank(v, intid), intid), false);
        }
        let plan = self.g.flush(v, self.nr_lrs[v]);
        self.overflows += u32::from(plan.overflow);
        self.guests[v].lrs = plan.lrs().to_vec();
        self.g.drain_effects();
    }

    /// The guest takes the best pending LR above its running priority.
    fn ack(&mut self, v: usize) -> bool {
        let guest = &mut self.guests[v];
        let running = guest.stack.last().map_or(0x100, |s| u32::from(s.1));
        let best = (0..guest.lrs.len())
            .map(|i| (i, ListRegister::decode(guest.lrs[i])))
            .filter(|(_, l)| l.state == LrState::Pending && u32::from(l.priority) < running)
            .min_by_key(|(i, l)| (l.priority, *i));
        let Some((i, mut lr)) = best else {
            return false;
        };
        lr.state = LrState::Active;
        guest.lrs[i] = lr.encode();
        guest.stack.push((lr.vintid, lr.priority));
        if LEVEL.contains(&lr.vintid) {
            guest.to_lower.push(lr.vintid);
        }
        let tr = self
            .track
            .entry((bank(v, lr.vintid), lr.vintid))
            .or_default();
        tr.acks += 1;
        tr.last_ack = self.t;
        true
    }

    fn eoi(&mut self, v: usize) {
        let guest = &mut self.guests[v];
        let Some((intid, _)) = guest.stack.pop() else {
            return;
        };
        let slot = guest.lrs.iter().position(|x| {
            let l = ListRegister::decode(*x);
            l.vintid == intid && l.state.active()
        });
        match slot {
            Some(i) => {
                let mut l = ListRegister::decode(guest.lrs[i]);
                l.state = LrState::new(l.state.pending(), false);
                guest.lrs[i] = l.encode();
            }
            None => guest.eoicount += 1,
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
                let intid = EDGE_PRIVATE[rng.below(3) as usize];
                if intid < NR_SGIS {
                    let list = 1 + rng.below(3);
                    self.g.send_sgi(v, u64::from(intid) << 24 | list);
                    for t in (0..NR_VCPUS).filter(|t| list & (1 << t) != 0) {
                        self.raised((t, intid));
                    }
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
                if rng.below(2) == 0 {
                    let to = MPIDRS[rng.below(NR_VCPUS as u64) as usize] & 0xff;
                    self.g
                        .dist_access(v, 0x6000 + 8 * u64::from(intid), 8, Some(to))
                        .unwrap();
                } else if !self.g.irq(0, intid).unwrap().active() {
                    let p = u64::from(PRIOS[rng.below(6) as usize]);
                    self.g
                        .dist_access(v, 0x400 + u64::from(intid), 1, Some(p))
                        .unwrap();
                }
            }
        }
        self.check();
    }

    fn check(&self) {
        let mut spis_held = Vec::new();
        for (v, guest) in self.guests.iter().enumerate() {
            let valid: Vec<ListRegister> = guest
                .lrs
                .iter()
                .map(|x| ListRegister::decode(*x))
                .filter(|l| l.state != LrState::Invalid)
                .collect();
            for (i, l) in valid.iter().enumerate() {
                assert!(
                    !valid[..i].iter().any(|o| o.vintid == l.vintid),
                    "vCPU {v}: {l:?} twice"
                );
                assert!(
                    l.pintid.is_none() || l.state != LrState::PendingActive,
                    "{l:?}"
                );
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

    /// No more input: run every vCPU until nothing is left.
    fn drain(&mut self) {
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
                        .all(|x| ListRegister::decode(*x).state == LrState::Invalid)
            });
            if idle {
                return;
            }
        }
        panic!("did not drain");
    }
}

#[test]
fn random_traffic_loses_and_duplicates_nothing() {
    let mut unseen = 0;
    for seed in 1..=12u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut w = World::new(&mut rng);
        for _ in 0..4000 {
            w.step(&mut rng);
        }
        w.drain();
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
    eprintln!("EOIs through EOIcount: {unseen}");
}
