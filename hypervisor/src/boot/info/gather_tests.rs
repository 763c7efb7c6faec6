//! The split layout's matching rules, on real tables.

use alloc::vec::Vec;

use image_format::domain_flags::{DIRECT_MAP, HARDWARE};
use image_format::{layout_with, DomainSpec, LayoutOptions, ModuleKind, ModuleSpec, ModuleTable};

use super::*;
use crate::boot::handover::{Declared, LoaderModule};

const TABLE_AT: u64 = 0x1000;

/// dom0 (kernel K, ramdisk R) and "domu" (kernel K again, ramdisk U).
fn contents() -> [Vec<u8>; 3] {
    let k = (0..(PIECE_SIZE as usize + 300))
        .map(|i| (i % 251) as u8)
        .collect();
    let r = vec![0x5a; 5000];
    let u = vec![0xa5; 7000];
    [k, r, u]
}

fn table_bytes(with_hw: bool) -> Vec<u8> {
    let [k, r, u] = contents();
    let spec = |kind, domain, bytes: &Vec<u8>| ModuleSpec {
        kind,
        domain,
        size: bytes.len() as u64,
        sha256: [0; 32],
        cmdline: "console=hvc0".into(),
        piece_blake3: bytes
            .chunks(PIECE_SIZE as usize)
            .map(|c| *blake3::hash(c).as_bytes())
            .collect(),
        align: 0,
    };
    let mut domains = vec![DomainSpec {
        id: 1,
        flags: 0,
        vcpus: 1,
        memory_bytes: 64 << 20,
        name: "domu".into(),
        pcpus: 0,
    }];
    let mut modules = vec![
        spec(ModuleKind::Kernel, 1, &k),
        spec(ModuleKind::Ramdisk, 1, &u),
    ];
    if with_hw {
        domains.insert(
            0,
            DomainSpec {
                id: 0,
                flags: HARDWARE | DIRECT_MAP,
                vcpus: 1,
                memory_bytes: 0,
                name: "dom0".into(),
                pcpus: 0,
            },
        );
        modules.insert(0, spec(ModuleKind::Kernel, 0, &k));
        modules.insert(1, spec(ModuleKind::Ramdisk, 0, &r));
    }
    let opts = LayoutOptions {
        signed: false,
        piece_blake3: true,
    };
    layout_with(TABLE_AT, &domains, &modules, opts).table
}

/// A loader module `n` (1-based) holding `data`.
fn module(
    n: usize,
    declared: Declared,
    owner: Option<&'static str>,
    data: &[u8],
) -> LoaderModule<'static> {
    LoaderModule {
        number: n,
        name: ["module@a", "module@b", "module@c", "module@d", "module@e"][n - 1],
        owner,
        range: PhysRange::new(0x5000_0000 + n as u64 * 0x1000_0000, data.len() as u64),
        declared,
        bootargs: None,
    }
}

fn run(table: &[u8], mods: &[(LoaderModule<'static>, Vec<u8>)]) -> Plan {
    let t = ModuleTable::parse(table).unwrap();
    let list: Vec<LoaderModule<'static>> = mods.iter().map(|(m, _)| *m).collect();
    // Leaked so that the closure can hand out 'static slices.
    let data: &'static [Vec<u8>] = Vec::leak(mods.iter().map(|(_, d)| d.clone()).collect());
    let by_number = move |m: &LoaderModule<'static>| Some(data[m.number - 1].as_slice());
    plan(&t, &list, by_number, |b| *blake3::hash(b).as_bytes())
}

fn entries(p: &Plan) -> Vec<(usize, usize)> {
    p.copies.iter().map(|c| (c.from, c.entry)).collect()
}

#[test]
fn typed_modules_fill_every_matching_entry() {
    let [k, r, u] = contents();
    let mods = [
        (module(1, Declared::Kernel, None, &k), k.clone()),
        (module(2, Declared::Ramdisk, None, &r), r.clone()),
        (module(3, Declared::Ramdisk, Some("domu"), &u), u.clone()),
    ];
    let p = run(&table_bytes(true), &mods);
    // The one kernel serves dom0 and the domU; each ramdisk its own.
    assert_eq!(entries(&p), [(0, 0), (0, 2), (1, 1), (2, 3)]);
    assert_eq!(p.messages, Vec::<String>::new());
    assert!(!p.no_hardware_kernel);
    let bytes = table_bytes(true);
    let t = ModuleTable::parse(&bytes).unwrap();
    let dom0_kernel = t.modules().next().unwrap();
    assert_eq!(
        (p.copies[0].offset, p.copies[0].len),
        (dom0_kernel.offset, dom0_kernel.size)
    );
}

#[test]
fn untyped_modules_follow_xen_order_and_a_stray_is_refused_by_name() {
    let [k, r, u] = contents();
    let stray = vec![7u8; 4096];
    let mods = [
        (module(1, Declared::Untyped, None, &k), k.clone()),
        (module(2, Declared::Untyped, None, &r), r.clone()),
        (module(3, Declared::Untyped, None, &stray), stray.clone()),
        (module(4, Declared::Untyped, None, &u), u.clone()),
    ];
    let p = run(&table_bytes(true), &mods);
    assert_eq!(
        p.messages,
        [
            "multiple ramdisk candidates: using module #2 (module@b)",
            "module #3 (module@c), 4096 bytes, is not in the signed table: refused",
        ]
    );
    assert_eq!(entries(&p), [(0, 0), (0, 2), (1, 1), (3, 3)]);
}

#[test]
fn the_rules_pick_must_be_the_hardware_domains_module() {
    let [k, r, u] = contents();
    // The ramdisk comes first: by Xen's rules it is the kernel.
    let mods = [
        (module(1, Declared::Untyped, None, &r), r.clone()),
        (module(2, Declared::Untyped, None, &k), k.clone()),
        (module(3, Declared::Ramdisk, Some("domu"), &u), u.clone()),
    ];
    let p = run(&table_bytes(true), &mods);
    assert!(p.messages[0]
        .starts_with("module #1 (module@a) is the hardware domain's kernel by Xen's module rules"));
    assert!(p.no_hardware_kernel);
    assert!(p
        .messages
        .contains(&"d0 (dom0): its kernel was not handed over by the loader".into()));
}

#[test]
fn no_modules_for_dom0_means_no_hardware_domain_unless_dom0less() {
    let [k, _, u] = contents();
    let domu_only = [
        (module(1, Declared::Kernel, Some("domu"), &k), k.clone()),
        (module(2, Declared::Ramdisk, Some("domu"), &u), u.clone()),
    ];
    let p = run(&table_bytes(true), &domu_only);
    assert!(p.no_hardware_kernel);
    // The same modules for a dom0less table: all is well.
    let p = run(&table_bytes(false), &domu_only);
    assert!(!p.no_hardware_kernel);
    assert_eq!(entries(&p), [(0, 0), (1, 1)]);
    assert!(p.messages.is_empty(), "{:?}", p.messages);
}

#[test]
fn kinds_and_owners_that_contradict_the_table_are_refused() {
    let [k, _, u] = contents();
    let mods = [
        // The domU's ramdisk, declared a kernel.
        (module(1, Declared::Kernel, Some("domu"), &u), u.clone()),
        // The kernel under a domain node of another name.
        (module(2, Declared::Kernel, Some("other"), &k), k.clone()),
    ];
    let p = run(&table_bytes(false), &mods);
    assert_eq!(
        p.messages[..2],
        [
            "module #1 (domu/module@a) is d1 (domu)'s ramdisk in the signed table, which its node contradicts: refused",
            "module #2 (other/module@b) is d1 (domu)'s kernel in the signed table, which its node contradicts: refused",
        ]
    );
    assert!(p.copies.is_empty());
}

#[test]
fn a_module_changed_in_its_first_piece_is_not_in_the_table() {
    let [k, r, u] = contents();
    let mut bad = k.clone();
    bad[10] ^= 1;
    let mods = [
        (module(1, Declared::Kernel, None, &bad), bad.clone()),
        (module(2, Declared::Ramdisk, None, &r), r.clone()),
        (module(3, Declared::Ramdisk, Some("domu"), &u), u.clone()),
    ];
    let p = run(&table_bytes(true), &mods);
    assert!(
        p.messages[0].contains("module #1 (module@a), 1048876 bytes, is not in the signed table")
    );
    assert!(p.no_hardware_kernel);
}

#[test]
fn repeats_and_loader_bootargs() {
    let [k, r, u] = contents();
    let mut with_args = module(1, Declared::Kernel, None, &k);
    with_args.bootargs = Some("init=/bin/sh");
    let mut same_args = module(2, Declared::Ramdisk, None, &r);
    same_args.bootargs = Some("console=hvc0");
    let mods = [
        (with_args, k.clone()),
        (same_args, r.clone()),
        (module(3, Declared::Ramdisk, Some("domu"), &u), u.clone()),
        (module(4, Declared::Ramdisk, Some("domu"), &u), u.clone()),
    ];
    let p = run(&table_bytes(true), &mods);
    assert_eq!(
        p.messages,
        [
            "module #1 (module@a): the loader's bootargs are ignored; the signed table's command line is used",
            "module #4 (domu/module@d) repeats a module already handed over: ignored",
        ]
    );
}

#[test]
fn readable_needs_ram_and_a_clear_image() {
    let ram = [PhysRange::new(0x4000_0000, 0x4000_0000)];
    let image = PhysRange::new(0x4020_0000, 0x400_0000);
    assert!(readable(PhysRange::new(0x4800_0000, 0x1000), &ram, image));
    assert!(!readable(PhysRange::new(0x4300_0000, 0x1000), &ram, image));
    assert!(!readable(PhysRange::new(0x7fff_f000, 0x2000), &ram, image));
    assert!(!readable(PhysRange::new(0x1000, 0x1000), &ram, image));
}
