//! Transmit output stage: frames leave the TX FIFO for the MAC, with the
//! checksums the TX engine computed written into their fields on the fly.
//!
//! The engine pushes a [`TxMeta`] record after the last data beat of a frame
//! (store and forward: a header checksum depends on the whole frame), so a
//! frame starts only when it is complete in the FIFO. Then it streams one
//! beat per cycle; `tready` low stalls it. A frame whose data fetch failed is
//! drained from the FIFO without reaching the wire (`drop`).
//!
//! ```text
//! meta_empty ‾‾\_____      tvalid __/‾‾‾‾‾‾‾‾\__/‾‾‾
//! tlast      ___________/‾\__      (one idle cycle between frames, inside the MAC's gap)
//! ```

pub use crate::records::{TxMeta};
use rust_hdl::prelude::*;


/// The transmit output stage.
#[derive(LogicBlock, Default)]
pub struct TxOut {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset (the FIFOs are reset alongside).
    pub reset: Signal<In, Bit>,
    /// Head of the data FIFO.
    pub fifo_dout: Signal<In, Bits<64>>,
    /// Data FIFO empty.
    pub fifo_empty: Signal<In, Bit>,
    /// Pop the data FIFO.
    pub fifo_pop: Signal<Out, Bit>,
    /// Head of the meta FIFO.
    pub meta_dout: Signal<In, TxMeta>,
    /// Meta FIFO empty.
    pub meta_empty: Signal<In, Bit>,
    /// Pop the meta FIFO.
    pub meta_pop: Signal<Out, Bit>,
    /// AXI4-Stream data to the MAC.
    pub tdata: Signal<Out, Bits<64>>,
    /// Byte enables (contiguous from byte 0; partial only on the last beat).
    pub tkeep: Signal<Out, Bits<8>>,
    /// Last beat of a frame.
    pub tlast: Signal<Out, Bit>,
    /// Frame error marker (never set by this NIC's transmit path).
    pub tuser: Signal<Out, Bit>,
    /// Beat valid.
    pub tvalid: Signal<Out, Bit>,
    /// MAC ready.
    pub tready: Signal<In, Bit>,
    /// Pulses when a frame's last beat left.
    pub sent: Signal<Out, Bit>,
    /// With `sent`: its length.
    pub sent_len: Signal<Out, Bits<16>>,
    /// Pulses when a frame with an IPv4 checksum starts.
    pub did_ip: Signal<Out, Bit>,
    /// Pulses when a frame with an L4 checksum starts.
    pub did_l4: Signal<Out, Bit>,
    /// Pulses when a TSO segment starts.
    pub did_tso: Signal<Out, Bit>,
    /// A frame is in progress.
    pub busy: Signal<Out, Bit>,
    /// Pulses when a frame's last beat leaves (sent) or is discarded (a dropped frame).
    pub done: Signal<Out, Bit>,
    active: DFF<Bit>,
    m: DFF<TxMeta>,
    bidx: DFF<Bits<16>>,
    last_beat: Signal<Local, Bits<16>>,
    is_last: Signal<Local, Bit>,
    fire: Signal<Local, Bit>,
    d1: Signal<Local, Bits<64>>,
    d2: Signal<Local, Bits<64>>,
    sh_ip: Signal<Local, Bits<64>>,
    sh_l4: Signal<Local, Bits<64>>,
    rem: Signal<Local, Bits<8>>,
}

impl Logic for TxOut {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, active, m, bidx);
        self.busy.next = self.active.q.val();
        self.meta_pop.next = false;
        self.did_ip.next = false;
        self.did_l4.next = false;
        self.did_tso.next = false;
        if !self.active.q.val() & !self.meta_empty.val() {
            self.meta_pop.next = true;
            self.m.d.next = self.meta_dout.val();
            self.active.d.next = true;
            self.bidx.d.next = 0.into();
            self.did_ip.next = self.meta_dout.val().ip_en & !self.meta_dout.val().drop;
            self.did_l4.next = self.meta_dout.val().l4_en & !self.meta_dout.val().drop;
            self.did_tso.next = self.meta_dout.val().tso & !self.meta_dout.val().drop;
        }
        self.last_beat.next = (self.m.q.val().len - 1) >> 3;
        self.is_last.next = self.bidx.q.val() == self.last_beat.val();
        // Patch the checksum fields: each is 2 bytes at an even offset, big-endian on the wire.
        self.sh_ip.next = bit_cast::<64, 16>(self.m.q.val().ip_off & 6) << 3;
        self.sh_l4.next = bit_cast::<64, 16>(self.m.q.val().l4_off & 6) << 3;
        self.d1.next = self.fifo_dout.val();
        if self.m.q.val().ip_en & (self.bidx.q.val() == (self.m.q.val().ip_off >> 3)) {
            self.d1.next = (self.fifo_dout.val() & !(bits::<64>(0xffff) << self.sh_ip.val()))
                | (((bit_cast::<64, 16>(self.m.q.val().ip_ck) >> 8) | ((bit_cast::<64, 16>(self.m.q.val().ip_ck) & 0xff) << 8))
                    << self.sh_ip.val());
        }
        self.d2.next = self.d1.val();
        if self.m.q.val().l4_en & (self.bidx.q.val() == (self.m.q.val().l4_off >> 3)) {
            self.d2.next = (self.d1.val() & !(bits::<64>(0xffff) << self.sh_l4.val()))
                | (((bit_cast::<64, 16>(self.m.q.val().l4_ck) >> 8) | ((bit_cast::<64, 16>(self.m.q.val().l4_ck) & 0xff) << 8))
                    << self.sh_l4.val());
        }
        self.tdata.next = self.d2.val();
        self.rem.next = bit_cast::<8, 16>(self.m.q.val().len & 7);
        self.tkeep.next = 0xff_u64.into();
        if self.is_last.val() & (self.rem.val() != 0) {
            self.tkeep.next = (bits::<8>(1) << self.rem.val()) - 1;
        }
        self.tlast.next = self.is_last.val();
        self.tuser.next = false;
        self.tvalid.next = self.active.q.val() & !self.fifo_empty.val() & !self.m.q.val().drop;
        self.fire.next = self.active.q.val() & !self.fifo_empty.val() & (self.tready.val() | self.m.q.val().drop);
        self.fifo_pop.next = self.fire.val();
        self.sent.next = false;
        self.done.next = false;
        self.sent_len.next = self.m.q.val().len;
        if self.fire.val() {
            self.bidx.d.next = self.bidx.q.val() + 1;
            if self.is_last.val() {
                self.active.d.next = false;
                self.done.next = true;
                self.sent.next = !self.m.q.val().drop;
            }
        }
        if self.reset.val() {
            self.active.d.next = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{clock_cycle, lint};
    use rand::{Rng, SeedableRng};
    use std::collections::VecDeque;

    #[test]
    fn tx_out_lints_in_verilator() {
        let mut b = TxOut::default();
        b.connect_all();
        lint("tx_out", &generate_verilog(&b));
    }

    /// Frames leave whole, in order, with the checksums written big-endian at their offsets
    /// and nothing else changed; dropped frames are drained and never reach the wire. The data
    /// and meta FIFOs are `VecDeque`s filled at random (store and forward: a frame's record only
    /// after its last word), `tready` is random, and the AXI4-Stream rules are checked every
    /// cycle: a beat offered and not taken stays (valid, data, keep, last) until taken, `tkeep`
    /// is full except on a last beat, no beat is lost or repeated, and the `sent`/`done`/`did_*`
    /// pulses count what left. The expected wire bytes are the frame with the two fields
    /// replaced, built byte by byte.
    /// Mutations caught: the L4 checksum written little-endian, the last beat found from `len`
    /// instead of `len - 1` (frames of a multiple of 8 bytes get an extra beat), and `did_l4`
    /// pulsing for dropped frames. (Not caught, and not reachable under store and forward: `tvalid`
    /// ignoring `fifo_empty`, since a frame starts only when all its words are in the FIFO.)
    #[test]
    fn tx_out_sends_patched_frames_under_back_pressure() {
        let seed = crate::testing::seed(0x7f0);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut b = TxOut::default();
        b.connect_all();
        let clk = |b: &mut TxOut, c| b.clock.next = Clock { clk: c };
        // The frames: bytes, record, and what the wire must carry.
        let nframes = 400;
        let mut src: VecDeque<(Vec<u64>, TxMeta)> = VecDeque::new();
        let mut wire: VecDeque<Vec<u8>> = VecDeque::new();
        let (mut want_ip, mut want_l4, mut want_tso, mut want_sent) = (0, 0, 0, 0);
        for _ in 0..nframes {
            let len = if rng.gen_bool(0.2) { rng.gen_range(1..16) } else { rng.gen_range(16..300) };
            let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let even = |rng: &mut rand::rngs::SmallRng| 2 * rng.gen_range(0..len / 2);
            let ip_off = if len >= 2 { even(&mut rng) } else { 0 };
            let mut l4_off = if len >= 2 { even(&mut rng) } else { 0 };
            if l4_off == ip_off && len >= 4 {
                l4_off = (ip_off + 2) % (len & !1);
            }
            let m = TxMeta {
                len: (len as u64).to_bits(),
                drop: rng.gen_bool(0.1),
                ip_en: len >= 2 && rng.gen_bool(0.6),
                ip_off: (ip_off as u64).to_bits(),
                ip_ck: rng.gen::<u16>().to_bits(),
                l4_en: len >= 4 && rng.gen_bool(0.6),
                l4_off: (l4_off as u64).to_bits(),
                l4_ck: rng.gen::<u16>().to_bits(),
                tso: rng.gen(),
            };
            let mut out = bytes.clone();
            if m.ip_en {
                out[ip_off..ip_off + 2].copy_from_slice(&(m.ip_ck.index() as u16).to_be_bytes());
            }
            if m.l4_en {
                out[l4_off..l4_off + 2].copy_from_slice(&(m.l4_ck.index() as u16).to_be_bytes());
            }
            if !m.drop {
                wire.push_back(out);
                want_ip += m.ip_en as usize;
                want_l4 += m.l4_en as usize;
                want_tso += m.tso as usize;
                want_sent += 1;
            }
            // The FIFO words: the frame, garbage after its end.
            let words = bytes
                .chunks(8)
                .map(|c| {
                    let mut w: [u8; 8] = rng.gen();
                    w[..c.len()].copy_from_slice(c);
                    u64::from_le_bytes(w)
                })
                .collect();
            src.push_back((words, m));
        }
        let mut data: VecDeque<u64> = VecDeque::new();
        let mut meta: VecDeque<TxMeta> = VecDeque::new();
        let mut fill = 0; // words of the frame at the head of `src` already in `data`
        let mut got: Vec<u8> = Vec::new(); // the frame leaving, so far
        let mut offered: Option<(u64, u8, bool)> = None; // a beat offered and not taken
        let (mut ip, mut l4, mut tso, mut sent, mut done) = (0, 0, 0, 0, 0);
        b.reset.next = true;
        clock_cycle(&mut b, clk, |_| {});
        b.reset.next = false;
        let (p_in, p_ready) = (0.7, 0.6);
        let mut cycle = 0;
        while done < nframes {
            cycle += 1;
            assert!(cycle < 100_000, "stuck: {done} of {nframes} frames done");
            // Producer: a word per cycle at random; a frame's record after its last word.
            if let Some((words, m)) = src.front() {
                if data.len() < 64 && rng.gen_bool(p_in) {
                    data.push_back(words[fill]);
                    fill += 1;
                    if fill == words.len() {
                        meta.push_back(*m);
                        src.pop_front();
                        fill = 0;
                    }
                }
            }
            b.fifo_empty.next = data.is_empty();
            b.fifo_dout.next = data.front().copied().unwrap_or_else(|| rng.gen()).to_bits();
            b.meta_empty.next = meta.is_empty();
            b.meta_dout.next = meta.front().copied().unwrap_or_default();
            let ready = rng.gen_bool(p_ready);
            b.tready.next = ready;
            clock_cycle(&mut b, clk, |b| {
                if b.meta_pop.val() {
                    assert!(!meta.is_empty(), "cycle {cycle}: pop of an empty meta FIFO");
                    meta.pop_front();
                }
                ip += b.did_ip.val() as usize;
                l4 += b.did_l4.val() as usize;
                tso += b.did_tso.val() as usize;
                done += b.done.val() as usize;
                let beat = (b.tdata.val().to_u64(), b.tkeep.val().index() as u8, b.tlast.val());
                if let Some(o) = offered {
                    assert!(b.tvalid.val(), "cycle {cycle}: a beat withdrawn before it was taken");
                    // Data is compared over the enabled lanes (the rest is the FIFO's garbage).
                    let lanes = (0..8).filter(|i| o.1 >> i & 1 == 1).fold(0u64, |m, i| m | 0xff << (8 * i));
                    assert_eq!((beat.0 & lanes, beat.1, beat.2), (o.0 & lanes, o.1, o.2), "cycle {cycle}: a beat changed while not taken");
                }
                offered = None;
                if b.fifo_pop.val() {
                    assert!(!data.is_empty(), "cycle {cycle}: pop of an empty data FIFO");
                    data.pop_front();
                }
                if b.tvalid.val() {
                    let want = wire.front().expect("a beat with no frame due");
                    let at = got.len();
                    let n = (want.len() - at).min(8);
                    assert_eq!(beat.1, ((1u16 << n) - 1) as u8, "cycle {cycle}: tkeep at byte {at} of {}", want.len());
                    assert_eq!(beat.2, at + n == want.len(), "cycle {cycle}: tlast");
                    let bytes = beat.0.to_le_bytes();
                    assert_eq!(&bytes[..n], &want[at..at + n], "cycle {cycle}: data at byte {at}");
                    assert!(b.fifo_pop.val() == ready, "cycle {cycle}: a beat taken must pop its word, and only then");
                    if ready {
                        got.extend_from_slice(&bytes[..n]);
                        if beat.2 {
                            assert!(b.sent.val() && b.sent_len.val().index() == want.len(), "cycle {cycle}: sent");
                            sent += 1;
                            wire.pop_front();
                            got.clear();
                        }
                    } else {
                        offered = Some(beat);
                    }
                } else {
                    assert!(!b.sent.val(), "cycle {cycle}: sent without a beat");
                }
            });
        }
        for _ in 0..4 {
            clock_cycle(&mut b, clk, |b| assert!(!b.tvalid.val() && !b.busy.val()));
        }
        assert!(src.is_empty() && data.is_empty() && meta.is_empty() && wire.is_empty(), "everything left");
        assert_eq!((ip, l4, tso, sent), (want_ip, want_l4, want_tso, want_sent), "pulses: ip, l4, tso, sent");
        println!("{nframes} frames in {cycle} cycles, {sent} sent");
    }
}
