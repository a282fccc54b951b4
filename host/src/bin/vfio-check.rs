//! `vfio-check`: the VFIO backend against a real kernel, on QEMU's `edu` device.
//!
//! Runs inside the guest that `scripts/vfio-qemu` boots (a Linux kernel with a
//! virtual IOMMU, `edu` bound to vfio-pci). It uses the project's VFIO backend
//! itself, not a copy: open (container, group, device), BAR0, config space,
//! DMA both ways through the IOVA allocator, an MSI, a DMA after UNMAP that
//! the IOMMU must block, the errors a user meets (no IOMMU, unbound device,
//! wrong driver, group not viable, busy group, no permission), and the NIC driver refusing a
//! device that is not the NIC. Modes: `--before-vfio` (run before vfio-pci is
//! loaded), `--no-iommu` (a boot without the virtual IOMMU), `--not-viable` (edu
//! shares its group with a device a host driver holds), `--open-as-child`
//! (internal: the permission check). One line per check, then
//! `vfio-check: N passed, N failed` and the marker the harness looks for.
//!
//! `edu` (QEMU `hw/misc/edu.c`): BAR0 0x00 ID (0x010000ed), 0x04 liveness
//! (reads back inverted), 0x08 factorial, 0x20 status (bit 0 busy), 0x24 IRQ
//! status, 0x60 raise IRQ, 0x64 acknowledge IRQ, 0x80/0x88/0x90/0x98 DMA
//! source/destination/count/command; its DMA buffer is at 0x40000 (4 KiB) and
//! it drives at most 28 address bits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nic_host::dev::vfio::{ResetOutcome, VfioDevice, VfioError, VfioOptions};
use nic_host::dev::{DevError, Device, DeviceExt};
use nic_host::Driver;

const EDU_IDS: &str = "1234:11e8";
const EDU_ID_VALUE: u32 = 0x0100_00ed;
const LIVENESS: u32 = 0x04;
const FACT: u32 = 0x08;
const STATUS: u32 = 0x20;
const IRQ_STATUS: u32 = 0x24;
const IRQ_RAISE: u32 = 0x60;
const IRQ_ACK: u32 = 0x64;
const DMA_SRC: u32 = 0x80;
const DMA_DST: u32 = 0x88;
const DMA_CNT: u32 = 0x90;
const DMA_CMD: u32 = 0x98;
const DMA_START: u32 = 1;
const DMA_TO_RAM: u32 = 2;
const DMA_IRQ: u32 = 4;
const EDU_BUF: u32 = 0x40000;
/// QEMU 7.2's edu aborts on a transfer of exactly 4096 bytes.
const XFER: usize = 2048;

const WAIT: Duration = Duration::from_secs(2);

struct Report {
    passed: u32,
    failed: u32,
}

impl Report {
    fn check(&mut self, name: &str, r: Result<String, String>) {
        match r {
            Ok(detail) => {
                self.passed += 1;
                println!("ok   {name}: {detail}");
            }
            Err(why) => {
                self.failed += 1;
                println!("FAIL {name}: {why}");
            }
        }
    }
}

fn e<E: std::fmt::Display>(x: E) -> String {
    x.to_string()
}

/// Finds the first PCI function with `edu`'s vendor:device in sysfs.
fn find_edu() -> Option<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/bus/pci/devices")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    let sysfs = nic_host::dev::vfio::Sysfs::default();
    v.into_iter().find(|b| sysfs.ids(b).as_deref() == Some(EDU_IDS))
}

/// One edu DMA: `count` bytes from `src` to `dst`, waiting for the engine to go idle.
fn edu_dma(dev: &VfioDevice, src: u64, dst: u64, count: usize, cmd: u32) -> Result<(), DevError> {
    // edu decodes 64-bit registers from 32-bit writes of the low half; IOVAs here are < 2^28.
    dev.write32(DMA_SRC, src as u32)?;
    dev.write32(DMA_DST, dst as u32)?;
    dev.write32(DMA_CNT, count as u32)?;
    dev.write32(DMA_CMD, cmd | DMA_START)?;
    dev.wait_clear(DMA_CMD, DMA_START, WAIT).map(drop)
}

fn pattern(seed: u8) -> Vec<u8> {
    (0..XFER).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Where the check run before vfio-pci was loaded leaves its result for the main run.
const PRE_RESULT: &str = "/pre-vfio.txt";

fn main() {
    let started = Instant::now();
    let mut rep = Report { passed: 0, failed: 0 };
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    let Some(bdf) = find_edu() else {
        println!("FAIL find edu: no PCI device {EDU_IDS} in /sys/bus/pci/devices (is QEMU run with -device edu?)");
        finish(0, 1, started);
        return;
    };
    match mode {
        // Before vfio-pci is loaded: edu has no driver; the message must say how to bind it.
        "--before-vfio" => {
            let line = match VfioDevice::open(&bdf) {
                Err(err @ VfioError::WrongDriver { driver: None, .. })
                    if err.to_string().contains("modprobe vfio-pci") =>
                {
                    format!("ok   unbound device: bind commands printed: {}", err.to_string().replace('\n', " / "))
                }
                other => format!("FAIL unbound device: expected WrongDriver without a driver, got {other:?}"),
            };
            if let Err(e) = std::fs::write(PRE_RESULT, line + "\n") {
                println!("FAIL cannot write {PRE_RESULT}: {e}");
            }
            return;
        }
        // Booted without a virtual IOMMU: the message must say to turn the IOMMU on.
        "--no-iommu" => {
            rep.check(
                "no IOMMU: told to enable it",
                match VfioDevice::open(&bdf) {
                    Err(err @ VfioError::NoIommu(_)) if err.to_string().contains("intel_iommu=on") => {
                        Ok(err.to_string())
                    }
                    other => Err(format!("expected NoIommu, got {other:?}")),
                },
            );
            finish(rep.passed, rep.failed, started);
            return;
        }
        // edu shares its IOMMU group with a device virtio-pci holds: the message must name it.
        "--not-viable" => {
            rep.check(
                "group not viable: the other device named",
                match VfioDevice::open(&bdf) {
                    Err(err @ VfioError::GroupNotViable { .. }) if err.to_string().contains("driver virtio-pci") => {
                        Ok(err.to_string().replace('\n', " / "))
                    }
                    other => Err(format!("expected GroupNotViable naming virtio-pci, got {other:?}")),
                },
            );
            finish(rep.passed, rep.failed, started);
            return;
        }
        // Run as nobody by the main check: the group node is root's, so this must be refused.
        "--open-as-child" => match VfioDevice::open(&bdf) {
            Err(err @ VfioError::Permission(_)) => {
                println!("{err}");
                std::process::exit(0)
            }
            other => {
                println!("expected Permission, got {other:?}");
                std::process::exit(1)
            }
        },
        _ => {}
    }
    println!("vfio-check: edu at {bdf}");
    if let Ok(pre) = std::fs::read_to_string(PRE_RESULT) {
        for l in pre.lines() {
            let (ok, rest) = (l.starts_with("ok"), l.split_once(' ').map_or(l, |x| x.1).trim());
            let (name, detail) = rest.split_once(": ").unwrap_or((rest, ""));
            rep.check(name, if ok { Ok(detail.to_string()) } else { Err(detail.to_string()) });
        }
    }
    let opts = opts_main();

    // The errors a user meets, on this real kernel.
    rep.check(
        "bad address refused",
        match VfioDevice::open("00:3z.0") {
            Err(err @ VfioError::BadAddress(_)) => Ok(err.to_string()),
            other => Err(format!("expected BadAddress, got {other:?}")),
        },
    );
    rep.check(
        "missing device named",
        match VfioDevice::open("0000:00:1f.7") {
            Err(err @ VfioError::NoDevice(_)) => Ok(err.to_string()),
            other => Err(format!("expected NoDevice, got {other:?}")),
        },
    );
    // q35's host bridge (00:00.0) has no driver in this guest, and is not vfio-pci.
    rep.check(
        "other driver: rebind commands printed",
        match VfioDevice::open("00:00.0") {
            Err(err @ VfioError::WrongDriver { .. }) if err.to_string().contains("driver_override") => {
                Ok(err.to_string())
            }
            other => Err(format!("expected WrongDriver with commands, got {other:?}")),
        },
    );

    let dev = match VfioDevice::open_with(&bdf, opts.clone()) {
        Ok(d) => d,
        Err(err) => {
            rep.check("open", Err(err.to_string()));
            finish(rep.passed, rep.failed, started);
            return;
        }
    };
    rep.check("open container/group/device", Ok(dev.describe()));
    rep.check("no permission: told what to do", open_as_nobody());
    rep.check(
        "group busy while open",
        match VfioDevice::open_with(&bdf, opts) {
            Err(err @ VfioError::Busy(_)) => Ok(err.to_string()),
            other => Err(format!("expected Busy, got {other:?}")),
        },
    );
    rep.check(
        "reset where offered",
        match dev.reset_outcome() {
            ResetOutcome::Done => Ok("reset done".into()),
            ResetOutcome::NotOffered => Ok("device offers no reset (edu has none): skipped".into()),
            ResetOutcome::Failed(why) => Ok(format!("offered but failed ({why}): used as found, as logged")),
        },
    );
    rep.check(
        "bus master enabled",
        match dev.bus_master() {
            Ok(true) => Ok(format!("PCI command 0x{:04x}", dev.config_read16(4).unwrap_or(0))),
            Ok(false) => Err("Bus Master Enable is clear".into()),
            Err(err) => Err(err.to_string()),
        },
    );
    rep.check(
        "BAR0 ID register",
        match dev.read32(0) {
            Ok(EDU_ID_VALUE) => Ok(format!("0x{EDU_ID_VALUE:08x}, BAR0 {} bytes", dev.bar0_size())),
            Ok(v) => Err(format!("read 0x{v:08x}, expected 0x{EDU_ID_VALUE:08x}")),
            Err(err) => Err(err.to_string()),
        },
    );
    rep.check(
        "BAR0 write/read",
        (|| {
            dev.write32(LIVENESS, 0x1234_5678).map_err(e)?;
            let v = dev.read32(LIVENESS).map_err(e)?;
            dev.write32(FACT, 10).map_err(e)?;
            dev.wait_clear(STATUS, 1, WAIT).map_err(e)?;
            let f = dev.read32(FACT).map_err(e)?;
            if v == !0x1234_5678 && f == 3_628_800 {
                Ok(format!("liveness 0x{v:08x}, 10! = {f}"))
            } else {
                Err(format!("liveness 0x{v:08x}, factorial {f}"))
            }
        })(),
    );
    rep.check(
        "out-of-BAR access refused",
        match dev.read32(dev.bar0_size() as u32) {
            Err(DevError::Bus { .. }) => Ok("bus error, no access".into()),
            other => Err(format!("expected a bus error, got {other:?}")),
        },
    );

    // DMA both ways: main region -> edu -> a second mapping from the IOVA allocator.
    let second = dev.map_dma(8192);
    rep.check(
        "DMA round trip through two IOVA mappings",
        (|| {
            let second = second.as_ref().map_err(e)?;
            let a = dev.dma().alloc(XFER).map_err(e)?;
            let b = second.region().alloc(XFER).map_err(e)?;
            let p = pattern(7);
            a.write_at(0, &p).map_err(e)?;
            b.zero();
            edu_dma(&dev, a.iova(), EDU_BUF.into(), XFER, 0).map_err(e)?;
            edu_dma(&dev, EDU_BUF.into(), b.iova(), XFER, DMA_TO_RAM).map_err(e)?;
            let mut back = vec![0u8; XFER];
            b.read_at(0, &mut back).map_err(e)?;
            if back == p {
                Ok(format!("{XFER} bytes 0x{:x} -> edu -> 0x{:x}", a.iova(), b.iova()))
            } else {
                Err("data came back different".into())
            }
        })(),
    );

    // MSI through the eventfd: a raised interrupt, then a DMA's completion interrupt.
    rep.check(
        "MSI via eventfd",
        (|| {
            if dev.irq_kind() == "none (polling)" {
                return Err("no MSI/MSI-X vectors were set up".into());
            }
            let _ = dev.wait_irq(Duration::ZERO); // drop anything stale
            dev.write32(IRQ_RAISE, 0x1).map_err(e)?;
            let t = Instant::now();
            if !dev.wait_irq(WAIT).map_err(e)? {
                return Err(format!(
                    "no interrupt within {WAIT:?} (IRQ status 0x{:x})",
                    dev.read32(IRQ_STATUS).unwrap_or(0)
                ));
            }
            let lat = t.elapsed();
            let st = dev.read32(IRQ_STATUS).map_err(e)?;
            dev.write32(IRQ_ACK, st).map_err(e)?;
            let a = dev.dma().alloc(64).map_err(e)?;
            edu_dma(&dev, EDU_BUF.into(), a.iova(), 64, DMA_TO_RAM | DMA_IRQ).map_err(e)?;
            if !dev.wait_irq(WAIT).map_err(e)? {
                return Err("no interrupt for the DMA completion".into());
            }
            let st2 = dev.read32(IRQ_STATUS).map_err(e)?;
            dev.write32(IRQ_ACK, st2).map_err(e)?;
            if dev.wait_irq(Duration::from_millis(50)).map_err(e)? {
                return Err("an interrupt arrived after all were acknowledged".into());
            }
            Ok(format!("{}: raised (status 0x{st:x}, {lat:?}), DMA done (status 0x{st2:x})", dev.irq_kind()))
        })(),
    );

    // After UNMAP_DMA the IOMMU must block the device, both ways; the memory itself stays ours.
    rep.check(
        "DMA after UNMAP is blocked",
        (|| {
            let mut gone = dev.map_dma(4096).map_err(e)?;
            let region = Arc::clone(gone.region());
            let c = region.alloc(XFER).map_err(e)?;
            let stale = pattern(99);
            c.write_at(0, &stale).map_err(e)?;
            let iova = c.iova();
            // Load edu's buffer with a known pattern first.
            let src = dev.dma().alloc(XFER).map_err(e)?;
            let fresh = pattern(1);
            src.write_at(0, &fresh).map_err(e)?;
            edu_dma(&dev, src.iova(), EDU_BUF.into(), XFER, 0).map_err(e)?;
            gone.unmap().map_err(e)?;
            // edu -> unmapped IOVA: the host memory must not change.
            edu_dma(&dev, EDU_BUF.into(), iova, XFER, DMA_TO_RAM).map_err(e)?;
            let mut now = vec![0u8; XFER];
            c.read_at(0, &mut now).map_err(e)?;
            if now != stale {
                return Err(format!("a DMA write reached unmapped IOVA 0x{iova:x}"));
            }
            // unmapped IOVA -> edu: the stale bytes must not reach the device.
            edu_dma(&dev, iova, EDU_BUF.into(), XFER, 0).map_err(e)?;
            let check = dev.dma().alloc(XFER).map_err(e)?;
            edu_dma(&dev, EDU_BUF.into(), check.iova(), XFER, DMA_TO_RAM).map_err(e)?;
            check.read_at(0, &mut now).map_err(e)?;
            if now == stale {
                return Err(format!("a DMA read fetched unmapped IOVA 0x{iova:x}"));
            }
            // The freed IOVA range is handed out again (first fit).
            let again = dev.map_dma(4096).map_err(e)?;
            if again.region().iova_base() != region.iova_base() {
                return Err(format!("IOVA 0x{:x} not reused", region.iova_base()));
            }
            Ok(format!("write to and read from 0x{iova:x} blocked after UNMAP_DMA; range reused"))
        })(),
    );
    drop(second);

    // The NIC driver must refuse edu, naming what it found and what it expected.
    let describe = dev.describe();
    let r = Driver::attach(Arc::new(dev));
    rep.check(
        "driver refuses a device that is not the NIC",
        match r {
            Ok(_) => Err("the driver attached to edu".into()),
            Err(err) => {
                let msg = err.to_string();
                if msg.contains(&format!("0x{EDU_ID_VALUE:08x}"))
                    && msg.contains("0x4f464c44")
                    && msg.contains(&describe)
                {
                    Ok(msg)
                } else {
                    Err(format!("message does not name both IDs and the device: {msg}"))
                }
            }
        },
    );
    // The refused device was dropped with the driver's Arc (group closed): open it again without
    // interrupts, as a backend for a device with no MSI would be, and the driver's fallback applies;
    // and without mapping BAR0, the register path of a BAR that cannot be mapped.
    rep.check(
        "no interrupts: polling fallback; BAR0 by pread/pwrite",
        (|| {
            let opts = VfioOptions { irq: false, bar_mmap: false, ..opts_main() };
            let d = VfioDevice::open_with(&bdf, opts).map_err(e)?;
            match d.wait_irq(Duration::from_millis(10)) {
                Err(DevError::NoInterrupts) => {}
                other => return Err(format!("expected NoInterrupts, got {other:?}")),
            }
            d.write32(LIVENESS, 0x0bad_cafe).map_err(e)?;
            let (id, live) = (d.read32(0).map_err(e)?, d.read32(LIVENESS).map_err(e)?);
            if d.bar0_mapped() || id != EDU_ID_VALUE || live != !0x0bad_cafe {
                return Err(format!("mapped {}, ID 0x{id:08x}, liveness 0x{live:08x}", d.bar0_mapped()));
            }
            Ok(format!("reopened after close; {} -> the driver polls; ID 0x{id:08x} by pread", d.irq_kind()))
        })(),
    );
    finish(rep.passed, rep.failed, started);
}

/// The options of the main check: a small DMA region in edu's 28-bit reach.
fn opts_main() -> VfioOptions {
    VfioOptions { dma_bytes: 64 << 10, iova_base: 1 << 20, iova_limit: 1 << 28, ..Default::default() }
}

/// Re-runs this binary as user nobody to open the device: it must get the permission message.
fn open_as_nobody() -> Result<String, String> {
    use std::os::unix::process::CommandExt;
    let out = std::process::Command::new("/proc/self/exe")
        .arg("--open-as-child")
        .uid(65534)
        .gid(65534)
        .output()
        .map_err(|e| format!("cannot run myself as nobody: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && text.contains("permission denied") && text.contains("ulimit -l") {
        Ok(text)
    } else {
        Err(text)
    }
}

/// Prints the closing count and the marker the harness checks (QEMU exits 0 whatever the guest did).
fn finish(passed: u32, failed: u32, started: Instant) {
    println!("vfio-check: {passed} passed, {failed} failed");
    println!("VFIO-CHECK-DONE status={} in {:?}", if failed == 0 { "ok" } else { "failed" }, started.elapsed());
    if failed > 0 {
        std::process::exit(1);
    }
}
