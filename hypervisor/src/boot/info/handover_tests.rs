//! Reading loader module nodes: QEMU guest-loader's shape and a dom0less
//! domain node with its own cell sizes.

use alloc::vec::Vec;

use super::*;

fn tree() -> Vec<u8> {
    let mut w = vm_fdt::FdtWriter::new().unwrap();
    let root = w.begin_node("").unwrap();
    w.property_u32("#address-cells", 2).unwrap();
    w.property_u32("#size-cells", 2).unwrap();
    let chosen = w.begin_node("chosen").unwrap();
    w.property_string("bootargs", "for the hypervisor").unwrap();
    // As guest-loader writes them: root's cells (2 + 2).
    let k = w.begin_node("module@50000000").unwrap();
    w.property_string_list(
        "compatible",
        vec!["multiboot,module".into(), "multiboot,kernel".into()],
    )
    .unwrap();
    w.property_array_u64("reg", &[0x5000_0000, 0x200_0000])
        .unwrap();
    w.property_string("bootargs", "console=hvc0").unwrap();
    w.end_node(k).unwrap();
    let plain = w.begin_node("module@52000000").unwrap();
    w.property_string("compatible", "multiboot,module").unwrap();
    w.property_array_u64("reg", &[0x5200_0000, 0x1000]).unwrap();
    w.end_node(plain).unwrap();
    let other = w.begin_node("not-a-module").unwrap();
    w.property_string("compatible", "vendor,thing").unwrap();
    w.end_node(other).unwrap();
    let dom = w.begin_node("domu").unwrap();
    w.property_string("compatible", "xen,domain").unwrap();
    w.property_u32("#address-cells", 1).unwrap();
    w.property_u32("#size-cells", 1).unwrap();
    let r = w.begin_node("module@53000000").unwrap();
    w.property_string_list(
        "compatible",
        vec!["multiboot,ramdisk".into(), "multiboot,module".into()],
    )
    .unwrap();
    w.property_array_u32("reg", &[0x5300_0000, 0x2000]).unwrap();
    w.end_node(r).unwrap();
    w.end_node(dom).unwrap();
    w.end_node(chosen).unwrap();
    w.end_node(root).unwrap();
    w.finish().unwrap()
}

#[test]
fn reads_typed_untyped_and_domain_modules() {
    let blob = tree();
    let mods = modules(&blob).unwrap();
    assert_eq!(mods.len(), 3);
    assert_eq!(
        mods[0],
        LoaderModule {
            number: 1,
            name: "module@50000000",
            owner: None,
            range: PhysRange::new(0x5000_0000, 0x200_0000),
            declared: Declared::Kernel,
            bootargs: Some("console=hvc0"),
        }
    );
    assert_eq!(
        (mods[1].declared, mods[1].bootargs),
        (Declared::Untyped, None)
    );
    assert_eq!(mods[2].owner, Some("domu"));
    assert_eq!(mods[2].range, PhysRange::new(0x5300_0000, 0x2000));
    assert_eq!(mods[2].declared, Declared::Ramdisk);
    let ranges = module_ranges(&blob);
    let want: Vec<PhysRange> = mods.iter().map(|m| m.range).collect();
    assert_eq!(ranges.as_slice(), want.as_slice());
}

#[test]
fn no_chosen_or_no_modules_is_an_empty_list() {
    let blob = crate::boot::test_env::sample_host_dtb();
    assert!(modules(&blob).unwrap().is_empty());
    assert!(module_ranges(&blob).as_slice().is_empty());
    assert_eq!(modules(&[0u8; 64]), Err(HandoverError::BadTree));
}

#[test]
fn a_module_without_a_size_is_an_error_naming_it() {
    let mut w = vm_fdt::FdtWriter::new().unwrap();
    let root = w.begin_node("").unwrap();
    let chosen = w.begin_node("chosen").unwrap();
    let k = w.begin_node("module@0").unwrap();
    w.property_string("compatible", "multiboot,module").unwrap();
    w.property_array_u32("reg", &[0, 0x5000_0000]).unwrap();
    w.end_node(k).unwrap();
    w.end_node(chosen).unwrap();
    w.end_node(root).unwrap();
    let blob = w.finish().unwrap();
    // 2 address cells, 1 size cell by default: the reg is one cell short.
    assert_eq!(modules(&blob), Err(HandoverError::BadReg(1)));
}

#[test]
fn dom0_does_not_see_the_loader_nodes() {
    use crate::boot::dom0_fdt::{build, Dom0FdtSpec};
    let ram = [PhysRange::new(0x4000_0000, 0x2000_0000)];
    let spec = Dom0FdtSpec {
        ram: &ram,
        vcpus: 1,
        bootargs: "console=hvc0",
        initrd: None,
        remove: &[],
        keep_device: None,
        xen: None,
    };
    let blob = build(&tree(), &spec).unwrap();
    let f = fdt::Fdt::new(&blob).unwrap();
    let chosen = f.find_node("/chosen").unwrap();
    let names: Vec<&str> = chosen.children().map(|c| c.name).collect();
    assert_eq!(names, ["not-a-module"]);
    assert_eq!(f.chosen().bootargs(), Some("console=hvc0"));
    assert!(modules(&blob).unwrap().is_empty());
}
