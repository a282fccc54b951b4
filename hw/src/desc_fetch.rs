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

    /// Against a ring in memory and an in-order read port with random latency and back-pressure:
    /// every posted descriptor is delivered exactly once and in ring order (its beats tagged with
    /// their index in the batch), no read crosses the ring's end or exceeds the batch, at most
    /// `max_out` reads are in flight, and what is in flight always fits the engine's queue.
    #[test]
    fn every_posted_descriptor_arrives_once_in_order_within_batch_room_and_reads_in_flight() {
        use rand::{Rng, SeedableRng};
        use std::collections::VecDeque;
        for (seed, batch, max_out) in [(1u64, 4u64, 1u64), (2, 16, 2), (3, 16, 3), (4, 5, 2)] {
            eprintln!("desc_fetch: seed {seed}, batch {batch}, max_out {max_out}");
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let mut b = DescFetch::new(4, batch, max_out); // 16-byte descriptors: 2 beats each
            b.connect_all();
            let (size_log2, base) = (5u64, 0x4000u64);
            let mut tail = 0u64;
            let mut reads: VecDeque<(u64, u64, u64)> = VecDeque::new(); // (ready at, first beat address, beats)
            let mut beat_no = 0u64;
            let mut queue: VecDeque<u64> = VecDeque::new(); // descriptors landed, not yet used by the engine
            let mut expected = 0u64; // index of the next descriptor to land
            let mut half = None;
            let mut in_flight_beats = 0u64;
            let room_cap = 2 * batch * max_out;
            for cycle in 0..6000u64 {
                // Post more now and then (never more than the ring holds beyond what is consumed).
                if rng.gen_bool(0.05) {
                    let can = (1 << size_log2) - (tail - (expected - queue.len() as u64));
                    tail += rng.gen_range(0..=can.min(9));
                }
                // The engine uses its queue now and then.
                if !queue.is_empty() && rng.gen_bool(0.3) {
                    queue.pop_front();
                }
                let front_ready = reads.front().is_some_and(|r| cycle >= r.0);
                let rvalid = front_ready && rng.gen_bool(0.8);
                let (addr, nbeats) = reads.front().map(|r| (r.1, r.2)).unwrap_or((0, 1));
                b.reset.next = cycle < 2;
                b.enable.next = true;
                b.may_start.next = rng.gen_bool(0.7);
                b.base.next = base.to_bits();
                b.size_log2.next = size_log2.to_bits();
                b.tail.next = (tail as u16 as u64).to_bits();
                b.room.next = (room_cap - queue.len() as u64).to_bits();
                b.rd_cmd_ready.next = rng.gen_bool(0.6);
                b.rd_valid.next = rvalid;
                b.rd_last.next = beat_no + 1 == nbeats;
                crate::testing::clock_cycle(&mut b, |b, c| b.clock.next = Clock { clk: c }, |b| {
                    if cycle < 2 {
                        return;
                    }
                    if b.rd_cmd_valid.val() && b.rd_cmd_ready.val() {
                        let a = b.rd_cmd_addr.val().to_u64();
                        let n = b.rd_cmd_beats.val().index() as u64;
                        assert!(n >= 2 && n.is_multiple_of(2) && n / 2 <= batch, "seed {seed}: read of {n} beats");
                        let first = (a - base) / 16;
                        assert!(first + n / 2 <= 1 << size_log2, "seed {seed}: read past the ring's end");
                        assert!(reads.len() < max_out as usize, "seed {seed}: more than {max_out} reads in flight");
                        reads.push_back((cycle + rng.gen_range(1..40), a, n));
                        in_flight_beats += n;
                        // Landed descriptors plus those still on their way must fit the queue.
                        assert!(
                            queue.len() as u64 + (in_flight_beats - beat_no) / 2 <= room_cap,
                            "seed {seed}: fetched more than the queue has room for"
                        );
                    }
                    if rvalid {
                        assert!(b.rd_ready.val(), "seed {seed}: a batch's beat refused");
                        assert!(b.beat.val());
                        assert_eq!(b.beat_idx.val().index() as u64, beat_no, "seed {seed}: beat index");
                        let a = addr + 8 * beat_no;
                        let idx = (a - base) / 16;
                        if beat_no.is_multiple_of(2) {
                            half = Some(idx);
                        } else {
                            assert_eq!(half.take(), Some(idx));
                            assert_eq!(idx, expected % (1 << size_log2), "seed {seed}: descriptors out of ring order");
                            expected += 1;
                            queue.push_back(idx);
                        }
                        beat_no += 1;
                        if beat_no == nbeats {
                            reads.pop_front();
                            in_flight_beats -= nbeats;
                            beat_no = 0;
                        }
                    } else {
                        assert!(!b.beat.val());
                    }
                });
            }
            assert!(expected + 40 >= tail && expected > 200, "seed {seed}: {expected} of {tail} posted fetched");
        }
    }
}
