//! Saved lower-EL state: the general-purpose frame the vectors fill, and the
//! EL1 system registers that normal world and secure partitions share
//! (AArch64 does not bank them by security state), swapped on every switch.

/// Lower-EL register file as stored by the exception vectors.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Frame {
    pub x: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    pub scr: u64,
}

impl Frame {
    pub const ZERO: Frame = Frame {
        x: [0; 31],
        elr: 0,
        spsr: 0,
        scr: 0,
    };
}

/// Features whose EL1 registers exist only when implemented.
#[derive(Clone, Copy)]
pub struct OptionalEl1 {
    pub tcr2: bool,
    pub sctlr2: bool,
    pub pie: bool,
}

/// EL1 (and EL0-visible) system registers of one world.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct El1Regs {
    pub sctlr: u64,
    pub ttbr0: u64,
    pub ttbr1: u64,
    pub tcr: u64,
    pub mair: u64,
    pub amair: u64,
    pub vbar: u64,
    pub contextidr: u64,
    pub tpidr_el1: u64,
    pub tpidr_el0: u64,
    pub tpidrro_el0: u64,
    pub cpacr: u64,
    pub sp_el0: u64,
    pub sp_el1: u64,
    pub elr: u64,
    pub spsr: u64,
    pub esr: u64,
    pub far: u64,
    pub afsr0: u64,
    pub afsr1: u64,
    pub par: u64,
    pub cntkctl: u64,
    pub csselr: u64,
    pub mdscr: u64,
    pub tcr2: u64,
    pub sctlr2: u64,
    pub pir: u64,
    pub pire0: u64,
}

use crate::sysreg::{read_sysreg, write_sysreg};

impl El1Regs {
    pub const ZERO: El1Regs = El1Regs {
        sctlr: 0,
        ttbr0: 0,
        ttbr1: 0,
        tcr: 0,
        mair: 0,
        amair: 0,
        vbar: 0,
        contextidr: 0,
        tpidr_el1: 0,
        tpidr_el0: 0,
        tpidrro_el0: 0,
        cpacr: 0,
        sp_el0: 0,
        sp_el1: 0,
        elr: 0,
        spsr: 0,
        esr: 0,
        far: 0,
        afsr0: 0,
        afsr1: 0,
        par: 0,
        cntkctl: 0,
        csselr: 0,
        mdscr: 0,
        tcr2: 0,
        sctlr2: 0,
        pir: 0,
        pire0: 0,
    };

    /// Copies the hardware's current EL1 registers into `self`.
    pub fn save(&mut self, opt: OptionalEl1) {
        self.sctlr = read_sysreg!("sctlr_el1");
        self.ttbr0 = read_sysreg!("ttbr0_el1");
        self.ttbr1 = read_sysreg!("ttbr1_el1");
        self.tcr = read_sysreg!("tcr_el1");
        self.mair = read_sysreg!("mair_el1");
        self.amair = read_sysreg!("amair_el1");
        self.vbar = read_sysreg!("vbar_el1");
        self.contextidr = read_sysreg!("contextidr_el1");
        self.tpidr_el1 = read_sysreg!("tpidr_el1");
        self.tpidr_el0 = read_sysreg!("tpidr_el0");
        self.tpidrro_el0 = read_sysreg!("tpidrro_el0");
        self.cpacr = read_sysreg!("cpacr_el1");
        self.sp_el0 = read_sysreg!("sp_el0");
        self.sp_el1 = read_sysreg!("sp_el1");
        self.elr = read_sysreg!("elr_el1");
        self.spsr = read_sysreg!("spsr_el1");
        self.esr = read_sysreg!("esr_el1");
        self.far = read_sysreg!("far_el1");
        self.afsr0 = read_sysreg!("afsr0_el1");
        self.afsr1 = read_sysreg!("afsr1_el1");
        self.par = read_sysreg!("par_el1");
        self.cntkctl = read_sysreg!("cntkctl_el1");
        self.csselr = read_sysreg!("csselr_el1");
        self.mdscr = read_sysreg!("mdscr_el1");
        if opt.tcr2 {
            self.tcr2 = read_sysreg!("s3_0_c2_c0_3");
        }
        if opt.sctlr2 {
            self.sctlr2 = read_sysreg!("s3_0_c1_c0_3");
        }
        if opt.pie {
            self.pir = read_sysreg!("s3_0_c10_c2_3");
            self.pire0 = read_sysreg!("s3_0_c10_c2_2");
        }
    }

    /// Loads `self` into the hardware's EL1 registers.
    pub fn restore(&self, opt: OptionalEl1) {
        write_sysreg!("sctlr_el1", self.sctlr);
        write_sysreg!("ttbr0_el1", self.ttbr0);
        write_sysreg!("ttbr1_el1", self.ttbr1);
        write_sysreg!("tcr_el1", self.tcr);
        write_sysreg!("mair_el1", self.mair);
        write_sysreg!("amair_el1", self.amair);
        write_sysreg!("vbar_el1", self.vbar);
        write_sysreg!("contextidr_el1", self.contextidr);
        write_sysreg!("tpidr_el1", self.tpidr_el1);
        write_sysreg!("tpidr_el0", self.tpidr_el0);
        write_sysreg!("tpidrro_el0", self.tpidrro_el0);
        write_sysreg!("cpacr_el1", self.cpacr);
        write_sysreg!("sp_el0", self.sp_el0);
        write_sysreg!("sp_el1", self.sp_el1);
        write_sysreg!("elr_el1", self.elr);
        write_sysreg!("spsr_el1", self.spsr);
        write_sysreg!("esr_el1", self.esr);
        write_sysreg!("far_el1", self.far);
        write_sysreg!("afsr0_el1", self.afsr0);
        write_sysreg!("afsr1_el1", self.afsr1);
        write_sysreg!("par_el1", self.par);
        write_sysreg!("cntkctl_el1", self.cntkctl);
        write_sysreg!("csselr_el1", self.csselr);
        write_sysreg!("mdscr_el1", self.mdscr);
        if opt.tcr2 {
            write_sysreg!("s3_0_c2_c0_3", self.tcr2);
        }
        if opt.sctlr2 {
            write_sysreg!("s3_0_c1_c0_3", self.sctlr2);
        }
        if opt.pie {
            write_sysreg!("s3_0_c10_c2_3", self.pir);
            write_sysreg!("s3_0_c10_c2_2", self.pire0);
        }
    }
}

/// A lower-EL world's complete saved state.
#[repr(C)]
pub struct Context {
    pub frame: Frame,
    pub el1: El1Regs,
}

impl Context {
    pub const ZERO: Context = Context {
        frame: Frame::ZERO,
        el1: El1Regs::ZERO,
    };
}
