//! The RSS block's registers (`nic_abi::regs::rss`): enabled hash types, the
//! 40-byte key, and the 128-entry indirection table, with the table's lookup
//! port for the receive dispatcher.
//!
//! The table lives twice in block RAM, written together: one copy answers
//! the dispatcher (`look_hash` -> `look_q` a cycle later), the other register
//! reads, so a driver reading the table never steals a lookup cycle from a
//! frame. RAM reads take a cycle, so the register file presents the read
//! address (`raddr`) a cycle before it samples `rdata`. Power-on reset loads
//! the default key and every supported type; the table's contents are loaded
//! with the bitstream (entry `i` = `i % NUM_QUEUES`) and are not touched by
//! reset.

use nic_abi::regs::rss;
use nic_abi::rss::{reta_default, HASHTYPES_SUPPORTED, KEY_DEFAULT, RETA_SIZE};
use crate::AXIL_ADDR;
use rust_hdl::prelude::*;

/// The RSS registers and the indirection table.
#[derive(LogicBlock)]
pub struct RssRegs {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Power-on reset.
    pub reset: Signal<In, Bit>,
    /// A full-width register write happens this cycle.
    pub wfire: Signal<In, Bit>,
    /// Its address.
    pub waddr: Signal<In, Bits<AXIL_ADDR>>,
    /// Its data.
    pub wdata: Signal<In, Bits<32>>,
    /// Read address, a cycle before `rdata` is used.
    pub raddr: Signal<In, Bits<AXIL_ADDR>>,
    /// The same address, registered (what `rdata` answers).
    pub raddr_q: Signal<In, Bits<AXIL_ADDR>>,
    /// Read data for `raddr_q`: the register if it is this block's, else 0.
    pub rdata: Signal<Out, Bits<32>>,
    /// The key, first byte in bits 319..312.
    pub key: Signal<Out, Bits<320>>,
    /// Enabled hash types (`RSS_HASHTYPE_*`), masked by what the build computes.
    pub types: Signal<Out, Bits<32>>,
    /// A hash to look up (its low 7 bits pick the entry).
    pub look_hash: Signal<In, Bits<32>>,
    /// The entry for `look_hash` of the previous cycle.
    pub look_q: Signal<Out, Bits<8>>,
    kw: [DFF<Bits<32>>; 10],
    ty: DFF<Bits<32>>,
    lsel: DFF<Bits<2>>,
    reta_look: RAM<Bits<32>, 5>,
    reta_read: RAM<Bits<32>, 5>,
    kd: [Constant<Bits<32>>; 10],
    k_types: Constant<Bits<AXIL_ADDR>>,
    k_key: Constant<Bits<AXIL_ADDR>>,
    k_reta: Constant<Bits<AXIL_ADDR>>,
    v_supported: Constant<Bits<32>>,
}

impl RssRegs {
    /// The block for a build with `num_queues` queue pairs (the table's initial spread).
    pub fn new(num_queues: u32) -> Self {
        let k12 = |v: u32| Constant::new((v as u64).to_bits());
        let words = (0..RETA_SIZE / 4).map(|w| {
            let v = (0..4).fold(0u64, |acc, j| acc | (reta_default(4 * w + j, num_queues) as u64) << (8 * j));
            v.to_bits::<32>()
        });
        let words: Vec<Bits<32>> = words.collect();
        let kd: [Constant<Bits<32>>; 10] = std::array::from_fn(|i| {
            Constant::new((u32::from_be_bytes(KEY_DEFAULT[4 * i..4 * i + 4].try_into().unwrap()) as u64).to_bits())
        });
        Self {
            clock: Default::default(),
            reset: Default::default(),
            wfire: Default::default(),
            waddr: Default::default(),
            wdata: Default::default(),
            raddr: Default::default(),
            raddr_q: Default::default(),
            rdata: Default::default(),
            key: Default::default(),
            types: Default::default(),
            look_hash: Default::default(),
            look_q: Default::default(),
            kw: Default::default(),
            ty: Default::default(),
            lsel: Default::default(),
            reta_look: words.clone().into_iter().into(),
            reta_read: words.into_iter().into(),
            kd,
            k_types: k12(rss::HASHTYPES),
            k_key: k12(rss::KEY),
            k_reta: k12(rss::RETA),
            v_supported: Constant::new((HASHTYPES_SUPPORTED as u64).to_bits()),
        }
    }
}

impl Logic for RssRegs {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, ty, lsel);
        self.kw[0].clock.next = self.clock.val();
        self.kw[1].clock.next = self.clock.val();
        self.kw[2].clock.next = self.clock.val();
        self.kw[3].clock.next = self.clock.val();
        self.kw[4].clock.next = self.clock.val();
        self.kw[5].clock.next = self.clock.val();
        self.kw[6].clock.next = self.clock.val();
        self.kw[7].clock.next = self.clock.val();
        self.kw[8].clock.next = self.clock.val();
        self.kw[9].clock.next = self.clock.val();
        self.kw[0].d.next = self.kw[0].q.val();
        self.kw[1].d.next = self.kw[1].q.val();
        self.kw[2].d.next = self.kw[2].q.val();
        self.kw[3].d.next = self.kw[3].q.val();
        self.kw[4].d.next = self.kw[4].q.val();
        self.kw[5].d.next = self.kw[5].q.val();
        self.kw[6].d.next = self.kw[6].q.val();
        self.kw[7].d.next = self.kw[7].q.val();
        self.kw[8].d.next = self.kw[8].q.val();
        self.kw[9].d.next = self.kw[9].q.val();
        self.key.next = (bit_cast::<320, 32>(self.kw[0].q.val()) << 288)
            | (bit_cast::<320, 32>(self.kw[1].q.val()) << 256)
            | (bit_cast::<320, 32>(self.kw[2].q.val()) << 224)
            | (bit_cast::<320, 32>(self.kw[3].q.val()) << 192)
            | (bit_cast::<320, 32>(self.kw[4].q.val()) << 160)
            | (bit_cast::<320, 32>(self.kw[5].q.val()) << 128)
            | (bit_cast::<320, 32>(self.kw[6].q.val()) << 96)
            | (bit_cast::<320, 32>(self.kw[7].q.val()) << 64)
            | (bit_cast::<320, 32>(self.kw[8].q.val()) << 32)
            | bit_cast::<320, 32>(self.kw[9].q.val());
        self.types.next = self.ty.q.val();

        // The table: both copies written by one register write; entries are bytes.
        self.reta_look.write_clock.next = self.clock.val();
        self.reta_look.read_clock.next = self.clock.val();
        self.reta_read.write_clock.next = self.clock.val();
        self.reta_read.read_clock.next = self.clock.val();
        self.reta_look.write_address.next = self.waddr.val().get_bits::<5>(2);
        self.reta_read.write_address.next = self.waddr.val().get_bits::<5>(2);
        self.reta_look.write_data.next = self.wdata.val();
        self.reta_read.write_data.next = self.wdata.val();
        self.reta_look.write_enable.next =
            self.wfire.val() & ((self.waddr.val() & 0xf80_u64) == self.k_reta.val());
        self.reta_read.write_enable.next =
            self.wfire.val() & ((self.waddr.val() & 0xf80_u64) == self.k_reta.val());
        self.reta_look.read_address.next = self.look_hash.val().get_bits::<5>(2);
        self.lsel.d.next = self.look_hash.val().get_bits::<2>(0);
        self.look_q.next = self.reta_look.read_data.val().get_bits::<8>(0);
        if self.lsel.q.val() == 1 {
            self.look_q.next = self.reta_look.read_data.val().get_bits::<8>(8);
        }
        if self.lsel.q.val() == 2 {
            self.look_q.next = self.reta_look.read_data.val().get_bits::<8>(16);
        }
        if self.lsel.q.val() == 3 {
            self.look_q.next = self.reta_look.read_data.val().get_bits::<8>(24);
        }
        self.reta_read.read_address.next = self.raddr.val().get_bits::<5>(2);

        if self.wfire.val() {
            if self.waddr.val() == self.k_types.val() {
                self.ty.d.next = self.wdata.val() & self.v_supported.val();
            }
            if self.waddr.val() == self.k_key.val() {
                self.kw[0].d.next = self.wdata.val();
            }
            if self.waddr.val() == self.k_key.val() + 4 {
                self.kw[1].d.next = self.wdata.val();
            }
            if self.waddr.val() == self.k_key.val() + 8 {
                self.kw[2].d.next = self.wdata.val();
            }
            if self.waddr.val() == self.k_key.val() + 12 {
                self.kw[3].d.next = self.wdata.val();
            }
            if self.waddr.val() == self.k_key.val() + 16 {
                self.kw[4].d.next = self.wdata.val();
            }
            if self.waddr.val() == self.k_key.val() + 20 {
                self.kw[5].d.next = self.wdata.val();
            }
            if self.waddr.val() == self.k_key.val() + 24 {
                self.kw[6].d.next = self.wdata.val();
            }
            if self.waddr.val() == self.k_key.val() + 28 {
                self.kw[7].d.next = self.wdata.val();
            }
            if self.waddr.val() == self.k_key.val() + 32 {
                self.kw[8].d.next = self.wdata.val();
            }
            if self.waddr.val() == self.k_key.val() + 36 {
                self.kw[9].d.next = self.wdata.val();
            }
        }

        self.rdata.next = 0.into();
        if self.raddr_q.val() == self.k_types.val() {
            self.rdata.next = self.ty.q.val();
        }
        if self.raddr_q.val() == self.k_key.val() {
            self.rdata.next = self.kw[0].q.val();
        }
        if self.raddr_q.val() == self.k_key.val() + 4 {
            self.rdata.next = self.kw[1].q.val();
        }
        if self.raddr_q.val() == self.k_key.val() + 8 {
            self.rdata.next = self.kw[2].q.val();
        }
        if self.raddr_q.val() == self.k_key.val() + 12 {
            self.rdata.next = self.kw[3].q.val();
        }
        if self.raddr_q.val() == self.k_key.val() + 16 {
            self.rdata.next = self.kw[4].q.val();
        }
        if self.raddr_q.val() == self.k_key.val() + 20 {
            self.rdata.next = self.kw[5].q.val();
        }
        if self.raddr_q.val() == self.k_key.val() + 24 {
            self.rdata.next = self.kw[6].q.val();
        }
        if self.raddr_q.val() == self.k_key.val() + 28 {
            self.rdata.next = self.kw[7].q.val();
        }
        if self.raddr_q.val() == self.k_key.val() + 32 {
            self.rdata.next = self.kw[8].q.val();
        }
        if self.raddr_q.val() == self.k_key.val() + 36 {
            self.rdata.next = self.kw[9].q.val();
        }
        if (self.raddr_q.val() & 0xf80_u64) == self.k_reta.val() {
            self.rdata.next = self.reta_read.read_data.val();
        }

        if self.reset.val() {
            self.ty.d.next = self.v_supported.val();
            self.kw[0].d.next = self.kd[0].val();
            self.kw[1].d.next = self.kd[1].val();
            self.kw[2].d.next = self.kd[2].val();
            self.kw[3].d.next = self.kd[3].val();
            self.kw[4].d.next = self.kd[4].val();
            self.kw[5].d.next = self.kd[5].val();
            self.kw[6].d.next = self.kd[6].val();
            self.kw[7].d.next = self.kd[7].val();
            self.kw[8].d.next = self.kd[8].val();
            self.kw[9].d.next = self.kd[9].val();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::lint;

    #[test]
    fn rss_regs_lint_in_verilator() {
        let mut b = RssRegs::new(2);
        b.connect_all();
        lint("rss_regs", &generate_verilog(&b));
    }
}
