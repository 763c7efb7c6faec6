//! `memory_op` (placing shared_info and grant frames in the guest's
//! physical map) and `grant_table_op` (size and version queries; grant
//! mapping comes with inter-domain devices).
//!
//! Halyard never remaps a domain's RAM: shared_info becomes the RAM page
//! the guest names (it keeps that page for it; not one it has shared with
//! the secure world through FF-A: -EBUSY), and grant frames are
//! mapped once, at build time, at the range the device tree gives. So
//! `XENMAPSPACE_grant_table` succeeds only for the frame already there.

use super::abi::{errno, gnttab, memory_op, put_u16, put_u32, u16_at, u32_at, u64_at, PAGE_SIZE};
use super::{rc, read_arg, target_domain, write_arg, Env};

pub fn memory_op(args: &[u64; 5], env: &dyn Env) -> i64 {
    match args[0] {
        memory_op::ADD_TO_PHYSMAP => rc(add_to_physmap(args[1], env)),
        _ => errno::ENOSYS,
    }
}

fn add_to_physmap(arg: u64, env: &dyn Env) -> Result<i64, i64> {
    let b = read_arg::<{ memory_op::ADD_TO_PHYSMAP_LEN }>(env, arg)?;
    let (domid, space, idx, gpfn) = (u16_at(&b, 0), u32_at(&b, 4), u64_at(&b, 8), u64_at(&b, 16));
    let d = target_domain(env, domid)?;
    match space {
        memory_op::SPACE_SHARED_INFO => {
            if idx != 0 {
                return Err(errno::EINVAL);
            }
            let mut x = d.xen.lock();
            // Under the lock the FF-A glue also holds while it checks a
            // share against these areas: neither can slip past the other.
            let ipa = gpfn.checked_mul(PAGE_SIZE).ok_or(errno::EINVAL)?;
            if env.ffa_shared(d, ipa) {
                return Err(errno::EBUSY);
            }
            x.areas.place_shared(&d.banks, gpfn)?;
            Ok(0)
        }
        memory_op::SPACE_GRANT_TABLE => {
            let g = d.grant.ok_or(errno::EINVAL)?;
            if idx & memory_op::IDX_GRANT_STATUS != 0 || idx >= u64::from(g.frames()) {
                return Err(errno::EINVAL);
            }
            if gpfn.checked_mul(PAGE_SIZE) != Some(g.ipa.base + idx * PAGE_SIZE) {
                return Err(errno::EINVAL);
            }
            Ok(0)
        }
        // As Xen: gmfn_foreign only in a batch; every space Arm's Xen
        // does not map here (gmfn, gmfn_range, unknown ones) -ENOSYS.
        memory_op::SPACE_GMFN_FOREIGN | memory_op::SPACE_DEV_MMIO => Err(errno::EINVAL),
        _ => Err(errno::ENOSYS),
    }
}

pub fn grant_table_op(args: &[u64; 5], env: &dyn Env) -> i64 {
    let (cmd, uop, count) = (args[0], args[1], args[2]);
    match cmd {
        gnttab::QUERY_SIZE | gnttab::SET_VERSION | gnttab::GET_VERSION if count != 1 => {
            errno::EINVAL
        }
        gnttab::QUERY_SIZE => rc(query_size(uop, env)),
        gnttab::SET_VERSION => rc(set_version(uop, env)),
        gnttab::GET_VERSION => rc(get_version(uop, env)),
        _ => errno::ENOSYS,
    }
}

fn query_size(uop: u64, env: &dyn Env) -> Result<i64, i64> {
    let mut b = read_arg::<{ gnttab::QUERY_SIZE_LEN }>(env, uop)?;
    let status = match target_domain(env, u16_at(&b, 0)) {
        Ok(d) => {
            let frames = d.grant.map_or(0, |g| g.frames());
            put_u32(&mut b, 4, frames);
            put_u32(&mut b, 8, frames);
            gnttab::GNTST_OKAY
        }
        Err(errno::EPERM) => gnttab::GNTST_PERMISSION_DENIED,
        Err(_) => gnttab::GNTST_BAD_DOMAIN,
    };
    put_u16(&mut b, 12, status as u16);
    write_arg(env, uop, &b)?;
    Ok(0)
}

fn set_version(uop: u64, env: &dyn Env) -> Result<i64, i64> {
    let b = read_arg::<4>(env, uop)?;
    let (me, _) = env.caller();
    // Only the v1 layout is offered; asking for it again is fine. Version
    // 2 is -ENOSYS as on Xen limited to v1 (Arm's default), others -EINVAL.
    match u32_at(&b, 0) {
        1 => {
            me.xen.lock().gnttab_version = 1;
            Ok(0)
        }
        2 => Err(errno::ENOSYS),
        _ => Err(errno::EINVAL),
    }
}

fn get_version(uop: u64, env: &dyn Env) -> Result<i64, i64> {
    let mut b = read_arg::<{ gnttab::GET_VERSION_LEN }>(env, uop)?;
    let d = target_domain(env, u16_at(&b, 0))?;
    let v = d.xen.lock().gnttab_version;
    put_u32(&mut b, 4, v);
    write_arg(env, uop, &b)?;
    Ok(0)
}
