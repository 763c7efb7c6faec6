//! Every board manifest's `hypervisor_devices` against the board's device
//! tree (tests/fixtures/dtb): the GIC's frames and the console UART (the
//! node /chosen's stdout-path names) must be what the manifest says the
//! hypervisor keeps, with the UART's SPI. The BSPs' own host tests check
//! their constants against the same trees.

use image_builder::manifest::load_board;
use image_builder::workspace::Workspace;

/// Each board and the tree its test fixture holds.
const BOARDS: &[(&str, &str)] = &[
    ("qemu-virt", "qemu-virt-gicv3.dtb"),
    ("qemu-virt-gicv2", "qemu-virt-gicv2.dtb"),
    ("imx8mp-evk", "imx8mp-evk.dtb"),
];

/// Every GIC binding the boards use (v3; v2 as GIC-400 or QEMU's).
const GICS: &[&str] = &["arm,gic-v3", "arm,gic-400", "arm,cortex-a15-gic"];

fn regs(node: &fdt::node::FdtNode<'_, '_>) -> Vec<[u64; 2]> {
    node.reg()
        .into_iter()
        .flatten()
        .map(|r| [r.starting_address as u64, r.size.unwrap_or(0) as u64])
        .collect()
}

fn covered(r: [u64; 2], by: &[[u64; 2]]) -> bool {
    by.iter()
        .any(|b| b[0] <= r[0] && r[0] + r[1] <= b[0] + b[1])
}

#[test]
fn hypervisor_devices_match_the_boards_device_trees() {
    let ws = Workspace::locate(None).unwrap();
    for (board, fixture) in BOARDS {
        let b = load_board(&ws, board).unwrap();
        let blob = std::fs::read(ws.root.join("tests/fixtures/dtb").join(fixture)).unwrap();
        let fdt = fdt::Fdt::new(&blob).unwrap();
        let dev = |name: &str| {
            b.hypervisor_devices
                .iter()
                .find(|d| d.name == name)
                .unwrap_or_else(|| panic!("{board}: no hypervisor device '{name}'"))
        };
        let gic = fdt
            .all_nodes()
            .find(|n| {
                n.compatible()
                    .is_some_and(|c| c.all().any(|x| GICS.contains(&x)))
            })
            .unwrap();
        for r in regs(&gic) {
            assert!(
                covered(r, &dev("gic").mmio),
                "{board}: GIC frame {r:x?} not kept"
            );
        }
        let uart = fdt.chosen().stdout().expect("stdout-path");
        let console = dev("console-uart");
        for r in regs(&uart) {
            assert!(
                covered(r, &console.mmio),
                "{board}: console {r:x?} not kept"
            );
        }
        let spec: Vec<u32> = uart
            .property("interrupts")
            .unwrap()
            .value
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(spec[0], 0, "{board}: console interrupt is not an SPI");
        assert_eq!(console.spis, [spec[1]], "{board}: console SPI");
    }
}
