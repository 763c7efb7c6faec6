//! The boot sequence on the host with a fake architecture: real module
//! tables, signed with a test key, real hash checks and domain builders.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use ed25519_dalek::{Signer, SigningKey};
use image_format::domain_flags::{DIRECT_MAP, HARDWARE, HVC_CONSOLE};
use image_format::{
    encode_signature_block, layout_all, DeviceSpec, DomainSpec, LayoutOptions, ModuleKind,
    ModuleSpec,
};
use sha2::{Digest, Sha256};

use super::domain_builder::BuildEnv;
use super::sequence::{build_domains, BootArch, HardwareSources, Helpers, Verdict};
use super::test_env::{arm64_image, sample_host_dtb, FakeEnv};
use crate::board::{Leaves, PhysRange};
use crate::boot::blake3::{portable4, Hash4};
use crate::domain::Domain;
use crate::mm::frames::FrameAllocator;

const TABLE_AT: u64 = 0x1000;

#[derive(Default)]
struct FakeArch {
    /// What happened, in order.
    events: RefCell<Vec<String>>,
    clock: RefCell<u64>,
}

impl FakeArch {
    fn log(&self, e: &str) {
        self.events.borrow_mut().push(e.into());
    }
}

struct NoHelpers<'t>(&'t FakeArch);

impl Helpers for NoHelpers<'_> {
    fn count(&self) -> usize {
        0
    }
    fn finish(self, _frames: &mut FrameAllocator) {
        self.0.log("hashing finished");
    }
}

impl BootArch for FakeArch {
    type Helpers<'t> = NoHelpers<'t>;
    fn now_us(&self) -> u64 {
        *self.clock.borrow_mut() += 1000;
        *self.clock.borrow()
    }
    fn start_helpers<'t>(
        &'t self,
        _frames: &mut FrameAllocator,
        _task: &'t (dyn Fn() + Sync),
    ) -> NoHelpers<'t> {
        self.log("hashing started");
        NoHelpers(self)
    }
    fn hasher(&self) -> (Hash4, &'static str) {
        (portable4, "portable")
    }
    fn build_env<'f>(
        &self,
        _frames: &'f mut FrameAllocator,
        _leaves: Leaves,
    ) -> Box<dyn BuildEnv + 'f> {
        self.log("build");
        Box::new(FakeEnv::default())
    }
    fn attach_vgic(&self, dom: &mut Domain) {
        self.log(&alloc::format!("vgic for d{}", dom.id));
    }
    fn take_console_irq(&self, spi: u32) {
        self.log(&alloc::format!("console irq {spi}"));
    }
}

/// A signed image with a hardware dom0 and an ordinary d1, each with a
/// kernel; the key's hex.
fn image(seed: u8) -> (Vec<u8>, String) {
    pinned_image(seed, 0b10)
}

/// As `image`, with d1 pinned to the CPUs in `d1_cpus`.
fn pinned_image(seed: u8, d1_cpus: u64) -> (Vec<u8>, String) {
    device_image(seed, d1_cpus, &[])
}

/// As `pinned_image`, with `devices` passed through.
fn device_image(seed: u8, d1_cpus: u64, devices: &[DeviceSpec]) -> (Vec<u8>, String) {
    let kernels = [arm64_image(64 * 1024), arm64_image(32 * 1024)];
    let domains = [
        DomainSpec {
            id: 0,
            flags: HARDWARE | DIRECT_MAP | HVC_CONSOLE,
            vcpus: 1,
            memory_bytes: 64 << 20,
            pcpus: 0b1,
            name: "dom0".into(),
        },
        DomainSpec {
            id: 1,
            flags: 0,
            vcpus: 1,
            memory_bytes: 16 << 20,
            pcpus: d1_cpus,
            name: "guest".into(),
        },
    ];
    let modules: Vec<_> = kernels
        .iter()
        .enumerate()
        .map(|(i, k)| ModuleSpec {
            kind: ModuleKind::Kernel,
            domain: i as u16,
            size: k.len() as u64,
            sha256: Sha256::digest(k).into(),
            cmdline: "console=hvc0".into(),
            piece_blake3: Vec::new(),
            align: 0,
        })
        .collect();
    let l = layout_all(
        TABLE_AT,
        &domains,
        &modules,
        devices,
        LayoutOptions {
            signed: true,
            ..Default::default()
        },
    );
    let sk = SigningKey::from_bytes(&[seed; 32]);
    let mut img = vec![0u8; l.image_size as usize];
    img[TABLE_AT as usize..TABLE_AT as usize + l.table.len()].copy_from_slice(&l.table);
    let sig = encode_signature_block(
        &sk.verifying_key().to_bytes(),
        &sk.sign(&l.table).to_bytes(),
    );
    let at = l.signature_offset.unwrap() as usize;
    img[at..at + sig.len()].copy_from_slice(&sig);
    for (k, o) in kernels.iter().zip(&l.module_offsets) {
        img[*o as usize..*o as usize + k.len()].copy_from_slice(k);
    }
    let hex = sk
        .verifying_key()
        .to_bytes()
        .iter()
        .map(|b| alloc::format!("{b:02x}"))
        .collect();
    (img, hex)
}

/// Run the sequence on `img`; the verdict (as domain ids) and the events.
fn boot(img: &[u8], key: &str) -> (Option<Vec<u16>>, Vec<String>) {
    let (v, ev) = boot_on(img, key, &sample_host_dtb());
    (v.map(|ds| ds.iter().map(|d| d.id).collect()), ev)
}

/// Run the sequence on `img` with host tree `dtb`; the domains to run.
fn boot_on(img: &[u8], key: &str, dtb: &[u8]) -> (Option<Vec<Domain>>, Vec<String>) {
    let arch = FakeArch::default();
    let mut frames = FrameAllocator::new();
    frames.add(PhysRange::new(0x4000_0000, 1 << 30)).unwrap();
    let hw = HardwareSources {
        host_dtb: dtb,
        give_back: [PhysRange::new(0, 0), PhysRange::new(0, 0)],
        devices: alloc::vec![PhysRange::new(0x0900_0000, 0x1000)],
        hypervisor_devices: &[PhysRange::new(0x0800_0000, 0x0100_0000)],
        cpus: &[0, 1],
        gic: crate::boot::test_env::HOST_GICV3,
        guest_ram_leaves: Leaves::Blocks,
        console_uart: Some((PhysRange::new(0x0900_0000, 0x1000), 33)),
        trusted_key: Some(key),
    };
    let v = match build_domains(&arch, &mut frames, img, TABLE_AT, &hw) {
        Verdict::Run(ds) => Some(ds),
        Verdict::Halt => None,
    };
    (v, arch.events.take())
}

/// Offset of domain `id`'s kernel in the image.
fn kernel_at(img: &[u8], id: u16) -> usize {
    let t = image_format::ModuleTable::parse(&img[TABLE_AT as usize..]).unwrap();
    t.module(id, ModuleKind::Kernel).unwrap().offset as usize
}

#[test]
fn a_good_image_runs_every_domain_hardware_domain_first() {
    let (img, key) = image(3);
    let (v, ev) = boot(&img, &key);
    assert_eq!(v, Some(alloc::vec![0, 1]));
    // Hashing starts before anything is built; the ordinary domain is built
    // only after the hashes are checked; the console IRQ is taken before
    // the vGIC links the SPIs.
    let pos = |e: &str| {
        ev.iter()
            .position(|x| x == e)
            .unwrap_or_else(|| panic!("{e} in {ev:?}"))
    };
    assert_eq!(pos("hashing started"), 0);
    assert!(pos("hashing finished") < ev.iter().rposition(|x| x == "build").unwrap());
    assert!(pos("console irq 33") < pos("vgic for d0"));
}

#[test]
fn a_tampered_module_refuses_exactly_its_domain() {
    let (mut img, key) = image(3);
    let at = kernel_at(&img, 1) + 100;
    img[at] ^= 1;
    let (v, ev) = boot(&img, &key);
    assert_eq!(v, Some(alloc::vec![0]));
    assert_eq!(
        ev.iter().filter(|e| *e == "build").count(),
        1,
        "d1 never built: {ev:?}"
    );
}

#[test]
fn a_tampered_hardware_domain_halts() {
    let (mut img, key) = image(3);
    let at = kernel_at(&img, 0) + 100;
    img[at] ^= 1;
    assert_eq!(boot(&img, &key).0, None);
}

#[test]
fn a_bad_table_or_signature_refuses_everything() {
    let (img, key) = image(3);
    // Signed by another key.
    let (_, other) = image(4);
    let (v, ev) = boot(&img, &other);
    assert_eq!(v, Some(Vec::new()));
    assert!(!ev.iter().any(|e| e == "build"), "{ev:?}");
    assert!(
        ev.iter().any(|e| e == "hashing finished"),
        "helpers finished: {ev:?}"
    );
    // A flipped bit in the table.
    let mut bad = img.clone();
    bad[TABLE_AT as usize + 70] ^= 0x40;
    assert_eq!(boot(&bad, &key).0, Some(Vec::new()));
    // No table at all.
    let zeros = vec![0u8; img.len()];
    let (v, ev) = boot(&zeros, &key);
    assert_eq!(v, Some(Vec::new()));
    assert!(ev.is_empty(), "{ev:?}");
}

#[test]
fn each_domain_needs_physical_cpus_of_its_own() {
    // Unpinned, d1's vCPU 0 would share CPU 0 with dom0; CPU 5 does not exist.
    for cpus in [0, 1 << 5] {
        let (img, key) = pinned_image(3, cpus);
        assert_eq!(boot(&img, &key).0, Some(alloc::vec![0]), "d1 on {cpus:#b}");
    }
}

const QEMU_VIRT: &[u8] = include_bytes!("../../../../tests/fixtures/dtb/qemu-virt-gicv3.dtb");

fn device(path: &str, base: u64, irq: u32) -> DeviceSpec {
    DeviceSpec {
        domain: 1,
        path: path.into(),
        mmio: alloc::vec![(base, 0x1000)],
        irqs: alloc::vec![irq],
    }
}

#[test]
fn a_device_goes_to_its_domain_and_dom0_loses_it() {
    let (img, key) = device_image(3, 0b10, &[device("/pl031@9010000", 0x0901_0000, 34)]);
    let (v, _) = boot_on(&img, &key, QEMU_VIRT);
    let v = v.unwrap();
    assert_eq!(v.iter().map(|d| d.id).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(v[1].devices.irqs().collect::<Vec<_>>(), [34]);
    assert_eq!(v[0].withheld_irqs, [34]);
    assert!(v[0].devices.is_empty());
}

#[test]
fn a_device_the_host_contradicts_refuses_only_its_domain() {
    // The RTC's line is 34, not 35: d1 is refused before it is built;
    // dom0 still runs, and still does not get the device.
    let (img, key) = device_image(3, 0b10, &[device("/pl031@9010000", 0x0901_0000, 35)]);
    let (v, ev) = boot_on(&img, &key, QEMU_VIRT);
    let v = v.unwrap();
    assert_eq!(v.iter().map(|d| d.id).collect::<Vec<_>>(), [0]);
    assert_eq!(v[0].withheld_irqs, [35]);
    assert_eq!(ev.iter().filter(|e| *e == "build").count(), 1, "{ev:?}");
    // The hypervisor's own UART cannot be given either.
    let (img, key) = device_image(3, 0b10, &[device("/pl011@9000000", 0x0900_0000, 33)]);
    let (v, _) = boot_on(&img, &key, QEMU_VIRT);
    assert_eq!(v.unwrap().len(), 1);
}

#[test]
fn beside_a_hardware_domain_each_domain_gets_a_store_channel() {
    let (img, key) = image(3);
    let (v, ev) = boot_on(&img, &key, &sample_host_dtb());
    let v = v.unwrap();
    let store = v[1].xen.lock().store_evtchn;
    assert_ne!(store, 0, "{ev:?}");
    assert_eq!(v[1].store_backend, Some(0));
    assert_eq!(
        v[1].xen.lock().ports.get(store).unwrap().binding,
        crate::domain::events::Binding::Unbound { remote: 0 }
    );
    assert_eq!(v[0].xen.lock().store_evtchn, 0);
    assert_eq!(v[0].store_backend, None);
}
