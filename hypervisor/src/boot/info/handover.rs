//! Modules handed over by a boot loader instead of inside `boot.img` (the
//! split layout): a U-Boot script or QEMU's `guest-loader` loads each file
//! somewhere in RAM and describes it with a `/chosen` node in Xen's binding
//! (`compatible = "multiboot,module"` plus an optional kind, `reg`,
//! `bootargs`; a domU's modules may sit under a `xen,domain` node).
//!
//! This only reads what the loader wrote; `module_rules` decides what each
//! module is for and `gather` checks it against the signed table. A loader
//! for another architecture (x86 multiboot2) produces the same list.

use alloc::vec::Vec;

use crate::board::PhysRange;
use crate::boot::dt::RangeList;

/// At most this many modules are read (more are ignored, with a warning).
pub const MAX_LOADER_MODULES: usize = 32;

/// The kind a node declares (its second `compatible` string).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Declared {
    Kernel,
    Ramdisk,
    DeviceTree,
    /// A kind Halyard has no use for (XSM policy, microcode).
    Other,
    /// Plain `multiboot,module`: Xen's order rules decide.
    Untyped,
}

/// One module as the loader described it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoaderModule<'a> {
    /// 1-based, in device-tree order: the `#N` in messages (as Xen counts).
    pub number: usize,
    /// The node's name (`module@50000000`).
    pub name: &'a str,
    /// The `xen,domain` node it sits under, if any (its node name).
    pub owner: Option<&'a str>,
    pub range: PhysRange,
    pub declared: Declared,
    pub bootargs: Option<&'a str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandoverError {
    /// The blob is not a device tree.
    BadTree,
    /// A module node without a usable `reg` (named).
    BadReg(usize),
}

fn compatible<'a>(node: &fdt::node::FdtNode<'_, 'a>) -> impl Iterator<Item = &'a str> {
    node.property("compatible")
        .map(|p| p.value)
        .unwrap_or(&[])
        .split(|&b| b == 0)
        .filter_map(|s| core::str::from_utf8(s).ok())
        .filter(|s| !s.is_empty())
}

fn is_module(node: &fdt::node::FdtNode<'_, '_>) -> bool {
    compatible(node).any(|c| c == "multiboot,module" || c == "xen,multiboot-module")
}

fn declared(node: &fdt::node::FdtNode<'_, '_>) -> Declared {
    let mut kind = Declared::Untyped;
    for c in compatible(node) {
        kind = match c {
            "multiboot,kernel" | "xen,linux-zimage" => return Declared::Kernel,
            "multiboot,ramdisk" | "xen,linux-initrd" => return Declared::Ramdisk,
            "multiboot,device-tree" => return Declared::DeviceTree,
            "xen,xsm-policy" | "multiboot,microcode" => Declared::Other,
            _ => kind,
        };
    }
    kind
}

fn cells(node: Option<&fdt::node::FdtNode<'_, '_>>, name: &str) -> Option<usize> {
    let v = node?.property(name)?.value;
    (v.len() == 4).then(|| u32::from_be_bytes([v[0], v[1], v[2], v[3]]) as usize)
}

/// `reg`'s first (address, size), with the cell counts of the nearest
/// ancestor that gives them (as Linux and Xen read it; the spec's default
/// of 2 and 1 otherwise).
fn first_reg(
    node: &fdt::node::FdtNode<'_, '_>,
    ancestors: &[Option<&fdt::node::FdtNode<'_, '_>>],
) -> Option<PhysRange> {
    let find = |name| ancestors.iter().find_map(|a| cells(*a, name));
    let (ac, sc) = (
        find("#address-cells").unwrap_or(2),
        find("#size-cells").unwrap_or(1),
    );
    if !(1..=2).contains(&ac) || !(1..=2).contains(&sc) {
        return None;
    }
    let v = node.property("reg")?.value;
    let word = |i: usize| -> Option<u64> {
        let b = v.get(i * 4..i * 4 + 4)?;
        Some(u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
    };
    let read = |at: usize, n: usize| -> Option<u64> {
        (0..n).try_fold(0u64, |acc, i| Some(acc << 32 | word(at + i)?))
    };
    let (base, size) = (read(0, ac)?, read(ac, sc)?);
    base.checked_add(size)?;
    (size > 0).then_some(PhysRange::new(base, size))
}

type Node<'b, 'a> = fdt::node::FdtNode<'b, 'a>;

/// Call `f` with each module node under `/chosen` (directly, or under a
/// `xen,domain` child, which comes with it), in tree order, and its `reg`.
/// Needs no heap: the early boot reads the ranges before there is one.
fn for_each_module<'a>(
    fdt: &fdt::Fdt<'a>,
    mut f: impl FnMut(&Node<'_, 'a>, Option<&Node<'_, 'a>>, Option<PhysRange>),
) {
    let root = fdt.find_node("/");
    let Some(chosen) = fdt.find_node("/chosen") else {
        return;
    };
    for child in chosen.children() {
        if is_module(&child) {
            f(
                &child,
                None,
                first_reg(&child, &[Some(&chosen), root.as_ref()]),
            );
        } else if compatible(&child).any(|c| c == "xen,domain") {
            for m in child.children().filter(is_module) {
                let reg = first_reg(&m, &[Some(&child), Some(&chosen), root.as_ref()]);
                f(&m, Some(&child), reg);
            }
        }
    }
}

/// Every module the loader described, in tree order.
pub fn modules(blob: &[u8]) -> Result<Vec<LoaderModule<'_>>, HandoverError> {
    let fdt = fdt::Fdt::new(blob).map_err(|_| HandoverError::BadTree)?;
    let mut out = Vec::new();
    let mut seen = 0;
    let mut error = None;
    for_each_module(&fdt, |node, owner, reg| {
        seen += 1;
        let Some(range) = reg else {
            error = error.or(Some(HandoverError::BadReg(seen)));
            return;
        };
        if out.len() == MAX_LOADER_MODULES {
            crate::info!(
                "more than {MAX_LOADER_MODULES} boot modules: ignoring {}",
                node.name
            );
            return;
        }
        out.push(LoaderModule {
            number: seen,
            name: node.name,
            owner: owner.map(|o| o.name),
            range,
            declared: declared(node),
            bootargs: node.property("bootargs").and_then(|p| p.as_str()),
        });
    });
    match error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// The modules' memory, for keeping it from the allocator until they are
/// copied.
pub fn module_ranges(blob: &[u8]) -> RangeList<MAX_LOADER_MODULES> {
    let mut list = RangeList::new();
    if let Ok(fdt) = fdt::Fdt::new(blob) {
        for_each_module(&fdt, |_, _, reg| {
            if let Some(r) = reg {
                let _ = list.push(r);
            }
        });
    }
    list
}

/// Whether a `/chosen` child is loader information the hardware domain
/// must not see (module nodes, dom0less domain nodes).
pub fn is_loader_node(node: &fdt::node::FdtNode<'_, '_>) -> bool {
    is_module(node) || compatible(node).any(|c| c == "xen,domain")
}

#[cfg(test)]
#[path = "handover_tests.rs"]
mod tests;
