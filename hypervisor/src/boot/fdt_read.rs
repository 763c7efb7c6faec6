//! Small readers over the `fdt` crate's nodes that several boot steps share
//! (the board check, dom0's tree, passthrough, the upstream check).

/// Big-endian cell `i` of a property value.
pub fn be32(v: &[u8], i: usize) -> Option<u32> {
    let b = v.get(i * 4..i * 4 + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// A one-cell property.
pub fn prop_u32(node: &fdt::node::FdtNode<'_, '_>, name: &str) -> Option<u32> {
    node.property(name)
        .filter(|p| p.value.len() == 4)
        .and_then(|p| be32(p.value, 0))
}

/// The address of the node's first `reg` range.
pub fn first_reg(node: &fdt::node::FdtNode<'_, '_>) -> Option<u64> {
    node.reg()?.next().map(|r| r.starting_address as u64)
}

/// Whether the node's `compatible` lists one of `list`.
pub fn has_compatible(node: &fdt::node::FdtNode<'_, '_>, list: &[&str]) -> bool {
    node.compatible()
        .is_some_and(|c| c.all().any(|s| list.contains(&s)))
}

/// The first node compatible with `c`.
pub fn find_compatible<'b, 'a>(
    fdt: &'b fdt::Fdt<'a>,
    c: &str,
) -> Option<fdt::node::FdtNode<'b, 'a>> {
    fdt.all_nodes().find(|n| has_compatible(n, &[c]))
}
