//! `nic-tcp`: the parts of TCP that are arithmetic, not I/O — shared by the
//! host stack (`nic-host`) and the NIC's embedded firmware.
//!
//! ```text
//! seq      sequence-number comparisons modulo 2^32 (RFC 9293 §3.4)
//! repr     one segment representation, in and out, options already parsed
//! options  the option codec: MSS, window scale, SACK-permitted, timestamps
//! rto      the retransmission-timeout estimator of RFC 6298
//! cc       congestion control: the `CongestionControl` trait, NewReno, CUBIC
//! time     the one thing this crate needs from a clock (`Timestamp`)
//! ```
//!
//! Contract and invariants:
//! - `no_std`; `alloc` only to box a congestion-control algorithm chosen by
//!   name. No floating point (the firmware's RV32I core has no FPU): CUBIC
//!   runs in fixed point.
//! - No clock of its own: every function that needs the time is given it, as
//!   any type implementing [`time::Timestamp`] (`std::time::Instant` on the
//!   host with feature `std`, a `Duration` since boot in firmware).
//! - Nothing a peer sends can make it panic: the option parser stops at the
//!   first malformed option and keeps what it found before.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod cc;
pub mod options;
pub mod repr;
pub mod rto;
pub mod seq;
pub mod time;

pub use options::TcpOptions;
pub use repr::TcpRepr;
pub use rto::RttEstimator;
pub use time::Timestamp;
