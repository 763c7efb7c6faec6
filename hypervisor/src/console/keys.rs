//! The hypervisor's own console: single keys that print its state, typed
//! after the switch sequence (Ctrl-A three times).

use core::fmt::Write;

use crate::domain::events::Binding;
use crate::domain::guest_areas::VcpuArea;
use crate::domain::Domain;

/// The line that says where console input goes now.
pub fn switched(
    to: super::input::Focus,
    domains: &[Domain],
    out: &mut dyn Write,
) -> core::fmt::Result {
    use super::input::Focus;
    let name = |id: u16| {
        domains
            .iter()
            .find(|d| d.id == id)
            .map_or("?", |d| d.name.as_str())
    };
    match to {
        Focus::Hypervisor => out.write_str(
            "halyard: console input now goes to Halyard ('h' for help, Ctrl-A three times to move on)\n",
        ),
        Focus::Hvc(id) => writeln!(out, "halyard: console input goes to d{id} ({}) on hvc0 again", name(id)),
        Focus::Uart(id) => writeln!(
            out,
            "halyard: console input now goes to d{id} ({}) on its UART",
            name(id)
        ),
    }
}

const HELP: &str = "\
halyard: keys: h help, d domains, v vCPUs, e exits, c event channels; Ctrl-A three times moves input to the next domain\n";

/// Print what `key` asks for about `domains` (counter at `freq` Hz).
pub fn run(key: u8, domains: &[Domain], freq: u64, out: &mut dyn Write) -> core::fmt::Result {
    match key {
        b'h' | b'?' => out.write_str(HELP),
        b'd' => {
            for d in domains {
                writeln!(
                    out,
                    "halyard: d{} {}: {}{} vCPU(s), {} MiB, {}",
                    d.id,
                    d.name,
                    if d.hardware { "hardware domain, " } else { "" },
                    d.vcpus,
                    d.ram_bytes() >> 20,
                    if d.is_running() { "running" } else { "stopped" }
                )?;
            }
            Ok(())
        }
        b'v' => {
            for d in domains {
                let x = d.xen.lock();
                for v in 0..usize::from(d.vcpus) {
                    let mpidr = d.power.mpidr(v);
                    let state = match d.power.affinity_info(mpidr, 0) {
                        0 => "on",
                        1 => "off",
                        _ => "starting",
                    };
                    let area = match x.areas.vcpu_area_kind(v) {
                        Some(VcpuArea::Registered { ipa }) => {
                            alloc::format!("vcpu_info at {ipa:#x}")
                        }
                        Some(VcpuArea::Legacy) => "vcpu_info in shared_info".into(),
                        _ => "no vcpu_info".into(),
                    };
                    writeln!(
                        out,
                        "halyard: d{}v{v}: MPIDR {mpidr:#x}, {state}, {area}",
                        d.id
                    )?;
                }
            }
            Ok(())
        }
        b'e' => {
            for d in domains {
                writeln!(out, "halyard: d{}: {}", d.id, d.exits.summary(freq))?;
            }
            Ok(())
        }
        b'c' => {
            for d in domains {
                let x = d.xen.lock();
                let shared = x.areas.shared(&d.banks);
                let bit = |off: u64, port: u32| {
                    shared
                        .and_then(|s| s.load_u64(off + u64::from(port / 64) * 8))
                        .is_some_and(|w| w & (1 << (port % 64)) != 0)
                };
                let mut any = false;
                for (port, c) in x.ports.bound() {
                    any = true;
                    let what = match c.binding {
                        Binding::Virq(v) => alloc::format!("virq {v}"),
                        Binding::Ipi => "ipi".into(),
                        Binding::Unbound { remote } => alloc::format!("unbound for d{remote}"),
                        Binding::Interdomain {
                            remote,
                            remote_port,
                        } => alloc::format!("d{remote} port {remote_port}"),
                        Binding::Free => continue,
                    };
                    use crate::hypercall::xen::abi::shared_info::{EVTCHN_MASK, EVTCHN_PENDING};
                    writeln!(
                        out,
                        "halyard: d{} port {port}: {what}, vCPU {}{}{}",
                        d.id,
                        c.vcpu,
                        if bit(EVTCHN_PENDING, port) {
                            ", pending"
                        } else {
                            ""
                        },
                        if bit(EVTCHN_MASK, port) {
                            ", masked"
                        } else {
                            ""
                        },
                    )?;
                }
                if !any {
                    writeln!(out, "halyard: d{}: no event channels", d.id)?;
                }
            }
            Ok(())
        }
        b'\r' | b'\n' => Ok(()),
        other => writeln!(
            out,
            "halyard: no command for key {:?}; 'h' lists them",
            other as char
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hypercall::xen::fake::World;

    fn out(key: u8, w: &World) -> String {
        let mut s = String::new();
        run(key, &w.domains, 1_000_000, &mut s).unwrap();
        s
    }

    #[test]
    fn keys_print_state() {
        let w = World::new(&[0, 1], 2, 2);
        assert!(out(b'h', &w).contains("d domains"));
        let d = out(b'd', &w);
        assert!(d.contains("d0 d0: hardware domain, 2 vCPU(s)"), "{d}");
        assert!(d.contains("d1 d1: 2 vCPU(s)"), "{d}");
        let v = out(b'v', &w);
        assert!(
            v.contains("d0v0: MPIDR 0x0, on, vcpu_info in shared_info"),
            "{v}"
        );
        assert!(v.contains("d1v1: MPIDR 0x1, off, no vcpu_info"), "{v}");
        assert!(out(b'e', &w).contains("d1: 0 exits"));
        assert!(out(b'c', &w).contains("d0: no event channels"));
        w.domains[1]
            .xen
            .lock()
            .ports
            .alloc(Binding::Virq(2), 0)
            .unwrap();
        assert!(out(b'c', &w).contains("d1 port 1: virq 2, vCPU 0"));
        assert!(out(b'x', &w).contains("no command for key 'x'"));
    }
}
