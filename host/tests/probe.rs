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

#[test]
fn the_previous_abi_is_refused_naming_both_versions() {
    // ABI 2.x had BAR0 at 4 KiB without block headers; 3.0 moved every block.
    let msg = refuse(Regs::new(&[(id::ID, NIC_ID), (id::VERSION, (2 << 16) | 1)]));
    let ours = format!("{}.{}", nic_abi::ABI_MAJOR, nic_abi::ABI_MINOR);
    assert!(msg.contains("ABI 2.1") && msg.contains(&ours) && msg.contains("rebuild"), "{msg}");
}

/// An ID block this driver accepts, one queue pair, no RSS, and the register chain `chain`
/// ((offset, type, next) per block after the ID block, whose NEXT is `first`).
fn with_chain(first: u32, chain: &[(u32, u32, u32)]) -> Arc<Regs> {
    use nic_abi::regs::block;
    let mut v = vec![
        (id::ID, NIC_ID),
        (id::VERSION, ABI_VERSION),
        (id::RING_LIMITS, id::RING_MAX_LOG2.put(nic_abi::RING_MAX_LOG2) | id::RING_MIN_LOG2.put(nic_abi::RING_MIN_LOG2)),
        (id::MAX_FRAME, nic_abi::MAX_FRAME),
        (id::NUM_QUEUES, 1),
        (id::NEXT, first),
    ];
    for &(off, kind, next) in chain {
        v.extend([(off + block::TYPE, kind), (off + block::VERSION, block::VERSION_1), (off + block::NEXT, next)]);
    }
    Regs::new(&v)
}

fn refuse_layout(dev: Arc<Regs>) -> String {
    let err = match Driver::attach(dev.clone()) {
        Ok(_) => panic!("the driver attached"),
        Err(e) => e,
    };
    assert_eq!(*dev.writes.lock().unwrap(), 0, "the driver wrote to a device it refused");
    assert!(matches!(err, Error::Layout(_)), "{err:?}");
    err.to_string()
}

#[test]
fn a_register_chain_that_loops_or_runs_backwards_is_refused() {
    use nic_abi::regs::{block, ctrl};
    let msg = refuse_layout(with_chain(ctrl::BLOCK, &[(ctrl::BLOCK, block::TYPE_CTRL, ctrl::BLOCK)]));
    assert!(msg.contains("0x100 says the next is at 0x100") && msg.contains("forward"), "{msg}");
    let msg = refuse_layout(with_chain(0x123, &[]));
    assert!(msg.contains("next is at 0x123"), "{msg}");
}

#[test]
fn a_register_chain_without_a_block_the_driver_needs_is_refused_naming_it() {
    use nic_abi::regs::{block, ctrl, queue_pair, stats};
    let ctrl_stats = [(ctrl::BLOCK, block::TYPE_CTRL, stats::BLOCK), (stats::BLOCK, block::TYPE_STATS, 0)];
    let msg = refuse_layout(with_chain(ctrl::BLOCK, &ctrl_stats));
    assert!(msg.contains(&format!("no queue pair block at 0x{:x}", queue_pair(0))), "{msg}");
    // The right offsets with a wrong type: named, with what was found.
    let msg = refuse_layout(with_chain(ctrl::BLOCK, &[(ctrl::BLOCK, block::TYPE_STATS, 0)]));
    assert!(msg.contains("expects the CTRL block"), "{msg}");
    // One queue pair too many in the chain.
    let two = [
        (ctrl::BLOCK, block::TYPE_CTRL, stats::BLOCK),
        (stats::BLOCK, block::TYPE_STATS, queue_pair(0)),
        (queue_pair(0), block::TYPE_QUEUE_PAIR, queue_pair(1)),
        (queue_pair(1), block::TYPE_QUEUE_PAIR, 0),
    ];
    let msg = refuse_layout(with_chain(ctrl::BLOCK, &two));
    assert!(msg.contains("NUM_QUEUES says 1 queue pairs, the register chain has 2"), "{msg}");
}
