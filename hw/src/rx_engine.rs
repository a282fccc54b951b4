//! Receive queue engine: takes verified frames from the RX FIFO, places each
//! in the next posted buffer by DMA, then writes its completion.
//!
//! A [`DescFetch`] keeps a queue of up to [`DESC_QUEUE`] buffer descriptors
//! (2 beats each) filled while frames stream, so no frame waits for a
//! descriptor round trip.
//!
//! Frames are in flight, so minimum-size frames keep line rate: the engine
//! decides (one decision a cycle) and a streamer carries the decisions out in
//! order, so the next frame's write command is handed over while this
//! frame's beats still flow, and the write DMA pipelines commands.
//! ```text
//! decide: completion ready? -> its write command           -> step CPL
//!         frame, buffer ok  -> data write command, a record -> step DATA
//!         frame to drop     -> (counted)                    -> step DISCARD
//!         bad descriptor    -> a record with its status (once all before it completed)
//! stream: DATA beats FIFO -> DMA; DISCARD beats FIFO -> nowhere; CPL the record's two beats
//! retire: data done -> the record may complete; completion done -> CQ tail, interrupt
//! ```
//! A completion is written only after its frame's data write has finished
//! (all write responses in), so a completion the driver sees always
//! describes bytes already in its buffer; completions and buffers stay in
//! ring order. With no buffer posted the frame is dropped rather than
//! blocking the wire. Nothing waits on anything but the DMA, the FIFOs and
//! room in the completion queue (which the driver returns);
//! reset empties every queue and counter.

use crate::desc_fetch::DescFetch;
pub use crate::desc_fetch::PfState;
use crate::fifo::Fifo;
use crate::rx_csum::RxMeta;
use nic_abi::status;
pub use crate::records::{RxBuf, RxCplRec, RxStep};
use rust_hdl::prelude::*;

/// Receive descriptors one read fetches, at most (32 beats: one burst).
pub const DESC_BATCH: u64 = 16;

/// Reads of receive descriptors in flight at once, at most. With a PCIe-like read latency of
/// about 150 cycles, minimum-size frames (one per 11 cycles) need about 15 buffers on their
/// way at any time; two batches of 16 cover it with room for a batch's own 32 beats.
pub const DESC_READS: u64 = 2;

/// Receive buffer descriptors the prefetcher holds, at most (`Fifo<RxBuf, 5, 6>`): the batches
/// in flight must fit when they land.
pub const DESC_QUEUE: u64 = DESC_BATCH * DESC_READS;

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
    /// Completions whose write has started (one per buffer used): the most the driver can have
    /// seen (doorbell checks).
    pub cq_issued: Signal<Out, Bits<16>>,
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
    /// The write command is a completion (returned with its `wr_done`).
    pub wr_cmd_cpl: Signal<Out, Bit>,
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
    /// One of this engine's write commands finished (in command order).
    pub wr_done: Signal<In, Bit>,
    /// With `wr_done`: it was a completion.
    pub wr_done_cpl: Signal<In, Bit>,
    /// With `wr_done`: a write response was an error.
    pub wr_err: Signal<In, Bit>,
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
    /// Frames taken whose beats are still in the shared data FIFO (another queue's engine must wait).
    pub streaming: Signal<Out, Bit>,
    dq: Fifo<RxBuf, 5, 6>,
    pf: DescFetch,
    pf_addr: DFF<Bits<64>>,
    pf_err: DFF<Bit>,
    sq: Fifo<RxStep, 3, 4>,
    recs: Fifo<RxCplRec, 3, 4>,
    derr: Fifo<Bit, 3, 4>,
    head_q: DFF<Bits<16>>,
    cq_tail_q: DFF<Bits<16>>,
    rec_n: DFF<Bits<16>>,
    cpl_iss: DFF<Bits<16>>,
    s_cpl: DFF<Bits<16>>,
    s_cnt: DFF<Bits<16>>,
    credits: DFF<Bits<4>>,
    frames_q: DFF<Bits<4>>,
    room: Signal<Local, Bits<16>>,
    cq_room: Signal<Local, Bit>,
    none_posted: Signal<Local, Bit>,
    can_step: Signal<Local, Bit>,
    bad_head: Signal<Local, Bit>,
    mask: Signal<Local, Bits<16>>,
    lap: Signal<Local, Bits<16>>,
    phase: Signal<Local, Bit>,
    rem: Signal<Local, Bits<8>>,
    cpl_take: Signal<Local, Bit>,
    data_take: Signal<Local, Bit>,
    data_done: Signal<Local, Bit>,
    frame_in: Signal<Local, Bit>,
    frame_out: Signal<Local, Bit>,
    s_last: Signal<Local, Bit>,
    s_st: Signal<Local, Bits<7>>,
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
            cq_tail: Default::default(), cq_issued: Default::default(), rd_cmd_valid: Default::default(), rd_cmd_addr: Default::default(),
            rd_cmd_beats: Default::default(), rd_cmd_ready: Default::default(), rd_data: Default::default(),
            rd_valid: Default::default(), rd_ready: Default::default(), rd_last: Default::default(),
            rd_err: Default::default(), wr_cmd_valid: Default::default(), wr_cmd_addr: Default::default(),
            wr_cmd_beats: Default::default(), wr_cmd_cpl: Default::default(), wr_cmd_strb: Default::default(),
            wr_cmd_ready: Default::default(), wr_data: Default::default(), wr_data_valid: Default::default(),
            wr_data_ready: Default::default(), wr_done: Default::default(), wr_done_cpl: Default::default(),
            wr_err: Default::default(), fifo_dout: Default::default(), fifo_empty: Default::default(),
            fifo_pop: Default::default(), meta_dout: Default::default(), meta_empty: Default::default(),
            meta_pop: Default::default(), ev_cpl: Default::default(), delivered: Default::default(),
            delivered_len: Default::default(), inc_drop_nobuf: Default::default(), inc_drop_err: Default::default(),
            busy: Default::default(), streaming: Default::default(),
            dq: Default::default(), pf: DescFetch::new(4, DESC_BATCH, DESC_READS), pf_addr: Default::default(), pf_err: Default::default(),
            sq: Default::default(), recs: Default::default(), derr: Default::default(),
            head_q: Default::default(), cq_tail_q: Default::default(), rec_n: Default::default(),
            cpl_iss: Default::default(), s_cpl: Default::default(), s_cnt: Default::default(),
            credits: Default::default(), frames_q: Default::default(), room: Default::default(),
            cq_room: Default::default(), none_posted: Default::default(), can_step: Default::default(),
            bad_head: Default::default(), mask: Default::default(), lap: Default::default(),
            phase: Default::default(), rem: Default::default(), cpl_take: Default::default(),
            data_take: Default::default(), data_done: Default::default(), frame_in: Default::default(),
            frame_out: Default::default(), s_last: Default::default(), s_st: Default::default(),
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
        dff_setup!(
            self, clock, pf_addr, pf_err, head_q, cq_tail_q, rec_n, cpl_iss, s_cpl, s_cnt, credits, frames_q
        );
        self.dq.clock.next = self.clock.val();
        self.dq.reset.next = self.reset.val();
        self.sq.clock.next = self.clock.val();
        self.sq.reset.next = self.reset.val();
        self.recs.clock.next = self.clock.val();
        self.recs.reset.next = self.reset.val();
        self.derr.clock.next = self.clock.val();
        self.derr.reset.next = self.reset.val();
        self.head.next = self.head_q.q.val();
        self.cq_issued.next = self.cpl_iss.q.val();
        self.cq_tail.next = self.cq_tail_q.q.val();
        self.mask.next = (bits::<16>(1) << self.size_log2.val()) - 1;
        // A completion slot is free for the next record (records reserve slots in ring order).
        self.cq_room.next = (self.rec_n.q.val() - self.cq_head.val()) <= self.mask.val();

        // Prefetcher: the read port is only ever its own here.
        self.pf.clock.next = self.clock.val();
        self.pf.reset.next = self.reset.val();
        self.pf.enable.next = self.enable.val();
        self.pf.may_start.next = true;
        self.pf.base.next = self.base.val();
        self.pf.size_log2.next = self.size_log2.val();
        self.pf.tail.next = self.tail.val();
        self.room.next = bit_cast::<16, 6>(self.dq.free.val());
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
        self.none_posted.next = self.pf.drained.val() & (self.room.val() == 32_u64);
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
        self.bad_head.next = !self.dq.empty.val() & (self.dq.dout.val().code != 0);

        // Decide: one step a cycle, while the streamer and the record queue have room.
        self.can_step.next = (self.sq.free.val() != 0) & (self.recs.free.val() != 0);
        self.rem.next = bit_cast::<8, 16>(self.meta_dout.val().len & 7);
        self.wr_cmd_valid.next = false;
        self.wr_cmd_cpl.next = false;
        self.wr_cmd_addr.next = self.dq.dout.val().addr;
        self.wr_cmd_beats.next = self.meta_dout.val().nbeats;
        self.wr_cmd_strb.next = 0xff_u64.into();
        if self.rem.val() != 0 {
            self.wr_cmd_strb.next = (bits::<8>(1) << self.rem.val()) - 1;
        }
        self.meta_pop.next = false;
        self.dq.pop.next = false;
        self.sq.push.next = false;
        self.sq.din.next.kind = 1.into();
        self.sq.din.next.nbeats = self.meta_dout.val().nbeats;
        self.recs.push.next = false;
        self.recs.din.next.len = self.meta_dout.val().len;
        self.recs.din.next.flags = self.meta_dout.val().flags;
        self.recs.din.next.cdata = self.meta_dout.val().cdata;
        self.recs.din.next.hash = self.meta_dout.val().hash;
        self.recs.din.next.htype = self.meta_dout.val().htype;
        self.recs.din.next.st = self.k_ok.val();
        self.recs.din.next.with_frame = true;
        self.inc_drop_nobuf.next = false;
        self.inc_drop_err.next = false;
        self.cpl_take.next = false;
        self.data_take.next = false;
        self.frame_in.next = false;
        if self.can_step.val() {
            if self.credits.q.val() != 0 {
                // The oldest record whose data is in memory: write its completion.
                self.wr_cmd_valid.next = true;
                self.wr_cmd_cpl.next = true;
                self.wr_cmd_addr.next =
                    self.cq_base.val() + (bit_cast::<64, 16>(self.cpl_iss.q.val() & self.mask.val()) << 4);
                self.wr_cmd_beats.next = 2.into();
                self.wr_cmd_strb.next = 0xff_u64.into();
                if self.wr_cmd_ready.val() {
                    self.cpl_take.next = true;
                    self.sq.push.next = true;
                    self.sq.din.next.kind = 2.into();
                    self.sq.din.next.nbeats = 2.into();
                }
            } else if self.bad_head.val() {
                // A buffer the NIC cannot use completes with its error and no frame, in ring
                // order: once every record before it has completed.
                if self.cq_room.val() & (self.rec_n.q.val() == self.cq_tail_q.q.val()) {
                    self.dq.pop.next = true;
                    self.recs.push.next = true;
                    self.recs.din.next.len = 0.into();
                    self.recs.din.next.flags = 0.into();
                    self.recs.din.next.cdata = 0.into();
                    self.recs.din.next.hash = 0.into();
                    self.recs.din.next.htype = 0.into();
                    self.recs.din.next.st = self.dq.dout.val().code;
                    self.recs.din.next.with_frame = false;
                }
            } else if !self.meta_empty.val() {
                if self.meta_dout.val().drop | (self.meta_dout.val().nbeats == 0) {
                    self.meta_pop.next = true;
                    self.sq.push.next = true;
                    self.frame_in.next = true;
                } else if !self.dq.empty.val() {
                    if bit_cast::<32, 16>(self.meta_dout.val().len) > self.dq.dout.val().len {
                        self.meta_pop.next = true;
                        self.sq.push.next = true;
                        self.frame_in.next = true;
                        self.inc_drop_err.next = true;
                    } else if self.cq_room.val() {
                        self.wr_cmd_valid.next = true;
                        if self.wr_cmd_ready.val() {
                            self.meta_pop.next = true;
                            self.dq.pop.next = true;
                            self.sq.push.next = true;
                            self.sq.din.next.kind = 0.into();
                            self.recs.push.next = true;
                            self.frame_in.next = true;
                        }
                    }
                } else if !self.enable.val() | self.none_posted.val() {
                    // No buffer posted and none on its way: drop rather than stall the wire.
                    self.meta_pop.next = true;
                    self.sq.push.next = true;
                    self.frame_in.next = true;
                    self.inc_drop_nobuf.next = true;
                }
            }
        }

        // Stream: the oldest step. A frame's beats go to the write DMA (which asks for them only
        // while this engine's command is the one streaming) or are dropped; a completion's two
        // beats are built from its record.
        self.lap.next = self.s_cpl.q.val() >> self.size_log2.val();
        self.phase.next = !self.lap.val().get_bit(0);
        self.s_st.next = self.recs.dout.val().st;
        if self.recs.dout.val().with_frame & self.derr.dout.val() {
            self.s_st.next = self.k_dma_error.val();
        }
        self.wr_data.next = self.fifo_dout.val();
        self.wr_data_valid.next = false;
        self.fifo_pop.next = false;
        self.sq.pop.next = false;
        self.recs.pop.next = false;
        self.derr.pop.next = false;
        self.delivered.next = false;
        self.delivered_len.next = self.recs.dout.val().len;
        self.s_last.next = false;
        self.frame_out.next = false;
        if !self.sq.empty.val() {
            if self.sq.dout.val().kind == 2 {
                // Beat 0: len, index, csum_flags; beat 1: flowid, csum_data, rsstype, status|phase.
                self.wr_data.next = bit_cast::<64, 16>(self.recs.dout.val().len)
                    | (bit_cast::<64, 16>(self.s_cpl.q.val()) << 16)
                    | (bit_cast::<64, 32>(self.recs.dout.val().flags) << 32);
                if self.s_cnt.q.val() == 1 {
                    self.wr_data.next = bit_cast::<64, 32>(self.recs.dout.val().hash)
                        | (bit_cast::<64, 16>(self.recs.dout.val().cdata) << 32)
                        | (bit_cast::<64, 8>(self.recs.dout.val().htype) << 48)
                        | ((bit_cast::<64, 7>(self.s_st.val()) | (bit_cast::<64, 1>(self.phase.val().into()) << 7)) << 56);
                }
                self.wr_data_valid.next = true;
                if self.wr_data_ready.val() {
                    self.s_cnt.d.next = self.s_cnt.q.val() + 1;
                    if self.s_cnt.q.val() == 1 {
                        self.s_last.next = true;
                        self.recs.pop.next = true;
                        self.derr.pop.next = self.recs.dout.val().with_frame;
                        self.delivered.next = self.recs.dout.val().with_frame;
                        self.s_cpl.d.next = self.s_cpl.q.val() + 1;
                    }
                }
            } else {
                self.wr_data_valid.next = (self.sq.dout.val().kind == 0) & !self.fifo_empty.val();
                self.fifo_pop.next = !self.fifo_empty.val() & (self.wr_data_ready.val() | (self.sq.dout.val().kind == 1));
                if self.fifo_pop.val() {
                    self.s_cnt.d.next = self.s_cnt.q.val() + 1;
                    if (self.s_cnt.q.val() + 1) == self.sq.dout.val().nbeats {
                        self.s_last.next = true;
                        self.frame_out.next = true;
                    }
                }
                if self.sq.dout.val().nbeats == 0 {
                    self.s_last.next = true;
                    self.frame_out.next = true;
                }
            }
        }
        if self.s_last.val() {
            self.sq.pop.next = true;
            self.s_cnt.d.next = 0.into();
        }
        self.streaming.next = self.frames_q.q.val() != 0;
        if self.frame_in.val() & !self.frame_out.val() {
            self.frames_q.d.next = self.frames_q.q.val() + 1;
        }
        if !self.frame_in.val() & self.frame_out.val() {
            self.frames_q.d.next = self.frames_q.q.val() - 1;
        }

        // Retire: a frame's data in memory gives its record a credit; a completion in memory
        // moves the tail the driver reads and raises the interrupt.
        self.data_done.next = self.wr_done.val() & !self.wr_done_cpl.val();
        self.derr.push.next = self.data_done.val();
        self.derr.din.next = self.wr_err.val();
        self.ev_cpl.next = false;
        if self.wr_done.val() & self.wr_done_cpl.val() {
            self.head_q.d.next = self.head_q.q.val() + 1;
            self.cq_tail_q.d.next = self.cq_tail_q.q.val() + 1;
            self.ev_cpl.next = true;
        }
        if self.recs.push.val() {
            self.rec_n.d.next = self.rec_n.q.val() + 1;
        }
        if self.cpl_take.val() {
            self.cpl_iss.d.next = self.cpl_iss.q.val() + 1;
        }
        // A bad descriptor's record needs no data: it is credited as it is made.
        self.data_take.next = self.data_done.val() | (self.recs.push.val() & !self.recs.din.val().with_frame);
        if self.data_take.val() & !self.cpl_take.val() {
            self.credits.d.next = self.credits.q.val() + 1;
        }
        if !self.data_take.val() & self.cpl_take.val() {
            self.credits.d.next = self.credits.q.val() - 1;
        }

        self.busy.next = (self.rec_n.q.val() != self.cq_tail_q.q.val())
            | (self.sq.free.val() != 8_u64)
            | !self.meta_empty.val()
            | self.pf.busy.val()
            | self.bad_head.val();
        if self.reset.val() {
            self.head_q.d.next = 0.into();
            self.cq_tail_q.d.next = 0.into();
            self.rec_n.d.next = 0.into();
            self.cpl_iss.d.next = 0.into();
            self.s_cpl.d.next = 0.into();
            self.s_cnt.d.next = 0.into();
            self.credits.d.next = 0.into();
            self.frames_q.d.next = 0.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{clock_cycle, lint};

    #[test]
    fn queue_constants_match_the_rtl() {
        // update() writes these as literals (rust-hdl cannot read a Rust constant there).
        assert_eq!(DESC_QUEUE, 1 << 5, "the descriptor FIFO is Fifo<RxBuf, 5, 6>, and none_posted's literal is its size");
    }

    #[test]
    fn rx_engine_lints_in_verilator() {
        let mut b = RxEngine::default();
        b.connect_all();
        lint("rx_engine", &generate_verilog(&b));
    }

    /// One frame as the receive FIFOs hand it to the engine.
    struct InFrame {
        bytes: Vec<u8>,
        drop: bool,
        flags: u32,
        hash: u32,
    }

    /// What the driver must find, in completion order: a frame's bytes, or a descriptor's error.
    #[derive(Debug, PartialEq)]
    enum Want {
        Frame { len: usize, flags: u32, hash: u32, bytes: Vec<u8> },
        Refused(u8),
    }

    /// The engine at its own ports against models of its surroundings: a ring of descriptors
    /// in memory behind a read port with random latency; a write port that takes commands
    /// into a waiting slot, asks for beats in command order and answers each command's `done`
    /// in order after a random delay (the pipelined DMA writer's contract); data and record
    /// FIFOs filled at random times; a driver that posts buffers (some misaligned or with a
    /// reserved word set, some too small) and reaps completions at random, so the completion
    /// queue is full at times and wraps many times. The expected completions come from the
    /// ABI's rules applied in ring order (a sequential model); the records are parsed with the
    /// ABI's typed view. Also checked: no completion's write is asked for before its frame's
    /// data write is done, and the counters' pulses match the model.
    #[test]
    fn frames_and_refusals_complete_in_ring_order_under_random_back_pressure() {
        use crate::testing::dma::{Mem, ReadPort, WritePort};
        use nic_abi::desc::RxDesc;
        use nic_abi::status;
        use rand::{Rng, SeedableRng};
        use std::collections::VecDeque;
        use zerocopy::IntoBytes;
        for seed in [1u64, 2, 3] {
            eprintln!("rx_engine: seed {seed}");
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            const MEM: u64 = 0x10_0000;
            let mut mem = Mem::new(MEM, 0x10_0000);
            let (ring, cq, bufs) = (MEM, MEM + 0x1000, MEM + 0x2000);
            let size_log2 = 4u32;
            let n_ring = 1u64 << size_log2;
            let mut e = RxEngine::default();
            e.connect_all();
            // The frames, and what the driver should see, in order.
            let mut wants: VecDeque<Want> = VecDeque::new();
            let (mut posted, mut reaped) = (0u16, 0u16);
            let mut post_kind: Vec<u8> = vec![]; // per posted buffer: 0 ok, or its refusal status
            let mut buf_len: Vec<u32> = vec![];
            let mut pending_frames: VecDeque<InFrame> = VecDeque::new(); // made, not yet given a buffer in the model
            let mut model_buf = 0usize; // next buffer the sequential model assigns
            let (mut exp_drop_err, mut got_drop_err) = (0u32, 0u32);
            // Ports' models.
            let mut fifo: VecDeque<u64> = VecDeque::new();
            let mut metas: VecDeque<RxMeta> = VecDeque::new();
            let mut rp = ReadPort::default();
            let mut wp: WritePort<bool> = WritePort::default(); // remembers whether a command is a completion
            let (mut data_done, mut cpl_cmds) = (0u64, 0u64);
            let mut cpl_seen_dones: VecDeque<u64> = VecDeque::new(); // data dones when each cpl command was taken
            let mut with_frame_cpls = 0u64;
            let mut made = 0u32;
            let total = 150u32;
            let (mut cycle, mut settled) = (0u64, 0u32);
            while settled < 300 {
                cycle += 1;
                assert!(cycle < 300_000, "seed {seed}: stuck with {} completions still expected", wants.len());
                if made == total && metas.is_empty() && pending_frames.is_empty() && wants.is_empty() {
                    settled += 1;
                }
                // Driver: post a buffer now and then (ring not full), keeping the model's list.
                if posted.wrapping_sub(reaped) < n_ring as u16 && rng.gen_bool(0.2) && posted < 175 {
                    let slot = posted as u64 % n_ring;
                    let addr = bufs + 0x400 * (posted as u64 % 64);
                    let r = rng.gen_range(0..20);
                    let (a, len, rsvd, kind) = match r {
                        0 => (addr + 4, 2048u32, 0u32, status::BAD_ALIGN),
                        1 => (addr, 2048, 1, status::BAD_RSVD),
                        2 => (addr, 64, 0, status::OK), // small: longer frames are dropped
                        _ => (addr, 1024, 0, status::OK),
                    };
                    let d = RxDesc { addr: a.into(), len: len.into(), rsvd: rsvd.into() };
                    mem.at(ring + 16 * slot, 16).copy_from_slice(d.as_bytes());
                    post_kind.push(kind);
                    buf_len.push(len);
                    posted = posted.wrapping_add(1);
                }
                // Frames arrive now and then.
                // (only while a usable buffer is posted for it: with none, dropping is right)
                let avail = post_kind[model_buf..].iter().filter(|&&k| k == status::OK).count();
                if made < total && rng.gen_bool(0.08) && avail > pending_frames.len() {
                    let len = rng.gen_range(1..=300usize);
                    let f = InFrame {
                        bytes: (0..len).map(|_| rng.gen()).collect(),
                        drop: rng.gen_bool(0.05),
                        flags: rng.gen(),
                        hash: rng.gen(),
                    };
                    for c in f.bytes.chunks(8) {
                        let mut w = [0u8; 8];
                        w[..c.len()].copy_from_slice(c);
                        fifo.push_back(u64::from_le_bytes(w));
                    }
                    metas.push_back(RxMeta {
                        len: (len as u64).to_bits(),
                        nbeats: (len.div_ceil(8) as u64).to_bits(),
                        drop: f.drop,
                        flags: (f.flags as u64).to_bits(),
                        cdata: 0xffffu64.to_bits(),
                        hash: (f.hash as u64).to_bits(),
                        htype: 2u64.to_bits(),
                    });
                    if !f.drop {
                        pending_frames.push_back(f);
                    }
                    made += 1;
                }
                // The sequential model: buffers in ring order take the next frames that fit.
                while model_buf < post_kind.len() {
                    if post_kind[model_buf] != status::OK {
                        wants.push_back(Want::Refused(post_kind[model_buf]));
                        model_buf += 1;
                        continue;
                    }
                    let Some(f) = pending_frames.pop_front() else { break };
                    if f.bytes.len() as u32 > buf_len[model_buf] {
                        exp_drop_err += 1;
                        continue;
                    }
                    wants.push_back(Want::Frame { len: f.bytes.len(), flags: f.flags, hash: f.hash, bytes: f.bytes });
                    model_buf += 1;
                }
                // Driver: reap completions now and then.
                if rng.gen_bool(0.3) {
                    if let Some(c) = mem.completion(cq, reaped, size_log2) {
                        assert_eq!(c.index.get(), reaped, "seed {seed}: completion index");
                        let want = wants.pop_front().expect("a completion the model expects");
                        let got = if c.status & 0x7f == status::OK {
                            Want::Frame {
                                len: c.len.get() as usize,
                                flags: c.csum_flags.get(),
                                hash: c.flowid.get(),
                                bytes: mem.at(bufs + 0x400 * (reaped as u64 % 64), c.len.get() as usize).to_vec(),
                            }
                        } else {
                            assert_eq!(c.len.get(), 0, "seed {seed}: a refused buffer holds no frame");
                            Want::Refused(c.status & 0x7f)
                        };
                        assert_eq!(got, want, "seed {seed}: completion {reaped}");
                        reaped = reaped.wrapping_add(1);
                    }
                }
                // Drive the ports.
                let offer = rp.offer(cycle, &mut rng);
                e.reset.next = cycle < 3;
                e.enable.next = true;
                e.base.next = ring.to_bits();
                e.size_log2.next = (size_log2 as u64).to_bits();
                e.tail.next = (posted as u64).to_bits();
                e.cq_base.next = cq.to_bits();
                e.cq_head.next = (reaped as u64).to_bits();
                e.rd_cmd_ready.next = rng.gen_bool(0.5);
                e.rd_data.next = mem.beat(offer.map_or(MEM, |o| o.0)).to_bits();
                e.rd_valid.next = offer.is_some();
                e.rd_last.next = offer.is_some_and(|o| o.1);
                e.rd_err.next = false;
                e.wr_cmd_ready.next = wp.cmd_ready(&mut rng);
                e.wr_data_ready.next = wp.data_ready(&mut rng);
                let dn = wp.done(cycle).copied();
                e.wr_done.next = dn.is_some();
                e.wr_done_cpl.next = dn == Some(true);
                e.wr_err.next = false;
                e.fifo_dout.next = fifo.front().copied().unwrap_or(0).to_bits();
                e.fifo_empty.next = fifo.is_empty();
                e.meta_dout.next = metas.front().copied().unwrap_or_default();
                e.meta_empty.next = metas.is_empty();
                clock_cycle(&mut e, |e, c| e.clock.next = Clock { clk: c }, |e| {
                    if cycle < 3 {
                        return;
                    }
                    if e.rd_cmd_valid.val() && e.rd_cmd_ready.val() {
                        rp.command(cycle, e.rd_cmd_addr.val().to_u64(), e.rd_cmd_beats.val().index() as u64, &mut rng);
                    }
                    if offer.is_some() && e.rd_ready.val() {
                        rp.taken();
                    }
                    if e.wr_cmd_valid.val() && e.wr_cmd_ready.val() {
                        let cpl = e.wr_cmd_cpl.val();
                        wp.command(e.wr_cmd_addr.val().to_u64(), e.wr_cmd_beats.val().index() as u64, e.wr_cmd_strb.val().index() as u64, cpl);
                        if cpl {
                            cpl_cmds += 1;
                            cpl_seen_dones.push_back(data_done);
                        }
                    }
                    if e.wr_data_valid.val() && e.wr_data_ready.val() {
                        if let Some((cpl, bytes)) = wp.beat(&mut mem, e.wr_data.val().to_u64(), cycle, &mut rng) {
                            if cpl {
                                // A completion for a frame must not have been asked for before that frame's data was done.
                                let st = bytes[7] & 0x7f;
                                let seen = cpl_seen_dones.pop_front().unwrap();
                                if st == status::OK {
                                    with_frame_cpls += 1;
                                    assert!(seen >= with_frame_cpls, "seed {seed}: completion written before its data was done");
                                }
                            }
                        }
                    }
                    if let Some(cpl) = dn {
                        wp.done_given();
                        if !cpl {
                            data_done += 1;
                        }
                    }
                    if e.fifo_pop.val() {
                        assert!(fifo.pop_front().is_some(), "seed {seed}: popped an empty data FIFO");
                    }
                    if e.meta_pop.val() {
                        assert!(metas.pop_front().is_some(), "seed {seed}: popped an empty record FIFO");
                    }
                    if e.inc_drop_err.val() {
                        got_drop_err += 1;
                    }
                    assert!(!e.inc_drop_nobuf.val(), "seed {seed}: dropped for want of a buffer while buffers were posted");
                });
            }
            eprintln!("  {reaped} completions, {made} frames ({exp_drop_err} too long for their buffer) in {cycle} cycles");
            assert!(reaped >= 100, "seed {seed}: only {reaped} completions in {cycle} cycles");
            assert!(mem.completion(cq, reaped, size_log2).is_none(), "seed {seed}: a completion nobody expected");
            assert_eq!(got_drop_err, exp_drop_err, "seed {seed}: frames dropped as too long");
            assert!(cpl_cmds >= reaped as u64);
        }
    }
}
