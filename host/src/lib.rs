//! `nic-host`: everything on the host side of the NIC.
//!
//! Layers, bottom up (the folders show them):
//!
//! ```text
//! dev/      Device trait (register I/O, DMA memory, interrupts) and DmaRegion.
//!           Backends (Verilator model, VFIO) implement the trait; the driver
//!           never knows which one it runs on.
//! driver/   attach, rings, doorbells, completions: Mbuf <-> descriptors, for
//!           every queue pair (one lock per ring, one worker per queue), and
//!           RSS control (key, hash types, indirection table and its shadow).
//! mbuf.rs   packets with a FreeBSD packet header (offload state travels here).
//! ifnet.rs  interface capabilities, if_hwassist, the ifconfig rules.
//! net/      ether, ipv4, ipv6, udp, tcp: output with delayed checksums, input
//!           that trusts or verifies what the NIC reported.
//! offload.rs  TSO or GSO for a burst, re-seeding raw frames for offload, and
//!           the software result a NIC must reproduce byte for byte.
//! stack/    the TCP/IP stack over the driver, split by data as FreeBSD's is
//!           (iface, route, in_pcb, ifq, if_output, input, tcp_input,
//!           tcp_output, tcp_timer, tcp_reass, tcp_offload, socket, udp):
//!           interfaces by index and generation, one worker per queue pair,
//!           ARP/ND, ICMP, TCP connections on the queue pair RSS gives them,
//!           and sockets; what `nicctl up` runs and tools reach through ctl.rs.
//! ctl.rs    the control socket: requests from nicctl nc/iperf to a running stack.
//! ```
//!
//! The test bench (pcap replay, traffic mixes, cable pairs, the TAP NIC) and
//! `nicctl` are crates of their own under `tools/`; TCP's pure arithmetic is
//! `nic-tcp`, shared with the firmware.
//!
//! Contract and invariants:
//! - every number of the NIC's ABI (registers and their fields, descriptor
//!   layouts, CSUM_*, IFCAP_*, status codes, clock, limits, checksum
//!   arithmetic) comes from `nic-abi`; this crate never writes one down again;
//! - no import circle inside `stack/` and `dev/`: each file imports only from
//!   files below it (see `stack`'s module docs for the order);
//! - nothing a device or a peer writes can make this crate panic: completions
//!   are validated field by field before use, packets are bounds-checked
//!   before any field is read, and a rejected record is counted and reported
//!   with an error that names what was wrong;
//! - memory the device writes is never viewed through a Rust reference: it is
//!   copied out through raw pointers with atomic accesses and fences
//!   ([`dev::DmaRegion`]);
//! - the bytes that reach the wire are the same whether a checksum is
//!   offloaded or computed in software (the "delayed" checksum path), which
//!   is what lets tests compare the hardware against the software.

#![warn(missing_docs)]

pub mod dev;
pub mod driver;
pub mod ifnet;
pub mod mbuf;
pub mod net;
pub mod offload;
pub mod stack;
mod sync;
#[cfg(unix)]
pub mod ctl;

pub use dev::{DevError, Device, DmaBuf, DmaRegion};
pub use driver::{Driver, DriverConfig};
pub use ifnet::Ifnet;
pub use mbuf::{IfRef, Mbuf, PktHdr};
