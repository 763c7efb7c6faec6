//! Devices the hypervisor emulates for guests, as pure models: register
//! reads and writes in, bytes and interrupt line levels out. The arch
//! layer routes a domain's stage-2 aborts in a device's window here.

pub mod pl011;
