//! The protocol layers: Ethernet (with 802.1Q), IPv4, IPv6, UDP, TCP.
//!
//! Output follows FreeBSD: the transport layer always asks for its checksum
//! (`CSUM_IP_UDP`, …, with the pseudo-header sum seeded into the checksum
//! field and `csum_data` the field's offset); `ip_output` / `ip6_output` then
//! compare the request with `if_hwassist` and compute in software ("delayed"
//! checksums) whatever the interface will not, clearing those bits. The wire
//! bytes are therefore the same with or without offload.
//!
//! Input trusts the NIC only as far as its flags say (`CSUM_L3_CALC` /
//! `CSUM_L3_VALID` for the IPv4 header, `CSUM_DATA_VALID|CSUM_PSEUDO_HDR` with
//! `csum_data` 0xffff for L4) and verifies everything else in software; bad
//! checksums are counted per protocol under FreeBSD's statistic names.
//!
//! Files, bottom up (each imports only from files above it in this list):
//! `error`, `stats`, `protosw` (what layers hand each other), `in_cksum`,
//! `ether`, `ipv4`, `ipv6`, `udp`, `tcp`, `gso`, `arp`, `icmp`, `icmp6`,
//! `neigh`, `rss`, and `input` (the receive dispatch, FreeBSD's `ether_demux`
//! and `ip_input`'s protocol switch) on top. Output calls only downward
//! (`tcp`/`udp` → `ipv4`/`ipv6`) and ends at the IP packet: the link header
//! (`ether::ether_output`) is prepended by the stack once it has resolved the
//! next hop, as FreeBSD's `ether_output` does after `arpresolve`, so a frame's
//! destination is written once. Input climbs only through `input`.
//!
//! Header views are `smoltcp::wire` packets (typed accessors over bytes);
//! every length is checked before a view is made, so no input can panic.
//! Checksum arithmetic is `nic_abi::cksum`, the same code the reference
//! models use.

pub mod arp;
mod error;
pub mod ether;
pub mod gso;
pub mod icmp;
pub mod icmp6;
mod in_cksum;
pub mod input;
pub mod ip_reass;
pub mod ipv4;
pub mod ipv6;
pub mod neigh;
mod protosw;
pub mod rss;
mod stats;
pub mod tcp;
pub mod udp;

/// Protocol numbers as smoltcp names them (re-exported: [`Ipv6Ext`] and the output functions take them).
pub use smoltcp::wire::IpProtocol;

pub(crate) use error::need;
pub use error::{DropReason, OutputError, ParseError};
pub use ether::{ether_output, LinkOut};
pub use input::{ether_demux, ether_input, Input};
pub use ipv4::{finish_in_software, ip_input, ip_output, Ipv4Out};
pub use ipv6::{ip6_input, ip6_output, Ipv6Ext, Ipv6Out};
pub use protosw::{IpDatagram, IpIn, TcpSegment, UdpDatagram, L3};
pub use stats::{CsumStats, EtherStats, Ip6Stats, IpStats, NetStats, TcpStats, UdpStats};
pub use tcp::{tcp_output_segment, tcp_output_tso, tcp_parse_input};
pub use udp::{udp_input, udp_output, IpOut};
