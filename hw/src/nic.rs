//! The NIC core: register slave, DMA master, TX and RX paths, MAC ports.
//!
//! Two TX/RX queue pairs ([`MAX_BUILD_QUEUES`]; a build may use one). Each
//! queue has its own engine, rings, completion queue and interrupt line:
//! ```text
//! TX: txq0 engine -> FIFO 0 \                      RX: MAC -> verify + RSS -> FIFO -> dispatch -+-> rxq0 engine
//!     txq1 engine -> FIFO 1 -+- frame RR -> MAC                    (indirection table)       \-> rxq1 engine
//! DMA read and write: round-robin over tx0, rx0, tx1, rx1, one command a handshake; both pipelined
//! (up to 32 reads in flight; a write waits behind the one streaming, responses awaited per command)
//! ```
//! TX queues take turns frame by frame at the MAC (a frame is whole in its
//! FIFO's order, never interleaved); received frames keep their wire order
//! and go to the queue RSS picks.

use crate::arb::Arb4;
use crate::csr::Csr;
use crate::dma_rd::DmaRead;
use crate::dma_wr::DmaWrite;
use crate::fifo::Fifo;
use crate::queue_regs::QueueRegs;
use crate::rss_regs::RssRegs;
use crate::rx_csum::{RxCsum, RxMeta};
use crate::rx_dispatch::RxDispatch;
use crate::rx_engine::RxEngine;
use crate::tx_engine::TxEngine;
use crate::tx_out::{TxMeta, TxOut};
use crate::AXIL_ADDR;
use rust_hdl::prelude::*;

/// Most queue pairs this core instantiates (`NicCore::with_caps` may use fewer).
pub const MAX_BUILD_QUEUES: u32 = 2;

pub use crate::CAPS;

/// The NIC core with the interfaces a board shell wraps (see the crate docs).
#[derive(LogicBlock)]
pub struct NicCore {
    /// Core clock (156.25 MHz modelled).
    pub clock: Signal<In, Clock>,
    /// Synchronous reset, active high.
    pub reset: Signal<In, Bit>,
    /// AXI4-Lite slave (BAR0 on a board): write address.
    pub s_axil_awaddr: Signal<In, Bits<AXIL_ADDR>>,
    /// AXI4-Lite write address valid.
    pub s_axil_awvalid: Signal<In, Bit>,
    /// AXI4-Lite write address ready.
    pub s_axil_awready: Signal<Out, Bit>,
    /// AXI4-Lite write data.
    pub s_axil_wdata: Signal<In, Bits<32>>,
    /// AXI4-Lite write strobes (all four required).
    pub s_axil_wstrb: Signal<In, Bits<4>>,
    /// AXI4-Lite write data valid.
    pub s_axil_wvalid: Signal<In, Bit>,
    /// AXI4-Lite write data ready.
    pub s_axil_wready: Signal<Out, Bit>,
    /// AXI4-Lite write response.
    pub s_axil_bresp: Signal<Out, Bits<2>>,
    /// AXI4-Lite write response valid.
    pub s_axil_bvalid: Signal<Out, Bit>,
    /// AXI4-Lite write response ready.
    pub s_axil_bready: Signal<In, Bit>,
    /// AXI4-Lite read address.
    pub s_axil_araddr: Signal<In, Bits<AXIL_ADDR>>,
    /// AXI4-Lite read address valid.
    pub s_axil_arvalid: Signal<In, Bit>,
    /// AXI4-Lite read address ready.
    pub s_axil_arready: Signal<Out, Bit>,
    /// AXI4-Lite read data.
    pub s_axil_rdata: Signal<Out, Bits<32>>,
    /// AXI4-Lite read response.
    pub s_axil_rresp: Signal<Out, Bits<2>>,
    /// AXI4-Lite read valid.
    pub s_axil_rvalid: Signal<Out, Bit>,
    /// AXI4-Lite read ready.
    pub s_axil_rready: Signal<In, Bit>,
    /// AXI4 master (DMA to host memory by IOVA): read address.
    pub m_axi_araddr: Signal<Out, Bits<64>>,
    /// AXI4 read burst length minus one.
    pub m_axi_arlen: Signal<Out, Bits<8>>,
    /// AXI4 read beat size (3: 8 bytes).
    pub m_axi_arsize: Signal<Out, Bits<3>>,
    /// AXI4 read burst type (1: INCR).
    pub m_axi_arburst: Signal<Out, Bits<2>>,
    /// AXI4 read address valid.
    pub m_axi_arvalid: Signal<Out, Bit>,
    /// AXI4 read address ready.
    pub m_axi_arready: Signal<In, Bit>,
    /// AXI4 read data.
    pub m_axi_rdata: Signal<In, Bits<64>>,
    /// AXI4 read response.
    pub m_axi_rresp: Signal<In, Bits<2>>,
    /// AXI4 last read beat of a burst.
    pub m_axi_rlast: Signal<In, Bit>,
    /// AXI4 read valid.
    pub m_axi_rvalid: Signal<In, Bit>,
    /// AXI4 read ready.
    pub m_axi_rready: Signal<Out, Bit>,
    /// AXI4 write address.
    pub m_axi_awaddr: Signal<Out, Bits<64>>,
    /// AXI4 write burst length minus one.
    pub m_axi_awlen: Signal<Out, Bits<8>>,
    /// AXI4 write beat size (3: 8 bytes).
    pub m_axi_awsize: Signal<Out, Bits<3>>,
    /// AXI4 write burst type (1: INCR).
    pub m_axi_awburst: Signal<Out, Bits<2>>,
    /// AXI4 write address valid.
    pub m_axi_awvalid: Signal<Out, Bit>,
    /// AXI4 write address ready.
    pub m_axi_awready: Signal<In, Bit>,
    /// AXI4 write data.
    pub m_axi_wdata: Signal<Out, Bits<64>>,
    /// AXI4 write strobes.
    pub m_axi_wstrb: Signal<Out, Bits<8>>,
    /// AXI4 last write beat of a burst.
    pub m_axi_wlast: Signal<Out, Bit>,
    /// AXI4 write valid.
    pub m_axi_wvalid: Signal<Out, Bit>,
    /// AXI4 write ready.
    pub m_axi_wready: Signal<In, Bit>,
    /// AXI4 write response.
    pub m_axi_bresp: Signal<In, Bits<2>>,
    /// AXI4 write response valid.
    pub m_axi_bvalid: Signal<In, Bit>,
    /// AXI4 write response ready.
    pub m_axi_bready: Signal<Out, Bit>,
    /// MAC transmit (AXI4-Stream master): data, byte 0 in bits 7:0.
    pub m_axis_tx_tdata: Signal<Out, Bits<64>>,
    /// Transmit byte enables (partial only on the last beat).
    pub m_axis_tx_tkeep: Signal<Out, Bits<8>>,
    /// Transmit last beat of a frame.
    pub m_axis_tx_tlast: Signal<Out, Bit>,
    /// Transmit frame error marker (never set by this NIC).
    pub m_axis_tx_tuser: Signal<Out, Bit>,
    /// Transmit beat valid.
    pub m_axis_tx_tvalid: Signal<Out, Bit>,
    /// MAC ready to take a transmit beat.
    pub m_axis_tx_tready: Signal<In, Bit>,
    /// MAC receive (AXI4-Stream slave): data, byte 0 in bits 7:0.
    pub s_axis_rx_tdata: Signal<In, Bits<64>>,
    /// Receive byte enables.
    pub s_axis_rx_tkeep: Signal<In, Bits<8>>,
    /// Receive last beat of a frame.
    pub s_axis_rx_tlast: Signal<In, Bit>,
    /// Receive frame error (bad FCS etc.), on the last beat: the frame is dropped and counted.
    pub s_axis_rx_tuser: Signal<In, Bit>,
    /// Receive beat valid.
    pub s_axis_rx_tvalid: Signal<In, Bit>,
    /// Always high: the receive path never stalls the MAC.
    pub s_axis_rx_tready: Signal<Out, Bit>,
    /// Interrupt lines (level), line `q` for queue pair `q`'s unmasked causes (an MSI-X vector each).
    pub irq: Signal<Out, Bits<8>>,
    /// Nothing in flight and nothing about to start: the simulator may sleep.
    pub idle: Signal<Out, Bit>,
    csr: Csr,
    qr0: QueueRegs,
    qr1: QueueRegs,
    rssr: RssRegs,
    rd: DmaRead,
    wr: DmaWrite,
    rarb: Arb4,
    warb: Arb4,
    tx0: TxEngine,
    tx1: TxEngine,
    txf0: Fifo<Bits<64>, 12, 13>,
    txf1: Fifo<Bits<64>, 12, 13>,
    txm0: Fifo<TxMeta, 3, 4>,
    txm1: Fifo<TxMeta, 3, 4>,
    txo: TxOut,
    rxc: RxCsum,
    rxf: Fifo<Bits<64>, 12, 13>,
    // Records of received frames: 64, so a few hundred cycles without a buffer (the first batch
    // of descriptors still on its way at a PCIe-like latency) cost no minimum-size frame.
    rxm: Fifo<RxMeta, 6, 7>,
    disp: RxDispatch,
    rx0: RxEngine,
    rx1: RxEngine,
    wr_who: Signal<Local, Bits<2>>,
    ret0: DFF<Bits<16>>,
    ret1: DFF<Bits<16>>,
    tx_cur: DFF<Bit>,
    tx_last: DFF<Bit>,
    quiet_q: DFF<Bit>,
    reset_req: DFF<Bit>,
    rst: Signal<Local, Bit>,
    tx_pick: Signal<Local, Bit>,
    quiet: Signal<Local, Bit>,
    q1_on: Constant<Bit>,
    nq_k: Constant<Bits<8>>,
}

impl Logic for NicCore {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, ret0, ret1, tx_cur, tx_last, quiet_q, reset_req);
        clock!(
            self, clock, csr, qr0, qr1, rssr, rd, wr, rarb, warb, tx0, tx1, txf0, txf1, txm0, txm1, txo, rxc, rxf, rxm,
            disp, rx0, rx1
        );
        // Soft reset is graceful: no new DMA command is granted and no new frame starts toward the
        // MAC; the DMA commands in flight finish (an AXI burst cannot be abandoned: the memory would
        // still answer it) and so does the frame on the MAC port (a MAC cannot take half a frame);
        // then every block resets.
        if self.csr.soft_reset.val() {
            self.reset_req.d.next = true;
        }
        self.rst.next = self.reset.val()
            | (self.reset_req.q.val() & !self.rd.busy.val() & !self.wr.busy.val() & !self.txo.busy.val());
        if self.rst.val() {
            self.reset_req.d.next = false;
        }
        self.csr.reset.next = self.reset.val();
        self.qr0.reset.next = self.reset.val();
        self.qr1.reset.next = self.reset.val();
        self.rssr.reset.next = self.reset.val();
        self.rd.reset.next = self.rst.val();
        self.wr.reset.next = self.rst.val();
        self.rarb.reset.next = self.rst.val();
        self.warb.reset.next = self.rst.val();
        self.tx0.reset.next = self.rst.val();
        self.tx1.reset.next = self.rst.val();
        self.txf0.reset.next = self.rst.val();
        self.txf1.reset.next = self.rst.val();
        self.txm0.reset.next = self.rst.val();
        self.txm1.reset.next = self.rst.val();
        self.txo.reset.next = self.rst.val();
        self.rxc.reset.next = self.rst.val();
        self.rxf.reset.next = self.rst.val();
        self.rxm.reset.next = self.rst.val();
        self.disp.reset.next = self.rst.val();
        self.rx0.reset.next = self.rst.val();
        self.rx1.reset.next = self.rst.val();

        // AXI4-Lite to the register file; it hands writes and read addresses to the other blocks.
        self.csr.awaddr.next = self.s_axil_awaddr.val();
        self.csr.awvalid.next = self.s_axil_awvalid.val();
        self.s_axil_awready.next = self.csr.awready.val();
        self.csr.wdata.next = self.s_axil_wdata.val();
        self.csr.wstrb.next = self.s_axil_wstrb.val();
        self.csr.wvalid.next = self.s_axil_wvalid.val();
        self.s_axil_wready.next = self.csr.wready.val();
        self.s_axil_bresp.next = self.csr.bresp.val();
        self.s_axil_bvalid.next = self.csr.bvalid.val();
        self.csr.bready.next = self.s_axil_bready.val();
        self.csr.araddr.next = self.s_axil_araddr.val();
        self.csr.arvalid.next = self.s_axil_arvalid.val();
        self.s_axil_arready.next = self.csr.arready.val();
        self.s_axil_rdata.next = self.csr.rdata.val();
        self.s_axil_rresp.next = self.csr.rresp.val();
        self.s_axil_rvalid.next = self.csr.rvalid.val();
        self.csr.rready.next = self.s_axil_rready.val();
        self.irq.next = self.csr.irq.val();
        self.qr0.sreset.next = self.csr.soft_reset.val();
        self.qr0.wfire.next = self.csr.wfire_o.val();
        self.qr0.waddr.next = self.csr.waddr_o.val();
        self.qr0.wdata.next = self.csr.wdata_o.val();
        self.qr0.raddr.next = self.csr.raddr_q.val();
        self.qr1.sreset.next = self.csr.soft_reset.val();
        self.qr1.wfire.next = self.csr.wfire_o.val();
        self.qr1.waddr.next = self.csr.waddr_o.val();
        self.qr1.wdata.next = self.csr.wdata_o.val();
        self.qr1.raddr.next = self.csr.raddr_q.val();
        self.rssr.wfire.next = self.csr.wfire_o.val();
        self.rssr.waddr.next = self.csr.waddr_o.val();
        self.rssr.wdata.next = self.csr.wdata_o.val();
        self.rssr.raddr.next = self.csr.raddr_o.val();
        self.rssr.raddr_q.next = self.csr.raddr_q.val();
        self.csr.q_rdata.next = self.qr0.rdata.val() | self.qr1.rdata.val();
        self.csr.rss_rdata.next = self.rssr.rdata.val();

        // Queue registers <-> engines.
        self.tx0.enable.next = self.csr.enable.val();
        self.tx0.capenable.next = self.csr.capenable.val();
        self.tx0.base.next = self.qr0.tx_base.val();
        self.tx0.size_log2.next = self.qr0.tx_size_log2.val();
        self.tx0.tail.next = self.qr0.tx_tail.val();
        self.tx0.cq_base.next = self.qr0.txcq_base.val();
        self.tx0.cq_head.next = self.qr0.txcq_head.val();
        self.qr0.tx_head.next = self.tx0.head.val();
        self.qr0.txcq_tail.next = self.tx0.cq_tail.val();
        self.qr0.tx_cq_issued.next = self.tx0.cq_issued.val();
        self.tx1.enable.next = self.csr.enable.val() & self.q1_on.val();
        self.tx1.capenable.next = self.csr.capenable.val();
        self.tx1.base.next = self.qr1.tx_base.val();
        self.tx1.size_log2.next = self.qr1.tx_size_log2.val();
        self.tx1.tail.next = self.qr1.tx_tail.val();
        self.tx1.cq_base.next = self.qr1.txcq_base.val();
        self.tx1.cq_head.next = self.qr1.txcq_head.val();
        self.qr1.tx_head.next = self.tx1.head.val();
        self.qr1.txcq_tail.next = self.tx1.cq_tail.val();
        self.qr1.tx_cq_issued.next = self.tx1.cq_issued.val();
        self.rx0.enable.next = self.csr.enable.val();
        self.rx0.base.next = self.qr0.rx_base.val();
        self.rx0.size_log2.next = self.qr0.rx_size_log2.val();
        self.rx0.tail.next = self.qr0.rx_tail.val();
        self.rx0.cq_base.next = self.qr0.rxcq_base.val();
        self.rx0.cq_head.next = self.qr0.rxcq_head.val();
        self.qr0.rx_head.next = self.rx0.head.val();
        self.qr0.rx_cq_issued.next = self.rx0.cq_issued.val();
        self.qr0.rxcq_tail.next = self.rx0.cq_tail.val();
        self.rx1.enable.next = self.csr.enable.val() & self.q1_on.val();
        self.rx1.base.next = self.qr1.rx_base.val();
        self.rx1.size_log2.next = self.qr1.rx_size_log2.val();
        self.rx1.tail.next = self.qr1.rx_tail.val();
        self.rx1.cq_base.next = self.qr1.rxcq_base.val();
        self.rx1.cq_head.next = self.qr1.rxcq_head.val();
        self.qr1.rx_head.next = self.rx1.head.val();
        self.qr1.rx_cq_issued.next = self.rx1.cq_issued.val();
        self.qr1.rxcq_tail.next = self.rx1.cq_tail.val();
        self.rxc.capenable.next = self.csr.capenable.val();
        self.rxc.rss_key.next = self.rssr.key.val();
        self.rxc.rss_types.next = self.rssr.types.val();
        self.csr.ev_tx.next = bit_cast::<8, 1>(self.tx0.ev_cpl.val().into())
            | (bit_cast::<8, 1>(self.tx1.ev_cpl.val().into()) << 1);
        self.csr.ev_rx.next = bit_cast::<8, 1>(self.rx0.ev_cpl.val().into())
            | (bit_cast::<8, 1>(self.rx1.ev_cpl.val().into()) << 1);

        // Counters.
        self.csr.inc_tx_frames.next = self.txo.sent.val();
        self.csr.add_tx_bytes.next = 0.into();
        if self.txo.sent.val() {
            self.csr.add_tx_bytes.next = self.txo.sent_len.val();
        }
        self.qr0.inc_tx_packets.next = self.txo.sent.val() & !self.tx_cur.q.val();
        self.qr1.inc_tx_packets.next = self.txo.sent.val() & self.tx_cur.q.val();
        self.csr.inc_tx_csum_ip.next = self.txo.did_ip.val();
        self.csr.inc_tx_csum_l4.next = self.txo.did_l4.val();
        // Two engines can count in the same cycle: the counters add how many (an OR lost one).
        self.csr.inc_tx_desc_err.next =
            bit_cast::<2, 1>(self.tx0.inc_desc_err.val().into()) + bit_cast::<2, 1>(self.tx1.inc_desc_err.val().into());
        self.csr.inc_rx_frames.next =
            bit_cast::<2, 1>(self.rx0.delivered.val().into()) + bit_cast::<2, 1>(self.rx1.delivered.val().into());
        self.csr.add_rx_bytes.next = 0.into();
        if self.rx0.delivered.val() & self.rx1.delivered.val() {
            self.csr.add_rx_bytes.next = bit_cast::<17, 16>(self.rx0.delivered_len.val())
                + bit_cast::<17, 16>(self.rx1.delivered_len.val());
        } else if self.rx0.delivered.val() {
            self.csr.add_rx_bytes.next = bit_cast::<17, 16>(self.rx0.delivered_len.val());
        } else if self.rx1.delivered.val() {
            self.csr.add_rx_bytes.next = bit_cast::<17, 16>(self.rx1.delivered_len.val());
        }
        self.qr0.inc_rx_packets.next = self.rx0.delivered.val();
        self.qr1.inc_rx_packets.next = self.rx1.delivered.val();
        self.qr0.inc_rx_drops.next = self.rx0.inc_drop_nobuf.val();
        self.qr1.inc_rx_drops.next = self.rx1.inc_drop_nobuf.val();
        self.csr.inc_rx_drop_nobuf.next = bit_cast::<2, 1>(self.rx0.inc_drop_nobuf.val().into())
            + bit_cast::<2, 1>(self.rx1.inc_drop_nobuf.val().into());
        self.csr.inc_rx_drop_err.next = bit_cast::<2, 1>(self.rx0.inc_drop_err.val().into())
            + bit_cast::<2, 1>(self.rx1.inc_drop_err.val().into())
            + bit_cast::<2, 1>(self.rxc.inc_drop_err.val().into());
        self.csr.inc_rx_l3_bad.next = self.rxc.inc_l3_bad.val();
        self.csr.inc_rx_l4_bad.next = self.rxc.inc_l4_bad.val();
        self.csr.inc_rx_l4_calc.next = self.rxc.inc_l4_calc.val();
        self.csr.inc_dma_err.next =
            bit_cast::<2, 1>(self.rd.err_pulse.val().into()) + bit_cast::<2, 1>(self.wr.err_pulse.val().into());
        self.csr.inc_tx_tso.next = self.txo.did_tso.val();
        self.csr.inc_db_err.next = self.qr0.bad_db.val() | self.qr1.bad_db.val();

        // Read DMA: round-robin over tx0 (0), rx0 (1), tx1 (2), rx1 (3), one command a handshake; the
        // command's client rides with its beats as the tag (up to READS_IN_FLIGHT in flight).
        self.rarb.req.next = bit_cast::<4, 1>(self.tx0.rd_cmd_valid.val().into())
            | (bit_cast::<4, 1>(self.rx0.rd_cmd_valid.val().into()) << 1)
            | (bit_cast::<4, 1>(self.tx1.rd_cmd_valid.val().into()) << 2)
            | (bit_cast::<4, 1>(self.rx1.rd_cmd_valid.val().into()) << 3);
        self.rd.cmd_valid.next = self.rarb.any.val() & !self.reset_req.q.val();
        self.rd.cmd_tag.next = self.rarb.gnt.val();
        self.rd.cmd_addr.next = self.tx0.rd_cmd_addr.val();
        self.rd.cmd_beats.next = self.tx0.rd_cmd_beats.val();
        if self.rarb.gnt.val() == 1 {
            self.rd.cmd_addr.next = self.rx0.rd_cmd_addr.val();
            self.rd.cmd_beats.next = self.rx0.rd_cmd_beats.val();
        }
        if self.rarb.gnt.val() == 2 {
            self.rd.cmd_addr.next = self.tx1.rd_cmd_addr.val();
            self.rd.cmd_beats.next = self.tx1.rd_cmd_beats.val();
        }
        if self.rarb.gnt.val() == 3 {
            self.rd.cmd_addr.next = self.rx1.rd_cmd_addr.val();
            self.rd.cmd_beats.next = self.rx1.rd_cmd_beats.val();
        }
        self.rarb.take.next = self.rd.cmd_ready.val() & self.rd.cmd_valid.val();
        self.tx0.drain.next = self.reset_req.q.val();
        self.tx1.drain.next = self.reset_req.q.val();
        self.tx0.rd_cmd_ready.next = self.rd.cmd_ready.val() & (self.rarb.gnt.val() == 0) & !self.reset_req.q.val();
        self.rx0.rd_cmd_ready.next = self.rd.cmd_ready.val() & (self.rarb.gnt.val() == 1) & !self.reset_req.q.val();
        self.tx1.rd_cmd_ready.next = self.rd.cmd_ready.val() & (self.rarb.gnt.val() == 2) & !self.reset_req.q.val();
        self.rx1.rd_cmd_ready.next = self.rd.cmd_ready.val() & (self.rarb.gnt.val() == 3) & !self.reset_req.q.val();
        self.tx0.rd_data.next = self.rd.dout.val();
        self.rx0.rd_data.next = self.rd.dout.val();
        self.tx1.rd_data.next = self.rd.dout.val();
        self.rx1.rd_data.next = self.rd.dout.val();
        self.tx0.rd_last.next = self.rd.dout_last.val();
        self.rx0.rd_last.next = self.rd.dout_last.val();
        self.tx1.rd_last.next = self.rd.dout_last.val();
        self.rx1.rd_last.next = self.rd.dout_last.val();
        self.tx0.rd_err.next = self.rd.dout_err.val();
        self.rx0.rd_err.next = self.rd.dout_err.val();
        self.tx1.rd_err.next = self.rd.dout_err.val();
        self.rx1.rd_err.next = self.rd.dout_err.val();
        self.tx0.rd_valid.next = self.rd.dout_valid.val() & (self.rd.dout_tag.val() == 0);
        self.rx0.rd_valid.next = self.rd.dout_valid.val() & (self.rd.dout_tag.val() == 1);
        self.tx1.rd_valid.next = self.rd.dout_valid.val() & (self.rd.dout_tag.val() == 2);
        self.rx1.rd_valid.next = self.rd.dout_valid.val() & (self.rd.dout_tag.val() == 3);
        self.rd.dout_ready.next = self.tx0.rd_ready.val();
        if self.rd.dout_tag.val() == 1 {
            self.rd.dout_ready.next = self.rx0.rd_ready.val();
        }
        if self.rd.dout_tag.val() == 2 {
            self.rd.dout_ready.next = self.tx1.rd_ready.val();
        }
        if self.rd.dout_tag.val() == 3 {
            self.rd.dout_ready.next = self.rx1.rd_ready.val();
        }
        self.m_axi_araddr.next = self.rd.araddr.val();
        self.m_axi_arlen.next = self.rd.arlen.val();
        self.m_axi_arsize.next = 3.into();
        self.m_axi_arburst.next = 1.into();
        self.m_axi_arvalid.next = self.rd.arvalid.val();
        self.rd.arready.next = self.m_axi_arready.val();
        self.rd.rdata.next = self.m_axi_rdata.val();
        self.rd.rresp.next = self.m_axi_rresp.val();
        self.rd.rvalid.next = self.m_axi_rvalid.val();
        self.m_axi_rready.next = self.rd.rready.val();

        // Write DMA: the same round-robin for the waiting slot; the granted client's command queues behind the one streaming.
        self.warb.req.next = bit_cast::<4, 1>(self.tx0.wr_cmd_valid.val().into())
            | (bit_cast::<4, 1>(self.rx0.wr_cmd_valid.val().into()) << 1)
            | (bit_cast::<4, 1>(self.tx1.wr_cmd_valid.val().into()) << 2)
            | (bit_cast::<4, 1>(self.rx1.wr_cmd_valid.val().into()) << 3);
        self.wr.cmd_valid.next = self.warb.any.val() & !self.reset_req.q.val();
        self.wr.cmd_addr.next = self.tx0.wr_cmd_addr.val();
        self.wr.cmd_beats.next = self.tx0.wr_cmd_beats.val();
        self.wr.cmd_strb.next = self.tx0.wr_cmd_strb.val();
        if self.warb.gnt.val() == 1 {
            self.wr.cmd_addr.next = self.rx0.wr_cmd_addr.val();
            self.wr.cmd_beats.next = self.rx0.wr_cmd_beats.val();
            self.wr.cmd_strb.next = self.rx0.wr_cmd_strb.val();
        }
        if self.warb.gnt.val() == 2 {
            self.wr.cmd_addr.next = self.tx1.wr_cmd_addr.val();
            self.wr.cmd_beats.next = self.tx1.wr_cmd_beats.val();
            self.wr.cmd_strb.next = self.tx1.wr_cmd_strb.val();
        }
        if self.warb.gnt.val() == 3 {
            self.wr.cmd_addr.next = self.rx1.wr_cmd_addr.val();
            self.wr.cmd_beats.next = self.rx1.wr_cmd_beats.val();
            self.wr.cmd_strb.next = self.rx1.wr_cmd_strb.val();
        }
        // The tag names the client (low two bits) and, for RX, whether the write is a completion.
        self.wr.cmd_tag.next = bit_cast::<3, 2>(self.warb.gnt.val());
        if (self.warb.gnt.val() == 1) & self.rx0.wr_cmd_cpl.val() {
            self.wr.cmd_tag.next = bit_cast::<3, 2>(self.warb.gnt.val()) | 4_u64;
        }
        if (self.warb.gnt.val() == 3) & self.rx1.wr_cmd_cpl.val() {
            self.wr.cmd_tag.next = bit_cast::<3, 2>(self.warb.gnt.val()) | 4_u64;
        }
        self.warb.take.next = self.wr.cmd_ready.val() & self.wr.cmd_valid.val();
        self.tx0.wr_cmd_ready.next = self.wr.cmd_ready.val() & (self.warb.gnt.val() == 0) & !self.reset_req.q.val();
        self.rx0.wr_cmd_ready.next = self.wr.cmd_ready.val() & (self.warb.gnt.val() == 1) & !self.reset_req.q.val();
        self.tx1.wr_cmd_ready.next = self.wr.cmd_ready.val() & (self.warb.gnt.val() == 2) & !self.reset_req.q.val();
        self.rx1.wr_cmd_ready.next = self.wr.cmd_ready.val() & (self.warb.gnt.val() == 3) & !self.reset_req.q.val();
        // Commands are pipelined: beats come from the client whose command is streaming, and each
        // `done` goes back to the client its tag names.
        self.wr_who.next = self.wr.w_tag.val().get_bits::<2>(0);
        self.wr.din.next = self.tx0.wr_data.val();
        self.wr.din_valid.next = self.tx0.wr_data_valid.val();
        if self.wr_who.val() == 1 {
            self.wr.din.next = self.rx0.wr_data.val();
            self.wr.din_valid.next = self.rx0.wr_data_valid.val();
        }
        if self.wr_who.val() == 2 {
            self.wr.din.next = self.tx1.wr_data.val();
            self.wr.din_valid.next = self.tx1.wr_data_valid.val();
        }
        if self.wr_who.val() == 3 {
            self.wr.din.next = self.rx1.wr_data.val();
            self.wr.din_valid.next = self.rx1.wr_data_valid.val();
        }
        self.tx0.wr_data_ready.next = self.wr.din_ready.val() & (self.wr_who.val() == 0);
        self.rx0.wr_data_ready.next = self.wr.din_ready.val() & (self.wr_who.val() == 1);
        self.tx1.wr_data_ready.next = self.wr.din_ready.val() & (self.wr_who.val() == 2);
        self.rx1.wr_data_ready.next = self.wr.din_ready.val() & (self.wr_who.val() == 3);
        self.tx0.wr_done.next = self.wr.done.val() & (self.wr.done_tag.val().get_bits::<2>(0) == 0);
        self.rx0.wr_done.next = self.wr.done.val() & (self.wr.done_tag.val().get_bits::<2>(0) == 1);
        self.tx1.wr_done.next = self.wr.done.val() & (self.wr.done_tag.val().get_bits::<2>(0) == 2);
        self.rx1.wr_done.next = self.wr.done.val() & (self.wr.done_tag.val().get_bits::<2>(0) == 3);
        self.rx0.wr_done_cpl.next = self.wr.done_tag.val().get_bit(2);
        self.rx1.wr_done_cpl.next = self.wr.done_tag.val().get_bit(2);
        self.rx0.wr_err.next = self.wr.err.val();
        self.rx1.wr_err.next = self.wr.err.val();
        self.m_axi_awaddr.next = self.wr.awaddr.val();
        self.m_axi_awlen.next = self.wr.awlen.val();
        self.m_axi_awsize.next = 3.into();
        self.m_axi_awburst.next = 1.into();
        self.m_axi_awvalid.next = self.wr.awvalid.val();
        self.wr.awready.next = self.m_axi_awready.val();
        self.m_axi_wdata.next = self.wr.wdata.val();
        self.m_axi_wstrb.next = self.wr.wstrb.val();
        self.m_axi_wlast.next = self.wr.wlast.val();
        self.m_axi_wvalid.next = self.wr.wvalid.val();
        self.wr.wready.next = self.m_axi_wready.val();
        self.wr.bresp.next = self.m_axi_bresp.val();
        self.wr.bvalid.next = self.m_axi_bvalid.val();
        self.m_axi_bready.next = self.wr.bready.val();

        // Transmit datapath: each engine fills its own FIFOs; the output stage takes whole frames
        // from the queues in turn (the one not served last first), then the MAC.
        self.txf0.push.next = self.tx0.fifo_push.val();
        self.txf0.din.next = self.tx0.fifo_din.val();
        self.tx0.fifo_free.next = bit_cast::<16, 13>(self.txf0.free.val());
        self.txm0.push.next = self.tx0.meta_push.val();
        self.txm0.din.next = self.tx0.meta_din.val();
        self.tx0.meta_full.next = self.txm0.full.val();
        self.txf1.push.next = self.tx1.fifo_push.val();
        self.txf1.din.next = self.tx1.fifo_din.val();
        self.tx1.fifo_free.next = bit_cast::<16, 13>(self.txf1.free.val());
        self.txm1.push.next = self.tx1.meta_push.val();
        self.txm1.din.next = self.tx1.meta_din.val();
        self.tx1.meta_full.next = self.txm1.full.val();
        self.tx_pick.next = !self.txm1.empty.val() & (self.txm0.empty.val() | !self.tx_last.q.val());
        self.txo.meta_empty.next = (self.txm0.empty.val() & self.txm1.empty.val()) | self.reset_req.q.val();
        self.txo.meta_dout.next = self.txm0.dout.val();
        if self.tx_pick.val() {
            self.txo.meta_dout.next = self.txm1.dout.val();
        }
        self.txm0.pop.next = self.txo.meta_pop.val() & !self.tx_pick.val();
        self.txm1.pop.next = self.txo.meta_pop.val() & self.tx_pick.val();
        if self.txo.meta_pop.val() {
            self.tx_cur.d.next = self.tx_pick.val();
            self.tx_last.d.next = self.tx_pick.val();
        }
        self.txo.fifo_dout.next = self.txf0.dout.val();
        self.txo.fifo_empty.next = self.txf0.empty.val();
        if self.tx_cur.q.val() {
            self.txo.fifo_dout.next = self.txf1.dout.val();
            self.txo.fifo_empty.next = self.txf1.empty.val();
        }
        // Frames each queue's output has finished: its engine completes a packet only after.
        if self.txo.done.val() & !self.tx_cur.q.val() {
            self.ret0.d.next = self.ret0.q.val() + 1;
        }
        if self.txo.done.val() & self.tx_cur.q.val() {
            self.ret1.d.next = self.ret1.q.val() + 1;
        }
        if self.rst.val() {
            self.ret0.d.next = 0.into();
            self.ret1.d.next = 0.into();
        }
        self.tx0.retired.next = self.ret0.q.val();
        self.tx1.retired.next = self.ret1.q.val();
        self.txf0.pop.next = self.txo.fifo_pop.val() & !self.tx_cur.q.val();
        self.txf1.pop.next = self.txo.fifo_pop.val() & self.tx_cur.q.val();
        self.m_axis_tx_tdata.next = self.txo.tdata.val();
        self.m_axis_tx_tkeep.next = self.txo.tkeep.val();
        self.m_axis_tx_tlast.next = self.txo.tlast.val();
        self.m_axis_tx_tuser.next = self.txo.tuser.val();
        self.m_axis_tx_tvalid.next = self.txo.tvalid.val();
        self.txo.tready.next = self.m_axis_tx_tready.val();

        // Receive datapath: MAC -> parser/verifier/RSS -> FIFOs -> dispatch -> the queue's engine.
        // The MAC is never stalled. Frames leave in wire order: an engine takes its next frame
        // only while the other is not taking beats from the shared data FIFO.
        self.s_axis_rx_tready.next = true;
        self.rxc.tdata.next = self.s_axis_rx_tdata.val();
        self.rxc.tkeep.next = self.s_axis_rx_tkeep.val();
        self.rxc.tlast.next = self.s_axis_rx_tlast.val();
        self.rxc.tuser.next = self.s_axis_rx_tuser.val();
        self.rxc.tvalid.next = self.s_axis_rx_tvalid.val();
        self.rxf.push.next = self.rxc.fifo_push.val();
        self.rxf.din.next = self.rxc.fifo_din.val();
        self.rxc.fifo_free.next = self.rxf.free.val();
        self.rxm.push.next = self.rxc.meta_push.val();
        self.rxm.din.next = self.rxc.meta_din.val();
        self.rxc.meta_full.next = self.rxm.full.val();
        self.disp.nq.next = self.nq_k.val();
        self.disp.meta_dout.next = self.rxm.dout.val();
        self.disp.meta_empty.next = self.rxm.empty.val();
        self.rxm.pop.next = self.disp.meta_pop.val();
        self.rssr.look_hash.next = self.disp.look_hash.val();
        self.disp.look_q.next = self.rssr.look_q.val();
        self.rx0.meta_dout.next = self.disp.meta.val();
        self.rx1.meta_dout.next = self.disp.meta.val();
        self.rx0.meta_empty.next = !(self.disp.valid.val() & (self.disp.qnum.val() == 0) & !self.rx1.streaming.val());
        self.rx1.meta_empty.next = !(self.disp.valid.val() & (self.disp.qnum.val() == 1) & !self.rx0.streaming.val());
        self.disp.take.next = self.rx0.meta_pop.val() | self.rx1.meta_pop.val();
        self.rx0.fifo_dout.next = self.rxf.dout.val();
        self.rx1.fifo_dout.next = self.rxf.dout.val();
        self.rx0.fifo_empty.next = self.rxf.empty.val();
        self.rx1.fifo_empty.next = self.rxf.empty.val();
        self.rxf.pop.next = self.rx0.fifo_pop.val() | self.rx1.fifo_pop.val();

        // Idle: nothing in flight and nothing about to start, for two cycles running.
        self.quiet.next = !self.tx0.busy.val()
            & !self.tx1.busy.val()
            & !self.txo.busy.val()
            & !self.rxc.busy.val()
            & !self.disp.busy.val()
            & !self.rx0.busy.val()
            & !self.rx1.busy.val()
            & !self.rd.busy.val()
            & !self.wr.busy.val()
            & self.txf0.empty.val()
            & self.txm0.empty.val()
            & self.txf1.empty.val()
            & self.txm1.empty.val()
            & self.rxf.empty.val()
            & self.rxm.empty.val()
            & !self.s_axis_rx_tvalid.val()
            & !self.reset_req.q.val();
        self.quiet_q.d.next = self.quiet.val();
        self.idle.next = self.quiet.val() & self.quiet_q.q.val();
        self.csr.idle_in.next = self.quiet.val();
        self.csr.reset_pending.next = self.reset_req.q.val();
    }
}

impl NicCore {
    /// A core advertising `caps` (a subset of [`CAPS`] masks offloads out at build time) and
    /// `build_hash`, with `num_queues` queue pairs (1 to [`MAX_BUILD_QUEUES`]).
    pub fn with_caps(caps: u32, build_hash: u32, num_queues: u32) -> Self {
        assert!((1..=MAX_BUILD_QUEUES).contains(&num_queues), "this core has 1 to {MAX_BUILD_QUEUES} queue pairs");
        Self {
            clock: Default::default(),
            reset: Default::default(),
            s_axil_awaddr: Default::default(),
            s_axil_awvalid: Default::default(),
            s_axil_awready: Default::default(),
            s_axil_wdata: Default::default(),
            s_axil_wstrb: Default::default(),
            s_axil_wvalid: Default::default(),
            s_axil_wready: Default::default(),
            s_axil_bresp: Default::default(),
            s_axil_bvalid: Default::default(),
            s_axil_bready: Default::default(),
            s_axil_araddr: Default::default(),
            s_axil_arvalid: Default::default(),
            s_axil_arready: Default::default(),
            s_axil_rdata: Default::default(),
            s_axil_rresp: Default::default(),
            s_axil_rvalid: Default::default(),
            s_axil_rready: Default::default(),
            m_axi_araddr: Default::default(),
            m_axi_arlen: Default::default(),
            m_axi_arsize: Default::default(),
            m_axi_arburst: Default::default(),
            m_axi_arvalid: Default::default(),
            m_axi_arready: Default::default(),
            m_axi_rdata: Default::default(),
            m_axi_rresp: Default::default(),
            m_axi_rlast: Default::default(),
            m_axi_rvalid: Default::default(),
            m_axi_rready: Default::default(),
            m_axi_awaddr: Default::default(),
            m_axi_awlen: Default::default(),
            m_axi_awsize: Default::default(),
            m_axi_awburst: Default::default(),
            m_axi_awvalid: Default::default(),
            m_axi_awready: Default::default(),
            m_axi_wdata: Default::default(),
            m_axi_wstrb: Default::default(),
            m_axi_wlast: Default::default(),
            m_axi_wvalid: Default::default(),
            m_axi_wready: Default::default(),
            m_axi_bresp: Default::default(),
            m_axi_bvalid: Default::default(),
            m_axi_bready: Default::default(),
            m_axis_tx_tdata: Default::default(),
            m_axis_tx_tkeep: Default::default(),
            m_axis_tx_tlast: Default::default(),
            m_axis_tx_tuser: Default::default(),
            m_axis_tx_tvalid: Default::default(),
            m_axis_tx_tready: Default::default(),
            s_axis_rx_tdata: Default::default(),
            s_axis_rx_tkeep: Default::default(),
            s_axis_rx_tlast: Default::default(),
            s_axis_rx_tuser: Default::default(),
            s_axis_rx_tvalid: Default::default(),
            s_axis_rx_tready: Default::default(),
            irq: Default::default(),
            idle: Default::default(),
            csr: Csr::new(caps, build_hash, num_queues),
            qr0: QueueRegs::new(0, num_queues),
            qr1: QueueRegs::new(1, num_queues),
            rssr: RssRegs::new(num_queues),
            rd: Default::default(),
            wr: Default::default(),
            rarb: Default::default(),
            warb: Default::default(),
            tx0: Default::default(),
            tx1: Default::default(),
            txf0: Default::default(),
            txf1: Default::default(),
            txm0: Default::default(),
            txm1: Default::default(),
            txo: Default::default(),
            rxc: Default::default(),
            rxf: Default::default(),
            rxm: Default::default(),
            disp: Default::default(),
            rx0: Default::default(),
            rx1: Default::default(),
            wr_who: Default::default(),
            ret0: Default::default(),
            ret1: Default::default(),
            tx_cur: Default::default(),
            tx_last: Default::default(),
            quiet_q: Default::default(),
            reset_req: Default::default(),
            rst: Default::default(),
            tx_pick: Default::default(),
            quiet: Default::default(),
            q1_on: Constant::new(num_queues > 1),
            nq_k: Constant::new((num_queues as u64).to_bits()),
        }
    }
}

impl Default for NicCore {
    fn default() -> Self {
        Self::with_caps(CAPS, crate::build_hash(), nic_abi::NUM_QUEUES)
    }
}
