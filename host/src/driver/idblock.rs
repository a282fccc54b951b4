//! The self-describing ID block (register block 0x000, `nic_abi::regs::id`):
//! read, checked against the ABI this driver speaks, and decoded; then the
//! chain of register blocks it starts (`nic_abi::regs::block`), walked and
//! checked against the layout this driver uses.

use nic_abi::regs::{block, ctrl, id, queue_pair, rss, stats, BAR0_SIZE};
use nic_abi::{ABI_MAJOR, ABI_MINOR, MAX_FRAME, MAX_QUEUES, MIN_TX_FRAME, NIC_ID, RING_MAX_LOG2, RING_MIN_LOG2};

use super::error::Error;
use crate::dev::Device;

/// The ID block, decoded: what this NIC is and can do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The backend's description.
    pub describe: String,
    /// ABI major version.
    pub abi_major: u16,
    /// ABI minor version (a newer minor is compatible).
    pub abi_minor: u16,
    /// Hash of the RTL source.
    pub build_hash: u32,
    /// `IFCAP_*` the hardware has.
    pub caps: u32,
    /// Datapath width in bits.
    pub datapath_bits: u32,
    /// Core clock in kHz.
    pub clock_khz: u32,
    /// Smallest ring, log2 (at least the ABI's minimum).
    pub ring_min_log2: u32,
    /// Largest ring, log2 (at most the ABI's maximum).
    pub ring_max_log2: u32,
    /// Largest frame in bytes.
    pub max_frame: u32,
    /// TSO burst limit (0: no TSO).
    pub tso_max: u32,
    /// TSO segment count limit.
    pub tso_max_segs: u16,
    /// TSO DMA segment size limit.
    pub tso_max_segsize: u16,
    /// TOE contexts (0: no TOE).
    pub toe_contexts: u32,
    /// TX/RX queue pairs the NIC has (the driver may use fewer: [`Driver::num_queues`]).
    pub num_queues: u32,
    /// RSS indirection-table entries (0: no RSS in this build).
    pub rss_reta_size: u32,
    /// RSS key bytes (0: no RSS in this build).
    pub rss_key_size: u32,
    /// RSS hash types the NIC computes (`RSS_HASHTYPE_*` bits).
    pub rss_hashtypes: u32,
    /// The register blocks, in chain order, the ID block first.
    pub blocks: Vec<RegBlock>,
}

/// A register block found by walking the chain from the ID block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegBlock {
    /// Its offset in BAR0.
    pub offset: u32,
    /// Its type (`nic_abi::regs::block::TYPE_*`; the ID block's is `NIC_ID`).
    pub kind: u32,
    /// Its layout version.
    pub version: u32,
}

/// Follows `NEXT` from the ID block. Each step must go forward, in whole blocks, inside BAR0, so
/// a device that answers nonsense ends the walk with an error instead of looping.
fn walk_blocks(dev: &dyn Device, id_version: u32) -> Result<Vec<RegBlock>, Error> {
    let mut out = vec![RegBlock { offset: 0, kind: NIC_ID, version: id_version }];
    let mut at = dev.read32(id::NEXT)?;
    while at != 0 {
        let prev = out[out.len() - 1].offset;
        if at <= prev || at % block::SIZE != 0 || at >= BAR0_SIZE {
            return Err(Error::Layout(format!(
                "the register block at 0x{prev:x} says the next is at 0x{at:x}; a chain goes forward through \
                 BAR0 (0x{BAR0_SIZE:x} bytes) in steps of 0x{:x}: is this bitstream built from this nic-abi?",
                block::SIZE
            )));
        }
        out.push(RegBlock { offset: at, kind: dev.read32(at + block::TYPE)?, version: dev.read32(at + block::VERSION)? });
        at = dev.read32(at + block::NEXT)?;
    }
    Ok(out)
}

/// The blocks this driver uses must be in the chain where the ABI puts them, of their type and
/// version; the chain must hold exactly `num_queues` queue pairs.
fn check_blocks(blocks: &[RegBlock], num_queues: u32, rss: bool) -> Result<(), Error> {
    let mut want = vec![(ctrl::BLOCK, block::TYPE_CTRL, "CTRL"), (stats::BLOCK, block::TYPE_STATS, "STATS")];
    if rss {
        want.push((rss::BLOCK, block::TYPE_RSS, "RSS"));
    }
    want.extend((0..num_queues).map(|q| (queue_pair(q), block::TYPE_QUEUE_PAIR, "queue pair")));
    let found: Vec<String> = blocks.iter().map(|b| format!("0x{:x}: type 0x{:x} v{}", b.offset, b.kind, b.version)).collect();
    for (off, kind, name) in want {
        match blocks.iter().find(|b| b.offset == off) {
            None => {
                return Err(Error::Layout(format!(
                    "no {name} block at 0x{off:x} in the register chain (found {})",
                    found.join(", ")
                )))
            }
            Some(b) if b.kind != kind || b.version != block::VERSION_1 => {
                return Err(Error::Layout(format!(
                    "the block at 0x{off:x} is type 0x{:x} version {}; this driver expects the {name} block, type \
                     0x{kind:x} version {}",
                    b.kind,
                    b.version,
                    block::VERSION_1
                )))
            }
            Some(_) => {}
        }
    }
    let pairs = blocks.iter().filter(|b| b.kind == block::TYPE_QUEUE_PAIR).count() as u32;
    if pairs != num_queues {
        return Err(Error::Layout(format!(
            "NUM_QUEUES says {num_queues} queue pairs, the register chain has {pairs} (found {})",
            found.join(", ")
        )));
    }
    Ok(())
}

/// Reads and checks the ID block (0x000).
pub(super) fn read_id_block(dev: &dyn Device) -> Result<DeviceInfo, Error> {
    let describe = dev.describe();
    let found = dev.read32(id::ID)?;
    if found != NIC_ID {
        return Err(Error::WrongId { device: describe, found, expected: NIC_ID });
    }
    let ver = dev.read32(id::VERSION)?;
    let (found_major, found_minor) = (id::VERSION_MAJOR.get(ver) as u16, id::VERSION_MINOR.get(ver) as u16);
    if found_major != ABI_MAJOR {
        return Err(Error::WrongAbi {
            device: describe,
            found_major,
            found_minor,
            expected_major: ABI_MAJOR,
            expected_minor: ABI_MINOR,
        });
    }
    if found_minor > ABI_MINOR {
        log::info!("{describe}: NIC speaks ABI {found_major}.{found_minor}, newer than this driver's \
                    {ABI_MAJOR}.{ABI_MINOR}: compatible additions, which this driver does not use");
    }
    let limits = dev.read32(id::RING_LIMITS)?;
    let ring_max_log2 = id::RING_MAX_LOG2.get(limits).min(RING_MAX_LOG2);
    let ring_min_log2 = id::RING_MIN_LOG2.get(limits).max(RING_MIN_LOG2);
    let tso_segs = dev.read32(id::TSO_SEGS)?;
    let rss_info = dev.read32(id::RSS_INFO)?;
    let info = DeviceInfo {
        describe,
        abi_major: found_major,
        abi_minor: found_minor,
        build_hash: dev.read32(id::BUILD_HASH)?,
        caps: dev.read32(id::CAPS)?,
        datapath_bits: dev.read32(id::DATAPATH)?,
        clock_khz: dev.read32(id::CLOCK_KHZ)?,
        ring_min_log2,
        ring_max_log2,
        max_frame: dev.read32(id::MAX_FRAME)?,
        tso_max: dev.read32(id::TSO_MAX)?,
        tso_max_segs: id::TSO_MAX_SEGCOUNT.get(tso_segs) as u16,
        tso_max_segsize: id::TSO_MAX_SEGSIZE.get(tso_segs) as u16,
        toe_contexts: dev.read32(id::TOE_CONTEXTS)?,
        num_queues: dev.read32(id::NUM_QUEUES)?,
        rss_reta_size: id::RSS_RETA_SIZE.get(rss_info),
        rss_key_size: id::RSS_KEY_SIZE.get(rss_info),
        rss_hashtypes: dev.read32(id::RSS_HASHTYPES)?,
        blocks: walk_blocks(dev, ver)?,
    };
    if info.num_queues == 0 || info.num_queues > MAX_QUEUES {
        return Err(Error::Layout(format!(
            "the NIC reports {} queue pairs, this ABI allows 1..={MAX_QUEUES}",
            info.num_queues
        )));
    }
    let (reta, key) = (nic_abi::rss::RETA_SIZE as u32, nic_abi::rss::KEY_SIZE as u32);
    if rss_info != 0 && (info.rss_reta_size != reta || info.rss_key_size != key) {
        return Err(Error::Layout(format!(
            "RSS_INFO 0x{rss_info:x}: {} table entries and {}-byte key, this ABI has {reta} and {key}",
            info.rss_reta_size, info.rss_key_size
        )));
    }
    if info.max_frame < MIN_TX_FRAME || info.max_frame > MAX_FRAME {
        return Err(Error::Layout(format!(
            "MAX_FRAME {} outside {MIN_TX_FRAME}..={MAX_FRAME}",
            info.max_frame
        )));
    }
    if ring_min_log2 > ring_max_log2 {
        return Err(Error::Layout(format!("RING_LIMITS 0x{limits:x}: no ring size is allowed")));
    }
    check_blocks(&info.blocks, info.num_queues, rss_info != 0)?;
    Ok(info)
}
