//! Receive queue engine: takes verified frames from the RX FIFO, places each
//! in the next posted buffer by DMA, then writes its completion.
//!
//! A [`DescFetch`] keeps a queue of up to [`DESC_QUEUE`] buffer descriptors
//! (2 beats each) filled while frames stream, so no frame waits for a
//! descriptor round trip. The frame machine pairs each verified frame with
//! the queue's head:
//! ```text
//! Idle --frame, buffer ok--> DataReq -> Data -> CplReq -> Cpl -> Idle
//!  |  \--no buffer posted / too big / drop--> Discard -> Idle   (counted)
//!  \--head descriptor bad--> CplReq (error status, no frame)
//! ```
//! The data write finishes (all write responses in) before the completion
//! is written, so a completion the driver sees always describes bytes that
//! are already in its buffer. With no buffer posted the frame is dropped
//! rather than blocking the wire. Every state leaves on its own or on reset.

use crate::desc_fetch::DescFetch;
pub use crate::desc_fetch::{PfState, DESC_BATCH};
use crate::fifo::Fifo;
use crate::rx_csum::RxMeta;
use nic_abi::status;
pub use crate::records::RxBuf;
use rust_hdl::prelude::*;

/// Receive buffer descriptors the prefetcher holds, at most.
pub const DESC_QUEUE: u64 = 8;

/// States of the frame machine.
#[allow(missing_docs)] // rust-hdl's derive generates undocumented accessors
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum RxState {
    /// Waiting for a frame (or a bad descriptor to complete).
    Idle,
    /// Asking the write DMA to place the frame.
    DataReq,
    /// Streaming the frame from the FIFO.
    Data,
    /// Asking the write DMA for the completion.
    CplReq,
    /// Writing the completion.
    Cpl,
    /// Draining a frame that will not be delivered.
    Discard,
}

/// The receive engine.
#[derive(LogicBlock)]
pub struct RxEngine {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset (hardware or soft).
    pub reset: Signal<In, Bit>,
    /// CTRL_ENABLE.
    pub enable: Signal<In, Bit>,
    /// Ring base IOVA.
    pub base: Signal<In, Bits<64>>,
    /// Ring log2 size.
    pub size_log2: Signal<In, Bits<4>>,
    /// Producer index (buffers posted).
    pub tail: Signal<In, Bits<16>>,
    /// Completion queue base IOVA.
    pub cq_base: Signal<In, Bits<64>>,
    /// Completion consumer index.
    pub cq_head: Signal<In, Bits<16>>,
    /// Consumer index.
    pub head: Signal<Out, Bits<16>>,
    /// Completion producer index.
    pub cq_tail: Signal<Out, Bits<16>>,
    /// Read DMA command valid.
    pub rd_cmd_valid: Signal<Out, Bit>,
    /// Read DMA command address.
    pub rd_cmd_addr: Signal<Out, Bits<64>>,
    /// Read DMA command beats.
    pub rd_cmd_beats: Signal<Out, Bits<16>>,
    /// Read DMA took the command.
    pub rd_cmd_ready: Signal<In, Bit>,
    /// Read data.
    pub rd_data: Signal<In, Bits<64>>,
    /// Read data valid.
    pub rd_valid: Signal<In, Bit>,
    /// Read data taken.
    pub rd_ready: Signal<Out, Bit>,
    /// Last beat of the command.
    pub rd_last: Signal<In, Bit>,
    /// Command had an error response (with the last beat).
    pub rd_err: Signal<In, Bit>,
    /// Write DMA command valid.
    pub wr_cmd_valid: Signal<Out, Bit>,
    /// Write DMA command address.
    pub wr_cmd_addr: Signal<Out, Bits<64>>,
    /// Write DMA command beats.
    pub wr_cmd_beats: Signal<Out, Bits<16>>,
    /// Write DMA last-beat strobe.
    pub wr_cmd_strb: Signal<Out, Bits<8>>,
    /// Write DMA took the command.
    pub wr_cmd_ready: Signal<In, Bit>,
    /// Write data.
    pub wr_data: Signal<Out, Bits<64>>,
    /// Write data valid.
    pub wr_data_valid: Signal<Out, Bit>,
    /// Write data taken.
    pub wr_data_ready: Signal<In, Bit>,
    /// Write command finished.
    pub wr_done: Signal<In, Bit>,
    /// Head of the data FIFO.
    pub fifo_dout: Signal<In, Bits<64>>,
    /// Data FIFO empty.
    pub fifo_empty: Signal<In, Bit>,
    /// Pop the data FIFO.
    pub fifo_pop: Signal<Out, Bit>,
    /// Head of the meta FIFO.
    pub meta_dout: Signal<In, RxMeta>,
    /// Meta FIFO empty.
    pub meta_empty: Signal<In, Bit>,
    /// Pop the meta FIFO.
    pub meta_pop: Signal<Out, Bit>,
    /// Pulses when a completion is written.
    pub ev_cpl: Signal<Out, Bit>,
    /// Pulses when a frame is delivered.
    pub delivered: Signal<Out, Bit>,
    /// With `delivered`: its length.
    pub delivered_len: Signal<Out, Bits<16>>,
    /// Counter pulse: dropped for lack of a buffer.
    pub inc_drop_nobuf: Signal<Out, Bit>,
    /// Counter pulse: dropped because the buffer is too small.
    pub inc_drop_err: Signal<Out, Bit>,
    /// Not in Idle, or about to leave it (a frame, a descriptor batch to fetch, a bad descriptor).
    pub busy: Signal<Out, Bit>,
    /// Taking a frame's beats from the shared data FIFO (another queue's engine must wait).
    pub streaming: Signal<Out, Bit>,
    state: DFF<RxState>,
    head_q: DFF<Bits<16>>,
    cq_tail_q: DFF<Bits<16>>,
    cnt: DFF<Bits<16>>,
    b_addr: DFF<Bits<64>>,
    dq: Fifo<RxBuf, 3, 4>,
    pf: DescFetch,
    pf_addr: DFF<Bits<64>>,
    pf_err: DFF<Bit>,
    room: Signal<Local, Bits<16>>,
    cq_room: Signal<Local, Bit>,
    none_posted: Signal<Local, Bit>,
    m: DFF<RxMeta>,
    st: DFF<Bits<7>>,
    with_frame: DFF<Bit>,
    mask: Signal<Local, Bits<16>>,
    lap: Signal<Local, Bits<16>>,
    phase: Signal<Local, Bit>,
    rem: Signal<Local, Bits<8>>,
    k_ok: Constant<Bits<7>>,
    k_bad_align: Constant<Bits<7>>,
    k_bad_rsvd: Constant<Bits<7>>,
    k_dma_error: Constant<Bits<7>>,
}

impl Default for RxEngine {
    fn default() -> Self {
        let k7 = |v: u8| Constant::new((v as u64).to_bits());
        Self {
            clock: Default::default(), reset: Default::default(), enable: Default::default(),
            base: Default::default(), size_log2: Default::default(), tail: Default::default(),
            cq_base: Default::default(), cq_head: Default::default(), head: Default::default(),
            cq_tail: Default::default(), rd_cmd_valid: Default::default(), rd_cmd_addr: Default::default(),
            rd_cmd_beats: Default::default(), rd_cmd_ready: Default::default(), rd_data: Default::default(),
            rd_valid: Default::default(), rd_ready: Default::default(), rd_last: Default::default(),
            rd_err: Default::default(), wr_cmd_valid: Default::default(), wr_cmd_addr: Default::default(),
            wr_cmd_beats: Default::default(), wr_cmd_strb: Default::default(), wr_cmd_ready: Default::default(),
            wr_data: Default::default(), wr_data_valid: Default::default(), wr_data_ready: Default::default(),
            wr_done: Default::default(), fifo_dout: Default::default(), fifo_empty: Default::default(),
            fifo_pop: Default::default(), meta_dout: Default::default(), meta_empty: Default::default(),
            meta_pop: Default::default(), ev_cpl: Default::default(), delivered: Default::default(),
            delivered_len: Default::default(), inc_drop_nobuf: Default::default(), inc_drop_err: Default::default(),
            busy: Default::default(), streaming: Default::default(), state: Default::default(), head_q: Default::default(),
            cq_tail_q: Default::default(), cnt: Default::default(), b_addr: Default::default(),
            dq: Default::default(), pf: DescFetch::new(4), pf_addr: Default::default(),
            pf_err: Default::default(), room: Default::default(),
            cq_room: Default::default(), none_posted: Default::default(), m: Default::default(), st: Default::default(),
            with_frame: Default::default(), mask: Default::default(), lap: Default::default(),
            phase: Default::default(), rem: Default::default(),
            k_ok: k7(status::OK),
            k_bad_align: k7(status::BAD_ALIGN),
            k_bad_rsvd: k7(status::BAD_RSVD),
            k_dma_error: k7(status::DMA_ERROR),
        }
    }
}

impl Logic for RxEngine {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, state, head_q, cq_tail_q, cnt, b_addr, m, st, with_frame, pf_addr, pf_err);
        self.dq.clock.next = self.clock.val();
        self.dq.reset.next = self.reset.val();
        self.head.next = self.head_q.q.val();
        self.cq_tail.next = self.cq_tail_q.q.val();
        self.mask.next = (bits::<16>(1) << self.size_log2.val()) - 1;
        self.lap.next = self.cq_tail_q.q.val() >> self.size_log2.val();
        self.phase.next = !self.lap.val().get_bit(0);
        self.rem.next = bit_cast::<8, 16>(self.m.q.val().len & 7);
        self.cq_room.next = (self.cq_tail_q.q.val() - self.cq_head.val()) <= self.mask.val();

        // Prefetcher: the read port is only ever its own here.
        self.pf.clock.next = self.clock.val();
        self.pf.reset.next = self.reset.val();
        self.pf.enable.next = self.enable.val();
        self.pf.may_start.next = true;
        self.pf.base.next = self.base.val();
        self.pf.size_log2.next = self.size_log2.val();
        self.pf.tail.next = self.tail.val();
        self.room.next = bit_cast::<16, 4>(self.dq.free.val());
        self.pf.room.next = self.room.val();
        self.pf.rd_cmd_ready.next = self.rd_cmd_ready.val();
        self.pf.rd_valid.next = self.rd_valid.val();
        self.pf.rd_last.next = self.rd_last.val();
        self.rd_cmd_valid.next = self.pf.rd_cmd_valid.val();
        self.rd_cmd_addr.next = self.pf.rd_cmd_addr.val();
        self.rd_cmd_beats.next = self.pf.rd_cmd_beats.val();
        self.rd_ready.next = self.pf.rd_ready.val();
        // No buffer anywhere: none posted, none being fetched, none queued. The queue's free count
        // is immediate; its `empty` flag lags a push by two cycles and would drop a frame whose
        // buffer just arrived.
        self.none_posted.next = self.pf.drained.val() & (self.room.val() == 8_u64);
        // Records: beat 0 the address, beat 1 length and reserved word (nic_abi::desc::rx).
        self.dq.push.next = false;
        self.dq.din.next.addr = self.pf_addr.q.val();
        self.dq.din.next.len = self.rd_data.val().get_bits::<32>(0);
        self.dq.din.next.code = self.k_ok.val();
        if self.pf.beat.val() {
            if !self.pf.beat_idx.val().get_bit(0) {
                self.pf_addr.d.next = self.rd_data.val();
                self.pf_err.d.next = self.rd_err.val();
            } else {
                self.dq.push.next = true;
                if (self.pf_addr.q.val() & 7_u64) != 0 {
                    self.dq.din.next.code = self.k_bad_align.val();
                }
                if self.rd_data.val().get_bits::<32>(32) != 0 {
                    self.dq.din.next.code = self.k_bad_rsvd.val();
                }
                if self.pf_err.q.val() | self.rd_err.val() {
                    self.dq.din.next.code = self.k_dma_error.val();
                }
            }
        }

        self.busy.next = (self.state.q.val() != RxState::Idle)
            | !self.meta_empty.val()
            | self.pf.busy.val()
            | (!self.dq.empty.val() & (self.dq.dout.val().code != 0));

        self.streaming.next = (self.state.q.val() == RxState::DataReq)
            | (self.state.q.val() == RxState::Data)
            | (self.state.q.val() == RxState::Discard);
        self.wr_cmd_valid.next = false;
        self.wr_cmd_addr.next = self.b_addr.q.val();
        self.wr_cmd_beats.next = self.m.q.val().nbeats;
        self.wr_cmd_strb.next = 0xff_u64.into();
        if self.rem.val() != 0 {
            self.wr_cmd_strb.next = (bits::<8>(1) << self.rem.val()) - 1;
        }
        self.wr_data.next = self.fifo_dout.val();
        self.wr_data_valid.next = false;
        self.fifo_pop.next = false;
        self.meta_pop.next = false;
        self.dq.pop.next = false;
        self.ev_cpl.next = false;
        self.delivered.next = false;
        self.delivered_len.next = self.m.q.val().len;
        self.inc_drop_nobuf.next = false;
        self.inc_drop_err.next = false;

        match self.state.q.val() {
            RxState::Idle => {
                if !self.dq.empty.val() & (self.dq.dout.val().code != 0) {
                    // A buffer the NIC cannot use completes at once with its error and no frame.
                    if self.cq_room.val() {
                        self.dq.pop.next = true;
                        self.st.d.next = self.dq.dout.val().code;
                        self.with_frame.d.next = false;
                        self.m.d.next.len = 0.into();
                        self.m.d.next.flags = 0.into();
                        self.m.d.next.cdata = 0.into();
                        self.m.d.next.hash = 0.into();
                        self.m.d.next.htype = 0.into();
                        self.state.d.next = RxState::CplReq;
                    }
                } else if !self.meta_empty.val() {
                    if self.meta_dout.val().drop {
                        self.meta_pop.next = true;
                        self.m.d.next = self.meta_dout.val();
                        self.cnt.d.next = 0.into();
                        self.state.d.next = RxState::Discard;
                    } else if !self.dq.empty.val() {
                        if bit_cast::<32, 16>(self.meta_dout.val().len) > self.dq.dout.val().len {
                            self.meta_pop.next = true;
                            self.m.d.next = self.meta_dout.val();
                            self.cnt.d.next = 0.into();
                            self.inc_drop_err.next = true;
                            self.state.d.next = RxState::Discard;
                        } else if self.cq_room.val() {
                            self.meta_pop.next = true;
                            self.m.d.next = self.meta_dout.val();
                            self.dq.pop.next = true;
                            self.b_addr.d.next = self.dq.dout.val().addr;
                            self.state.d.next = RxState::DataReq;
                        }
                    } else if !self.enable.val() | self.none_posted.val() {
                        // No buffer posted and none on its way: drop rather than stall the wire.
                        self.meta_pop.next = true;
                        self.m.d.next = self.meta_dout.val();
                        self.cnt.d.next = 0.into();
                        self.inc_drop_nobuf.next = true;
                        self.state.d.next = RxState::Discard;
                    }
                }
            }
            RxState::DataReq => {
                self.wr_cmd_valid.next = true;
                if self.wr_cmd_ready.val() {
                    self.state.d.next = RxState::Data;
                }
            }
            RxState::Data => {
                self.wr_data_valid.next = !self.fifo_empty.val();
                self.fifo_pop.next = !self.fifo_empty.val() & self.wr_data_ready.val();
                if self.wr_done.val() {
                    self.st.d.next = self.k_ok.val();
                    self.with_frame.d.next = true;
                    self.state.d.next = RxState::CplReq;
                }
            }
            RxState::CplReq => {
                self.wr_cmd_valid.next = true;
                self.wr_cmd_addr.next =
                    self.cq_base.val() + (bit_cast::<64, 16>(self.cq_tail_q.q.val() & self.mask.val()) << 4);
                self.wr_cmd_beats.next = 2.into();
                self.wr_cmd_strb.next = 0xff_u64.into();
                if self.wr_cmd_ready.val() {
                    self.cnt.d.next = 0.into();
                    self.state.d.next = RxState::Cpl;
                }
            }
            RxState::Cpl => {
                // Beat 0: len, index, csum_flags; beat 1: flowid, csum_data, rsstype, status|phase.
                self.wr_data.next = bit_cast::<64, 16>(self.m.q.val().len)
                    | (bit_cast::<64, 16>(self.head_q.q.val()) << 16)
                    | (bit_cast::<64, 32>(self.m.q.val().flags) << 32);
                if self.cnt.q.val() == 1 {
                    self.wr_data.next = bit_cast::<64, 32>(self.m.q.val().hash)
                        | (bit_cast::<64, 16>(self.m.q.val().cdata) << 32)
                        | (bit_cast::<64, 8>(self.m.q.val().htype) << 48)
                        | ((bit_cast::<64, 7>(self.st.q.val()) | (bit_cast::<64, 1>(self.phase.val().into()) << 7)) << 56);
                }
                self.wr_data_valid.next = true;
                if self.wr_data_ready.val() {
                    self.cnt.d.next = self.cnt.q.val() + 1;
                }
                if self.wr_done.val() {
                    self.head_q.d.next = self.head_q.q.val() + 1;
                    self.cq_tail_q.d.next = self.cq_tail_q.q.val() + 1;
                    self.ev_cpl.next = true;
                    self.delivered.next = self.with_frame.q.val();
                    self.state.d.next = RxState::Idle;
                }
            }
            RxState::Discard => {
                if self.cnt.q.val() == self.m.q.val().nbeats {
                    self.state.d.next = RxState::Idle;
                } else if !self.fifo_empty.val() {
                    self.fifo_pop.next = true;
                    self.cnt.d.next = self.cnt.q.val() + 1;
                }
            }
        }
        if self.reset.val() {
            self.state.d.next = RxState::Idle;
            self.head_q.d.next = 0.into();
            self.cq_tail_q.d.next = 0.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::lint;

    #[test]
    fn queue_constants_match_the_rtl() {
        // update() writes these as literals (rust-hdl cannot read a Rust constant there).
        assert_eq!(DESC_BATCH, 4);
        assert_eq!(DESC_QUEUE, 1 << 3, "the descriptor FIFO is Fifo<RxBuf, 3, 4>");
    }

    #[test]
    fn rx_engine_lints_in_verilator() {
        let mut b = RxEngine::default();
        b.connect_all();
        lint("rx_engine", &generate_verilog(&b));
    }
}
