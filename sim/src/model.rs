//! The Verilator bridge: safe wrappers over the Verilated models.
//!
//! `build.rs` Verilates every model of `nic_hw::emit::models()` and generates,
//! from each one's `V<name>.h` port list, a C++ shim and the Rust module
//! included below: `nic::NicModel` (re-exported as [`NicModel`]) with
//! `set_<port>(u64)` / `<port>() -> u64`, bulk [`NicIn`] / [`NicOut`] structs
//! moved with one FFI call each, and `cycle()`. Block-level models added to
//! `models()` appear here as `<name>::<Name>Model` without code changes.
//!
//! A model is not `Send`: it is created, clocked and dropped by one thread
//! at a time. The co-simulation world does that in its clock thread, or, in
//! lockstep, in whichever host thread holds the world's lock.

use std::fmt;

/// Direction of a model port, seen from the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortDir {
    /// Driven by us.
    In,
    /// Driven by the model.
    Out,
    /// Both (not produced by rust-hdl today).
    InOut,
}

/// One port of a Verilated model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortInfo {
    /// The port name, as in the Verilog and the Rust accessors.
    pub name: &'static str,
    /// Direction.
    pub dir: PortDir,
    /// Width in bits.
    pub width: u32,
}

/// Why a VCD trace could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceError {
    /// The path contains a NUL byte.
    BadPath,
    /// Verilator could not open the file.
    Open,
    /// This model was traced before; Verilator attaches a tracer once per model.
    AlreadyTraced,
    /// This instance is of the fast build, which has no tracing code; make it with `new_traced`.
    NotTraced,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::BadPath => {
                write!(f, "the VCD path contains a NUL byte; choose another path")
            }
            TraceError::Open => write!(
                f,
                "Verilator could not open the VCD file; check the directory exists and is writable"
            ),
            TraceError::AlreadyTraced => write!(
                f,
                "this model was already traced once; trace one window per model instance"
            ),
            TraceError::NotTraced => write!(
                f,
                "this model instance has no tracing code; create it with new_traced() to record a VCD"
            ),
        }
    }
}

impl std::error::Error for TraceError {}

/// What every generated model offers, for code generic over the model list
/// (port access by index into [`VerilatedModel::PORTS`]).
pub trait VerilatedModel {
    /// Name in `nic_hw::emit::models()`.
    const NAME: &'static str;
    /// Every port, in declaration order.
    const PORTS: &'static [PortInfo];
    /// A fresh instance.
    fn new() -> Self
    where
        Self: Sized;
    /// Evaluates after inputs changed.
    fn eval(&mut self);
    /// Drives input `port` from 32-bit words, least significant first.
    /// Panics if `port` is not an input.
    fn set_words(&mut self, port: usize, words: &[u32]);
    /// Reads `port` into 32-bit words, least significant first (zero-filled).
    fn get_words(&self, port: usize, words: &mut [u32]);
    /// Opens a VCD trace (see the generated `trace_open`).
    fn trace_open(&mut self, path: &std::path::Path, levels: i32) -> Result<(), TraceError>;
    /// Dumps values at time `t` (ps) if a trace is open.
    fn trace_dump(&mut self, t: u64);
    /// Closes the trace.
    fn trace_close(&mut self);

    /// Index of the port called `name`.
    fn port_index(name: &str) -> Option<usize> {
        Self::PORTS.iter().position(|p| p.name == name)
    }
    /// Drives a port up to 64 bits by index.
    fn set(&mut self, port: usize, value: u64) {
        self.set_words(port, &[value as u32, (value >> 32) as u32]);
    }
    /// Reads a port's low 64 bits by index.
    fn get(&self, port: usize) -> u64 {
        let mut w = [0u32; 2];
        self.get_words(port, &mut w);
        words_to_u64(&w)
    }
}

/// Low 64 bits of a little-endian word array.
#[doc(hidden)]
pub fn words_to_u64(words: &[u32]) -> u64 {
    let lo = words.first().copied().unwrap_or(0) as u64;
    let hi = words.get(1).copied().unwrap_or(0) as u64;
    lo | (hi << 32)
}

/// Spreads `v` over a little-endian word array (zero beyond 64 bits).
#[doc(hidden)]
pub fn u64_to_words(v: u64, words: &mut [u32]) {
    for (i, w) in words.iter_mut().enumerate() {
        *w = match i {
            0 => v as u32,
            1 => (v >> 32) as u32,
            _ => 0,
        };
    }
}

include!(concat!(env!("OUT_DIR"), "/models.rs"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_list_and_ports_come_from_the_rtl() {
        assert!(MODELS.contains(&"nic"));
        // The final port list of the NIC core (hw/src/nic.rs): spot-check both directions and widths.
        let find = |n: &str| NicModel::PORTS.iter().find(|p| p.name == n).copied();
        assert_eq!(
            find("clock").map(|p| (p.dir, p.width)),
            Some((PortDir::In, 1))
        );
        assert_eq!(
            find("m_axi_araddr").map(|p| (p.dir, p.width)),
            Some((PortDir::Out, 64))
        );
        assert_eq!(
            find("s_axil_awaddr").map(|p| (p.dir, p.width)),
            Some((PortDir::In, nic_abi::regs::AXIL_ADDR_BITS))
        );
        assert_eq!(find("s_axis_rx_tready").map(|p| p.dir), Some(PortDir::Out));
        assert_eq!(find("idle").map(|p| p.dir), Some(PortDir::Out));
    }

    #[test]
    fn inputs_read_back_masked_and_by_index() {
        let mut m = NicModel::new();
        // The register address port is AXIL_ADDR_BITS wide: the bits above are dropped.
        let bits = nic_abi::regs::AXIL_ADDR_BITS;
        m.set_s_axil_awaddr(0xffff_f123);
        assert_eq!(m.s_axil_awaddr(), 0xffff_f123 & ((1 << bits) - 1), "a {bits}-bit port keeps {bits} bits");
        m.set_s_axil_wdata(0xdead_beef);
        assert_eq!(m.s_axil_wdata(), 0xdead_beef);
        let i = NicModel::port_index("m_axi_rdata").expect("port exists");
        VerilatedModel::set(&mut m, i, 0x0123_4567_89ab_cdef);
        assert_eq!(m.m_axi_rdata(), 0x0123_4567_89ab_cdef);
        assert_eq!(VerilatedModel::get(&m, i), 0x0123_4567_89ab_cdef);
    }

    #[test]
    fn bulk_put_matches_port_setters() {
        let mut m = NicModel::new();
        let inp = NicIn {
            s_axil_araddr: 0x44,
            m_axi_rdata: u64::MAX,
            s_axis_rx_tkeep: 0x1ff,
            ..Default::default()
        };
        m.put(&inp);
        assert_eq!(m.s_axil_araddr(), 0x44);
        assert_eq!(m.m_axi_rdata(), u64::MAX);
        assert_eq!(m.s_axis_rx_tkeep(), 0xff, "masked to 8 bits");
    }

    #[test]
    fn clocking_by_hand_and_by_cycle_agree() {
        // Two instances, same stimulus: reset then free-run; outputs must match
        // cycle by cycle whichever way the clock is driven.
        let mut a = NicModel::new();
        let mut b = NicModel::new();
        let mut inp = NicIn::default();
        let mut out = NicOut::default();
        for c in 0..64u64 {
            inp.reset = u64::from(c < 4);
            a.cycle(&inp, &mut out, 2 * c, 2 * c + 1);
            b.put(&inp);
            b.set_clock(0);
            b.eval();
            let mut ob = NicOut::default();
            b.take(&mut ob);
            b.set_clock(1);
            b.eval();
            assert_eq!(out, ob, "cycle {c}");
        }
    }
}

#[cfg(test)]
mod selftest_tests {
    //! The generic bridge paths on the build's self-test model: ports wider
    //! than 64 bits (word arrays), a second model prefix in the same library.
    use super::selftest::{SelftestIn, SelftestModel, SelftestOut, PORTS};
    use super::*;

    #[test]
    fn wide_ports_move_as_words() {
        let wide = PORTS.iter().find(|p| p.name == "wide_in").unwrap();
        assert_eq!((wide.dir, wide.width), (PortDir::In, 96));
        let mut m = SelftestModel::new();
        m.set_wide_in(&[0x1111_1111, 0x2222_2222, 0x3333_3333]);
        let mut back = [0u32; 4];
        m.wide_in(&mut back);
        assert_eq!(
            back,
            [0x1111_1111, 0x2222_2222, 0x3333_3333, 0],
            "extra words read as zero"
        );
        let mut inp = SelftestIn::default();
        let mut out = SelftestOut::default();
        m.cycle(&inp, &mut out, 0, 1);
        let mut w = [0u32; 3];
        m.wide_out(&mut w);
        assert_eq!(w, [!0x1111_1111, !0x2222_2222, !0x3333_3333]);
        // 40-bit input, 41-bit output: a carry out of bit 39 survives.
        inp.narrow_in = 0xff_ffff_ffff;
        m.cycle(&inp, &mut out, 2, 3);
        assert_eq!(out.narrow_sum, 0x1ff_ffff_fffe);
        // By index, through the generic trait.
        let i = SelftestModel::port_index("wide_in").unwrap();
        m.set_words(i, &[5]);
        let mut w = [9u32; 3];
        m.get_words(i, &mut w);
        assert_eq!(w, [5, 0, 0], "missing words are driven as zero");
    }

    #[test]
    fn two_models_live_side_by_side() {
        let mut a = SelftestModel::new();
        let mut nic = NicModel::new();
        let (inp, mut out) = (
            SelftestIn {
                reset: 1,
                ..Default::default()
            },
            SelftestOut::default(),
        );
        a.cycle(&inp, &mut out, 0, 1);
        let inp = SelftestIn::default();
        for c in 0..10 {
            a.cycle(&inp, &mut out, 2 * c, 2 * c + 1);
            nic.cycle(&NicIn::default(), &mut NicOut::default(), 2 * c, 2 * c + 1);
        }
        assert_eq!(out.count, 9, "counter sampled before the 10th edge");
        assert!(
            !MODELS.contains(&"selftest"),
            "the self-test model is not one of the RTL's"
        );
    }
}
