//! The NIC core's port list (hw/src/nic.rs) bound to the bus, DMA and MAC
//! models: which model drives which input, which output each model samples.
//! The only file that names the NIC's ports.

use crate::axil::{AxilMasterSignals, AxilSlaveSignals};
use crate::dma::{AxiMasterSignals, AxiSlaveSignals};
use crate::mac::AxisBeat;
use crate::model::{NicIn, NicOut};

/// Everything the models drive into one NIC for one cycle.
pub(crate) struct Drive {
    pub reset: bool,
    pub axil: AxilMasterSignals,
    pub dma: AxiSlaveSignals,
    pub tx_tready: bool,
    pub rx: AxisBeat,
}

/// Fills the NIC's inputs.
#[inline]
pub(crate) fn inputs(i: &mut NicIn, d: &Drive) {
    i.reset = d.reset as u64;
    let a = &d.axil;
    i.s_axil_awaddr = a.awaddr as u64;
    i.s_axil_awvalid = a.awvalid as u64;
    i.s_axil_wdata = a.wdata as u64;
    i.s_axil_wstrb = a.wstrb as u64;
    i.s_axil_wvalid = a.wvalid as u64;
    i.s_axil_bready = a.bready as u64;
    i.s_axil_araddr = a.araddr as u64;
    i.s_axil_arvalid = a.arvalid as u64;
    i.s_axil_rready = a.rready as u64;
    let m = &d.dma;
    i.m_axi_arready = m.arready as u64;
    i.m_axi_rdata = m.rdata;
    i.m_axi_rresp = m.rresp as u64;
    i.m_axi_rlast = m.rlast as u64;
    i.m_axi_rvalid = m.rvalid as u64;
    i.m_axi_awready = m.awready as u64;
    i.m_axi_wready = m.wready as u64;
    i.m_axi_bresp = m.bresp as u64;
    i.m_axi_bvalid = m.bvalid as u64;
    i.m_axis_tx_tready = d.tx_tready as u64;
    let r = &d.rx;
    i.s_axis_rx_tdata = r.tdata;
    i.s_axis_rx_tkeep = r.tkeep as u64;
    i.s_axis_rx_tlast = r.tlast as u64;
    i.s_axis_rx_tuser = r.tuser as u64;
    i.s_axis_rx_tvalid = r.tvalid as u64;
}

/// The NIC's AXI4-Lite slave outputs.
#[inline]
pub(crate) fn axil(o: &NicOut) -> AxilSlaveSignals {
    AxilSlaveSignals {
        awready: o.s_axil_awready != 0,
        wready: o.s_axil_wready != 0,
        bresp: o.s_axil_bresp as u8,
        bvalid: o.s_axil_bvalid != 0,
        arready: o.s_axil_arready != 0,
        rdata: o.s_axil_rdata as u32,
        rresp: o.s_axil_rresp as u8,
        rvalid: o.s_axil_rvalid != 0,
    }
}

/// The NIC's AXI4 master (DMA) outputs.
#[inline]
pub(crate) fn dma(o: &NicOut) -> AxiMasterSignals {
    AxiMasterSignals {
        araddr: o.m_axi_araddr,
        arlen: o.m_axi_arlen as u8,
        arsize: o.m_axi_arsize as u8,
        arburst: o.m_axi_arburst as u8,
        arvalid: o.m_axi_arvalid != 0,
        rready: o.m_axi_rready != 0,
        awaddr: o.m_axi_awaddr,
        awlen: o.m_axi_awlen as u8,
        awsize: o.m_axi_awsize as u8,
        awburst: o.m_axi_awburst as u8,
        awvalid: o.m_axi_awvalid != 0,
        wdata: o.m_axi_wdata,
        wstrb: o.m_axi_wstrb as u8,
        wlast: o.m_axi_wlast != 0,
        wvalid: o.m_axi_wvalid != 0,
        bready: o.m_axi_bready != 0,
    }
}

/// The NIC's transmit stream.
#[inline]
pub(crate) fn tx(o: &NicOut) -> AxisBeat {
    AxisBeat {
        tdata: o.m_axis_tx_tdata,
        tkeep: o.m_axis_tx_tkeep as u8,
        tlast: o.m_axis_tx_tlast != 0,
        tuser: o.m_axis_tx_tuser != 0,
        tvalid: o.m_axis_tx_tvalid != 0,
    }
}

/// The NIC's receive-side `tready`.
#[inline]
pub(crate) fn rx_tready(o: &NicOut) -> bool {
    o.s_axis_rx_tready != 0
}

/// Interrupt lines, bit `q` for queue pair `q`.
#[inline]
pub(crate) fn irq(o: &NicOut) -> u8 {
    o.irq as u8
}

/// No frame, DMA or bus work in flight inside the NIC.
#[inline]
pub(crate) fn idle(o: &NicOut) -> bool {
    o.idle != 0
}
