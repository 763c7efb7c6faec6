//! The virtual GIC driven by what guests and devices do: sequences of
//! distributor and redistributor accesses (v3) or distributor accesses (v2)
//! of any offset, width and value from any vCPU, trapped SGI register
//! writes, device lines and edges, hardware links, and list-register round
//! trips in which the "guest" changes each register's state at random.
//! Checked after every flush: no virtual INTID sits in two list registers
//! of one vCPU.

use arbitrary::{Arbitrary, Unstructured};
use hypervisor::vgic::Vgic;
use hypervisor::vgic::{ListRegister, LrState};

pub const TARGET_V3: crate::Target = crate::Target {
    name: "vgic-v3",
    about: "vGICv3 distributor/redistributor MMIO, ICC_SGI*R, injection and list registers",
    run: run_v3,
};

pub const TARGET_V2: crate::Target = crate::Target {
    name: "vgic-v2",
    about: "vGICv2 distributor MMIO (incl. SGIR, ITARGETSR), injection and list registers",
    run: run_v2,
};

#[derive(Arbitrary, Debug)]
enum Op {
    Dist {
        vcpu: u8,
        offset: u16,
        size: u8,
        write: Option<u64>,
    },
    Redist {
        frame: u8,
        offset: u32,
        size: u8,
        write: Option<u64>,
    },
    Sgi1 {
        vcpu: u8,
        value: u64,
    },
    Sgi0 {
        vcpu: u8,
        value: u64,
    },
    Level {
        vcpu: u8,
        intid: u16,
        level: bool,
    },
    Edge {
        vcpu: u8,
        intid: u16,
    },
    Link {
        intid: u16,
        pintid: u16,
    },
    Unlink {
        intid: u16,
    },
    /// Enter the guest with `lrs` list registers; it changes each loaded
    /// register's state by the matching 2 bits of `guest`, then exits.
    Run {
        vcpu: u8,
        lrs: u8,
        guest: u32,
    },
    EoiCount {
        vcpu: u8,
        count: u8,
    },
}

/// Access widths a trap can report, plus a bad one now and then.
fn width(size: u8) -> u8 {
    [1, 2, 4, 8, 3][usize::from(size % 5)]
}

fn run_ops(g: &mut Vgic, u: &mut Unstructured<'_>) {
    let n = g.nr_vcpus();
    let spis = g.nr_spis();
    // INTIDs mostly in range, sometimes beyond it (and beyond 1019).
    let intid = |i: u16| u32::from(i) % (32 + spis + 8);
    for _ in 0..256 {
        let Ok(op) = Op::arbitrary(u) else { return };
        let vc = |v: u8| usize::from(v) % (n + 1);
        match op {
            Op::Dist {
                vcpu,
                offset,
                size,
                write,
            } => {
                let offset = u64::from(offset);
                let _ = if g.version() == hypervisor::vgic::GicVersion::V2 {
                    g.dist_v2_access(vc(vcpu), offset & 0x1fff, width(size), write)
                } else {
                    g.dist_access(vc(vcpu), offset, width(size), write)
                };
            }
            Op::Redist {
                frame,
                offset,
                size,
                write,
            } => {
                let _ =
                    g.redist_access(vc(frame), u64::from(offset & 0x3_ffff), width(size), write);
            }
            Op::Sgi1 { vcpu, value } => {
                if vc(vcpu) < n {
                    let _ = g.send_sgi(vc(vcpu), value);
                }
            }
            Op::Sgi0 { vcpu, value } => {
                if vc(vcpu) < n {
                    let _ = g.send_sgi0(vc(vcpu), value);
                }
            }
            Op::Level {
                vcpu,
                intid: i,
                level,
            } => {
                let _ = g.set_level(vc(vcpu), intid(i), level);
            }
            Op::Edge { vcpu, intid: i } => {
                let _ = g.raise_edge(vc(vcpu), intid(i));
            }
            Op::Link { intid: i, pintid } => {
                let _ = g.link_hw(intid(i), u32::from(pintid) % 1100);
            }
            Op::Unlink { intid: i } => {
                let _ = g.unlink_hw(intid(i));
            }
            Op::Run { vcpu, lrs, guest } => {
                let v = vc(vcpu);
                if v < n {
                    guest_round_trip(g, v, usize::from(lrs % 17), guest);
                }
            }
            Op::EoiCount { vcpu, count } => g.eoi_count(vc(vcpu), u32::from(count % 20)),
        }
        let _ = g.drain_effects();
    }
}

fn guest_round_trip(g: &mut Vgic, vcpu: usize, nr_lrs: usize, guest: u32) {
    let plan = g.flush(vcpu, nr_lrs);
    let lrs = plan.lrs();
    let used = &lrs[..plan.used.min(lrs.len())];
    for (i, a) in used.iter().enumerate() {
        let a = ListRegister::decode(*a);
        for b in &used[i + 1..] {
            let b = ListRegister::decode(*b);
            assert!(
                a.vintid != b.vintid,
                "vINTID {} in two list registers",
                a.vintid
            );
        }
    }
    let after: Vec<u64> = lrs
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let mut l = ListRegister::decode(v);
            let bits = guest >> (2 * (i % 16)) & 3;
            l.state = LrState::new(bits & 1 != 0, bits & 2 != 0);
            if v == ListRegister::INVALID {
                v
            } else if g.version() == hypervisor::vgic::GicVersion::V2 {
                // Through the GICv2 list-register format and back, as the
                // arch layer does.
                ListRegister::decode_gicv2(l.encode_gicv2(plan.source(i))).encode()
            } else {
                l.encode()
            }
        })
        .collect();
    g.sync(vcpu, &after);
}

/// The GIC's shape from the first bytes: vCPUs (1..=8), SPIs (0..=224),
/// priority bits (4..=8); then its accesses.
fn run(data: &[u8], make: fn(usize, u32, u8) -> Option<Vgic>) {
    let mut u = Unstructured::new(data);
    let Ok([vcpus, spis, prio]) = <[u8; 3]>::arbitrary(&mut u) else {
        return;
    };
    let Some(mut g) = make(
        usize::from(vcpus % 8) + 1,
        u32::from(spis % 8) * 32,
        4 + prio % 5,
    ) else {
        return;
    };
    run_ops(&mut g, &mut u);
}

fn run_v3(data: &[u8]) {
    run(data, |vcpus, spis, prio| {
        let mpidrs: Vec<u64> = (0..vcpus as u64)
            .map(|i| ((i / 4) << 8) | (i % 4))
            .collect();
        Vgic::new(&mpidrs, spis, prio).ok()
    });
}

fn run_v2(data: &[u8]) {
    run(data, |vcpus, spis, prio| {
        Vgic::new_v2(vcpus, spis, prio).ok()
    });
}
