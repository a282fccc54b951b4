//! The NIC core: register slave, DMA master, TX and RX paths, MAC ports.

use crate::csr::Csr;
use crate::dma_rd::DmaRead;
use crate::dma_wr::DmaWrite;
use crate::fifo::Fifo;
use crate::rx_csum::{RxCsum, RxMeta};
use crate::rx_engine::RxEngine;
use crate::tx_engine::TxEngine;
use crate::tx_out::{TxMeta, TxOut};
use nic_abi::ifcap::*;
use rust_hdl::prelude::*;

/// What this build of the NIC can do, in `IFCAP_*` layout (the ID block's CAPS register).
pub const CAPS: u32 = IFCAP_RXCSUM
    | IFCAP_TXCSUM
    | IFCAP_RXCSUM_IPV6
    | IFCAP_TXCSUM_IPV6
    | IFCAP_VLAN_MTU
    | IFCAP_JUMBO_MTU
    | IFCAP_VLAN_HWCSUM
    | IFCAP_TSO4
    | IFCAP_TSO6
    | IFCAP_VLAN_HWTSO
    | IFCAP_HWSTATS;

/// The NIC core with the interfaces a board shell wraps (see the crate docs).
#[derive(LogicBlock)]
pub struct NicCore {
    /// Core clock (156.25 MHz modelled).
    pub clock: Signal<In, Clock>,
    /// Synchronous reset, active high.
    pub reset: Signal<In, Bit>,
    /// AXI4-Lite slave (BAR0 on a board): write address.
    pub s_axil_awaddr: Signal<In, Bits<12>>,
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
    pub s_axil_araddr: Signal<In, Bits<12>>,
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
    /// Interrupt (level): an unmasked cause in IRQ_STATUS.
    pub irq: Signal<Out, Bit>,
    /// Nothing in flight and nothing about to start: the simulator may sleep.
    pub idle: Signal<Out, Bit>,
    csr: Csr,
    rd: DmaRead,
    wr: DmaWrite,
    tx: TxEngine,
    txf: Fifo<Bits<64>, 12, 13>,
    txm: Fifo<TxMeta, 3, 4>,
    txo: TxOut,
    rxc: RxCsum,
    rxf: Fifo<Bits<64>, 12, 13>,
    rxm: Fifo<RxMeta, 4, 5>,
    rx: RxEngine,
    rd_tx: DFF<Bit>,
    wr_tx: DFF<Bit>,
    quiet_q: DFF<Bit>,
    reset_req: DFF<Bit>,
    rst: Signal<Local, Bit>,
    pick_rd_tx: Signal<Local, Bit>,
    pick_wr_tx: Signal<Local, Bit>,
    quiet: Signal<Local, Bit>,
}

impl Logic for NicCore {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, rd_tx, wr_tx, quiet_q, reset_req);
        clock!(self, clock, csr, rd, wr, tx, txf, txm, txo, rxc, rxf, rxm, rx);
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
        self.rd.reset.next = self.rst.val();
        self.wr.reset.next = self.rst.val();
        self.tx.reset.next = self.rst.val();
        self.txf.reset.next = self.rst.val();
        self.txm.reset.next = self.rst.val();
        self.txo.reset.next = self.rst.val();
        self.rxc.reset.next = self.rst.val();
        self.rxf.reset.next = self.rst.val();
        self.rxm.reset.next = self.rst.val();
        self.rx.reset.next = self.rst.val();

        // AXI4-Lite to the register file.
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

        // Register file <-> engines.
        self.tx.enable.next = self.csr.enable.val();
        self.tx.capenable.next = self.csr.capenable.val();
        self.tx.base.next = self.csr.tx_base.val();
        self.tx.size_log2.next = self.csr.tx_size_log2.val();
        self.tx.tail.next = self.csr.tx_tail.val();
        self.tx.cq_base.next = self.csr.txcq_base.val();
        self.tx.cq_head.next = self.csr.txcq_head.val();
        self.csr.tx_head.next = self.tx.head.val();
        self.csr.txcq_tail.next = self.tx.cq_tail.val();
        self.rx.enable.next = self.csr.enable.val();
        self.rx.base.next = self.csr.rx_base.val();
        self.rx.size_log2.next = self.csr.rx_size_log2.val();
        self.rx.tail.next = self.csr.rx_tail.val();
        self.rx.cq_base.next = self.csr.rxcq_base.val();
        self.rx.cq_head.next = self.csr.rxcq_head.val();
        self.csr.rx_head.next = self.rx.head.val();
        self.csr.rxcq_tail.next = self.rx.cq_tail.val();
        self.rxc.capenable.next = self.csr.capenable.val();
        self.csr.ev_tx.next = self.tx.ev_cpl.val();
        self.csr.ev_rx.next = self.rx.ev_cpl.val();
        self.csr.inc_tx_frames.next = self.txo.sent.val();
        self.csr.add_tx_bytes.next = 0.into();
        if self.txo.sent.val() {
            self.csr.add_tx_bytes.next = self.txo.sent_len.val();
        }
        self.csr.inc_tx_csum_ip.next = self.txo.did_ip.val();
        self.csr.inc_tx_csum_l4.next = self.txo.did_l4.val();
        self.csr.inc_tx_desc_err.next = self.tx.inc_desc_err.val();
        self.csr.inc_rx_frames.next = self.rx.delivered.val();
        self.csr.add_rx_bytes.next = 0.into();
        if self.rx.delivered.val() {
            self.csr.add_rx_bytes.next = self.rx.delivered_len.val();
        }
        self.csr.inc_rx_drop_nobuf.next = self.rx.inc_drop_nobuf.val();
        self.csr.inc_rx_drop_err.next = self.rx.inc_drop_err.val() | self.rxc.inc_drop_err.val();
        self.csr.inc_rx_l3_bad.next = self.rxc.inc_l3_bad.val();
        self.csr.inc_rx_l4_bad.next = self.rxc.inc_l4_bad.val();
        self.csr.inc_rx_l4_calc.next = self.rxc.inc_l4_calc.val();
        self.csr.inc_dma_err.next = self.rd.err_pulse.val() | self.wr.err_pulse.val();
        self.csr.inc_tx_tso.next = self.txo.did_tso.val();

        // Read DMA: round-robin between the TX and RX engines, one command at a time.
        self.pick_rd_tx.next = self.tx.rd_cmd_valid.val() & (!self.rx.rd_cmd_valid.val() | !self.rd_tx.q.val());
        self.rd.cmd_valid.next = (self.tx.rd_cmd_valid.val() | self.rx.rd_cmd_valid.val()) & !self.reset_req.q.val();
        self.rd.cmd_addr.next = self.rx.rd_cmd_addr.val();
        self.rd.cmd_beats.next = self.rx.rd_cmd_beats.val();
        self.rd.cmd_tag.next = self.pick_rd_tx.val();
        if self.pick_rd_tx.val() {
            self.rd.cmd_addr.next = self.tx.rd_cmd_addr.val();
            self.rd.cmd_beats.next = self.tx.rd_cmd_beats.val();
        }
        self.tx.rd_cmd_ready.next = self.rd.cmd_ready.val() & self.pick_rd_tx.val() & !self.reset_req.q.val();
        self.rx.rd_cmd_ready.next = self.rd.cmd_ready.val() & !self.pick_rd_tx.val() & !self.reset_req.q.val();
        if self.rd.cmd_ready.val() & self.rd.cmd_valid.val() {
            self.rd_tx.d.next = self.pick_rd_tx.val();
        }
        self.tx.rd_data.next = self.rd.dout.val();
        self.rx.rd_data.next = self.rd.dout.val();
        self.tx.rd_last.next = self.rd.dout_last.val();
        self.rx.rd_last.next = self.rd.dout_last.val();
        self.tx.rd_err.next = self.rd.dout_err.val();
        self.rx.rd_err.next = self.rd.dout_err.val();
        // Beats go to the client of the command they belong to (two commands may be in flight).
        self.tx.rd_valid.next = self.rd.dout_valid.val() & self.rd.dout_tag.val();
        self.rx.rd_valid.next = self.rd.dout_valid.val() & !self.rd.dout_tag.val();
        self.rd.dout_ready.next = self.rx.rd_ready.val();
        if self.rd.dout_tag.val() {
            self.rd.dout_ready.next = self.tx.rd_ready.val();
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

        // Write DMA: round-robin between TX completions and RX data/completions.
        self.pick_wr_tx.next = self.tx.wr_cmd_valid.val() & (!self.rx.wr_cmd_valid.val() | !self.wr_tx.q.val());
        self.wr.cmd_valid.next = (self.tx.wr_cmd_valid.val() | self.rx.wr_cmd_valid.val()) & !self.reset_req.q.val();
        self.wr.cmd_addr.next = self.rx.wr_cmd_addr.val();
        self.wr.cmd_beats.next = self.rx.wr_cmd_beats.val();
        self.wr.cmd_strb.next = self.rx.wr_cmd_strb.val();
        if self.pick_wr_tx.val() {
            self.wr.cmd_addr.next = self.tx.wr_cmd_addr.val();
            self.wr.cmd_beats.next = self.tx.wr_cmd_beats.val();
            self.wr.cmd_strb.next = self.tx.wr_cmd_strb.val();
        }
        self.tx.wr_cmd_ready.next = self.wr.cmd_ready.val() & self.pick_wr_tx.val() & !self.reset_req.q.val();
        self.rx.wr_cmd_ready.next = self.wr.cmd_ready.val() & !self.pick_wr_tx.val() & !self.reset_req.q.val();
        if self.wr.cmd_ready.val() & self.wr.cmd_valid.val() {
            self.wr_tx.d.next = self.pick_wr_tx.val();
        }
        self.wr.din.next = self.rx.wr_data.val();
        self.wr.din_valid.next = self.rx.wr_data_valid.val();
        if self.wr_tx.q.val() {
            self.wr.din.next = self.tx.wr_data.val();
            self.wr.din_valid.next = self.tx.wr_data_valid.val();
        }
        self.tx.wr_data_ready.next = self.wr.din_ready.val() & self.wr_tx.q.val();
        self.rx.wr_data_ready.next = self.wr.din_ready.val() & !self.wr_tx.q.val();
        self.tx.wr_done.next = self.wr.done.val() & self.wr_tx.q.val();
        self.rx.wr_done.next = self.wr.done.val() & !self.wr_tx.q.val();
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

        // Transmit datapath: engine -> FIFOs -> output stage -> MAC.
        self.txf.push.next = self.tx.fifo_push.val();
        self.txf.din.next = self.tx.fifo_din.val();
        self.tx.fifo_free.next = bit_cast::<16, 13>(self.txf.free.val());
        self.txm.push.next = self.tx.meta_push.val();
        self.txm.din.next = self.tx.meta_din.val();
        self.tx.meta_full.next = self.txm.full.val();
        self.txo.fifo_dout.next = self.txf.dout.val();
        self.txo.fifo_empty.next = self.txf.empty.val();
        self.txf.pop.next = self.txo.fifo_pop.val();
        self.txo.meta_dout.next = self.txm.dout.val();
        self.txo.meta_empty.next = self.txm.empty.val() | self.reset_req.q.val();
        self.txm.pop.next = self.txo.meta_pop.val();
        self.m_axis_tx_tdata.next = self.txo.tdata.val();
        self.m_axis_tx_tkeep.next = self.txo.tkeep.val();
        self.m_axis_tx_tlast.next = self.txo.tlast.val();
        self.m_axis_tx_tuser.next = self.txo.tuser.val();
        self.m_axis_tx_tvalid.next = self.txo.tvalid.val();
        self.txo.tready.next = self.m_axis_tx_tready.val();

        // Receive datapath: MAC -> parser/verifier -> FIFOs -> engine. The MAC is never stalled.
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
        self.rx.fifo_dout.next = self.rxf.dout.val();
        self.rx.fifo_empty.next = self.rxf.empty.val();
        self.rxf.pop.next = self.rx.fifo_pop.val();
        self.rx.meta_dout.next = self.rxm.dout.val();
        self.rx.meta_empty.next = self.rxm.empty.val();
        self.rxm.pop.next = self.rx.meta_pop.val();

        // Idle: nothing in flight and nothing about to start, for two cycles running.
        self.quiet.next = !self.tx.busy.val()
            & !self.txo.busy.val()
            & !self.rxc.busy.val()
            & !self.rx.busy.val()
            & !self.rd.busy.val()
            & !self.wr.busy.val()
            & self.txf.empty.val()
            & self.txm.empty.val()
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
    /// A core advertising `caps` (a subset of [`CAPS`] masks offloads out at build time) and `build_hash`.
    pub fn with_caps(caps: u32, build_hash: u32) -> Self {
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
            csr: Csr::new(caps, build_hash),
            rd: Default::default(),
            wr: Default::default(),
            tx: Default::default(),
            txf: Default::default(),
            txm: Default::default(),
            txo: Default::default(),
            rxc: Default::default(),
            rxf: Default::default(),
            rxm: Default::default(),
            rx: Default::default(),
            rd_tx: Default::default(),
            wr_tx: Default::default(),
            quiet_q: Default::default(),
            reset_req: Default::default(),
            rst: Default::default(),
            pick_rd_tx: Default::default(),
            pick_wr_tx: Default::default(),
            quiet: Default::default(),
        }
    }
}

impl Default for NicCore {
    fn default() -> Self {
        Self::with_caps(CAPS, crate::emit::build_hash())
    }
}
