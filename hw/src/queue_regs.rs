//! One queue pair's registers (`nic_abi::regs::txq(q)`, `rxq(q)`): ring and
//! completion-queue bases, sizes, doorbells, the engines' indices, and the
//! pair's own packet counters. One instance per queue pair; the register file
//! ([`crate::csr`]) hands every write to all of them and ORs their read data,
//! so each decodes only its own 256-byte block.
//!
//! Offsets are `Constant`s from `nic-abi`. Soft reset forgets the doorbells
//! (as the engines forget their indices) and keeps bases and counters;
//! power-on reset clears everything.

use nic_abi::regs::{block as hdr_block, queue, queue_pair, rxq, txq};
use crate::reg_header::RegHeader;
use crate::AXIL_ADDR;
use rust_hdl::prelude::*;

// Ring sizes are `1 << log2` in 16-bit signals (`n_tx`, `n_rx`), doorbell distances too.
const _: () = assert!(nic_abi::RING_MAX_LOG2 < 16, "ring sizes must fit the 16-bit doorbell arithmetic");

/// The registers of one TX/RX queue pair.
#[derive(LogicBlock)]
pub struct QueueRegs {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Power-on reset.
    pub reset: Signal<In, Bit>,
    /// Soft reset pulse (CTRL_RESET).
    pub sreset: Signal<In, Bit>,
    /// A full-width register write happens this cycle.
    pub wfire: Signal<In, Bit>,
    /// Its address.
    pub waddr: Signal<In, Bits<AXIL_ADDR>>,
    /// Its data.
    pub wdata: Signal<In, Bits<32>>,
    /// Read address.
    pub raddr: Signal<In, Bits<AXIL_ADDR>>,
    /// Read data: the register at `raddr` if it is this pair's, else 0.
    pub rdata: Signal<Out, Bits<32>>,
    /// TX ring base.
    pub tx_base: Signal<Out, Bits<64>>,
    /// TX ring log2 size.
    pub tx_size_log2: Signal<Out, Bits<4>>,
    /// TX producer index (doorbell).
    pub tx_tail: Signal<Out, Bits<16>>,
    /// TX completion queue base.
    pub txcq_base: Signal<Out, Bits<64>>,
    /// TX completion consumer index.
    pub txcq_head: Signal<Out, Bits<16>>,
    /// RX ring base.
    pub rx_base: Signal<Out, Bits<64>>,
    /// RX ring log2 size.
    pub rx_size_log2: Signal<Out, Bits<4>>,
    /// RX producer index (doorbell).
    pub rx_tail: Signal<Out, Bits<16>>,
    /// RX completion queue base.
    pub rxcq_base: Signal<Out, Bits<64>>,
    /// RX completion consumer index.
    pub rxcq_head: Signal<Out, Bits<16>>,
    /// TX consumer index, from the TX engine.
    pub tx_head: Signal<In, Bits<16>>,
    /// TX completion producer index, from the TX engine.
    pub txcq_tail: Signal<In, Bits<16>>,
    /// RX consumer index, from the RX engine.
    pub rx_head: Signal<In, Bits<16>>,
    /// RX completion producer index, from the RX engine.
    pub rxcq_tail: Signal<In, Bits<16>>,
    /// Counter pulse: a frame of this TX queue went on the wire.
    pub inc_tx_packets: Signal<In, Bit>,
    /// Counter pulse: a frame was delivered to this RX queue.
    pub inc_rx_packets: Signal<In, Bit>,
    /// Counter pulse: a frame for this RX queue found no buffer.
    pub inc_rx_drops: Signal<In, Bit>,
    /// TX completions the engine has started writing: the most the driver can have seen, so the
    /// reference for its doorbells (a completion may be in memory before `txcq_tail` moves).
    pub tx_cq_issued: Signal<In, Bits<16>>,
    /// RX completions the engine has started writing (one per buffer used).
    pub rx_cq_issued: Signal<In, Bits<16>>,
    /// Pulses when a `TAIL` or `CQ_HEAD` write is refused (outside its ring, or a `TAIL` going
    /// backwards).
    pub bad_db: Signal<Out, Bit>,
    txb_lo: DFF<Bits<32>>,
    txb_hi: DFF<Bits<32>>,
    tx_log2: DFF<Bits<4>>,
    txt: DFF<Bits<16>>,
    txcb_lo: DFF<Bits<32>>,
    txcb_hi: DFF<Bits<32>>,
    txch: DFF<Bits<16>>,
    rxb_lo: DFF<Bits<32>>,
    rxb_hi: DFF<Bits<32>>,
    rx_log2: DFF<Bits<4>>,
    rxt: DFF<Bits<16>>,
    rxcb_lo: DFF<Bits<32>>,
    rxcb_hi: DFF<Bits<32>>,
    rxch: DFF<Bits<16>>,
    c_txp: DFF<Bits<32>>,
    c_rxp: DFF<Bits<32>>,
    c_rxd: DFF<Bits<32>>,
    log2: Signal<Local, Bits<4>>,
    // A doorbell's distance from what the engine has done, and the ring size (16 bits each, so
    // the modular difference stays 16 bits in the Verilog too).
    w16: Signal<Local, Bits<16>>,
    d_txt: Signal<Local, Bits<16>>,
    d_rxt: Signal<Local, Bits<16>>,
    /// The current TAILs' distance ahead of the completions issued.
    o_txt: Signal<Local, Bits<16>>,
    o_rxt: Signal<Local, Bits<16>>,
    /// A TAIL write is refused: beyond the ring, or behind the current TAIL.
    bad_txt: Signal<Local, Bit>,
    bad_rxt: Signal<Local, Bit>,
    d_txch: Signal<Local, Bits<16>>,
    d_rxch: Signal<Local, Bits<16>>,
    n_tx: Signal<Local, Bits<16>>,
    n_rx: Signal<Local, Bits<16>>,
    k_tx: Constant<Bits<AXIL_ADDR>>,
    k_rx: Constant<Bits<AXIL_ADDR>>,
    o_base_lo: Constant<Bits<AXIL_ADDR>>,
    o_base_hi: Constant<Bits<AXIL_ADDR>>,
    o_size_log2: Constant<Bits<AXIL_ADDR>>,
    o_tail: Constant<Bits<AXIL_ADDR>>,
    o_head: Constant<Bits<AXIL_ADDR>>,
    o_cq_base_lo: Constant<Bits<AXIL_ADDR>>,
    o_cq_base_hi: Constant<Bits<AXIL_ADDR>>,
    o_cq_head: Constant<Bits<AXIL_ADDR>>,
    o_cq_tail: Constant<Bits<AXIL_ADDR>>,
    o_packets: Constant<Bits<AXIL_ADDR>>,
    o_drops: Constant<Bits<AXIL_ADDR>>,
    v_min_log2: Constant<Bits<32>>,
    v_max_log2: Constant<Bits<32>>,
    // The pair's block header: type, version, the next pair or 0.
    hdr: RegHeader,
    // The build has this pair (a block past NUM_QUEUES reads as zero and ignores writes).
    on: Constant<Bit>,
}

impl QueueRegs {
    /// The registers of queue pair `q` in a build of `num_queues` pairs.
    pub fn new(q: u32, num_queues: u32) -> Self {
        let k12 = |v: u32| Constant::new((v as u64).to_bits());
        let k32 = |v: u32| Constant::new((v as u64).to_bits());
        Self {
            clock: Default::default(),
            reset: Default::default(),
            sreset: Default::default(),
            wfire: Default::default(),
            waddr: Default::default(),
            wdata: Default::default(),
            raddr: Default::default(),
            rdata: Default::default(),
            tx_base: Default::default(),
            tx_size_log2: Default::default(),
            tx_tail: Default::default(),
            txcq_base: Default::default(),
            txcq_head: Default::default(),
            rx_base: Default::default(),
            rx_size_log2: Default::default(),
            rx_tail: Default::default(),
            rxcq_base: Default::default(),
            rxcq_head: Default::default(),
            tx_head: Default::default(),
            txcq_tail: Default::default(),
            rx_head: Default::default(),
            rxcq_tail: Default::default(),
            inc_tx_packets: Default::default(),
            inc_rx_packets: Default::default(),
            inc_rx_drops: Default::default(),
            txb_lo: Default::default(),
            txb_hi: Default::default(),
            tx_log2: Default::default(),
            txt: Default::default(),
            txcb_lo: Default::default(),
            txcb_hi: Default::default(),
            txch: Default::default(),
            rxb_lo: Default::default(),
            rxb_hi: Default::default(),
            rx_log2: Default::default(),
            rxt: Default::default(),
            rxcb_lo: Default::default(),
            rxcb_hi: Default::default(),
            rxch: Default::default(),
            c_txp: Default::default(),
            c_rxp: Default::default(),
            c_rxd: Default::default(),
            log2: Default::default(),
            bad_db: Default::default(),
            tx_cq_issued: Default::default(),
            rx_cq_issued: Default::default(),
            w16: Default::default(),
            d_txt: Default::default(),
            d_rxt: Default::default(),
            o_txt: Default::default(),
            o_rxt: Default::default(),
            bad_txt: Default::default(),
            bad_rxt: Default::default(),
            d_txch: Default::default(),
            d_rxch: Default::default(),
            n_tx: Default::default(),
            n_rx: Default::default(),
            k_tx: k12(txq(q)),
            k_rx: k12(rxq(q)),
            o_base_lo: k12(queue::BASE_LO),
            o_base_hi: k12(queue::BASE_HI),
            o_size_log2: k12(queue::SIZE_LOG2),
            o_tail: k12(queue::TAIL),
            o_head: k12(queue::HEAD),
            o_cq_base_lo: k12(queue::CQ_BASE_LO),
            o_cq_base_hi: k12(queue::CQ_BASE_HI),
            o_cq_head: k12(queue::CQ_HEAD),
            o_cq_tail: k12(queue::CQ_TAIL),
            o_packets: k12(queue::PACKETS),
            o_drops: k12(queue::DROPS),
            v_min_log2: k32(nic_abi::RING_MIN_LOG2),
            v_max_log2: k32(nic_abi::RING_MAX_LOG2),
            hdr: RegHeader::new(
                queue_pair(q),
                hdr_block::TYPE_QUEUE_PAIR,
                hdr_block::VERSION_1,
                if q + 1 < num_queues { queue_pair(q + 1) } else { 0 },
            ),
            on: Constant::new(q < num_queues),
        }
    }
}

impl Logic for QueueRegs {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, txb_lo, txb_hi, tx_log2, txt, txcb_lo, txcb_hi, txch, rxb_lo, rxb_hi, rx_log2, rxt, rxcb_lo,
            rxcb_hi, rxch, c_txp, c_rxp, c_rxd
        );
        self.tx_base.next = (bit_cast::<64, 32>(self.txb_hi.q.val()) << 32) | bit_cast::<64, 32>(self.txb_lo.q.val());
        self.tx_size_log2.next = self.tx_log2.q.val();
        self.tx_tail.next = self.txt.q.val();
        self.txcq_base.next = (bit_cast::<64, 32>(self.txcb_hi.q.val()) << 32) | bit_cast::<64, 32>(self.txcb_lo.q.val());
        self.txcq_head.next = self.txch.q.val();
        self.rx_base.next = (bit_cast::<64, 32>(self.rxb_hi.q.val()) << 32) | bit_cast::<64, 32>(self.rxb_lo.q.val());
        self.rx_size_log2.next = self.rx_log2.q.val();
        self.rx_tail.next = self.rxt.q.val();
        self.rxcq_base.next = (bit_cast::<64, 32>(self.rxcb_hi.q.val()) << 32) | bit_cast::<64, 32>(self.rxcb_lo.q.val());
        self.rxcq_head.next = self.rxch.q.val();

        if self.inc_tx_packets.val() {
            self.c_txp.d.next = self.c_txp.q.val() + 1;
        }
        if self.inc_rx_packets.val() {
            self.c_rxp.d.next = self.c_rxp.q.val() + 1;
        }
        if self.inc_rx_drops.val() {
            self.c_rxd.d.next = self.c_rxd.q.val() + 1;
        }

        // Ring sizes are clamped into the supported range.
        self.log2.next = bit_cast::<4, 32>(self.wdata.val());
        if self.wdata.val() < self.v_min_log2.val() {
            self.log2.next = bit_cast::<4, 32>(self.v_min_log2.val());
        }
        if self.wdata.val() > self.v_max_log2.val() {
            self.log2.next = bit_cast::<4, 32>(self.v_max_log2.val());
        }
        // Doorbells within the ring, measured from the completions the engine has issued (each
        // frees a slot; the driver cannot have seen more): TAIL at most a ring ahead and never
        // behind the current TAIL (the prefetcher has fetched up to it: a TAIL between the
        // completions and what was fetched would read as 65 000 new descriptors), CQ_HEAD not
        // past them nor more than a ring behind. Anything else is refused and counted.
        self.w16.next = bit_cast::<16, 32>(self.wdata.val());
        self.n_tx.next = bits::<16>(1) << self.tx_log2.q.val();
        self.n_rx.next = bits::<16>(1) << self.rx_log2.q.val();
        self.d_txt.next = self.w16.val() - self.tx_cq_issued.val();
        self.d_rxt.next = self.w16.val() - self.rx_cq_issued.val();
        self.o_txt.next = self.txt.q.val() - self.tx_cq_issued.val();
        self.o_rxt.next = self.rxt.q.val() - self.rx_cq_issued.val();
        // Backwards only counts from a current TAIL inside the ring (after a ring-size change it
        // may not be).
        self.bad_txt.next = (self.d_txt.val() > self.n_tx.val())
            | ((self.o_txt.val() <= self.n_tx.val()) & (self.d_txt.val() < self.o_txt.val()));
        self.bad_rxt.next = (self.d_rxt.val() > self.n_rx.val())
            | ((self.o_rxt.val() <= self.n_rx.val()) & (self.d_rxt.val() < self.o_rxt.val()));
        self.d_txch.next = self.tx_cq_issued.val() - self.w16.val();
        self.d_rxch.next = self.rx_cq_issued.val() - self.w16.val();
        self.bad_db.next = false;
        if self.wfire.val() & self.on.val() {
            if self.waddr.val() == self.k_tx.val() + self.o_base_lo.val() {
                self.txb_lo.d.next = self.wdata.val() & 0xffff_fff8_u64;
            } else if self.waddr.val() == self.k_tx.val() + self.o_base_hi.val() {
                self.txb_hi.d.next = self.wdata.val();
            } else if self.waddr.val() == self.k_tx.val() + self.o_size_log2.val() {
                self.tx_log2.d.next = self.log2.val();
            } else if self.waddr.val() == self.k_tx.val() + self.o_tail.val() {
                if self.bad_txt.val() {
                    self.bad_db.next = true;
                } else {
                    self.txt.d.next = self.w16.val();
                }
            } else if self.waddr.val() == self.k_tx.val() + self.o_cq_base_lo.val() {
                self.txcb_lo.d.next = self.wdata.val() & 0xffff_fff8_u64;
            } else if self.waddr.val() == self.k_tx.val() + self.o_cq_base_hi.val() {
                self.txcb_hi.d.next = self.wdata.val();
            } else if self.waddr.val() == self.k_tx.val() + self.o_cq_head.val() {
                if self.d_txch.val() > self.n_tx.val() {
                    self.bad_db.next = true;
                } else {
                    self.txch.d.next = self.w16.val();
                }
            } else if self.waddr.val() == self.k_rx.val() + self.o_base_lo.val() {
                self.rxb_lo.d.next = self.wdata.val() & 0xffff_fff8_u64;
            } else if self.waddr.val() == self.k_rx.val() + self.o_base_hi.val() {
                self.rxb_hi.d.next = self.wdata.val();
            } else if self.waddr.val() == self.k_rx.val() + self.o_size_log2.val() {
                self.rx_log2.d.next = self.log2.val();
            } else if self.waddr.val() == self.k_rx.val() + self.o_tail.val() {
                if self.bad_rxt.val() {
                    self.bad_db.next = true;
                } else {
                    self.rxt.d.next = self.w16.val();
                }
            } else if self.waddr.val() == self.k_rx.val() + self.o_cq_base_lo.val() {
                self.rxcb_lo.d.next = self.wdata.val() & 0xffff_fff8_u64;
            } else if self.waddr.val() == self.k_rx.val() + self.o_cq_base_hi.val() {
                self.rxcb_hi.d.next = self.wdata.val();
            } else if self.waddr.val() == self.k_rx.val() + self.o_cq_head.val() {
                if self.d_rxch.val() > self.n_rx.val() {
                    self.bad_db.next = true;
                } else {
                    self.rxch.d.next = self.w16.val();
                }
            }
        }

        self.hdr.raddr.next = self.raddr.val();
        self.rdata.next = 0.into();
        if self.hdr.hit.val() {
            self.rdata.next = self.hdr.rdata.val();
        } else if self.raddr.val() == self.k_tx.val() + self.o_base_lo.val() {
            self.rdata.next = self.txb_lo.q.val();
        } else if self.raddr.val() == self.k_tx.val() + self.o_base_hi.val() {
            self.rdata.next = self.txb_hi.q.val();
        } else if self.raddr.val() == self.k_tx.val() + self.o_size_log2.val() {
            self.rdata.next = bit_cast::<32, 4>(self.tx_log2.q.val());
        } else if self.raddr.val() == self.k_tx.val() + self.o_tail.val() {
            self.rdata.next = bit_cast::<32, 16>(self.txt.q.val());
        } else if self.raddr.val() == self.k_tx.val() + self.o_head.val() {
            self.rdata.next = bit_cast::<32, 16>(self.tx_head.val());
        } else if self.raddr.val() == self.k_tx.val() + self.o_cq_base_lo.val() {
            self.rdata.next = self.txcb_lo.q.val();
        } else if self.raddr.val() == self.k_tx.val() + self.o_cq_base_hi.val() {
            self.rdata.next = self.txcb_hi.q.val();
        } else if self.raddr.val() == self.k_tx.val() + self.o_cq_head.val() {
            self.rdata.next = bit_cast::<32, 16>(self.txch.q.val());
        } else if self.raddr.val() == self.k_tx.val() + self.o_cq_tail.val() {
            self.rdata.next = bit_cast::<32, 16>(self.txcq_tail.val());
        } else if self.raddr.val() == self.k_tx.val() + self.o_packets.val() {
            self.rdata.next = self.c_txp.q.val();
        } else if self.raddr.val() == self.k_rx.val() + self.o_base_lo.val() {
            self.rdata.next = self.rxb_lo.q.val();
        } else if self.raddr.val() == self.k_rx.val() + self.o_base_hi.val() {
            self.rdata.next = self.rxb_hi.q.val();
        } else if self.raddr.val() == self.k_rx.val() + self.o_size_log2.val() {
            self.rdata.next = bit_cast::<32, 4>(self.rx_log2.q.val());
        } else if self.raddr.val() == self.k_rx.val() + self.o_tail.val() {
            self.rdata.next = bit_cast::<32, 16>(self.rxt.q.val());
        } else if self.raddr.val() == self.k_rx.val() + self.o_head.val() {
            self.rdata.next = bit_cast::<32, 16>(self.rx_head.val());
        } else if self.raddr.val() == self.k_rx.val() + self.o_cq_base_lo.val() {
            self.rdata.next = self.rxcb_lo.q.val();
        } else if self.raddr.val() == self.k_rx.val() + self.o_cq_base_hi.val() {
            self.rdata.next = self.rxcb_hi.q.val();
        } else if self.raddr.val() == self.k_rx.val() + self.o_cq_head.val() {
            self.rdata.next = bit_cast::<32, 16>(self.rxch.q.val());
        } else if self.raddr.val() == self.k_rx.val() + self.o_cq_tail.val() {
            self.rdata.next = bit_cast::<32, 16>(self.rxcq_tail.val());
        } else if self.raddr.val() == self.k_rx.val() + self.o_packets.val() {
            self.rdata.next = self.c_rxp.q.val();
        } else if self.raddr.val() == self.k_rx.val() + self.o_drops.val() {
            self.rdata.next = self.c_rxd.q.val();
        }
        if !self.on.val() {
            self.rdata.next = 0.into();
        }

        if self.sreset.val() {
            self.txt.d.next = 0.into();
            self.txch.d.next = 0.into();
            self.rxt.d.next = 0.into();
            self.rxch.d.next = 0.into();
        }
        if self.reset.val() {
            self.txb_lo.d.next = 0.into();
            self.txb_hi.d.next = 0.into();
            self.txcb_lo.d.next = 0.into();
            self.txcb_hi.d.next = 0.into();
            self.rxb_lo.d.next = 0.into();
            self.rxb_hi.d.next = 0.into();
            self.rxcb_lo.d.next = 0.into();
            self.rxcb_hi.d.next = 0.into();
            self.txt.d.next = 0.into();
            self.txch.d.next = 0.into();
            self.rxt.d.next = 0.into();
            self.rxch.d.next = 0.into();
            self.tx_log2.d.next = bit_cast::<4, 32>(self.v_min_log2.val());
            self.rx_log2.d.next = bit_cast::<4, 32>(self.v_min_log2.val());
            self.c_txp.d.next = 0.into();
            self.c_rxp.d.next = 0.into();
            self.c_rxd.d.next = 0.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{clock_cycle, lint};

    #[test]
    fn queue_regs_lint_in_verilator() {
        let mut b = QueueRegs::new(1, 2);
        b.connect_all();
        lint("queue_regs", &generate_verilog(&b));
    }

    /// The ABI's description of a queue pair's registers, as a model: which offsets hold what,
    /// which bits a write keeps (bases 8-byte aligned, indices 16 bits, sizes clamped into
    /// `RING_LIMITS`), which are the device's (HEAD, CQ_TAIL from the engines; PACKETS, DROPS
    /// counted), which doorbells are refused (`TAIL` more than a ring ahead of the completions
    /// issued or behind the current `TAIL`, `CQ_HEAD` past them or more than a ring behind: `bad_db` pulses and the register
    /// keeps its value), what soft reset forgets (the doorbells) and what power-on reset clears.
    /// Random writes and reads over this pair's blocks, a neighbour pair's and the rest of
    /// BAR0, with engine indices that jump at random, doorbells near them or anywhere, counter
    /// pulses and resets: every read and every output the engines see matches the model.
    #[test]
    fn registers_follow_the_abi_under_random_access() {
        use nic_abi::{RING_MAX_LOG2, RING_MIN_LOG2};
        use rand::{Rng, SeedableRng};
        use std::collections::HashMap;
        // (seed, pair, pairs in the build): the last pair of two, the first, and a pair the build lacks.
        for (seed, q, nq) in [(1u64, 0u32, 2u32), (2, 1, 2), (3, 1, 1)] {
            eprintln!("queue_regs: seed {seed}, queue pair {q} of {nq}");
            let present = q < nq;
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let mut b = QueueRegs::new(q, nq);
            b.connect_all();
            let blocks = [txq(q), rxq(q)];
            // The model: written registers by address; counters; engine inputs.
            let mut regs: HashMap<u32, u32> = HashMap::new();
            let (mut txp, mut rxp, mut rxd) = (0u32, 0u32, 0u32);
            let power_on = |regs: &mut HashMap<u32, u32>| {
                regs.clear();
                for blk in blocks {
                    regs.insert(blk + queue::SIZE_LOG2, RING_MIN_LOG2);
                }
            };
            power_on(&mut regs);
            let writable = [queue::BASE_LO, queue::BASE_HI, queue::SIZE_LOG2, queue::TAIL, queue::CQ_BASE_LO, queue::CQ_BASE_HI, queue::CQ_HEAD];
            let all = [writable.as_slice(), &[queue::HEAD, queue::CQ_TAIL, queue::PACKETS, queue::DROPS, 0x2c, 0x6c]].concat();
            let (mut txi, mut rxi) = (0u16, 0u16); // completions issued
            let (mut taken, mut refused) = (0, 0);
            for cycle in 0..6000u32 {
                // An address: mostly this pair's registers, sometimes anywhere in BAR0.
                let mut pick = || {
                    if rng.gen_bool(0.8) {
                        blocks[rng.gen_range(0..2)] + all[rng.gen_range(0..all.len())]
                    } else if rng.gen_bool(0.3) {
                        queue_pair(q) + [hdr_block::TYPE, hdr_block::VERSION, hdr_block::NEXT][rng.gen_range(0..3)]
                    } else {
                        4 * rng.gen_range(0..(1u32 << (AXIL_ADDR - 2)))
                    }
                };
                let (waddr, raddr) = (pick(), pick());
                let wfire = rng.gen_bool(0.5);
                if rng.gen_bool(0.05) {
                    (txi, rxi) = (rng.gen(), rng.gen());
                }
                let (txh, txct, rxh, rxct): (u16, u16, u16, u16) = (rng.gen(), rng.gen(), rng.gen(), rng.gen());
                // A doorbell near its engine's index (inside the ring or just outside), or anything.
                let size = |blk: u32| 1u32 << regs.get(&(blk + queue::SIZE_LOG2)).copied().unwrap_or(0);
                let blk = if waddr >= blocks[1] { blocks[1] } else { blocks[0] };
                let off = waddr.wrapping_sub(blk);
                let iss = if blk == blocks[0] { txi } else { rxi };
                let near = rng.gen_range(0..=size(blk) + 2) as u16;
                let wdata: u32 = match rng.gen_range(0..5) {
                    0 => rng.gen_range(0..20),
                    1 | 2 if off == queue::TAIL => iss.wrapping_add(near) as u32,
                    1 | 2 if off == queue::CQ_HEAD => iss.wrapping_sub(near) as u32,
                    _ => rng.gen(),
                };
                // The ABI's rule for a doorbell of this pair, from the model's ring size.
                let bad = wfire
                    && present
                    && blocks.iter().any(|&blk| {
                        let iss = if blk == blocks[0] { txi } else { rxi };
                        let w = wdata as u16;
                        let d_old = (regs.get(&(blk + queue::TAIL)).copied().unwrap_or(0) as u16).wrapping_sub(iss) as u32;
                        let d_new = w.wrapping_sub(iss) as u32;
                        (waddr == blk + queue::TAIL && (d_new > size(blk) || (d_old <= size(blk) && d_new < d_old)))
                            || (waddr == blk + queue::CQ_HEAD && iss.wrapping_sub(w) as u32 > size(blk))
                    });
                let doorbell = wfire && present && blocks.iter().any(|&blk| waddr == blk + queue::TAIL || waddr == blk + queue::CQ_HEAD);
                if doorbell {
                    if bad {
                        refused += 1;
                    } else {
                        taken += 1;
                    }
                }
                let (itp, irp, ird) = (rng.gen_bool(0.3), rng.gen_bool(0.3), rng.gen_bool(0.2));
                let sreset = rng.gen_bool(0.01);
                let reset = cycle < 2 || rng.gen_bool(0.002);
                b.reset.next = reset;
                b.sreset.next = sreset;
                b.wfire.next = wfire;
                b.waddr.next = (waddr as u64).to_bits();
                b.wdata.next = (wdata as u64).to_bits();
                b.raddr.next = (raddr as u64).to_bits();
                b.tx_head.next = (txh as u64).to_bits();
                b.txcq_tail.next = (txct as u64).to_bits();
                b.rx_head.next = (rxh as u64).to_bits();
                b.rxcq_tail.next = (rxct as u64).to_bits();
                b.tx_cq_issued.next = (txi as u64).to_bits();
                b.rx_cq_issued.next = (rxi as u64).to_bits();
                b.inc_tx_packets.next = itp;
                b.inc_rx_packets.next = irp;
                b.inc_rx_drops.next = ird;
                clock_cycle(&mut b, |b, c| b.clock.next = Clock { clk: c }, |b| {
                    if cycle < 2 {
                        return; // before the first reset edge, registers hold their initial values
                    }
                    assert_eq!(b.bad_db.val(), bad, "seed {seed} cycle {cycle}: bad_db for {wdata:#x} at {waddr:#x}");
                    // Reads are combinational: what the model holds now.
                    let reg = |a: u32| regs.get(&a).copied().unwrap_or(0);
                    // The block header (nic_abi::regs::block), then the registers.
                    let hdr = queue_pair(q);
                    let want = if !present {
                        0
                    } else if raddr == hdr + hdr_block::TYPE {
                        hdr_block::TYPE_QUEUE_PAIR
                    } else if raddr == hdr + hdr_block::VERSION {
                        hdr_block::VERSION_1
                    } else if raddr == hdr + hdr_block::NEXT {
                        if q + 1 < nq { queue_pair(q + 1) } else { 0 }
                    } else if raddr == txq(q) + queue::HEAD {
                        txh as u32
                    } else if raddr == txq(q) + queue::CQ_TAIL {
                        txct as u32
                    } else if raddr == rxq(q) + queue::HEAD {
                        rxh as u32
                    } else if raddr == rxq(q) + queue::CQ_TAIL {
                        rxct as u32
                    } else if raddr == txq(q) + queue::PACKETS {
                        txp
                    } else if raddr == rxq(q) + queue::PACKETS {
                        rxp
                    } else if raddr == rxq(q) + queue::DROPS {
                        rxd
                    } else {
                        reg(raddr)
                    };
                    assert_eq!(b.rdata.val().index() as u32, want, "seed {seed} cycle {cycle}: read of {raddr:#x}");
                    let base = |blk: u32, lo: u32| ((reg(blk + lo + 4) as u64) << 32) | reg(blk + lo) as u64;
                    assert_eq!(b.tx_base.val().to_u64(), base(txq(q), queue::BASE_LO));
                    assert_eq!(b.rx_base.val().to_u64(), base(rxq(q), queue::BASE_LO));
                    assert_eq!(b.txcq_base.val().to_u64(), base(txq(q), queue::CQ_BASE_LO));
                    assert_eq!(b.rxcq_base.val().to_u64(), base(rxq(q), queue::CQ_BASE_LO));
                    assert_eq!(b.tx_size_log2.val().index() as u32, reg(txq(q) + queue::SIZE_LOG2));
                    assert_eq!(b.rx_size_log2.val().index() as u32, reg(rxq(q) + queue::SIZE_LOG2));
                    assert_eq!(b.tx_tail.val().index() as u32, reg(txq(q) + queue::TAIL));
                    assert_eq!(b.rx_tail.val().index() as u32, reg(rxq(q) + queue::TAIL));
                    assert_eq!(b.txcq_head.val().index() as u32, reg(txq(q) + queue::CQ_HEAD));
                    assert_eq!(b.rxcq_head.val().index() as u32, reg(rxq(q) + queue::CQ_HEAD));
                });
                // The model's edge.
                if itp {
                    txp = txp.wrapping_add(1);
                }
                if irp {
                    rxp = rxp.wrapping_add(1);
                }
                if ird {
                    rxd = rxd.wrapping_add(1);
                }
                if wfire && !bad && present {
                    for blk in blocks {
                        if let Some(off) = waddr.checked_sub(blk).filter(|o| writable.contains(o)) {
                            let v = match off {
                                queue::BASE_LO | queue::CQ_BASE_LO => wdata & !7,
                                queue::SIZE_LOG2 => wdata.clamp(RING_MIN_LOG2, RING_MAX_LOG2),
                                queue::TAIL | queue::CQ_HEAD => wdata & 0xffff,
                                _ => wdata,
                            };
                            regs.insert(waddr, v);
                        }
                    }
                }
                if sreset {
                    for blk in blocks {
                        regs.insert(blk + queue::TAIL, 0);
                        regs.insert(blk + queue::CQ_HEAD, 0);
                    }
                }
                if reset {
                    power_on(&mut regs);
                    (txp, rxp, rxd) = (0, 0, 0);
                }
            }
            eprintln!("doorbells taken {taken}, refused {refused}");
            assert!(!present || (taken > 50 && refused > 50), "both kinds of doorbell were tried");
        }
    }
}
