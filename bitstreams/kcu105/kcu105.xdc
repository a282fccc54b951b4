# Xilinx KCU105 (Kintex UltraScale XCKU040-2FFVA1156E): the pins of the NIC shell.
# Ports are those of the block design's wrapper (create_project.tcl). Sites are
# from the board's user guide (UG917); the GT lane sites of PCIe are placed by
# the XDMA IP itself (its board interface), the SFP+ lane by the MAC's GT.

# PCIe x8 edge connector: 100 MHz reference clock (MGTREFCLK0 of quad 225) and PERST#.
set_property PACKAGE_PIN AB6 [get_ports pcie_refclk_clk_p]
set_property PACKAGE_PIN AB5 [get_ports pcie_refclk_clk_n]
create_clock -name pcie_refclk -period 10.000 [get_ports pcie_refclk_clk_p]
set_property -dict {PACKAGE_PIN K22 IOSTANDARD LVCMOS18 PULLUP true} [get_ports pcie_perst_n]
set_false_path -from [get_ports pcie_perst_n]

# PCIe lanes 0..7 (GTH quads 225 and 224): receive pairs; transmit pairs follow the IP's placement.
set_property PACKAGE_PIN AB2 [get_ports {pcie_mgt_rxp[0]}]
set_property PACKAGE_PIN AD2 [get_ports {pcie_mgt_rxp[1]}]
set_property PACKAGE_PIN AF2 [get_ports {pcie_mgt_rxp[2]}]
set_property PACKAGE_PIN AH2 [get_ports {pcie_mgt_rxp[3]}]
set_property PACKAGE_PIN AJ4 [get_ports {pcie_mgt_rxp[4]}]
set_property PACKAGE_PIN AK2 [get_ports {pcie_mgt_rxp[5]}]
set_property PACKAGE_PIN AM2 [get_ports {pcie_mgt_rxp[6]}]
set_property PACKAGE_PIN AP2 [get_ports {pcie_mgt_rxp[7]}]

# SFP+ cage P5 (SFP0): GTH channel of quad 226, 156.25 MHz reference from the Si570
# (MGTREFCLK0 of quad 227, the board's default frequency), transmit enable.
set_property PACKAGE_PIN T2 [get_ports sfp0_rxp]
set_property PACKAGE_PIN T1 [get_ports sfp0_rxn]
set_property PACKAGE_PIN U4 [get_ports sfp0_txp]
set_property PACKAGE_PIN U3 [get_ports sfp0_txn]
set_property PACKAGE_PIN P6 [get_ports sfp_refclk_clk_p]
set_property PACKAGE_PIN P5 [get_ports sfp_refclk_clk_n]
create_clock -name sfp_refclk -period 6.400 [get_ports sfp_refclk_clk_p]
set_property -dict {PACKAGE_PIN AL8 IOSTANDARD LVCMOS18} [get_ports sfp0_tx_disable_b]
set_false_path -to [get_ports sfp0_tx_disable_b]

# 125 MHz system clock (the MAC's free-running DRP/init clock).
set_property -dict {PACKAGE_PIN G10 IOSTANDARD LVDS} [get_ports sysclk_125_clk_p]
set_property -dict {PACKAGE_PIN F10 IOSTANDARD LVDS} [get_ports sysclk_125_clk_n]
create_clock -name sysclk_125 -period 8.000 [get_ports sysclk_125_clk_p]

# LEDs: PCIe link up, MAC RX block lock, NIC idle, RX overflow (should never light).
set_property -dict {PACKAGE_PIN AP8 IOSTANDARD LVCMOS18} [get_ports {led[0]}]
set_property -dict {PACKAGE_PIN H23 IOSTANDARD LVCMOS18} [get_ports {led[1]}]
set_property -dict {PACKAGE_PIN P20 IOSTANDARD LVCMOS18} [get_ports {led[2]}]
set_property -dict {PACKAGE_PIN P21 IOSTANDARD LVCMOS18} [get_ports {led[3]}]
set_false_path -to [get_ports {led[*]}]

# Configuration: 1.8 V bank 0, compressed bitstream.
set_property CFGBVS GND [current_design]
set_property CONFIG_VOLTAGE 1.8 [current_design]
set_property BITSTREAM.GENERAL.COMPRESS true [current_design]
