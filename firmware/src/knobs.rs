//! Boot-time knobs from the fw_cfg file `opt/halyard/spmc`, a comma-separated
//! list, e.g. `-fw_cfg name=opt/halyard/spmc,string=desc-size=28,no-bit15,version=1.0`
//!   desc-size=N   partition-info descriptor stride, 24 <= N < 4096 (default 24)
//!   no-bit15      add a partition whose ID (0x7ff0) lacks the secure bit 15
//!   version=1.0   the SPMC only speaks FF-A 1.0
//! Unknown or malformed knobs are reported and ignored.

use crate::console::fwprintln;
use crate::fw_cfg;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const FILE: &str = "opt/halyard/spmc";
pub const DEFAULT_DESC_SIZE: usize = 24;

static DESC_SIZE: AtomicUsize = AtomicUsize::new(DEFAULT_DESC_SIZE);
static NO_BIT15: AtomicBool = AtomicBool::new(false);
static VERSION_1_0: AtomicBool = AtomicBool::new(false);

pub fn desc_size() -> usize {
    DESC_SIZE.load(Ordering::Relaxed)
}

pub fn no_bit15() -> bool {
    NO_BIT15.load(Ordering::Relaxed)
}

pub fn version_1_0_only() -> bool {
    VERSION_1_0.load(Ordering::Relaxed)
}

/// Reads and applies the knobs (CPU 0, before anything else uses them).
pub fn load() {
    let mut buf = [0u8; 512];
    if let Some(size) = fw_cfg::read_file(FILE, &mut buf) {
        let text = &buf[..size.min(buf.len())];
        match core::str::from_utf8(text) {
            Ok(text) => text
                .trim_end_matches(['\0', '\n'])
                .split(',')
                .filter(|knob| !knob.is_empty())
                .for_each(apply),
            Err(_) => fwprintln!("unknown knob: {} is not UTF-8, ignored", FILE),
        }
    }
    fwprintln!(
        "knobs: desc-size={} no-bit15={} version={}",
        desc_size(),
        if no_bit15() { "on" } else { "off" },
        if version_1_0_only() { "1.0" } else { "1.2" }
    );
}

fn apply(knob: &str) {
    let (name, value) = match knob.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (knob, None),
    };
    match (name, value) {
        ("desc-size", Some(value)) => match value.parse::<usize>() {
            Ok(n) if (24..4096).contains(&n) => DESC_SIZE.store(n, Ordering::Relaxed),
            _ => fwprintln!(
                "unknown knob: desc-size={} (need 24 <= N < 4096), refused",
                value
            ),
        },
        ("no-bit15", None) => NO_BIT15.store(true, Ordering::Relaxed),
        ("version", Some("1.0")) => VERSION_1_0.store(true, Ordering::Relaxed),
        _ => fwprintln!("unknown knob: {}, refused", knob),
    }
}
