//! Descriptor prefetcher shared by the TX and RX engines: it reads posted
//! descriptors in batches so a frame never waits for its own descriptor's
//! round trip.
//!
//! A batch is at most `batch` descriptors (a build parameter of each
//! engine), never past the ring's end, never more than the engine's queue
//! has room for once the batches in flight have landed. Up to `max_out`
//! batches may be in flight at once, so the queue refills while earlier
//! batches are still on their way: to keep line rate, `batch × max_out`
//! must cover the read latency divided by the frame time (see
//! [`crate::rx_engine::DESC_QUEUE`]). The block only moves beats: it tells
//! the engine which beat of its batch it is taking (`beat`, `beat_idx`) and
//! the engine assembles its own records.
//!
//! ```text
//! PIdle --posted, room, may_start, < max_out in flight--> PReq (read command) --taken--> PIdle
//! beats: counted per batch; each batch's last beat lands its descriptors
//! ```

use rust_hdl::prelude::*;

/// Descriptors one TX read fetches, at most.
pub const DESC_BATCH: u64 = 4;

/// States of the prefetcher's request side.
#[allow(missing_docs)] // rust-hdl's derive generates undocumented accessors
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum PfState {
    /// Waiting for posted descriptors, queue room and a free read port.
    PIdle,
    /// Asking the read DMA for a batch.
    PReq,
}

/// The descriptor prefetcher.
#[derive(LogicBlock)]
pub struct DescFetch {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset (hardware or soft): fetching restarts at index 0.
    pub reset: Signal<In, Bit>,
    /// CTRL_ENABLE.
    pub enable: Signal<In, Bit>,
    /// The engine's read port is free for a new batch.
    pub may_start: Signal<In, Bit>,
    /// Ring base IOVA.
    pub base: Signal<In, Bits<64>>,
    /// Ring log2 size.
    pub size_log2: Signal<In, Bits<4>>,
    /// Producer index (doorbell).
    pub tail: Signal<In, Bits<16>>,
    /// Free entries in the engine's descriptor queue.
    pub room: Signal<In, Bits<16>>,
    /// Read DMA command valid.
    pub rd_cmd_valid: Signal<Out, Bit>,
    /// Read DMA command address.
    pub rd_cmd_addr: Signal<Out, Bits<64>>,
    /// Read DMA command beats.
    pub rd_cmd_beats: Signal<Out, Bits<16>>,
    /// Read DMA took the command.
    pub rd_cmd_ready: Signal<In, Bit>,
    /// Read data valid.
    pub rd_valid: Signal<In, Bit>,
    /// Last beat of the command.
    pub rd_last: Signal<In, Bit>,
    /// Read data taken.
    pub rd_ready: Signal<Out, Bit>,
    /// A beat of the batch is taken this cycle.
    pub beat: Signal<Out, Bit>,
    /// Its index within the batch (the low bits say which beat of a descriptor it is).
    pub beat_idx: Signal<Out, Bits<16>>,
    /// A batch is requested or in flight: the read port is the prefetcher's.
    pub active: Signal<Out, Bit>,
    /// Idle with nothing posted beyond what was fetched.
    pub drained: Signal<Out, Bit>,
    /// Active, or about to start.
    pub busy: Signal<Out, Bit>,
    pf: DFF<PfState>,
    // Descriptors requested (ihead) and landed (head); batches in flight; beats of the current one.
    ihead: DFF<Bits<16>>,
    head: DFF<Bits<16>>,
    outs: DFF<Bits<3>>,
    k_q: DFF<Bits<16>>,
    cnt: DFF<Bits<16>>,
    mask: Signal<Local, Bits<16>>,
    posted: Signal<Local, Bits<16>>,
    in_flight: Signal<Local, Bits<16>>,
    free: Signal<Local, Bits<16>>,
    to_end: Signal<Local, Bits<16>>,
    k: Signal<Local, Bits<16>>,
    issue: Signal<Local, Bit>,
    land: Signal<Local, Bit>,
    desc_shift: Constant<Bits<16>>,
    beat_shift: Constant<Bits<16>>,
    batch: Constant<Bits<16>>,
    max_out: Constant<Bits<3>>,
}

impl DescFetch {
    /// A prefetcher for descriptors of `1 << desc_bytes_log2` bytes (TX 32, RX 16), reading up
    /// to `batch` of them at a time with up to `max_out` (1 to 7) reads in flight.
    pub fn new(desc_bytes_log2: u64, batch: u64, max_out: u64) -> Self {
        assert!((1..8).contains(&max_out) && batch >= 1 && (batch << desc_bytes_log2 >> 3) <= crate::dma_rd::MAX_BURST * 8);
        Self {
            clock: Default::default(),
            reset: Default::default(),
            enable: Default::default(),
            may_start: Default::default(),
            base: Default::default(),
            size_log2: Default::default(),
            tail: Default::default(),
            room: Default::default(),
            rd_cmd_valid: Default::default(),
            rd_cmd_addr: Default::default(),
            rd_cmd_beats: Default::default(),
            rd_cmd_ready: Default::default(),
            rd_valid: Default::default(),
            rd_last: Default::default(),
            rd_ready: Default::default(),
            beat: Default::default(),
            beat_idx: Default::default(),
            active: Default::default(),
            drained: Default::default(),
            busy: Default::default(),
            pf: Default::default(),
            ihead: Default::default(),
            head: Default::default(),
            outs: Default::default(),
            k_q: Default::default(),
            cnt: Default::default(),
            mask: Default::default(),
            posted: Default::default(),
            in_flight: Default::default(),
            free: Default::default(),
            to_end: Default::default(),
            k: Default::default(),
            issue: Default::default(),
            land: Default::default(),
            desc_shift: Constant::new(desc_bytes_log2.to_bits()),
            beat_shift: Constant::new((desc_bytes_log2 - 3).to_bits()),
            batch: Constant::new(batch.to_bits()),
            max_out: Constant::new(max_out.to_bits()),
        }
    }
}

impl Logic for DescFetch {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, pf, ihead, head, outs, k_q, cnt);
        self.mask.next = (bits::<16>(1) << self.size_log2.val()) - 1;
        self.posted.next = self.tail.val() - self.ihead.q.val();
        self.in_flight.next = self.ihead.q.val() - self.head.q.val();
        self.free.next = 0.into();
        if self.room.val() > self.in_flight.val() {
            self.free.next = self.room.val() - self.in_flight.val();
        }
        self.to_end.next = (self.mask.val() + 1) - (self.ihead.q.val() & self.mask.val());
        self.k.next = self.posted.val();
        if self.k.val() > self.batch.val() {
            self.k.next = self.batch.val();
        }
        if self.k.val() > self.to_end.val() {
            self.k.next = self.to_end.val();
        }
        if self.k.val() > self.free.val() {
            self.k.next = self.free.val();
        }
        self.rd_cmd_valid.next = self.pf.q.val() == PfState::PReq;
        self.rd_cmd_addr.next =
            self.base.val() + (bit_cast::<64, 16>(self.ihead.q.val() & self.mask.val()) << self.desc_shift.val());
        self.rd_cmd_beats.next = self.k_q.q.val() << self.beat_shift.val();
        self.rd_ready.next = self.outs.q.val() != 0;
        self.beat.next = (self.outs.q.val() != 0) & self.rd_valid.val();
        self.beat_idx.next = self.cnt.q.val();
        self.active.next = (self.pf.q.val() == PfState::PReq) | (self.outs.q.val() != 0);
        self.drained.next =
            (self.pf.q.val() == PfState::PIdle) & (self.outs.q.val() == 0) & (self.posted.val() == 0);
        self.busy.next = self.active.val() | (self.enable.val() & (self.k.val() != 0));
        self.issue.next = false;
        match self.pf.q.val() {
            PfState::PIdle => {
                if self.enable.val() & (self.k.val() != 0) & self.may_start.val() & (self.outs.q.val() < self.max_out.val()) {
                    self.k_q.d.next = self.k.val();
                    self.pf.d.next = PfState::PReq;
                }
            }
            PfState::PReq => {
                if self.rd_cmd_ready.val() {
                    self.issue.next = true;
                    self.ihead.d.next = self.ihead.q.val() + self.k_q.q.val();
                    self.pf.d.next = PfState::PIdle;
                }
            }
        }
        // Batches come back in the order asked (one read ID); each one's last beat lands it.
        self.land.next = self.beat.val() & self.rd_last.val();
        if self.beat.val() {
            self.cnt.d.next = self.cnt.q.val() + 1;
        }
        if self.land.val() {
            self.cnt.d.next = 0.into();
            self.head.d.next = self.head.q.val() + ((self.cnt.q.val() + 1) >> self.beat_shift.val());
        }
        if self.issue.val() & !self.land.val() {
            self.outs.d.next = self.outs.q.val() + 1;
        }
        if !self.issue.val() & self.land.val() {
            self.outs.d.next = self.outs.q.val() - 1;
        }
        if self.reset.val() {
            self.pf.d.next = PfState::PIdle;
            self.ihead.d.next = 0.into();
            self.head.d.next = 0.into();
            self.outs.d.next = 0.into();
            self.cnt.d.next = 0.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::lint;

    #[test]
    fn desc_fetch_lints_in_verilator() {
        let mut b = DescFetch::new(5, 4, 1);
        b.connect_all();
        lint("desc_fetch", &generate_verilog(&b));
    }
}
