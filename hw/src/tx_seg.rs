//! Transmit segmenter: turns one packet's byte stream into the frames that go
//! on the wire — the packet itself, or for TSO one frame per `mss` payload
//! bytes, each behind a patched copy of the header template.
//!
//! The TX engine first writes the template (`hlen` bytes, TSO only) into the
//! header RAM through `hw_*`, then pulses `go` and streams the payload beats
//! (the packet's buffers back to back, the first starting at byte `s0` of its
//! first beat). A byte packer joins template and payload at any byte offset,
//! so a segment's payload may start anywhere in a beat:
//!
//! ```text
//! SIdle --go--> SSetup -> SHdr (template from RAM) -> SPay (payload bytes) -> [SFlush] -> SDrain -> SMeta
//!                            ^                                                                       |
//!                            \------------- more payload: SMeta sets up the next segment ------------/
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
//! IPv4 header checksum is always recomputed. Every segment costs its beats
//! plus two cycles (SDrain, SMeta), fewer than the MAC's inter-frame gap, so
//! the segmenter keeps ahead of the wire.
//!
//! A payload beat that arrived with a DMA error marks this segment and all
//! later ones of the packet `drop`: the output stage discards them.

use crate::records::TxMeta;
use crate::tx_csum::TxCsum;
use rust_hdl::prelude::*;

/// States of the segmenter.
#[allow(missing_docs)] // rust-hdl's derive generates undocumented accessors
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum SegState {
    /// Waiting for `go`.
    SIdle,
    /// Computing the first segment's header fields (later ones: in SMeta).
    SSetup,
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
    /// Start segmenting (configuration and template must be in place).
    pub go: Signal<In, Bit>,
    /// Template length (`l2hlen + l3hlen + l4hlen`); zero without TSO.
    pub hlen: Signal<In, Bits<16>>,
    /// Payload bytes per frame (`tso_segsz`; the packet length without TSO).
    pub mss: Signal<In, Bits<16>>,
    /// Payload bytes in the packet after the template.
    pub paylen: Signal<In, Bits<32>>,
    /// First payload byte's position in the first stream beat.
    pub s0: Signal<In, Bits<4>>,
    /// `l2hlen`.
    pub l2: Signal<In, Bits<8>>,
    /// `l3hlen`.
    pub l3: Signal<In, Bits<8>>,
    /// `csum_data` (offset of the L4 checksum from the L4 start).
    pub cdata: Signal<In, Bits<16>>,
    /// The packet is TSO.
    pub tso: Signal<In, Bit>,
    /// IPv6 (TSO: which length field to patch).
    pub v6: Signal<In, Bit>,
    /// `CSUM_IP` requested.
    pub ip_en: Signal<In, Bit>,
    /// An L4 checksum requested.
    pub l4_en: Signal<In, Bit>,
    /// That L4 checksum is UDP's (zero goes out as 0xffff).
    pub udp: Signal<In, Bit>,
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
            self, clock, st, rem, first, id, seq, sp, p_len, p_ck, p_fl, need_h, need_p, hidx, soff, n, acc,
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
        self.l4s.next = bit_cast::<16, 8>(self.l2.val()) + bit_cast::<16, 8>(self.l3.val());
        self.l4h.next = self.hlen.val() - self.l4s.val();

        // Header RAM, and the template fields captured as its beats are written (each field a
        // 16-bit big-endian word at an even offset, so it never straddles a beat).
        self.hdr.write_enable.next = self.hw_en.val();
        self.hdr.write_address.next = self.hw_idx.val().get_bits::<5>(0);
        self.hdr.write_data.next = self.hw_data.val();
        self.coff[0].next = bit_cast::<16, 8>(self.l2.val());
        self.coff[1].next = bit_cast::<16, 8>(self.l2.val()) + 4;
        self.coff[2].next = self.l4s.val() + 4;
        self.coff[3].next = self.l4s.val() + 6;
        self.coff[4].next = self.l4s.val() + 12;
        self.coff[5].next = self.l4s.val() + self.cdata.val();
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
        if self.v6.val() {
            if (self.w_vihl.q.val() >> 12) != 6 {
                self.hdr_ok.next = false;
            }
        } else if ((self.w_vihl.q.val() >> 12) != 4)
            | ((((self.w_vihl.q.val() >> 8) & 0xf) << 2) != bit_cast::<16, 8>(self.l3.val()))
        {
            self.hdr_ok.next = false;
        }

        self.last.next = self.rem.q.val() <= bit_cast::<32, 16>(self.mss.val());
        // Next segment's fields, from the remaining payload (in SMeta: after this segment).
        self.rem_n.next = self.rem.q.val();
        self.first_n.next = self.first.q.val();
        if self.st.q.val() == SegState::SMeta {
            self.rem_n.next = self.rem.q.val() - bit_cast::<32, 16>(self.sp.q.val());
            self.first_n.next = false;
        }
        self.do_setup.next = (self.st.q.val() == SegState::SSetup)
            | ((self.st.q.val() == SegState::SMeta) & !self.meta_full.val() & !self.last.val());
        self.sp_c.next = self.mss.val();
        if self.rem_n.val() < bit_cast::<32, 16>(self.mss.val()) {
            self.sp_c.next = self.rem_n.val().get_bits::<16>(0);
        }
        self.ck_t.next = bit_cast::<32, 16>(self.w_ck.q.val()) + bit_cast::<32, 16>(self.l4h.val() + self.sp_c.val());
        // TCP flags: FIN 0x01 and PSH 0x08 only on the last segment, CWR 0x80 only on the first.
        self.fl_m.next = 0xffff_u64.into();
        if self.rem_n.val() > bit_cast::<32, 16>(self.mss.val()) {
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
            SegState::SIdle => {
                if self.go.val() {
                    self.rem.d.next = self.paylen.val();
                    self.first.d.next = true;
                    self.id.d.next = self.w_id.q.val();
                    self.seq.d.next = (bit_cast::<32, 16>(self.w_seqh.q.val()) << 16) | bit_cast::<32, 16>(self.w_seql.q.val());
                    self.soff.d.next = self.s0.val();
                    self.perr.d.next = false;
                    self.st.d.next = SegState::SSetup;
                }
            }
            SegState::SSetup => {}
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
        // A segment's fields and the packer's start (the first segment in SSetup, the others in
        // the previous one's SMeta, so segments follow each other without a setup cycle).
        if self.do_setup.val() {
            self.sp.d.next = self.sp_c.val();
            self.p_len.d.next = self.hlen.val() - bit_cast::<16, 8>(self.l2.val()) + self.sp_c.val();
            if self.v6.val() {
                self.p_len.d.next = self.hlen.val() - bit_cast::<16, 8>(self.l2.val()) - 40 + self.sp_c.val();
            }
            self.p_ck.d.next = self.ck_t.val().get_bits::<16>(0) + self.ck_t.val().get_bits::<16>(16);
            self.p_fl.d.next = self.w_doff.q.val() & self.fl_m.val();
            self.need_h.d.next = self.hlen.val();
            self.need_p.d.next = self.sp_c.val();
            self.hidx.d.next = 0.into();
            self.hdr.read_address.next = 0.into();
            self.n.d.next = 0.into();
            self.acc.d.next = 0.into();
            self.ob.d.next = 0.into();
            self.st.d.next = SegState::SPay;
            if self.hlen.val() != 0 {
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
    use crate::testing::lint;

    #[test]
    fn tx_seg_lints_in_verilator() {
        let mut b = TxSeg::default();
        b.connect_all();
        lint("tx_seg", &generate_verilog(&b));
    }
}
