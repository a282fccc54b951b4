//! Congestion control: `nic-tcp`'s algorithms ([`nic_tcp::cc`]) on the host's clock.
//!
//! The trait, NewReno and CUBIC live in the shared no_std crate so the firmware runs the same
//! window arithmetic; this module names them for the stack, whose time is [`Instant`].

use std::time::Instant;

pub use nic_tcp::cc::{initial_window, CcVars, CongSignal, CongestionControl, NewReno, ALGORITHMS};

/// CUBIC on the host's clock.
pub type Cubic = nic_tcp::cc::Cubic<Instant>;

/// An algorithm by name (`net.inet.tcp.cc.algorithm` / `TCP_CONGESTION`), or `None` for an unknown name.
pub fn by_name(name: &str) -> Option<Box<dyn CongestionControl<Instant>>> {
    nic_tcp::cc::by_name(name)
}
