"""cocotb side of scripts/bench-cocotb: the NIC core's emitted Verilog under cocotb.

Two workloads, each in two styles, each printing one line
`cocotb idle <style>: <cycles> cycles in <s> s = <k> kcycles/s` or
`cocotb regs <style>: <n> reads (<cycles> cycles) in <s> s = <r> reads/s`:

  idle  the core out of reset with nothing to do, clocked N cycles
  regs  AXI4-Lite reads of the ID register back to back (the bus traffic a
        driver makes), M reads; cycles counted from the clock

  usual    cocotb's Clock on the clock port, `await RisingEdge` per cycle,
           handles looked up per access
  batched  the same Clock, idle time as one ClockCycles wait, handles looked
           up once (cocotb's fastest style also makes the clock in the HDL;
           under cocotb 2.0.1 with Verilator 5.052 --timing that build hung
           here, so it is not measured)

N and M come from the environment (NIC_BENCH_IDLE, NIC_BENCH_READS).
"""

import os
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

IDLE = int(os.environ.get("NIC_BENCH_IDLE", "20000"))
READS = int(os.environ.get("NIC_BENCH_READS", "500"))
ID_REG = 0x000


def report(what, style, cycles, s):
    print(f"cocotb {what} {style}: {cycles} cycles in {s:.3f} s = {cycles / s / 1e3:.1f} kcycles/s", flush=True)


async def reset(dut, clk):
    dut.reset.value = 1
    for name in ["s_axil_awvalid", "s_axil_wvalid", "s_axil_bready", "s_axil_arvalid", "s_axil_rready",
                 "m_axi_arready", "m_axi_rvalid", "m_axi_awready", "m_axi_wready", "m_axi_bvalid",
                 "m_axis_tx_tready", "s_axis_rx_tvalid"]:
        getattr(dut, name).value = 0
    await ClockCycles(clk, 8)
    dut.reset.value = 0
    await ClockCycles(clk, 8)


async def read(clk, araddr, arvalid, arready, rvalid, rready, rdata, addr):
    """One AXI4-Lite read; returns (data, cycles taken)."""
    n = 0
    araddr.value = addr
    arvalid.value = 1
    rready.value = 1
    while True:
        await RisingEdge(clk)
        n += 1
        if arvalid.value and arready.value:
            arvalid.value = 0
        if rvalid.value:
            rready.value = 0
            return int(rdata.value), n


async def workloads(dut, style):
    cocotb.start_soon(Clock(dut.clock, 6400, unit="ps").start())
    clk = dut.clock
    await reset(dut, clk)
    t = time.perf_counter()
    if style == "usual":
        for _ in range(IDLE):
            await RisingEdge(clk)
    else:
        await ClockCycles(clk, IDLE)
    report("idle", style, IDLE, time.perf_counter() - t)

    handles = (dut.s_axil_araddr, dut.s_axil_arvalid, dut.s_axil_arready, dut.s_axil_rvalid,
               dut.s_axil_rready, dut.s_axil_rdata)
    cycles = 0
    t = time.perf_counter()
    for _ in range(READS):
        if style == "usual":
            h = (dut.s_axil_araddr, dut.s_axil_arvalid, dut.s_axil_arready, dut.s_axil_rvalid,
                 dut.s_axil_rready, dut.s_axil_rdata)
        else:
            h = handles
        v, n = await read(clk, *h, ID_REG)
        cycles += n
        assert v == int(os.environ["NIC_ID"], 0), f"ID register read {v:#x}"
    s = time.perf_counter() - t
    print(f"cocotb regs {style}: {READS} reads ({cycles} cycles) in {s:.3f} s = {READS / s:.1f} reads/s", flush=True)


@cocotb.test()
async def usual(dut):
    await workloads(dut, "usual")


@cocotb.test()
async def batched(dut):
    await workloads(dut, "batched")
