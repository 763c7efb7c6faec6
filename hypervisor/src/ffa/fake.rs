//! A fake secure world and fake guest RAM for the mediator, for host tests
//! and the fuzz harness.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::abi::{self, status, Regs, Version};
use super::env::{Env, OwnBuffers};
use super::guest::GuestRam;
use super::mediator::{Action, Caller, Mediator};
use super::probe::probe;

pub const HV_TX: u64 = 0x7000_0000;
pub const HV_RX: u64 = 0x7000_1000;
pub const BUFS: OwnBuffers = OwnBuffers {
    tx_pa: HV_TX,
    rx_pa: HV_RX,
};

/// A partition as the fake firmware describes it.
#[derive(Clone, Copy, Debug)]
pub struct Sp {
    pub id: u16,
    pub ctx: u16,
    pub props: u32,
    pub uuid: [u8; 16],
}

pub fn uuid(n: u8) -> [u8; 16] {
    core::array::from_fn(|i| n.wrapping_mul(17).wrapping_add(i as u8) | 1)
}

pub fn standard_sps() -> Vec<Sp> {
    use abi::props::*;
    alloc::vec![
        Sp {
            id: 0x8001,
            ctx: 4,
            props: DIRECT_REQ_RECV
                | DIRECT_REQ_SEND
                | NOTIFY_VM_CREATED
                | NOTIFY_VM_DESTROYED
                | AARCH64,
            uuid: uuid(1)
        },
        Sp {
            id: 0x8002,
            ctx: 1,
            props: DIRECT_REQ_RECV | AARCH64,
            uuid: uuid(2)
        },
        Sp {
            id: 0xc001,
            ctx: 1,
            props: DIRECT_REQ_RECV,
            uuid: uuid(3)
        },
    ]
}

/// The descriptors of `sps`, `size` bytes apart (extra bytes 0xee).
pub fn descriptors(sps: &[Sp], size: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for s in sps {
        let mut d = [0u8; 24];
        d[0..2].copy_from_slice(&s.id.to_le_bytes());
        d[2..4].copy_from_slice(&s.ctx.to_le_bytes());
        d[4..8].copy_from_slice(&s.props.to_le_bytes());
        d[8..24].copy_from_slice(&s.uuid);
        let at = v.len();
        v.resize(at + size, 0xee);
        let n = size.min(24);
        v[at..at + n].copy_from_slice(&d[..n]);
    }
    v
}

/// A fake secure world: answers what the mediator asks at init, records
/// every SMC, and holds physical memory as pages.
pub struct FakeWorld {
    pub smccc: u64,
    pub version: u32,
    pub sps: Vec<Sp>,
    pub desc_size: usize,
    pub features: Vec<u32>,
    pub smcs: Vec<Regs>,
    pub mem: BTreeMap<u64, [u8; 4096]>,
    pub log: Vec<String>,
    /// Answers for direct requests, front first (default: a RESP echo).
    pub direct_answers: Vec<Regs>,
    pub next_handle: u64,
    /// MEM_RECLAIM answers DENIED (the partition still holds it).
    pub refuse_reclaim: bool,
    pub rxtx_mapped: bool,
}

impl Default for FakeWorld {
    fn default() -> Self {
        Self {
            smccc: 0x1_0002,
            version: Version::V1_2.0,
            sps: standard_sps(),
            desc_size: 24,
            features: alloc::vec![
                abi::MSG_SEND_DIRECT_REQ_32,
                abi::MSG_SEND_DIRECT_REQ_64,
                abi::MEM_SHARE_32,
                abi::MEM_SHARE_64,
                abi::MEM_RECLAIM
            ],
            smcs: Vec::new(),
            mem: BTreeMap::new(),
            log: Vec::new(),
            direct_answers: Vec::new(),
            next_handle: 0x1_0000_0007,
            refuse_reclaim: false,
            rxtx_mapped: false,
        }
    }
}

impl FakeWorld {
    pub fn count(&self, fid: u32) -> usize {
        self.smcs.iter().filter(|r| r[0] as u32 == fid).count()
    }
    pub fn page(&mut self, pa: u64) -> &mut [u8; 4096] {
        self.mem.entry(pa & !0xfff).or_insert_with(|| [0; 4096])
    }
    pub fn peek(&mut self, pa: u64, len: usize) -> Vec<u8> {
        let mut b = alloc::vec![0; len];
        self.read_phys(pa, &mut b);
        b
    }
}

impl Env for FakeWorld {
    fn smc(&mut self, x: &Regs) -> Regs {
        self.smcs.push(*x);
        let fid = x[0] as u32;
        match fid {
            0x8000_0000 => abi::regs(self.smccc as u32, &[]).map(|v| v & 0xffff_ffff),
            abi::VERSION => {
                let mut r = [0; 18];
                r[0] = u64::from(self.version);
                r
            }
            abi::FEATURES if self.features.contains(&(x[1] as u32)) => abi::success(&[]),
            abi::FEATURES => abi::error(status::NOT_SUPPORTED),
            abi::RXTX_MAP_64 => {
                self.rxtx_mapped = true;
                abi::success(&[])
            }
            abi::RXTX_UNMAP => {
                self.rxtx_mapped = false;
                abi::success(&[])
            }
            abi::RX_RELEASE => abi::success(&[]),
            abi::PARTITION_INFO_GET => {
                let d = descriptors(&self.sps, self.desc_size);
                let n = d.len().min(4096);
                self.page(HV_RX)[..n].copy_from_slice(&d[..n]);
                abi::success(&[self.sps.len() as u64, self.desc_size as u64])
            }
            abi::MSG_SEND_DIRECT_REQ_32 | abi::MSG_SEND_DIRECT_REQ_64 => {
                if !self.direct_answers.is_empty() {
                    return self.direct_answers.remove(0);
                }
                let resp = if fid == abi::MSG_SEND_DIRECT_REQ_32 {
                    abi::MSG_SEND_DIRECT_RESP_32
                } else {
                    abi::MSG_SEND_DIRECT_RESP_64
                };
                let swapped = (x[1] & 0xffff) << 16 | (x[1] >> 16 & 0xffff);
                let ack = if x[2] as u32 & abi::framework::FLAG != 0 {
                    x[2] + 1
                } else {
                    0
                };
                let mut r = abi::regs(resp, &[swapped, ack, 0, x[4] + 1]);
                r[9] = 0xdead; // beyond x7: never shown to the guest
                r
            }
            abi::MEM_SHARE_32 | abi::MEM_SHARE_64 => {
                let h = self.next_handle;
                self.next_handle += 1;
                abi::success(&[h & 0xffff_ffff, h >> 32])
            }
            abi::MEM_RECLAIM if self.refuse_reclaim => abi::error(status::DENIED),
            abi::MEM_RECLAIM => abi::success(&[]),
            _ => abi::error(status::NOT_SUPPORTED),
        }
    }
    fn read_phys(&mut self, pa: u64, buf: &mut [u8]) {
        let mut done = 0;
        while done < buf.len() {
            let a = pa + done as u64;
            let off = (a & 0xfff) as usize;
            let n = (4096 - off).min(buf.len() - done);
            match self.mem.get(&(a & !0xfff)) {
                Some(p) => buf[done..done + n].copy_from_slice(&p[off..off + n]),
                None => buf[done..done + n].fill(0),
            }
            done += n;
        }
    }
    fn write_phys(&mut self, pa: u64, bytes: &[u8]) {
        let mut done = 0;
        while done < bytes.len() {
            let a = pa + done as u64;
            let off = (a & 0xfff) as usize;
            let n = (4096 - off).min(bytes.len() - done);
            self.page(a)[off..off + n].copy_from_slice(&bytes[done..done + n]);
            done += n;
        }
    }
    fn log(&mut self, args: fmt::Arguments) {
        self.log.push(alloc::format!("{args}"));
    }
}

/// Guest RAM: IPA 0x4000_0000.. (16 MiB) at host 0x8000_0000.., except
/// that pages listed in `holes` are not RAM.
pub struct FakeRam {
    pub holes: Vec<u64>,
    /// Pages the hypervisor writes for the guest (Xen's shared areas).
    pub reserved: Vec<u64>,
}

pub const RAM_IPA: u64 = 0x4000_0000;
pub const RAM_PA: u64 = 0x8000_0000;
pub const RAM_SIZE: u64 = 16 << 20;

impl GuestRam for FakeRam {
    fn page_pa(&self, ipa: u64) -> Option<u64> {
        let inside = (RAM_IPA..RAM_IPA + RAM_SIZE).contains(&ipa);
        (inside && ipa.is_multiple_of(4096) && !self.holes.contains(&ipa))
            .then(|| RAM_PA + (ipa - RAM_IPA))
    }
    fn reserved(&self, ipa: u64) -> bool {
        self.reserved.contains(&ipa)
    }
}

pub static RAM: FakeRam = FakeRam {
    holes: Vec::new(),
    reserved: Vec::new(),
};

pub fn caller(domain: u16) -> Caller<'static> {
    Caller {
        domain,
        vcpus: 2,
        ram: &RAM,
        forward_partition_info: false,
    }
}

/// A probed mediator over `w`.
pub fn mediator(w: &mut FakeWorld) -> Mediator {
    let p = probe(w, &BUFS).expect("probe");
    Mediator::new(p, BUFS)
}

/// One call; forwarded calls go to the fake SPMC.
pub fn call(m: &mut Mediator, w: &mut FakeWorld, c: &Caller, fid: u32, args: &[u64]) -> Regs {
    match m.handle(w, c, &abi::regs(fid, args)) {
        Action::Reply(r) => r,
        Action::Forward(f) => super::mediator::forwarded_reply(&w.smc(&f)),
    }
}

/// VERSION then RXTX_MAP of TX at RAM_IPA, RX at RAM_IPA + 4 KiB.
pub fn ready(m: &mut Mediator, w: &mut FakeWorld, c: &Caller, v: Version) {
    assert_eq!(call(m, w, c, abi::VERSION, &[u64::from(v.0)])[0], 0x1_0002);
    let r = call(m, w, c, abi::RXTX_MAP_64, &[RAM_IPA, RAM_IPA + 0x1000, 1]);
    assert!(abi::is_success(&r), "{r:x?}");
}

pub fn code(r: &Regs) -> Option<i32> {
    abi::error_code(r)
}

/// A v1.1 transaction descriptor from `sender` to `receiver` of `ranges`
/// (IPA, pages), total pages as given.
pub fn share_descriptor(sender: u16, receiver: u16, ranges: &[(u64, u32)], total: u32) -> Vec<u8> {
    let mut d = alloc::vec![0u8; 48];
    d[0..2].copy_from_slice(&sender.to_le_bytes());
    d[2..4].copy_from_slice(&0x2fu16.to_le_bytes()); // normal memory, write-back, inner shareable
    d[24..28].copy_from_slice(&16u32.to_le_bytes());
    d[28..32].copy_from_slice(&1u32.to_le_bytes());
    d[32..36].copy_from_slice(&48u32.to_le_bytes());
    let mut emad = [0u8; 16];
    emad[0..2].copy_from_slice(&receiver.to_le_bytes());
    emad[2] = 0b0110; // read-write
    emad[4..8].copy_from_slice(&64u32.to_le_bytes());
    d.extend_from_slice(&emad);
    d.extend_from_slice(&total.to_le_bytes());
    d.extend_from_slice(&(ranges.len() as u32).to_le_bytes());
    d.extend_from_slice(&[0; 8]);
    for &(ipa, n) in ranges {
        d.extend_from_slice(&ipa.to_le_bytes());
        d.extend_from_slice(&n.to_le_bytes());
        d.extend_from_slice(&[0; 4]);
    }
    d
}
