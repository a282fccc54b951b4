//! The KCU105 board shell (bitstreams/kcu105), checked without Vivado: the
//! wrapper Verilog lints clean in Verilator with the core it wraps (the same
//! Verilog the simulator runs), and its testbench simulates the two together
//! in Icarus Verilog: BAR0 reads of the ID block through the shell, AXI4
//! tie-offs, MSI request/acknowledge, MAC RX without back-pressure.
//!
//! The vendor IP (XDMA, 10G MAC, clock converters) cannot be built or
//! simulated here; see bitstreams/kcu105/README.md.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use nic_abi::regs::id;
use nic_host::dev::sim::SimDevice;
use nic_host::dev::Device;

fn shell_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../bitstreams/kcu105")
}

fn tool(name: &str) -> bool {
    Command::new(name).arg("-V").output().is_ok()
}

fn skip_or_fail(why: &str) {
    if std::env::var_os("NIC_REQUIRE_OPEN_FLOW").is_some() {
        panic!("{why}; scripts/deps installs it");
    }
    eprintln!("SKIPPED: {why}");
}

fn core_verilog(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join("nic_core.v");
    std::fs::write(&p, nic_sim::NIC_VERILOG).unwrap();
    p
}

#[test]
fn shell_wrapper_lints_with_the_core() {
    let dir = std::env::temp_dir().join(format!("nic-shell-lint-{}", std::process::id()));
    let core = core_verilog(&dir);
    let o = Command::new("verilator")
        .args(["--lint-only", "-Wall", "--timescale", "1ns/1ps"])
        .args(nic_sim::LINT_WAIVER_FLAGS.split(' '))
        .args(["--top-module", "nic_shell"])
        .arg(&core)
        .arg(shell_dir().join("nic_shell.v"))
        .output()
        .expect("verilator (scripts/deps installs it)");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && !err.contains("%Warning"), "nic_shell.v does not lint clean:\n{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shell_simulates_with_the_core() {
    if !tool("iverilog") {
        return skip_or_fail("iverilog not on PATH (apt-get install iverilog)");
    }
    let (version, hash) = {
        let sim = nic_sim::Sim::start(nic_sim::SimConfig::new(nic_sim::Loopback::new())).unwrap();
        let dev = Arc::new(SimDevice::new(sim.nic(0), 1 << 20).unwrap());
        (dev.read32(id::VERSION).unwrap(), dev.read32(id::BUILD_HASH).unwrap())
    };
    let dir = std::env::temp_dir().join(format!("nic-shell-sim-{}", std::process::id()));
    let core = core_verilog(&dir);
    let vvp = dir.join("tb.vvp");
    let o = Command::new("iverilog")
        .args(["-g2005", "-o"])
        .arg(&vvp)
        .arg(format!("-DEXPECT_ID=32'h{:08x}", nic_abi::NIC_ID))
        .arg(format!("-DEXPECT_VERSION=32'h{version:08x}"))
        .arg(format!("-DEXPECT_HASH=32'h{hash:08x}"))
        .arg(format!("-DHASH_REG=32'h{:08x}", id::BUILD_HASH))
        .arg(format!("-DQP0_TYPE_REG=32'h{:08x}", nic_abi::regs::queue_pair(0) + nic_abi::regs::block::TYPE))
        .arg(format!("-DEXPECT_QP_TYPE=32'h{:08x}", nic_abi::regs::block::TYPE_QUEUE_PAIR))
        .arg(&core)
        .arg(shell_dir().join("nic_shell.v"))
        .arg(shell_dir().join("tb_nic_shell.v"))
        .output()
        .unwrap();
    assert!(o.status.success(), "iverilog:\n{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new("vvp").arg("-n").arg(&vvp).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    println!("{out}");
    assert!(out.contains(" passed, 0 failed") && !out.contains("FAIL"), "testbench failed:\n{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
