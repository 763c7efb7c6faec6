//! The FF-A mediator as guests drive it: any function ID in the FF-A range
//! (32- and 64-bit), any arguments, from any of three domains, with the
//! guests' RAM (their TX buffers, hence MEM_SHARE descriptors) written by
//! the fuzzer, plus domain creation and teardown and a secure partition
//! that refuses reclaims. The secure world is the host tests' fake SPMC,
//! with a version and descriptor size the fuzzer picks.

use arbitrary::{Arbitrary, Unstructured};
use hypervisor::ffa::abi::{self, Version};
use hypervisor::ffa::fake::{
    share_descriptor, FakeRam, FakeWorld, BUFS, RAM_IPA, RAM_PA, RAM_SIZE,
};
use hypervisor::ffa::probe::probe;
use hypervisor::ffa::{forwarded_reply, Action, Caller, Env, Mediator};

pub const TARGET: crate::Target = crate::Target {
    name: "ffa-mediator",
    about: "FF-A calls of three guests (incl. MEM_SHARE descriptors in their TX buffers), VM create/destroy",
    run,
};

#[derive(Arbitrary, Debug)]
enum Arg {
    Small(u8),
    /// A page of the guest's RAM.
    Page(u16),
    Raw(u64),
}

impl Arg {
    fn value(&self) -> u64 {
        match *self {
            Arg::Small(v) => u64::from(v),
            Arg::Page(p) => RAM_IPA + (u64::from(p) << 12) % (RAM_SIZE + 0x4000),
            Arg::Raw(v) => v,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Call {
        dom: u8,
        smc64: bool,
        func: u8,
        args: [Arg; 7],
    },
    /// Bytes into the guests' RAM (host view).
    Poke {
        off: u32,
        bytes: Vec<u8>,
    },
    /// A well-formed v1.1 share descriptor (then mutated by later pokes).
    Descriptor {
        at: u16,
        sender: u16,
        receiver: u16,
        ranges: Vec<(u16, u8)>,
        total: u32,
    },
    Created(u8),
    Destroyed(u8),
    RefuseReclaim(bool),
}

const VERSIONS: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut w = FakeWorld::default();
    let (Ok(v), Ok(size)) = (u8::arbitrary(&mut u), u8::arbitrary(&mut u)) else {
        return;
    };
    w.version = VERSIONS[usize::from(v % 3)].0;
    w.desc_size = [24, 32, 8, 0][usize::from(size % 4)];
    let Ok(p) = probe(&mut w, &BUFS) else { return };
    let mut m = Mediator::new(p, BUFS);
    let ram = FakeRam {
        holes: vec![RAM_IPA + 0x5000],
        reserved: vec![RAM_IPA + 0x6000],
    };
    for d in 0..3 {
        m.domain_created(&mut w, d);
    }
    for _ in 0..64 {
        let Ok(op) = Op::arbitrary(&mut u) else {
            return;
        };
        match op {
            Op::Call {
                dom,
                smc64,
                func,
                args,
            } => {
                let caller = Caller {
                    domain: u16::from(dom % 3),
                    vcpus: 2,
                    ram: &ram,
                    forward_partition_info: false,
                };
                let base = if smc64 { 0xc400_0000 } else { 0x8400_0000 };
                let fid = base | (0x60 + u32::from(func % 0x30));
                let a = args.each_ref().map(Arg::value);
                match m.handle(&mut w, &caller, &abi::regs(fid, &a)) {
                    Action::Reply(_) => {}
                    Action::Forward(f) => {
                        let _ = forwarded_reply(&w.smc(&f));
                    }
                }
            }
            Op::Poke { off, bytes } => {
                let off = u64::from(off) % RAM_SIZE;
                let n = bytes.len().min((RAM_SIZE - off) as usize);
                w.write_phys(RAM_PA + off, &bytes[..n]);
            }
            Op::Descriptor {
                at,
                sender,
                receiver,
                ranges,
                total,
            } => {
                let ranges: Vec<(u64, u32)> = ranges
                    .iter()
                    .take(8)
                    .map(|&(p, n)| (RAM_IPA + (u64::from(p) << 12), u32::from(n)))
                    .collect();
                let d = share_descriptor(sender, receiver, &ranges, total);
                w.write_phys(RAM_PA + (u64::from(at) << 12) % RAM_SIZE, &d);
            }
            Op::Created(d) => m.domain_created(&mut w, u16::from(d % 4)),
            Op::Destroyed(d) => m.domain_destroyed(&mut w, u16::from(d % 4)),
            Op::RefuseReclaim(r) => w.refuse_reclaim = r,
        }
    }
}
