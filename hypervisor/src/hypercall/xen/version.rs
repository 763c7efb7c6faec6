//! `xen_version`: what Linux reads into /sys/hypervisor and the feature
//! bits it decides its setup by.

use super::abi::{errno, feature, xenver, PAGE_SIZE, VERSION_MAJOR, VERSION_MINOR};
use super::{write_arg, Env};

/// Says which hypervisor this is behind the Xen interface.
const EXTRAVERSION: &str = "-halyard";
const CAPABILITIES: &str = "xen-3.0-aarch64 ";
const CHANGESET: &str = concat!("halyard ", env!("CARGO_PKG_VERSION"));

/// Feature bits for a domain (submap 0).
pub fn features(hardware: bool, direct_mapped: bool) -> u32 {
    let mut f = (1 << feature::AUTO_TRANSLATED_PHYSMAP)
        | (1 << feature::ARM_SMCCC_SUPPORTED)
        | (1 << feature::RUNSTATE_PHYS_AREA);
    if hardware {
        f |= 1 << feature::DOM0;
    }
    f |= if direct_mapped {
        1 << feature::DIRECT_MAPPED
    } else {
        1 << feature::NOT_DIRECT_MAPPED
    };
    f
}

/// A NUL-padded fixed-size string buffer.
fn fixed<const N: usize>(s: &str) -> [u8; N] {
    let mut b = [0u8; N];
    let n = s.len().min(N - 1);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    b
}

pub fn xen_version(args: &[u64; 5], env: &dyn Env) -> i64 {
    let (cmd, arg) = (args[0], args[1]);
    let (me, _) = env.caller();
    let out = |bytes: &[u8]| super::rc(write_arg(env, arg, bytes).map(|()| 0));
    match cmd {
        xenver::VERSION => i64::from((VERSION_MAJOR << 16) | VERSION_MINOR),
        xenver::EXTRAVERSION => out(&fixed::<{ xenver::EXTRAVERSION_LEN }>(EXTRAVERSION)),
        xenver::COMPILE_INFO => {
            // compiler[64], compile_by[16], compile_domain[32], compile_date[32]:
            // fixed strings, so that images stay reproducible.
            let mut b = [0u8; xenver::COMPILE_INFO_LEN];
            b[..64].copy_from_slice(&fixed::<64>("rustc (pinned by rust-toolchain.toml)"));
            b[64..80].copy_from_slice(&fixed::<16>("halyard"));
            b[80..112].copy_from_slice(&fixed::<32>("reproducible"));
            b[112..].copy_from_slice(&fixed::<32>("SOURCE_DATE_EPOCH"));
            out(&b)
        }
        xenver::CAPABILITIES => out(&fixed::<{ xenver::CAPABILITIES_LEN }>(CAPABILITIES)),
        xenver::CHANGESET => out(&fixed::<{ xenver::CHANGESET_LEN }>(CHANGESET)),
        // virt_start: no hypervisor hole in an Arm guest's address space.
        xenver::PLATFORM_PARAMETERS => out(&0u64.to_le_bytes()),
        xenver::GET_FEATURES => {
            let req = match super::read_arg::<8>(env, arg) {
                Ok(b) => b,
                Err(e) => return e,
            };
            if super::abi::u32_at(&req, 0) != 0 {
                return errno::EINVAL;
            }
            let mut resp = req;
            super::abi::put_u32(&mut resp, 4, features(me.hardware, me.direct_mapped));
            out(&resp)
        }
        xenver::PAGESIZE => PAGE_SIZE as i64,
        // The domain handle (a UUID): none assigned, all zeroes as Xen's default.
        xenver::GUEST_HANDLE => out(&[0u8; 16]),
        // Halyard has no command line of its own; Xen gives dom0 its own.
        xenver::COMMANDLINE => out(&fixed::<{ xenver::COMMANDLINE_LEN }>("")),
        _ => errno::ENOSYS,
    }
}
