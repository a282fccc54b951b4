//! The TCP/IP stack over the driver: interfaces, neighbours, ICMP, TCP
//! connections and sockets, modelled on FreeBSD.
//!
//! Contract and invariants (the lifecycle lessons the seeds teach):
//! - **Interfaces are referred to by index and generation** ([`IfRef`](crate::mbuf::IfRef)), never
//!   by pointer. Connections keep the `IfRef` of their route; a lookup that
//!   finds the index empty or reused is a departed interface, and the
//!   connection ends with `ENETDOWN`. [`Stack::detach`] takes the interface
//!   out of the table first, stops all its workers, frees everything queued
//!   for it (every transmit queue, frames held for address resolution; frames
//!   that arrive for it later are freed on the spot), counting each, aborts
//!   its connections, and only then shuts the driver down, so nothing it
//!   owned outlives it.
//! - **No lock is held across a send.** Protocol state (a connection's
//!   `Tcb`, a neighbour cache) is locked to decide what to send, unlocked,
//!   and only then are frames handed to the driver, whose own lock never
//!   calls back into the stack.
//! - **Connection lookup is sharded by the flow hash** (the Toeplitz hash of
//!   the tuple as it arrives, under the default key): a segment takes only
//!   its shard's lock; listening sockets are found from every shard in their
//!   own table.
//! - **Offloads follow the interface**: segments ask for checksums and TSO,
//!   `ip_output` leaves to the NIC what `if_hwassist` takes and computes the
//!   rest; a TSO burst becomes software segments (GSO) when TSO is off.
//!   Received checksums are trusted as far as the NIC marked them.
//! - **One worker thread per queue pair** (FreeBSD's per-queue taskqueue):
//!   worker `q` sleeps on its queue's interrupt vector, takes the frames RSS
//!   steered to RX queue `q`, reclaims and refills TX queue `q`, and runs the
//!   timers of the connection-table shards `s` with `s % queues == q` (so the
//!   workers together scan each connection once per tick, not once each);
//!   worker 0 also ages the neighbour caches. No lock of the interface or the
//!   driver is common to two workers. Applications send from their own
//!   threads.
//! - **A connection transmits on the queue pair it receives on**: its TX
//!   queue is the RX queue the NIC's RSS gives its packets (the Toeplitz hash
//!   of the tuple as it *arrives*, remote as source, looked up in the driver's
//!   shadow of the indirection table: [`crate::driver::RssConfig`]), so its
//!   frames stay in order on one ring. Frames that belong to no connection
//!   (ARP, neighbour discovery, ICMP, UDP) go on queue 0 unless they carry a
//!   hash.
//! - **Ordering when RSS changes** (key, types or table, at run time): a
//!   connection notices the new RSS generation the next time it sends and
//!   recomputes its queue. If the queue changes, before its next frame is
//!   queued on the new one the stack waits (holding only that connection's
//!   send order) until every frame the connection queued on the old TX queue
//!   has left the software queue and the NIC has completed every packet posted
//!   to the old ring up to then. The NIC writes a TX completion only once the
//!   packet's frames have left its output stage (ABI 2.0), so the connection's
//!   frames reach the wire in the order it sent them. The
//!   wait is bounded (a stalled NIC is counted in `txq_move_timeouts` and the
//!   frame goes out anyway). Frames held for address resolution are queued,
//!   when resolved, on the queue the table names then. On receive, frames in
//!   flight during the switch may arrive on the old queue after newer ones on
//!   the new queue; TCP tolerates that reordering, and it can only affect
//!   frames already in flight.
//!
//! Files, by the data they own (FreeBSD's split; nothing below imports from above):
//!
//! ```text
//! clock       where protocol timers read "now" (the seam a co-simulation points at its clock)
//! hostcache   path MTUs per host
//! iface       interfaces (if.c): addresses, neighbour caches, transmit queues
//! route       routes and what a path allows (route.c)
//! in_pcb      control blocks and their lookup (in_pcb.c, inpcbinfo), netstat rows
//! vnet        one stack instance: configuration, counters, the tables above
//! ifq         transmit queues in front of the rings (buf_ring)
//! if_output   link output with ARP/ND resolution; ICMP, ICMPv6 and ND output
//! tcp_output  a connection's segments to frames on its TX queue
//! tcp_input   demultiplexing to connections and listeners; passive open
//! tcp_timer   the workers' timer scan
//! input       the queue workers and link/IP/ARP/ICMP input
//! attach      if_attach / if_detach
//! socket, udp the socket API
//! tcp_offload the toedev seam (empty until the NIC has a TCP engine)
//! ```
//!
//! The connection itself — `Tcb`, FreeBSD's `tcpcb`, with its `tcp_input`,
//! `tcp_output`, `tcp_timer` and `tcp_reass` halves and congestion control —
//! is `nic-tcp`'s, shared with the firmware: pure state, no I/O, no clock.
//! The `tcp_*` files here are the halves FreeBSD keeps beside it that need
//! the stack (lookup, frames, queues, the timer scan).
//!
//! Time comes from one place, the stack's [`Clock`] (`clock.rs`): by default
//! the wall clock, since the peer across a TAP is a real kernel whose timers
//! run on the same clock, so RTTs and RTOs are measured as it sees them (the
//! simulated NIC's slowness is part of the path).
//!
//! Received IPv4 and IPv6 fragments are reassembled (`net::ip_reass`, bounded
//! in datagrams, bytes, fragments and time); the stack never sends any, and
//! path-MTU discovery keeps peers from needing to.

mod attach;
pub mod clock;
pub mod hostcache;
mod if_output;
mod iface;
mod ifq;
mod in_pcb;
mod input;
#[cfg(all(test, feature = "sim"))]
mod mq_tests;
mod route;
pub mod socket;
mod tcp_input;
mod tcp_offload;
mod tcp_output;
mod tcp_timer;
pub mod udp;
mod vnet;

pub use clock::{Clock, WallClock};
pub use iface::{link_local, IfAddrs};
pub use in_pcb::ConnRow;
pub use socket::{TcpListener, TcpStream};
pub use nic_tcp::{TcbConfig, TcpError, TcpInfo, TcpState};
pub use udp::UdpSocket;
pub use vnet::{DetachReport, Stack, StackConfig, StackCounters, StackError};
