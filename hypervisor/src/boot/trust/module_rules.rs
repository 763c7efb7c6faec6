//! Which loader modules are the hardware domain's kernel and ramdisk, by
//! Xen's rules, so that a script written for Xen hands over the same way:
//!
//! - the kernel is the first module typed `multiboot,kernel`, else the
//!   first untyped one (plain `multiboot,module`);
//! - the ramdisk is the first module typed `multiboot,ramdisk`, else the
//!   first untyped one the kernel did not take; when more than one
//!   candidate remains, a warning names the one used (Xen: "Multiple
//!   initrd candidates, picking module #N").
//!
//! Only modules directly under `/chosen` count: those under a `xen,domain`
//! node belong to that domain. Kept apart from the device tree so the x86
//! multiboot2 loader can use the same rules.

use alloc::string::String;

use crate::boot::handover::{Declared, LoaderModule};

/// Indices into the module list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HardwarePick {
    pub kernel: Option<usize>,
    pub ramdisk: Option<usize>,
    /// Set when the ramdisk was chosen among several.
    pub warning: Option<String>,
}

pub fn pick_hardware(mods: &[LoaderModule<'_>]) -> HardwarePick {
    let top = || mods.iter().enumerate().filter(|(_, m)| m.owner.is_none());
    let first = |kind: Declared| top().find(|(_, m)| m.declared == kind).map(|(i, _)| i);
    let kernel = first(Declared::Kernel).or_else(|| first(Declared::Untyped));
    let typed: alloc::vec::Vec<usize> = top()
        .filter(|(_, m)| m.declared == Declared::Ramdisk)
        .map(|(i, _)| i)
        .collect();
    let candidates = if typed.is_empty() {
        top()
            .filter(|&(i, m)| m.declared == Declared::Untyped && Some(i) != kernel)
            .map(|(i, _)| i)
            .collect()
    } else {
        typed
    };
    let ramdisk = candidates.first().copied();
    let warning = match (ramdisk, candidates.len()) {
        (Some(i), n) if n > 1 => Some(alloc::format!(
            "multiple ramdisk candidates: using module #{} ({})",
            mods[i].number,
            mods[i].name
        )),
        _ => None,
    };
    HardwarePick {
        kernel,
        ramdisk,
        warning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::PhysRange;

    fn m(number: usize, declared: Declared, owner: Option<&'static str>) -> LoaderModule<'static> {
        LoaderModule {
            number,
            name: "module",
            owner,
            range: PhysRange::new(0x5000_0000 + number as u64 * 0x100_0000, 0x1000),
            declared,
            bootargs: None,
        }
    }

    #[test]
    fn untyped_modules_are_kernel_then_ramdisk() {
        use Declared::*;
        let mods = [m(1, Untyped, None), m(2, Untyped, None)];
        let p = pick_hardware(&mods);
        assert_eq!((p.kernel, p.ramdisk, p.warning), (Some(0), Some(1), None));
    }

    #[test]
    fn a_third_untyped_module_makes_the_choice_a_warning() {
        use Declared::*;
        let mods = [
            m(1, Untyped, None),
            m(2, Untyped, None),
            m(3, Untyped, None),
        ];
        let p = pick_hardware(&mods);
        assert_eq!((p.kernel, p.ramdisk), (Some(0), Some(1)));
        assert_eq!(
            p.warning.as_deref(),
            Some("multiple ramdisk candidates: using module #2 (module)")
        );
    }

    #[test]
    fn typed_modules_win_over_order() {
        use Declared::*;
        let mods = [m(1, Untyped, None), m(2, Ramdisk, None), m(3, Kernel, None)];
        let p = pick_hardware(&mods);
        assert_eq!((p.kernel, p.ramdisk, p.warning), (Some(2), Some(1), None));
        // With a typed kernel, the first untyped module is a ramdisk candidate.
        let mods = [m(1, Kernel, None), m(2, Untyped, None)];
        assert_eq!(pick_hardware(&mods).ramdisk, Some(1));
        // Two typed ramdisks: the first, with a warning.
        let mods = [m(1, Kernel, None), m(2, Ramdisk, None), m(3, Ramdisk, None)];
        let p = pick_hardware(&mods);
        assert_eq!(p.ramdisk, Some(1));
        assert!(p.warning.unwrap().contains("#2"));
    }

    #[test]
    fn domain_modules_and_other_kinds_are_not_candidates() {
        use Declared::*;
        let mods = [
            m(1, Kernel, Some("domu")),
            m(2, Other, None),
            m(3, DeviceTree, None),
            m(4, Untyped, Some("domu")),
        ];
        let p = pick_hardware(&mods);
        assert_eq!((p.kernel, p.ramdisk, p.warning), (None, None, None));
        assert_eq!(pick_hardware(&[]), HardwarePick::default());
    }
}
