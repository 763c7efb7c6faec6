//! The device tree a domain boots with: its memory, CPUs, command line,
//! ramdisk and the PSCI interface the hypervisor provides.

use alloc::format;
use alloc::vec::Vec;

use crate::board::PhysRange;

pub struct GuestFdtSpec<'a> {
    pub ram: PhysRange,
    pub vcpus: u16,
    pub bootargs: &'a str,
    pub initrd: Option<PhysRange>,
}

pub fn build(spec: &GuestFdtSpec<'_>) -> Result<Vec<u8>, vm_fdt::Error> {
    let mut w = vm_fdt::FdtWriter::new()?;
    let root = w.begin_node("")?;
    w.property_string_list(
        "compatible",
        alloc::vec!["halyard,guest".into(), "linux,dummy-virt".into()],
    )?;
    w.property_u32("#address-cells", 2)?;
    w.property_u32("#size-cells", 2)?;

    let chosen = w.begin_node("chosen")?;
    w.property_string("bootargs", spec.bootargs)?;
    if let Some(rd) = spec.initrd {
        w.property_u64("linux,initrd-start", rd.base)?;
        w.property_u64("linux,initrd-end", rd.end())?;
    }
    w.end_node(chosen)?;

    let mem = w.begin_node(&format!("memory@{:x}", spec.ram.base))?;
    w.property_string("device_type", "memory")?;
    w.property_array_u64("reg", &[spec.ram.base, spec.ram.size])?;
    w.end_node(mem)?;

    let cpus = w.begin_node("cpus")?;
    w.property_u32("#address-cells", 1)?;
    w.property_u32("#size-cells", 0)?;
    for i in 0..u32::from(spec.vcpus) {
        let cpu = w.begin_node(&format!("cpu@{i}"))?;
        w.property_string("device_type", "cpu")?;
        w.property_string("compatible", "arm,armv8")?;
        w.property_u32("reg", i)?;
        w.property_string("enable-method", "psci")?;
        w.end_node(cpu)?;
    }
    w.end_node(cpus)?;

    let psci = w.begin_node("psci")?;
    w.property_string_list(
        "compatible",
        alloc::vec!["arm,psci-1.0".into(), "arm,psci-0.2".into()],
    )?;
    w.property_string("method", "hvc")?;
    w.end_node(psci)?;

    w.end_node(root)?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_the_domain() {
        let blob = build(&GuestFdtSpec {
            ram: PhysRange::new(0x4000_0000, 64 << 20),
            vcpus: 2,
            bootargs: "console=hvc0",
            initrd: Some(PhysRange::new(0x4300_0000, 0x1000)),
        })
        .unwrap();
        let fdt = fdt::Fdt::new(&blob).unwrap();
        assert_eq!(fdt.chosen().bootargs(), Some("console=hvc0"));
        let r: Vec<_> = fdt.memory().regions().collect();
        assert_eq!(
            (r[0].starting_address as u64, r[0].size),
            (0x4000_0000, Some(64 << 20))
        );
        assert_eq!(fdt.cpus().count(), 2);
        let psci = fdt.find_node("/psci").unwrap();
        assert_eq!(psci.property("method").unwrap().as_str(), Some("hvc"));
        let chosen = fdt.find_node("/chosen").unwrap();
        assert_eq!(
            chosen.property("linux,initrd-end").unwrap().as_usize(),
            Some(0x4300_1000)
        );
    }
}
