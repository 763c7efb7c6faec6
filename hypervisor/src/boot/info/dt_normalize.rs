//! The firmware tree's structural check lives in `image-format` (image-builder
//! runs it too); the hypervisor's tests of it against real trees are here.

pub use image_format::fdt_normalize::*;

#[cfg(test)]
mod tests {
    use super::*;

    const QEMU_IMX: &[u8] =
        include_bytes!("../../../../tests/fixtures/dtb/imx8mp-evk-from-qemu.dtb");
    const QEMU_VIRT: &[u8] = include_bytes!("../../../../tests/fixtures/dtb/qemu-virt-gicv3.dtb");

    #[test]
    fn qemus_edited_tree_loses_its_nops_and_then_parses() {
        let mut b = QEMU_IMX.to_vec();
        let removed = normalize(&mut b).unwrap();
        assert!(removed > 0);
        let f = fdt::Fdt::new(&b).unwrap();
        // Walks every node: what the fdt crate asserted on before.
        assert!(f.all_nodes().count() > 100);
        assert_eq!(f.chosen().stdout().map(|n| n.name), Some("serial@30890000"));
        let info = crate::boot::dt::parse(&b, 0).unwrap();
        assert_eq!(info.nr_cpus, 4);
        // Again: nothing left to do.
        assert_eq!(normalize(&mut b), Ok(0));
    }

    #[test]
    fn a_clean_tree_is_untouched() {
        let mut b = QEMU_VIRT.to_vec();
        assert_eq!(normalize(&mut b), Ok(0));
        assert_eq!(b, QEMU_VIRT);
    }

    #[test]
    fn malformed_trees_are_errors_not_panics() {
        assert_eq!(normalize(&mut [0u8; 8]), Err(NormalizeError::BadHeader));
        let good = QEMU_VIRT.to_vec();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..3000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut b = good.clone();
            for k in 0..(seed % 4 + 1) as usize {
                let pos = ((seed >> (k * 11)) as usize) % b.len();
                b[pos] = (seed >> (k * 7 + 5)) as u8;
            }
            if normalize(&mut b).is_ok() {
                // What passes the walk, the fdt crate can walk.
                if let Ok(f) = fdt::Fdt::new(&b) {
                    let _ = f.all_nodes().count();
                }
            }
        }
    }

    /// Found by fuzzing (builder-dtb-edit, then device-tree): a reservation
    /// block outside the blob made the `fdt` crate's reader slice out of
    /// bounds (a hypervisor panic at boot on such a firmware tree).
    #[test]
    fn a_reservation_block_outside_the_blob_is_an_error() {
        for off in [0x0001_0028u32, 0x1c, 0x7fff_fff8] {
            let mut b = QEMU_VIRT.to_vec();
            b[16..20].copy_from_slice(&off.to_be_bytes());
            assert_eq!(
                normalize(&mut b),
                Err(NormalizeError::BadHeader),
                "{off:#x}"
            );
        }
        // No terminating entry before the end of the blob.
        let mut b = QEMU_VIRT.to_vec();
        let total = b.len() as u32;
        b[16..20].copy_from_slice(&((total - 16) & !7).to_be_bytes());
        let at = ((total - 16) & !7) as usize;
        b[at..at + 16].fill(0xff);
        assert_eq!(normalize(&mut b), Err(NormalizeError::BadHeader));
        assert!(crate::boot::dt::parse(QEMU_VIRT, 0).is_ok());
    }

    /// A blob from structure tokens (u32 words) and a strings block.
    fn blob(words: &[u32], strings: &[u8]) -> alloc::vec::Vec<u8> {
        let st: alloc::vec::Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        let (rsv, off_struct) = (40u32, 56u32);
        let off_strings = off_struct + st.len() as u32;
        let total = off_strings + strings.len() as u32;
        let header = [
            0xd00d_feed,
            total,
            off_struct,
            off_strings,
            rsv,
            17,
            16,
            0,
            strings.len() as u32,
            st.len() as u32,
        ];
        let mut b: alloc::vec::Vec<u8> = header.iter().flat_map(|v| v.to_be_bytes()).collect();
        b.resize(56, 0);
        b.extend_from_slice(&st);
        b.extend_from_slice(strings);
        b
    }

    /// Found by fuzzing (device-tree, in CI): a property after a child node
    /// made the `fdt` crate assert while skipping the node (a hypervisor
    /// panic at boot); so did a `#size-cells` shorter than a u32; a second
    /// root or no root is refused as well.
    #[test]
    fn node_grammar_is_enforced() {
        const B: u32 = 1; // FDT_BEGIN_NODE, then an empty name (one zero word)
        const E: u32 = 2; // FDT_END_NODE
        const P: u32 = 3; // FDT_PROP len nameoff
        const END: u32 = 9;
        let good = blob(&[B, 0, P, 0, 0, B, 0, E, E, END], b"a\0");
        assert_eq!(normalize(&mut good.clone()), Ok(0));
        let prop_after_child = blob(&[B, 0, B, 0, E, P, 0, 0, E, END], b"a\0");
        assert_eq!(
            normalize(&mut prop_after_child.clone()),
            Err(NormalizeError::PropertyAfterChild { at: 56 + 20 })
        );
        let two_roots = blob(&[B, 0, E, B, 0, E, END], b"");
        assert_eq!(
            normalize(&mut two_roots.clone()),
            Err(NormalizeError::Unbalanced { at: 56 + 12 })
        );
        // "#size-cells" as a 2-byte property.
        let short_cells = blob(&[B, 0, P, 2, 0, 0, E, END], b"#size-cells\0");
        assert_eq!(
            normalize(&mut short_cells.clone()),
            Err(NormalizeError::BadCells { at: 56 + 8 })
        );
        let no_root = blob(&[END], b"");
        assert_eq!(
            normalize(&mut no_root.clone()),
            Err(NormalizeError::Unbalanced { at: 56 })
        );
    }
}
