//! A vCPU whose faults the hypervisor would reflect into itself forever:
//! an abort or undefined instruction whose PC lies in the guest's own
//! exception vectors (VBAR_EL1 unset, or a handler that faults). Injecting
//! it sends the vCPU back into the same vectors, which fault again: no
//! forward progress, and its physical CPU spins on injected exceptions.
//!
//! Policy: such a vCPU is stopped, as if it had called PSCI CPU_OFF (so
//! another vCPU of its domain may start it again), and reported by name.
//! If it was its domain's last running vCPU, nothing of the domain could
//! ever run again: the domain is stopped as crashed (its devices released,
//! its FF-A shares reclaimed, like any other stop).

#![forbid(unsafe_code)]

use super::power::VcpuPower;

/// An AArch64 vector table: 16 entries of 0x80 bytes.
pub const VECTOR_TABLE_SIZE: u64 = 0x800;

/// Whether a fault taken at `pc` with the guest's VBAR_EL1 `vbar` would be
/// delivered back into the vectors it was raised in.
pub fn no_forward_progress(pc: u64, vbar: u64) -> bool {
    pc.wrapping_sub(vbar) < VECTOR_TABLE_SIZE
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Turn the vCPU off; its domain goes on.
    StopVcpu,
    /// It was the last running vCPU: stop the domain as crashed.
    CrashDomain,
}

pub fn verdict(power: &VcpuPower, vcpu: usize) -> Verdict {
    if power.only_on(vcpu) {
        Verdict::CrashDomain
    } else {
        Verdict::StopVcpu
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_inside_the_vector_table_makes_no_progress() {
        // VBAR_EL1 never set: the table is at 0, its entries too.
        for pc in [0, 0x200, 0x204, 0x7fc] {
            assert!(no_forward_progress(pc, 0), "{pc:#x}");
        }
        let vbar = 0x4008_0800;
        assert!(no_forward_progress(vbar + 0x200, vbar));
        // Outside it: the guest's handler gets the fault.
        for pc in [vbar - 4, vbar + 0x800, 0x4000_0000, 0x800] {
            assert!(!no_forward_progress(pc, vbar), "{pc:#x}");
        }
        // A table at the top of the address space does not wrap around.
        assert!(no_forward_progress(u64::MAX - 3, u64::MAX - 0x7ff));
        assert!(!no_forward_progress(0x100, u64::MAX - 0x7ff));
    }

    #[test]
    fn the_last_running_vcpu_takes_its_domain_with_it() {
        let p = VcpuPower::new(alloc::vec![0x8000_0000, 0x8000_0001]);
        assert_eq!(verdict(&p, 0), Verdict::CrashDomain, "vCPU 1 is off");
        let in_ram = |_| true;
        p.cpu_on(1, 0x4000_0000, 0, &in_ram).unwrap();
        assert_eq!(verdict(&p, 0), Verdict::StopVcpu);
        assert_eq!(verdict(&p, 1), Verdict::StopVcpu);
        p.cpu_off(0);
        assert_eq!(verdict(&p, 1), Verdict::CrashDomain);
    }
}
