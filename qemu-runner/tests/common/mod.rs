//! Tiny raw aarch64 test programs, assembled here as bytes.
#![allow(dead_code)] // each test binary uses a different part

// A64 encodings (Arm ARM C6). Offsets are in bytes, relative to the instruction.
pub fn adr(rd: u32, off: i32) -> u32 {
    let off = off as u32;
    0x1000_0000 | ((off & 3) << 29) | (((off >> 2) & 0x7_ffff) << 5) | rd
}
pub fn movz_x(rd: u32, imm16: u32, shift: u32) -> u32 {
    0xd280_0000 | ((shift / 16) << 21) | (imm16 << 5) | rd
}
pub fn ldrb_post_inc(rt: u32, rn: u32) -> u32 {
    0x3840_0400 | (1 << 12) | (rn << 5) | rt // ldrb wT, [xN], #1
}
pub fn strb(rt: u32, rn: u32) -> u32 {
    0x3900_0000 | (rn << 5) | rt // strb wT, [xN]
}
pub fn cbz_w(rt: u32, off: i32) -> u32 {
    0x3400_0000 | ((((off >> 2) as u32) & 0x7_ffff) << 5) | rt
}
pub fn movk_x(rd: u32, imm16: u32, shift: u32) -> u32 {
    0xf280_0000 | ((shift / 16) << 21) | (imm16 << 5) | rd
}
const SMC_0: u32 = 0xd400_0003;
const PSCI_SYSTEM_OFF: u32 = 0x8400_0008;
pub fn b(off: i32) -> u32 {
    0x1400_0000 | (((off >> 2) as u32) & 0x3ff_ffff)
}
const HLT_SEMIHOSTING: u32 = 0xd45e_0000; // hlt #0xf000
const SYS_EXIT: u32 = 0x18;
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x2_0026;
const PL011_DR: u32 = 0x0900_0000;

/// A raw program: print `text` on the PL011, then semihosting SYS_EXIT with
/// `exit` (x1 -> {reason, code}), or spin forever (`b .`) if `exit` is None.
pub fn program(text: &str, exit: Option<u64>) -> Vec<u8> {
    let ending = match exit {
        Some(_) => [adr(1, BLOCK - 24), movz_x(0, SYS_EXIT, 0), HLT_SEMIHOSTING],
        None => [b(0), b(0), b(0)],
    };
    with_ending(text, ending, exit.unwrap_or(0))
}

/// A raw program: print `text`, then power the machine off with PSCI
/// SYSTEM_OFF over SMC (QEMU's own PSCI when it runs at EL2 without EL3).
pub fn powering_off(text: &str) -> Vec<u8> {
    let ending = [
        movz_x(0, PSCI_SYSTEM_OFF & 0xffff, 0),
        movk_x(0, PSCI_SYSTEM_OFF >> 16, 16),
        SMC_0,
    ];
    with_ending(text, ending, 0)
}

const BLOCK: i32 = 40; // 8-aligned, after the 10 instructions
const MSG: i32 = BLOCK + 16;

fn with_ending(text: &str, ending: [u32; 3], exit: u64) -> Vec<u8> {
    let code = [
        adr(2, MSG),                   // 0: x2 = message
        movz_x(3, PL011_DR >> 16, 16), // 4: x3 = UART data register
        ldrb_post_inc(4, 2),           // 8: loop: w4 = *x2++
        cbz_w(4, 12),                  // 12: if w4 == 0 goto done (24)
        strb(4, 3),                    // 16: *x3 = w4
        b(-12),                        // 20: goto loop
        ending[0],                     // 24: done:
        ending[1],
        ending[2],
        b(0), // 36: not reached
    ];
    let mut v: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
    assert_eq!(v.len(), BLOCK as usize);
    v.extend(ADP_STOPPED_APPLICATION_EXIT.to_le_bytes());
    v.extend(exit.to_le_bytes());
    assert_eq!(v.len(), MSG as usize);
    v.extend(text.as_bytes());
    v.push(0);
    v
}
