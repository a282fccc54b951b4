//! Receive checksum verification: the verdict FreeBSD's stack reads from
//! `csum_flags` (`CSUM_L3_CALC/VALID`, `CSUM_L4_CALC/VALID`, `csum_data`).
//!
//! Pipeline, one beat per cycle, never stalling the MAC:
//! ```text
//! stage 0  RxParse sees beat k            (registers what beats 0..=k say)
//! stage 1  this block sums beat k         (masks from the parser's registers)
//!          and pushes it into the RX FIFO
//! stage 2  after the last beat: verdict -> RxMeta; RSS picks the tuple (rx_rss)
//! stage 3  RSS hashes it
//! stage 4  RxMeta with the hash into the meta FIFO
//! ```
//! Three sums per frame: the IPv4 header (must fold to 0xffff), the L4
//! segment up to the IP datagram's end (Ethernet padding excluded), and the
//! pseudo-header addresses; protocol and L4 length are added at the verdict.
//! A bad checksum is reported, not dropped: the stack decides. A frame is
//! dropped (counted) only when the FIFO cannot take a maximum frame at its
//! start, the MAC marked it bad (`tuser`), or it exceeds `MAX_FRAME`.
//! UDP over IPv4 with a zero checksum field ("no checksum") gets no L4
//! verdict; over IPv6 a zero field is checked like any other and fails.
//! An IPv6 routing header with Segments Left > 0 gets no L4 verdict: the
//! pseudo-header would need the final destination, which is not in the header.

use crate::rx_parse::RxParse;
use crate::rx_rss::RxRss;
use nic_abi::{csum, ifcap};
pub use crate::records::{RxMeta};
use rust_hdl::prelude::*;


/// The receive checksum verifier (with its parser).
#[derive(LogicBlock)]
pub struct RxCsum {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// CAPENABLE: RXCSUM gates IPv4 verdicts, RXCSUM_IPV6 IPv6 ones.
    pub capenable: Signal<In, Bits<32>>,
    /// RSS key ([`crate::rx_rss`]).
    pub rss_key: Signal<In, Bits<320>>,
    /// Enabled RSS hash types.
    pub rss_types: Signal<In, Bits<32>>,
    /// MAC beat data.
    pub tdata: Signal<In, Bits<64>>,
    /// MAC byte enables.
    pub tkeep: Signal<In, Bits<8>>,
    /// MAC last beat.
    pub tlast: Signal<In, Bit>,
    /// MAC error (on the last beat).
    pub tuser: Signal<In, Bit>,
    /// MAC beat valid.
    pub tvalid: Signal<In, Bit>,
    /// Data FIFO push.
    pub fifo_push: Signal<Out, Bit>,
    /// Data FIFO word.
    pub fifo_din: Signal<Out, Bits<64>>,
    /// Data FIFO free words.
    pub fifo_free: Signal<In, Bits<13>>,
    /// Meta FIFO push.
    pub meta_push: Signal<Out, Bit>,
    /// Meta FIFO record.
    pub meta_din: Signal<Out, RxMeta>,
    /// Meta FIFO full.
    pub meta_full: Signal<In, Bit>,
    /// Counter pulse: IPv4 header checksum wrong.
    pub inc_l3_bad: Signal<Out, Bit>,
    /// Counter pulse: L4 checksum wrong.
    pub inc_l4_bad: Signal<Out, Bit>,
    /// Counter pulse: L4 checksum verified.
    pub inc_l4_calc: Signal<Out, Bit>,
    /// Counter pulse: frame dropped (overrun, MAC error, over-length).
    pub inc_drop_err: Signal<Out, Bit>,
    /// A frame is in the pipeline.
    pub busy: Signal<Out, Bit>,
    p: RxParse,
    rss: RxRss,
    fin2: DFF<Bit>,
    acc2: DFF<Bit>,
    mq: DFF<RxMeta>,
    fin3: DFF<Bit>,
    acc3f: DFF<Bit>,
    mq2: DFF<RxMeta>,
    mid: DFF<Bit>,
    too_long: DFF<Bit>,
    s1_first: DFF<Bit>,
    f_long: DFF<Bit>,
    skip: DFF<Bit>,
    v_in: Signal<Local, Bit>,
    s1_data: DFF<Bits<64>>,
    s1_keep: DFF<Bits<8>>,
    s1_valid: DFF<Bit>,
    s1_last: DFF<Bit>,
    s1_user: DFF<Bit>,
    s1_b: DFF<Bits<16>>,
    acc3: DFF<Bits<32>>,
    acc4: DFF<Bits<32>>,
    acca: DFF<Bits<32>>,
    accept_q: DFF<Bit>,
    pushed: DFF<Bits<16>>,
    ufield: DFF<Bits<16>>,
    fin: DFF<Bit>,
    f3: DFF<Bits<32>>,
    f4: DFF<Bits<32>>,
    fa: DFF<Bits<32>>,
    f_v4: DFF<Bit>,
    f_v6: DFF<Bit>,
    f_ihl: DFF<Bits<4>>,
    f_l3start: DFF<Bits<16>>,
    f_l3end: DFF<Bits<16>>,
    f_l4start: DFF<Bits<16>>,
    f_l4_known: DFF<Bit>,
    f_route: DFF<Bit>,
    f_proto: DFF<Bits<8>>,
    f_len: DFF<Bits<16>>,
    f_user: DFF<Bit>,
    f_accept: DFF<Bit>,
    f_nbeats: DFF<Bits<16>>,
    f_ufield: DFF<Bits<16>>,
    pp: [Signal<Local, Bits<16>>; 4],
    hi: [Signal<Local, Bits<32>>; 4],
    lo: [Signal<Local, Bits<32>>; 4],
    whi: [Signal<Local, Bits<32>>; 4],
    wlo: [Signal<Local, Bits<32>>; 4],
    w3: [Signal<Local, Bits<32>>; 4],
    w4: [Signal<Local, Bits<32>>; 4],
    wa: [Signal<Local, Bits<32>>; 4],
    l3hend: Signal<Local, Bits<16>>,
    a_lo: Signal<Local, Bits<16>>,
    a_hi: Signal<Local, Bits<16>>,
    uoff: Signal<Local, Bits<16>>,
    ush: Signal<Local, Bits<16>>,
    acc_now: Signal<Local, Bit>,
    push_now: Signal<Local, Bit>,
    nbytes: Signal<Local, Bits<16>>,
    n3: Signal<Local, Bits<32>>,
    n4: Signal<Local, Bits<32>>,
    na: Signal<Local, Bits<32>>,
    l3ok: Signal<Local, Bit>,
    l3calc: Signal<Local, Bit>,
    l3valid: Signal<Local, Bit>,
    s3: Signal<Local, Bits<32>>,
    t3: Signal<Local, Bits<32>>,
    hdrmin: Signal<Local, Bits<16>>,
    l4ok: Signal<Local, Bit>,
    cap4: Signal<Local, Bit>,
    l4calc: Signal<Local, Bit>,
    l4valid: Signal<Local, Bit>,
    tot: Signal<Local, Bits<32>>,
    s4: Signal<Local, Bits<32>>,
    t4: Signal<Local, Bits<32>>,
    drop: Signal<Local, Bit>,
    md: Signal<Local, RxMeta>,
    k_l3c: Constant<Bits<32>>,
    k_l3v: Constant<Bits<32>>,
    k_l4c: Constant<Bits<32>>,
    k_l4v: Constant<Bits<32>>,
    k_rx4: Constant<Bits<32>>,
    k_rx6: Constant<Bits<32>>,
    k_max: Constant<Bits<16>>,
    k_maxbeats: Constant<Bits<16>>,
}

impl Default for RxCsum {
    fn default() -> Self {
        let k32 = |v: u32| Constant::new((v as u64).to_bits());
        let max_beats = (nic_abi::MAX_FRAME as u64).div_ceil(8);
        Self {
            clock: Default::default(), reset: Default::default(), capenable: Default::default(),
            tdata: Default::default(), tkeep: Default::default(), tlast: Default::default(),
            tuser: Default::default(), tvalid: Default::default(), fifo_push: Default::default(),
            fifo_din: Default::default(), fifo_free: Default::default(), meta_push: Default::default(),
            meta_din: Default::default(), meta_full: Default::default(), inc_l3_bad: Default::default(),
            inc_l4_bad: Default::default(), inc_l4_calc: Default::default(), inc_drop_err: Default::default(),
            busy: Default::default(), p: Default::default(), rss: Default::default(), fin2: Default::default(),
            acc2: Default::default(), mq: Default::default(), fin3: Default::default(), acc3f: Default::default(),
            mq2: Default::default(), rss_key: Default::default(), rss_types: Default::default(),
            mid: Default::default(), too_long: Default::default(), s1_first: Default::default(), f_long: Default::default(), skip: Default::default(), v_in: Default::default(), s1_data: Default::default(),
            s1_keep: Default::default(), s1_valid: Default::default(), s1_last: Default::default(),
            s1_user: Default::default(), s1_b: Default::default(), acc3: Default::default(),
            acc4: Default::default(), acca: Default::default(), accept_q: Default::default(),
            pushed: Default::default(), ufield: Default::default(), fin: Default::default(),
            f3: Default::default(), f4: Default::default(), fa: Default::default(), f_v4: Default::default(),
            f_v6: Default::default(), f_ihl: Default::default(), f_l3start: Default::default(),
            f_l3end: Default::default(), f_l4start: Default::default(), f_l4_known: Default::default(), f_route: Default::default(),
            f_proto: Default::default(), f_len: Default::default(), f_user: Default::default(),
            f_accept: Default::default(), f_nbeats: Default::default(), f_ufield: Default::default(),
            pp: Default::default(), hi: Default::default(), lo: Default::default(), whi: Default::default(),
            wlo: Default::default(), w3: Default::default(), w4: Default::default(), wa: Default::default(),
            l3hend: Default::default(), a_lo: Default::default(), a_hi: Default::default(),
            uoff: Default::default(), ush: Default::default(), acc_now: Default::default(),
            push_now: Default::default(), nbytes: Default::default(), n3: Default::default(),
            n4: Default::default(), na: Default::default(), l3ok: Default::default(), l3calc: Default::default(),
            l3valid: Default::default(), s3: Default::default(), t3: Default::default(),
            hdrmin: Default::default(), l4ok: Default::default(), cap4: Default::default(),
            l4calc: Default::default(), l4valid: Default::default(), tot: Default::default(),
            s4: Default::default(), t4: Default::default(), drop: Default::default(), md: Default::default(),
            k_l3c: k32(csum::CSUM_L3_CALC),
            k_l3v: k32(csum::CSUM_L3_VALID),
            k_l4c: k32(csum::CSUM_L4_CALC),
            k_l4v: k32(csum::CSUM_L4_VALID),
            k_rx4: k32(ifcap::IFCAP_RXCSUM),
            k_rx6: k32(ifcap::IFCAP_RXCSUM_IPV6),
            k_max: Constant::new((nic_abi::MAX_FRAME as u64).to_bits()),
            k_maxbeats: Constant::new(max_beats.to_bits()),
        }
    }
}

impl Logic for RxCsum {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, mid, too_long, s1_first, f_long, skip, s1_data, s1_keep, s1_valid, s1_last, s1_user, s1_b, acc3, acc4, acca, accept_q, pushed,
            ufield, fin, fin2, acc2, mq, fin3, acc3f, mq2, f3, f4, fa, f_v4, f_v6, f_ihl, f_l3start, f_l3end, f_l4start, f_l4_known, f_route, f_proto, f_len,
            f_user, f_accept, f_nbeats, f_ufield
        );
        // A reset in the middle of a frame skips the rest of that frame (it is not a frame start).
        if self.tvalid.val() {
            self.mid.d.next = !self.tlast.val();
        }
        self.v_in.next = self.tvalid.val() & !self.skip.q.val();
        if self.skip.q.val() & self.tvalid.val() & self.tlast.val() {
            self.skip.d.next = false;
        }
        // Stage 0: the parser sees the live beat.
        self.p.clock.next = self.clock.val();
        self.p.reset.next = self.reset.val();
        self.p.data.next = self.tdata.val();
        self.p.valid.next = self.v_in.val();
        self.p.last.next = self.tlast.val();
        self.s1_data.d.next = self.tdata.val();
        self.s1_keep.d.next = self.tkeep.val();
        self.s1_valid.d.next = self.v_in.val();
        self.s1_first.d.next = !self.mid.q.val();
        self.s1_last.d.next = self.tlast.val();
        self.s1_user.d.next = self.tuser.val();
        if self.s1_valid.q.val() {
            self.s1_b.d.next = self.s1_b.q.val() + 1;
            if self.s1_last.q.val() {
                self.s1_b.d.next = 0.into();
            }
        }

        // Stage 1: masked sums of beat s1_b.
        self.pp[0].next = self.s1_b.q.val() << 3;
        self.pp[1].next = (self.s1_b.q.val() << 3) + 2;
        self.pp[2].next = (self.s1_b.q.val() << 3) + 4;
        self.pp[3].next = (self.s1_b.q.val() << 3) + 6;
        self.l3hend.next = self.p.l3start.val() + (bit_cast::<16, 4>(self.p.ihl.val()) << 2);
        self.a_lo.next = 0.into();
        self.a_hi.next = 0.into();
        if self.p.v4.val() {
            self.a_lo.next = self.p.l3start.val() + 12;
            self.a_hi.next = self.p.l3start.val() + 20;
        }
        if self.p.v6.val() {
            self.a_lo.next = self.p.l3start.val() + 8;
            self.a_hi.next = self.p.l3start.val() + 40;
        }
        self.hi[0].next = bit_cast::<32, 8>(self.s1_data.q.val().get_bits::<8>(0)) << 8;
        self.lo[0].next = bit_cast::<32, 8>(self.s1_data.q.val().get_bits::<8>(8));
        self.whi[0].next = self.hi[0].val();
        self.wlo[0].next = self.lo[0].val();
        if !self.s1_keep.q.val().get_bit(0) {
            self.whi[0].next = 0.into();
        }
        if !self.s1_keep.q.val().get_bit(1) {
            self.wlo[0].next = 0.into();
        }
        self.w3[0].next = 0.into();
        if self.p.v4.val() & (self.pp[0].val() >= self.p.l3start.val()) & (self.pp[0].val() < self.l3hend.val()) {
            self.w3[0].next = self.whi[0].val() | self.wlo[0].val();
        }
        self.wa[0].next = 0.into();
        if (self.pp[0].val() >= self.a_lo.val()) & (self.pp[0].val() < self.a_hi.val()) {
            self.wa[0].next = self.whi[0].val() | self.wlo[0].val();
        }
        self.w4[0].next = 0.into();
        if self.p.l4_known.val() & (self.pp[0].val() >= self.p.l4start.val()) & (self.pp[0].val() < self.p.l3end.val()) {
            self.w4[0].next = self.whi[0].val();
            if self.pp[0].val() + 1 < self.p.l3end.val() {
                self.w4[0].next = self.whi[0].val() | self.wlo[0].val();
            }
        }
        self.hi[1].next = bit_cast::<32, 8>(self.s1_data.q.val().get_bits::<8>(16)) << 8;
        self.lo[1].next = bit_cast::<32, 8>(self.s1_data.q.val().get_bits::<8>(24));
        self.whi[1].next = self.hi[1].val();
        self.wlo[1].next = self.lo[1].val();
        if !self.s1_keep.q.val().get_bit(2) {
            self.whi[1].next = 0.into();
        }
        if !self.s1_keep.q.val().get_bit(3) {
            self.wlo[1].next = 0.into();
        }
        self.w3[1].next = 0.into();
        if self.p.v4.val() & (self.pp[1].val() >= self.p.l3start.val()) & (self.pp[1].val() < self.l3hend.val()) {
            self.w3[1].next = self.whi[1].val() | self.wlo[1].val();
        }
        self.wa[1].next = 0.into();
        if (self.pp[1].val() >= self.a_lo.val()) & (self.pp[1].val() < self.a_hi.val()) {
            self.wa[1].next = self.whi[1].val() | self.wlo[1].val();
        }
        self.w4[1].next = 0.into();
        if self.p.l4_known.val() & (self.pp[1].val() >= self.p.l4start.val()) & (self.pp[1].val() < self.p.l3end.val()) {
            self.w4[1].next = self.whi[1].val();
            if self.pp[1].val() + 1 < self.p.l3end.val() {
                self.w4[1].next = self.whi[1].val() | self.wlo[1].val();
            }
        }
        self.hi[2].next = bit_cast::<32, 8>(self.s1_data.q.val().get_bits::<8>(32)) << 8;
        self.lo[2].next = bit_cast::<32, 8>(self.s1_data.q.val().get_bits::<8>(40));
        self.whi[2].next = self.hi[2].val();
        self.wlo[2].next = self.lo[2].val();
        if !self.s1_keep.q.val().get_bit(4) {
            self.whi[2].next = 0.into();
        }
        if !self.s1_keep.q.val().get_bit(5) {
            self.wlo[2].next = 0.into();
        }
        self.w3[2].next = 0.into();
        if self.p.v4.val() & (self.pp[2].val() >= self.p.l3start.val()) & (self.pp[2].val() < self.l3hend.val()) {
            self.w3[2].next = self.whi[2].val() | self.wlo[2].val();
        }
        self.wa[2].next = 0.into();
        if (self.pp[2].val() >= self.a_lo.val()) & (self.pp[2].val() < self.a_hi.val()) {
            self.wa[2].next = self.whi[2].val() | self.wlo[2].val();
        }
        self.w4[2].next = 0.into();
        if self.p.l4_known.val() & (self.pp[2].val() >= self.p.l4start.val()) & (self.pp[2].val() < self.p.l3end.val()) {
            self.w4[2].next = self.whi[2].val();
            if self.pp[2].val() + 1 < self.p.l3end.val() {
                self.w4[2].next = self.whi[2].val() | self.wlo[2].val();
            }
        }
        self.hi[3].next = bit_cast::<32, 8>(self.s1_data.q.val().get_bits::<8>(48)) << 8;
        self.lo[3].next = bit_cast::<32, 8>(self.s1_data.q.val().get_bits::<8>(56));
        self.whi[3].next = self.hi[3].val();
        self.wlo[3].next = self.lo[3].val();
        if !self.s1_keep.q.val().get_bit(6) {
            self.whi[3].next = 0.into();
        }
        if !self.s1_keep.q.val().get_bit(7) {
            self.wlo[3].next = 0.into();
        }
        self.w3[3].next = 0.into();
        if self.p.v4.val() & (self.pp[3].val() >= self.p.l3start.val()) & (self.pp[3].val() < self.l3hend.val()) {
            self.w3[3].next = self.whi[3].val() | self.wlo[3].val();
        }
        self.wa[3].next = 0.into();
        if (self.pp[3].val() >= self.a_lo.val()) & (self.pp[3].val() < self.a_hi.val()) {
            self.wa[3].next = self.whi[3].val() | self.wlo[3].val();
        }
        self.w4[3].next = 0.into();
        if self.p.l4_known.val() & (self.pp[3].val() >= self.p.l4start.val()) & (self.pp[3].val() < self.p.l3end.val()) {
            self.w4[3].next = self.whi[3].val();
            if self.pp[3].val() + 1 < self.p.l3end.val() {
                self.w4[3].next = self.whi[3].val() | self.wlo[3].val();
            }
        }
        self.n3.next = self.w3[0].val() + self.w3[1].val() + self.w3[2].val() + self.w3[3].val();
        self.n4.next = self.w4[0].val() + self.w4[1].val() + self.w4[2].val() + self.w4[3].val();
        self.na.next = self.wa[0].val() + self.wa[1].val() + self.wa[2].val() + self.wa[3].val();
        // The UDP checksum field (L4 + 6), to tell IPv4's "no checksum" apart.
        self.uoff.next = self.p.l4start.val() + 6;
        self.ush.next = (self.uoff.val() & 6) << 3;
        if self.s1_valid.q.val() & self.p.l4_known.val() & (self.s1_b.q.val() == (self.uoff.val() >> 3)) {
            self.ufield.d.next = self.s1_data.q.val().get_bits::<16>(self.ush.val().index());
        }
        // FIFO admission is decided once per frame, at its first beat.
        self.acc_now.next = self.accept_q.q.val();
        if self.s1_b.q.val() == 0 {
            self.acc_now.next = (bit_cast::<16, 13>(self.fifo_free.val()) > self.k_maxbeats.val()) & !self.meta_full.val();
        }
        // `pushed` still holds the previous frame's count at a first beat: do not let it decide.
        self.push_now.next = self.s1_valid.q.val()
            & self.acc_now.val()
            & ((self.s1_b.q.val() == 0) | (self.pushed.q.val() < self.k_maxbeats.val()));
        self.fifo_push.next = self.push_now.val();
        self.fifo_din.next = self.s1_data.q.val();
        self.nbytes.next = bit_cast::<16, 1>(self.s1_keep.q.val().get_bits::<1>(0))
            + bit_cast::<16, 1>(self.s1_keep.q.val().get_bits::<1>(1))
            + bit_cast::<16, 1>(self.s1_keep.q.val().get_bits::<1>(2))
            + bit_cast::<16, 1>(self.s1_keep.q.val().get_bits::<1>(3))
            + bit_cast::<16, 1>(self.s1_keep.q.val().get_bits::<1>(4))
            + bit_cast::<16, 1>(self.s1_keep.q.val().get_bits::<1>(5))
            + bit_cast::<16, 1>(self.s1_keep.q.val().get_bits::<1>(6))
            + bit_cast::<16, 1>(self.s1_keep.q.val().get_bits::<1>(7));
        self.fin.d.next = false;
        if self.s1_valid.q.val() {
            self.acc3.d.next = self.acc3.q.val() + self.n3.val();
            self.acc4.d.next = self.acc4.q.val() + self.n4.val();
            self.acca.d.next = self.acca.q.val() + self.na.val();
            self.accept_q.d.next = self.acc_now.val();
            self.pushed.d.next = self.pushed.q.val() + bit_cast::<16, 1>(self.push_now.val().into());
            // Past MAX_FRAME: drop, whatever the 16-bit length wraps to (a peer controls it).
            // (Cleared by the start-of-frame bit, not by beat 0: the beat index of a huge frame wraps.)
            self.too_long.d.next = (self.too_long.q.val() & !self.s1_first.q.val())
                | (self.s1_b.q.val() >= self.k_maxbeats.val());
            if self.s1_b.q.val() == 0 {
                self.acc3.d.next = self.n3.val();
                self.acc4.d.next = self.n4.val();
                self.acca.d.next = self.na.val();
                self.pushed.d.next = bit_cast::<16, 1>(self.push_now.val().into());
                self.ufield.d.next = 0.into();
            }
            if self.s1_last.q.val() {
                self.fin.d.next = true;
                self.f3.d.next = self.acc3.q.val() + self.n3.val();
                self.f4.d.next = self.acc4.q.val() + self.n4.val();
                self.fa.d.next = self.acca.q.val() + self.na.val();
                if self.s1_b.q.val() == 0 {
                    self.f3.d.next = self.n3.val();
                    self.f4.d.next = self.n4.val();
                    self.fa.d.next = self.na.val();
                }
                self.f_v4.d.next = self.p.v4.val();
                self.f_v6.d.next = self.p.v6.val();
                self.f_ihl.d.next = self.p.ihl.val();
                self.f_l3start.d.next = self.p.l3start.val();
                self.f_l3end.d.next = self.p.l3end.val();
                self.f_l4start.d.next = self.p.l4start.val();
                self.f_l4_known.d.next = self.p.l4_known.val();
                self.f_route.d.next = self.p.route_pending.val();
                self.f_proto.d.next = self.p.proto.val();
                self.f_len.d.next = (self.s1_b.q.val() << 3) + self.nbytes.val();
                self.f_user.d.next = self.s1_user.q.val();
                self.f_long.d.next = (self.too_long.q.val() & !self.s1_first.q.val())
                    | (self.s1_b.q.val() >= self.k_maxbeats.val());
                self.f_accept.d.next = self.acc_now.val();
                self.f_nbeats.d.next = self.pushed.q.val() + bit_cast::<16, 1>(self.push_now.val().into());
                if self.s1_b.q.val() == 0 {
                    self.f_nbeats.d.next = bit_cast::<16, 1>(self.push_now.val().into());
                }
                self.f_ufield.d.next = self.ufield.q.val();
                if self.p.l4_known.val() & (self.s1_b.q.val() == (self.uoff.val() >> 3)) {
                    self.f_ufield.d.next = self.s1_data.q.val().get_bits::<16>(self.ush.val().index());
                }
            }
        }

        // Stage 2: the verdict.
        self.l3ok.next = self.f_v4.q.val()
            & (self.f_ihl.q.val() >= 5)
            & ((self.f_l3start.q.val() + (bit_cast::<16, 4>(self.f_ihl.q.val()) << 2)) <= self.f_len.q.val());
        self.l3calc.next = self.l3ok.val() & ((self.capenable.val() & self.k_rx4.val()) != 0);
        self.s3.next = (self.f3.q.val() & 0xffff) + (self.f3.q.val() >> 16);
        self.t3.next = (self.s3.val() & 0xffff) + (self.s3.val() >> 16);
        self.l3valid.next = self.l3calc.val() & (self.t3.val() == 0xffff);
        self.hdrmin.next = 8.into();
        if self.f_proto.q.val() == 6 {
            self.hdrmin.next = 20.into();
        }
        self.l4ok.next = self.f_l4_known.q.val()
            & !self.f_route.q.val()
            & (self.f_l3end.q.val() <= self.f_len.q.val())
            & ((self.f_l4start.q.val() + self.hdrmin.val()) <= self.f_l3end.q.val())
            & ((self.f_v4.q.val() & self.l3ok.val()) | self.f_v6.q.val());
        self.cap4.next = (self.capenable.val() & self.k_rx6.val()) != 0;
        if self.f_v4.q.val() {
            self.cap4.next = (self.capenable.val() & self.k_rx4.val()) != 0;
        }
        self.l4calc.next = self.l4ok.val()
            & self.cap4.val()
            & !(self.f_v4.q.val() & (self.f_proto.q.val() == 17) & (self.f_ufield.q.val() == 0));
        self.tot.next = self.f4.q.val()
            + self.fa.q.val()
            + bit_cast::<32, 8>(self.f_proto.q.val())
            + bit_cast::<32, 16>(self.f_l3end.q.val() - self.f_l4start.q.val());
        self.s4.next = (self.tot.val() & 0xffff) + (self.tot.val() >> 16);
        self.t4.next = (self.s4.val() & 0xffff) + (self.s4.val() >> 16);
        self.l4valid.next = self.l4calc.val() & (self.t4.val() == 0xffff);
        self.drop.next = self.f_user.q.val() | self.f_long.q.val() | (self.f_len.q.val() > self.k_max.val());

        self.md.next.hash = 0.into();
        self.md.next.htype = 0.into();
        self.md.next.len = self.f_len.q.val();
        self.md.next.nbeats = self.f_nbeats.q.val();
        self.md.next.drop = self.drop.val();
        self.md.next.flags = 0.into();
        if self.l3calc.val() {
            self.md.next.flags = self.k_l3c.val();
            if self.l3valid.val() {
                self.md.next.flags = self.k_l3c.val() | self.k_l3v.val();
            }
        }
        if self.l4calc.val() {
            self.md.next.flags = self.md.val().flags | self.k_l4c.val();
            if self.l4valid.val() {
                self.md.next.flags = self.md.val().flags | self.k_l4c.val() | self.k_l4v.val();
            }
        }
        self.md.next.cdata = 0.into();
        if self.l4calc.val() {
            self.md.next.cdata = bit_cast::<16, 32>(self.t4.val());
        }
        // The record waits two cycles for the RSS hash of the same frame (rx_rss: valid two
        // cycles after `go`), in a pipeline: frames may end on consecutive cycles.
        self.fin2.d.next = self.fin.q.val();
        if self.fin.q.val() {
            self.mq.d.next = self.md.val();
            self.acc2.d.next = self.f_accept.q.val();
        }
        self.fin3.d.next = self.fin2.q.val();
        if self.fin2.q.val() {
            self.mq2.d.next = self.mq.q.val();
            self.acc3f.d.next = self.acc2.q.val();
        }
        self.meta_din.next = self.mq2.q.val();
        self.meta_din.next.hash = self.rss.hash.val();
        self.meta_din.next.htype = self.rss.htype.val();
        self.meta_push.next = self.fin3.q.val() & self.acc3f.q.val();
        self.inc_drop_err.next = self.fin.q.val() & (!self.f_accept.q.val() | self.drop.val());
        self.inc_l3_bad.next = self.fin.q.val() & self.f_accept.q.val() & !self.drop.val() & self.l3calc.val() & !self.l3valid.val();
        self.inc_l4_bad.next = self.fin.q.val() & self.f_accept.q.val() & !self.drop.val() & self.l4calc.val() & !self.l4valid.val();
        self.inc_l4_calc.next = self.fin.q.val() & self.f_accept.q.val() & !self.drop.val() & self.l4calc.val();
        self.busy.next = self.s1_valid.q.val()
            | self.fin.q.val()
            | self.fin2.q.val()
            | self.fin3.q.val()
            | (self.s1_b.q.val() != 0);

        // RSS beside the verifier: the same beats, the same parser view at the verdict.
        self.rss.clock.next = self.clock.val();
        self.rss.key.next = self.rss_key.val();
        self.rss.types.next = self.rss_types.val();
        self.rss.data.next = self.s1_data.q.val();
        self.rss.valid.next = self.s1_valid.q.val();
        self.rss.beat.next = self.s1_b.q.val();
        self.rss.go.next = self.fin.q.val();
        self.rss.v4.next = self.f_v4.q.val();
        self.rss.v6.next = self.f_v6.q.val();
        self.rss.l3start.next = self.f_l3start.q.val();
        self.rss.ihl.next = self.f_ihl.q.val();
        self.rss.l4start.next = self.f_l4start.q.val();
        self.rss.l4_known.next = self.f_l4_known.q.val();
        self.rss.proto.next = self.f_proto.q.val();
        self.rss.len.next = self.f_len.q.val();
        if self.reset.val() {
            self.too_long.d.next = false;
            self.skip.d.next = (self.mid.q.val() & !(self.tvalid.val() & self.tlast.val()))
                | (!self.mid.q.val() & self.tvalid.val() & !self.tlast.val());
            self.s1_valid.d.next = false;
            self.s1_b.d.next = 0.into();
            self.fin.d.next = false;
            self.fin2.d.next = false;
            self.fin3.d.next = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{clock_cycle, frames, lint, ones_sum, rss_expect};
    use nic_abi::rss::{HASHTYPES_SUPPORTED, KEY_DEFAULT};
    use nic_abi::MAX_FRAME;
    use rand::{Rng, SeedableRng};
    use std::collections::VecDeque;

    /// What the ABI says the record of one frame must hold.
    #[derive(Debug, PartialEq)]
    struct Expect {
        len: usize,
        nbeats: usize,
        drop: bool,
        flags: u32,
        cdata: u16,
        hash: u32,
        htype: u8,
    }

    /// The verdict and hash the ABI (docs/ABI.md "Receive" and "RSS") requires for `f`, computed
    /// from the frame's bytes and its construction: RFC 1071 sums written out here, the
    /// pseudo-header from RFC 768/793 (IPv4) and RFC 8200 §8.1 (IPv6), the textbook Toeplitz.
    fn expect(f: &[u8], d: &frames::Desc, tuser: bool, cap: u32, types: u32, key: &[u8; 40]) -> Expect {
        let len = f.len();
        let max_beats = (MAX_FRAME as usize).div_ceil(8);
        let mut e = Expect {
            len,
            nbeats: len.div_ceil(8).min(max_beats),
            drop: tuser || len > MAX_FRAME as usize,
            flags: 0,
            cdata: 0,
            hash: 0,
            htype: 0,
        };
        let l3 = d.l3start;
        // IPv4 header: readable when its IHL is sane and it lies in the frame; right when it sums to 0xffff.
        let v4_hdr = d.v4 && d.ihl >= 5 && l3 + 4 * d.ihl <= len;
        if v4_hdr && cap & ifcap::IFCAP_RXCSUM != 0 {
            e.flags |= csum::CSUM_L3_CALC;
            if ones_sum(0, &f[l3..l3 + 4 * d.ihl]) == 0xffff {
                e.flags |= csum::CSUM_L3_VALID;
            }
        }
        // L4: TCP/UDP found, not a fragment, no routing header pending, the datagram inside the
        // frame and long enough for its own L4 header; IPv4's header readable.
        if let Some((proto, l4)) = d.l4 {
            let hdr = if proto == 6 { 20 } else { 8 };
            let ok = !d.route_pending && d.l3end <= len && l4 + hdr <= d.l3end && (d.v6 || v4_hdr);
            let enabled = cap & if d.v4 { ifcap::IFCAP_RXCSUM } else { ifcap::IFCAP_RXCSUM_IPV6 } != 0;
            let udp4_none = ok && d.v4 && proto == 17 && f[l4 + 6] == 0 && f[l4 + 7] == 0;
            if ok && enabled && !udp4_none {
                let addrs = if d.v4 { &f[l3 + 12..l3 + 20] } else { &f[l3 + 8..l3 + 40] };
                let seg = &f[l4..d.l3end];
                let mut pseudo = addrs.to_vec();
                if d.v4 {
                    pseudo.extend_from_slice(&[0, proto]);
                    pseudo.extend_from_slice(&(seg.len() as u16).to_be_bytes());
                } else {
                    pseudo.extend_from_slice(&(seg.len() as u32).to_be_bytes());
                    pseudo.extend_from_slice(&[0, 0, 0, proto]);
                }
                let sum = ones_sum(ones_sum(0, &pseudo) as u32, seg);
                e.flags |= csum::CSUM_L4_CALC;
                e.cdata = sum;
                if sum == 0xffff {
                    e.flags |= csum::CSUM_L4_VALID;
                }
            }
        }
        (e.hash, e.htype) = rss_expect(f, d, types, key);
        e
    }

    #[test]
    fn rx_csum_lints_in_verilator() {
        let mut b = RxCsum::default();
        b.connect_all();
        lint("rx_csum", &generate_verilog(&b));
    }

    /// Every frame's record (length, beats, drop, `CSUM_L3/L4` flags, `csum_data`, RSS hash and
    /// type), the data FIFO words and the counter pulses match the ABI's rules computed
    /// independently ([`expect`]: RFC 1071 over the bytes and pseudo-header, textbook Toeplitz)
    /// for random etherparse-built frames, some damaged: wrong IPv4 or L4 checksums, UDP zero
    /// checksums over IPv4 and IPv6, truncated frames, bad IHL or IP version, IP lengths past
    /// the frame, MAC errors, frames over MAX_FRAME, and frames refused at admission (FIFO
    /// without room, meta FIFO full). Random beat gaps; garbage in disabled byte lanes; three
    /// runs with different CAPENABLE, RSS types and key.
    /// Mutations caught: the UDP-over-IPv4 zero-checksum exception applied to IPv6 too, and the
    /// L4 sum's pseudo-header length taken from the frame end instead of the IP length.
    #[test]
    fn rx_csum_verdicts_follow_the_abi() {
        let seed = crate::testing::seed(0xc5a1);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let clk = |b: &mut RxCsum, c| b.clock.next = Clock { clk: c };
        let max_beats = (MAX_FRAME as u64).div_ceil(8);
        let mut totals = [0usize; 6];
        for run in 0..3 {
            let mut b = RxCsum::default();
            b.connect_all();
            let cap = [ifcap::IFCAP_RXCSUM | ifcap::IFCAP_RXCSUM_IPV6, ifcap::IFCAP_RXCSUM, ifcap::IFCAP_RXCSUM_IPV6][run];
            let types = if run == 0 { HASHTYPES_SUPPORTED } else { rng.gen::<u32>() & HASHTYPES_SUPPORTED };
            let key: [u8; 40] = if run == 0 { KEY_DEFAULT } else { std::array::from_fn(|_| rng.gen()) };
            println!("run {run}: capenable {cap:#x}, types {types:#x}");
            b.capenable.next = (cap as u64).to_bits();
            b.rss_types.next = (types as u64).to_bits();
            b.rss_key.next = key.iter().fold(Bits::<320>::default(), |k, &x| (k << 8) | bits::<320>(x as u64));
            b.reset.next = true;
            b.fifo_free.next = 4000.into();
            clock_cycle(&mut b, clk, |_| {});
            b.reset.next = false;
            let mut pending: VecDeque<(Expect, Vec<u64>)> = VecDeque::new();
            let mut words: VecDeque<u64> = VecDeque::new();
            let mut want = [0usize; 4]; // l3 bad, l4 bad, l4 calc, dropped
            let mut got = [0usize; 4];
            let cycle = |b: &mut RxCsum, pending: &mut VecDeque<(Expect, Vec<u64>)>, words: &mut VecDeque<u64>, got: &mut [usize; 4]| {
                clock_cycle(b, clk, |b| {
                    if b.fifo_push.val() {
                        words.push_back(b.fifo_din.val().to_u64());
                    }
                    if b.meta_push.val() {
                        let m = b.meta_din.val();
                        let (e, w) = pending.pop_front().expect("a record for a frame that was not admitted");
                        let g = Expect {
                            len: m.len.index(),
                            nbeats: m.nbeats.index(),
                            drop: m.drop,
                            flags: m.flags.index() as u32,
                            cdata: m.cdata.index() as u16,
                            hash: m.hash.index() as u32,
                            htype: m.htype.index() as u8,
                        };
                        assert_eq!(g, e, "record");
                        let pushed: Vec<u64> = words.drain(..e.nbeats.min(words.len())).collect();
                        assert_eq!(pushed, w[..e.nbeats], "the frame's words in the data FIFO");
                    }
                    got[0] += b.inc_l3_bad.val() as usize;
                    got[1] += b.inc_l4_bad.val() as usize;
                    got[2] += b.inc_l4_calc.val() as usize;
                    got[3] += b.inc_drop_err.val() as usize;
                });
            };
            let nframes = 600;
            for n in 0..nframes {
                let fr = frames::random(&mut rng, 200);
                let (mut f, mut d) = (fr.bytes, fr.desc);
                // Damage, on purpose.
                if d.v4 && rng.gen_bool(0.15) {
                    f[d.l3start + 10 + rng.gen_range(0..2)] ^= 1 << rng.gen_range(0..8);
                }
                if let Some((proto, l4)) = d.l4 {
                    let ck = l4 + if proto == 6 { 16 } else { 6 };
                    if rng.gen_bool(0.15) {
                        let at = if rng.gen() { ck + rng.gen_range(0..2) } else { rng.gen_range(ck..d.l3end) };
                        f[at] ^= 1 << rng.gen_range(0..8);
                    }
                    if proto == 17 && rng.gen_bool(0.2) {
                        f[ck] = 0;
                        f[ck + 1] = 0;
                    }
                }
                if d.v4 && rng.gen_bool(0.05) {
                    let ihl = rng.gen_range(0..5u8);
                    f[d.l3start] = 0x40 | ihl;
                    d.ihl = ihl as usize;
                }
                if d.v4 && rng.gen_bool(0.03) {
                    f[d.l3start] = (f[d.l3start] & 0x0f) | 0x50; // not version 4: not IP at all
                    d.v4 = false;
                    d.l4 = None;
                }
                if (d.v4 || d.v6) && rng.gen_bool(0.05) {
                    // The IP length field says more (or less) than the frame holds.
                    let at = d.l3start + if d.v4 { 2 } else { 4 };
                    let was = u16::from_be_bytes([f[at], f[at + 1]]) as usize;
                    let now = (was + rng.gen_range(1..40)).min(0xffff) - if rng.gen() { 0 } else { rng.gen_range(0..was.min(40)) };
                    f[at..at + 2].copy_from_slice(&(now as u16).to_be_bytes());
                    d.l3end = d.l3end + now - was;
                }
                if rng.gen_bool(0.08) {
                    let keep = rng.gen_range(1..f.len());
                    f.truncate(keep);
                }
                if n == 100 || n == 400 {
                    // Jumbo: exactly MAX_FRAME, then over it (non-IP: only the length matters).
                    f = (0..MAX_FRAME as usize + if n == 100 { 0 } else { rng.gen_range(1..30) }).map(|_| rng.gen()).collect();
                    f[12] = 0x88;
                    f[13] = 0xb5;
                    d = frames::Desc::default();
                }
                let tuser = rng.gen_bool(0.04);
                let admit = rng.gen_bool(0.9);
                let e = expect(&f, &d, tuser, cap, types, &key);
                if admit {
                    want[3] += e.drop as usize;
                    if !e.drop {
                        want[0] += (e.flags & csum::CSUM_L3_CALC != 0 && e.flags & csum::CSUM_L3_VALID == 0) as usize;
                        want[1] += (e.flags & csum::CSUM_L4_CALC != 0 && e.flags & csum::CSUM_L4_VALID == 0) as usize;
                        want[2] += (e.flags & csum::CSUM_L4_CALC != 0) as usize;
                    }
                    totals[0] += (e.flags & csum::CSUM_L3_CALC != 0) as usize;
                    totals[1] += (e.flags & csum::CSUM_L3_VALID == 0 && e.flags & csum::CSUM_L3_CALC != 0) as usize;
                    totals[2] += (e.flags & csum::CSUM_L4_CALC != 0) as usize;
                    totals[3] += (e.flags & csum::CSUM_L4_VALID == 0 && e.flags & csum::CSUM_L4_CALC != 0) as usize;
                    totals[4] += (e.htype != 0) as usize;
                } else {
                    want[3] += 1;
                }
                totals[5] += !admit as usize;
                // Room for a maximum frame (and the meta FIFO not full), or not: the block decides in
                // the cycle after the frame's first beat, so these are applied from then on (until
                // the same point of the next frame).
                let (free, full) = if admit {
                    (rng.gen_range(max_beats + 1..8192), false)
                } else if rng.gen() {
                    (rng.gen_range(0..=max_beats), false)
                } else {
                    (rng.gen_range(0..8192), true)
                };
                let mut sent = Vec::new();
                let chunks: Vec<&[u8]> = f.chunks(8).collect();
                let mut i = 0;
                while i < chunks.len() {
                    let v = rng.gen_bool(0.8);
                    b.tvalid.next = v;
                    let mut w: [u8; 8] = rng.gen(); // disabled lanes carry garbage
                    let c = chunks[i];
                    w[..c.len()].copy_from_slice(c);
                    let word = u64::from_le_bytes(w);
                    b.tdata.next = word.to_bits();
                    b.tkeep.next = (((1u16 << c.len()) - 1) as u64).to_bits();
                    b.tlast.next = i + 1 == chunks.len();
                    b.tuser.next = tuser && i + 1 == chunks.len();
                    if v {
                        sent.push(word);
                        i += 1;
                    }
                    cycle(&mut b, &mut pending, &mut words, &mut got);
                    if v && i == 1 {
                        b.fifo_free.next = free.to_bits();
                        b.meta_full.next = full;
                    }
                }
                if admit {
                    pending.push_back((e, sent));
                }
                b.tvalid.next = false;
                b.tdata.next = rng.gen::<u64>().to_bits();
                for _ in 0..rng.gen_range(0..3) {
                    cycle(&mut b, &mut pending, &mut words, &mut got);
                }
            }
            for _ in 0..8 {
                cycle(&mut b, &mut pending, &mut words, &mut got);
            }
            assert!(pending.is_empty() && words.is_empty(), "every admitted frame left ({} records, {} words missing)", pending.len(), words.len());
            assert_eq!(got, want, "counter pulses: l3 bad, l4 bad, l4 checked, dropped");
        }
        println!("L3 checked {}, bad {}; L4 checked {}, bad {}; hashed {}; refused {}", totals[0], totals[1], totals[2], totals[3], totals[4], totals[5]);
        assert!(totals.iter().all(|&c| c > 10), "the frames covered the cases: {totals:?}");
    }
}
