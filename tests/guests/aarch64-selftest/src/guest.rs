//! The guest proper (bare-metal only).

use core::fmt::Write;

mod attack;
mod calls;
mod cpu_cycles;
mod ffa;
mod hostile_end;
mod mem;
mod peer_link;
mod reset_storm;
mod start;
mod victim;
mod xen;

use calls::{console_write, smccc_hvc, smccc_hvc_args, smccc_smc, xen_hypercall};

const PSCI_VERSION: u64 = 0x8400_0000;
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
const PSCI_SYSTEM_RESET: u64 = 0x8400_0009;
const UNKNOWN_SMCCC: u64 = 0xc2ff_0010;
const CONSOLEIO_WRITE: u64 = 0;
const HYPERVISOR_CONSOLE_IO: u64 = 18;
const EFAULT: i64 = -14;
const ENOSYS: i64 = -38;
/// Guest-physical address with nothing behind it (RAM starts at 0x40000000).
const HOLE: u64 = 0x1000_0000;
/// Checks before the Xen interface module's; 11 and 12 need a second vCPU
/// and are reported as skipped on one, so both plans are the same.
const CHECKS_BASE: u32 = 13;
/// The isolation probe after the Xen checks.
const CHECKS_ISOLATION: u32 = 1;
const CHECKS: u32 = CHECKS_BASE + xen::CHECKS + CHECKS_ISOLATION;
/// Where the domain's RAM ends if the device tree does not say.
const RAM_END_DEFAULT: u64 = 0x4400_0000;
const PSCI_CPU_ON: u64 = 0xc400_0003;
const PSCI_CPU_OFF: u64 = 0x8400_0002;
const PSCI_AFFINITY_INFO: u64 = 0xc400_0004;
const AFF_OFF: u64 = 1;

/// Written by vCPU 1 when it runs: its MPIDR affinity | 0x100.
static mut SECONDARY_RAN: u64 = 0;
/// vCPU 1's stack.
static mut SECONDARY_STACK: [u64; 1024] = [0; 1024];
const EINVAL: i64 = -22;

/// Lines go out through the console hypercall, one write per line.
struct Console {
    buf: [u8; 256],
    len: usize,
    /// The last console write's result.
    rc: i64,
}

impl Console {
    const fn new() -> Self {
        Console {
            buf: [0; 256],
            len: 0,
            rc: 0,
        }
    }

    /// Writes the buffered line. The hypervisor cuts guest lines at 160
    /// characters, so a longer one is wrapped here instead, its tail on a
    /// TAP comment line; check names are kept short enough that only
    /// details are wrapped.
    fn flush(&mut self) {
        let line = &self.buf[..self.len];
        if line.len() <= WRAP + 1 {
            self.rc = console_write(line);
        } else {
            self.rc = console_write(&line[..WRAP]);
            console_write(b"\n#   ");
            console_write(&line[WRAP..]);
        }
        self.len = 0;
    }
}

/// Longest line (without its newline) written in one piece.
const WRAP: usize = 159;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
            if b == b'\n' {
                // A truncated line still ends its line.
                self.buf[self.len - 1] = b'\n';
                self.flush();
            }
        }
        Ok(())
    }
}

struct Tap {
    out: Console,
    n: u32,
    failed: u32,
}

impl Tap {
    fn check(&mut self, ok: bool, name: &str, detail: core::fmt::Arguments<'_>) {
        self.n += 1;
        if !ok {
            self.failed += 1;
        }
        let verdict = if ok { "ok" } else { "not ok" };
        let _ = writeln!(self.out, "{verdict} {} - {name} ({detail})", self.n);
    }

    /// A check that cannot run here: TAP's `ok N - name # SKIP reason`.
    fn skip(&mut self, name: &str, reason: &str) {
        self.n += 1;
        let _ = writeln!(self.out, "ok {} - {name} # SKIP {reason}", self.n);
    }
}

pub fn main(dtb: u64) -> ! {
    let mut tap = Tap {
        out: Console::new(),
        n: 0,
        failed: 0,
    };
    // The hostile suite's two roles (`selftest.role=victim|attacker`).
    match cmdline_value(dtb, "selftest.role") {
        Some("victim") => victim::run(dtb),
        Some("attacker") => attack::run(dtb),
        _ => {}
    }
    if let Some(boots) = cmdline_number(dtb, "selftest.reset-storm") {
        let wait_s = cmdline_number(dtb, "selftest.storm-after").unwrap_or(0);
        let boots = u32::try_from(boots).unwrap_or(u32::MAX);
        reset_storm::run(&mut tap.out, boot_count(dtb), boots, wait_s);
    }
    let smp = cpu_count(dtb) >= 2;
    let ffa = cmdline_value(dtb, "selftest.ffa");
    if let Some(personality) = ffa {
        let ram_end = ram_end(dtb).unwrap_or(RAM_END_DEFAULT);
        match personality
            .strip_prefix("1.")
            .and_then(|m| m.parse::<u32>().ok())
        {
            Some(minor) => ffa::run(&mut tap, 0x1_0000 | minor, ram_end),
            None => ffa::absent(&mut tap),
        }
        let n = tap.n;
        let _ = writeln!(tap.out, "1..{n}");
        end(&mut tap, n, dtb)
    }
    let checks = CHECKS;
    let _ = writeln!(tap.out, "1..{checks}");
    let rc = tap.out.rc;
    tap.check(rc == 0, "console write returns 0", format_args!("rc {rc}"));

    let magic = if dtb != 0 && dtb.is_multiple_of(8) {
        // SAFETY: x0 is the DTB's guest-physical address; with the MMU off
        // that is the address we read; an unmapped one faults into our vector.
        unsafe { core::ptr::read_volatile(dtb as *const u32) }
    } else {
        0
    };
    tap.check(
        u32::from_be(magic) == 0xd00d_feed,
        "device tree in x0",
        format_args!("x0 {dtb:#x}"),
    );

    let v = smccc_hvc(PSCI_VERSION)[0];
    tap.check(
        v == 0x1_0001,
        "psci version is 1.1 over hvc",
        format_args!("{:#x}", v),
    );

    let v = smccc_smc(PSCI_VERSION)[0];
    tap.check(
        v == 0x1_0001,
        "psci version is 1.1 over smc",
        format_args!("{:#x}", v),
    );

    let v = smccc_hvc(UNKNOWN_SMCCC)[0];
    tap.check(
        v as i64 == -1,
        "unknown smccc call returns -1",
        format_args!("{}", v as i64),
    );

    let rc = xen_hypercall(4242, [0; 3]);
    tap.check(
        rc == ENOSYS,
        "unknown xen hypercall returns -ENOSYS",
        format_args!("{rc}"),
    );

    let rc = xen_hypercall(HYPERVISOR_CONSOLE_IO, [CONSOLEIO_WRITE, 16, HOLE]);
    tap.check(
        rc == EFAULT,
        "console write from an unmapped buffer returns -EFAULT",
        format_args!("{rc}"),
    );

    let before = start::sync_exceptions();
    // SAFETY: deliberately reads a hole; our own vector catches the abort
    // and steps over this instruction.
    let _ = unsafe { core::ptr::read_volatile(HOLE as *const u64) };
    let (esr, far) = start::last_exception();
    let ec = esr >> 26;
    let caught = start::sync_exceptions() == before + 1 && ec == 0x25 && far == HOLE;
    tap.check(
        caught,
        "data abort outside guest memory caught by own vector",
        format_args!("EC {ec:#x} FAR {far:#x}"),
    );

    let rc = xen_hypercall(
        HYPERVISOR_CONSOLE_IO,
        [CONSOLEIO_WRITE, 1 << 30, 0x4000_0000],
    );
    tap.check(
        rc == EINVAL,
        "oversized console write returns -EINVAL",
        format_args!("{rc}"),
    );

    let before = start::sync_exceptions();
    let hvc_at = calls::hvc_unknown_immediate();
    let (esr, _) = start::last_exception();
    let (ec, elr) = (esr >> 26, start::last_elr());
    let undef = start::sync_exceptions() == before + 1 && ec == 0 && elr == hvc_at;
    let detail = format_args!("EC {ec:#x} ELR {elr:#x}, hvc at {hvc_at:#x}");
    tap.check(
        undef,
        "hvc with an unknown immediate is an undefined instruction",
        detail,
    );

    if smp {
        smp_checks(&mut tap);
    } else {
        for name in SMP_CHECKS {
            tap.skip(name, "one vCPU");
        }
    }
    // vCPU 0 exists on every domain.
    let rc = smccc_hvc_args(PSCI_CPU_ON, [0, start::secondary_entry_point(), 0])[0] as i64;
    // An entry point outside its RAM (the GIC's MMIO) is refused before
    // the vCPU's state is looked at: no vCPU may start by faulting.
    let outside = smccc_hvc_args(PSCI_CPU_ON, [0, 0x0800_0000, 0])[0] as i64;
    tap.check(
        rc == -4 && outside == -9,
        "psci cpu_on of the running vCPU 0 returns ALREADY_ON; with an entry outside its RAM, INVALID_ADDRESS",
        format_args!("{rc}, {outside}"),
    );

    let ram_end = ram_end(dtb).unwrap_or(RAM_END_DEFAULT);
    xen::run(&mut tap, smp, ram_end);
    isolation(&mut tap, ram_end);
    // `selftest.xenstore=dom0`: a hardware domain runs beside this one, so
    // a xenstore channel to it must exist (Xen's xen,enhanced).
    let store = cmdline_has(dtb, "selftest.xenstore=dom0");
    xen::store_channel(&mut tap, store);

    end(&mut tap, checks, dtb)
}

/// The summary line, then power off (or reset, see below).
fn end(tap: &mut Tap, checks: u32, dtb: u64) -> ! {
    if tap.failed == 0 && tap.n == checks {
        let _ = writeln!(tap.out, "# all checks passed");
    } else {
        let missing = checks - tap.n.min(checks);
        let _ = writeln!(
            tap.out,
            "# {} of {checks} checks failed",
            tap.failed + missing
        );
    }
    // `selftest.end=reset` on the command line ends with SYSTEM_RESET until
    // the hypervisor has rebuilt this domain for its fourth boot (it says
    // which boot this is in /chosen/halyard,boot-count).
    let words = |w: &str| cmdline_has(dtb, w);
    if words("selftest.end=hostile") {
        let smp = cpu_count(dtb) >= 2;
        hostile_end::end(&mut tap.out, ram_end(dtb).unwrap_or(RAM_END_DEFAULT), smp);
    }
    if words("selftest.end=cpu-cycles") {
        let gap = cmdline_number(dtb, "selftest.cycle-gap").unwrap_or(0);
        cpu_cycles::end(&mut tap.out, secondary_stack_top(), gap);
    }
    if words("selftest.end=vector-loop") {
        hostile_end::vector_loop(&mut tap.out);
    }
    let boot = boot_count(dtb);
    let reset = cmdline_has(dtb, "selftest.end=reset") && boot < REBOOTS;
    let _ = writeln!(tap.out, "# boot {boot}");
    let (call, name) = if reset {
        (PSCI_SYSTEM_RESET, "RESET")
    } else {
        (PSCI_SYSTEM_OFF, "OFF")
    };
    let _ = writeln!(tap.out, "# requesting PSCI SYSTEM_{name}");
    smccc_hvc(call);
    let _ = writeln!(tap.out, "not ok - PSCI SYSTEM_{name} returned");
    loop {
        aarch64_wfi();
    }
}

/// Reading what is not ours: past our RAM (where the host keeps other
/// domains' memory), a redistributor beyond our two vCPUs', and host
/// devices that are not in our map (the GIC's ITS, the RTC, virtio). Each
/// read must fault into our own vector with FAR = the address, and nothing
/// else may happen. (Our own GIC and PL011 sit at the host's addresses.)
fn isolation(tap: &mut Tap, ram_end: u64) {
    let probes = [
        ram_end,
        ram_end + 0x100_0000,
        0x080e_0000,
        0x0808_0000,
        0x0901_0000,
        0x0a00_0000,
    ];
    let mut caught = 0;
    let mut first_bad = 0;
    for &at in &probes {
        let before = start::sync_exceptions();
        // SAFETY: deliberately reads memory that is not ours; our own
        // vector catches the abort and steps over this instruction.
        let _ = unsafe { core::ptr::read_volatile(at as *const u32) };
        let (esr, far) = start::last_exception();
        if start::sync_exceptions() == before + 1 && esr >> 26 == 0x25 && far == at {
            caught += 1;
        } else if first_bad == 0 {
            first_bad = at;
        }
    }
    tap.check(
        caught == probes.len(),
        "reads of other domains' memory, others' redistributors and host devices fault into this guest only",
        format_args!(
            "{caught} of {} caught; first miss {first_bad:#x}",
            probes.len()
        ),
    );
}

const SMP_CHECKS: [&str; 2] = [
    "psci cpu_on starts vCPU 1, which turns itself off",
    "psci cpu_on starts vCPU 1 again after cpu_off",
];

/// Top of vCPU 1's stack (only the address is taken; vCPU 1 is off
/// whenever it is started with it).
fn secondary_stack_top() -> u64 {
    core::ptr::addr_of_mut!(SECONDARY_STACK) as u64 + 8 * 1024
}

/// Start vCPU 1, see it run and turn itself off, then start it again.
fn smp_checks(tap: &mut Tap) {
    for name in SMP_CHECKS {
        set_secondary_ran(0);
        let top = secondary_stack_top();
        let rc = smccc_hvc_args(PSCI_CPU_ON, [1, start::secondary_entry_point(), top])[0] as i64;
        let mut off = false;
        for _ in 0..50_000_000u64 {
            if smccc_hvc_args(PSCI_AFFINITY_INFO, [1, 0, 0])[0] == AFF_OFF && secondary_ran() != 0 {
                off = true;
                break;
            }
        }
        let ran = secondary_ran();
        let ok = rc == 0 && off && ran == 0x101;
        tap.check(
            ok,
            name,
            format_args!("rc {rc}, off {off}, marker {ran:#x}"),
        );
    }
}

fn secondary_ran() -> u64 {
    // SAFETY: a plain static shared with vCPU 1; the MMU is off, so the
    // access is not cached and both vCPUs see memory.
    unsafe { core::ptr::addr_of!(SECONDARY_RAN).read_volatile() }
}

fn set_secondary_ran(v: u64) {
    // SAFETY: as in `secondary_ran`.
    unsafe { core::ptr::addr_of_mut!(SECONDARY_RAN).write_volatile(v) }
}

/// vCPU 1: record that it ran, then PSCI CPU_OFF (or serve the Xen
/// interface checks as their running second vCPU).
pub fn secondary_main() -> ! {
    if cpu_cycles::active() {
        cpu_cycles::vcpu1();
    }
    if xen::worker_requested() {
        xen::worker();
    }
    if attack::vcpu1_requested() {
        attack::vcpu1::body();
    }
    let mpidr: u64;
    // SAFETY: reads this vCPU's affinity.
    unsafe { core::arch::asm!("mrs {}, mpidr_el1", out(reg) mpidr, options(nomem, nostack)) };
    set_secondary_ran((mpidr & 0xff) | 0x100);
    smccc_hvc(PSCI_CPU_OFF);
    loop {
        aarch64_wfi();
    }
}

fn cpu_count(dtb: u64) -> usize {
    // SAFETY: see `bootargs`.
    match unsafe { fdt::Fdt::from_ptr(dtb as *const u8) } {
        Ok(f) => f.cpus().count(),
        Err(_) => 0,
    }
}

/// One past the end of the first memory region the device tree lists.
fn ram_end(dtb: u64) -> Option<u64> {
    // SAFETY: see `bootargs`.
    let fdt = unsafe { fdt::Fdt::from_ptr(dtb as *const u8) }.ok()?;
    let r = fdt.memory().regions().next()?;
    Some(r.starting_address as u64 + r.size? as u64)
}

/// The boot on which the reset variant powers off: it reboots itself
/// three times before.
const REBOOTS: u32 = 4;

/// Which boot of this domain this is (1 if the hypervisor does not say).
fn boot_count(dtb: u64) -> u32 {
    // SAFETY: as for `bootargs`.
    let Ok(fdt) = (unsafe { fdt::Fdt::from_ptr(dtb as *const u8) }) else {
        return 1;
    };
    fdt.find_node("/chosen")
        .and_then(|c| c.property("halyard,boot-count"))
        .and_then(|p| p.as_usize())
        .map_or(1, |n| n as u32)
}

/// The value after `key=` on the command line (e.g. `selftest.role=victim`).
fn cmdline_value(dtb: u64, key: &str) -> Option<&'static str> {
    bootargs(dtb)?
        .split(' ')
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// The number after `key=` on the command line (e.g. `selftest.peer=2`).
pub fn cmdline_number(dtb: u64, key: &str) -> Option<u64> {
    cmdline_value(dtb, key)?.parse().ok()
}

/// Whether the command line has the word `word`.
pub fn cmdline_has(dtb: u64, word: &str) -> bool {
    bootargs(dtb).is_some_and(|a| a.split(' ').any(|w| w == word))
}

fn bootargs(dtb: u64) -> Option<&'static str> {
    // SAFETY: checked above to hold an FDT header; the blob stays in place.
    let fdt = unsafe { fdt::Fdt::from_ptr(dtb as *const u8) }.ok()?;
    fdt.chosen().bootargs()
}

fn aarch64_wfi() {
    // SAFETY: waits for an interrupt; no memory effects.
    unsafe { core::arch::asm!("wfi", options(nomem, nostack)) };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut c = Console::new();
    let _ = writeln!(c, "Bail out! guest panic: {info}");
    smccc_hvc(PSCI_SYSTEM_OFF);
    loop {
        aarch64_wfi();
    }
}
