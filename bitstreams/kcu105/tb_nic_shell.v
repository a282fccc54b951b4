// Testbench: nic_shell with the real NIC core, as the KCU105 shell wires it.
// Checks what the shell adds: reset release, BAR0 reads through the 32-bit
// bridge addresses (ID, ABI version, build hash must match the ID block the
// driver expects), the AXI4 tie-offs, MSI request/acknowledge from the core's
// level interrupt, and a MAC RX stream the core must never back-pressure.
// Ends with "tb_nic_shell: N passed, N failed". Defines: EXPECT_ID,
// EXPECT_VERSION, EXPECT_HASH (from nic-abi and the build, via the test).
`timescale 1ns / 1ps
`default_nettype none

module tb_nic_shell;
    reg clk = 0;
    always #3.2 clk = ~clk; // 156.25 MHz
    reg rst_n = 0;

    reg  [31:0] awaddr = 0, wdata = 0, araddr = 0;
    reg         awvalid = 0, wvalid = 0, arvalid = 0, bready = 1, rready = 1;
    wire        awready, wready, bvalid, arready, rvalid;
    wire [1:0]  bresp, rresp;
    wire [31:0] rdata;
    reg         msi_ack = 0;
    wire        msi_req;
    reg  [63:0] rx_tdata = 0;
    reg  [7:0]  rx_tkeep = 0;
    reg         rx_tlast = 0, rx_tvalid = 0;
    wire [3:0]  arid, awid, arcache, awcache;
    wire [2:0]  arprot, awprot;
    wire        idle, rx_overflow, tx_tvalid;

    nic_shell dut (
        .clk(clk), .rst_n(rst_n),
        .s_axil_awaddr(awaddr), .s_axil_awprot(3'b0), .s_axil_awvalid(awvalid), .s_axil_awready(awready),
        .s_axil_wdata(wdata), .s_axil_wstrb(4'hf), .s_axil_wvalid(wvalid), .s_axil_wready(wready),
        .s_axil_bresp(bresp), .s_axil_bvalid(bvalid), .s_axil_bready(bready),
        .s_axil_araddr(araddr), .s_axil_arprot(3'b0), .s_axil_arvalid(arvalid), .s_axil_arready(arready),
        .s_axil_rdata(rdata), .s_axil_rresp(rresp), .s_axil_rvalid(rvalid), .s_axil_rready(rready),
        .m_axi_arid(arid), .m_axi_araddr(), .m_axi_arlen(), .m_axi_arsize(), .m_axi_arburst(), .m_axi_arlock(),
        .m_axi_arcache(arcache), .m_axi_arprot(arprot), .m_axi_arqos(), .m_axi_arvalid(), .m_axi_arready(1'b1),
        .m_axi_rid(4'd0), .m_axi_rdata(64'd0), .m_axi_rresp(2'd0), .m_axi_rlast(1'b0), .m_axi_rvalid(1'b0),
        .m_axi_rready(),
        .m_axi_awid(awid), .m_axi_awaddr(), .m_axi_awlen(), .m_axi_awsize(), .m_axi_awburst(), .m_axi_awlock(),
        .m_axi_awcache(awcache), .m_axi_awprot(awprot), .m_axi_awqos(), .m_axi_awvalid(), .m_axi_awready(1'b1),
        .m_axi_wdata(), .m_axi_wstrb(), .m_axi_wlast(), .m_axi_wvalid(), .m_axi_wready(1'b1),
        .m_axi_bid(4'd0), .m_axi_bresp(2'd0), .m_axi_bvalid(1'b0), .m_axi_bready(),
        .msi_req(msi_req), .msi_ack(msi_ack),
        .tx_axis_tdata(), .tx_axis_tkeep(), .tx_axis_tlast(), .tx_axis_tuser(), .tx_axis_tvalid(tx_tvalid),
        .tx_axis_tready(1'b1),
        .rx_axis_tdata(rx_tdata), .rx_axis_tkeep(rx_tkeep), .rx_axis_tlast(rx_tlast), .rx_axis_tuser(1'b0),
        .rx_axis_tvalid(rx_tvalid),
        .idle(idle), .rx_overflow(rx_overflow)
    );

    integer passed = 0, failed = 0;
    task check(input cond, input [8*48-1:0] what);
        begin
            if (cond) passed = passed + 1;
            else begin
                failed = failed + 1;
                $display("FAIL %0s", what);
            end
        end
    endtask

    // One AXI4-Lite read; the bridge's upper address bits (a BAR offset) must not matter.
    task bar_read(input [31:0] addr, output [31:0] data);
        integer n;
        begin
            @(negedge clk);
            araddr = addr; arvalid = 1;
            n = 0;
            while (!(arready === 1'b1) && n < 100) begin @(posedge clk); #0.1; n = n + 1; end
            @(posedge clk); #0.1;
            arvalid = 0;
            n = 0;
            while (!(rvalid === 1'b1) && n < 100) begin @(posedge clk); #0.1; n = n + 1; end
            data = rdata;
            @(posedge clk); #0.1;
        end
    endtask

    reg [31:0] v;
    integer i;
    initial begin
        repeat (5) @(posedge clk);
        rst_n = 1;
        repeat (10) @(posedge clk);
        bar_read(32'hfeed_0000, v);
        check(v == `EXPECT_ID, "ID register through the shell");
        bar_read(32'h0000_0004, v);
        check(v == `EXPECT_VERSION, "ABI version through the shell");
        bar_read(`HASH_REG, v);
        check(v == `EXPECT_HASH, "build hash through the shell");
        // The highest byte of BAR0 the core decodes (the shell must pass every address bit):
        // a block header past the 4 KiB of ABI 2.
        bar_read(`QP0_TYPE_REG, v);
        check(v == `EXPECT_QP_TYPE, "a queue pair's block header through the shell");
        check(arid == 0 && awid == 0 && arcache == 4'b0011 && awcache == 4'b0011 && arprot == 0 && awprot == 0,
              "AXI4 tie-offs");
        check(msi_req == 0, "no MSI after reset");
        // Interrupt: the core's level irq, forced (the core raises it on completions).
        force dut.irq = 1'b1;
        @(posedge clk); @(posedge clk); #0.1;
        check(msi_req == 1, "MSI requested on irq edge");
        repeat (5) @(posedge clk); #0.1;
        check(msi_req == 1, "MSI held until acknowledged");
        msi_ack = 1; @(posedge clk); #0.1; msi_ack = 0;
        check(msi_req == 0, "MSI cleared by ack");
        repeat (3) @(posedge clk); #0.1;
        check(msi_req == 0, "a held level is one MSI");
        force dut.irq = 1'b0; @(posedge clk); #0.1;
        force dut.irq = 1'b1; @(posedge clk); @(posedge clk); #0.1;
        check(msi_req == 1, "next edge, next MSI");
        msi_ack = 1; @(posedge clk); #0.1; msi_ack = 0;
        release dut.irq;
        // A MAC frame (64 bytes of garbage, no buffers posted): taken every cycle, never refused.
        for (i = 0; i < 8; i = i + 1) begin
            @(negedge clk);
            rx_tdata = {32'hdead_beef, i}; rx_tkeep = 8'hff; rx_tvalid = 1; rx_tlast = (i == 7);
        end
        @(negedge clk); rx_tvalid = 0; rx_tlast = 0;
        repeat (20) @(posedge clk);
        check(rx_overflow == 0, "MAC RX never back-pressured");
        check(tx_tvalid == 0, "nothing transmitted unasked");
        $display("tb_nic_shell: %0d passed, %0d failed", passed, failed);
        $finish;
    end
    initial begin
        #100000;
        $display("tb_nic_shell: timeout");
        $finish;
    end
endmodule
