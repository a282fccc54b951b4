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
    use crate::testing::lint;

    #[test]
    fn tx_out_lints_in_verilator() {
        let mut b = TxOut::default();
        b.connect_all();
        lint("tx_out", &generate_verilog(&b));
    }
}
