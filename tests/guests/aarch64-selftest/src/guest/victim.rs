//! `selftest.role=victim selftest.peer=N`: the hostile suite's victim. It
//! fills 1 MiB of its RAM with a known pattern and notes its checksum,
//! offers two unbound event channels to the attacker (domain N): the
//! first carries one heartbeat per attack case, the second says the
//! suite is over. On each heartbeat it recomputes the checksum and
//! answers only if it still matches, so the attacker's case fails if
//! anything reached the victim's memory. At the end it prints a summary
//! and powers itself off (which stops this domain only).

use core::fmt::Write;

use super::calls::smccc_hvc;
use super::cmdline_number;
use super::mem::{rd64, wr64};
use super::peer_link::{alloc_unbound, clear, map_shared_info, pending, send};
use super::{Console, PSCI_SYSTEM_OFF};

const REGION_BYTES: usize = 1 << 20;

/// The watched memory: 1 MiB of its own RAM, 8 MiB below its end (clear
/// of the image at the bottom and of the device tree Halyard puts 2 MiB
/// below the end; never shared with anyone). Not a static: 1 MiB in the
/// image would be 1 MiB more to load and hash for every selftest domain.
fn region(dtb: u64) -> u64 {
    super::ram_end(dtb).unwrap_or(super::RAM_END_DEFAULT) - (8 << 20)
}

/// A different, reproducible value for every word (splitmix64).
fn pattern(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a over the region's words, read back from memory.
fn checksum(region: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for i in 0..(REGION_BYTES / 8) as u64 {
        h = (h ^ rd64(region + 8 * i)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub fn run(dtb: u64) -> ! {
    let mut out = Console::new();
    let Some(peer) = cmdline_number(dtb, "selftest.peer") else {
        let _ = writeln!(
            out,
            "victim: not ok - no selftest.peer=N on the command line"
        );
        off();
    };
    let region = region(dtb);
    for i in 0..(REGION_BYTES / 8) as u64 {
        wr64(region + 8 * i, pattern(i));
    }
    let want = checksum(region);
    let si = map_shared_info();
    let (rc_b, beat) = alloc_unbound(peer as u16);
    let (rc_e, end) = alloc_unbound(peer as u16);
    if si != 0 || rc_b != 0 || rc_e != 0 {
        let _ = writeln!(
            out,
            "victim: not ok - setup failed: shared_info {si}, alloc_unbound {rc_b} {rc_e}"
        );
        off();
    }
    let _ = writeln!(
        out,
        "victim: ready: ports {beat} (heartbeat) and {end} (end) wait for d{peer}; checksum {want:#018x} over 1 MiB"
    );
    let mut beats = 0u64;
    let mut bad = 0u64;
    loop {
        if pending(beat) {
            clear(beat);
            let now = checksum(region);
            if now == want {
                beats += 1;
                send(beat);
            } else {
                // No answer: the attacker's case fails for lack of it.
                bad += 1;
                let _ = writeln!(
                    out,
                    "victim: not ok - checksum {now:#018x} after heartbeat {}, want {want:#018x}",
                    beats + bad
                );
            }
        }
        if pending(end) {
            clear(end);
            if bad == 0 && checksum(region) == want {
                let _ = writeln!(out, "victim: {beats} heartbeats, checksum ok every time");
            } else {
                let _ = writeln!(
                    out,
                    "victim: not ok - {beats} heartbeats, {bad} with a changed checksum"
                );
            }
            send(end);
            off();
        }
    }
}

fn off() -> ! {
    smccc_hvc(PSCI_SYSTEM_OFF);
    loop {
        core::hint::spin_loop();
    }
}
