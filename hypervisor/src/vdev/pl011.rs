//! A virtual PL011 (vPL011): the SBSA generic UART subset that Linux's
//! `sbsa-uart` and `amba-pl011` drivers use, for a domain's own console.
//! Transmit is immediate (the TX FIFO is always empty, so TXIS is set
//! whenever it is unmasked); received bytes wait in a 32-byte FIFO. Register
//! offsets and bits are the PL011 TRM's (Arm DDI 0183).

/// The register window a vPL011 occupies.
pub const SIZE: u64 = 0x1000;
pub const FIFO: usize = 32;

const DR: u64 = 0x000;
const RSR: u64 = 0x004;
const FR: u64 = 0x018;
const ILPR: u64 = 0x020;
const IBRD: u64 = 0x024;
const FBRD: u64 = 0x028;
const LCR_H: u64 = 0x02c;
const CR: u64 = 0x030;
const IFLS: u64 = 0x034;
const IMSC: u64 = 0x038;
const RIS: u64 = 0x03c;
const MIS: u64 = 0x040;
const ICR: u64 = 0x044;
const DMACR: u64 = 0x048;
/// Peripheral and PrimeCell ID registers 0xfe0..0xffc (a PL011 r1p5).
const ID: [u8; 8] = [0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

const FR_RXFE: u32 = 1 << 4;
const FR_RXFF: u32 = 1 << 6;
const FR_TXFE: u32 = 1 << 7;
pub const INT_RX: u32 = 1 << 4;
pub const INT_TX: u32 = 1 << 5;
pub const INT_OE: u32 = 1 << 10;
const INT_ALL: u32 = 0x7ff;
/// DR/RSR overrun error bit.
const DR_OE: u32 = 1 << 11;

/// An access the UART cannot take (misaligned or wider than 32 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadAccess;

pub struct Vpl011 {
    rx: [u8; FIFO],
    head: usize,
    len: usize,
    imsc: u32,
    /// Overrun: a byte arrived with the FIFO full (cleared by ICR or RSR).
    overrun: bool,
    /// Registers Linux programs that change nothing here (baud, format).
    ilpr: u32,
    ibrd: u32,
    fbrd: u32,
    lcr_h: u32,
    cr: u32,
    ifls: u32,
    dmacr: u32,
}

impl Default for Vpl011 {
    fn default() -> Self {
        Self::new()
    }
}

impl Vpl011 {
    pub const fn new() -> Self {
        Self {
            rx: [0; FIFO],
            head: 0,
            len: 0,
            imsc: 0,
            overrun: false,
            ilpr: 0,
            ibrd: 0,
            fbrd: 0,
            lcr_h: 0,
            // UARTEN, TXE, RXE: as firmware leaves a console UART.
            cr: 0x301,
            ifls: 0x12,
            dmacr: 0,
        }
    }

    fn raw_interrupts(&self) -> u32 {
        let mut ris = INT_TX;
        if self.len > 0 {
            ris |= INT_RX;
        }
        if self.overrun {
            ris |= INT_OE;
        }
        ris
    }

    /// The level of the UART's interrupt line.
    pub fn line(&self) -> bool {
        self.raw_interrupts() & self.imsc != 0
    }

    /// A byte typed for this UART. False if the FIFO was full (an overrun,
    /// as the hardware reports it; the byte is lost).
    pub fn receive(&mut self, b: u8) -> bool {
        if self.len == FIFO {
            self.overrun = true;
            return false;
        }
        self.rx[(self.head + self.len) % FIFO] = b;
        self.len += 1;
        true
    }

    fn check(off: u64, size: u8) -> Result<(), BadAccess> {
        if !matches!(size, 1 | 2 | 4) || !off.is_multiple_of(u64::from(size)) || off >= SIZE {
            return Err(BadAccess);
        }
        Ok(())
    }

    /// A guest read of `size` bytes at `off`.
    pub fn read(&mut self, off: u64, size: u8) -> Result<u32, BadAccess> {
        Self::check(off, size)?;
        let reg = off & !3;
        let v = match reg {
            DR => {
                if self.len == 0 {
                    0
                } else {
                    let b = self.rx[self.head];
                    self.head = (self.head + 1) % FIFO;
                    self.len -= 1;
                    u32::from(b)
                }
            }
            RSR if self.overrun => DR_OE >> 8,
            FR => {
                let mut fr = FR_TXFE;
                if self.len == 0 {
                    fr |= FR_RXFE;
                }
                if self.len == FIFO {
                    fr |= FR_RXFF;
                }
                fr
            }
            ILPR => self.ilpr,
            IBRD => self.ibrd,
            FBRD => self.fbrd,
            LCR_H => self.lcr_h,
            CR => self.cr,
            IFLS => self.ifls,
            IMSC => self.imsc,
            RIS => self.raw_interrupts(),
            MIS => self.raw_interrupts() & self.imsc,
            DMACR => self.dmacr,
            0xfe0..=0xffc => u32::from(ID[((reg - 0xfe0) / 4) as usize]),
            // Reserved and write-only registers read as zero.
            _ => 0,
        };
        // A narrower read sees the addressed bytes of the register.
        let shift = (off & 3) * 8;
        let mask = if size == 4 {
            u32::MAX
        } else {
            (1u32 << (u32::from(size) * 8)) - 1
        };
        Ok((v >> shift) & mask)
    }

    /// A guest write; transmitted bytes go to `out`.
    pub fn write(
        &mut self,
        off: u64,
        size: u8,
        v: u32,
        out: &mut dyn FnMut(u8),
    ) -> Result<(), BadAccess> {
        Self::check(off, size)?;
        if off & 3 != 0 {
            // Only the low byte or half of a register is ever written alone.
            return Ok(());
        }
        match off {
            DR => out(v as u8),
            RSR => self.overrun = false,
            ILPR => self.ilpr = v & 0xff,
            IBRD => self.ibrd = v & 0xffff,
            FBRD => self.fbrd = v & 0x3f,
            LCR_H => self.lcr_h = v & 0xff,
            CR => self.cr = v & 0xffff,
            IFLS => self.ifls = v & 0x3f,
            IMSC => self.imsc = v & INT_ALL,
            ICR if v & INT_OE != 0 => self.overrun = false,
            DMACR => self.dmacr = v & 0x7,
            // Read-only and reserved registers ignore writes.
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(u: &mut Vpl011, s: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in s {
            u.write(DR, 4, u32::from(b), &mut |c| out.push(c)).unwrap();
        }
        out
    }

    #[test]
    fn transmit_is_immediate_and_tx_interrupt_follows_its_mask() {
        let mut u = Vpl011::new();
        assert_eq!(tx(&mut u, b"hi\n"), b"hi\n");
        assert_eq!(
            u.read(FR, 4).unwrap() & (FR_TXFE | FR_RXFE),
            FR_TXFE | FR_RXFE
        );
        assert!(!u.line());
        u.write(IMSC, 4, INT_TX, &mut |_| {}).unwrap();
        assert!(u.line(), "TX FIFO empty: TXIS with TXIM set");
        assert_eq!(u.read(MIS, 4), Ok(INT_TX));
        u.write(IMSC, 2, 0, &mut |_| {}).unwrap();
        assert!(!u.line());
    }

    #[test]
    fn received_bytes_wait_in_the_fifo_and_raise_rx() {
        let mut u = Vpl011::new();
        u.write(IMSC, 4, INT_RX, &mut |_| {}).unwrap();
        assert!(u.receive(b'a') && u.receive(b'b'));
        assert!(u.line());
        assert_eq!(u.read(FR, 4).unwrap() & FR_RXFE, 0);
        assert_eq!(u.read(DR, 4), Ok(u32::from(b'a')));
        assert_eq!(u.read(DR, 2), Ok(u32::from(b'b')));
        assert!(!u.line());
        assert_eq!(u.read(FR, 4).unwrap() & FR_RXFE, FR_RXFE);
        assert_eq!(u.read(DR, 4), Ok(0));
        // Overrun: the 33rd byte is lost and reported until cleared.
        for i in 0..FIFO {
            assert!(u.receive(i as u8));
        }
        assert_eq!(u.read(FR, 4).unwrap() & FR_RXFF, FR_RXFF);
        assert!(!u.receive(0xff));
        assert_ne!(u.read(RIS, 4).unwrap() & INT_OE, 0);
        u.write(ICR, 4, INT_OE, &mut |_| {}).unwrap();
        assert_eq!(u.read(RIS, 4).unwrap() & INT_OE, 0);
        assert_eq!(u.read(DR, 1), Ok(0));
    }

    #[test]
    fn ids_registers_and_bad_accesses() {
        let mut u = Vpl011::new();
        let id: Vec<u32> = (0..8).map(|i| u.read(0xfe0 + i * 4, 4).unwrap()).collect();
        assert_eq!(id, [0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
        u.write(IBRD, 4, 0x1234_5678, &mut |_| {}).unwrap();
        assert_eq!(u.read(IBRD, 4), Ok(0x5678));
        assert_eq!(u.read(CR, 4), Ok(0x301));
        assert_eq!(u.read(0x800, 4), Ok(0));
        assert_eq!(u.read(DR + 1, 2), Err(BadAccess));
        assert_eq!(u.read(DR, 8), Err(BadAccess));
        assert_eq!(u.read(SIZE, 4), Err(BadAccess));
        assert_eq!(u.write(SIZE - 2, 4, 0, &mut |_| {}), Err(BadAccess));
        // The high byte of FR alone.
        assert_eq!(u.read(FR + 1, 1), Ok(0));
    }
}
