//! Event delivery against a model: random bind / send / mask / unmask /
//! close / upcall handling over several vCPUs, checking after every step
//! that no event is lost (a pending, unmasked port always has its vCPU's
//! selector bit and upcall flag set, so the guest will look), and that the
//! guest never handles an event nobody sent.

use alloc::vec::Vec;

use super::abi::*;
use super::fake::{World, ARG, RAM};
use crate::hypercall::GuestMemory;

const VCPUS: usize = 4;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The guest side: where each vCPU's area is, as Linux keeps it.
fn area_ipa(v: usize) -> u64 {
    // Two areas per page, to share pages as Linux's per-CPU data does.
    RAM + 4096 + (v as u64 / 2) * 4096 + (v as u64 % 2) * 64
}

struct Model {
    /// Port -> its vCPU, for bound IPI ports.
    bound: Vec<Option<usize>>,
    /// Sends not yet handled, per port (coalesced: 0 or more).
    unhandled: Vec<u32>,
}

#[test]
fn no_event_is_lost_or_invented() {
    for seed in 1..=40u64 {
        run(seed, 400);
    }
}

fn run(seed: u64, steps: usize) {
    let sh_ipa = RAM;
    let mut b = [0u8; 24];
    put_u16(&mut b, 0, DOMID_SELF);
    put_u64(&mut b, 16, sh_ipa / 4096);
    let w = World::new(&[0], 8, VCPUS);
    let c = w.as_(0, 0);
    assert_eq!(c.call_with(nr::MEMORY_OP, 7, ARG, &b), 0);
    for v in 0..VCPUS {
        let mut r = [0u8; 16];
        put_u64(&mut r, 0, area_ipa(v) / 4096);
        put_u32(&mut r, 8, (area_ipa(v) % 4096) as u32);
        c.write(ARG, &r).unwrap();
        assert_eq!(c.call(nr::VCPU_OP, [10, v as u64, ARG]), 0);
    }
    let sh = w.area(0, sh_ipa, 4096);
    let area = |v: usize| w.area(0, area_ipa(v), 48);
    let mut m = Model {
        bound: Vec::new(),
        unhandled: Vec::new(),
    };
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let pending = |p: u32| {
        sh.load_u64(shared_info::EVTCHN_PENDING + u64::from(p / 64) * 8)
            .unwrap()
            & (1 << (p % 64))
            != 0
    };
    let masked = |p: u32| {
        sh.load_u64(shared_info::EVTCHN_MASK + u64::from(p / 64) * 8)
            .unwrap()
            & (1 << (p % 64))
            != 0
    };
    let port_of = |m: &Model, k: u64| -> Option<u32> {
        let live: Vec<u32> = (0..m.bound.len() as u32)
            .filter(|&p| m.bound[p as usize].is_some())
            .collect();
        (!live.is_empty()).then(|| live[(k % live.len() as u64) as usize])
    };
    for step in 0..steps {
        let k = rng.next();
        match rng.below(7) {
            0 => {
                // bind_ipi for a random vCPU.
                let v = rng.below(VCPUS as u64) as u32;
                let mut a = [0u8; 8];
                put_u32(&mut a, 0, v);
                if c.call_with(nr::EVENT_CHANNEL_OP, evtchn_op::BIND_IPI, ARG, &a) == 0 {
                    let p = u32_at(&c.read_back::<8>(ARG), 4) as usize;
                    if m.bound.len() <= p {
                        m.bound.resize(p + 1, None);
                        m.unhandled.resize(p + 1, 0);
                    }
                    assert!(m.bound[p].is_none(), "port {p} handed out twice");
                    m.bound[p] = Some(v as usize);
                    m.unhandled[p] = 0;
                }
            }
            1 | 2 => {
                if let Some(p) = port_of(&m, k) {
                    assert_eq!(
                        c.call_with(nr::EVENT_CHANNEL_OP, 4, ARG, &p.to_le_bytes()),
                        0
                    );
                    m.unhandled[p as usize] += 1;
                }
            }
            3 => {
                // The guest masks a port itself.
                if let Some(p) = port_of(&m, k) {
                    sh.fetch_or_u64(
                        shared_info::EVTCHN_MASK + u64::from(p / 64) * 8,
                        1 << (p % 64),
                    );
                }
            }
            4 => {
                if let Some(p) = port_of(&m, k) {
                    assert_eq!(
                        c.call_with(nr::EVENT_CHANNEL_OP, 9, ARG, &p.to_le_bytes()),
                        0
                    );
                }
            }
            5 => {
                if let Some(p) = port_of(&m, k) {
                    assert_eq!(
                        c.call_with(nr::EVENT_CHANNEL_OP, 3, ARG, &p.to_le_bytes()),
                        0
                    );
                    m.bound[p as usize] = None;
                    m.unhandled[p as usize] = 0;
                    assert!(!pending(p), "closing clears the pending bit");
                    // Linux masks a port it frees.
                    sh.fetch_or_u64(
                        shared_info::EVTCHN_MASK + u64::from(p / 64) * 8,
                        1 << (p % 64),
                    );
                }
            }
            _ => {
                // vCPU v's upcall handler, as Linux's 2-level one works.
                let v = rng.below(VCPUS as u64) as usize;
                let a = area(v);
                if a.swap_u8(vcpu_info::UPCALL_PENDING, 0) == Some(1) {
                    let sel = a.fetch_and_u64(vcpu_info::PENDING_SEL, 0).unwrap();
                    for word in (0..64).filter(|i| sel & (1 << i) != 0) {
                        let off = word * 8;
                        let ready = sh.load_u64(shared_info::EVTCHN_PENDING + off).unwrap()
                            & !sh.load_u64(shared_info::EVTCHN_MASK + off).unwrap();
                        for bit in (0..64).filter(|b| ready & (1 << b) != 0) {
                            let p = (word * 64 + bit) as usize;
                            if m.bound.get(p).copied().flatten() != Some(v) {
                                continue;
                            }
                            sh.fetch_and_u64(shared_info::EVTCHN_PENDING + off, !(1 << bit));
                            assert!(
                                m.unhandled[p] > 0,
                                "seed {seed} step {step}: port {p} handled but never sent"
                            );
                            m.unhandled[p] = 0;
                        }
                    }
                }
            }
        }
        // No loss: every pending, unmasked, bound port is flagged to its vCPU.
        for (p, owner) in m.bound.iter().enumerate() {
            let (Some(v), p) = (owner, p as u32) else {
                continue;
            };
            if m.unhandled[p as usize] > 0 {
                assert!(
                    pending(p),
                    "seed {seed} step {step}: port {p} sent but not pending"
                );
            }
            if pending(p) && !masked(p) {
                let a = area(*v);
                let sel = a.load_u64(vcpu_info::PENDING_SEL).unwrap();
                assert_ne!(
                    sel & (1 << (p / 64)),
                    0,
                    "seed {seed} step {step}: port {p} not in vCPU {v}'s selector"
                );
                assert_eq!(
                    a.load_u8(0),
                    Some(1),
                    "seed {seed} step {step}: vCPU {v} not told of port {p}"
                );
            }
        }
    }
    // Every interrupt raised was for a vCPU whose flag went from clear to set.
    assert!(w.raised.borrow().iter().all(|(d, v)| *d == 0 && *v < VCPUS));
}
