//! Test support shared by the blocks' unit tests: hand-clocking in rust-hdl's
//! own simulator (fast enough for small blocks) and a Verilator lint with the
//! project's documented waivers.

use rust_hdl::prelude::*;

/// Runs one clock cycle: settle with the clock low, call `check` (inputs applied, before the edge),
/// then raise the clock and settle (the edge).
pub fn clock_cycle<B: Block, F: FnMut(&mut B)>(uut: &mut B, set_clock: fn(&mut B, bool), mut check: F) {
    set_clock(uut, false);
    assert!(simulate(uut, 200), "logic did not settle (combinational loop?)");
    check(uut);
    set_clock(uut, true);
    assert!(simulate(uut, 200), "logic did not settle after the edge");
}

/// Lints `verilog` (top module `top`) with `verilator --lint-only -Wall` and the waivers above.
/// Skips, saying so, when Verilator is not installed.
pub fn lint(name: &str, verilog: &str) {
    let dir = std::env::temp_dir().join(format!("nic-hw-lint-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("top.v");
    std::fs::write(&path, verilog).unwrap();
    let mut cmd = std::process::Command::new("verilator");
    cmd.arg("--lint-only").arg("-Wall").arg("--top-module").arg("top");
    for (w, _) in crate::emit::LINT_WAIVERS {
        cmd.arg(format!("-Wno-{w}"));
    }
    cmd.arg(&path);
    match cmd.output() {
        Err(e) => eprintln!("SKIP lint of {name}: verilator not runnable ({e}); install it with `apt-get install verilator`"),
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success() && !text.contains("%Warning") && !text.contains("%Error"), "verilator lint of {name} failed:\n{text}");
        }
    }
    if std::env::var_os("KEEP_LINT").is_none() { let _ = std::fs::remove_dir_all(&dir); }
}
