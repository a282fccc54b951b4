//! The driver's probe: it refuses what is not this NIC, or an ABI major it
//! does not speak, naming the device, what it found and what it expected,
//! and it writes nothing to a device it refused.
//!
//! The device here is a register file in memory: the probe only reads
//! registers, so nothing of the real backends is being imitated. The same
//! refusal on a real device (QEMU's `edu` through VFIO) is checked by
//! `vfio_qemu.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nic_abi::regs::id;
use nic_abi::{ABI_VERSION, NIC_ID};
use nic_host::dev::{DevError, Device, DmaRegion};
use nic_host::driver::Error;
use nic_host::Driver;

/// BAR0 as a map of register values; counts writes.
struct Regs {
    regs: HashMap<u32, u32>,
    writes: Mutex<u32>,
    dma: Arc<DmaRegion>,
}

impl Regs {
    fn new(vals: &[(u32, u32)]) -> Arc<Regs> {
        Arc::new(Regs {
            regs: vals.iter().copied().collect(),
            writes: Mutex::new(0),
            dma: DmaRegion::new(4096, 0x10_0000).unwrap(),
        })
    }
}

impl Device for Regs {
    fn describe(&self) -> String {
        "test device 1234:11e8".into()
    }
    fn read32(&self, off: u32) -> Result<u32, DevError> {
        Ok(self.regs.get(&off).copied().unwrap_or(0))
    }
    fn write32(&self, _off: u32, _val: u32) -> Result<(), DevError> {
        *self.writes.lock().unwrap() += 1;
        Ok(())
    }
    fn dma(&self) -> &Arc<DmaRegion> {
        &self.dma
    }
    fn wait_irq(&self, _t: Duration) -> Result<bool, DevError> {
        Err(DevError::NoInterrupts)
    }
}

fn refuse(dev: Arc<Regs>) -> String {
    let err = match Driver::attach(dev.clone()) {
        Ok(_) => panic!("the driver attached"),
        Err(e) => e,
    };
    assert_eq!(*dev.writes.lock().unwrap(), 0, "the driver wrote to a device it refused");
    let msg = err.to_string();
    assert!(msg.contains("test device 1234:11e8"), "device not named: {msg}");
    assert!(matches!(err, Error::WrongId { .. } | Error::WrongAbi { .. }), "{err:?}");
    msg
}

#[test]
fn another_device_is_refused_naming_both_ids() {
    // QEMU's edu device: its ID register reads 0x010000ed.
    let msg = refuse(Regs::new(&[(id::ID, 0x0100_00ed), (id::VERSION, ABI_VERSION)]));
    assert!(msg.contains("0x010000ed") && msg.contains("0x4f464c44") && msg.contains("OFLD"), "{msg}");
}

#[test]
fn a_silent_device_is_refused_with_a_hint() {
    let msg = refuse(Regs::new(&[(id::ID, u32::MAX)]));
    assert!(msg.contains("0xffffffff") && msg.contains("does not answer"), "{msg}");
}

#[test]
fn a_similar_magic_is_shown_as_text() {
    let msg = refuse(Regs::new(&[(id::ID, u32::from_be_bytes(*b"OFLE"))]));
    assert!(msg.contains("(\"OFLE\")"), "{msg}");
}

#[test]
fn another_abi_major_is_refused_naming_both_versions() {
    let other = nic_abi::ABI_MAJOR as u32 + 1;
    let msg = refuse(Regs::new(&[(id::ID, NIC_ID), (id::VERSION, (other << 16) | 3)]));
    let ours = format!("{}.{}", nic_abi::ABI_MAJOR, nic_abi::ABI_MINOR);
    assert!(msg.contains(&format!("ABI {other}.3")) && msg.contains(&ours), "{msg}");
}
