//! The UEFI memory map as the firmware hands it over: any number of
//! descriptors of any type, base and size, in any order.

use arbitrary::{Arbitrary, Unstructured};
use hypervisor::board::PhysRange;
use hypervisor::boot::uefi::{Descriptor, UefiMemory};

pub const TARGET: crate::Target = crate::Target {
    name: "uefi-memory-map",
    about: "UEFI memory map descriptors reduced to usable RAM, then clipped to the DTB's banks",
    run,
};

fn descriptor(u: &mut Unstructured<'_>) -> arbitrary::Result<Descriptor> {
    // Mostly the types firmware uses (0..=15), sometimes anything.
    let ty = if bool::arbitrary(u)? {
        u32::from(u8::arbitrary(u)? & 15)
    } else {
        u32::arbitrary(u)?
    };
    Ok(Descriptor {
        ty,
        base: u64::arbitrary(u)?,
        pages: u64::arbitrary(u)?,
    })
}

fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut descs = Vec::new();
    while descs.len() < 512 {
        match descriptor(&mut u) {
            Ok(d) => descs.push(d),
            Err(_) => break,
        }
    }
    let Ok(m) = UefiMemory::from_descriptors(descs) else {
        return;
    };
    let total: u64 = m.usable().iter().map(|r| r.size).sum();
    assert_eq!(
        total,
        m.usable_bytes(),
        "usable bytes disagree with the ranges"
    );
    for w in m.usable().windows(2) {
        assert!(w[0].base < w[1].base, "usable ranges not sorted: {w:x?}");
    }
    let banks = [
        PhysRange::new(0x4000_0000, 0x4000_0000),
        PhysRange::new(0, u64::MAX),
        PhysRange::new(u64::MAX - 0x1fff, 0x1000),
    ];
    for r in m.clip_to(&banks) {
        assert!(m.is_usable(r), "a clipped range is not usable: {r:x?}");
    }
}
