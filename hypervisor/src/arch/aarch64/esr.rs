//! Decoding syndromes (ESR_EL2 ISS, Arm ARM D17): a stage-2 data abort into
//! the load or store the guest attempted, so a device can be emulated, and
//! a trapped system-register access into its encoding.
//! Pure code: also compiled and tested on the host.

/// A trapped MSR/MRS/SYS (EC 0x18): the instruction's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysregAccess {
    /// (op0, op1, CRn, CRm, op2), as the Arm ARM names a register.
    pub encoding: (u8, u8, u8, u8, u8),
    /// Transfer register (31 = XZR).
    pub reg: usize,
    /// MRS (read) rather than MSR/SYS (write).
    pub read: bool,
}

/// ICC_SGI1R_EL1 and ICC_SGI0R_EL1.
pub const ICC_SGI1R_EL1: (u8, u8, u8, u8, u8) = (3, 0, 12, 11, 5);
pub const ICC_SGI0R_EL1: (u8, u8, u8, u8, u8) = (3, 0, 12, 11, 7);

pub fn decode_sysreg(esr: u64) -> SysregAccess {
    let iss = esr & 0x1ff_ffff;
    let field = |shift: u32, mask: u64| ((iss >> shift) & mask) as u8;
    SysregAccess {
        encoding: (
            field(20, 3),
            field(14, 7),
            field(10, 0xf),
            field(1, 0xf),
            field(17, 7),
        ),
        reg: usize::from(field(5, 0x1f)),
        read: iss & 1 == 1,
    }
}

/// One guest load/store to an emulated device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioAccess {
    /// Access size in bytes (1, 2, 4 or 8).
    pub size: u8,
    pub write: bool,
    /// Transfer register (31 = XZR/WZR).
    pub reg: usize,
    /// A load that sign-extends (LDRSB/LDRSH/LDRSW).
    pub sign_extend: bool,
    /// The register is 64-bit (X) rather than 32-bit (W).
    pub sixty_four: bool,
}

/// None when the syndrome is not valid (ISV = 0: e.g. load/store pair or
/// writeback), which cannot be emulated from the syndrome alone.
pub fn decode_data_abort(esr: u64) -> Option<MmioAccess> {
    let iss = esr & 0x1ff_ffff;
    if iss & (1 << 24) == 0 {
        return None;
    }
    Some(MmioAccess {
        size: 1 << ((iss >> 22) & 3),
        sign_extend: iss & (1 << 21) != 0,
        reg: ((iss >> 16) & 0x1f) as usize,
        sixty_four: iss & (1 << 15) != 0,
        write: iss & (1 << 6) != 0,
    })
}

impl MmioAccess {
    /// The value a store writes, from the register file (`x[31]` = zero).
    pub fn store_value(&self, x: &[u64; 31]) -> u64 {
        let v = x.get(self.reg).copied().unwrap_or(0);
        if self.size == 8 {
            v
        } else {
            v & ((1u64 << (8 * u32::from(self.size))) - 1)
        }
    }

    /// Write a load's result into the register file as the instruction would.
    pub fn complete_load(&self, x: &mut [u64; 31], value: u64) {
        let bits = 8 * u32::from(self.size);
        let mut v = if bits == 64 {
            value
        } else {
            value & ((1u64 << bits) - 1)
        };
        if self.sign_extend && bits < 64 {
            let shift = 64 - bits;
            v = (((v << shift) as i64) >> shift) as u64;
        }
        if !self.sixty_four {
            v &= 0xffff_ffff;
        }
        if let Some(r) = x.get_mut(self.reg) {
            *r = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ISS of a trapped MSR/MRS with this encoding.
    fn sys_iss(enc: (u64, u64, u64, u64, u64), rt: u64, read: bool) -> u64 {
        let (op0, op1, crn, crm, op2) = enc;
        (0x18 << 26)
            | (op0 << 20)
            | (op2 << 17)
            | (op1 << 14)
            | (crn << 10)
            | (rt << 5)
            | (crm << 1)
            | u64::from(read)
    }

    #[test]
    fn decodes_sgi_register_writes_and_set_way_ops() {
        let w = decode_sysreg(sys_iss((3, 0, 12, 11, 5), 7, false));
        assert_eq!((w.encoding, w.reg, w.read), (ICC_SGI1R_EL1, 7, false));
        let w = decode_sysreg(sys_iss((3, 0, 12, 11, 7), 31, false));
        assert_eq!((w.encoding, w.reg), (ICC_SGI0R_EL1, 31));
        // MRS of ICC_SGI1R_EL1 is a read, not a send.
        assert!(decode_sysreg(sys_iss((3, 0, 12, 11, 5), 0, true)).read);
        // DC CISW, Xt = x3.
        let w = decode_sysreg(sys_iss((1, 0, 7, 14, 2), 3, false));
        assert_eq!((w.encoding, w.reg), ((1, 0, 7, 14, 2), 3));
    }

    fn iss(isv: bool, sas: u64, sse: bool, srt: u64, sf: bool, wnr: bool) -> u64 {
        (0x24 << 26)
            | (u64::from(isv) << 24)
            | (sas << 22)
            | (u64::from(sse) << 21)
            | (srt << 16)
            | (u64::from(sf) << 15)
            | (u64::from(wnr) << 6)
    }

    #[test]
    fn decodes_loads_and_stores() {
        let a = decode_data_abort(iss(true, 2, false, 5, false, true)).unwrap();
        assert_eq!(
            a,
            MmioAccess {
                size: 4,
                write: true,
                reg: 5,
                sign_extend: false,
                sixty_four: false
            }
        );
        let mut x = [0u64; 31];
        x[5] = 0xdead_beef_1234_5678;
        assert_eq!(a.store_value(&x), 0x1234_5678);
        assert!(decode_data_abort(iss(false, 2, false, 5, false, true)).is_none());
        // STR XZR: register 31 stores zero.
        let z = decode_data_abort(iss(true, 3, false, 31, true, true)).unwrap();
        assert_eq!(z.store_value(&x), 0);
    }

    #[test]
    fn completes_loads_with_extension() {
        let mut x = [u64::MAX; 31];
        let ldrsb_x = decode_data_abort(iss(true, 0, true, 3, true, false)).unwrap();
        ldrsb_x.complete_load(&mut x, 0x80);
        assert_eq!(x[3], 0xffff_ffff_ffff_ff80);
        let ldrsh_w = decode_data_abort(iss(true, 1, true, 4, false, false)).unwrap();
        ldrsh_w.complete_load(&mut x, 0x8001);
        assert_eq!(x[4], 0xffff_8001);
        let ldr_w = decode_data_abort(iss(true, 2, false, 6, false, false)).unwrap();
        ldr_w.complete_load(&mut x, 0x1_2345_6789);
        assert_eq!(x[6], 0x2345_6789);
        let ldr_x = decode_data_abort(iss(true, 3, false, 7, true, false)).unwrap();
        ldr_x.complete_load(&mut x, u64::MAX - 1);
        assert_eq!(x[7], u64::MAX - 1);
        // LDR into XZR is discarded, never a panic.
        let ldr_zr = decode_data_abort(iss(true, 3, false, 31, true, false)).unwrap();
        ldr_zr.complete_load(&mut x, 1);
    }
}
