# Vivado project for the NIC on a Xilinx KCU105: PCIe x8 Gen3 through the DMA/Bridge
# Subsystem (XDMA) in AXI Bridge mode, a 10GBASE-R MAC+PCS (xxv_ethernet) on SFP0,
# and the NIC core inside nic_shell.v. NOT BUILT OR RUN HERE (no Vivado on the
# project's machines): see README.md for what was checked and what was not.
#
#   vivado -mode batch -source create_project.tcl -tclargs /path/to/nic_core.v [build]
#
# nic_core.v comes from `nicctl verilog --out DIR`. With `build`, the script also
# runs synthesis, implementation and write_bitstream (output under ./build).
#
# Clocks: the NIC core, its AXI ports and the MAC's AXI4-Stream run on the MAC's
# 156.25 MHz tx_clk_out; XDMA's AXI side runs at 250 MHz; two SmartConnects do
# the clock, width (64 <-> 256 bits) and protocol (AXI4 -> AXI4-Lite) conversion.

set here [file dirname [file normalize [info script]]]
if {[llength $argv] < 1} {
    puts "usage: vivado -mode batch -source create_project.tcl -tclargs nic_core.v \[build\]"
    exit 1
}
set core_v [file normalize [lindex $argv 0]]
set do_build [expr {[llength $argv] > 1 && [lindex $argv 1] eq "build"}]

create_project nic_kcu105 [file join $here build] -part xcku040-ffva1156-2-e -force
# The board files make the GT and pin choices of the IP match the board; optional.
if {[catch {set_property board_part xilinx.com:kcu105:part0:1.7 [current_project]}]} {
    puts "note: KCU105 board files not installed; using the part and kcu105.xdc only"
}
add_files -norecurse [list $core_v [file join $here nic_shell.v]]
add_files -fileset constrs_1 -norecurse [file join $here kcu105.xdc]
update_compile_order -fileset sources_1

create_bd_design nic

# --- PCIe: BAR0 -> M_AXI_B (the NIC's registers), S_AXI_B -> host memory (the NIC's DMA).
set xdma [create_bd_cell -type ip -vlnv xilinx.com:ip:xdma xdma_0]
set_property -dict [list \
    CONFIG.functional_mode {AXI_Bridge} \
    CONFIG.mode_selection {Advanced} \
    CONFIG.device_port_type {PCI_Express_Endpoint_device} \
    CONFIG.pl_link_cap_max_link_width {X8} \
    CONFIG.pl_link_cap_max_link_speed {8.0_GT/s} \
    CONFIG.axi_data_width {256_bit} \
    CONFIG.axisten_freq {250} \
    CONFIG.pf0_device_id {9038} \
    CONFIG.pf0_class_code_base {02} \
    CONFIG.pf0_class_code_sub {00} \
    CONFIG.pf0_bar0_enabled {true} \
    CONFIG.pf0_bar0_64bit {false} \
    CONFIG.pf0_bar0_scale {Kilobytes} \
    CONFIG.pf0_bar0_size {64} \
    CONFIG.axibar_num {1} \
    CONFIG.axibar2pciebar_0 {0x0000000000000000} \
    CONFIG.pf0_msi_enabled {true} \
    CONFIG.pf0_interrupt_pin {NONE} \
] $xdma
# IOVA = PCIe bus address: S_AXI_B is a 64-bit window translated 1:1.
set ref [create_bd_cell -type ip -vlnv xilinx.com:ip:util_ds_buf pcie_refclk_buf]
set_property CONFIG.C_BUF_TYPE {IBUFDSGTE} $ref

# --- 10GBASE-R MAC+PCS on SFP0, AXI4-Stream 64-bit at 156.25 MHz, no AXI control port.
set mac [create_bd_cell -type ip -vlnv xilinx.com:ip:xxv_ethernet xxv_eth_0]
set_property -dict [list \
    CONFIG.LINE_RATE {10} \
    CONFIG.NUM_OF_CORES {1} \
    CONFIG.BASE_R_KR {BASE-R} \
    CONFIG.CORE {Ethernet MAC+PCS/PMA 64-bit} \
    CONFIG.DATA_PATH_INTERFACE {AXI Stream} \
    CONFIG.INCLUDE_AXI4_INTERFACE {0} \
    CONFIG.GT_REF_CLK_FREQ {156.25} \
    CONFIG.GT_DRP_CLK {125.00} \
    CONFIG.GT_GROUP_SELECT {Quad_X0Y2} \
    CONFIG.LANE1_GT_LOC {X0Y10} \
] $mac
set sysclk [create_bd_cell -type ip -vlnv xilinx.com:ip:util_ds_buf sysclk_buf]

# --- The NIC: nic_shell.v as a module reference (its s_axil_*/m_axi_*/tx_axis_*/rx_axis_*
# ports are inferred as AXI4-Lite, AXI4 and AXI4-Stream interfaces).
set nic [create_bd_cell -type module -reference nic_shell nic_0]

# --- Interconnect: register path (250 MHz AXI4 -> 156.25 MHz AXI4-Lite) and DMA path.
set sc_regs [create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect sc_regs]
set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {1} CONFIG.NUM_CLKS {2}] $sc_regs
set sc_dma [create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect sc_dma]
set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {1} CONFIG.NUM_CLKS {2}] $sc_dma
set rst_nic [create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset rst_nic]
set one [create_bd_cell -type ip -vlnv xilinx.com:ip:xlconstant one]
set zero [create_bd_cell -type ip -vlnv xilinx.com:ip:xlconstant zero]
set_property CONFIG.CONST_VAL {0} $zero

# External ports.
create_bd_intf_port -mode Slave -vlnv xilinx.com:interface:diff_clock_rtl:1.0 pcie_refclk
create_bd_intf_port -mode Master -vlnv xilinx.com:interface:pcie_7x_mgt_rtl:1.0 pcie_mgt
create_bd_port -dir I -type rst pcie_perst_n
create_bd_intf_port -mode Slave -vlnv xilinx.com:interface:diff_clock_rtl:1.0 sfp_refclk
create_bd_intf_port -mode Slave -vlnv xilinx.com:interface:diff_clock_rtl:1.0 sysclk_125
create_bd_port -dir I sfp0_rxp
create_bd_port -dir I sfp0_rxn
create_bd_port -dir O sfp0_txp
create_bd_port -dir O sfp0_txn
create_bd_port -dir O sfp0_tx_disable_b
create_bd_port -dir O -from 3 -to 0 led

# PCIe.
connect_bd_intf_net [get_bd_intf_ports pcie_refclk] [get_bd_intf_pins pcie_refclk_buf/CLK_IN_D]
connect_bd_net [get_bd_pins pcie_refclk_buf/IBUF_OUT] [get_bd_pins xdma_0/sys_clk_gt]
connect_bd_net [get_bd_pins pcie_refclk_buf/IBUF_DS_ODIV2] [get_bd_pins xdma_0/sys_clk]
connect_bd_net [get_bd_ports pcie_perst_n] [get_bd_pins xdma_0/sys_rst_n]
connect_bd_intf_net [get_bd_intf_pins xdma_0/pcie_mgt] [get_bd_intf_ports pcie_mgt]

# MAC: reference clock, serial lane, free-running clock, user clock shared with the NIC.
connect_bd_intf_net [get_bd_intf_ports sfp_refclk] [get_bd_intf_pins xxv_eth_0/gt_ref_clk]
connect_bd_intf_net [get_bd_intf_ports sysclk_125] [get_bd_intf_pins sysclk_buf/CLK_IN_D]
connect_bd_net [get_bd_pins sysclk_buf/IBUF_OUT] [get_bd_pins xxv_eth_0/dclk]
connect_bd_net [get_bd_ports sfp0_rxp] [get_bd_pins xxv_eth_0/gt_rxp_in_0]
connect_bd_net [get_bd_ports sfp0_rxn] [get_bd_pins xxv_eth_0/gt_rxn_in_0]
connect_bd_net [get_bd_pins xxv_eth_0/gt_txp_out_0] [get_bd_ports sfp0_txp]
connect_bd_net [get_bd_pins xxv_eth_0/gt_txn_out_0] [get_bd_ports sfp0_txn]
connect_bd_net [get_bd_pins one/dout] [get_bd_ports sfp0_tx_disable_b]
set nic_clk [get_bd_pins xxv_eth_0/tx_clk_out_0]
connect_bd_net $nic_clk [get_bd_pins xxv_eth_0/rx_core_clk_0] [get_bd_pins nic_0/clk] \
    [get_bd_pins sc_regs/aclk1] [get_bd_pins sc_dma/aclk1] [get_bd_pins rst_nic/slowest_sync_clk]
connect_bd_net [get_bd_pins zero/dout] [get_bd_pins xxv_eth_0/sys_reset] \
    [get_bd_pins xxv_eth_0/gtwiz_reset_tx_datapath_0] [get_bd_pins xxv_eth_0/gtwiz_reset_rx_datapath_0]
# MAC control without the AXI4-Lite port: transmit and receive enabled, FCS added and checked.
foreach p {ctl_tx_enable_0 ctl_rx_enable_0 ctl_tx_fcs_ins_enable_0 ctl_rx_check_preamble_0 \
           ctl_rx_check_sfd_0 ctl_rx_delete_fcs_0} {
    if {[llength [get_bd_pins -quiet xxv_eth_0/$p]]} { connect_bd_net [get_bd_pins one/dout] [get_bd_pins xxv_eth_0/$p] }
}

# Resets: the NIC leaves reset when PCIe's AXI side is out of reset, synchronised to its clock.
connect_bd_net [get_bd_pins xdma_0/axi_aresetn] [get_bd_pins rst_nic/ext_reset_in] [get_bd_pins sc_regs/aresetn] \
    [get_bd_pins sc_dma/aresetn]
connect_bd_net [get_bd_pins rst_nic/peripheral_aresetn] [get_bd_pins nic_0/rst_n]
connect_bd_net [get_bd_pins xdma_0/axi_aclk] [get_bd_pins sc_regs/aclk] [get_bd_pins sc_dma/aclk]

# Registers: BAR0 -> SmartConnect -> nic_shell AXI4-Lite.
connect_bd_intf_net [get_bd_intf_pins xdma_0/M_AXI_B] [get_bd_intf_pins sc_regs/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins sc_regs/M00_AXI] [get_bd_intf_pins nic_0/s_axil]
# DMA: nic_shell AXI4 master -> SmartConnect -> S_AXI_B (host memory).
connect_bd_intf_net [get_bd_intf_pins nic_0/m_axi] [get_bd_intf_pins sc_dma/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins sc_dma/M00_AXI] [get_bd_intf_pins xdma_0/S_AXI_B]
# Frames: NIC <-> MAC on the same clock, no FIFO needed (the core never back-pressures RX).
connect_bd_intf_net [get_bd_intf_pins nic_0/tx_axis] [get_bd_intf_pins xxv_eth_0/axis_tx_0]
connect_bd_intf_net [get_bd_intf_pins xxv_eth_0/axis_rx_0] [get_bd_intf_pins nic_0/rx_axis]
# MSI vector 0: XDMA's user interrupt request/acknowledge. In AXI Bridge mode the
# pins may be named intx_msi_request/intx_msi_grant instead (PG195, "Bridge mode
# interrupts"); take whichever this XDMA version has.
foreach {req ack} {usr_irq_req usr_irq_ack intx_msi_request intx_msi_grant} {
    if {[llength [get_bd_pins -quiet xdma_0/$req]]} {
        connect_bd_net [get_bd_pins nic_0/msi_req] [get_bd_pins xdma_0/$req]
        connect_bd_net [get_bd_pins xdma_0/$ack] [get_bd_pins nic_0/msi_ack]
        break
    }
}
# LEDs.
set leds [create_bd_cell -type ip -vlnv xilinx.com:ip:xlconcat leds]
set_property CONFIG.NUM_PORTS {4} $leds
connect_bd_net [get_bd_pins xdma_0/user_lnk_up] [get_bd_pins leds/In0]
connect_bd_net [get_bd_pins xxv_eth_0/stat_rx_block_lock_0] [get_bd_pins leds/In1]
connect_bd_net [get_bd_pins nic_0/idle] [get_bd_pins leds/In2]
connect_bd_net [get_bd_pins nic_0/rx_overflow] [get_bd_pins leds/In3]
connect_bd_net [get_bd_pins leds/dout] [get_bd_ports led]

# Address map: BAR0's 64 KiB is the NIC's register file; the DMA window is all of host memory.
assign_bd_address
validate_bd_design
save_bd_design
make_wrapper -files [get_files nic.bd] -top
add_files -norecurse [file join $here build nic_kcu105.gen sources_1 bd nic hdl nic_wrapper.v]
set_property top nic_wrapper [current_fileset]

if {$do_build} {
    launch_runs impl_1 -to_step write_bitstream -jobs 8
    wait_on_run impl_1
    open_run impl_1
    report_utilization -hierarchical -file [file join $here build utilization.rpt]
    report_timing_summary -file [file join $here build timing.rpt]
    puts "bitstream: [glob -nocomplain [file join $here build nic_kcu105.runs impl_1 *.bit]]"
}
