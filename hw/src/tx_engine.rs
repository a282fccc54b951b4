//! Transmit queue engine: prefetches descriptors, refuses malformed ones,
//! fetches frame data into the TX FIFO through the checksum accumulators,
//! and writes one completion per descriptor.
//!
//! A [`DescFetch`] and the frame machine share the engine's read port, never
//! at the same time: the prefetcher keeps up to [`DESC_QUEUE`] descriptors
//! (4 beats each) queued, fetching between data fetches, so a frame does not
//! wait for its own descriptor's round trip. The frame machine takes the queue's head and hands its completion to a
//! third machine, which writes completions in order while the next frame's
//! data is fetched:
//! ```text
//! Idle -> Check --ok--> DataReq -> Data -> Meta (frame record, completion record) -> Idle
//!           \--refused: completion record--> Idle
//! CIdle --record queued, CQ slot free--> CReq -> CData (2 beats, write response) -> CIdle
//! ```
//! Every state leaves on its own (the DMA engines always finish a command,
//! error responses included) or on reset, so the engine always returns to
//! Idle. A refused descriptor puts nothing in the FIFO; a data fetch that got
//! an error response is marked `drop` so the output stage discards it.
//! Field positions inside the descriptor beats are those of `nic_abi::desc`
//! (a test below holds them equal).

use crate::desc_fetch::DescFetch;
pub use crate::desc_fetch::DESC_BATCH;
use crate::fifo::Fifo;
use crate::tx_out::TxMeta;
use nic_abi::{csum, ifcap, status};
pub use crate::records::{TxD, TxCpl};
use rust_hdl::prelude::*;

/// Transmit descriptors the prefetcher holds, at most.
pub const DESC_QUEUE: u64 = 8;



/// States of the completion writer.
#[allow(missing_docs)] // rust-hdl's derive generates undocumented accessors
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum CplState {
    /// Waiting for a queued completion and room in the completion queue.
    CIdle,
    /// Asking the write DMA.
    CReq,
    /// Writing the two beats and waiting for the write response.
    CData,
}

/// States of the transmit frame machine.
#[allow(missing_docs)] // rust-hdl's derive generates undocumented accessors
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum TxState {
    /// Waiting for a queued descriptor.
    Idle,
    /// Validating the descriptor.
    Check,
    /// Asking the read DMA for the frame.
    DataReq,
    /// Streaming the frame into the FIFO.
    Data,
    /// Handing the per-frame record to the output stage and the completion to its writer.
    Meta,
}

/// The transmit engine.
#[derive(LogicBlock)]
pub struct TxEngine {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset (hardware or soft).
    pub reset: Signal<In, Bit>,
    /// CTRL_ENABLE.
    pub enable: Signal<In, Bit>,
    /// CAPENABLE.
    pub capenable: Signal<In, Bits<32>>,
    /// Ring base IOVA.
    pub base: Signal<In, Bits<64>>,
    /// Ring log2 size.
    pub size_log2: Signal<In, Bits<4>>,
    /// Producer index (doorbell).
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
    /// Data FIFO push.
    pub fifo_push: Signal<Out, Bit>,
    /// Data FIFO word.
    pub fifo_din: Signal<Out, Bits<64>>,
    /// Data FIFO full.
    pub fifo_full: Signal<In, Bit>,
    /// Meta FIFO push.
    pub meta_push: Signal<Out, Bit>,
    /// Meta FIFO record.
    pub meta_din: Signal<Out, TxMeta>,
    /// Meta FIFO has no room for another frame.
    pub meta_full: Signal<In, Bit>,
    /// Pulses when a completion is written.
    pub ev_cpl: Signal<Out, Bit>,
    /// Pulses when a descriptor completes with an error status.
    pub inc_desc_err: Signal<Out, Bit>,
    /// Not in Idle, or about to leave it (work posted).
    pub busy: Signal<Out, Bit>,
    state: DFF<TxState>,
    head_q: DFF<Bits<16>>,
    cq_tail_q: DFF<Bits<16>>,
    cnt: DFF<Bits<16>>,
    d_addr: DFF<Bits<64>>,
    d_len: DFF<Bits<32>>,
    d_flags: DFF<Bits<32>>,
    d_l2: DFF<Bits<8>>,
    d_l3: DFF<Bits<8>>,
    d_rsvd0: DFF<Bits<8>>,
    d_cdata: DFF<Bits<16>>,
    d_tso: DFF<Bits<16>>,
    d_rsvd1: DFF<Bits<64>>,
    st: DFF<Bits<7>>,
    drop: DFF<Bit>,
    dq: Fifo<TxD, 3, 4>,
    cq: Fifo<TxCpl, 3, 4>,
    cst: DFF<CplState>,
    ccnt: DFF<Bits<2>>,
    pf: DescFetch,
    pf_addr: DFF<Bits<64>>,
    pf_w1: DFF<Bits<64>>,
    pf_w2: DFF<Bits<64>>,
    pf_err: DFF<Bit>,
    room: Signal<Local, Bits<16>>,
    data_port: Signal<Local, Bit>,
    csum: crate::tx_csum::TxCsum,
    mask: Signal<Local, Bits<16>>,
    l4s: Signal<Local, Bits<16>>,
    chk: Signal<Local, Bits<7>>,
    v4req: Signal<Local, Bit>,
    v6req: Signal<Local, Bit>,
    l4req: Signal<Local, Bit>,
    ipreq: Signal<Local, Bit>,
    udp: Signal<Local, Bit>,
    f_ip: Signal<Local, Bits<16>>,
    f_l4: Signal<Local, Bits<16>>,
    ck_l4: Signal<Local, Bits<16>>,
    phase: Signal<Local, Bit>,
    lap: Signal<Local, Bits<16>>,
    k_ip: Constant<Bits<32>>,
    k_ip_udp: Constant<Bits<32>>,
    k_ip_tcp: Constant<Bits<32>>,
    k_ip6_udp: Constant<Bits<32>>,
    k_ip6_tcp: Constant<Bits<32>>,
    k_supported: Constant<Bits<32>>,
    k_cap_tx4: Constant<Bits<32>>,
    k_cap_tx6: Constant<Bits<32>>,
    k_min: Constant<Bits<32>>,
    k_max: Constant<Bits<32>>,
    k_ok: Constant<Bits<7>>,
    k_bad_len: Constant<Bits<7>>,
    k_bad_align: Constant<Bits<7>>,
    k_bad_offsets: Constant<Bits<7>>,
    k_bad_flags: Constant<Bits<7>>,
    k_bad_rsvd: Constant<Bits<7>>,
    k_dma_error: Constant<Bits<7>>,
}

fn k<const N: usize>(v: u64) -> Constant<Bits<N>> {
    Constant::new(v.to_bits())
}

impl Default for TxEngine {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            enable: Default::default(),
            capenable: Default::default(),
            base: Default::default(),
            size_log2: Default::default(),
            tail: Default::default(),
            cq_base: Default::default(),
            cq_head: Default::default(),
            head: Default::default(),
            cq_tail: Default::default(),
            rd_cmd_valid: Default::default(),
            rd_cmd_addr: Default::default(),
            rd_cmd_beats: Default::default(),
            rd_cmd_ready: Default::default(),
            rd_data: Default::default(),
            rd_valid: Default::default(),
            rd_ready: Default::default(),
            rd_last: Default::default(),
            rd_err: Default::default(),
            wr_cmd_valid: Default::default(),
            wr_cmd_addr: Default::default(),
            wr_cmd_beats: Default::default(),
            wr_cmd_strb: Default::default(),
            wr_cmd_ready: Default::default(),
            wr_data: Default::default(),
            wr_data_valid: Default::default(),
            wr_data_ready: Default::default(),
            wr_done: Default::default(),
            fifo_push: Default::default(),
            fifo_din: Default::default(),
            fifo_full: Default::default(),
            meta_push: Default::default(),
            meta_din: Default::default(),
            meta_full: Default::default(),
            ev_cpl: Default::default(),
            inc_desc_err: Default::default(),
            busy: Default::default(),
            state: Default::default(),
            head_q: Default::default(),
            cq_tail_q: Default::default(),
            cnt: Default::default(),
            d_addr: Default::default(),
            d_len: Default::default(),
            d_flags: Default::default(),
            d_l2: Default::default(),
            d_l3: Default::default(),
            d_rsvd0: Default::default(),
            d_cdata: Default::default(),
            d_tso: Default::default(),
            d_rsvd1: Default::default(),
            st: Default::default(),
            drop: Default::default(),
            dq: Default::default(),
            cq: Default::default(),
            cst: Default::default(),
            ccnt: Default::default(),
            pf: DescFetch::new(5),
            pf_addr: Default::default(),
            pf_w1: Default::default(),
            pf_w2: Default::default(),
            pf_err: Default::default(),
            room: Default::default(),
            data_port: Default::default(),
            csum: Default::default(),
            mask: Default::default(),
            l4s: Default::default(),
            chk: Default::default(),
            v4req: Default::default(),
            v6req: Default::default(),
            l4req: Default::default(),
            ipreq: Default::default(),
            udp: Default::default(),
            f_ip: Default::default(),
            f_l4: Default::default(),
            ck_l4: Default::default(),
            phase: Default::default(),
            lap: Default::default(),
            k_ip: k(csum::CSUM_IP as u64),
            k_ip_udp: k(csum::CSUM_IP_UDP as u64),
            k_ip_tcp: k(csum::CSUM_IP_TCP as u64),
            k_ip6_udp: k(csum::CSUM_IP6_UDP as u64),
            k_ip6_tcp: k(csum::CSUM_IP6_TCP as u64),
            k_supported: k(csum::TX_SUPPORTED as u64),
            k_cap_tx4: k(ifcap::IFCAP_TXCSUM as u64),
            k_cap_tx6: k(ifcap::IFCAP_TXCSUM_IPV6 as u64),
            k_min: k(nic_abi::MIN_TX_FRAME as u64),
            k_max: k(nic_abi::MAX_FRAME as u64),
            k_ok: k(status::OK as u64),
            k_bad_len: k(status::BAD_LEN as u64),
            k_bad_align: k(status::BAD_ALIGN as u64),
            k_bad_offsets: k(status::BAD_OFFSETS as u64),
            k_bad_flags: k(status::BAD_FLAGS as u64),
            k_bad_rsvd: k(status::BAD_RSVD as u64),
            k_dma_error: k(status::DMA_ERROR as u64),
        }
    }
}

impl Logic for TxEngine {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, head_q, cq_tail_q, cnt, d_addr, d_len, d_flags, d_l2, d_l3, d_rsvd0, d_cdata,
            d_tso, d_rsvd1, st, drop, pf_addr, pf_w1, pf_w2, pf_err, cst, ccnt
        );
        self.csum.clock.next = self.clock.val();
        self.dq.clock.next = self.clock.val();
        self.dq.reset.next = self.reset.val();
        self.cq.clock.next = self.clock.val();
        self.cq.reset.next = self.reset.val();
        self.head.next = self.head_q.q.val();
        self.cq_tail.next = self.cq_tail_q.q.val();
        self.mask.next = (bits::<16>(1) << self.size_log2.val()) - 1;
        self.room.next = bit_cast::<16, 4>(self.dq.free.val());
        // The frame machine owns the read port from Check to the end of Data; the prefetcher starts
        // only outside that window, and DataReq waits for a prefetch already under way.
        self.data_port.next = (self.state.q.val() == TxState::Check)
            | (self.state.q.val() == TxState::DataReq)
            | (self.state.q.val() == TxState::Data);
        self.busy.next = (self.state.q.val() != TxState::Idle)
            | self.pf.busy.val()
            | !self.dq.empty.val()
            | (self.cst.q.val() != CplState::CIdle)
            | !self.cq.empty.val();
        self.l4s.next = bit_cast::<16, 8>(self.d_l2.q.val()) + bit_cast::<16, 8>(self.d_l3.q.val());

        // Descriptor checks (ABI: nic_abi::status), first failing rule wins.
        self.ipreq.next = (self.d_flags.q.val() & self.k_ip.val()) != 0;
        self.v4req.next = (self.d_flags.q.val() & (self.k_ip.val() | self.k_ip_udp.val() | self.k_ip_tcp.val())) != 0;
        self.v6req.next = (self.d_flags.q.val() & (self.k_ip6_udp.val() | self.k_ip6_tcp.val())) != 0;
        self.l4req.next = (self.d_flags.q.val()
            & (self.k_ip_udp.val() | self.k_ip_tcp.val() | self.k_ip6_udp.val() | self.k_ip6_tcp.val()))
            != 0;
        self.udp.next = (self.d_flags.q.val() & (self.k_ip_udp.val() | self.k_ip6_udp.val())) != 0;
        self.chk.next = self.k_ok.val();
        if (self.d_rsvd0.q.val() != 0) | (self.d_rsvd1.q.val() != 0) | (self.d_tso.q.val() != 0) {
            self.chk.next = self.k_bad_rsvd.val();
        } else if (self.d_len.q.val() < self.k_min.val()) | (self.d_len.q.val() > self.k_max.val()) {
            self.chk.next = self.k_bad_len.val();
        } else if (self.d_addr.q.val() & 7_u64) != 0 {
            self.chk.next = self.k_bad_align.val();
        } else if ((self.d_flags.q.val() & !self.k_supported.val()) != 0)
            | (self.v4req.val() & self.v6req.val())
            | (((self.d_flags.q.val() & self.k_ip_udp.val()) != 0) & ((self.d_flags.q.val() & self.k_ip_tcp.val()) != 0))
            | (((self.d_flags.q.val() & self.k_ip6_udp.val()) != 0) & ((self.d_flags.q.val() & self.k_ip6_tcp.val()) != 0))
            | (self.v4req.val() & ((self.capenable.val() & self.k_cap_tx4.val()) == 0))
            | (self.v6req.val() & ((self.capenable.val() & self.k_cap_tx6.val()) == 0))
        {
            self.chk.next = self.k_bad_flags.val();
        } else if (self.ipreq.val()
            & ((self.d_l3.q.val() < 20) | self.d_l2.q.val().get_bit(0) | (bit_cast::<32, 16>(self.l4s.val()) > self.d_len.q.val())))
            | (self.l4req.val()
                & (self.l4s.val().get_bit(0)
                    | self.d_cdata.q.val().get_bit(0)
                    | ((bit_cast::<32, 16>(self.l4s.val()) + bit_cast::<32, 16>(self.d_cdata.q.val()) + 2) > self.d_len.q.val())))
        {
            // IPv4 header: at least 20 bytes, even start, inside the frame; L4: even start,
            // even checksum offset, the checksum field inside the frame.
            self.chk.next = self.k_bad_offsets.val();
        }

        // Checksum accumulators see every data beat.
        self.csum.start.next = self.state.q.val() == TxState::DataReq;
        self.csum.beat.next = self.rd_data.val();
        self.csum.valid.next = (self.state.q.val() == TxState::Data) & self.rd_valid.val() & !self.fifo_full.val();
        self.csum.off.next = self.cnt.q.val() << 3;
        self.csum.ip_lo.next = bit_cast::<16, 8>(self.d_l2.q.val());
        self.csum.ip_hi.next = self.l4s.val();
        self.csum.ip_ck.next = bit_cast::<16, 8>(self.d_l2.q.val()) + 10;
        self.csum.l4_lo.next = self.l4s.val();
        self.csum.l4_hi.next = bit_cast::<16, 32>(self.d_len.q.val());
        // Final values: fold twice, complement; UDP sends a zero result as 0xffff.
        self.f_ip.next = bit_cast::<16, 32>(self.csum.ip_sum.val()) + bit_cast::<16, 32>(self.csum.ip_sum.val() >> 16);
        if self.f_ip.val() < bit_cast::<16, 32>(self.csum.ip_sum.val()) {
            self.f_ip.next = self.f_ip.val() + 1;
        }
        self.f_l4.next = bit_cast::<16, 32>(self.csum.l4_sum.val()) + bit_cast::<16, 32>(self.csum.l4_sum.val() >> 16);
        if self.f_l4.val() < bit_cast::<16, 32>(self.csum.l4_sum.val()) {
            self.f_l4.next = self.f_l4.val() + 1;
        }
        self.ck_l4.next = !self.f_l4.val();
        if self.udp.val() & (self.ck_l4.val() == 0) {
            self.ck_l4.next = 0xffff_u64.into();
        }

        // Prefetcher, starting a batch only outside the frame machine's read window.
        self.pf.clock.next = self.clock.val();
        self.pf.reset.next = self.reset.val();
        self.pf.enable.next = self.enable.val();
        self.pf.may_start.next = !self.data_port.val();
        self.pf.base.next = self.base.val();
        self.pf.size_log2.next = self.size_log2.val();
        self.pf.tail.next = self.tail.val();
        self.pf.room.next = self.room.val();
        self.pf.rd_cmd_ready.next = self.rd_cmd_ready.val();
        self.pf.rd_valid.next = self.rd_valid.val();
        self.pf.rd_last.next = self.rd_last.val();
        // Read port defaults: the prefetcher's (DataReq and Data override below).
        self.rd_cmd_valid.next = self.pf.rd_cmd_valid.val();
        self.rd_cmd_addr.next = self.pf.rd_cmd_addr.val();
        self.rd_cmd_beats.next = self.pf.rd_cmd_beats.val();
        self.rd_ready.next = self.pf.rd_ready.val();
        self.dq.push.next = false;
        self.dq.pop.next = false;
        self.dq.din.next.addr = self.pf_addr.q.val();
        self.dq.din.next.len = self.pf_w1.q.val().get_bits::<32>(0);
        self.dq.din.next.flags = self.pf_w1.q.val().get_bits::<32>(32);
        self.dq.din.next.l2 = self.pf_w2.q.val().get_bits::<8>(0);
        self.dq.din.next.l3 = self.pf_w2.q.val().get_bits::<8>(8);
        self.dq.din.next.rsvd0 = self.pf_w2.q.val().get_bits::<8>(24);
        self.dq.din.next.cdata = self.pf_w2.q.val().get_bits::<16>(32);
        self.dq.din.next.tso = self.pf_w2.q.val().get_bits::<16>(48);
        self.dq.din.next.rsvd1_nz = self.rd_data.val() != 0;
        self.dq.din.next.err = self.pf_err.q.val() | self.rd_err.val();
        // Records: beats addr, len|csum_flags, l2hlen..tso_segsz, rsvd1 (nic_abi::desc::tx).
        if self.pf.beat.val() {
            if self.rd_err.val() {
                self.pf_err.d.next = true;
            }
            if self.pf.beat_idx.val().get_bits::<2>(0) == 0 {
                self.pf_addr.d.next = self.rd_data.val();
                self.pf_err.d.next = self.rd_err.val();
            }
            if self.pf.beat_idx.val().get_bits::<2>(0) == 1 {
                self.pf_w1.d.next = self.rd_data.val();
            }
            if self.pf.beat_idx.val().get_bits::<2>(0) == 2 {
                self.pf_w2.d.next = self.rd_data.val();
            }
            if self.pf.beat_idx.val().get_bits::<2>(0) == 3 {
                self.dq.push.next = true;
            }
        }
        // Completion writer: one record at a time from the queue, in order, never over an unreturned slot.
        self.wr_cmd_valid.next = false;
        self.wr_cmd_addr.next = self.cq_base.val() + (bit_cast::<64, 16>(self.cq_tail_q.q.val() & self.mask.val()) << 4);
        self.wr_cmd_beats.next = 2.into();
        self.wr_cmd_strb.next = 0xff_u64.into();
        self.lap.next = self.cq_tail_q.q.val() >> self.size_log2.val();
        self.phase.next = !self.lap.val().get_bit(0);
        // Completion beat 0: len[15:0] index[31:16] csum_flags[63:32] (zero on TX); beat 1: status|phase at [63:56].
        self.wr_data.next = bit_cast::<64, 16>(self.cq.dout.val().len) | (bit_cast::<64, 16>(self.cq.dout.val().index) << 16);
        if self.ccnt.q.val() == 1 {
            self.wr_data.next =
                (bit_cast::<64, 7>(self.cq.dout.val().status) | (bit_cast::<64, 1>(self.phase.val().into()) << 7)) << 56;
        }
        self.wr_data_valid.next = (self.cst.q.val() == CplState::CData) & (self.ccnt.q.val() < 2_u64);
        self.cq.pop.next = false;
        self.ev_cpl.next = false;
        self.inc_desc_err.next = false;
        match self.cst.q.val() {
            CplState::CIdle => {
                if !self.cq.empty.val() & ((self.cq_tail_q.q.val() - self.cq_head.val()) <= self.mask.val()) {
                    self.cst.d.next = CplState::CReq;
                }
            }
            CplState::CReq => {
                self.wr_cmd_valid.next = true;
                if self.wr_cmd_ready.val() {
                    self.ccnt.d.next = 0.into();
                    self.cst.d.next = CplState::CData;
                }
            }
            CplState::CData => {
                if self.wr_data_ready.val() & (self.ccnt.q.val() < 2_u64) {
                    self.ccnt.d.next = self.ccnt.q.val() + 1;
                }
                if self.wr_done.val() {
                    self.cq.pop.next = true;
                    self.cq_tail_q.d.next = self.cq_tail_q.q.val() + 1;
                    self.ev_cpl.next = true;
                    self.inc_desc_err.next = self.cq.dout.val().status != self.k_ok.val();
                    self.cst.d.next = CplState::CIdle;
                }
            }
        }
        self.cq.push.next = false;
        self.cq.din.next.index = self.head_q.q.val();
        self.cq.din.next.len = bit_cast::<16, 32>(self.d_len.q.val());
        self.cq.din.next.status = self.chk.val();
        self.fifo_push.next = false;
        self.fifo_din.next = self.rd_data.val();
        self.meta_push.next = false;
        self.meta_din.next.len = bit_cast::<16, 32>(self.d_len.q.val());
        self.meta_din.next.drop = self.drop.q.val();
        self.meta_din.next.ip_en = self.ipreq.val();
        self.meta_din.next.ip_off = bit_cast::<16, 8>(self.d_l2.q.val()) + 10;
        self.meta_din.next.ip_ck = !self.f_ip.val();
        self.meta_din.next.l4_en = self.l4req.val();
        self.meta_din.next.l4_off = self.l4s.val() + self.d_cdata.q.val();
        self.meta_din.next.l4_ck = self.ck_l4.val();

        match self.state.q.val() {
            TxState::Idle => {
                if !self.dq.empty.val() & !self.cq.full.val() & !self.meta_full.val() {
                    self.dq.pop.next = true;
                    self.d_addr.d.next = self.dq.dout.val().addr;
                    self.d_len.d.next = self.dq.dout.val().len;
                    self.d_flags.d.next = self.dq.dout.val().flags;
                    self.d_l2.d.next = self.dq.dout.val().l2;
                    self.d_l3.d.next = self.dq.dout.val().l3;
                    self.d_rsvd0.d.next = self.dq.dout.val().rsvd0;
                    self.d_cdata.d.next = self.dq.dout.val().cdata;
                    self.d_tso.d.next = self.dq.dout.val().tso;
                    self.d_rsvd1.d.next = bit_cast::<64, 1>(self.dq.dout.val().rsvd1_nz.into());
                    self.state.d.next = TxState::Check;
                    if self.dq.dout.val().err {
                        // The descriptor itself could not be read: complete it, length 0.
                        self.cq.push.next = true;
                        self.cq.din.next.len = 0.into();
                        self.cq.din.next.status = self.k_dma_error.val();
                        self.head_q.d.next = self.head_q.q.val() + 1;
                        self.state.d.next = TxState::Idle;
                    }
                }
            }
            TxState::Check => {
                self.st.d.next = self.chk.val();
                self.drop.d.next = false;
                if self.chk.val() == self.k_ok.val() {
                    self.state.d.next = TxState::DataReq;
                } else {
                    // Refused: nothing fetched, nothing sent; the completion says why.
                    self.cq.push.next = true;
                    self.head_q.d.next = self.head_q.q.val() + 1;
                    self.state.d.next = TxState::Idle;
                }
            }
            TxState::DataReq => {
                if !self.pf.active.val() {
                    self.rd_cmd_valid.next = true;
                    self.rd_cmd_addr.next = self.d_addr.q.val();
                    self.rd_cmd_beats.next = bit_cast::<16, 32>((self.d_len.q.val() + 7) >> 3);
                }
                if !self.pf.active.val() & self.rd_cmd_ready.val() {
                    self.cnt.d.next = 0.into();
                    self.state.d.next = TxState::Data;
                }
            }
            TxState::Data => {
                self.rd_ready.next = !self.fifo_full.val();
                if self.rd_valid.val() & !self.fifo_full.val() {
                    self.fifo_push.next = true;
                    self.cnt.d.next = self.cnt.q.val() + 1;
                    if self.rd_last.val() {
                        self.state.d.next = TxState::Meta;
                        if self.rd_err.val() {
                            self.drop.d.next = true;
                            self.st.d.next = self.k_dma_error.val();
                        }
                    }
                }
            }
            TxState::Meta => {
                self.meta_push.next = true;
                self.cq.push.next = true;
                self.cq.din.next.status = self.st.q.val();
                self.head_q.d.next = self.head_q.q.val() + 1;
                self.state.d.next = TxState::Idle;
            }
        }
        if self.reset.val() {
            self.state.d.next = TxState::Idle;
            self.head_q.d.next = 0.into();
            self.cq_tail_q.d.next = 0.into();
            self.cst.d.next = CplState::CIdle;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::lint;
    use nic_abi::desc::{beat, lsb, tx};

    #[test]
    fn queue_constants_match_the_rtl() {
        // update() writes these as literals (rust-hdl cannot read a Rust constant there).
        assert_eq!(DESC_BATCH, 4);
        assert_eq!(DESC_QUEUE, 1 << 3, "the descriptor FIFO is Fifo<TxD, 3, 4>");
    }

    #[test]
    fn tx_engine_lints_in_verilator() {
        let mut b = TxEngine::default();
        b.connect_all();
        lint("tx_engine", &generate_verilog(&b));
    }

    /// The beat/bit positions hard-coded in `update()` are the ABI's.
    #[test]
    fn descriptor_field_positions_come_from_the_abi() {
        assert_eq!((beat(tx::ADDR), lsb(tx::ADDR)), (0, 0));
        assert_eq!((beat(tx::LEN), lsb(tx::LEN)), (1, 0));
        assert_eq!((beat(tx::CSUM_FLAGS), lsb(tx::CSUM_FLAGS)), (1, 32));
        assert_eq!((beat(tx::L2HLEN), lsb(tx::L2HLEN)), (2, 0));
        assert_eq!((beat(tx::L3HLEN), lsb(tx::L3HLEN)), (2, 8));
        assert_eq!((beat(tx::RSVD0), lsb(tx::RSVD0)), (2, 24));
        assert_eq!((beat(tx::CSUM_DATA), lsb(tx::CSUM_DATA)), (2, 32));
        assert_eq!((beat(tx::TSO_SEGSZ), lsb(tx::TSO_SEGSZ)), (2, 48));
        assert_eq!((beat(tx::RSVD1), lsb(tx::RSVD1)), (3, 0));
        assert_eq!(tx::BEATS, 4);
        use nic_abi::desc::cpl;
        assert_eq!((beat(cpl::LEN), lsb(cpl::LEN)), (0, 0));
        assert_eq!((beat(cpl::INDEX), lsb(cpl::INDEX)), (0, 16));
        assert_eq!((beat(cpl::CSUM_FLAGS), lsb(cpl::CSUM_FLAGS)), (0, 32));
        assert_eq!((beat(cpl::FLOWID), lsb(cpl::FLOWID)), (1, 0));
        assert_eq!((beat(cpl::CSUM_DATA), lsb(cpl::CSUM_DATA)), (1, 32));
        assert_eq!((beat(cpl::STATUS), lsb(cpl::STATUS)), (1, 56));
    }
}
