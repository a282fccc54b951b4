//! The driver: attach, rings, doorbells, completions. Mbufs in and out.
//!
//! Written once over [`Device`]; it runs unchanged on the Verilator model and
//! on VFIO. Every section of the init sequence names the block of the
//! register map (`nic_abi::regs`) it follows. Ownership: each ring slot owns
//! one DMA buffer for the driver's lifetime (frames are copied in on TX and
//! out on RX), so whatever the device writes, no buffer is lost and none is
//! handed up with a length the device made up.
//!
//! Queue pairs (ABI 2.0): the driver attaches every queue pair the ID block's
//! `NUM_QUEUES` reports (or fewer, [`DriverConfig::queues`]), each with its own
//! TX ring, RX ring, completion queues, doorbells, counters and locks, and
//! spreads received flows over them with RSS ([`Driver::rss`]). One worker
//! thread per queue drives it through [`Driver::queue`]; nothing a queue's
//! worker does waits for another queue's. Every method takes `&self`, so an
//! `Arc<Driver>` is shared by workers, senders and the control plane; never
//! call back into the stack from inside the driver.
//!
//! The single-queue calls of the first ABI remain, meaning "queue 0" for
//! transmit ([`Driver::tx`], [`Driver::tx_batch`]) and "every queue" for
//! receive, reclaim and waits ([`Driver::rx_burst`], [`Driver::poll`],
//! [`Driver::tx_reclaim`], [`Driver::wait`]), for tools that drive one NIC
//! from one thread. Every wait, the driver's and a queue's, goes through one
//! path (`wait_vector` / `end_wait`).
//!
//! Files, bottom up (each imports only from files below it; this one only
//! declares and re-exports): `error`, `counters`, `cpl` (completion
//! validation), `ring`, `irq` (interrupt vectors), `tx_check` (the NIC's
//! transmit rules), `idblock` (the ID block), `rss` (the RSS shadow and its
//! registers), `qpair` (a queue pair's rings and the work on them, over the
//! `QueueHost` trait), `if_ofld` (the `Driver` and its calls), then `attach`
//! (the init sequence), `queue` (the per-queue handle workers use) and
//! `rss_ctl` (RSS changes at run time).

mod attach;
mod counters;
mod cpl;
mod error;
mod idblock;
mod if_ofld;
mod irq;
mod qpair;
mod queue;
mod ring;
mod rss;
mod rss_ctl;
mod tx_check;

pub use idblock::{DeviceInfo, RegBlock};
pub use if_ofld::{Driver, DriverConfig, ShutdownReport};
pub use counters::{Counters, PollResult};
pub use cpl::{validate, CompletionError, Dir, Expect, Valid};
pub use error::{Error, TxError, TxReject};
pub use tx_check::{check_tso, check_tx, TsoLimits};
pub use queue::{Queue, TxProgress};
pub use rss::{key_hex, parse_key, parse_reta, parse_types, type_names, RssConfig};
