//! `nic-tcp`: the parts of TCP that are arithmetic and state, not I/O —
//! shared by the host stack (`nic-host`) and the NIC's embedded firmware.
//!
//! ```text
//! seq      sequence-number comparisons modulo 2^32 (RFC 9293 §3.4)
//! repr     one segment representation, in and out, options already parsed
//! options  the option codec: MSS, window scale, SACK-permitted, timestamps
//! rto      the retransmission-timeout estimator of RFC 6298
//! cc       congestion control: the `CongestionControl` trait, NewReno, CUBIC
//! time     the one time type every function that needs "now" is given
//! var      the connection's types (tcp_var.h): states, errors, tunables, segments out
//! tcb      the connection (tcpcb) and its user requests (tcp_usrreq.c)
//! input    segment arrival (tcp_input.c, after the lookup)
//! output   what to send now (tcp_output.c, before the wire), TSO sizing
//! timer    retransmit, persist, delayed ACK, 2·MSL (tcp_timer.c)
//! reass    out-of-order data (tcp_reass.c)
//! ```
//!
//! Contract and invariants:
//! - `no_std`; `alloc` for the connection's buffers and its boxed
//!   congestion-control algorithm. No floating point (the firmware's RV32I
//!   core has no FPU): CUBIC runs in fixed point.
//! - No clock of its own: every function that needs the time is given it, as
//!   a [`time::Instant`] (nanoseconds since the caller's origin), so the same
//!   code runs on the host's wall clock, a simulator's cycles or the
//!   firmware's ticks.
//! - No I/O: a [`Tcb`] takes segments ([`TcpRepr`]) and returns the segments
//!   to send ([`var::SegOut`]); sockets, connection lookup, routing and the
//!   wire are the caller's.
//! - Nothing a peer sends can make it panic: the option parser stops at the
//!   first malformed option and keeps what it found before, and the state
//!   machine answers anything unacceptable with an ACK, a RST or silence.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod cc;
pub mod input;
pub mod options;
pub mod output;
pub mod reass;
pub mod repr;
pub mod rto;
pub mod seq;
pub mod tcb;
#[cfg(test)]
mod tcb_tests;
pub mod time;
pub mod timer;
pub mod var;

pub use options::TcpOptions;
pub use repr::TcpRepr;
pub use rto::RttEstimator;
pub use tcb::Tcb;
pub use time::Instant;
pub use var::{PathInfo, SegIn, SegOut, TcbConfig, TcbStats, TcpError, TcpInfo, TcpState};
