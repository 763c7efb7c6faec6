//! Stateless calls: xen_version, console_io, sched_op, grant_table_op, and
//! their hostile-pointer cases.

use super::abi::*;
use super::{args, args_odd, hostile, Ctx, Tap};
use crate::guest::mem::{rd16, rd32, rd32_bytes, wr16, wr32, wr64, wr_bytes};

pub const CHECKS: u32 = 13;

/// Bits a non-hardware, non-direct-mapped arm64 domain must see.
const FEATURES_REQUIRED: u32 = 1 << XENFEAT_AUTO_TRANSLATED_PHYSMAP
    | 1 << XENFEAT_ARM_SMCCC_SUPPORTED
    | 1 << XENFEAT_NOT_DIRECT_MAPPED
    | 1 << XENFEAT_RUNSTATE_PHYS_AREA;
/// Bits it must not see: it is neither dom0 nor direct-mapped.
const FEATURES_FORBIDDEN: u32 = 1 << XENFEAT_DOM0 | 1 << XENFEAT_DIRECT_MAPPED;

pub fn run(tap: &mut Tap, ctx: &Ctx) {
    let v = xen_version(XENVER_VERSION, 0);
    tap.check(
        v == 0x4_0013,
        "xen_version XENVER_version is 4.19",
        format_args!("{v:#x}"),
    );

    let (rc, f) = features(0);
    let ok = rc == 0 && f & FEATURES_REQUIRED == FEATURES_REQUIRED && f & FEATURES_FORBIDDEN == 0;
    tap.check(
        ok,
        "xen_version get_features: translated, SMCCC, not direct-mapped, runstate_phys_area; not dom0",
        format_args!("rc {rc}, submap {f:#x}"),
    );

    let (rc, _) = features(1);
    tap.check(
        rc == EINVAL,
        "xen_version get_features of submap 1 returns -EINVAL",
        format_args!("{rc}"),
    );

    // Xen copies guest structures bytewise: an odd address is no error.
    let a = args_odd();
    wr_bytes(a, 0, 4);
    wr_bytes(a + 4, 0xdead_beef, 4);
    let rc = xen_version(XENVER_GET_FEATURES, a);
    let odd = rd32_bytes(a + 4);
    tap.check(
        rc == 0 && odd == f,
        "xen_version get_features with its struct at an odd address works",
        format_args!("rc {rc}, submap {odd:#x} at {a:#x}"),
    );

    let rcs = hostile::each(ctx.ram_end, |p| xen_version(XENVER_GET_FEATURES, p));
    let (rc, next) = features(0);
    hostile::report(
        tap,
        "xen_version get_features",
        rcs,
        rc == 0 && next == f,
        rc,
    );

    let buf = args(16);
    let rc = console_io(CONSOLEIO_READ, 16, buf);
    tap.check(
        rc == EPERM,
        "console_io read from a non-hardware domain returns -EPERM",
        format_args!("{rc}"),
    );

    let rc = console_io(CONSOLEIO_WRITE, 1 << 40, buf);
    tap.check(
        rc == EINVAL,
        "console_io write of 1<<40 bytes returns -EINVAL",
        format_args!("{rc}"),
    );

    let rcs = hostile::each(ctx.ram_end, |p| console_io(CONSOLEIO_WRITE, 16, p));
    let line = b"# console_io write works after bad pointers\n";
    let rc = console_io(CONSOLEIO_WRITE, line.len() as u64, line.as_ptr() as u64);
    hostile::report(tap, "console_io write", rcs, rc == 0, rc);

    let rc = sched_op(SCHEDOP_YIELD, 0);
    tap.check(rc == 0, "sched_op yield returns 0", format_args!("{rc}"));

    let (rc, nr, max, status) = query_size(1);
    tap.check(
        rc == 0 && status == 0 && nr >= 1 && nr != 0xeeee_eeee && max >= nr,
        "grant_table_op query_size: status 0, at least 1 frame, max >= current",
        format_args!("rc {rc}, status {status}, frames {nr}, max {max}"),
    );

    let (rc, ..) = query_size(0xffff_ffff);
    tap.check(
        rc == EINVAL,
        "grant_table_op query_size with count 0xffffffff returns -EINVAL",
        format_args!("{rc}"),
    );

    let a = args(8);
    wr32(a, 1);
    let rc = gnttab_op(GNTTABOP_SET_VERSION, a, 1);
    let v = rd32(a);
    tap.check(
        rc == 0 && v == 1,
        "grant_table_op set_version 1 returns 0",
        format_args!("rc {rc}, version {v}"),
    );

    let rcs = hostile::each(ctx.ram_end, |p| gnttab_op(GNTTABOP_QUERY_SIZE, p, 1));
    let (rc, _, _, status) = query_size(1);
    hostile::report(
        tap,
        "grant_table_op query_size",
        rcs,
        rc == 0 && status == 0,
        rc,
    );
}

/// XENVER_get_features of `submap`: (rc, bits). The output is pre-set to
/// a pattern so a call that writes nothing does not read as success.
fn features(submap: u32) -> (i64, u32) {
    let a = args(8);
    wr32(a, submap);
    wr32(a + 4, 0xdead_beef);
    let rc = xen_version(XENVER_GET_FEATURES, a);
    (rc, rd32(a + 4))
}

/// GNTTABOP_query_size for ourselves: (rc, nr_frames, max_nr_frames, status).
fn query_size(count: u64) -> (i64, u32, u32, i16) {
    let a = args(16);
    wr16(a, DOMID_SELF);
    wr32(a + 4, 0xeeee_eeee);
    // max_nr_frames and status (and the tail padding).
    wr64(a + 8, 0xeeee_eeee_eeee_eeee);
    let rc = gnttab_op(GNTTABOP_QUERY_SIZE, a, count);
    (rc, rd32(a + 4), rd32(a + 8), rd16(a + 12) as i16)
}
