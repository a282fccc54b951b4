//! Receive queue selection: takes each verified frame's record (with its RSS
//! hash) from the meta FIFO, looks the hash up in the indirection table, and
//! offers the record to the RX queue engine the table names.
//!
//! Frames leave in arrival order (they share one data FIFO); the engine of
//! the chosen queue takes the record when it is ready and no other queue's
//! engine is still streaming a frame's beats. A frame without a hash
//! (`htype` 0), or whose table entry names a queue this build lacks, goes to
//! queue 0.
//!
//! ```text
//! Empty --record--> Look (table read) -> Ready --taken--> Empty
//! ```

pub use crate::records::RxMeta;
use rust_hdl::prelude::*;

/// States of the dispatcher.
#[allow(missing_docs)] // rust-hdl's derive generates undocumented accessors
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum DispState {
    /// No record held.
    Empty,
    /// Record popped; the table answers this cycle.
    Look,
    /// Record and queue offered to the engines.
    Ready,
}

/// The receive dispatcher.
#[derive(LogicBlock, Default)]
pub struct RxDispatch {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// Queue pairs in this build.
    pub nq: Signal<In, Bits<8>>,
    /// Head of the meta FIFO.
    pub meta_dout: Signal<In, RxMeta>,
    /// Meta FIFO empty.
    pub meta_empty: Signal<In, Bit>,
    /// Pop the meta FIFO.
    pub meta_pop: Signal<Out, Bit>,
    /// Hash to look up in the indirection table.
    pub look_hash: Signal<Out, Bits<32>>,
    /// The table's entry for last cycle's `look_hash`.
    pub look_q: Signal<In, Bits<8>>,
    /// The record offered.
    pub meta: Signal<Out, RxMeta>,
    /// The queue it goes to.
    pub qnum: Signal<Out, Bits<3>>,
    /// `meta` and `qnum` are offered.
    pub valid: Signal<Out, Bit>,
    /// The chosen engine took the record.
    pub take: Signal<In, Bit>,
    /// Holding a record.
    pub busy: Signal<Out, Bit>,
    state: DFF<DispState>,
    m: DFF<RxMeta>,
    qsel: DFF<Bits<3>>,
}

impl Logic for RxDispatch {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, state, m, qsel);
        self.meta.next = self.m.q.val();
        self.qnum.next = self.qsel.q.val();
        self.valid.next = self.state.q.val() == DispState::Ready;
        self.busy.next = self.state.q.val() != DispState::Empty;
        self.look_hash.next = self.meta_dout.val().hash;
        self.meta_pop.next = false;
        match self.state.q.val() {
            DispState::Empty => {
                if !self.meta_empty.val() {
                    self.meta_pop.next = true;
                    self.m.d.next = self.meta_dout.val();
                    self.state.d.next = DispState::Look;
                }
            }
            DispState::Look => {
                self.qsel.d.next = 0.into();
                if (self.m.q.val().htype != 0) & (self.look_q.val() < self.nq.val()) {
                    self.qsel.d.next = self.look_q.val().get_bits::<3>(0);
                }
                self.state.d.next = DispState::Ready;
            }
            DispState::Ready => {
                if self.take.val() {
                    self.state.d.next = DispState::Empty;
                }
            }
        }
        if self.reset.val() {
            self.state.d.next = DispState::Empty;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{clock_cycle, lint};
    use rand::{Rng, SeedableRng};
    use std::collections::VecDeque;

    #[test]
    fn rx_dispatch_lints_in_verilator() {
        let mut b = RxDispatch::default();
        b.connect_all();
        lint("rx_dispatch", &generate_verilog(&b));
    }

    /// Records leave in arrival order, none lost or duplicated, each offered to the queue the
    /// ABI names (docs/ABI.md "RSS": RETA[hash & 127], queue 0 without a hash or when the entry
    /// names a queue the build lacks). The meta FIFO is a `VecDeque` (first-word fall-through,
    /// random arrivals), the indirection table a `Vec` answering a cycle after `look_hash` as the
    /// RSS registers do, and the engines take the offer at random (back-pressure): while offered
    /// and not taken, the record and queue hold still.
    /// Mutations caught: the `htype != 0` condition dropped (hash-less frames spread by the table),
    /// and an offer withdrawn (Ready -> Empty) while the meta FIFO is empty.
    #[test]
    fn rx_dispatch_offers_records_in_order_to_the_tables_queue() {
        let seed = crate::testing::seed(0xd15);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let clk = |b: &mut RxDispatch, c| b.clock.next = Clock { clk: c };
        let mut total = 0;
        for run in 0..4 {
            let mut b = RxDispatch::default();
            b.connect_all();
            let nq: u8 = rng.gen_range(1..=8);
            let table: Vec<u8> = (0..128).map(|_| rng.gen_range(0..12)).collect();
            b.nq.next = (nq as u64).to_bits();
            let mut fifo: VecDeque<RxMeta> = VecDeque::new();
            let mut sent: VecDeque<RxMeta> = VecDeque::new(); // arrived, not yet taken, in order
            let mut look_q = rng.gen::<u8>();
            let mut held: Option<(RxMeta, usize)> = None; // offered and not taken last cycle
            let (p_in, p_take) = [(0.3, 0.3), (0.8, 0.2), (0.2, 0.9), (0.6, 0.6)][run];
            let mut taken = 0;
            for cycle in 0..3000 {
                b.reset.next = cycle == 0;
                if cycle > 0 && rng.gen_bool(p_in) && fifo.len() < 8 {
                    let m = RxMeta {
                        len: rng.gen_range(60..9000u64).to_bits(),
                        nbeats: rng.gen::<u16>().to_bits(),
                        drop: rng.gen_bool(0.1),
                        flags: rng.gen::<u32>().to_bits(),
                        cdata: rng.gen::<u16>().to_bits(),
                        hash: rng.gen::<u32>().to_bits(),
                        htype: if rng.gen_bool(0.2) { 0 } else { rng.gen::<u8>() | 0x80 }.to_bits(),
                    };
                    fifo.push_back(m);
                    sent.push_back(m);
                }
                b.meta_empty.next = fifo.is_empty();
                b.meta_dout.next = fifo.front().copied().unwrap_or_default();
                b.look_q.next = (look_q as u64).to_bits();
                let take = rng.gen_bool(p_take);
                b.take.next = take;
                let mut hash = 0;
                clock_cycle(&mut b, clk, |b| {
                    let holding = sent.len() > fifo.len(); // popped, not yet taken
                    hash = b.look_hash.val().index() as u32;
                    if b.meta_pop.val() {
                        assert!(!fifo.is_empty(), "pop of an empty FIFO");
                        fifo.pop_front();
                    }
                    if cycle == 0 {
                        return;
                    }
                    if let Some((m, q)) = held {
                        assert!(b.valid.val(), "cycle {cycle}: an offer withdrawn before it was taken");
                        assert_eq!((b.meta.val(), b.qnum.val().index()), (m, q), "cycle {cycle}: the offer changed");
                    }
                    held = None;
                    if b.valid.val() {
                        let m = b.meta.val();
                        let want = sent.front().copied().expect("an offer with nothing sent");
                        assert_eq!(m, want, "cycle {cycle}: record out of order");
                        let e = table[want.hash.index() & 127];
                        let q = if want.htype.index() != 0 && e < nq { e as usize } else { 0 };
                        assert_eq!(b.qnum.val().index(), q, "cycle {cycle}: queue (nq {nq}, entry {e}, htype {:#x})", want.htype.index());
                        if take {
                            sent.pop_front();
                            taken += 1;
                        } else {
                            held = Some((m, q));
                        }
                    }
                    assert_eq!(b.busy.val(), holding, "cycle {cycle}: busy");
                });
                // The table answers a cycle later.
                look_q = table[(hash & 127) as usize];
            }
            assert!(taken > 300, "records flowed ({taken})");
            total += taken;
        }
        println!("{total} records dispatched");
    }
}
