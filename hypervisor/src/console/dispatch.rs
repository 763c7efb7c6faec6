//! Where typed console input goes, once the UART's receive interrupt has
//! routed it (`input`): hvc0 bytes wait in the ring and raise the hardware
//! domain's VIRQ_CONSOLE; a domain's UART bytes go to its virtual UART; keys
//! typed at Halyard print what they ask for.

use super::input::Routed;
use crate::domain::Domain;

/// Handle everything the UART received. `uart_input` hands bytes to a
/// domain's virtual UART, `raise_event` raises the event interrupt on a
/// vCPU (both arch work); `freq` is the counter's, for exit times.
pub fn route_input(
    domains: &[Domain],
    freq: u64,
    uart_input: &mut dyn FnMut(&Domain, &[u8]),
    raise_event: &mut dyn FnMut(&Domain, usize),
) {
    let mut to_hvc = false;
    // Until the UART is empty; bounded work per interrupt (a paste longer
    // than this waits for the next byte typed).
    for _ in 0..ROUNDS {
        let mut events = [Routed::Held; 32];
        let (n, more) = super::receive(&mut events);
        to_hvc |= route(domains, freq, &events[..n], uart_input);
        if !more {
            break;
        }
    }
    if to_hvc {
        if let Some(d) = domains.iter().find(|d| d.xen_console) {
            let virq = crate::hypercall::xen::abi::virq::CONSOLE;
            if let Some(v) = crate::hypercall::xen::evtchn::raise_global_virq(d, virq) {
                raise_event(d, v);
            }
        }
    }
}

/// 32-byte rounds per receive interrupt.
const ROUNDS: usize = 64;

/// Deliver one round of routed input; whether any of it is for hvc0.
fn route(
    domains: &[Domain],
    freq: u64,
    events: &[Routed],
    uart_input: &mut dyn FnMut(&Domain, &[u8]),
) -> bool {
    let mut to_hvc = false;
    // Consecutive bytes for one domain's UART go in together.
    let mut pending: Option<(u16, [u8; 32], usize)> = None;
    let mut flush = |p: &mut Option<(u16, [u8; 32], usize)>| {
        if let Some((id, bytes, len)) = p.take() {
            if let Some(d) = domains.iter().find(|d| d.id == id) {
                uart_input(d, &bytes[..len]);
            }
        }
    };
    for e in events {
        let mut line = alloc::string::String::new();
        match *e {
            Routed::Hvc(_) => to_hvc = true,
            Routed::Uart(id, b) => {
                if pending.as_ref().is_some_and(|(p, _, _)| *p != id) {
                    flush(&mut pending);
                }
                let (_, bytes, len) = pending.get_or_insert((id, [0; 32], 0));
                bytes[*len] = b;
                *len += 1;
            }
            Routed::Key(k) => {
                let _ = super::keys::run(k, domains, freq, &mut line);
            }
            Routed::Switched(to) => {
                let _ = super::keys::switched(to, domains, &mut line);
            }
            Routed::Held => {}
        }
        if !line.is_empty() {
            super::print(format_args!("{line}"));
        }
    }
    flush(&mut pending);
    to_hvc
}
