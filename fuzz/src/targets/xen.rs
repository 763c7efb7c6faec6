//! Every Xen hypercall and subcommand, as any of three domains (the first
//! is the hardware domain) and either vCPU calls it, with arguments that
//! are small numbers, pointers into, across the edges of and outside its
//! RAM, or anything, over guest memory whose contents the fuzzer writes.

use arbitrary::{Arbitrary, Unstructured};
use hypervisor::hypercall::xen::abi::nr;
use hypervisor::hypercall::xen::fake::{World, RAM};
use hypervisor::hypercall::xen::{handle, Outcome};
use hypervisor::hypercall::GuestMemory;

pub const TARGET: crate::Target = crate::Target {
    name: "xen-hypercalls",
    about: "Xen hypercall numbers, subcommands and argument structures over fake guest memory",
    run,
};

const PAGES: u64 = 8;
const DOMAINS: [u16; 3] = [0, 1, 2];
const NUMBERS: [u64; 12] = [
    nr::PLATFORM_OP,
    nr::MEMORY_OP,
    nr::XEN_VERSION,
    nr::CONSOLE_IO,
    nr::GRANT_TABLE_OP,
    nr::VM_ASSIST,
    nr::VCPU_OP,
    nr::SCHED_OP,
    nr::EVENT_CHANNEL_OP,
    nr::PHYSDEV_OP,
    nr::HVM_OP,
    // An unimplemented one (__HYPERVISOR_multicall).
    13,
];

#[derive(Arbitrary, Debug)]
enum Arg {
    Small(u8),
    /// Inside the caller's RAM.
    Ram(u16),
    /// Around the edges: null, just before and at the end of RAM, a page
    /// boundary minus a few bytes, an MMIO address, the top of memory.
    Edge(u8),
    Raw(u64),
}

impl Arg {
    fn value(&self) -> u64 {
        match *self {
            Arg::Small(v) => u64::from(v),
            Arg::Ram(off) => RAM + u64::from(off) % (PAGES * 4096),
            Arg::Edge(e) => [
                0,
                RAM - 8,
                RAM + PAGES * 4096 - 4,
                RAM + PAGES * 4096,
                RAM + 4096 - 3,
                0x0800_0000,
                u64::MAX - 7,
                u64::from(u32::MAX),
            ][usize::from(e % 8)],
            Arg::Raw(v) => v,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Write bytes into domain `dom`'s RAM at `off`.
    Poke {
        dom: u8,
        off: u16,
        bytes: Vec<u8>,
    },
    Call {
        dom: u8,
        vcpu: u8,
        nr: u8,
        args: [Arg; 5],
    },
    Input(Vec<u8>),
}

fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let w = World::new(&DOMAINS, PAGES as usize, 2);
    for _ in 0..64 {
        let Ok(op) = Op::arbitrary(&mut u) else {
            return;
        };
        match op {
            Op::Poke { dom, off, bytes } => {
                let c = w.as_(DOMAINS[usize::from(dom) % 3], 0);
                let at = RAM + u64::from(off) % (PAGES * 4096);
                let room = (RAM + PAGES * 4096 - at) as usize;
                let _ = c.write(at, &bytes[..bytes.len().min(room)]);
            }
            Op::Call {
                dom,
                vcpu,
                nr,
                args,
            } => {
                let c = w.as_(DOMAINS[usize::from(dom) % 3], usize::from(vcpu % 2));
                let number = match NUMBERS.get(usize::from(nr)) {
                    Some(&n) => n,
                    None => u64::from(nr),
                };
                let a = args.each_ref().map(Arg::value);
                match handle(number, &a, &c) {
                    Outcome::Return(_) | Outcome::Block | Outcome::Shutdown { .. } => {}
                }
            }
            Op::Input(bytes) => w.input.borrow_mut().extend_from_slice(&bytes),
        }
    }
}
