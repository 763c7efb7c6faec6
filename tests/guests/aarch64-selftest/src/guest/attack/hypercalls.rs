//! Xen hypercalls with hostile arguments: console_io, xen_version,
//! memory_op, grant_table_op. Every structure pointer is tried null, in a
//! hole, on MMIO, running off the end of RAM and wrapping; counts and
//! indexes are huge; domain ids name the victim, dom0 or nobody. The
//! expected errnos are Xen 4.19's (Halyard's hypercall layer follows it).

use super::{all, args, bad_pointers, page_boundary, Class, Suite, GIC_MMIO, NO_DOMAIN};
use crate::guest::mem::{rd16, rd8, wr16, wr32, wr64, wr8};
use crate::guest::xen::abi::*;

pub const CASES: u32 = 21;
const C: Class = Class::Hypercalls;

/// xen_version commands that write a structure through their pointer.
const VERSION_OUT_CMDS: [u64; 8] = [1, 2, 3, 4, 5, 6, 8, 9];
const GNTTABOP_GET_VERSION: u64 = 10;
const GNTST_BAD_DOMAIN: i16 = -2;
const GNTST_PERMISSION_DENIED: i16 = -8;
const XENMAPSPACE_GRANT_TABLE: u32 = 1;

pub fn run(s: &mut Suite) {
    console(s);
    version(s);
    physmap(s);
    grant_table(s);
}

fn console(s: &mut Suite) {
    let rcs = bad_pointers(s.ram_end).map(|p| console_io(CONSOLEIO_WRITE, 16, p));
    s.case(
        C,
        all(&rcs, EFAULT),
        "console_io write from null, hole, MMIO, end-of-RAM, wrapping buffers: -EFAULT",
        format_args!("{rcs:?}"),
    );
    let rcs = [
        console_io(CONSOLEIO_WRITE, 64 * 1024 + 1, args()),
        console_io(CONSOLEIO_WRITE, u64::MAX, args()),
    ];
    s.case(
        C,
        all(&rcs, EINVAL),
        "console_io write of 64 KiB + 1 and of 2^64 - 1 bytes: -EINVAL",
        format_args!("{rcs:?}"),
    );
    // A valid line at an odd address across a page boundary: Xen copies
    // guest buffers bytewise, so this is no error.
    let line = b"# attacker: a console line written across a page boundary\n";
    let at = page_boundary() - 17;
    for (i, &b) in line.iter().enumerate() {
        wr8(at + i as u64, b);
    }
    let rc = console_io(CONSOLEIO_WRITE, line.len() as u64, at);
    s.case(
        C,
        rc == 0,
        "console_io write from an odd address across a page boundary inside RAM: 0",
        format_args!("{rc} at {at:#x}"),
    );
    let rc = console_io(CONSOLEIO_READ, 16, args());
    s.case(
        C,
        rc == EPERM,
        "console_io read by a domain that is not the console's: -EPERM",
        format_args!("{rc}"),
    );
    let rcs = [console_io(7, 16, args()), console_io(u64::MAX, 16, args())];
    s.case(
        C,
        all(&rcs, ENOSYS),
        "console_io with unknown commands 7 and 2^64 - 1: -ENOSYS",
        format_args!("{rcs:?}"),
    );
}

fn version(s: &mut Suite) {
    let rcs = VERSION_OUT_CMDS.map(|c| xen_version(c, 0));
    s.case(
        C,
        all(&rcs, EFAULT),
        "xen_version extraversion..commandline (8 commands) into a null pointer: -EFAULT",
        format_args!("{rcs:?}"),
    );
    let end = s.ram_end - 2;
    let rcs = VERSION_OUT_CMDS.map(|c| xen_version(c, end));
    s.case(
        C,
        all(&rcs, EFAULT),
        "xen_version's 8 output commands into a buffer running off the end of RAM: -EFAULT",
        format_args!("{rcs:?}"),
    );
    let mut rcs = [0; 2];
    for (rc, submap) in rcs.iter_mut().zip([1u32, 0xffff_ffff]) {
        let a = args();
        wr32(a, submap);
        *rc = xen_version(XENVER_GET_FEATURES, a);
    }
    s.case(
        C,
        all(&rcs, EINVAL),
        "xen_version get_features of submaps 1 and 0xffffffff: -EINVAL",
        format_args!("{rcs:?}"),
    );
    let rcs = [
        xen_version(0x100, args()),
        xen_version(64, args()),
        xen_version(u64::MAX, args()),
    ];
    s.case(
        C,
        all(&rcs, ENOSYS),
        "xen_version with unknown commands 0x100, 64, 2^64 - 1: -ENOSYS",
        format_args!("{rcs:?}"),
    );
    // XENVER_changeset (64 bytes) at an odd address across a page boundary.
    let at = page_boundary() - 33;
    let rc = xen_version(4, at);
    let head: [u8; 7] = core::array::from_fn(|i| rd8(at + i as u64));
    s.case(
        C,
        rc == 0 && &head == b"halyard",
        "xen_version changeset into an odd, page-crossing buffer inside RAM: written",
        format_args!(
            "rc {rc}, starts {:?}",
            core::str::from_utf8(&head).unwrap_or("?")
        ),
    );
}

/// XENMEM_add_to_physmap: (rc) for domid, space, idx, gpfn.
fn add_to_physmap(domid: u16, space: u32, idx: u64, gpfn: u64) -> i64 {
    let a = args();
    wr16(a, domid);
    wr32(a + 4, space);
    wr64(a + 8, idx);
    wr64(a + 16, gpfn);
    memory_op(XENMEM_ADD_TO_PHYSMAP, a)
}

fn physmap(s: &mut Suite) {
    let rcs = bad_pointers(s.ram_end).map(|p| memory_op(XENMEM_ADD_TO_PHYSMAP, p));
    s.case(
        C,
        all(&rcs, EFAULT),
        "memory_op add_to_physmap with null, hole, MMIO, end-of-RAM, wrapping pointers: -EFAULT",
        format_args!("{rcs:?}"),
    );
    let here = crate::guest::peer_link::shared_info() >> 12;
    let rc = add_to_physmap(DOMID_SELF, XENMAPSPACE_SHARED_INFO, 1, here);
    s.case(
        C,
        rc == EINVAL,
        "memory_op add_to_physmap of shared_info index 1: -EINVAL",
        format_args!("{rc}"),
    );
    // Xen would map shared_info at any gfn; Halyard never remaps a
    // domain's memory, so the page must be its RAM.
    let rcs = [s.ram_end >> 12, GIC_MMIO >> 12, u64::MAX]
        .map(|g| add_to_physmap(DOMID_SELF, XENMAPSPACE_SHARED_INFO, 0, g));
    s.case(
        C,
        all(&rcs, EINVAL),
        "memory_op add_to_physmap of shared_info past RAM, on MMIO, at gfn 2^64 - 1: -EINVAL (only RAM gfns)",
        format_args!("{rcs:?}"),
    );
    let rcs = [
        add_to_physmap(s.peer, XENMAPSPACE_SHARED_INFO, 0, here),
        add_to_physmap(0, XENMAPSPACE_SHARED_INFO, 0, here),
        add_to_physmap(NO_DOMAIN, XENMAPSPACE_SHARED_INFO, 0, here),
    ];
    s.case(
        C,
        rcs[0] == EPERM && rcs[1] == EPERM && rcs[2] == ESRCH,
        "memory_op add_to_physmap for the victim, for dom0: -EPERM; for no domain: -ESRCH",
        format_args!("{rcs:?}"),
    );
    let rcs = [
        add_to_physmap(DOMID_SELF, 99, 0, here),
        add_to_physmap(DOMID_SELF, XENMAPSPACE_GRANT_TABLE, 99, here),
        add_to_physmap(DOMID_SELF, XENMAPSPACE_GRANT_TABLE, 1 << 31, here),
    ];
    s.case(
        C,
        rcs[0] == ENOSYS && all(&rcs[1..], EINVAL),
        "memory_op add_to_physmap of space 99: -ENOSYS; of grant frame 99, a grant status frame: -EINVAL",
        format_args!("{rcs:?}"),
    );
    let rcs = [memory_op(50, args()), memory_op(u64::MAX, args())];
    s.case(
        C,
        all(&rcs, ENOSYS),
        "memory_op with unknown commands 50 and 2^64 - 1: -ENOSYS",
        format_args!("{rcs:?}"),
    );
}

/// GNTTABOP_query_size for `dom`: (rc, status).
fn query_size(dom: u16) -> (i64, i16) {
    let a = args();
    wr16(a, dom);
    wr16(a + 12, 0x5a5a);
    let rc = gnttab_op(GNTTABOP_QUERY_SIZE, a, 1);
    (rc, rd16(a + 12) as i16)
}

fn grant_table(s: &mut Suite) {
    let rcs = bad_pointers(s.ram_end).map(|p| gnttab_op(GNTTABOP_QUERY_SIZE, p, 1));
    s.case(
        C,
        all(&rcs, EFAULT),
        "grant_table_op query_size with null, hole, MMIO, end-of-RAM, wrapping pointers: -EFAULT",
        format_args!("{rcs:?}"),
    );
    let rcs = [0, 2, u64::MAX].map(|n| gnttab_op(GNTTABOP_QUERY_SIZE, args(), n));
    s.case(
        C,
        all(&rcs, EINVAL),
        "grant_table_op query_size with counts 0, 2, 2^64 - 1: -EINVAL",
        format_args!("{rcs:?}"),
    );
    let mut rcs = [0; 4];
    for (rc, v) in rcs.iter_mut().zip([2u32, 0, 3, u32::MAX]) {
        let a = args();
        wr32(a, v);
        *rc = gnttab_op(GNTTABOP_SET_VERSION, a, 1);
    }
    s.case(
        C,
        rcs[0] == ENOSYS && all(&rcs[1..], EINVAL),
        "grant_table_op set_version 2: -ENOSYS (v1 only, as Xen on Arm); 0, 3, 2^32 - 1: -EINVAL",
        format_args!("{rcs:?}"),
    );
    let (victim, nobody) = (query_size(s.peer), query_size(NO_DOMAIN));
    s.case(
        C,
        victim == (0, GNTST_PERMISSION_DENIED) && nobody == (0, GNTST_BAD_DOMAIN),
        "grant_table_op query_size of the victim: permission_denied; of no domain: bad_domain",
        format_args!("{victim:?} {nobody:?}"),
    );
    let mut rcs = [0; 2];
    for (rc, dom) in rcs.iter_mut().zip([s.peer, NO_DOMAIN]) {
        let a = args();
        wr16(a, dom);
        *rc = gnttab_op(GNTTABOP_GET_VERSION, a, 1);
    }
    let unknown = [gnttab_op(99, args(), 1), gnttab_op(0, args(), 1)];
    s.case(
        C,
        rcs == [EPERM, ESRCH] && all(&unknown, ENOSYS),
        "grant_table_op get_version of the victim -EPERM, of no domain -ESRCH; commands 99 and map_grant_ref: -ENOSYS",
        format_args!("{rcs:?} {unknown:?}"),
    );
}
