//! The device section: round trip, and every rule `parse` enforces.

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use crate::*;

fn domains() -> Vec<DomainSpec> {
    [(0u16, domain_flags::HARDWARE), (1, 0), (2, 0)]
        .into_iter()
        .map(|(id, flags)| DomainSpec {
            id,
            flags,
            vcpus: 1,
            memory_bytes: 64 << 20,
            name: alloc::format!("d{id}"),
            pcpus: 1 << id,
        })
        .collect()
}

fn rtc(domain: u16) -> DeviceSpec {
    DeviceSpec {
        domain,
        path: "/pl031@9010000".to_string(),
        mmio: vec![(0x0901_0000, 0x1000)],
        irqs: vec![34],
    }
}

fn gpio(domain: u16) -> DeviceSpec {
    DeviceSpec {
        domain,
        path: "/pl061@9030000".to_string(),
        mmio: vec![(0x0903_0000, 0x1000), (0x0904_0000, 0x2000)],
        irqs: vec![39, 40],
    }
}

fn table(devices: &[DeviceSpec]) -> Vec<u8> {
    let opts = LayoutOptions {
        signed: true,
        piece_blake3: false,
    };
    layout_all(0x1000, &domains(), &[], devices, opts).table
}

fn parse(devices: &[DeviceSpec]) -> Result<(), FormatError> {
    ModuleTable::parse(&table(devices)).map(|_| ())
}

#[test]
fn devices_round_trip() {
    let bytes = table(&[rtc(1), gpio(2)]);
    let t = ModuleTable::parse(&bytes).unwrap();
    assert!(t.header.has_devices());
    let d: Vec<_> = t.devices().collect();
    assert_eq!(d.len(), 2);
    assert_eq!((d[0].domain, d[0].path), (1, "/pl031@9010000"));
    assert_eq!(d[0].mmio().collect::<Vec<_>>(), [(0x0901_0000, 0x1000)]);
    assert_eq!(d[0].irqs().collect::<Vec<_>>(), [34]);
    assert_eq!(
        d[1].mmio().collect::<Vec<_>>(),
        [(0x0903_0000, 0x1000), (0x0904_0000, 0x2000)]
    );
    assert_eq!(d[1].irqs().collect::<Vec<_>>(), [39, 40]);
    assert_eq!(t.domains().count(), 3);
}

#[test]
fn no_devices_no_section() {
    let d = domains();
    let plain = layout_with(0x1000, &d, &[], LayoutOptions::default());
    let none = layout_all(0x1000, &d, &[], &[], LayoutOptions::default());
    assert_eq!(plain, none);
    let t = ModuleTable::parse(&plain.table).unwrap();
    assert!(!t.header.has_devices());
    assert_eq!(t.devices().count(), 0);
}

#[test]
fn a_device_given_twice_names_both_domains() {
    assert_eq!(
        parse(&[rtc(1), rtc(2)]),
        Err(FormatError::DeviceConflict {
            first: 1,
            second: 2,
            shared: Shared::Path
        })
    );
    let mut overlapping = gpio(2);
    overlapping.mmio = vec![(0x0900_0000, 0x11000)];
    assert_eq!(
        parse(&[rtc(1), overlapping]),
        Err(FormatError::DeviceConflict {
            first: 1,
            second: 2,
            shared: Shared::Mmio(0x0901_0000)
        })
    );
    let mut same_line = gpio(1);
    same_line.irqs = vec![40, 34];
    assert_eq!(
        parse(&[rtc(2), same_line]),
        Err(FormatError::DeviceConflict {
            first: 2,
            second: 1,
            shared: Shared::Irq(34)
        })
    );
    let msg = parse(&[rtc(1), rtc(2)]).unwrap_err().to_string();
    assert_eq!(msg, "domains 1 and 2 both get the same device");
}

#[test]
fn bad_devices_are_refused() {
    let fault = |d: DeviceSpec| match parse(&[d]) {
        Err(FormatError::BadDevice { device: 0, fault }) => fault,
        other => panic!("{other:?}"),
    };
    assert_eq!(fault(rtc(0)), DeviceFault::HardwareDomain(0));
    assert_eq!(fault(rtc(9)), DeviceFault::UnknownDomain(9));
    let mut d = rtc(1);
    d.mmio = vec![(0x0901_0800, 0x1000)];
    assert_eq!(
        fault(d.clone()),
        DeviceFault::BadRange {
            base: 0x0901_0800,
            size: 0x1000
        }
    );
    d.mmio = vec![(0x0901_0000, 0)];
    assert!(matches!(fault(d.clone()), DeviceFault::BadRange { .. }));
    d.mmio = vec![(!0xfff, 0x2000)];
    assert!(matches!(fault(d.clone()), DeviceFault::BadRange { .. }));
    let mut d = rtc(1);
    d.irqs = vec![27];
    assert_eq!(fault(d.clone()), DeviceFault::NotAnSpi(27));
    d.irqs = vec![1020];
    assert_eq!(fault(d), DeviceFault::NotAnSpi(1020));
    let mut d = rtc(1);
    d.path = "pl031@9010000".to_string();
    assert_eq!(fault(d), DeviceFault::BadPath);
    let mut d = rtc(1);
    d.irqs = (32..32 + devices::MAX_DEVICE_IRQS as u32 + 1).collect();
    assert_eq!(fault(d), DeviceFault::TooManyRanges);
}

#[test]
fn a_bad_section_header_is_refused() {
    let mut b = table(&[rtc(1)]);
    let at = HEADER_SIZE + 3 * DOMAIN_ENTRY_SIZE;
    b[at + 2] = 32;
    assert!(matches!(
        ModuleTable::parse(&b),
        Err(FormatError::BadDevice {
            fault: DeviceFault::BadSection,
            ..
        })
    ));
    let mut b = table(&[rtc(1)]);
    b[at] = 200;
    assert!(ModuleTable::parse(&b).is_err());
}

/// Any mutation parses or errors; the accessors stay inside the table.
#[test]
fn never_panics_on_mutations() {
    let good = table(&[rtc(1), gpio(2)]);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut b = good.clone();
        for k in 0..(seed % 4 + 1) as usize {
            let pos = ((seed >> (k * 12)) as usize) % b.len();
            b[pos] = (seed >> (k * 8 + 3)) as u8;
        }
        let cut = if seed.is_multiple_of(5) {
            (seed >> 20) as usize % b.len()
        } else {
            b.len()
        };
        if let Ok(t) = ModuleTable::parse(&b[..cut]) {
            for d in t.devices() {
                let _ = d.mmio().count() + d.irqs().count() + d.path.len();
            }
        }
    }
}
