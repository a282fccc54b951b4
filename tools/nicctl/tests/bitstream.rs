//! The open FPGA flow end to end on a small block: `nicctl bitstream build`
//! runs yosys and nextpnr-ice40 (Debian's, installed by scripts/deps) on the
//! TX MAC-side output block (`txo`), and its manifest must carry what the ID
//! block of the model built from the same Verilog reports.
//!
//! The ECP5 flow (YoWASP from PyPI, minutes per run) is the same code with
//! other tool names; it runs here only with `NIC_OPEN_FLOW_ECP5=1`, and its
//! numbers are recorded in docs/PERFORMANCE.md.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use nic_abi::regs::id;
use nic_host::dev::sim::SimDevice;
use nic_host::dev::Device;

fn have(tools: &[&str]) -> Result<(), String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for t in tools {
        if !std::env::split_paths(&path).any(|d| d.join(t).is_file()) {
            return Err(format!("{t} not on PATH"));
        }
    }
    Ok(())
}

/// What the model's ID block says: (ABI version register, build hash).
fn id_block() -> (u32, u32) {
    let sim = nic_sim::Sim::start(nic_sim::SimConfig::new(nic_sim::Loopback::new())).unwrap();
    let dev = Arc::new(SimDevice::new(sim.nic(0), 1 << 20).unwrap());
    (dev.read32(id::VERSION).unwrap(), dev.read32(id::BUILD_HASH).unwrap())
}

fn build(board: &str, args: &[&str], out: &Path) -> serde_json::Value {
    let _ = std::fs::remove_dir_all(out);
    let o = Command::new(env!("CARGO_BIN_EXE_nicctl"))
        .args(["bitstream", "build", "--board", board, "--out"])
        .arg(out)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "nicctl bitstream build failed");
    assert!(stdout.contains("place and route ..."), "no progress shown");
    let m = std::fs::read_to_string(out.join(board).join("manifest.json")).unwrap();
    serde_json::from_str(&m).unwrap()
}

fn check_manifest(m: &serde_json::Value, board: &str, part: &str) {
    let (version, hash) = id_block();
    assert_eq!(m["board"], board);
    assert_eq!(m["part"], part);
    assert_eq!(m["build_hash"], format!("0x{hash:08x}"), "manifest and ID block disagree");
    assert_eq!(m["abi_version"], format!("{}.{}", version >> 16, version & 0xffff));
    assert_eq!(m["id"], format!("0x{:08x}", nic_abi::NIC_ID));
    for t in m["targets"].as_array().unwrap() {
        assert!(t["luts"].as_u64().unwrap() > 0 && t["ffs"].as_u64().unwrap() > 0, "{t}");
        assert!(t["fmax_mhz"].as_f64().unwrap() > 10.0, "{t}");
    }
}

#[test]
fn open_flow_ice40_block_with_manifest() {
    if let Err(why) = have(&["yosys", "nextpnr-ice40", "icepack"]) {
        if std::env::var_os("NIC_REQUIRE_OPEN_FLOW").is_some() {
            panic!("{why}; scripts/deps installs yosys, nextpnr-ice40 and fpga-icestorm");
        }
        eprintln!(
            "SKIPPED open_flow_ice40_block_with_manifest: {why} (apt-get install yosys nextpnr-ice40 fpga-icestorm)"
        );
        return;
    }
    let out = std::env::temp_dir().join(format!("nic-bitstream-{}", std::process::id()));
    let m = build("ice40-hx8k", &["--no-core", "--blocks", "txo"], &out);
    check_manifest(&m, "ice40-hx8k", "iCE40HX8K-CT256");
    assert_eq!(m["targets"][0]["name"], "txo");
    assert!(out.join("ice40-hx8k/report.md").exists());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn open_flow_ecp5_core_bitstream() {
    if std::env::var_os("NIC_OPEN_FLOW_ECP5").is_none() {
        eprintln!(
            "SKIPPED open_flow_ecp5_core_bitstream: set NIC_OPEN_FLOW_ECP5=1 (needs bitstreams/install-tools; \
             several minutes); the iCE40 test runs the same flow code"
        );
        return;
    }
    let out = std::env::temp_dir().join(format!("nic-bitstream-ecp5-{}", std::process::id()));
    let m = build("versa-ecp5", &[], &out);
    check_manifest(&m, "versa-ecp5", "LFE5UM-45F-8BG381C");
    assert!(m["clock_achieved_mhz"].as_f64().unwrap() > 10.0);
    let bit = m["bitstream"].as_str().unwrap();
    assert!(std::fs::metadata(bit).unwrap().len() > 100_000, "bitstream too small");
    let _ = std::fs::remove_dir_all(&out);
}
