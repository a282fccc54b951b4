//! Transmit segmenter: turns one packet's byte stream into the frames that go
//! on the wire — the packet itself, or for TSO one frame per `mss` payload
//! bytes, each behind a patched copy of the header template.
//!
//! The TX engine first writes the template (`hlen` bytes, TSO only) into the
//! header RAM through `hw_*` while the segmenter is idle, then presents the
//! packet (`cfg`) with `go` and streams the payload beats (the packet's
//! buffers back to back, the first starting at byte `s0` of its first beat).
//! The segmenter copies `cfg` when it takes `go`, and takes it while idle or
//! in the last segment's SMeta, so back-to-back packets cost their beats plus
//! two cycles, like TSO segments. A byte packer joins template and payload at
//! any byte offset, so a segment's payload may start anywhere in a beat:
//!
//! ```text
//! SIdle --go--> SHdr (template from RAM) -> SPay (payload bytes) -> [SFlush] -> SDrain -> SMeta --last, no go--> SIdle
//!    \--go, no template--> SPay                ^                                            |
//!                                              \-- next segment, or next packet's go: setup -/
//! ```
//! Two pipeline stages: the packer's beat is registered, then patched, counted
//! by the checksum accumulators and pushed (so the barrel shifts and the
//! patch/checksum logic are in different cycles). The packer only takes bytes
//! while the data FIFO has room for the beat in flight too (`fifo_free`,
//! registered).
//!
//! Per TSO segment (offloads.md §3), written into the beats as they leave:
//! IPv4 total length and ID (+1 per segment, wrapping) or IPv6 payload length;
//! TCP sequence `seq0 + k*mss`; FIN and PSH only on the last segment, CWR only
//! on the first; the TCP checksum field gets the template's pseudo-header seed
//! (without length) plus this segment's TCP length, so the checksum
//! accumulators ([`TxCsum`]) finish it like any checksum offload, and the
//! IPv4 header checksum is always recomputed. Every segment (and every
//! packet) costs its beats plus two cycles (SDrain, SMeta), fewer than the
//! MAC's inter-frame gap, so the segmenter keeps ahead of the wire.
//!
//! A payload beat that arrived with a DMA error marks this segment and all
//! later ones of the packet `drop`: the output stage discards them.

use crate::records::{SegCfg, TxMeta};
use crate::tx_csum::TxCsum;
use rust_hdl::prelude::*;

/// States of the segmenter.
#[allow(missing_docs)] // rust-hdl's derive generates undocumented accessors
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum SegState {
    /// Waiting for `go`.
    SIdle,
    /// Emitting the header template.
    SHdr,
    /// Emitting payload bytes.
    SPay,
    /// Emitting the segment's last partial beat.
    SFlush,
    /// The last beat passing the second stage (the checksums finish).
    SDrain,
    /// Handing the segment's record to the output stage.
    SMeta,
}

/// The transmit segmenter.
#[derive(LogicBlock, Default)]
pub struct TxSeg {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// Start a packet: `cfg` holds it (and, for TSO, the template is in place). Taken when
    /// `go_ready`; hold both until then.
    pub go: Signal<In, Bit>,
    /// The packet to start, and (while idle) the one whose template is being written.
    pub cfg: Signal<In, SegCfg>,
    /// `go` is taken this cycle: idle, or finishing a packet's last segment (so packets follow
    /// each other with no cycle between them).
    pub go_ready: Signal<Out, Bit>,
    /// Header RAM write.
    pub hw_en: Signal<In, Bit>,
    /// Header RAM beat index.
    pub hw_idx: Signal<In, Bits<16>>,
    /// Header RAM beat.
    pub hw_data: Signal<In, Bits<64>>,
    /// The template agrees with the descriptor (IP version, IPv4 IHL, TCP data offset).
    pub hdr_ok: Signal<Out, Bit>,
    /// Payload beat.
    pub s_data: Signal<In, Bits<64>>,
    /// Payload beat valid.
    pub s_valid: Signal<In, Bit>,
    /// Payload beat had (or followed) a DMA error response.
    pub s_err: Signal<In, Bit>,
    /// Payload beat consumed.
    pub s_ready: Signal<Out, Bit>,
    /// Data FIFO push.
    pub fifo_push: Signal<Out, Bit>,
    /// Data FIFO word.
    pub fifo_din: Signal<Out, Bits<64>>,
    /// Words the data FIFO can still take.
    pub fifo_free: Signal<In, Bits<16>>,
    /// Meta FIFO push.
    pub meta_push: Signal<Out, Bit>,
    /// Meta FIFO record.
    pub meta_din: Signal<Out, TxMeta>,
    /// Meta FIFO full.
    pub meta_full: Signal<In, Bit>,
    /// Pulses when the packet's last frame record was pushed.
    pub done: Signal<Out, Bit>,
    /// Some payload beat of this packet had a DMA error (valid with `done`).
    pub err: Signal<Out, Bit>,
    /// Not idle.
    pub busy: Signal<Out, Bit>,
    st: DFF<SegState>,
    /// The packet being cut, from its `go` on.
    cur: DFF<SegCfg>,
    /// `go` taken this cycle.
    start: Signal<Local, Bit>,
    /// The packet the next setup is for: `cfg` when starting one (and while idle, when its
    /// template is written and checked), else the current one's next segment.
    nx: Signal<Local, SegCfg>,
    // `cur`'s fields and `nx`'s (copied to signals: yosys rejects a select of a select).
    hlen: Signal<Local, Bits<16>>,
    mss: Signal<Local, Bits<16>>,
    l2: Signal<Local, Bits<8>>,
    l3: Signal<Local, Bits<8>>,
    cdata: Signal<Local, Bits<16>>,
    tso: Signal<Local, Bit>,
    v6: Signal<Local, Bit>,
    ip_en: Signal<Local, Bit>,
    l4_en: Signal<Local, Bit>,
    udp: Signal<Local, Bit>,
    n_hlen: Signal<Local, Bits<16>>,
    n_mss: Signal<Local, Bits<16>>,
    n_paylen: Signal<Local, Bits<32>>,
    n_s0: Signal<Local, Bits<4>>,
    n_l2: Signal<Local, Bits<8>>,
    n_l3: Signal<Local, Bits<8>>,
    n_cdata: Signal<Local, Bits<16>>,
    n_v6: Signal<Local, Bit>,
    n_l4s: Signal<Local, Bits<16>>,
    hdr: RAM<Bits<64>, 5>,
    csum: TxCsum,
    rem: DFF<Bits<32>>,
    first: DFF<Bit>,
    id: DFF<Bits<16>>,
    seq: DFF<Bits<32>>,
    sp: DFF<Bits<16>>,
    p_len: DFF<Bits<16>>,
    p_ck: DFF<Bits<16>>,
    p_fl: DFF<Bits<16>>,
    need_h: DFF<Bits<16>>,
    need_p: DFF<Bits<16>>,
    hidx: DFF<Bits<5>>,
    soff: DFF<Bits<4>>,
    n: DFF<Bits<4>>,
    acc: DFF<Bits<64>>,
    ob: DFF<Bits<16>>,
    perr: DFF<Bit>,
    room: DFF<Bit>,
    s1_v: DFF<Bit>,
    s1_d: DFF<Bits<64>>,
    s1_ob: DFF<Bits<16>>,
    /// This segment is the packet's last (`rem` changes only between segments).
    last: Signal<Local, Bit>,
    rem_n: Signal<Local, Bits<32>>,
    first_n: Signal<Local, Bit>,
    do_setup: Signal<Local, Bit>,
    w_vihl: DFF<Bits<16>>,
    w_id: DFF<Bits<16>>,
    w_seqh: DFF<Bits<16>>,
    w_seql: DFF<Bits<16>>,
    w_doff: DFF<Bits<16>>,
    w_ck: DFF<Bits<16>>,
    l4s: Signal<Local, Bits<16>>,
    l4h: Signal<Local, Bits<16>>,
    sp_c: Signal<Local, Bits<16>>,
    ck_t: Signal<Local, Bits<32>>,
    fl_m: Signal<Local, Bits<16>>,
    src: Signal<Local, Bits<64>>,
    s: Signal<Local, Bits<4>>,
    avail: Signal<Local, Bits<4>>,
    take: Signal<Local, Bits<4>>,
    tot: Signal<Local, Bits<4>>,
    masked: Signal<Local, Bits<128>>,
    comb: Signal<Local, Bits<128>>,
    end_seg: Signal<Local, Bit>,
    out_v: Signal<Local, Bit>,
    out_d: Signal<Local, Bits<64>>,
    pd: Signal<Local, Bits<64>>,
    pen: [Signal<Local, Bit>; 6],
    poff: [DFF<Bits<16>>; 6],
    r_iplo: DFF<Bits<16>>,
    r_iphi: DFF<Bits<16>>,
    r_ipck: DFF<Bits<16>>,
    r_l4hi: DFF<Bits<16>>,
    pval: [Signal<Local, Bits<16>>; 6],
    psh: [Signal<Local, Bits<64>>; 6],
    pw: [Signal<Local, Bits<64>>; 6],
    coff: [Signal<Local, Bits<16>>; 6],
    cw: [Signal<Local, Bits<16>>; 6],
    chit: [Signal<Local, Bit>; 6],
    ipe: Signal<Local, Bit>,
    l4e: Signal<Local, Bit>,
    f_ip: Signal<Local, Bits<16>>,
    f_l4: Signal<Local, Bits<16>>,
    ck_l4: Signal<Local, Bits<16>>,
}

impl Logic for TxSeg {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, st, cur, rem, first, id, seq, sp, p_len, p_ck, p_fl, need_h, need_p, hidx, soff, n, acc,
            ob, perr, room, s1_v, s1_d, s1_ob, w_vihl, w_id, w_seqh, w_seql, w_doff, w_ck, r_iplo, r_iphi, r_ipck,
            r_l4hi
        );
        for i in 0..6 {
            self.poff[i].clock.next = self.clock.val();
        }
        clock!(self, clock, csum);
        self.hdr.read_clock.next = self.clock.val();
        self.hdr.write_clock.next = self.clock.val();
        self.busy.next = (self.st.q.val() != SegState::SIdle) | self.s1_v.q.val();
        // Room for a beat now and the one in the second stage, one cycle late: conservative.
        self.room.d.next = self.fifo_free.val() > 3;
        // The current packet's configuration, and the one the next setup (or template) is for.
        self.hlen.next = self.cur.q.val().hlen;
        self.mss.next = self.cur.q.val().mss;
        self.l2.next = self.cur.q.val().l2;
        self.l3.next = self.cur.q.val().l3;
        self.cdata.next = self.cur.q.val().cdata;
        self.tso.next = self.cur.q.val().tso;
        self.v6.next = self.cur.q.val().v6;
        self.ip_en.next = self.cur.q.val().ip_en;
        self.l4_en.next = self.cur.q.val().l4_en;
        self.udp.next = self.cur.q.val().udp;
        self.last.next = self.rem.q.val() <= bit_cast::<32, 16>(self.mss.val());
        self.go_ready.next = (self.st.q.val() == SegState::SIdle)
            | ((self.st.q.val() == SegState::SMeta) & !self.meta_full.val() & self.last.val());
        self.start.next = self.go.val() & self.go_ready.val();
        self.nx.next = self.cur.q.val();
        if (self.st.q.val() == SegState::SIdle) | self.start.val() {
            self.nx.next = self.cfg.val();
        }
        if self.start.val() {
            self.cur.d.next = self.cfg.val();
        }
        self.n_hlen.next = self.nx.val().hlen;
        self.n_mss.next = self.nx.val().mss;
        self.n_paylen.next = self.nx.val().paylen;
        self.n_s0.next = self.nx.val().s0;
        self.n_l2.next = self.nx.val().l2;
        self.n_l3.next = self.nx.val().l3;
        self.n_cdata.next = self.nx.val().cdata;
        self.n_v6.next = self.nx.val().v6;
        self.l4s.next = bit_cast::<16, 8>(self.l2.val()) + bit_cast::<16, 8>(self.l3.val());
        self.n_l4s.next = bit_cast::<16, 8>(self.n_l2.val()) + bit_cast::<16, 8>(self.n_l3.val());
        self.l4h.next = self.n_hlen.val() - self.n_l4s.val();

        // Header RAM, and the template fields captured as its beats are written (each field a
        // 16-bit big-endian word at an even offset, so it never straddles a beat).
        self.hdr.write_enable.next = self.hw_en.val();
        self.hdr.write_address.next = self.hw_idx.val().get_bits::<5>(0);
        self.hdr.write_data.next = self.hw_data.val();
        self.coff[0].next = bit_cast::<16, 8>(self.n_l2.val());
        self.coff[1].next = bit_cast::<16, 8>(self.n_l2.val()) + 4;
        self.coff[2].next = self.n_l4s.val() + 4;
        self.coff[3].next = self.n_l4s.val() + 6;
        self.coff[4].next = self.n_l4s.val() + 12;
        self.coff[5].next = self.n_l4s.val() + self.n_cdata.val();
        for i in 0..6 {
            self.chit[i].next = self.hw_en.val() & (self.hw_idx.val() == (self.coff[i].val() >> 3));
            self.cw[i].next = self.hw_data.val().get_bits::<16>(0);
            if (self.coff[i].val() & 6) == 2 {
                self.cw[i].next = self.hw_data.val().get_bits::<16>(16);
            }
            if (self.coff[i].val() & 6) == 4 {
                self.cw[i].next = self.hw_data.val().get_bits::<16>(32);
            }
            if (self.coff[i].val() & 6) == 6 {
                self.cw[i].next = self.hw_data.val().get_bits::<16>(48);
            }
            self.cw[i].next = (self.cw[i].val() >> 8) | (self.cw[i].val() << 8);
        }
        if self.chit[0].val() {
            self.w_vihl.d.next = self.cw[0].val();
        }
        if self.chit[1].val() {
            self.w_id.d.next = self.cw[1].val();
        }
        if self.chit[2].val() {
            self.w_seqh.d.next = self.cw[2].val();
        }
        if self.chit[3].val() {
            self.w_seql.d.next = self.cw[3].val();
        }
        if self.chit[4].val() {
            self.w_doff.d.next = self.cw[4].val();
        }
        if self.chit[5].val() {
            self.w_ck.d.next = self.cw[5].val();
        }
        self.hdr_ok.next = ((self.w_doff.q.val() >> 12) << 2) == self.l4h.val();
        if self.n_v6.val() {
            if (self.w_vihl.q.val() >> 12) != 6 {
                self.hdr_ok.next = false;
            }
        } else if ((self.w_vihl.q.val() >> 12) != 4)
            | ((((self.w_vihl.q.val() >> 8) & 0xf) << 2) != bit_cast::<16, 8>(self.n_l3.val()))
        {
            self.hdr_ok.next = false;
        }

        // Next segment's fields, from the remaining payload (in SMeta: after this segment; when
        // starting a packet: its first).
        self.rem_n.next = self.rem.q.val();
        self.first_n.next = self.first.q.val();
        if self.st.q.val() == SegState::SMeta {
            self.rem_n.next = self.rem.q.val() - bit_cast::<32, 16>(self.sp.q.val());
            self.first_n.next = false;
        }
        if self.start.val() {
            self.rem_n.next = self.n_paylen.val();
            self.first_n.next = true;
        }
        self.do_setup.next =
            self.start.val() | ((self.st.q.val() == SegState::SMeta) & !self.meta_full.val() & !self.last.val());
        self.sp_c.next = self.n_mss.val();
        if self.rem_n.val() < bit_cast::<32, 16>(self.n_mss.val()) {
            self.sp_c.next = self.rem_n.val().get_bits::<16>(0);
        }
        self.ck_t.next = bit_cast::<32, 16>(self.w_ck.q.val()) + bit_cast::<32, 16>(self.l4h.val() + self.sp_c.val());
        // TCP flags: FIN 0x01 and PSH 0x08 only on the last segment, CWR 0x80 only on the first.
        self.fl_m.next = 0xffff_u64.into();
        if self.rem_n.val() > bit_cast::<32, 16>(self.n_mss.val()) {
            self.fl_m.next = self.fl_m.val() & 0xfff6_u64;
        }
        if !self.first_n.val() {
            self.fl_m.next = self.fl_m.val() & 0xff7f_u64;
        }

        // Byte packer: `take` bytes of the current source join the `n` bytes waiting in `acc`.
        self.src.next = self.s_data.val();
        self.s.next = self.soff.q.val();
        self.avail.next = 0.into();
        self.take.next = 0.into();
        if self.st.q.val() == SegState::SHdr {
            self.src.next = self.hdr.read_data.val();
            self.s.next = 0.into();
            self.take.next = 8.into();
            if self.need_h.q.val() < 8 {
                self.take.next = self.need_h.q.val().get_bits::<4>(0);
            }
        }
        if (self.st.q.val() == SegState::SPay) & self.s_valid.val() {
            self.avail.next = bits::<4>(8) - self.soff.q.val();
            self.take.next = self.avail.val();
            if self.need_p.q.val() < bit_cast::<16, 4>(self.avail.val()) {
                self.take.next = self.need_p.q.val().get_bits::<4>(0);
            }
        }
        if !self.room.q.val() {
            self.take.next = 0.into();
        }
        // (Shift amounts at most 64 bits wide: rust-hdl's simulator cannot shift by a wider
        // vector; the Verilog is the same.)
        self.masked.next = bit_cast::<128, 64>(self.src.val() >> (bit_cast::<64, 4>(self.s.val()) << 3))
            & ((bits::<128>(1) << (bit_cast::<64, 4>(self.take.val()) << 3)) - 1);
        self.comb.next = bit_cast::<128, 64>(self.acc.q.val()) | (self.masked.val() << (bit_cast::<64, 4>(self.n.q.val()) << 3));
        self.tot.next = self.n.q.val() + self.take.val();
        self.end_seg.next = (self.st.q.val() == SegState::SPay)
            & (self.take.val() != 0)
            & (bit_cast::<16, 4>(self.take.val()) == self.need_p.q.val());
        self.out_v.next = (self.tot.val() >= 8) | self.end_seg.val();
        self.out_d.next = self.comb.val().get_bits::<64>(0);
        if self.st.q.val() == SegState::SFlush {
            self.out_v.next = self.room.q.val();
            self.out_d.next = self.acc.q.val();
        }

        // Patch the template's fields as the header beats leave (TSO only).
        self.pen[0].next = self.tso.val();
        self.poff[0].d.next = bit_cast::<16, 8>(self.l2.val()) + 2;
        if self.v6.val() {
            self.poff[0].d.next = bit_cast::<16, 8>(self.l2.val()) + 4;
        }
        self.pval[0].next = self.p_len.q.val();
        self.pen[1].next = self.tso.val() & !self.v6.val();
        self.poff[1].d.next = bit_cast::<16, 8>(self.l2.val()) + 4;
        self.pval[1].next = self.id.q.val();
        self.pen[2].next = self.tso.val();
        self.poff[2].d.next = self.l4s.val() + 4;
        self.pval[2].next = self.seq.q.val().get_bits::<16>(16);
        self.pen[3].next = self.tso.val();
        self.poff[3].d.next = self.l4s.val() + 6;
        self.pval[3].next = self.seq.q.val().get_bits::<16>(0);
        self.pen[4].next = self.tso.val();
        self.poff[4].d.next = self.l4s.val() + 12;
        self.pval[4].next = self.p_fl.q.val();
        self.pen[5].next = self.tso.val();
        self.poff[5].d.next = self.l4s.val() + self.cdata.val();
        self.pval[5].next = self.p_ck.q.val();
        // Each field a big-endian 16-bit word at an even offset: its beat, its lane, its bytes
        // swapped (in 64 bits: inside a wider expression Verilog would keep what a 16-bit
        // shift drops).
        self.psh[0].next = bit_cast::<64, 16>(self.poff[0].q.val() & 6) << 3;
        self.psh[1].next = bit_cast::<64, 16>(self.poff[1].q.val() & 6) << 3;
        self.psh[2].next = bit_cast::<64, 16>(self.poff[2].q.val() & 6) << 3;
        self.psh[3].next = bit_cast::<64, 16>(self.poff[3].q.val() & 6) << 3;
        self.psh[4].next = bit_cast::<64, 16>(self.poff[4].q.val() & 6) << 3;
        self.psh[5].next = bit_cast::<64, 16>(self.poff[5].q.val() & 6) << 3;
        self.pw[0].next = bit_cast::<64, 16>(self.pval[0].val());
        self.pw[1].next = bit_cast::<64, 16>(self.pval[1].val());
        self.pw[2].next = bit_cast::<64, 16>(self.pval[2].val());
        self.pw[3].next = bit_cast::<64, 16>(self.pval[3].val());
        self.pw[4].next = bit_cast::<64, 16>(self.pval[4].val());
        self.pw[5].next = bit_cast::<64, 16>(self.pval[5].val());
        // Stage 1 to stage 2: the packer's beat and its index, registered.
        self.s1_v.d.next = self.out_v.val();
        self.s1_d.d.next = self.out_d.val();
        self.s1_ob.d.next = self.ob.q.val();
        self.pd.next = self.s1_d.q.val();
        for i in 0..6 {
            if self.pen[i].val() & (self.s1_ob.q.val() == (self.poff[i].q.val() >> 3)) {
                self.pd.next = (self.pd.val() & !(bits::<64>(0xffff) << self.psh[i].val()))
                    | ((((self.pw[i].val() >> 8) & 0xff_u64) | ((self.pw[i].val() & 0xff_u64) << 8)) << self.psh[i].val());
            }
        }
        self.fifo_push.next = self.s1_v.q.val();
        self.fifo_din.next = self.pd.val();
        if self.out_v.val() {
            self.ob.d.next = self.ob.q.val() + 1;
        }

        // Checksums of the frame as it enters the FIFO; TSO always recomputes the IPv4 header's.
        self.ipe.next = self.ip_en.val() | (self.tso.val() & !self.v6.val());
        self.l4e.next = self.l4_en.val() | self.tso.val();
        self.csum.start.next = self.do_setup.val();
        self.csum.beat.next = self.pd.val();
        self.csum.valid.next = self.s1_v.q.val();
        self.csum.off.next = self.s1_ob.q.val() << 3;
        // The ranges, registered (constant within a segment; they settle in SSetup/SMeta and
        // the cycle after, before the segment's first beat reaches the second stage).
        self.r_iplo.d.next = bit_cast::<16, 8>(self.l2.val());
        self.r_iphi.d.next = self.l4s.val();
        self.r_ipck.d.next = bit_cast::<16, 8>(self.l2.val()) + 10;
        self.r_l4hi.d.next = self.hlen.val() + self.sp.q.val();
        self.csum.ip_lo.next = self.r_iplo.q.val();
        self.csum.ip_hi.next = self.r_iphi.q.val();
        self.csum.ip_ck.next = self.r_ipck.q.val();
        self.csum.l4_lo.next = self.r_iphi.q.val();
        self.csum.l4_hi.next = self.r_l4hi.q.val();
        self.f_ip.next = bit_cast::<16, 32>(self.csum.ip_sum.val()) + bit_cast::<16, 32>(self.csum.ip_sum.val() >> 16);
        if self.f_ip.val() < bit_cast::<16, 32>(self.csum.ip_sum.val()) {
            self.f_ip.next = self.f_ip.val() + 1;
        }
        self.f_l4.next = bit_cast::<16, 32>(self.csum.l4_sum.val()) + bit_cast::<16, 32>(self.csum.l4_sum.val() >> 16);
        if self.f_l4.val() < bit_cast::<16, 32>(self.csum.l4_sum.val()) {
            self.f_l4.next = self.f_l4.val() + 1;
        }
        self.ck_l4.next = !self.f_l4.val();
        if self.udp.val() & !self.tso.val() & (self.ck_l4.val() == 0) {
            self.ck_l4.next = 0xffff_u64.into();
        }
        self.meta_din.next.len = self.hlen.val() + self.sp.q.val();
        self.meta_din.next.drop = self.perr.q.val();
        self.meta_din.next.ip_en = self.ipe.val();
        self.meta_din.next.ip_off = bit_cast::<16, 8>(self.l2.val()) + 10;
        self.meta_din.next.ip_ck = !self.f_ip.val();
        self.meta_din.next.l4_en = self.l4e.val();
        self.meta_din.next.l4_off = self.l4s.val() + self.cdata.val();
        self.meta_din.next.l4_ck = self.ck_l4.val();
        self.meta_din.next.tso = self.tso.val();
        self.meta_push.next = false;
        self.done.next = false;
        self.err.next = self.perr.q.val();
        self.s_ready.next = false;
        self.hdr.read_address.next = self.hidx.q.val();

        match self.st.q.val() {
            SegState::SIdle => {}
            SegState::SHdr => {
                if self.take.val() != 0 {
                    self.hidx.d.next = self.hidx.q.val() + 1;
                    self.hdr.read_address.next = self.hidx.q.val() + 1;
                    self.need_h.d.next = self.need_h.q.val() - bit_cast::<16, 4>(self.take.val());
                    if self.need_h.q.val() == bit_cast::<16, 4>(self.take.val()) {
                        self.st.d.next = SegState::SPay;
                    }
                }
            }
            SegState::SPay => {
                if self.take.val() != 0 {
                    self.need_p.d.next = self.need_p.q.val() - bit_cast::<16, 4>(self.take.val());
                    self.soff.d.next = (self.soff.q.val() + self.take.val()) & 7;
                    self.s_ready.next = ((self.soff.q.val() + self.take.val()) == 8) | (self.end_seg.val() & self.last.val());
                    if self.s_err.val() {
                        self.perr.d.next = true;
                    }
                    if self.end_seg.val() {
                        self.st.d.next = SegState::SDrain;
                        if self.tot.val() > 8 {
                            self.st.d.next = SegState::SFlush;
                        }
                    }
                }
            }
            SegState::SFlush => {
                if self.room.q.val() {
                    self.st.d.next = SegState::SDrain;
                }
            }
            SegState::SDrain => {
                self.st.d.next = SegState::SMeta;
            }
            SegState::SMeta => {
                if !self.meta_full.val() {
                    self.meta_push.next = true;
                    self.first.d.next = false;
                    self.id.d.next = self.id.q.val() + 1;
                    self.seq.d.next = self.seq.q.val() + bit_cast::<32, 16>(self.mss.val());
                    self.rem.d.next = self.rem_n.val();
                    if self.last.val() {
                        self.done.next = true;
                        self.st.d.next = SegState::SIdle;
                    }
                }
            }
        }
        // A packet's start (in SIdle, or in the previous packet's last SMeta).
        if self.start.val() {
            self.rem.d.next = self.n_paylen.val();
            self.first.d.next = true;
            self.id.d.next = self.w_id.q.val();
            self.seq.d.next = (bit_cast::<32, 16>(self.w_seqh.q.val()) << 16) | bit_cast::<32, 16>(self.w_seql.q.val());
            self.soff.d.next = self.n_s0.val();
            self.perr.d.next = false;
        }
        // A segment's fields and the packer's start (the first segment with `go`, the others in
        // the previous one's SMeta, so segments and packets follow each other without a setup
        // cycle).
        if self.do_setup.val() {
            self.sp.d.next = self.sp_c.val();
            self.p_len.d.next = self.n_hlen.val() - bit_cast::<16, 8>(self.n_l2.val()) + self.sp_c.val();
            if self.n_v6.val() {
                self.p_len.d.next = self.n_hlen.val() - bit_cast::<16, 8>(self.n_l2.val()) - 40 + self.sp_c.val();
            }
            self.p_ck.d.next = self.ck_t.val().get_bits::<16>(0) + self.ck_t.val().get_bits::<16>(16);
            self.p_fl.d.next = self.w_doff.q.val() & self.fl_m.val();
            self.need_h.d.next = self.n_hlen.val();
            self.need_p.d.next = self.sp_c.val();
            self.hidx.d.next = 0.into();
            self.hdr.read_address.next = 0.into();
            self.n.d.next = 0.into();
            self.acc.d.next = 0.into();
            self.ob.d.next = 0.into();
            self.st.d.next = SegState::SPay;
            if self.n_hlen.val() != 0 {
                self.st.d.next = SegState::SHdr;
            }
        }
        // The packer's carry: what did not leave this cycle waits for the next.
        if (self.st.q.val() == SegState::SHdr) | (self.st.q.val() == SegState::SPay) {
            if self.out_v.val() {
                self.acc.d.next = self.comb.val().get_bits::<64>(64);
                self.n.d.next = self.tot.val() - 8;
                if self.tot.val() < 8 {
                    self.n.d.next = 0.into();
                    self.acc.d.next = 0.into();
                }
            } else {
                self.acc.d.next = self.comb.val().get_bits::<64>(0);
                self.n.d.next = self.tot.val();
            }
        }
        if self.reset.val() {
            self.st.d.next = SegState::SIdle;
            self.s1_v.d.next = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{clock_cycle, lint, ones_sum};
    use etherparse::{IpNumber, Ipv4Header, Ipv4Options, Ipv6Header, Ipv6RawExtHeader, TcpHeader, UdpHeader};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use std::collections::VecDeque;

    /// One packet for the segmenter: its configuration, the template (TSO), the payload stream,
    /// and the frames the wire must carry (built independently with etherparse).
    struct Packet {
        tso: bool,
        v6: bool,
        l2: usize,
        l3: usize,
        hlen: usize,
        mss: usize,
        cdata: usize,
        ip_en: bool,
        l4_en: bool,
        udp: bool,
        /// Header RAM contents (TSO): the template, garbage after it.
        template: Vec<u64>,
        /// The template is consistent (IP version, IHL, TCP data offset): `hdr_ok`.
        hdr_ok: bool,
        /// The payload stream: `s0` garbage bytes, the payload, garbage to a whole beat.
        s0: usize,
        paylen: usize,
        stream: Vec<u64>,
        /// Index of the first stream beat with a DMA error, if any.
        err_beat: Option<usize>,
        /// Expected frames, in order (checksums right: as they leave tx_out).
        frames: Vec<Vec<u8>>,
    }

    fn pack(bytes: &[u8], rng: &mut SmallRng) -> Vec<u64> {
        bytes
            .chunks(8)
            .map(|c| {
                let mut w: [u8; 8] = rng.gen();
                w[..c.len()].copy_from_slice(c);
                u64::from_le_bytes(w)
            })
            .collect()
    }

    /// A random packet. TSO (IPv4 with options or IPv6 with a hop-by-hop header, VLAN or not, TCP
    /// options, any flags; the TCP checksum field seeded with the pseudo-header sum without the
    /// length, the IPv4 checksum field random) or a plain frame with `CSUM_IP` / TCP / UDP
    /// checksum requests (the L4 field seeded with the pseudo-header sum with the length).
    /// The expected frames follow docs/ABI.md "TSO" and offloads.md §3, built with etherparse:
    /// per segment k of the payload cut at `mss`, IPv4 total length and ID + k (wrapping) or
    /// IPv6 payload length, sequence + k·mss, FIN/PSH only on the last, CWR only on the first,
    /// checksums computed by etherparse.
    fn packet(rng: &mut SmallRng) -> Packet {
        let tso = rng.gen_bool(0.7);
        let v6 = rng.gen_bool(0.4);
        let vlan = rng.gen_bool(0.3);
        let mut l2b: Vec<u8> = (0..12).map(|_| rng.gen()).collect();
        if vlan {
            l2b.extend_from_slice(&[0x81, 0, rng.gen::<u8>() & 0xf, rng.gen()]);
        }
        l2b.extend_from_slice(if v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
        let udp = !tso && rng.gen_bool(0.3);
        let proto = if udp { 17 } else { 6 };
        let mut tcp = TcpHeader::new(rng.gen(), rng.gen(), rng.gen(), rng.gen());
        tcp.acknowledgment_number = rng.gen();
        (tcp.fin, tcp.syn, tcp.rst, tcp.psh, tcp.ack, tcp.urg, tcp.ece, tcp.cwr, tcp.ns) =
            (rng.gen(), rng.gen_bool(0.1), rng.gen_bool(0.05), rng.gen(), rng.gen(), rng.gen_bool(0.1), rng.gen(), rng.gen(), rng.gen());
        tcp.urgent_pointer = rng.gen();
        let ol = 4 * rng.gen_range(0..=10usize);
        if ol > 0 {
            let o: Vec<u8> = (0..ol).map(|i| if i + 1 == ol { 0 } else { 1 }).collect();
            tcp.set_options_raw(&o).unwrap();
        }
        let l4h = if udp { 8 } else { tcp.header_len() };
        let mut ip4 = Ipv4Header::new(0, rng.gen(), IpNumber(proto), rng.gen(), rng.gen()).unwrap();
        ip4.identification = rng.gen();
        ip4.dont_fragment = rng.gen();
        let opts: Vec<u8> = (0..4 * rng.gen_range(0..=10usize)).map(|_| 1).collect();
        ip4.options = Ipv4Options::try_from(&opts[..]).unwrap();
        let hbh = v6 && rng.gen_bool(0.4);
        let ext: Vec<u8> = if hbh {
            let body_len = 6 + 8 * rng.gen_range(0..2);
            let mut b = vec![0u8; body_len];
            b[0] = 1;
            b[1] = (body_len - 2) as u8;
            Ipv6RawExtHeader::new_raw(IpNumber(proto), &b).unwrap().to_bytes().to_vec()
        } else {
            Vec::new()
        };
        let ip6 = Ipv6Header {
            traffic_class: rng.gen(),
            next_header: IpNumber(if hbh { 0 } else { proto }),
            hop_limit: rng.gen(),
            source: rng.gen(),
            destination: rng.gen(),
            ..Default::default()
        };
        let l2 = l2b.len();
        let l3 = if v6 { 40 + ext.len() } else { ip4.header_len() };
        let (src, dst) = if v6 { (ip6.source.to_vec(), ip6.destination.to_vec()) } else { (ip4.source.to_vec(), ip4.destination.to_vec()) };
        // The pseudo-header sum (RFC 793 / RFC 8200 §8.1) with the given L4 length, or without it.
        let seed = |len: Option<usize>| -> u16 {
            let mut ph = [src.clone(), dst.clone()].concat();
            if v6 {
                ph.extend_from_slice(&(len.unwrap_or(0) as u32).to_be_bytes());
                ph.extend_from_slice(&[0, 0, 0, proto]);
            } else {
                ph.extend_from_slice(&[0, proto]);
                ph.extend_from_slice(&(len.unwrap_or(0) as u16).to_be_bytes());
            }
            ones_sum(0, &ph)
        };
        // A frame with these headers around `payload`, lengths and checksums right.
        let frame = |payload: &[u8], ip4: &Ipv4Header, ip6: &Ipv6Header, tcp: &TcpHeader| -> Vec<u8> {
            let mut f = l2b.clone();
            let mut ip4 = ip4.clone();
            let mut ip6 = ip6.clone();
            let l4len = l4h + payload.len();
            if v6 {
                ip6.payload_length = (ext.len() + l4len) as u16;
                f.extend_from_slice(&ip6.to_bytes());
                f.extend_from_slice(&ext);
            } else {
                ip4.total_len = (ip4.header_len() + l4len) as u16;
                ip4.header_checksum = ip4.calc_header_checksum();
                f.extend_from_slice(&ip4.to_bytes());
            }
            if udp {
                let (sp, dp) = (tcp.source_port, tcp.destination_port);
                let u = if v6 { UdpHeader::with_ipv6_checksum(sp, dp, &ip6, payload) } else { UdpHeader::with_ipv4_checksum(sp, dp, &ip4, payload) };
                f.extend_from_slice(&u.unwrap().to_bytes());
            } else {
                let mut t = tcp.clone();
                t.checksum = if v6 { t.calc_checksum_ipv6(&ip6, payload) } else { t.calc_checksum_ipv4(&ip4, payload) }.unwrap();
                f.extend_from_slice(&t.to_bytes());
            }
            f.extend_from_slice(payload);
            f
        };
        let hlen = l2 + l3 + l4h;
        let cdata = if udp { 6 } else { 16 };
        let paylen = if rng.gen_bool(0.1) { rng.gen_range(1..16) } else { rng.gen_range(16..1200) };
        let payload: Vec<u8> = (0..paylen).map(|_| rng.gen()).collect();
        let s0 = rng.gen_range(0..8);
        let mut p = Packet {
            tso, v6, l2, l3, hlen, mss: 0, cdata, ip_en: false, l4_en: false, udp, template: Vec::new(), hdr_ok: true, s0, paylen,
            stream: Vec::new(), err_beat: None, frames: Vec::new(),
        };
        let stream_of = |bytes: &[u8], rng: &mut SmallRng| {
            let mut b: Vec<u8> = (0..s0).map(|_| rng.gen()).collect();
            b.extend_from_slice(bytes);
            pack(&b, rng)
        };
        if tso {
            let mss = if rng.gen_bool(0.2) { rng.gen_range(paylen.max(2) - 1..paylen + 10) } else { rng.gen_range((paylen / 24).max(1)..=(paylen / 2).max(1)) };
            p.mss = mss;
            // The template: as the stack leaves it (lengths arbitrary, checksum seeds without length).
            let mut t = frame(&[], &ip4, &ip6, &tcp);
            t.truncate(hlen);
            if !v6 {
                t[l2 + 2..l2 + 4].copy_from_slice(&rng.gen::<u16>().to_be_bytes());
                t[l2 + 10..l2 + 12].copy_from_slice(&rng.gen::<u16>().to_be_bytes());
            } else {
                t[l2 + 4..l2 + 6].copy_from_slice(&rng.gen::<u16>().to_be_bytes());
            }
            t[l2 + l3 + 16..l2 + l3 + 18].copy_from_slice(&seed(None).to_be_bytes());
            if rng.gen_bool(0.05) {
                // An inconsistent template: wrong IHL or data offset. hdr_ok must say so.
                if !v6 && rng.gen() {
                    t[l2] = 0x40 | ((l3 / 4 + 1) as u8 & 0xf);
                } else {
                    t[l2 + l3 + 12] = t[l2 + l3 + 12].wrapping_add(0x10);
                }
                p.hdr_ok = false;
            }
            p.template = pack(&t, rng);
            p.stream = stream_of(&payload, rng);
            let n = paylen.div_ceil(mss);
            for k in 0..n {
                let seg = &payload[k * mss..((k + 1) * mss).min(paylen)];
                let mut i4 = ip4.clone();
                i4.identification = ip4.identification.wrapping_add(k as u16);
                let mut tk = tcp.clone();
                tk.sequence_number = tcp.sequence_number.wrapping_add((k * mss) as u32);
                tk.fin &= k + 1 == n;
                tk.psh &= k + 1 == n;
                tk.cwr &= k == 0;
                p.frames.push(frame(seg, &i4, &ip6, &tk));
            }
        } else {
            // A plain frame: what the stack leaves (checksum fields seeded or random), and what
            // must leave after the requested checksums.
            p.ip_en = !v6 && rng.gen_bool(0.6);
            p.l4_en = rng.gen_bool(0.7);
            let right = frame(&payload, &ip4, &ip6, &tcp);
            let mut given = right.clone();
            let mut out = right.clone();
            if !v6 {
                let r: u16 = rng.gen();
                given[l2 + 10..l2 + 12].copy_from_slice(&r.to_be_bytes());
                if !p.ip_en {
                    out[l2 + 10..l2 + 12].copy_from_slice(&r.to_be_bytes());
                }
            }
            let ck = l2 + l3 + cdata;
            let sd = seed(Some(l4h + paylen));
            given[ck..ck + 2].copy_from_slice(&sd.to_be_bytes());
            if !p.l4_en {
                out[ck..ck + 2].copy_from_slice(&sd.to_be_bytes());
            }
            p.hlen = 0;
            p.mss = given.len();
            p.paylen = given.len();
            p.stream = stream_of(&given, rng);
            p.frames.push(out);
        }
        if rng.gen_bool(0.1) {
            p.err_beat = Some(rng.gen_range(0..p.stream.len()));
        }
        p
    }

    #[test]
    fn tx_seg_lints_in_verilator() {
        let mut b = TxSeg::default();
        b.connect_all();
        lint("tx_seg", &generate_verilog(&b));
    }

    /// The packet's configuration as the engine presents it with `go`.
    fn cfg_of(p: &Packet) -> SegCfg {
        SegCfg {
            hlen: (p.hlen as u64).to_bits(),
            mss: (p.mss as u64).to_bits(),
            paylen: (p.paylen as u64).to_bits(),
            s0: (p.s0 as u64).to_bits(),
            l2: (p.l2 as u64).to_bits(),
            l3: (p.l3 as u64).to_bits(),
            cdata: (p.cdata as u64).to_bits(),
            tso: p.tso,
            v6: p.v6,
            ip_en: p.ip_en,
            l4_en: p.l4_en,
            udp: p.udp,
        }
    }

    /// Where the test's driver is with the next packet.
    #[derive(Clone, Copy, PartialEq)]
    enum Drive {
        /// Deciding when to start it (a TSO packet waits for the segmenter to be idle).
        Wait,
        /// Writing its template's beat `i`.
        Template(usize),
        /// Reading `hdr_ok`.
        Check,
        /// Holding `go` until it is taken.
        Go,
    }

    /// Every packet's frames, byte for byte after the record's checksums are written in (as
    /// tx_out does), against frames built independently with etherparse following the ABI's
    /// TSO rules ([`packet`]); the records' lengths, offsets and flags; `hdr_ok` for consistent
    /// and inconsistent templates; DMA errors dropping the segment that took the bad beat and all
    /// later ones (`err` with `done`). Packets follow each other as the engine sends them: a
    /// packet without a template is offered (`go` held until `go_ready`) as soon as the previous
    /// one's stream is in, often while that one's last segment is still finishing, and `cfg` is
    /// garbage whenever no packet is being offered (the segmenter must have copied it). The
    /// payload stream has random gaps (valid held until `s_ready`, as AXI requires) and starts at
    /// a random byte; the data FIFO drains at random (`fifo_free` from its fill, never
    /// overflowed), the meta FIFO is full at random.
    /// Mutations caught: FIN kept on every segment (the 0xfff6 mask made 0xfff7), the IPv4 ID not
    /// advanced between segments, and the record's offsets taken from `cfg` instead of the copy.
    #[test]
    fn tx_seg_cuts_segments_as_the_abi_says() {
        let seed = crate::testing::seed(0x750);
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut b = TxSeg::default();
        b.connect_all();
        let clk = |b: &mut TxSeg, c| b.clock.next = Clock { clk: c };
        b.reset.next = true;
        clock_cycle(&mut b, clk, |_| {});
        b.reset.next = false;
        const PACKETS: usize = 400;
        const CAP: usize = 24; // data FIFO words
        let mut fill = 0usize;
        let mut metas = 0usize; // meta FIFO occupancy (capacity 2)
        // packets, segments, dropped segments, refused templates, packets taken while the previous
        // one was finishing
        let mut stats = [0usize; 5];
        let mut pk: Vec<Packet> = vec![packet(&mut rng)];
        let mut drive = Drive::Wait;
        let mut pending: VecDeque<usize> = VecDeque::new(); // started, `done` not yet seen
        let mut feed: VecDeque<usize> = VecDeque::new(); // started, stream not all taken
        let (mut beat, mut offering) = (0usize, false); // the feed head's stream beat being offered
        let mut words: Vec<u64> = Vec::new();
        let mut k = 0usize; // the pending head's segment
        let mut busy = false;
        let mut quiet = 0;
        while pk.len() <= PACKETS || !pending.is_empty() {
            quiet += 1;
            assert!(quiet < 20000, "stuck: drive at packet {}, pending {pending:?}", pk.len() - 1);
            let n = pk.len() - 1; // the next packet to start
            if drive == Drive::Wait && pk.len() <= PACKETS {
                if pk[n].tso {
                    if pending.is_empty() && !busy {
                        drive = Drive::Template(0);
                    }
                } else if feed.is_empty() && rng.gen_bool(0.7) {
                    drive = Drive::Go;
                }
            }
            b.hw_en.next = false;
            b.go.next = false;
            b.cfg.next = SegCfg {
                hlen: rng.gen::<u16>().to_bits(),
                mss: rng.gen::<u16>().to_bits(),
                paylen: rng.gen::<u32>().to_bits(),
                s0: (rng.gen::<u8>() as u64 & 0xf).to_bits(),
                l2: rng.gen::<u8>().to_bits(),
                l3: rng.gen::<u8>().to_bits(),
                cdata: rng.gen::<u16>().to_bits(),
                tso: rng.gen(),
                v6: rng.gen(),
                ip_en: rng.gen(),
                l4_en: rng.gen(),
                udp: rng.gen(),
            };
            match drive {
                Drive::Wait => {}
                Drive::Template(i) => {
                    b.cfg.next = cfg_of(&pk[n]);
                    b.hw_en.next = true;
                    b.hw_idx.next = (i as u64).to_bits();
                    b.hw_data.next = pk[n].template[i].to_bits();
                }
                Drive::Check => b.cfg.next = cfg_of(&pk[n]),
                Drive::Go => {
                    b.cfg.next = cfg_of(&pk[n]);
                    b.go.next = true;
                }
            }
            if !offering && feed.front().is_some_and(|&f| beat < pk[f].stream.len()) && rng.gen_bool(0.7) {
                offering = true;
            }
            let f = feed.front().copied();
            b.s_valid.next = offering;
            b.s_data.next = if offering { pk[f.unwrap()].stream[beat] } else { rng.gen() }.to_bits();
            b.s_err.next = offering && pk[f.unwrap()].err_beat.is_some_and(|e| beat >= e);
            b.fifo_free.next = ((CAP - fill) as u64).to_bits();
            b.meta_full.next = metas == 2;
            let mut taken = false;
            let mut refused = false;
            clock_cycle(&mut b, clk, |b| {
                if b.s_ready.val() {
                    assert!(offering, "packet {f:?}: s_ready without a beat");
                    offering = false;
                    beat += 1;
                    quiet = 0;
                }
                if b.fifo_push.val() {
                    assert!(fill < CAP, "push into a full data FIFO");
                    fill += 1;
                    words.push(b.fifo_din.val().to_u64());
                }
                if b.meta_push.val() {
                    assert!(metas < 2, "push into a full meta FIFO");
                    metas += 1;
                    let m = b.meta_din.val();
                    let h = *pending.front().expect("a frame record with no packet started");
                    let p = &pk[h];
                    let want = p.frames.get(k).unwrap_or_else(|| panic!("packet {h}: segment {k} is one too many"));
                    let len = m.len.index();
                    assert_eq!(len, want.len(), "packet {h} segment {k}: length");
                    assert_eq!(words.len(), len.div_ceil(8), "packet {h} segment {k}: words");
                    let mut got: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).take(len).collect();
                    words.clear();
                    assert_eq!(m.tso, p.tso);
                    assert_eq!(m.ip_en, p.ip_en || (p.tso && !p.v6), "packet {h}: ip_en");
                    assert_eq!(m.l4_en, p.l4_en || p.tso, "packet {h}: l4_en");
                    if m.ip_en {
                        assert_eq!(m.ip_off.index(), p.l2 + 10, "packet {h}: ip_off");
                        got[p.l2 + 10..p.l2 + 12].copy_from_slice(&(m.ip_ck.index() as u16).to_be_bytes());
                    }
                    if m.l4_en {
                        let o = p.l2 + p.l3 + p.cdata;
                        assert_eq!(m.l4_off.index(), o, "packet {h}: l4_off");
                        got[o..o + 2].copy_from_slice(&(m.l4_ck.index() as u16).to_be_bytes());
                    }
                    // A DMA error drops the segment that takes the bad beat's first payload byte, and
                    // all after it.
                    let err_seg = p.err_beat.map(|e| (8 * e).saturating_sub(p.s0) / p.mss);
                    let dropping = err_seg.is_some_and(|e| e <= k);
                    assert_eq!(m.drop, dropping, "packet {h} segment {k}: drop (error beat {:?})", p.err_beat);
                    if !m.drop {
                        assert!(got == *want, "packet {h} segment {k} of {}: bytes differ\n got {got:02x?}\nwant {want:02x?}", p.frames.len());
                    }
                    stats[1] += 1;
                    stats[2] += m.drop as usize;
                    k += 1;
                }
                if b.done.val() {
                    let h = pending.pop_front().expect("done with no packet started");
                    assert_eq!(k, pk[h].frames.len(), "packet {h}: done after {k} segments");
                    assert_eq!(b.err.val(), pk[h].err_beat.is_some(), "packet {h}: err");
                    k = 0;
                    stats[0] += 1;
                }
                if drive == Drive::Check {
                    assert_eq!(b.hdr_ok.val(), pk[n].hdr_ok, "packet {n}: hdr_ok");
                    refused = !pk[n].hdr_ok;
                }
                if drive == Drive::Go && b.go_ready.val() {
                    taken = true;
                    stats[4] += b.busy.val() as usize;
                }
                busy = b.busy.val();
            });
            drive = match drive {
                Drive::Template(i) if i + 1 < pk[n].template.len() => Drive::Template(i + 1),
                Drive::Template(_) => Drive::Check,
                Drive::Check if refused => {
                    stats[3] += 1; // the engine refuses the packet
                    pk.push(packet(&mut rng));
                    Drive::Wait
                }
                Drive::Check => Drive::Go,
                Drive::Go if taken => {
                    pending.push_back(n);
                    feed.push_back(n);
                    pk.push(packet(&mut rng));
                    Drive::Wait
                }
                d => d,
            };
            if let Some(f) = feed.front() {
                if beat == pk[*f].stream.len() {
                    feed.pop_front();
                    beat = 0;
                }
            }
            // The consumers drain at random.
            if fill > 0 && rng.gen_bool(0.6) {
                fill -= 1;
            }
            if metas > 0 && rng.gen_bool(0.3) {
                metas -= 1;
            }
        }
        assert!(feed.is_empty(), "every stream was consumed");
        clock_cycle(&mut b, clk, |b| assert!(!b.busy.val(), "idle after the last packet"));
        println!(
            "packets {}, segments {}, dropped {}, refused templates {}, taken while the previous finished {}",
            stats[0], stats[1], stats[2], stats[3], stats[4]
        );
        assert!(stats[1] > 800 && stats[2] > 5 && stats[3] > 2 && stats[4] > 50, "the packets covered the cases");
    }
}
