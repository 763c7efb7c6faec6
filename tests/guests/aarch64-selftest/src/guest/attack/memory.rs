//! Memory and devices outside the attacker's map: loads, stores,
//! exclusives, atomics, DC ZVA and cache maintenance on addresses that are
//! not its own (past its RAM, dom0's RAM on the host, the secure world's
//! flash and RAM, host devices, others' redistributors). Each must fault
//! into its own vector with the address in FAR (a synchronous external
//! abort, FSC 0x10, injected by Halyard), and touch nothing. Then its
//! virtual GIC: SPIs it does not have, SGIs to vCPUs it does not have,
//! bad access sizes, floods of trapped accesses.

use super::start_gate::UART;
use super::{Class, Suite, GIC_MMIO};
use crate::guest::mem::{rd32, ticks, ticks_per_second, wr32};
use crate::guest::start;

pub const CASES: u32 = 24;
const C: Class = Class::Memory;

const EC_DABT_CUR: u64 = 0x25;
const FSC_EXTERNAL: u64 = 0x10;
const FLOOD: u32 = 100_000;
/// This domain's redistributors: vCPU 0's SGI frame (RD_base + 64 KiB).
const GICR_SGI0: u64 = 0x080b_0000;
const GICR_IGROUPR0: u64 = GICR_SGI0 + 0x80;
const GICR_ISPENDR0: u64 = GICR_SGI0 + 0x200;
const GICR_ICPENDR0: u64 = GICR_SGI0 + 0x280;

/// Addresses that are not the attacker's, with what lies there on the host.
fn targets(ram_end: u64) -> [(u64, &'static str); 9] {
    [
        (ram_end, "just past its RAM"),
        (0x7e00_0000, "dom0's RAM on the host"),
        (0x0, "the secure firmware's flash"),
        (0x0e00_0000, "the secure world's RAM"),
        (0x0808_0000, "the host GIC's ITS"),
        (0x080e_0000, "a redistributor past its two vCPUs'"),
        (0x0901_0000, "the host's RTC"),
        (0x0a00_0000, "the host's virtio-mmio"),
        (0x1_0000_0000, "4 GiB, above the host's RAM"),
    ]
}

pub struct Fault {
    pub taken: u64,
    pub esr: u64,
    pub far: u64,
}

/// Run `f` and report the synchronous exceptions it caused.
pub fn probe(f: impl FnOnce()) -> Fault {
    let before = start::sync_exceptions();
    f();
    let (esr, far) = start::last_exception();
    Fault {
        taken: start::sync_exceptions() - before,
        esr,
        far,
    }
}

impl Fault {
    /// One abort, injected by the hypervisor, at `at`.
    fn injected_at(&self, at: u64) -> bool {
        self.taken == 1
            && self.esr >> 26 == EC_DABT_CUR
            && self.esr & 0x3f == FSC_EXTERNAL
            && self.far == at
    }
}

impl core::fmt::Display for Fault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} taken, ESR {:#x} FAR {:#x}",
            self.taken, self.esr, self.far
        )
    }
}

// Each access below faults; our own vector records it and steps over the
// instruction. SAFETY (all): the addresses are not ours, so nothing of
// ours is touched; registers written are declared.
fn load(a: u64) {
    // SAFETY: see above.
    unsafe { core::arch::asm!("ldr {v}, [{a}]", a = in(reg) a, v = out(reg) _, options(nostack)) };
}
fn store(a: u64) {
    // SAFETY: see above.
    unsafe {
        core::arch::asm!("str {v}, [{a}]", a = in(reg) a, v = in(reg) 0x5a5a_u64, options(nostack))
    };
}
fn ldxr(a: u64) {
    // SAFETY: see above.
    unsafe { core::arch::asm!("ldxr {v}, [{a}]", a = in(reg) a, v = out(reg) _, options(nostack)) };
}
/// STXR's status (0 = it stored).
fn stxr(a: u64) -> u64 {
    let status: u64;
    // SAFETY: see above.
    unsafe {
        core::arch::asm!("mov {s:w}, #7", "stxr {s:w}, {v}, [{a}]", a = in(reg) a, v = in(reg) 1u64,
            s = out(reg) status, options(nostack))
    };
    status
}
#[target_feature(enable = "lse")]
unsafe fn atomics(a: u64) {
    // SAFETY: see above.
    unsafe {
        core::arch::asm!("ldadd {v}, {o}, [{a}]", a = in(reg) a, v = in(reg) 1u64, o = out(reg) _, options(nostack));
        core::arch::asm!("swp {v}, {o}, [{a}]", a = in(reg) a, v = in(reg) 1u64, o = out(reg) _, options(nostack));
        core::arch::asm!("cas {c}, {v}, [{a}]", a = in(reg) a, v = in(reg) 1u64, c = inout(reg) 0u64 => _, options(nostack));
    }
}
fn ldp(a: u64) {
    // SAFETY: see above.
    unsafe {
        core::arch::asm!("ldp {x}, {y}, [{a}]", a = in(reg) a, x = out(reg) _, y = out(reg) _, options(nostack))
    };
}
fn dc_zva(a: u64) {
    // SAFETY: see above.
    unsafe { core::arch::asm!("dc zva, {a}", a = in(reg) a, options(nostack)) };
}
/// DC CIVAC, CVAC, IVAC, CVAU and IC IVAU of `a`.
fn cache_ops(a: u64) {
    // SAFETY: see above (maintenance only; nothing is written).
    unsafe {
        core::arch::asm!("dc civac, {a}", a = in(reg) a, options(nostack));
        core::arch::asm!("dc cvac, {a}", a = in(reg) a, options(nostack));
        core::arch::asm!("dc ivac, {a}", a = in(reg) a, options(nostack));
        core::arch::asm!("dc cvau, {a}", a = in(reg) a, options(nostack));
        core::arch::asm!("ic ivau, {a}", a = in(reg) a, options(nostack));
    }
}

pub fn run(s: &mut Suite) {
    let end = s.ram_end;
    for (at, what) in targets(end) {
        let f = probe(|| load(at));
        s.case(
            C,
            f.injected_at(at),
            what,
            format_args!("load at {at:#x}: {f}"),
        );
    }
    let mut good = 0;
    for (at, _) in targets(end) {
        if probe(|| store(at)).injected_at(at) {
            good += 1;
        }
    }
    s.case(
        C,
        good == 9,
        "stores to the same 9 addresses: each an abort in its own vector with FAR",
        format_args!("{good} of 9"),
    );
    let f = probe(|| ldxr(end));
    let mut status = 0;
    let g = probe(|| status = stxr(end));
    s.case(
        C,
        f.injected_at(end) && status == 1 && (g.taken == 0 || g.injected_at(end)),
        "ldxr past its RAM: an abort; the stxr after it stores nothing (status 1)",
        format_args!("ldxr {f}; stxr status {status}, {g}"),
    );
    let f = probe(|| {
        // SAFETY: see `atomics`; the CPU (-cpu max) has LSE.
        unsafe { atomics(end) }
    });
    s.case(
        C,
        f.taken == 3 && f.esr >> 26 == EC_DABT_CUR && f.far == end,
        "ldadd, swp, cas past its RAM: three aborts in its own vector",
        format_args!("{f}"),
    );
    let f = probe(|| ldp(end - 8));
    s.case(
        C,
        f.taken == 1 && f.esr >> 26 == EC_DABT_CUR && (f.far == end || f.far == end - 8),
        "ldp whose second half lies past its RAM: an abort",
        format_args!("{f}"),
    );
    let f = probe(|| dc_zva(end));
    s.case(
        C,
        f.taken == 1 && f.esr >> 26 == EC_DABT_CUR && f.far == end,
        "dc zva past its RAM: an abort (zeroes nothing)",
        format_args!("{f}"),
    );
    // Cache maintenance by VA of memory that is not ours may fault, or,
    // where the CPU model treats it as a no-op (QEMU's TCG), do nothing;
    // either way nothing else happens (the victim checks its memory).
    let mut ok = 0;
    let mut last = Fault {
        taken: 0,
        esr: 0,
        far: 0,
    };
    for (at, _) in targets(end) {
        let f = probe(|| cache_ops(at));
        if f.taken <= 5 && (f.taken == 0 || (f.esr >> 26 == EC_DABT_CUR && f.far == at)) {
            ok += 1;
        }
        last = f;
    }
    s.case(
        C,
        ok == 9,
        "dc civac, cvac, ivac, cvau, ic ivau of the 9 addresses: aborts with FAR or no effect",
        format_args!("{ok} of 9; last {last}"),
    );
    // A fault flood: each injected, while the hypervisor's reports of
    // them stop at its cap (so the GIC's bad accesses below, reported
    // through the same cap, print nothing).
    let f = probe(|| {
        for _ in 0..20_000 {
            load(end);
        }
    });
    s.case(
        C,
        f.taken == 20_000 && f.far == end,
        "20000 loads past its RAM: each an abort in its own vector",
        format_args!("{f}"),
    );
    gic(s);
    floods(s);
}

fn gic(s: &mut Suite) {
    // SPIs 64..95 and 100 are not in its virtual GIC (it has 32..63).
    wr32(GIC_MMIO + 0x108, 0xffff_ffff); // ISENABLER2
    wr32(GIC_MMIO + 0x208, 0xffff_ffff); // ISPENDR2
    wr32(GIC_MMIO + 0x448, 0xa0a0_a0a0); // IPRIORITYR(72..75)
    wr32(GIC_MMIO + 0x6000 + 8 * 100, 1); // IROUTER(100)
    let back = [0x108, 0x208, 0x448, 0x6000 + 8 * 100].map(|o| rd32(GIC_MMIO + o));
    s.case(
        C,
        back == [0; 4],
        "GIC distributor writes to SPIs it does not have (enable, pend, priority, route): ignored, read as 0",
        format_args!("{back:x?}"),
    );
    let typer = rd32(GIC_MMIO + 0x4) & 0x1f;
    let f = probe(|| load(GIC_MMIO + 0x1_0000));
    s.case(
        C,
        typer == 1 && f.injected_at(GIC_MMIO + 0x1_0000),
        "GIC: 64 interrupt lines; past the distributor's 64 KiB frame: an abort",
        format_args!("ITLinesNumber {typer}; {f}"),
    );
    // A 64-bit load of GICD_CTLR: no such access size; an abort, reported
    // within the cap of fault reports (the hypervisor once logged each).
    let mut good = 0;
    for _ in 0..2000 {
        if probe(|| load(GIC_MMIO)).injected_at(GIC_MMIO) {
            good += 1;
        }
    }
    s.case(
        C,
        good == 2000,
        "GIC: 2000 64-bit loads of GICD_CTLR (32-bit only): each an abort",
        format_args!("{good} of 2000"),
    );
    let f = probe(|| load(UART));
    s.case(
        C,
        f.injected_at(UART),
        "its own PL011: a 64-bit load of UARTDR (32-bit only): an abort",
        format_args!("{f}"),
    );
    // SGI 5 as Group 1 on its own redistributor, none pending.
    wr32(GICR_IGROUPR0, 0xffff_ffff);
    wr32(GICR_ICPENDR0, 1 << 5);
    let sgi = |v: u64| {
        // SAFETY: ICC_SGI1R_EL1 write (trapped): sends an SGI, nothing else.
        unsafe {
            core::arch::asm!("msr S3_0_C12_C11_5, {v}", "isb", v = in(reg) v, options(nostack))
        }
    };
    let intid5 = 5u64 << 24;
    // Target lists that miss vCPU 0: vCPUs 2..15; Aff1 = 1; Aff3 = 255;
    // RS = 1 (Aff0 16..31).
    let f = probe(|| {
        for v in [
            0xfffc,
            1 << 16 | 0xffff,
            0xff << 48 | 0xffff,
            1 << 44 | 0xffff,
        ] {
            sgi(intid5 | v);
        }
    });
    let stray = rd32(GICR_ISPENDR0) & (1 << 5) != 0;
    sgi(intid5 | 1);
    let own = rd32(GICR_ISPENDR0) & (1 << 5) != 0;
    wr32(GICR_ICPENDR0, 1 << 5);
    s.case(
        C,
        f.taken == 0 && !stray && own,
        "SGIs to vCPUs it does not have (2-15, Aff1 1, Aff3 255, RS 1): nothing pends; to itself: pends",
        format_args!("stray {stray}, own {own}, {} exceptions", f.taken),
    );
    let t0 = ticks();
    let f = probe(|| {
        for _ in 0..FLOOD {
            sgi(intid5 | 0xff << 48 | 0xffff);
        }
    });
    let ms = (ticks() - t0) * 1000 / ticks_per_second();
    s.case(
        C,
        f.taken == 0,
        "100000 trapped ICC_SGI1R_EL1 writes to vCPUs that do not exist: no exception",
        format_args!("{} exceptions in {ms} ms", f.taken),
    );
}

fn floods(s: &mut Suite) {
    // DC ISW (set/way) is trapped (HCR_EL2.TSW) and stepped over.
    let t0 = ticks();
    let f = probe(|| {
        for i in 0..FLOOD {
            // SAFETY: set/way maintenance of our own caches; trapped.
            unsafe {
                core::arch::asm!("dc isw, {v}", v = in(reg) u64::from(i & 0xff) << 4, options(nostack))
            };
        }
    });
    let ms = (ticks() - t0) * 1000 / ticks_per_second();
    s.case(
        C,
        f.taken == 0,
        "100000 trapped dc isw (set/way) operations: each stepped over, no exception",
        format_args!("{} exceptions in {ms} ms", f.taken),
    );
    // Its own PL011: 10000 trapped writes of the interrupt mask and clear
    // registers, raising and dropping its line each time.
    let f = probe(|| {
        for i in 0..10_000u32 {
            wr32(UART + 0x38, (i & 1) << 5); // UARTIMSC: TX interrupt on/off
            wr32(UART + 0x44, 0x7ff); // UARTICR
        }
    });
    wr32(UART + 0x38, 0);
    s.case(
        C,
        f.taken == 0,
        "10000 trapped writes toggling its PL011's TX interrupt: no exception",
        format_args!("{} exceptions", f.taken),
    );
}
