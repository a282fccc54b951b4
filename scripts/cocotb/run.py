"""Builds the emitted NIC core with cocotb's Verilator flow and runs bench_nic.py.

usage: run.py VERILOG BUILD_DIR

The Verilator flags are the simulator's own (sim/build.rs) plus what cocotb
adds (its VPI, every signal public).
"""

import sys
from pathlib import Path

from cocotb_tools.runner import get_runner

verilog, build_dir = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
FLAGS = ["-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
         "-Wno-fatal", "-Wno-WIDTH", "-Wno-lint", "-Wno-style"]


runner = get_runner("verilator")
bdir = build_dir / "build"
runner.build(sources=[verilog], hdl_toplevel="top", build_dir=bdir, build_args=FLAGS,
             timescale=("1ps", "1ps"), always=False)
runner.test(hdl_toplevel="top", test_module="bench_nic", test_dir=Path(__file__).parent, build_dir=bdir)
