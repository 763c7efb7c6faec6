//! The edits a board manifest lists for its upstream DTB, where QEMU's
//! model lacks a device the tree describes (an access to it would be an
//! external abort): each listed node gets `status = "disabled"`. The tree is
//! read with `fdt` and written anew with `vm-fdt`; every other byte of
//! meaning (reservations, nodes, properties, phandles) is copied as is.

use anyhow::{bail, Context, Result};

use crate::board_manifest::DtDisable;

/// `blob` with every node in `edits` disabled.
pub fn apply(blob: &[u8], edits: &[DtDisable]) -> Result<Vec<u8>> {
    // The structural check the hypervisor runs on every firmware tree:
    // the `fdt` crate asserts (panics) on malformed blocks and on NOPs.
    let mut checked = blob.to_vec();
    image_format::fdt_normalize::normalize(&mut checked)
        .map_err(|e| anyhow::anyhow!("not a valid device tree: {e:?}"))?;
    let blob = checked.as_slice();
    let fdt = fdt::Fdt::new(blob).map_err(|e| anyhow::anyhow!("not a valid device tree: {e:?}"))?;
    for e in edits {
        if fdt.find_node(&e.path).is_none() {
            bail!("no node {} to disable", e.path);
        }
    }
    let reserve: Vec<_> = fdt
        .memory_reservations()
        .map(|m| vm_fdt::FdtReserveEntry::new(m.address() as u64, m.size() as u64))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("memory reservation: {e:?}"))?;
    let mut w = vm_fdt::FdtWriter::new_with_mem_reserv(&reserve).map_err(writer)?;
    // The header's boot_cpuid_phys (offset 0x1c), which `fdt` does not expose.
    if let Some(b) = blob.get(0x1c..0x20) {
        w.set_boot_cpuid_phys(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    }
    let root = fdt.find_node("/").context("the tree has no root node")?;
    copy(&mut w, &root, "", edits)?;
    w.finish().map_err(writer)
}

fn writer(e: vm_fdt::Error) -> anyhow::Error {
    anyhow::anyhow!("writing the edited device tree: {e}")
}

fn copy(
    w: &mut vm_fdt::FdtWriter,
    node: &fdt::node::FdtNode<'_, '_>,
    path: &str,
    edits: &[DtDisable],
) -> Result<()> {
    let disable = edits.iter().any(|e| e.path == path);
    let handle = w
        .begin_node(node.name.split('/').next_back().unwrap_or(""))
        .map_err(writer)?;
    for p in node.properties() {
        if disable && p.name == "status" {
            continue;
        }
        w.property(p.name, p.value)
            .map_err(writer)
            .with_context(|| format!("property {} of {}", p.name, display(path)))?;
    }
    if disable {
        w.property_string("status", "disabled").map_err(writer)?;
    }
    for child in node.children() {
        copy(w, &child, &format!("{path}/{}", child.name), edits)?;
    }
    w.end_node(handle).map_err(writer)
}

fn display(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RPI4: &[u8] = include_bytes!("../../../tests/fixtures/dtb/bcm2711-rpi-4-b.dtb");

    fn edit(path: &str) -> DtDisable {
        DtDisable {
            path: path.into(),
            why: "test".into(),
        }
    }

    #[test]
    fn disables_the_listed_nodes_and_keeps_the_rest() {
        let out = apply(RPI4, &[edit("/soc/interrupt-controller@7ef00100")]).unwrap();
        let before = fdt::Fdt::new(RPI4).unwrap();
        let after = fdt::Fdt::new(&out).unwrap();
        let status = |f: &fdt::Fdt<'_>, p: &str| {
            f.find_node(p)
                .and_then(|n| n.property("status"))
                .and_then(|s| s.as_str())
                .map(String::from)
        };
        assert_eq!(
            status(&after, "/soc/interrupt-controller@7ef00100").as_deref(),
            Some("disabled")
        );
        assert_eq!(
            status(&after, "/soc/serial@7e201000"),
            status(&before, "/soc/serial@7e201000")
        );
        assert_eq!(before.all_nodes().count(), after.all_nodes().count());
        let props = |f: &fdt::Fdt<'_>| f.all_nodes().map(|n| n.properties().count()).sum::<usize>();
        // One status property added (the node had none).
        assert_eq!(props(&after), props(&before) + 1);
        assert_eq!(
            before.memory_reservations().count(),
            after.memory_reservations().count()
        );
    }

    /// Found by fuzzing (builder-dtb-edit): QEMU's dumped trees carry
    /// FDT_NOPs, on which the `fdt` crate panicked mid-copy.
    #[test]
    fn trees_with_nops_are_edited_not_a_panic() {
        let qemu = include_bytes!("../../../tests/fixtures/dtb/bcm2711-rpi-4-b-from-qemu.dtb");
        let out = apply(qemu, &[edit("/soc/serial@7e201000")]).unwrap();
        assert!(fdt::Fdt::new(&out).is_ok());
    }

    /// A tree nested deeper than any real one: an error from the structural
    /// check (which bounds nesting), never a stack overflow in the copy.
    #[test]
    fn deep_nesting_is_an_error() {
        // By hand: vm-fdt refuses to write such a tree.
        let mut st = Vec::new();
        for _ in 0..200 {
            st.extend_from_slice(&1u32.to_be_bytes()); // FDT_BEGIN_NODE, name ""
            st.extend_from_slice(&[0; 4]);
        }
        for _ in 0..200 {
            st.extend_from_slice(&2u32.to_be_bytes()); // FDT_END_NODE
        }
        st.extend_from_slice(&9u32.to_be_bytes()); // FDT_END
        let (off_rsv, off_struct) = (40u32, 56u32);
        let off_strings = off_struct + st.len() as u32;
        let header = [
            0xd00d_feed,
            off_strings,
            off_struct,
            off_strings,
            off_rsv,
            17,
            16,
            0,
            0,
            st.len() as u32,
        ];
        let mut blob: Vec<u8> = header.iter().flat_map(|v| v.to_be_bytes()).collect();
        blob.resize(56, 0);
        blob.extend_from_slice(&st);
        let e = apply(&blob, &[]).unwrap_err();
        assert!(e.to_string().contains("not a valid device tree"), "{e}");
    }

    #[test]
    fn an_unknown_node_is_an_error_naming_it() {
        let e = apply(RPI4, &[edit("/soc/nothing@0")]).unwrap_err();
        assert!(e.to_string().contains("/soc/nothing@0"), "{e}");
    }
}
