//! A register block's header (`nic_abi::regs::block`): TYPE, VERSION and NEXT,
//! read-only, at the block's base. Every block after the ID block answers its
//! header through one of these, so the chain a driver walks is built the same
//! way everywhere; the values are the build's (a queue pair's NEXT depends on
//! how many pairs the build has).
//!
//! Combinational: `rdata`/`hit` follow `raddr` in the same cycle, for the
//! owner to put in its read multiplexer.

use crate::AXIL_ADDR;
use nic_abi::regs::block as hdr_block;
use rust_hdl::prelude::*;

/// The three header words of one register block.
#[derive(LogicBlock)]
pub struct RegHeader {
    /// Read address.
    pub raddr: Signal<In, Bits<AXIL_ADDR>>,
    /// The header word at `raddr`; 0 when `raddr` is not one of them.
    pub rdata: Signal<Out, Bits<32>>,
    /// `raddr` is one of this header's words.
    pub hit: Signal<Out, Bit>,
    a_type: Constant<Bits<AXIL_ADDR>>,
    a_ver: Constant<Bits<AXIL_ADDR>>,
    a_next: Constant<Bits<AXIL_ADDR>>,
    v_type: Constant<Bits<32>>,
    v_ver: Constant<Bits<32>>,
    v_next: Constant<Bits<32>>,
}

impl RegHeader {
    /// The header of the block at `base`: its `kind` (`block::TYPE_*`), `version`, and the offset
    /// of the next block (0 after the last).
    pub fn new(base: u32, kind: u32, version: u32, next: u32) -> Self {
        let a = |v: u32| Constant::new((v as u64).to_bits());
        let v = |v: u32| Constant::new((v as u64).to_bits());
        Self {
            raddr: Default::default(),
            rdata: Default::default(),
            hit: Default::default(),
            a_type: a(base + hdr_block::TYPE),
            a_ver: a(base + hdr_block::VERSION),
            a_next: a(base + hdr_block::NEXT),
            v_type: v(kind),
            v_ver: v(version),
            v_next: v(next),
        }
    }
}

impl Default for RegHeader {
    fn default() -> Self {
        Self::new(nic_abi::regs::ctrl::BLOCK, hdr_block::TYPE_CTRL, hdr_block::VERSION_1, 0)
    }
}

impl Logic for RegHeader {
    #[hdl_gen]
    fn update(&mut self) {
        self.rdata.next = 0.into();
        self.hit.next = true;
        if self.raddr.val() == self.a_type.val() {
            self.rdata.next = self.v_type.val();
        } else if self.raddr.val() == self.a_ver.val() {
            self.rdata.next = self.v_ver.val();
        } else if self.raddr.val() == self.a_next.val() {
            self.rdata.next = self.v_next.val();
        } else {
            self.hit.next = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::lint;
    use nic_abi::regs::{queue_pair, BAR0_SIZE};
    use rand::{Rng, SeedableRng};

    #[test]
    fn reg_header_lints_in_verilator() {
        let mut b = RegHeader::default();
        b.connect_all();
        lint("reg_header", &generate_verilog(&b));
    }

    /// The ABI's header layout: TYPE, VERSION, NEXT at +0, +4, +8 of the block; every other
    /// address of BAR0 (random, and the words around the header) reads 0 and is no hit.
    #[test]
    fn answers_its_three_words_and_nothing_else() {
        let seed = crate::testing::seed(0x4ead);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let (base, next) = (queue_pair(1), queue_pair(2));
        let mut b = RegHeader::new(base, hdr_block::TYPE_QUEUE_PAIR, 7, next);
        b.connect_all();
        let want = |a: u32| match a.wrapping_sub(base) {
            0 => Some(hdr_block::TYPE_QUEUE_PAIR),
            4 => Some(7),
            8 => Some(next),
            _ => None,
        };
        let near = (0..8).map(|i| base.wrapping_sub(8) + 4 * i);
        let random = (0..2000).map(|_| 4 * rng.gen_range(0..BAR0_SIZE / 4));
        for a in near.chain(random) {
            b.raddr.next = (a as u64).to_bits();
            assert!(simulate(&mut b, 10));
            assert_eq!(b.hit.val(), want(a).is_some(), "hit at {a:#x}");
            assert_eq!(b.rdata.val().index() as u32, want(a).unwrap_or(0), "read of {a:#x}");
        }
    }
}
