//! U-Boot's side of the split layout: the boot script that loads the files
//! and writes the `/chosen` module nodes (as Xen's ImageBuilder
//! `uboot-script-gen` does), and `boot.scr`, the script wrapped the way
//! U-Boot's `source` command reads it (a legacy image of type "script",
//! as `mkimage -T script` writes it), so no mkimage is needed.

use anyhow::{bail, Result};

use crate::split::{parse_addr, SplitLayout};

fn node_name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b",._+-".contains(&b))
}

/// `<0x0 0x4a000000 0x0 0x1000>`: a reg in 2 + 2 cells.
fn reg(base: u64, size: u64) -> String {
    format!(
        "<{:#x} {:#x} {:#x} {:#x}>",
        base >> 32,
        base & 0xffff_ffff,
        size >> 32,
        size & 0xffff_ffff
    )
}

/// One node the script creates: its parent, name and `fdt set` lines.
struct Node {
    parent: String,
    name: String,
    props: Vec<String>,
}

/// Every step sets `halyard_ok` to 0 if it fails (U-Boot 2023.01's `exit`
/// does not leave a script), and only then is `booti` skipped.
fn step(cmd: &str) -> String {
    format!("{cmd} || setenv halyard_ok 0\n")
}

/// The script text (`boot.cmd`). The hardware domain's kernel and ramdisk
/// are plain `multiboot,module` nodes, kernel first (Xen's order rules
/// decide, as for any Xen script); the other domains' modules are typed
/// and sit under a `xen,domain` node named after their domain.
pub fn boot_script(layout: &SplitLayout) -> Result<String> {
    let mut s = String::from(
        "# Halyard split layout, written by image-builder: loads the hypervisor and\n\
         # each module, describes the modules in /chosen (Xen's multiboot,module\n\
         # binding) and starts the hypervisor. Run by U-Boot's distro boot as\n\
         # boot.scr from the first partition; elsewhere set devtype/devnum/distro_bootpart.\n\
         if test -z \"${devtype}\"; then setenv devtype virtio; setenv devnum 0; setenv distro_bootpart 1; fi\n\
         setenv halyard_ok 1\n",
    );
    let load = |addr: &str, file: &str| {
        step(&format!(
            "load ${{devtype}} ${{devnum}}:${{distro_bootpart}} {addr} {file}"
        ))
    };
    // At its own address: booti would otherwise copy the header's whole
    // image_size there (U-Boot runs this script from a copy, so loading
    // over ${scriptaddr} is fine).
    s += &load(&layout.hypervisor.addr, &layout.hypervisor.file);
    for m in &layout.modules {
        s += &load(&m.loaded.addr, &m.loaded.file);
    }
    s += &step("fdt addr ${fdt_addr}");
    s += &step("fdt resize 8192");
    s += &step("fdt set /chosen \\#address-cells <0x2>");
    s += &step("fdt set /chosen \\#size-cells <0x2>");
    // The nodes in the order they must end up in.
    let mut nodes: Vec<Node> = Vec::new();
    for m in &layout.modules {
        if m.bootargs.contains(['"', '\\', '$', '\n']) {
            bail!(
                "{}'s command line {:?} has a character a U-Boot script cannot quote",
                m.domains[0],
                m.bootargs
            );
        }
        let parent = if m.hardware {
            "/chosen".to_string()
        } else {
            let d = m.domains[0].as_str();
            if !node_name_ok(d) {
                bail!("domain name {d:?} is not a valid device-tree node name");
            }
            if !nodes.iter().any(|n| n.parent == "/chosen" && n.name == d) {
                nodes.push(Node {
                    parent: "/chosen".into(),
                    name: d.into(),
                    props: vec![
                        "compatible \"xen,domain\"".into(),
                        "\\#address-cells <0x2>".into(),
                        "\\#size-cells <0x2>".into(),
                    ],
                });
            }
            format!("/chosen/{d}")
        };
        let base = parse_addr(&m.loaded.addr)?;
        let compatible = match (m.hardware, m.kind.as_str()) {
            (true, _) => "\"multiboot,module\"".to_string(),
            (false, kind) => format!("\"multiboot,{kind}\" \"multiboot,module\""),
        };
        let mut props = vec![
            format!("compatible {compatible}"),
            format!("reg {}", reg(base, m.loaded.size)),
        ];
        if !m.bootargs.is_empty() {
            props.push(format!("bootargs \"{}\"", m.bootargs));
        }
        nodes.push(Node {
            parent,
            name: format!("module@{base:x}"),
            props,
        });
    }
    // `fdt mknode` puts a node first among its siblings: create each
    // parent's children last first (a domain node before its own).
    let mut emit = |n: &Node| {
        s += &step(&format!("fdt mknode {} {}", n.parent, n.name));
        for p in &n.props {
            s += &step(&format!("fdt set {}/{} {p}", n.parent, n.name));
        }
    };
    for top in nodes.iter().rev().filter(|n| n.parent == "/chosen") {
        emit(top);
        let path = format!("/chosen/{}", top.name);
        for child in nodes.iter().rev().filter(|n| n.parent == path) {
            emit(child);
        }
    }
    s += &format!(
        "if test \"${{halyard_ok}}\" = 1; then booti {} - ${{fdt_addr}}; fi\n",
        layout.hypervisor.addr
    );
    s += "echo \"Halyard: a file could not be loaded or the device tree not written; not booting\"\npoweroff\n";
    Ok(s)
}

/// The script that boots the single image: load `file` at its address
/// and `booti` it with U-Boot's device tree (modules inside the image).
pub fn booti_script(addr: u64, file: &str) -> String {
    format!(
        "# Halyard single image: load it at its address and start it.\n\
         if test -z \"${{devtype}}\"; then setenv devtype virtio; setenv devnum 0; setenv distro_bootpart 1; fi\n\
         if load ${{devtype}} ${{devnum}}:${{distro_bootpart}} {addr:#x} {file}; then booti {addr:#x} - ${{fdt_addr}}; fi\n\
         echo \"Halyard: {file} could not be loaded or started\"\npoweroff\n"
    )
}

const IH_MAGIC: u32 = 0x2705_1956;
const IH_OS_LINUX: u8 = 5;
const IH_ARCH_ARM64: u8 = 22;
const IH_TYPE_SCRIPT: u8 = 6;
const IH_COMP_NONE: u8 = 0;
const HEADER_LEN: usize = 64;

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(bytes);
    c.sum()
}

/// `script` as a legacy "script" image: the 64-byte header (big-endian,
/// CRC32 of header and data), then the data: the script's length, a zero
/// word ending the length list, the script.
pub fn script_image(script: &str, epoch: u64) -> Result<Vec<u8>> {
    let len = u32::try_from(script.len())?;
    let mut data = Vec::with_capacity(script.len() + 8);
    data.extend_from_slice(&len.to_be_bytes());
    data.extend_from_slice(&0u32.to_be_bytes());
    data.extend_from_slice(script.as_bytes());
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(&IH_MAGIC.to_be_bytes());
    h[8..12].copy_from_slice(&u32::try_from(epoch).unwrap_or(u32::MAX).to_be_bytes());
    h[12..16].copy_from_slice(&u32::try_from(data.len())?.to_be_bytes());
    h[24..28].copy_from_slice(&crc32(&data).to_be_bytes());
    h[28] = IH_OS_LINUX;
    h[29] = IH_ARCH_ARM64;
    h[30] = IH_TYPE_SCRIPT;
    h[31] = IH_COMP_NONE;
    let name = b"Halyard split layout";
    h[32..32 + name.len()].copy_from_slice(name);
    let hcrc = crc32(&h);
    h[4..8].copy_from_slice(&hcrc.to_be_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(&data);
    Ok(out)
}
