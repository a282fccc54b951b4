// nic_shell: the NIC core (module `top`, from `nicctl verilog`) as a board shell
// sees it. Everything on one clock, `clk`: the 10G MAC's 156.25 MHz user clock.
// The vendor IP around it (PCIe bridge, clock converters, MAC) is instantiated
// by create_project.tcl; this file is the part we own, and the part that is
// linted and simulated here (bitstreams/kcu105/README.md).
//
//   PCIe bridge BAR0 --(AXI4 -> AXI4-Lite, clock converter)--> s_axil_*  ┐
//   PCIe bridge S_AXI <--(clock + width converter)------------- m_axi_*   ├ nic_shell ─ top
//   PCIe MSI request/ack <------------------------------------ msi_*     │
//   10G MAC AXI4-Stream TX/RX (64-bit, 156.25 MHz) <---------> *_axis_*  ┘
//
// What the shell adds to the core:
// - reset: `rst_n` (asynchronous, from the bridge's and MAC's resets) is
//   synchronised and stretched to 4 cycles of the core's synchronous `reset`;
// - BAR0: the bridge's 32-bit addresses are cut to the core's 16-bit register
//   space (BAR0 is 64 KiB since ABI 3.0: nic_abi::regs::AXIL_ADDR_BITS, which
//   the core's port width carries); AXI-Lite protection bits are ignored;
// - DMA: the AXI4 signals the core does not drive (ID, cache, protection, lock,
//   QoS) are tied to constants: one ID, normal non-cacheable bufferable,
//   unprivileged data accesses;
// - interrupt: the core's per-queue-pair level lines are ORed into one (this
//   shell asks XDMA for one user interrupt; the driver's interrupt handler
//   then looks at every queue, as with any single-vector device); that level
//   `irq` becomes one MSI per rising edge, held as
//   a request until the bridge acknowledges it (`msi_req`/`msi_ack`, which is
//   XDMA's usr_irq_req/usr_irq_ack); an edge during an outstanding request
//   is merged into it (the driver re-checks its queues after every interrupt);
// - MAC RX: the MAC cannot be back-pressured; the core never back-pressures
//   its RX port (it drops and counts frames it has no room for), and the shell
//   reports `rx_overflow` if that ever changes.
`timescale 1ns / 1ps
`default_nettype none

module nic_shell (
    input  wire        clk,
    input  wire        rst_n,
    // BAR0 (AXI4-Lite slave)
    input  wire [31:0] s_axil_awaddr,
    input  wire [2:0]  s_axil_awprot,
    input  wire        s_axil_awvalid,
    output wire        s_axil_awready,
    input  wire [31:0] s_axil_wdata,
    input  wire [3:0]  s_axil_wstrb,
    input  wire        s_axil_wvalid,
    output wire        s_axil_wready,
    output wire [1:0]  s_axil_bresp,
    output wire        s_axil_bvalid,
    input  wire        s_axil_bready,
    input  wire [31:0] s_axil_araddr,
    input  wire [2:0]  s_axil_arprot,
    input  wire        s_axil_arvalid,
    output wire        s_axil_arready,
    output wire [31:0] s_axil_rdata,
    output wire [1:0]  s_axil_rresp,
    output wire        s_axil_rvalid,
    input  wire        s_axil_rready,
    // DMA to host memory (AXI4 master, 64-bit)
    output wire [3:0]  m_axi_arid,
    output wire [63:0] m_axi_araddr,
    output wire [7:0]  m_axi_arlen,
    output wire [2:0]  m_axi_arsize,
    output wire [1:0]  m_axi_arburst,
    output wire        m_axi_arlock,
    output wire [3:0]  m_axi_arcache,
    output wire [2:0]  m_axi_arprot,
    output wire [3:0]  m_axi_arqos,
    output wire        m_axi_arvalid,
    input  wire        m_axi_arready,
    input  wire [3:0]  m_axi_rid,
    input  wire [63:0] m_axi_rdata,
    input  wire [1:0]  m_axi_rresp,
    input  wire        m_axi_rlast,
    input  wire        m_axi_rvalid,
    output wire        m_axi_rready,
    output wire [3:0]  m_axi_awid,
    output wire [63:0] m_axi_awaddr,
    output wire [7:0]  m_axi_awlen,
    output wire [2:0]  m_axi_awsize,
    output wire [1:0]  m_axi_awburst,
    output wire        m_axi_awlock,
    output wire [3:0]  m_axi_awcache,
    output wire [2:0]  m_axi_awprot,
    output wire [3:0]  m_axi_awqos,
    output wire        m_axi_awvalid,
    input  wire        m_axi_awready,
    output wire [63:0] m_axi_wdata,
    output wire [7:0]  m_axi_wstrb,
    output wire        m_axi_wlast,
    output wire        m_axi_wvalid,
    input  wire        m_axi_wready,
    input  wire [3:0]  m_axi_bid,
    input  wire [1:0]  m_axi_bresp,
    input  wire        m_axi_bvalid,
    output wire        m_axi_bready,
    // MSI (vector 0)
    output wire        msi_req,
    input  wire        msi_ack,
    // 10G MAC, transmit (tuser: mark the frame bad)
    output wire [63:0] tx_axis_tdata,
    output wire [7:0]  tx_axis_tkeep,
    output wire        tx_axis_tlast,
    output wire        tx_axis_tuser,
    output wire        tx_axis_tvalid,
    input  wire        tx_axis_tready,
    // 10G MAC, receive (tuser on the last beat: bad FCS or length; no back-pressure)
    input  wire [63:0] rx_axis_tdata,
    input  wire [7:0]  rx_axis_tkeep,
    input  wire        rx_axis_tlast,
    input  wire        rx_axis_tuser,
    input  wire        rx_axis_tvalid,
    // status
    output wire        idle,
    output reg         rx_overflow
);
    // Reset: synchronise the release, then hold the core's synchronous reset 4 cycles.
    reg [1:0] rst_sync;
    reg [2:0] rst_cnt;
    always @(posedge clk or negedge rst_n) begin
        if (!rst_n) begin
            rst_sync <= 2'b00;
        end else begin
            rst_sync <= {rst_sync[0], 1'b1};
        end
    end
    always @(posedge clk) begin
        if (!rst_sync[1]) begin
            rst_cnt <= 3'd0;
        end else if (rst_cnt != 3'd4) begin
            rst_cnt <= rst_cnt + 3'd1;
        end
    end
    wire core_reset = rst_cnt != 3'd4;

    wire [7:0] irq_lines;
    wire irq = |irq_lines;
    wire rx_tready;

    top core (
        .clock(clk),
        .reset(core_reset),
        .s_axil_awaddr(s_axil_awaddr[15:0]),
        .s_axil_awvalid(s_axil_awvalid),
        .s_axil_awready(s_axil_awready),
        .s_axil_wdata(s_axil_wdata),
        .s_axil_wstrb(s_axil_wstrb),
        .s_axil_wvalid(s_axil_wvalid),
        .s_axil_wready(s_axil_wready),
        .s_axil_bresp(s_axil_bresp),
        .s_axil_bvalid(s_axil_bvalid),
        .s_axil_bready(s_axil_bready),
        .s_axil_araddr(s_axil_araddr[15:0]),
        .s_axil_arvalid(s_axil_arvalid),
        .s_axil_arready(s_axil_arready),
        .s_axil_rdata(s_axil_rdata),
        .s_axil_rresp(s_axil_rresp),
        .s_axil_rvalid(s_axil_rvalid),
        .s_axil_rready(s_axil_rready),
        .m_axi_araddr(m_axi_araddr),
        .m_axi_arlen(m_axi_arlen),
        .m_axi_arsize(m_axi_arsize),
        .m_axi_arburst(m_axi_arburst),
        .m_axi_arvalid(m_axi_arvalid),
        .m_axi_arready(m_axi_arready),
        .m_axi_rdata(m_axi_rdata),
        .m_axi_rresp(m_axi_rresp),
        .m_axi_rlast(m_axi_rlast),
        .m_axi_rvalid(m_axi_rvalid),
        .m_axi_rready(m_axi_rready),
        .m_axi_awaddr(m_axi_awaddr),
        .m_axi_awlen(m_axi_awlen),
        .m_axi_awsize(m_axi_awsize),
        .m_axi_awburst(m_axi_awburst),
        .m_axi_awvalid(m_axi_awvalid),
        .m_axi_awready(m_axi_awready),
        .m_axi_wdata(m_axi_wdata),
        .m_axi_wstrb(m_axi_wstrb),
        .m_axi_wlast(m_axi_wlast),
        .m_axi_wvalid(m_axi_wvalid),
        .m_axi_wready(m_axi_wready),
        .m_axi_bresp(m_axi_bresp),
        .m_axi_bvalid(m_axi_bvalid),
        .m_axi_bready(m_axi_bready),
        .m_axis_tx_tdata(tx_axis_tdata),
        .m_axis_tx_tkeep(tx_axis_tkeep),
        .m_axis_tx_tlast(tx_axis_tlast),
        .m_axis_tx_tuser(tx_axis_tuser),
        .m_axis_tx_tvalid(tx_axis_tvalid),
        .m_axis_tx_tready(tx_axis_tready),
        .s_axis_rx_tdata(rx_axis_tdata),
        .s_axis_rx_tkeep(rx_axis_tkeep),
        .s_axis_rx_tlast(rx_axis_tlast),
        .s_axis_rx_tuser(rx_axis_tuser),
        .s_axis_rx_tvalid(rx_axis_tvalid),
        .s_axis_rx_tready(rx_tready),
        .irq(irq_lines),
        .idle(idle)
    );

    // AXI4 signals the core does not drive.
    assign m_axi_arid = 4'd0;
    assign m_axi_arlock = 1'b0;
    assign m_axi_arcache = 4'b0011;
    assign m_axi_arprot = 3'b000;
    assign m_axi_arqos = 4'd0;
    assign m_axi_awid = 4'd0;
    assign m_axi_awlock = 1'b0;
    assign m_axi_awcache = 4'b0011;
    assign m_axi_awprot = 3'b000;
    assign m_axi_awqos = 4'd0;

    // Level interrupt -> one MSI request per rising edge, held until acknowledged.
    reg irq_q;
    reg msi_pending;
    always @(posedge clk) begin
        if (core_reset) begin
            irq_q <= 1'b0;
            msi_pending <= 1'b0;
        end else begin
            irq_q <= irq;
            if (irq && !irq_q) begin
                msi_pending <= 1'b1;
            end else if (msi_ack) begin
                msi_pending <= 1'b0;
            end
        end
    end
    assign msi_req = msi_pending;

    // The MAC cannot wait: flag any beat the core did not take (sticky until reset).
    always @(posedge clk) begin
        if (core_reset) begin
            rx_overflow <= 1'b0;
        end else if (rx_axis_tvalid && !rx_tready) begin
            rx_overflow <= 1'b1;
        end
    end

    // Inputs the core has no use for (kept for the bus standard's completeness).
    wire unused = &{1'b0, s_axil_awaddr[31:16], s_axil_araddr[31:16], s_axil_awprot, s_axil_arprot,
                    m_axi_rid, m_axi_bid};
endmodule

`default_nettype wire
