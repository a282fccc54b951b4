//! `nic-testbench`: what exercises the product (`nic-host`) without being part
//! of it — the demo's and the tests' scaffolding, kept out of the library as
//! smoltcp keeps its fuzzers and examples out of its own.
//!
//! ```text
//! sim.rs      a driver on a simulated NIC, sized for a stack, and its cycle clock
//! replay.rs   frames through the co-simulated NIC (nicctl replay/demo, tests)
//! traffic.rs  traffic mixes with every header variant (etherparse-built)
//! cable.rs    two stacks on two simulated NICs joined by a cable (demo, bench)
//! tapnic.rs   the stack on a simulated NIC whose wire is a Linux TAP
//! ```
//!
//! Contract: it reaches the product only through `nic-host`'s public API, as
//! any application would; nothing here is linked into `nic-host`.

#![warn(missing_docs)]

pub mod cable;
pub mod replay;
pub mod sim;
#[cfg(target_os = "linux")]
pub mod tapnic;
pub mod traffic;

/// One simulation at a time within a test binary: a clock thread is busy while traffic
/// flows, and several of them on a two-core machine starve each other's workers.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}
