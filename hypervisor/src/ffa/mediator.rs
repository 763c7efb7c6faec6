//! The FF-A mediator: every FF-A call a guest makes comes here. Calls are
//! answered by the mediator itself where it can (version, IDs, features,
//! buffers, the cached partition list) and checked before anything is
//! forwarded to the SPMC: a guest can only name itself as the source,
//! only secure partitions as destinations, and only its own pages.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::abi::{self, framework, is_secure_id, is_smc64, status, Regs, Version};
use super::env::{Env, OwnBuffers};
use super::guest::{GuestFfa, GuestRam, RxTx};
use super::mem_share::{self, Share, MAX_SHARES_PER_DOMAIN};
use super::partinfo::{self, PartitionCache, Query, BUFFER_SIZE};
use super::probe::{fetch_partitions, Probed, SpmcFeatures};

/// A guest's identity for one call.
pub struct Caller<'a> {
    pub domain: u16,
    pub vcpus: u16,
    pub ram: &'a dyn GuestRam,
    /// Benchmark only: ask the SPMC at each PARTITION_INFO_GET.
    pub forward_partition_info: bool,
}

impl Caller<'_> {
    /// FF-A IDs of VMs are domain ID + 1: ID 0 is the hypervisor.
    pub fn ffa_id(&self) -> u16 {
        self.domain.wrapping_add(1)
    }
}

/// The caller's RAM with its own RX/TX pages reserved too: the mediator
/// reads and writes those, so they are never shared.
struct WithBuffers<'a> {
    ram: &'a dyn GuestRam,
    buf: RxTx,
}

impl GuestRam for WithBuffers<'_> {
    fn page_pa(&self, ipa: u64) -> Option<u64> {
        self.ram.page_pa(ipa)
    }
    fn reserved(&self, ipa: u64) -> bool {
        self.ram.reserved(ipa) || ipa == self.buf.tx_ipa || ipa == self.buf.rx_ipa
    }
}

/// What to do with a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Return these registers to the guest.
    Reply(Regs),
    /// Checked: make this call to the SPMC (without holding the mediator)
    /// and return its answer through `forwarded_reply`.
    Forward(Regs),
}

/// The guest sees x0..x7 of a forwarded call's answer; nothing else of
/// the secure world's registers.
pub fn forwarded_reply(r: &Regs) -> Regs {
    let mut out = [0u64; 18];
    out[..8].copy_from_slice(&r[..8]);
    out
}

/// Framework messages are retried this often on RETRY / INTERRUPTED.
const FRAMEWORK_TRIES: usize = 10;

pub struct Mediator {
    pub spmc_version: Version,
    spmc: SpmcFeatures,
    cache: PartitionCache,
    bufs: OwnBuffers,
    guests: BTreeMap<u16, GuestFfa>,
    shares: Vec<Share>,
    /// VM destroyed messages that failed: (VM ID, partition ID).
    pending_destroy: Vec<(u16, u16)>,
}

fn reply(r: Regs) -> Action {
    Action::Reply(r)
}
fn err(code: i32) -> Action {
    reply(abi::error(code))
}
fn done(r: Result<(), i32>) -> Action {
    match r {
        Ok(()) => reply(abi::success(&[])),
        Err(e) => err(e),
    }
}

impl Mediator {
    pub fn new(p: Probed, bufs: OwnBuffers) -> Self {
        Self {
            spmc_version: p.version,
            spmc: p.features,
            cache: p.cache,
            bufs,
            guests: BTreeMap::new(),
            shares: Vec::new(),
            pending_destroy: Vec::new(),
        }
    }

    pub fn partitions(&self) -> &PartitionCache {
        &self.cache
    }
    pub fn shares(&self) -> &[Share] {
        &self.shares
    }
    pub fn pending_destroy(&self) -> &[(u16, u16)] {
        &self.pending_destroy
    }
    /// Whether page `ipa` of `domain` is in a live share (such a page may
    /// not be given away, e.g. remapped by a hypercall).
    pub fn is_shared(&self, domain: u16, ipa: u64) -> bool {
        mem_share::is_shared(&self.shares, domain, ipa)
    }

    /// One FF-A call (x0 = its function ID) from `caller`.
    pub fn handle(&mut self, env: &mut dyn Env, caller: &Caller, x: &Regs) -> Action {
        let fid = x[0] as u32;
        // SMC32 calls carry 32-bit arguments.
        let mut a = *x;
        if !is_smc64(fid) {
            a.iter_mut().for_each(|v| *v &= 0xffff_ffff);
        }
        let g = self.guests.entry(caller.domain).or_default();
        if fid == abi::VERSION {
            // VERSION answers in x0 itself, not with FFA_SUCCESS.
            let mut r = [0u64; 18];
            r[0] = g.negotiate(a[1] as u32);
            return reply(r);
        }
        let v = match g.version_for_call() {
            Ok(v) => v,
            Err(e) => return err(e),
        };
        match fid {
            abi::ID_GET => reply(abi::success(&[u64::from(caller.ffa_id())])),
            abi::FEATURES => self.features(a[1] as u32, v),
            abi::RXTX_MAP_32 | abi::RXTX_MAP_64 => done(g.map(caller.ram, a[1], a[2], a[3])),
            abi::RXTX_UNMAP => {
                let id = (a[1] >> 16) as u16;
                if id != 0 && id != caller.ffa_id() {
                    return err(status::INVALID_PARAMETERS);
                }
                done(g.unmap())
            }
            abi::RX_RELEASE => done(g.release_rx()),
            abi::PARTITION_INFO_GET => self.partition_info(env, caller, &a, v),
            abi::PARTITION_INFO_GET_REGS => {
                let q = self.query(caller, partinfo::uuid_from_halves(a[1], a[2]), 0, v);
                match self.cache.answer_regs(&q, a[3] as u16, (a[3] >> 16) as u16) {
                    Ok(w) => {
                        let mut r = abi::regs(abi::SUCCESS_64, &[0]);
                        r[2..].copy_from_slice(&w);
                        reply(r)
                    }
                    Err(e) => err(e),
                }
            }
            abi::MSG_SEND_DIRECT_REQ_32 | abi::MSG_SEND_DIRECT_REQ_64 => {
                self.direct_request(caller, &a)
            }
            abi::MEM_SHARE_32 | abi::MEM_SHARE_64 => self.mem_share(env, caller, &a, v),
            abi::MEM_RECLAIM => self.mem_reclaim(env, caller, &a),
            _ => err(status::NOT_SUPPORTED),
        }
    }

    fn features(&self, id: u32, v: Version) -> Action {
        let ok = match id {
            abi::VERSION
            | abi::FEATURES
            | abi::ID_GET
            | abi::RXTX_UNMAP
            | abi::RX_RELEASE
            | abi::PARTITION_INFO_GET => true,
            abi::RXTX_MAP_32 | abi::RXTX_MAP_64 => {
                // Minimum buffer 4 KiB; v1.2 adds the page-count limit (1).
                let w2 = if v >= Version::V1_2 { 1 << 16 } else { 0 };
                return reply(abi::success(&[w2]));
            }
            abi::PARTITION_INFO_GET_REGS => v >= Version::V1_2,
            abi::MSG_SEND_DIRECT_REQ_32 => self.spmc.direct_req_32,
            abi::MSG_SEND_DIRECT_REQ_64 => self.spmc.direct_req_64,
            abi::MEM_SHARE_32 => self.spmc.mem_share_32 && self.spmc.mem_reclaim,
            abi::MEM_SHARE_64 => self.spmc.mem_share_64 && self.spmc.mem_reclaim,
            abi::MEM_RECLAIM => self.spmc.mem_reclaim,
            _ => false,
        };
        if ok {
            reply(abi::success(&[]))
        } else {
            err(status::NOT_SUPPORTED)
        }
    }

    fn query(&self, caller: &Caller, uuid: [u8; 16], flags: u32, v: Version) -> Query {
        Query {
            uuid,
            flags,
            version: v,
            caller_id: caller.ffa_id(),
            caller_vcpus: caller.vcpus,
        }
    }

    fn partition_info(
        &mut self,
        env: &mut dyn Env,
        caller: &Caller,
        a: &Regs,
        v: Version,
    ) -> Action {
        let uuid = partinfo::uuid_from_words([a[1], a[2], a[3], a[4]]);
        let q = self.query(caller, uuid, a[5] as u32, v);
        let fresh;
        let cache = if caller.forward_partition_info {
            let bufs = self.bufs;
            match fetch_partitions(env, &bufs, &mut |_| {}) {
                Ok(c) => {
                    fresh = c;
                    &fresh
                }
                Err(_) => return err(status::ABORTED),
            }
        } else {
            &self.cache
        };
        let mut out = Vec::new();
        let (count, size) = match cache.answer(&q, &mut out) {
            Ok(a) => a,
            Err(e) => return err(e),
        };
        if !out.is_empty() || q.flags == 0 {
            // Descriptors go to the guest's RX buffer, which it then holds.
            let g = self.guests.entry(caller.domain).or_default();
            match g.acquire_rx() {
                Ok(rx_pa) => env.write_phys(rx_pa, &out),
                Err(e) => return err(e),
            }
        }
        reply(abi::success(&[u64::from(count), u64::from(size)]))
    }

    fn direct_request(&self, caller: &Caller, a: &Regs) -> Action {
        let fid = a[0] as u32;
        let supported = if is_smc64(fid) {
            self.spmc.direct_req_64
        } else {
            self.spmc.direct_req_32
        };
        if !supported {
            return err(status::NOT_SUPPORTED);
        }
        let (src, dst) = ((a[1] >> 16) as u16, a[1] as u16);
        if src != caller.ffa_id() || a[1] >> 32 != 0 || a[2] != 0 {
            // A spoofed source, or flags (framework messages are the hypervisor's).
            return err(status::INVALID_PARAMETERS);
        }
        if !is_secure_id(dst) {
            // No messages between VMs.
            return err(status::NOT_SUPPORTED);
        }
        match self.cache.find(dst) {
            Some(p) if p.receives_direct_requests() => {
                let mut f = [0u64; 18];
                f[..8].copy_from_slice(&a[..8]);
                Action::Forward(f)
            }
            _ => err(status::INVALID_PARAMETERS),
        }
    }

    fn mem_share(&mut self, env: &mut dyn Env, caller: &Caller, a: &Regs, v: Version) -> Action {
        let fid = a[0] as u32;
        let supported = self.spmc.mem_reclaim
            && if is_smc64(fid) {
                self.spmc.mem_share_64
            } else {
                self.spmc.mem_share_32
            };
        if !supported {
            return err(status::NOT_SUPPORTED);
        }
        let (total, frag) = (a[1], a[2]);
        if a[3] != 0 || a[4] != 0 {
            // Only the TX buffer carries descriptors here.
            return err(status::INVALID_PARAMETERS);
        }
        if total != frag {
            return err(status::NOT_SUPPORTED);
        }
        if total as usize > BUFFER_SIZE || total == 0 {
            return err(status::INVALID_PARAMETERS);
        }
        let Some(buf) = self.guests.get(&caller.domain).and_then(|g| g.rxtx) else {
            return err(status::DENIED);
        };
        if self
            .shares
            .iter()
            .filter(|s| s.domain == caller.domain)
            .count()
            >= MAX_SHARES_PER_DOMAIN
        {
            return err(status::NO_MEMORY);
        }
        let mut d = alloc::vec![0u8; total as usize];
        env.read_phys(buf.tx_pa, &mut d);
        if v == Version::V1_0 {
            d = match mem_share::upgrade_v1_0(&d) {
                Ok(d) => d,
                Err(e) => return err(e),
            };
        }
        let ram = WithBuffers {
            ram: caller.ram,
            buf,
        };
        let checked = match mem_share::check(
            &d,
            caller.ffa_id(),
            &ram,
            &self.cache,
            &self.shares,
            caller.domain,
        ) {
            Ok(c) => c,
            Err(e) => return err(e),
        };
        env.write_phys(self.bufs.tx_pa, &checked.descriptor);
        let len = checked.descriptor.len() as u64;
        let r = env.smc(&abi::regs(fid, &[len, len, 0, 0]));
        if abi::is_success(&r) {
            let handle = (r[2] & 0xffff_ffff) | r[3] << 32;
            self.shares.push(Share {
                handle,
                domain: caller.domain,
                receiver: checked.receiver,
                ranges: checked.ranges,
                orphaned: false,
            });
        }
        reply(forwarded_reply(&r))
    }

    fn mem_reclaim(&mut self, env: &mut dyn Env, caller: &Caller, a: &Regs) -> Action {
        let handle = (a[1] & 0xffff_ffff) | (a[2] & 0xffff_ffff) << 32;
        let Some(i) = self
            .shares
            .iter()
            .position(|s| s.handle == handle && s.domain == caller.domain && !s.orphaned)
        else {
            return err(status::INVALID_PARAMETERS);
        };
        let r = env.smc(&abi::regs(
            abi::MEM_RECLAIM,
            &[a[1], a[2], a[3] & 0xffff_ffff],
        ));
        if abi::is_success(&r) {
            self.shares.swap_remove(i);
        }
        reply(forwarded_reply(&r))
    }

    /// Send one framework message to `sp` and wait for its acknowledgement.
    fn framework(env: &mut dyn Env, sp: u16, msg: u32, ack: u32, vm: u16) -> Result<(), i32> {
        for _ in 0..FRAMEWORK_TRIES {
            let r = env.smc(&abi::regs(
                abi::MSG_SEND_DIRECT_REQ_32,
                &[u64::from(sp), u64::from(msg), 0, 0, u64::from(vm)],
            ));
            match abi::error_code(&r) {
                Some(status::RETRY | status::INTERRUPTED | status::BUSY) => continue,
                Some(e) => return Err(e),
                None => {}
            }
            let ok = r[0] as u32 == abi::MSG_SEND_DIRECT_RESP_32
                && r[1] as u32 == u32::from(sp) << 16
                && r[2] as u32 == ack;
            return match (ok, r[3] as u32 as i32) {
                (true, 0) => Ok(()),
                (true, e) => Err(e),
                (false, _) => Err(status::ABORTED),
            };
        }
        Err(status::RETRY)
    }

    fn subscribers(&self, bit: u32) -> Vec<u16> {
        let p = self.cache.partitions().iter();
        p.filter(|p| p.props & bit != 0 && p.receives_direct_requests())
            .map(|p| p.id)
            .collect()
    }

    /// A domain was built (or rebooted): tell the partitions that asked.
    pub fn domain_created(&mut self, env: &mut dyn Env, domain: u16) {
        self.guests.insert(domain, GuestFfa::default());
        self.retry_destroyed(env);
        let vm = domain.wrapping_add(1);
        for sp in self.subscribers(abi::props::NOTIFY_VM_CREATED) {
            if let Err(e) = Self::framework(
                env,
                sp,
                framework::VM_CREATED,
                framework::VM_CREATED_ACK,
                vm,
            ) {
                env.log(format_args!(
                    "VM {vm:#x} created: partition {sp:#06x} did not acknowledge ({e})"
                ));
            }
        }
    }

    /// A domain stopped (powered off, or before a reboot): reclaim what it
    /// shared, forget its buffers, tell the partitions that asked. A
    /// notification that fails is kept and retried later.
    pub fn domain_destroyed(&mut self, env: &mut dyn Env, domain: u16) {
        let vm = domain.wrapping_add(1);
        let mut kept = Vec::new();
        for s in core::mem::take(&mut self.shares) {
            if s.domain != domain {
                kept.push(s);
                continue;
            }
            let r = env.smc(&abi::regs(
                abi::MEM_RECLAIM,
                &[s.handle & 0xffff_ffff, s.handle >> 32, 0],
            ));
            if !abi::is_success(&r) {
                env.log(format_args!(
                    "VM {vm:#x}: share {:#x} not reclaimed from {:#06x} ({}): its pages stay marked; retried at each domain event",
                    s.handle,
                    s.receiver,
                    abi::error_code(&r).map_or("?", status::name),
                ));
                kept.push(Share {
                    orphaned: true,
                    ..s
                });
            }
        }
        self.shares = kept;
        self.guests.remove(&domain);
        for sp in self.subscribers(abi::props::NOTIFY_VM_DESTROYED) {
            if !self.pending_destroy.contains(&(vm, sp)) {
                self.pending_destroy.push((vm, sp));
            }
        }
        self.retry_destroyed(env);
    }

    /// Retry the reclaims of shares whose domain is gone (bounded: one try
    /// each), and the VM destroyed messages still owed.
    pub fn retry_destroyed(&mut self, env: &mut dyn Env) {
        let owed = core::mem::take(&mut self.pending_destroy);
        for (vm, sp) in owed {
            if let Err(e) = Self::framework(
                env,
                sp,
                framework::VM_DESTROYED,
                framework::VM_DESTROYED_ACK,
                vm,
            ) {
                env.log(format_args!("VM {vm:#x} destroyed: partition {sp:#06x} did not acknowledge ({e}); will retry"));
                self.pending_destroy.push((vm, sp));
            }
        }
        // After the messages: a partition told a VM is gone lets go of
        // the VM's memory.
        self.retry_orphans(env);
    }

    fn retry_orphans(&mut self, env: &mut dyn Env) {
        for i in (0..self.shares.len()).rev() {
            let s = &self.shares[i];
            if !s.orphaned {
                continue;
            }
            let r = env.smc(&abi::regs(
                abi::MEM_RECLAIM,
                &[s.handle & 0xffff_ffff, s.handle >> 32, 0],
            ));
            if abi::is_success(&r) {
                env.log(format_args!(
                    "VM {:#x}: share {:#x} reclaimed at last",
                    s.domain.wrapping_add(1),
                    s.handle
                ));
                self.shares.swap_remove(i);
            }
        }
    }
}
