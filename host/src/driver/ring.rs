//! Ring bookkeeping: free-running 16-bit indices over power-of-two rings.
//!
//! The driver's view of one queue (regs.rs, "Ring protocol"): descriptors are
//! produced at `prod` (the doorbell value), completed in order at `cons`; the
//! slot of index `i` is `i & mask`. A TX and an RX queue each pair a
//! descriptor ring with a completion queue of the same size, and every slot
//! owns one DMA buffer for the queue's lifetime, so a buffer is never lost
//! whatever the device writes.

use nic_abi::desc::Completion;
use zerocopy::FromBytes;

use crate::dev::{DevError, DmaBuf};

/// Index arithmetic for one ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ring {
    pub size_log2: u32,
    /// Next index to produce (free-running).
    pub prod: u16,
    /// Oldest outstanding index (free-running).
    pub cons: u16,
}

impl Ring {
    pub fn new(size_log2: u32) -> Self {
        Ring { size_log2, prod: 0, cons: 0 }
    }
    pub fn size(&self) -> usize {
        1 << self.size_log2
    }
    pub fn mask(&self) -> u16 {
        (self.size() - 1) as u16
    }
    pub fn slot(&self, idx: u16) -> usize {
        (idx & self.mask()) as usize
    }
    /// Descriptors produced and not yet completed.
    pub fn outstanding(&self) -> usize {
        self.prod.wrapping_sub(self.cons) as usize
    }
    pub fn is_full(&self) -> bool {
        self.outstanding() >= self.size()
    }
}

/// Reads the completion in `slot` of `cq`: the last 8 bytes (with the phase)
/// first, with `Acquire`, so the rest of the record and the frame data the
/// device wrote before it are visible to the loads after it.
pub(crate) fn read_completion(cq: &DmaBuf, slot: usize) -> Result<Completion, DevError> {
    let size = size_of::<Completion>();
    let base = slot * size;
    let hi = cq.load_u64(base + 8)?;
    let lo = cq.load_u64(base)?;
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&lo.to_ne_bytes());
    b[8..].copy_from_slice(&hi.to_ne_bytes());
    // Cannot fail: 16 bytes for a 16-byte, alignment-free record.
    Completion::read_from_bytes(&b[..]).map_err(|_| DevError::DmaRange { at: base as u64, len: size, size: cq.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_wrap_at_16_bits() {
        let mut r = Ring::new(4);
        r.prod = 0xfffe;
        r.cons = 0xfff0;
        assert_eq!(r.outstanding(), 14);
        r.prod = r.prod.wrapping_add(2);
        assert_eq!(r.outstanding(), 16);
        assert!(r.is_full());
        assert_eq!(r.slot(r.prod), 0);
        assert_eq!(r.slot(0xfff1), 1);
    }
}
