//! Transmit queue engine: prefetches descriptors, gathers and checks each
//! packet's descriptor chain, fetches its buffers through the segmenter into
//! the TX FIFO, and writes one completion per descriptor.
//!
//! Packets are in flight, so the next packet's reads overlap this one's data.
//! A [`DescFetch`] keeps up to [`DESC_QUEUE`] descriptors (4 beats each)
//! queued, [`DESC_READS`] batches in flight. The **front** takes a whole chain
//! (at most `nic_abi::desc::TX_MAX_CHAIN` descriptors) and checks every
//! descriptor before any data moves, so a refused packet puts nothing on the
//! wire; it hands the packet's record to the back and asks for the TSO
//! template and each buffer, then goes on to the next packet. The **back**
//! takes one record at a time and the returned beats in the order they were
//! asked for (from a 32-beat FIFO that takes them off the read port as they
//! come, so descriptor beats behind a packet's data never wait for the
//! segmenter): the template into the segmenter and its check (a mismatch drops
//! the packet's beats already on their way), then the buffers through the
//! segmenter into the TX FIFO; it goes on to the next packet while the
//! segmenter finishes this one, which starts the next in the same cycle its
//! last segment's record leaves. **Retire** takes the packets the back is done
//! with, in order, each once its status is known (a segmented packet's from
//! the segmenter's `done`), and queues one completion per descriptor. Returned
//! beats go to the prefetcher or the back as `rkind` (each read's owner, in
//! order) says. A fourth machine writes the completions in order:
//! ```text
//! front:  Idle -> Gather -> Flush (record to the back) --ok--> [HdrReq] -> DataReq (each buffer) -> Idle
//!                                    \--refused: drop its buffers--> Idle [-> Skip: the rest of an overlong chain]
//! back:   BIdle -> [BHdr (segmenter idle) -> BHdrChk --bad--> BDrain -> BIdle] -> BGo (until taken) -> BData -> BIdle
//!               \--refused: to retire--> BIdle
//! retire: RIdle --packet's status known--> RCpl (one record per descriptor) -> RIdle
//! CIdle --record queued, its frames retired, CQ slot free--> CReq -> CData (2 beats) -> CIdle; responses move the CQ tail
//! ```
//! A completion is written only once every frame its packet put in the FIFO
//! has left the output stage (`retired`, counted there per queue): "complete"
//! means "on the wire", so a driver that moves a flow to another queue after
//! its completions knows nothing of it is still waiting in this queue's FIFO.
//! Every state leaves on its own (the DMA engines always finish a command,
//! error responses included; the segmenter always finishes a packet), on the
//! host posting the rest of a chain, or on reset. Field positions inside the
//! descriptor beats are those of `nic_abi::desc` (a test below holds them equal).

use crate::desc_fetch::DescFetch;
use crate::fifo::Fifo;
use crate::tx_out::TxMeta;
use crate::tx_seg::TxSeg;
use nic_abi::{csum, desc as abi_desc, ifcap, status};
pub use crate::records::{TxCpl, TxD, TxPkt, TxRet, TxSg};
use rust_hdl::prelude::*;

/// Transmit descriptors one read fetches, at most (32 beats: one burst).
pub const DESC_BATCH: u64 = 8;

/// Reads of transmit descriptors in flight at once, at most: with a PCIe-like read latency of
/// about 150 cycles, minimum-size packets (one per 11 cycles) need about 15 descriptors on their
/// way. A batch is asked for only when the queue has room for it beside those in flight, so two
/// batches of 8 in a queue of 16 leave one batch in flight most of the time; four in a queue of
/// 32 keep two to three. (Returned beats find their owner through `rkind`, so the prefetcher's
/// reads and the packets' reads may be in flight together.)
pub const DESC_READS: u64 = 4;

/// Completion writes whose response is still to come, at most (the `cq_out` counter is 3 bits;
/// `update()` writes the 4 as a literal). With the write DMA's response latency of a few cycles,
/// four keep a completion leaving every five cycles, twice the rate of minimum-size packets.
pub const CPL_IN_FLIGHT: u64 = 4;

/// Transmit descriptors the prefetcher holds, at most (`Fifo<TxD, 5, 6>`): the batches in flight
/// must fit when they land.
pub const DESC_QUEUE: u64 = DESC_BATCH * DESC_READS;



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

/// States of the front part: gather and check a packet, then ask for its reads.
#[allow(missing_docs)] // rust-hdl's derive generates undocumented accessors
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum TxState {
    /// Waiting for a queued descriptor (and room for a packet behind).
    Idle,
    /// Taking and checking the packet's descriptors, one per cycle.
    Gather,
    /// Asking the read DMA for the TSO header template.
    HdrReq,
    /// Asking the read DMA for each buffer.
    DataReq,
    /// A refused packet: dropping its buffers from the buffer queue.
    Flush,
    /// Refusing the rest of a chain longer than the NIC follows, one descriptor a packet record.
    Skip,
}

/// States of the back part: one packet record at a time, its returned beats into the segmenter.
#[allow(missing_docs)] // rust-hdl's derive generates undocumented accessors
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum BackState {
    /// Waiting for a packet record.
    BIdle,
    /// Receiving the TSO template into the segmenter.
    BHdr,
    /// Checking the template against the descriptor.
    BHdrChk,
    /// Starting the segmenter.
    BGo,
    /// Streaming the buffers' beats into the segmenter.
    BData,
    /// Dropping the beats of a packet refused after its reads were asked for.
    BDrain,
}

/// States of the retire part: a packet the back is done with, its completions queued in order.
#[allow(missing_docs)] // rust-hdl's derive generates undocumented accessors
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum RetState {
    /// Waiting for a packet whose status is known (a segmented one: its `done` from the segmenter).
    RIdle,
    /// Queuing its completions, one per descriptor.
    RCpl,
}

// `rkind` (32 entries) is pushed without a full check: one entry per read in flight.
const _: () = assert!(crate::dma_rd::READS_IN_FLIGHT <= 32, "rkind is Fifo<Bit, 5, 6>: one entry per read in flight");

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
    /// Completions whose write has started: the most the driver can have seen (doorbell checks).
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
    pub fifo_free: Signal<In, Bits<16>>,
    /// Meta FIFO push.
    pub meta_push: Signal<Out, Bit>,
    /// Meta FIFO record.
    pub meta_din: Signal<Out, TxMeta>,
    /// Meta FIFO has no room for another frame.
    pub meta_full: Signal<In, Bit>,
    /// Frames of this queue the output stage has finished (sent or discarded), free-running.
    pub retired: Signal<In, Bits<16>>,
    /// Pulses when a completion is written.
    pub ev_cpl: Signal<Out, Bit>,
    /// Pulses when a descriptor completes with an error status.
    pub inc_desc_err: Signal<Out, Bit>,
    /// Not in Idle, or about to leave it (work posted).
    pub busy: Signal<Out, Bit>,
    /// A soft reset waits for the DMA to go idle: returned beats are taken and dropped (the engine
    /// is reset next). Without it a read in flight could wait for room in a TX FIFO that no
    /// longer drains (no new frame starts toward the MAC then), and the reset for that read.
    pub drain: Signal<In, Bit>,
    state: DFF<TxState>,
    back: DFF<BackState>,
    // Packets between front and back; which part each read in flight belongs to (1: prefetch).
    pk: Fifo<TxPkt, 5, 6>,
    rkind: Fifo<Bit, 5, 6>,
    bp: DFF<TxPkt>,
    bcnt: DFF<Bits<16>>,
    bsts: DFF<Bits<7>>,
    // Packets the back is done with, in order; the segmenter's `err` for each segmented one.
    rq: Fifo<TxRet, 3, 4>,
    se: Fifo<Bit, 3, 4>,
    rst: DFF<RetState>,
    rsts: DFF<Bits<7>>,
    rci: DFF<Bits<4>>,
    tb: DFF<Bits<16>>,
    k_pf: Signal<Local, Bit>,
    k_data: Signal<Local, Bit>,
    rd_take: Signal<Local, Bit>,
    // The packets' returned beats ({err, data}), taken off the read port as they come so the
    // descriptor beats behind them never wait for the segmenter; the back reads from here.
    bd: Fifo<Bits<65>, 5, 6>,
    b_data: Signal<Local, Bits<64>>,
    b_err: Signal<Local, Bit>,
    b_take: Signal<Local, Bit>,
    b_flags: Signal<Local, Bits<32>>,
    b_plen: Signal<Local, Bits<32>>,
    b_hl: Signal<Local, Bits<16>>,
    g_beats: Signal<Local, Bits<16>>,
    g_hbeats: Signal<Local, Bits<16>>,
    head_q: DFF<Bits<16>>,
    cq_tail_q: DFF<Bits<16>>,
    // Completion slots written (the tail is those whose write response is back), writes outstanding.
    cq_iss: DFF<Bits<16>>,
    cq_out: DFF<Bits<3>>,
    cq_used: Signal<Local, Bits<16>>,
    cpl_take: Signal<Local, Bit>,
    cpl_back: Signal<Local, Bit>,
    ci: DFF<Bits<4>>,
    left: DFF<Bits<4>>,
    tot: DFF<Bits<32>>,
    pst: DFF<Bits<7>>,
    skip_after: DFF<Bit>,
    // Flush's first cycle: the packet's record is still to be handed to the back.
    rec_pend: DFF<Bit>,
    first_buf: DFF<Bit>,
    d_addr: DFF<Bits<64>>,
    d_plen: DFF<Bits<32>>,
    d_flags: DFF<Bits<32>>,
    d_l2: DFF<Bits<8>>,
    d_l3: DFF<Bits<8>>,
    d_l4: DFF<Bits<8>>,
    d_cdata: DFF<Bits<16>>,
    d_tso: DFF<Bits<16>>,
    dq: Fifo<TxD, 5, 6>,
    ch: Fifo<TxSg, 3, 4>,
    cl: Fifo<Bits<16>, 5, 6>,
    cq: Fifo<TxCpl, 3, 4>,
    pushed: DFF<Bits<16>>,
    /// `retired` − the head record's `seq`, modulo 2^16.
    ret_d: Signal<Local, Bits<16>>,
    retired_ok: Signal<Local, Bit>,
    cst: DFF<CplState>,
    ccnt: DFF<Bits<2>>,
    pf: DescFetch,
    pf_addr: DFF<Bits<64>>,
    pf_w1: DFF<Bits<64>>,
    pf_w2: DFF<Bits<64>>,
    pf_err: DFF<Bit>,
    room: Signal<Local, Bits<16>>,
    data_port: Signal<Local, Bit>,
    seg: TxSeg,
    mask: Signal<Local, Bits<16>>,
    // The descriptor at the head of the queue, as the gather phase checks it.
    g_first: Signal<Local, Bit>,
    // (A field of a record is copied to a signal before a bit-select on it: yosys rejects a
    // select of a select, which is what rust-hdl emits for `record.field.get_bits()`.)
    g_blen: Signal<Local, Bits<32>>,
    g_more: Signal<Local, Bit>,
    g_tso: Signal<Local, Bit>,
    g_plen: Signal<Local, Bits<32>>,
    g_pl: Signal<Local, Bits<32>>,
    g_tot: Signal<Local, Bits<32>>,
    g_hl: Signal<Local, Bits<16>>,
    g_l4s: Signal<Local, Bits<16>>,
    g_v4: Signal<Local, Bit>,
    g_v6: Signal<Local, Bit>,
    g_ipreq: Signal<Local, Bit>,
    g_l4req: Signal<Local, Bit>,
    g_rsvd: Signal<Local, Bit>,
    g_len: Signal<Local, Bit>,
    g_flags: Signal<Local, Bit>,
    g_offs: Signal<Local, Bit>,
    g_chain: Signal<Local, Bit>,
    chk: Signal<Local, Bits<7>>,
    pst_n: Signal<Local, Bits<7>>,
    // The packet being sent (latched from its first descriptor).
    hl: Signal<Local, Bits<16>>,
    /// Beats of the buffer at the head of the buffer queue.
    ch_beats: Signal<Local, Bits<16>>,
    tso: Signal<Local, Bit>,
    phase: Signal<Local, Bit>,
    lap: Signal<Local, Bits<16>>,
    k_ip: Constant<Bits<32>>,
    k_ip_udp: Constant<Bits<32>>,
    k_ip_tcp: Constant<Bits<32>>,
    k_ip6_udp: Constant<Bits<32>>,
    k_ip6_tcp: Constant<Bits<32>>,
    k_tso: Constant<Bits<32>>,
    k_supported: Constant<Bits<32>>,
    k_cap_tx4: Constant<Bits<32>>,
    k_cap_tx6: Constant<Bits<32>>,
    k_cap_tso4: Constant<Bits<32>>,
    k_cap_tso6: Constant<Bits<32>>,
    k_min: Constant<Bits<32>>,
    k_max: Constant<Bits<32>>,
    k_tso_max: Constant<Bits<32>>,
    /// Largest buffer (`TX_MAX_SEGSIZE`): a buffer's beats are counted in 16 bits.
    k_max_seg: Constant<Bits<32>>,
    k_max16: Constant<Bits<16>>,
    k_max_hdr: Constant<Bits<16>>,
    k_l4_min: Constant<Bits<8>>,
    k_l4_max: Constant<Bits<8>>,
    k_l4_align: Constant<Bits<8>>,
    k_ip4_min: Constant<Bits<8>>,
    k_ip6_min: Constant<Bits<8>>,
    k_tcp_csum: Constant<Bits<16>>,
    k_chain: Constant<Bits<4>>,
    k_ok: Constant<Bits<7>>,
    k_bad_len: Constant<Bits<7>>,
    k_bad_align: Constant<Bits<7>>,
    k_bad_offsets: Constant<Bits<7>>,
    k_bad_flags: Constant<Bits<7>>,
    k_bad_rsvd: Constant<Bits<7>>,
    k_dma_error: Constant<Bits<7>>,
    k_bad_chain: Constant<Bits<7>>,
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
            cq_issued: Default::default(),
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
            fifo_free: Default::default(),
            meta_push: Default::default(),
            meta_din: Default::default(),
            meta_full: Default::default(),
            ev_cpl: Default::default(),
            retired: Default::default(),
            inc_desc_err: Default::default(),
            busy: Default::default(),
            drain: Default::default(),
            state: Default::default(),
            back: Default::default(),
            pk: Default::default(),
            rkind: Default::default(),
            bp: Default::default(),
            bcnt: Default::default(),
            bsts: Default::default(),
            rq: Default::default(),
            se: Default::default(),
            rst: Default::default(),
            rsts: Default::default(),
            rci: Default::default(),
            tb: Default::default(),
            k_pf: Default::default(),
            k_data: Default::default(),
            rd_take: Default::default(),
            bd: Default::default(),
            b_data: Default::default(),
            b_err: Default::default(),
            b_take: Default::default(),
            b_flags: Default::default(),
            b_plen: Default::default(),
            b_hl: Default::default(),
            g_beats: Default::default(),
            g_hbeats: Default::default(),
            head_q: Default::default(),
            cq_tail_q: Default::default(),
            cq_iss: Default::default(),
            cq_out: Default::default(),
            cq_used: Default::default(),
            cpl_take: Default::default(),
            cpl_back: Default::default(),
            ci: Default::default(),
            left: Default::default(),
            tot: Default::default(),
            pst: Default::default(),
            skip_after: Default::default(),
            rec_pend: Default::default(),
            first_buf: Default::default(),
            d_addr: Default::default(),
            d_plen: Default::default(),
            d_flags: Default::default(),
            d_l2: Default::default(),
            d_l3: Default::default(),
            d_l4: Default::default(),
            d_cdata: Default::default(),
            d_tso: Default::default(),
            dq: Default::default(),
            ch: Default::default(),
            cl: Default::default(),
            cq: Default::default(),
            pushed: Default::default(),
            ret_d: Default::default(),
            retired_ok: Default::default(),
            cst: Default::default(),
            ccnt: Default::default(),
            pf: DescFetch::new(5, DESC_BATCH, DESC_READS),
            pf_addr: Default::default(),
            pf_w1: Default::default(),
            pf_w2: Default::default(),
            pf_err: Default::default(),
            room: Default::default(),
            data_port: Default::default(),
            seg: Default::default(),
            mask: Default::default(),
            g_first: Default::default(),
            g_blen: Default::default(),
            g_more: Default::default(),
            g_tso: Default::default(),
            g_plen: Default::default(),
            g_pl: Default::default(),
            g_tot: Default::default(),
            g_hl: Default::default(),
            g_l4s: Default::default(),
            g_v4: Default::default(),
            g_v6: Default::default(),
            g_ipreq: Default::default(),
            g_l4req: Default::default(),
            g_rsvd: Default::default(),
            g_len: Default::default(),
            g_flags: Default::default(),
            g_offs: Default::default(),
            g_chain: Default::default(),
            chk: Default::default(),
            pst_n: Default::default(),
            hl: Default::default(),
            ch_beats: Default::default(),
            tso: Default::default(),
            phase: Default::default(),
            lap: Default::default(),
            k_ip: k(csum::CSUM_IP as u64),
            k_ip_udp: k(csum::CSUM_IP_UDP as u64),
            k_ip_tcp: k(csum::CSUM_IP_TCP as u64),
            k_ip6_udp: k(csum::CSUM_IP6_UDP as u64),
            k_ip6_tcp: k(csum::CSUM_IP6_TCP as u64),
            k_tso: k(csum::CSUM_TSO as u64),
            k_supported: k(csum::TX_SUPPORTED as u64),
            k_cap_tx4: k(ifcap::IFCAP_TXCSUM as u64),
            k_cap_tx6: k(ifcap::IFCAP_TXCSUM_IPV6 as u64),
            k_cap_tso4: k(ifcap::IFCAP_TSO4 as u64),
            k_cap_tso6: k(ifcap::IFCAP_TSO6 as u64),
            k_min: k(nic_abi::MIN_TX_FRAME as u64),
            k_max: k(nic_abi::MAX_FRAME as u64),
            k_tso_max: k(abi_desc::TSO_MAX_BYTES as u64),
            k_max_seg: k(abi_desc::TX_MAX_SEGSIZE as u64),
            k_max16: k(nic_abi::MAX_FRAME as u64),
            k_max_hdr: k(abi_desc::TSO_MAX_HDR as u64),
            k_l4_min: k(abi_desc::TSO_L4HLEN_MIN as u64),
            k_l4_max: k(abi_desc::TSO_L4HLEN_MAX as u64),
            k_l4_align: k(abi_desc::TSO_L4HLEN_ALIGN as u64 - 1),
            k_ip4_min: k(abi_desc::IP4_HLEN_MIN as u64),
            k_ip6_min: k(abi_desc::IP6_HLEN_MIN as u64),
            k_tcp_csum: k(csum::TCP_CSUM_OFFSET as u64),
            k_chain: k(abi_desc::TX_MAX_CHAIN as u64 - 1),
            k_ok: k(status::OK as u64),
            k_bad_len: k(status::BAD_LEN as u64),
            k_bad_align: k(status::BAD_ALIGN as u64),
            k_bad_offsets: k(status::BAD_OFFSETS as u64),
            k_bad_flags: k(status::BAD_FLAGS as u64),
            k_bad_rsvd: k(status::BAD_RSVD as u64),
            k_dma_error: k(status::DMA_ERROR as u64),
            k_bad_chain: k(status::BAD_CHAIN as u64),
        }
    }
}

impl Logic for TxEngine {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, back, bp, bcnt, bsts, rst, rsts, rci, tb, head_q, cq_tail_q, cq_iss, cq_out, ci, left, tot, pst, skip_after,
            rec_pend, first_buf, d_addr, d_plen, d_flags, d_l2, d_l3, d_l4, d_cdata, d_tso, pf_addr, pf_w1, pf_w2,
            pf_err, cst, ccnt, pushed
        );
        clock!(self, clock, seg, dq, ch, cl, cq, pk, rkind, rq, se, bd);
        self.bd.reset.next = self.reset.val();
        self.b_data.next = self.bd.dout.val().get_bits::<64>(0);
        self.b_err.next = self.bd.dout.val().get_bit(64);
        self.pk.reset.next = self.reset.val();
        self.rq.reset.next = self.reset.val();
        self.se.reset.next = self.reset.val();
        self.rkind.reset.next = self.reset.val();
        self.seg.reset.next = self.reset.val();
        self.dq.reset.next = self.reset.val();
        self.ch.reset.next = self.reset.val();
        self.cl.reset.next = self.reset.val();
        self.cq.reset.next = self.reset.val();
        self.head.next = self.head_q.q.val();
        self.cq_tail.next = self.cq_tail_q.q.val();
        self.cq_issued.next = self.cq_iss.q.val();
        self.mask.next = (bits::<16>(1) << self.size_log2.val()) - 1;
        self.room.next = bit_cast::<16, 6>(self.dq.free.val());
        // The front asks for reads while it is in HdrReq/DataReq; the prefetcher starts a batch only
        // outside that (it must run during Gather: a chain may still be arriving). Returned beats
        // go to whoever asked, in order: `rkind` holds each read's owner.
        self.data_port.next = (self.state.q.val() == TxState::HdrReq) | (self.state.q.val() == TxState::DataReq);
        self.busy.next = (self.state.q.val() != TxState::Idle)
            | (self.back.q.val() != BackState::BIdle)
            | (self.pk.free.val() != 32_u64)
            | (self.rst.q.val() != RetState::RIdle)
            | !self.rq.empty.val()
            | !self.se.empty.val()
            | !self.bd.empty.val()
            | (self.rkind.free.val() != 32_u64)
            | self.pf.busy.val()
            | !self.dq.empty.val()
            | (self.cst.q.val() != CplState::CIdle)
            | (self.cq_out.q.val() != 0)
            | !self.cq.empty.val()
            | self.seg.busy.val();

        // Checks of the descriptor at the queue head (ABI: nic_abi::status, nic_abi::desc); the
        // first rule broken, in this order, names the packet's status.
        self.g_first.next = self.ci.q.val() == 0;
        self.g_blen.next = self.dq.dout.val().len;
        self.g_more.next = (self.dq.dout.val().dflags & 1_u64) != 0;
        self.g_tso.next = (self.dq.dout.val().flags & self.k_tso.val()) != 0;
        self.g_plen.next = self.dq.dout.val().plen;
        if self.g_plen.val() == 0 {
            self.g_plen.next = self.dq.dout.val().len;
        }
        self.g_pl.next = self.d_plen.q.val();
        if self.g_first.val() {
            self.g_pl.next = self.g_plen.val();
        }
        self.g_tot.next = self.tot.q.val() + self.dq.dout.val().len;
        self.g_l4s.next = bit_cast::<16, 8>(self.dq.dout.val().l2) + bit_cast::<16, 8>(self.dq.dout.val().l3);
        self.g_hl.next = self.g_l4s.val() + bit_cast::<16, 8>(self.dq.dout.val().l4);
        self.g_ipreq.next = (self.dq.dout.val().flags & self.k_ip.val()) != 0;
        self.g_v4.next = (self.dq.dout.val().flags & (self.k_ip.val() | self.k_ip_udp.val() | self.k_ip_tcp.val())) != 0;
        self.g_v6.next = (self.dq.dout.val().flags & (self.k_ip6_udp.val() | self.k_ip6_tcp.val())) != 0;
        self.g_l4req.next = (self.dq.dout.val().flags
            & (self.k_ip_udp.val() | self.k_ip_tcp.val() | self.k_ip6_udp.val() | self.k_ip6_tcp.val()))
            != 0;
        // Reserved fields; a continuation descriptor carries only addr, len and flags.
        self.g_rsvd.next = self.dq.dout.val().rsvd1_nz
            | ((self.dq.dout.val().dflags & 0xfe_u64) != 0)
            | (!self.g_tso.val() & (self.dq.dout.val().tso != 0));
        if !self.g_first.val() {
            self.g_rsvd.next = self.g_rsvd.val()
                | (self.dq.dout.val().flags != 0)
                | (self.dq.dout.val().l2 != 0)
                | (self.dq.dout.val().l3 != 0)
                | (self.dq.dout.val().l4 != 0)
                | (self.dq.dout.val().cdata != 0)
                | (self.dq.dout.val().tso != 0)
                | (self.dq.dout.val().plen != 0);
        }
        // Lengths: every buffer within TX_MAX_SEGSIZE (its beats, (len + 7) / 8, are counted in 16
        // bits), the packet within the frame (or TSO burst) limits, a TSO segment within a frame.
        self.g_len.next = (self.dq.dout.val().len == 0) | (self.dq.dout.val().len > self.k_max_seg.val());
        if self.g_first.val() {
            self.g_len.next = (self.dq.dout.val().len == 0)
                | (self.dq.dout.val().len > self.k_max_seg.val())
                | (self.g_plen.val() < self.k_min.val())
                | (!self.g_tso.val() & (self.g_plen.val() > self.k_max.val()))
                | (self.g_tso.val()
                    & ((self.g_plen.val() > self.k_tso_max.val())
                        | (self.dq.dout.val().tso == 0)
                        | (bit_cast::<32, 16>(self.g_hl.val()) + bit_cast::<32, 16>(self.dq.dout.val().tso)
                            > self.k_max.val())
                        | (bit_cast::<32, 16>(self.g_hl.val()) >= self.g_plen.val())));
        }
        // Flags: known, one family, one L4 protocol, enabled; TSO is TCP only.
        self.g_flags.next = false;
        if self.g_first.val() {
            self.g_flags.next = ((self.dq.dout.val().flags & !self.k_supported.val()) != 0)
                | (self.g_v4.val() & self.g_v6.val())
                | (((self.dq.dout.val().flags & self.k_ip_udp.val()) != 0)
                    & ((self.dq.dout.val().flags & self.k_ip_tcp.val()) != 0))
                | (((self.dq.dout.val().flags & self.k_ip6_udp.val()) != 0)
                    & ((self.dq.dout.val().flags & self.k_ip6_tcp.val()) != 0))
                | (self.g_v4.val() & ((self.capenable.val() & self.k_cap_tx4.val()) == 0))
                | (self.g_v6.val() & ((self.capenable.val() & self.k_cap_tx6.val()) == 0))
                | (self.g_tso.val()
                    & (((self.dq.dout.val().flags & (self.k_ip_tcp.val() | self.k_ip6_tcp.val())) == 0)
                        | ((self.dq.dout.val().flags & (self.k_ip_udp.val() | self.k_ip6_udp.val())) != 0)
                        | (self.g_v4.val() & ((self.capenable.val() & self.k_cap_tso4.val()) == 0))
                        | (self.g_v6.val() & ((self.capenable.val() & self.k_cap_tso6.val()) == 0))));
        }
        // Offsets: an IPv4 header of 20+ bytes at an even start inside the frame; an even L4
        // start and checksum offset with the field inside the frame; TSO: a TCP header of
        // 20..60 bytes in steps of 4, the checksum at 16, an IPv6 header of 40+, a template
        // the header RAM holds.
        self.g_offs.next = false;
        if self.g_first.val() {
            self.g_offs.next = (self.g_ipreq.val()
                & ((self.dq.dout.val().l3 < self.k_ip4_min.val())
                    | ((self.dq.dout.val().l2 & 1_u64) != 0)
                    | (bit_cast::<32, 16>(self.g_l4s.val()) > self.g_plen.val())))
                | (self.g_l4req.val()
                    & (self.g_l4s.val().get_bit(0)
                        | ((self.dq.dout.val().cdata & 1_u64) != 0)
                        | ((bit_cast::<32, 16>(self.g_l4s.val()) + bit_cast::<32, 16>(self.dq.dout.val().cdata) + 2)
                            > self.g_plen.val())))
                | (self.g_tso.val()
                    & ((self.dq.dout.val().l4 < self.k_l4_min.val())
                        | (self.dq.dout.val().l4 > self.k_l4_max.val())
                        | ((self.dq.dout.val().l4 & self.k_l4_align.val()) != 0)
                        | (self.dq.dout.val().cdata != self.k_tcp_csum.val())
                        | (self.g_v4.val() & (self.dq.dout.val().l3 < self.k_ip4_min.val()))
                        | (self.g_v6.val() & (self.dq.dout.val().l3 < self.k_ip6_min.val()))
                        | (self.g_hl.val() > self.k_max_hdr.val())));
        }
        // Chain: the buffers add up to the packet; all but the last hold whole beats; a TSO
        // template with payload after it sits in the first buffer.
        self.g_chain.next = (self.g_first.val() & self.g_more.val() & (self.dq.dout.val().plen == 0))
            | (self.g_tot.val() > self.g_pl.val())
            | (!self.g_more.val() & (self.g_tot.val() != self.g_pl.val()))
            | (self.g_more.val() & ((self.dq.dout.val().len & 7_u64) != 0))
            | (self.g_first.val()
                & self.g_tso.val()
                & (self.dq.dout.val().len <= bit_cast::<32, 16>(self.g_hl.val())));
        self.chk.next = self.k_ok.val();
        if self.dq.dout.val().err {
            self.chk.next = self.k_dma_error.val();
        } else if self.g_rsvd.val() {
            self.chk.next = self.k_bad_rsvd.val();
        } else if self.g_len.val() {
            self.chk.next = self.k_bad_len.val();
        } else if (self.dq.dout.val().addr & 7_u64) != 0 {
            self.chk.next = self.k_bad_align.val();
        } else if self.g_flags.val() {
            self.chk.next = self.k_bad_flags.val();
        } else if self.g_offs.val() {
            self.chk.next = self.k_bad_offsets.val();
        } else if self.g_chain.val() {
            self.chk.next = self.k_bad_chain.val();
        }
        self.pst_n.next = self.pst.q.val();
        if self.pst.q.val() == self.k_ok.val() {
            self.pst_n.next = self.chk.val();
        }

        // The packet being sent, as the segmenter sees it: the back part's record. (Fields are
        // copied to signals before bit-selects on them: yosys rejects a select of a select.)
        self.b_flags.next = self.bp.q.val().flags;
        self.b_plen.next = self.bp.q.val().plen;
        self.tso.next = (self.b_flags.val() & self.k_tso.val()) != 0;
        self.b_hl.next = bit_cast::<16, 8>(self.bp.q.val().l2)
            + bit_cast::<16, 8>(self.bp.q.val().l3)
            + bit_cast::<16, 8>(self.bp.q.val().l4);
        self.hl.next = bit_cast::<16, 8>(self.d_l2.q.val())
            + bit_cast::<16, 8>(self.d_l3.q.val())
            + bit_cast::<16, 8>(self.d_l4.q.val());
        self.ch_beats.next = (self.ch.dout.val().len + 7) >> 3;
        self.seg.go.next = false;
        self.seg.cfg.next.tso = self.tso.val();
        self.seg.cfg.next.hlen = 0.into();
        self.seg.cfg.next.mss = self.b_plen.val().get_bits::<16>(0);
        self.seg.cfg.next.paylen = self.b_plen.val();
        self.seg.cfg.next.s0 = 0.into();
        if self.tso.val() {
            self.seg.cfg.next.hlen = self.b_hl.val();
            self.seg.cfg.next.mss = self.bp.q.val().tso;
            self.seg.cfg.next.paylen = self.b_plen.val() - bit_cast::<32, 16>(self.b_hl.val());
            self.seg.cfg.next.s0 = self.b_hl.val().get_bits::<4>(0) & 7;
        }
        self.seg.cfg.next.l2 = self.bp.q.val().l2;
        self.seg.cfg.next.l3 = self.bp.q.val().l3;
        self.seg.cfg.next.cdata = self.bp.q.val().cdata;
        self.seg.cfg.next.v6 = (self.b_flags.val() & (self.k_ip6_udp.val() | self.k_ip6_tcp.val())) != 0;
        self.seg.cfg.next.ip_en = (self.b_flags.val() & self.k_ip.val()) != 0;
        self.seg.cfg.next.l4_en = (self.b_flags.val()
            & (self.k_ip_udp.val() | self.k_ip_tcp.val() | self.k_ip6_udp.val() | self.k_ip6_tcp.val()))
            != 0;
        self.seg.cfg.next.udp = (self.b_flags.val() & (self.k_ip_udp.val() | self.k_ip6_udp.val())) != 0;
        self.seg.hw_en.next = false;
        self.seg.hw_idx.next = self.bcnt.q.val();
        self.seg.hw_data.next = self.b_data.val();
        self.seg.s_data.next = self.b_data.val();
        self.seg.s_valid.next = false;
        self.seg.s_err.next = self.b_err.val();
        self.seg.fifo_free.next = self.fifo_free.val();
        self.seg.meta_full.next = self.meta_full.val();
        self.fifo_push.next = self.seg.fifo_push.val();
        self.fifo_din.next = self.seg.fifo_din.val();
        self.meta_push.next = self.seg.meta_push.val();
        self.meta_din.next = self.seg.meta_din.val();

        // Prefetcher, starting a batch only outside the packet machine's read window.
        self.pf.clock.next = self.clock.val();
        self.pf.reset.next = self.reset.val();
        self.pf.enable.next = self.enable.val();
        self.pf.may_start.next = !self.data_port.val();
        self.pf.base.next = self.base.val();
        self.pf.size_log2.next = self.size_log2.val();
        self.pf.tail.next = self.tail.val();
        self.pf.room.next = self.room.val();
        self.pf.rd_cmd_ready.next = self.rd_cmd_ready.val();
        self.k_pf.next = !self.rkind.empty.val() & self.rkind.dout.val();
        self.k_data.next = !self.rkind.empty.val() & !self.rkind.dout.val();
        self.pf.rd_valid.next = self.rd_valid.val() & self.k_pf.val();
        self.pf.rd_last.next = self.rd_last.val();
        // Read port defaults: the prefetcher's (the fetch states override below).
        self.rd_cmd_valid.next = self.pf.rd_cmd_valid.val();
        self.rd_cmd_addr.next = self.pf.rd_cmd_addr.val();
        self.rd_cmd_beats.next = self.pf.rd_cmd_beats.val();
        self.rd_ready.next = self.pf.rd_ready.val() & self.k_pf.val();
        self.dq.push.next = false;
        self.dq.pop.next = false;
        self.dq.din.next.addr = self.pf_addr.q.val();
        self.dq.din.next.len = self.pf_w1.q.val().get_bits::<32>(0);
        self.dq.din.next.flags = self.pf_w1.q.val().get_bits::<32>(32);
        self.dq.din.next.l2 = self.pf_w2.q.val().get_bits::<8>(0);
        self.dq.din.next.l3 = self.pf_w2.q.val().get_bits::<8>(8);
        self.dq.din.next.l4 = self.pf_w2.q.val().get_bits::<8>(16);
        self.dq.din.next.dflags = self.pf_w2.q.val().get_bits::<8>(24);
        self.dq.din.next.cdata = self.pf_w2.q.val().get_bits::<16>(32);
        self.dq.din.next.tso = self.pf_w2.q.val().get_bits::<16>(48);
        self.dq.din.next.plen = self.rd_data.val().get_bits::<32>(0);
        self.dq.din.next.rsvd1_nz = self.rd_data.val().get_bits::<32>(32) != 0;
        self.dq.din.next.err = self.pf_err.q.val() | self.rd_err.val();
        // Records: beats addr, len|csum_flags, l2hlen..tso_segsz, pkt_len|rsvd1 (nic_abi::desc::tx).
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
        // Completion writer: records from the queue in order, never over an unreturned slot. It does
        // not wait for a write's response before the next (up to CPL_IN_FLIGHT outstanding): the
        // CQ tail moves as the responses come back, in order.
        self.wr_cmd_valid.next = false;
        self.wr_cmd_addr.next = self.cq_base.val() + (bit_cast::<64, 16>(self.cq_iss.q.val() & self.mask.val()) << 4);
        self.wr_cmd_beats.next = 2.into();
        self.wr_cmd_strb.next = 0xff_u64.into();
        self.lap.next = self.cq_iss.q.val() >> self.size_log2.val();
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
        // Frames pushed by the time the record was queued, all retired (modular: at most a FIFO's
        // worth apart). The difference goes through a 16-bit signal: compared with a literal in
        // one expression, the Verilog subtracts at 64 bits and does not wrap.
        self.ret_d.next = self.retired.val() - self.cq.dout.val().seq;
        self.retired_ok.next = !self.ret_d.val().get_bit(15);
        if self.meta_push.val() {
            self.pushed.d.next = self.pushed.q.val() + 1;
        }
        self.cq_used.next = self.cq_iss.q.val() - self.cq_head.val();
        self.cpl_take.next = false;
        match self.cst.q.val() {
            CplState::CIdle => {
                if !self.cq.empty.val()
                    & self.retired_ok.val()
                    & (self.cq_used.val() <= self.mask.val())
                    & (self.cq_out.q.val() < 4_u64)
                {
                    self.cst.d.next = CplState::CReq;
                }
            }
            CplState::CReq => {
                self.wr_cmd_valid.next = true;
                if self.wr_cmd_ready.val() {
                    self.ccnt.d.next = 0.into();
                    self.cpl_take.next = true;
                    self.cst.d.next = CplState::CData;
                }
            }
            CplState::CData => {
                if self.wr_data_ready.val() & (self.ccnt.q.val() < 2_u64) {
                    self.ccnt.d.next = self.ccnt.q.val() + 1;
                    if self.ccnt.q.val() == 1 {
                        // Both beats are out: the record is done with; its response comes later.
                        self.cq.pop.next = true;
                        self.cq_iss.d.next = self.cq_iss.q.val() + 1;
                        self.inc_desc_err.next = self.cq.dout.val().status != self.k_ok.val();
                        self.cst.d.next = CplState::CIdle;
                    }
                }
            }
        }
        // A completion is the host's once its write response is back (the DMA engine answers
        // commands in order).
        self.cpl_back.next = self.wr_done.val() & (self.cq_out.q.val() != 0);
        if self.cpl_back.val() {
            self.cq_tail_q.d.next = self.cq_tail_q.q.val() + 1;
            self.ev_cpl.next = true;
        }
        if self.cpl_take.val() & !self.cpl_back.val() {
            self.cq_out.d.next = self.cq_out.q.val() + 1;
        }
        if !self.cpl_take.val() & self.cpl_back.val() {
            self.cq_out.d.next = self.cq_out.q.val() - 1;
        }
        self.cq.push.next = false;
        self.cq.din.next.index = self.head_q.q.val();
        self.cq.din.next.len = self.cl.dout.val();
        self.cq.din.next.status = self.rsts.q.val();
        self.cq.din.next.seq = self.pushed.q.val();
        self.ch.push.next = false;
        self.ch.pop.next = false;
        self.ch.din.next.addr = self.dq.dout.val().addr;
        self.ch.din.next.len = self.g_blen.val().get_bits::<16>(0);
        self.cl.push.next = false;
        self.cl.pop.next = false;
        self.cl.din.next = self.g_blen.val().get_bits::<16>(0);
        if self.dq.dout.val().err {
            self.cl.din.next = 0.into();
        }

        self.g_beats.next = (self.g_blen.val().get_bits::<16>(0) + 7) >> 3;
        self.g_hbeats.next = (self.hl.val() + 7) >> 3;
        self.pk.push.next = false;
        self.pk.pop.next = false;
        self.pk.din.next.flags = self.d_flags.q.val();
        self.pk.din.next.l2 = self.d_l2.q.val();
        self.pk.din.next.l3 = self.d_l3.q.val();
        self.pk.din.next.l4 = self.d_l4.q.val();
        self.pk.din.next.cdata = self.d_cdata.q.val();
        self.pk.din.next.tso = self.d_tso.q.val();
        self.pk.din.next.plen = self.d_plen.q.val();
        self.pk.din.next.st = self.pst.q.val();
        self.pk.din.next.ndesc = self.ci.q.val();
        self.pk.din.next.hbeats = 0.into();
        self.pk.din.next.dbeats = 0.into();

        // The front: gather and check a packet, hand its record to the back, ask for its reads.
        match self.state.q.val() {
            TxState::Idle => {
                self.ci.d.next = 0.into();
                self.tot.d.next = 0.into();
                self.tb.d.next = 0.into();
                self.pst.d.next = self.k_ok.val();
                self.skip_after.d.next = false;
                // Room for a record and a whole chain's lengths behind the back's work.
                if !self.dq.empty.val() & (self.pk.free.val() != 0) & (self.cl.free.val() >= 8_u64) {
                    self.state.d.next = TxState::Gather;
                }
            }
            TxState::Gather => {
                if !self.dq.empty.val() {
                    self.dq.pop.next = true;
                    self.ch.push.next = true;
                    self.cl.push.next = true;
                    self.ci.d.next = self.ci.q.val() + 1;
                    self.tot.d.next = self.g_tot.val();
                    self.tb.d.next = self.tb.q.val() + self.g_beats.val();
                    self.pst.d.next = self.pst_n.val();
                    if self.g_first.val() {
                        self.d_addr.d.next = self.dq.dout.val().addr;
                        self.d_plen.d.next = self.g_plen.val();
                        self.d_flags.d.next = self.dq.dout.val().flags;
                        self.d_l2.d.next = self.dq.dout.val().l2;
                        self.d_l3.d.next = self.dq.dout.val().l3;
                        self.d_l4.d.next = self.dq.dout.val().l4;
                        self.d_cdata.d.next = self.dq.dout.val().cdata;
                        self.d_tso.d.next = self.dq.dout.val().tso;
                    }
                    if !self.g_more.val() | self.dq.dout.val().err {
                        // The packet's descriptors are all here.
                        self.state.d.next = TxState::Flush;
                        self.rec_pend.d.next = true;
                    } else if self.ci.q.val() == self.k_chain.val() {
                        // Longer than the NIC follows: refuse what it holds, then the rest.
                        self.pst.d.next = self.k_bad_chain.val();
                        if self.pst.q.val() != self.k_ok.val() {
                            self.pst.d.next = self.pst.q.val();
                        }
                        self.skip_after.d.next = true;
                        self.state.d.next = TxState::Flush;
                        self.rec_pend.d.next = true;
                    }
                }
            }
            TxState::Flush => {
                // First cycle here (rec_pend): the packet's fields are latched; hand its record to
                // the back. A good packet goes on to its reads; a refused one drops its buffers.
                self.rec_pend.d.next = false;
                if self.rec_pend.q.val() {
                    self.pk.push.next = true;
                    self.left.d.next = self.ci.q.val();
                    self.first_buf.d.next = true;
                    if self.pst.q.val() == self.k_ok.val() {
                        self.pk.din.next.dbeats = self.tb.q.val();
                        self.state.d.next = TxState::DataReq;
                        if (self.d_flags.q.val() & self.k_tso.val()) != 0 {
                            self.pk.din.next.hbeats = self.g_hbeats.val();
                            self.pk.din.next.dbeats = self.tb.q.val() - (self.hl.val() >> 3);
                            self.state.d.next = TxState::HdrReq;
                        }
                    }
                } else if !self.ch.empty.val() {
                    self.ch.pop.next = true;
                    self.left.d.next = self.left.q.val() - 1;
                    if self.left.q.val() == 1 {
                        self.state.d.next = TxState::Idle;
                        if self.skip_after.q.val() {
                            self.state.d.next = TxState::Skip;
                        }
                    }
                }
            }
            TxState::HdrReq => {
                if !self.pf.rd_cmd_valid.val() {
                    self.rd_cmd_valid.next = true;
                    self.rd_cmd_addr.next = self.d_addr.q.val();
                    self.rd_cmd_beats.next = self.g_hbeats.val();
                    if self.rd_cmd_ready.val() {
                        self.state.d.next = TxState::DataReq;
                    }
                }
            }
            TxState::DataReq => {
                if !self.pf.rd_cmd_valid.val() & !self.ch.empty.val() {
                    self.rd_cmd_valid.next = true;
                    self.rd_cmd_addr.next = self.ch.dout.val().addr;
                    self.rd_cmd_beats.next = self.ch_beats.val();
                    if self.first_buf.q.val() & ((self.d_flags.q.val() & self.k_tso.val()) != 0) {
                        // The template is read on its own: start at the beat holding the first payload byte.
                        self.rd_cmd_addr.next = self.ch.dout.val().addr + bit_cast::<64, 16>(self.hl.val() & 0xfff8_u64);
                        self.rd_cmd_beats.next = self.ch_beats.val() - (self.hl.val() >> 3);
                    }
                    if self.rd_cmd_ready.val() {
                        self.ch.pop.next = true;
                        self.first_buf.d.next = false;
                        self.left.d.next = self.left.q.val() - 1;
                        if self.left.q.val() == 1 {
                            self.state.d.next = TxState::Idle;
                        }
                    }
                }
            }
            TxState::Skip => {
                // Each descriptor of the rest of the chain: its length and a record of its own.
                if !self.dq.empty.val() & (self.pk.free.val() != 0) & !self.cl.full.val() {
                    self.dq.pop.next = true;
                    self.cl.push.next = true;
                    self.pk.push.next = true;
                    self.pk.din.next.ndesc = 1.into();
                    if !self.g_more.val() | self.dq.dout.val().err {
                        self.state.d.next = TxState::Idle;
                    }
                }
            }
        }

        self.b_take.next = false;
        self.rq.push.next = false;
        self.rq.pop.next = false;
        self.rq.din.next.ndesc = self.bp.q.val().ndesc;
        self.rq.din.next.st = self.bsts.q.val();
        self.rq.din.next.seg = false;
        self.se.push.next = self.seg.done.val();
        self.se.din.next = self.seg.err.val();
        self.se.pop.next = false;
        // The back: one packet at a time, its beats (in the order its reads were asked for) into
        // the segmenter, then on to the next packet while the segmenter finishes this one. (Room
        // in `rq` is checked when a packet is taken: the back pushes once per packet.)
        match self.back.q.val() {
            BackState::BIdle => {
                if !self.pk.empty.val() & !self.rq.full.val() {
                    self.pk.pop.next = true;
                    self.bp.d.next = self.pk.dout.val();
                    self.bsts.d.next = self.pk.dout.val().st;
                    self.bcnt.d.next = 0.into();
                    self.back.d.next = BackState::BGo;
                    if self.pk.dout.val().hbeats != 0 {
                        self.back.d.next = BackState::BHdr;
                    }
                    if self.pk.dout.val().st != self.k_ok.val() {
                        // Refused by the front: no reads were asked for; straight to retire.
                        self.rq.push.next = true;
                        self.rq.din.next.ndesc = self.pk.dout.val().ndesc;
                        self.rq.din.next.st = self.pk.dout.val().st;
                        self.back.d.next = BackState::BIdle;
                    }
                }
            }
            BackState::BHdr => {
                // The template goes into the segmenter's header RAM, which is the previous
                // packet's until the segmenter is idle.
                if !self.bd.empty.val() & !self.seg.busy.val() {
                    self.b_take.next = true;
                    self.seg.hw_en.next = true;
                    self.bcnt.d.next = self.bcnt.q.val() + 1;
                    if (self.bcnt.q.val() + 1) == self.bp.q.val().hbeats {
                        self.bcnt.d.next = 0.into();
                        self.back.d.next = BackState::BHdrChk;
                        if self.b_err.val() {
                            self.bsts.d.next = self.k_dma_error.val();
                        }
                    }
                }
            }
            BackState::BHdrChk => {
                // The template's fields were captured as it arrived; a mismatch refuses the packet,
                // whose data reads are already on their way: drop their beats.
                if self.bsts.q.val() != self.k_ok.val() {
                    self.back.d.next = BackState::BDrain;
                } else if !self.seg.hdr_ok.val() {
                    self.bsts.d.next = self.k_bad_offsets.val();
                    self.back.d.next = BackState::BDrain;
                } else {
                    self.back.d.next = BackState::BGo;
                }
            }
            BackState::BGo => {
                // Held until taken: at once when idle, else in the previous packet's last cycle.
                self.seg.go.next = true;
                if self.seg.go_ready.val() {
                    self.back.d.next = BackState::BData;
                }
            }
            BackState::BData => {
                self.seg.s_valid.next = !self.bd.empty.val();
                if !self.bd.empty.val() & self.seg.s_ready.val() {
                    self.b_take.next = true;
                    self.bcnt.d.next = self.bcnt.q.val() + 1;
                    if (self.bcnt.q.val() + 1) == self.bp.q.val().dbeats {
                        self.rq.push.next = true;
                        self.rq.din.next.seg = true;
                        self.back.d.next = BackState::BIdle;
                    }
                }
            }
            BackState::BDrain => {
                if self.bcnt.q.val() == self.bp.q.val().dbeats {
                    self.rq.push.next = true;
                    self.back.d.next = BackState::BIdle;
                } else if !self.bd.empty.val() {
                    self.b_take.next = true;
                    self.bcnt.d.next = self.bcnt.q.val() + 1;
                }
            }
        }
        // Retire: packets in order, each once its status is known (a segmented one's from the
        // segmenter's `done`, which come in the same order), then one completion per descriptor,
        // all with the packet's status.
        match self.rst.q.val() {
            RetState::RIdle => {
                if !self.rq.empty.val() & (!self.rq.dout.val().seg | !self.se.empty.val()) {
                    self.rq.pop.next = true;
                    self.rsts.d.next = self.rq.dout.val().st;
                    if self.rq.dout.val().seg {
                        self.se.pop.next = true;
                        if self.se.dout.val() {
                            self.rsts.d.next = self.k_dma_error.val();
                        }
                    }
                    self.rci.d.next = self.rq.dout.val().ndesc;
                    self.rst.d.next = RetState::RCpl;
                }
            }
            RetState::RCpl => {
                if !self.cl.empty.val() & !self.cq.full.val() {
                    self.cl.pop.next = true;
                    self.cq.push.next = true;
                    self.head_q.d.next = self.head_q.q.val() + 1;
                    self.rci.d.next = self.rci.q.val() - 1;
                    if self.rci.q.val() == 1 {
                        self.rst.d.next = RetState::RIdle;
                    }
                }
            }
        }
        // Returned beats: the prefetcher's or the back's, as the read's owner says.
        self.bd.pop.next = self.b_take.val();
        self.rd_ready.next = (self.pf.rd_ready.val() & self.k_pf.val()) | (self.k_data.val() & !self.bd.full.val());
        if self.drain.val() {
            self.rd_ready.next = true;
        }
        self.bd.push.next = self.rd_valid.val() & self.k_data.val() & !self.bd.full.val();
        self.bd.din.next = bit_cast::<65, 64>(self.rd_data.val()) | (bit_cast::<65, 1>(self.rd_err.val().into()) << 64);
        // Reads in flight and whose they are (the front asks only when the prefetcher does not); a
        // read's last beat taken retires its entry. (After every assignment to the read port above:
        // the Verilog is one block of blocking assignments.)
        self.rd_take.next = self.rd_cmd_valid.val() & self.rd_cmd_ready.val();
        self.rkind.push.next = self.rd_take.val();
        self.rkind.din.next = self.pf.rd_cmd_valid.val();
        self.rkind.pop.next = self.rd_valid.val() & self.rd_ready.val() & self.rd_last.val();
        if self.reset.val() {
            self.state.d.next = TxState::Idle;
            self.back.d.next = BackState::BIdle;
            self.rst.d.next = RetState::RIdle;
            self.head_q.d.next = 0.into();
            self.cq_tail_q.d.next = 0.into();
            self.cq_iss.d.next = 0.into();
            self.cq_out.d.next = 0.into();
            self.cst.d.next = CplState::CIdle;
            self.rec_pend.d.next = false;
            self.pushed.d.next = 0.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{clock_cycle, lint};
    use nic_abi::desc::{beat, lsb, tx};

    #[test]
    fn queue_constants_match_the_rtl() {
        // update() writes these as literals (rust-hdl cannot read a Rust constant there).
        assert_eq!(DESC_QUEUE, 1 << 5, "the descriptor FIFO is Fifo<TxD, 5, 6>");
        assert_eq!(CPL_IN_FLIGHT, 4, "update() compares cq_out with 4");
        assert_eq!(abi_desc::TX_MAX_CHAIN, 1 << 3, "the buffer and length FIFOs are Fifo<_, 3, 4>");
        const _: () = assert!(abi_desc::TSO_MAX_HDR <= 32 * 8, "the segmenter's header RAM is RAM<Bits<64>, 5>");
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
        assert_eq!((beat(tx::L4HLEN), lsb(tx::L4HLEN)), (2, 16));
        assert_eq!((beat(tx::FLAGS), lsb(tx::FLAGS)), (2, 24));
        assert_eq!((beat(tx::CSUM_DATA), lsb(tx::CSUM_DATA)), (2, 32));
        assert_eq!((beat(tx::TSO_SEGSZ), lsb(tx::TSO_SEGSZ)), (2, 48));
        assert_eq!((beat(tx::PKT_LEN), lsb(tx::PKT_LEN)), (3, 0));
        assert_eq!((beat(tx::RSVD1), lsb(tx::RSVD1)), (3, 32));
        assert_eq!(abi_desc::TXD_MORE, 1);
        assert_eq!(tx::BEATS, 4);
        use nic_abi::desc::cpl;
        assert_eq!((beat(cpl::LEN), lsb(cpl::LEN)), (0, 0));
        assert_eq!((beat(cpl::INDEX), lsb(cpl::INDEX)), (0, 16));
        assert_eq!((beat(cpl::CSUM_FLAGS), lsb(cpl::CSUM_FLAGS)), (0, 32));
        assert_eq!((beat(cpl::FLOWID), lsb(cpl::FLOWID)), (1, 0));
        assert_eq!((beat(cpl::CSUM_DATA), lsb(cpl::CSUM_DATA)), (1, 32));
        assert_eq!((beat(cpl::STATUS), lsb(cpl::STATUS)), (1, 56));
    }


    /// The engine at its own ports (its segmenter inside it), against models of its
    /// surroundings: a descriptor ring and buffers in memory behind an in-order read port with
    /// random latency; the pipelined write port's contract (a waiting slot, beats asked for in
    /// command order, `done` in order after a delay); a data FIFO and a record FIFO drained at
    /// random, whose frames the output stage retires at random later; a driver that posts
    /// single buffers and chains (some breaking one ABI rule: a reserved word set, a misaligned
    /// buffer, an empty buffer, an unknown offload flag, a chain whose buffers do not add up to
    /// its `pkt_len`) and reaps completions at random. Every good packet must leave as exactly
    /// one frame of its bytes, in ring order; every descriptor must complete, in order, with
    /// its own length and its packet's status (the ABI's rule for that breach); and no
    /// completion may be written before every frame of its packet has been retired.
    #[test]
    fn packets_leave_whole_and_in_order_and_complete_after_retiring() {
        use crate::testing::dma::{Mem, ReadPort, WritePort};
        use nic_abi::desc::{TxDesc, TXD_MORE};
        use rand::{Rng, SeedableRng};
        use std::collections::VecDeque;
        use zerocopy::IntoBytes;
        for seed in [1u64, 2, 3] {
            eprintln!("tx_engine: seed {seed}");
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            const MEM: u64 = 0x10_0000;
            let mut mem = Mem::new(MEM, 0x20_0000);
            let (ring, cq, bufs) = (MEM, MEM + 0x1000, MEM + 0x4000);
            let size_log2 = 5u32;
            let n_ring = 1u64 << size_log2;
            let mut e = TxEngine::default();
            e.connect_all();
            // Driver state.
            let (mut posted, mut reaped) = (0u16, 0u16);
            let mut want_cpl: VecDeque<(u16, u8)> = VecDeque::new(); // (len, status) per descriptor
            let mut want_frames: VecDeque<Vec<u8>> = VecDeque::new();
            let mut pkt_frames_before: VecDeque<(usize, u64)> = VecDeque::new(); // (descriptors, good frames up to and including this packet)
            let mut good = 0u64;
            let mut next_buf = 0u64;
            // Port models.
            let mut rp = ReadPort::default();
            let mut wp: WritePort<()> = WritePort::default();
            let mut fifo_used = 0u64;
            let mut out_words: VecDeque<u64> = VecDeque::new();
            let mut out_lens: VecDeque<u64> = VecDeque::new();
            let (mut frames_seen, mut retired, mut to_retire) = (0u64, 0u64, VecDeque::<u64>::new());
            let mut cpl_pkt_left = 0usize; // descriptors still to complete of the packet being completed
            let (mut made, total) = (0u32, 60u32);
            let (mut cycle, mut settled) = (0u64, 0u32);
            while settled < 400 {
                cycle += 1;
                assert!(cycle < 400_000, "seed {seed}: stuck with {} completions and {} frames still expected", want_cpl.len(), want_frames.len());
                if made == total && want_cpl.is_empty() && want_frames.is_empty() {
                    settled += 1;
                }
                // Driver: post a packet now and then, when the ring has room for its chain.
                let ndesc = rng.gen_range(1..=3usize);
                if made < total && rng.gen_bool(0.05) && (posted.wrapping_sub(reaped) as u64) + (ndesc as u64) <= n_ring {
                    let plen = rng.gen_range(60..=600usize).max(8 * ndesc + 1);
                    let bytes: Vec<u8> = (0..plen).map(|_| rng.gen()).collect();
                    // All buffers but the last hold whole beats.
                    let mut cuts = vec![];
                    let mut left = plen;
                    for i in 0..ndesc {
                        let c = if i + 1 == ndesc { left } else { 8 * rng.gen_range(1..=(left - 1) / 8 / (ndesc - i)).max(1) };
                        cuts.push(c);
                        left -= c;
                    }
                    let breach = if rng.gen_bool(0.25) { rng.gen_range(1..=5) } else { 0 };
                    let status = match breach {
                        1 => status::BAD_RSVD,
                        2 => status::BAD_ALIGN,
                        3 => status::BAD_LEN,
                        4 => status::BAD_FLAGS,
                        5 if ndesc > 1 => status::BAD_CHAIN,
                        _ => status::OK,
                    };
                    let mut off = 0;
                    for (i, &c) in cuts.iter().enumerate() {
                        let addr = bufs + 0x800 * (next_buf % 256);
                        next_buf += 1;
                        mem.at(addr, c).copy_from_slice(&bytes[off..off + c]);
                        off += c;
                        let mut d = TxDesc { addr: addr.into(), len: (c as u32).into(), ..Default::default() };
                        if i + 1 < ndesc {
                            d.flags = TXD_MORE;
                        }
                        if i == 0 && ndesc > 1 {
                            d.pkt_len = (plen as u32).into();
                        }
                        if i == 0 {
                            match status {
                                status::BAD_RSVD => d.rsvd1 = 1.into(),
                                status::BAD_ALIGN => d.addr = (addr + 4).into(),
                                status::BAD_LEN if ndesc == 1 => d.len = 0.into(),
                                status::BAD_LEN => d.pkt_len = 10.into(), // below the smallest frame
                                status::BAD_FLAGS => d.csum_flags = 0x8000_0000u32.into(),
                                status::BAD_CHAIN => d.pkt_len = (plen as u32 + 8).into(),
                                _ => {}
                            }
                        }
                        mem.at(ring + 32 * (posted as u64 % n_ring), 32).copy_from_slice(d.as_bytes());
                        let len_field = if status == status::BAD_LEN && ndesc == 1 { 0 } else { c as u16 };
                        want_cpl.push_back((len_field, status));
                        posted = posted.wrapping_add(1);
                    }
                    if status == status::OK {
                        want_frames.push_back(bytes);
                        good += 1;
                    }
                    pkt_frames_before.push_back((ndesc, good));
                    made += 1;
                }
                // Driver: reap completions.
                if rng.gen_bool(0.3) {
                    if let Some(c) = mem.completion(cq, reaped, size_log2) {
                        assert_eq!(c.index.get(), reaped, "seed {seed}: completion index");
                        let (len, st) = want_cpl.pop_front().expect("a completion the model expects");
                        assert_eq!((c.len.get(), c.status & 0x7f), (len, st), "seed {seed}: completion {reaped}");
                        reaped = reaped.wrapping_add(1);
                    }
                }
                // The output stage: drain words, retire whole frames later.
                if rng.gen_bool(0.7) {
                    if let Some(&len) = out_lens.front() {
                        let beats = len.div_ceil(8);
                        if out_words.len() as u64 >= beats {
                            let mut f = vec![];
                            for _ in 0..beats {
                                f.extend_from_slice(&out_words.pop_front().unwrap().to_le_bytes());
                            }
                            f.truncate(len as usize);
                            fifo_used -= beats;
                            out_lens.pop_front();
                            let want = want_frames.pop_front().expect("a frame the model expects");
                            assert_eq!(f, want, "seed {seed}: frame {frames_seen}");
                            frames_seen += 1;
                            to_retire.push_back(cycle + rng.gen_range(0..40));
                        }
                    }
                }
                if to_retire.front().is_some_and(|&t| cycle >= t) {
                    to_retire.pop_front();
                    retired += 1;
                }
                let offer = rp.offer(cycle, &mut rng);
                e.reset.next = cycle < 3;
                e.enable.next = true;
                e.capenable.next = 0xffff_ffffu64.to_bits();
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
                let dn = wp.done(cycle).is_some();
                e.wr_done.next = dn;
                e.fifo_free.next = (4096 - fifo_used).to_bits();
                e.meta_full.next = out_lens.len() >= 8;
                e.retired.next = (retired & 0xffff).to_bits();
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
                        wp.command(e.wr_cmd_addr.val().to_u64(), e.wr_cmd_beats.val().index() as u64, e.wr_cmd_strb.val().index() as u64, ());
                        // The first completion of a packet: every frame of it must be retired.
                        if cpl_pkt_left == 0 {
                            let (n, frames_upto) = pkt_frames_before.pop_front().expect("a packet to complete");
                            cpl_pkt_left = n;
                            assert!(retired >= frames_upto, "seed {seed}: completion before its frame was retired");
                        }
                        cpl_pkt_left -= 1;
                    }
                    if e.wr_data_valid.val() && e.wr_data_ready.val() {
                        wp.beat(&mut mem, e.wr_data.val().to_u64(), cycle, &mut rng);
                    }
                    if dn {
                        wp.done_given();
                    }
                    if e.fifo_push.val() {
                        out_words.push_back(e.fifo_din.val().to_u64());
                        fifo_used += 1;
                    }
                    if e.meta_push.val() {
                        let m = e.meta_din.val();
                        assert!(!m.drop && !m.ip_en && !m.l4_en && !m.tso, "seed {seed}: a plain frame's record");
                        out_lens.push_back(m.len.index() as u64);
                    }
                });
            }
            eprintln!("  {made} packets, {frames_seen} frames, {reaped} completions in {cycle} cycles");
            assert!(frames_seen >= 30 && reaped as u32 >= total, "seed {seed}: too little happened");
            assert!(mem.completion(cq, reaped, size_log2).is_none(), "seed {seed}: a completion nobody expected");
        }
    }
}
