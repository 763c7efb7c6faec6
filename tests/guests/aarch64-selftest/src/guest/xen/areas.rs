//! Areas the hypervisor writes into guest RAM: shared_info (mapped with
//! XENMEM_add_to_physmap), vCPU 0's vcpu_info (VCPUOP_register_vcpu_info)
//! and its runstate area. Every target page is first scribbled over so
//! that what the hypervisor puts there can be told from what was there.

use super::abi::*;
use super::{args, hostile, runstate, scratch, shared_a, shared_b, vcpu_info, vcpu_info_page};
use super::{Ctx, Tap, GFN_OUTSIDE_RAM, GIC_MMIO};
use crate::guest::mem::{fill, rd32, rd64, rd8, wr16, wr32, wr64, wr8};

pub const CHECKS: u32 = 16;

const SCRIBBLE: u8 = 0xee;
const SCRIBBLE64: u64 = 0xeeee_eeee_eeee_eeee;
/// Left by the guest in vCPU 0's legacy vcpu_info: must move with
/// shared_info and be copied into vCPU 0's new vcpu_info.
const PAD_MARK: u8 = 0xa5;
/// Left in the last mask word (ports 4032..4095): moves with shared_info.
const MASK_MARK: u64 = 0x8000_0000_0000_0001;
const MASK_WORD_63: u64 = SI_EVTCHN_MASK + 63 * 8;

pub fn run(tap: &mut Tap, ctx: &Ctx) {
    shared_info(tap, ctx);
    vcpu0_info(tap, ctx);

    let rc = vcpu_op(VCPUOP_INITIALISE, 0, args(64));
    tap.check(
        rc == EINVAL,
        "vcpu_op initialise (not offered on arm) returns -EINVAL",
        format_args!("{rc}"),
    );

    let rs = runstate();
    fill(rs, 48, SCRIBBLE);
    let a = args(8);
    wr64(a, rs);
    let rc = vcpu_op(VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, a);
    let (state, entry) = (rd32(rs + RUNSTATE_STATE), rd64(rs + RUNSTATE_ENTRY_TIME));
    tap.check(
        rc == 0 && state == RUNSTATE_RUNNING && entry != SCRIBBLE64,
        "vcpu_op register_runstate_memory_area returns 0, the area says running",
        format_args!("rc {rc}, state {state:#x}, entry time {entry:#x}"),
    );
}

fn shared_info(tap: &mut Tap, ctx: &Ctx) {
    let rc = add_shared_info(GFN_OUTSIDE_RAM);
    tap.check(
        rc == EINVAL,
        "memory_op add_to_physmap of shared_info at gfn 0x10000 (outside RAM) returns -EINVAL",
        format_args!("{rc}"),
    );
    let rc = add_shared_info(GIC_MMIO >> 12);
    tap.check(
        rc == EINVAL,
        "memory_op add_to_physmap of shared_info on the GIC's MMIO gfn returns -EINVAL",
        format_args!("{rc}"),
    );

    let a = shared_a();
    fill(a, 4096, SCRIBBLE);
    let rcs = hostile::each(ctx.ram_end, |p| memory_op(XENMEM_ADD_TO_PHYSMAP, p));
    let rc = add_shared_info(a >> 12);
    hostile::report(tap, "memory_op add_to_physmap", rcs, rc == 0, rc);

    let bitmaps_clear = bitmaps_clear(a);
    let legacy = [
        rd8(a) as u64,
        rd8(a + VI_PAD) as u64,
        rd64(a + VI_PENDING_SEL),
    ];
    tap.check(
        rc == 0 && bitmaps_clear && legacy == [0; 3],
        "shared_info mapped over a scribbled page shows clear event bitmaps and vcpu_info",
        format_args!("rc {rc}, bitmaps clear {bitmaps_clear}, legacy vcpu_info {legacy:?}"),
    );

    wr8(a + SI_LEGACY_VCPU_INFO + VI_PAD, PAD_MARK);
    wr64(a + MASK_WORD_63, MASK_MARK);
    let b = shared_b();
    fill(b, 4096, SCRIBBLE);
    let rc = add_shared_info(b >> 12);
    let (pad, mask) = (rd8(b + VI_PAD), rd64(b + MASK_WORD_63));
    let pending_clear = (0..64).all(|w| rd64(b + SI_EVTCHN_PENDING + 8 * w) == 0);
    tap.check(
        rc == 0 && pad == PAD_MARK && mask == MASK_MARK && pending_clear,
        "memory_op add_to_physmap to another gfn moves shared_info and its contents",
        format_args!("rc {rc}, pad {pad:#x}, mask63 {mask:#x}, clear {pending_clear}"),
    );
    wr64(b + MASK_WORD_63, 0);
}

fn vcpu0_info(tap: &mut Tap, ctx: &Ctx) {
    let s = scratch() >> 12;
    for (offset, want, name) in [
        (
            4,
            ENXIO,
            "vcpu_op register_vcpu_info at offset 4 (misaligned) returns -ENXIO",
        ),
        (
            4096 - 16,
            ENXIO,
            "vcpu_op register_vcpu_info at offset 4080 (crosses the page end) returns -ENXIO",
        ),
        (
            4096,
            EINVAL,
            "vcpu_op register_vcpu_info at offset 4096 returns -EINVAL",
        ),
    ] {
        let rc = register(0, s, offset);
        tap.check(rc == want, name, format_args!("{rc}"));
    }
    let rc = register(0, GFN_OUTSIDE_RAM, 0);
    tap.check(
        rc == EINVAL,
        "vcpu_op register_vcpu_info on gfn 0x10000 (outside RAM) returns -EINVAL",
        format_args!("{rc}"),
    );
    let rc = register(0, GIC_MMIO >> 12, 0);
    tap.check(
        rc == EINVAL,
        "vcpu_op register_vcpu_info on the GIC's MMIO gfn returns -EINVAL",
        format_args!("{rc}"),
    );
    let page = vcpu_info_page();
    let (rc7, rc_max) = (
        register(7, page >> 12, 0),
        register(0xffff_ffff, page >> 12, 0),
    );
    tap.check(
        rc7 == ENOENT && rc_max == ENOENT,
        "vcpu_op register_vcpu_info for vCPU 7 and vCPU 0xffffffff returns -ENOENT",
        format_args!("{rc7}, {rc_max}"),
    );

    // The whole page, so vCPU 1's area (offset 64) is scribbled too.
    fill(page, 4096, SCRIBBLE);
    let rcs = hostile::each(ctx.ram_end, |p| vcpu_op(VCPUOP_REGISTER_VCPU_INFO, 0, p));
    let rc = register(0, page >> 12, 0);
    hostile::report(tap, "vcpu_op register_vcpu_info", rcs, rc == 0, rc);

    let v = vcpu_info(0);
    let (up, pad, sel) = (
        rd8(v + VI_UPCALL_PENDING),
        rd8(v + VI_PAD),
        rd64(v + VI_PENDING_SEL),
    );
    tap.check(
        rc == 0 && up == 1 && pad == PAD_MARK && sel == !0,
        "vCPU 0's new vcpu_info holds the legacy slot's contents and a spurious upcall",
        format_args!("upcall {up}, pad {pad:#x}, sel {}", Sel(sel)),
    );
    // Acknowledge the spurious upcall, and clear the legacy slot so that
    // later checks can tell that it is no longer used.
    clear_upcall(v);
    clear_upcall(shared_b() + SI_LEGACY_VCPU_INFO);

    let rc = register(0, s, 0);
    tap.check(
        rc == EBUSY,
        "vcpu_op register_vcpu_info for vCPU 0 a second time returns -EBUSY",
        format_args!("{rc}"),
    );
}

/// A pending_sel for TAP details: all-ones (the spurious upcall) is "~0".
pub struct Sel(pub u64);

impl core::fmt::Display for Sel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0 == !0 {
            f.write_str("~0")
        } else {
            write!(f, "{:#x}", self.0)
        }
    }
}

/// XENMEM_add_to_physmap of shared_info at `gfn`.
fn add_shared_info(gfn: u64) -> i64 {
    let a = args(24);
    wr16(a, DOMID_SELF);
    wr16(a + 2, 0);
    wr32(a + 4, XENMAPSPACE_SHARED_INFO);
    wr64(a + 8, 0);
    wr64(a + 16, gfn);
    memory_op(XENMEM_ADD_TO_PHYSMAP, a)
}

/// VCPUOP_register_vcpu_info of `vcpu`'s area at (gfn << 12) + offset.
pub fn register(vcpu: u64, gfn: u64, offset: u32) -> i64 {
    let a = args(16);
    wr64(a, gfn);
    wr32(a + 8, offset);
    wr32(a + 12, 0);
    vcpu_op(VCPUOP_REGISTER_VCPU_INFO, vcpu, a)
}

/// What a guest does on an upcall: clear upcall_pending and pending_sel.
pub fn clear_upcall(vcpu_info: u64) {
    wr8(vcpu_info + VI_UPCALL_PENDING, 0);
    wr64(vcpu_info + VI_PENDING_SEL, 0);
}

fn bitmaps_clear(si: u64) -> bool {
    (0..64).all(|w| {
        rd64(si + SI_EVTCHN_PENDING + 8 * w) == 0 && rd64(si + SI_EVTCHN_MASK + 8 * w) == 0
    })
}
