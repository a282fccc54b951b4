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
    use crate::testing::lint;

    #[test]
    fn rx_dispatch_lints_in_verilator() {
        let mut b = RxDispatch::default();
        b.connect_all();
        lint("rx_dispatch", &generate_verilog(&b));
    }
}
