//! Receive-side scaling: what the NIC hashes, the values it reports, and how
//! a hash picks a queue (offloads.md §1 and §6; FreeBSD `sys/sys/mbuf.h`
//! `M_HASHTYPE_*` and `sys/net/rss_config.h` `RSS_HASHTYPE_*`).
//!
//! What a received frame hashes (the RX completion's `flowid` and `rsstype`):
//!
//! | frame | input | `rsstype` |
//! |---|---|---|
//! | IPv4 TCP, not a fragment | src dst sport dport | `RSS_TCP_IPV4` |
//! | IPv4 UDP, not a fragment | src dst sport dport | `RSS_UDP_IPV4` |
//! | other IPv4, and every IPv4 fragment (first or not) | src dst | `RSS_IPV4` |
//! | IPv6 TCP / UDP, not a fragment | src dst sport dport | `RSS_TCP_IPV6` / `RSS_UDP_IPV6` |
//! | other IPv6, and every IPv6 fragment | src dst | `RSS_IPV6` |
//! | not IP (ARP, LLDP, …), or IP with a header the parser cannot read | nothing | `NONE`, queue 0 |
//!
//! Fragments hash by their addresses only, so all fragments of a datagram,
//! first and later ones alike, land on one queue where they can be reassembled.
//! The ports are taken from the first 64 bytes of the frame: an IPv4 header
//! with options that push the ports past byte 64 (over 20 bytes of options
//! behind an 802.1Q tag), or IPv6 extension headers that do, hash as the
//! 2-tuple. The addresses are the ones in the header as received (the
//! `_EX` types, which substitute a home address or a routing header's final
//! destination, are not computed). With a type disabled in `regs::rss::HASHTYPES`
//! a frame falls back to its family's 2-tuple type if that is enabled, else
//! it gets no hash and goes to queue 0.

/// Key length in bytes (FreeBSD's `RSS_KEYSIZE`).
pub const KEY_SIZE: usize = 40;
/// Indirection-table entries (FreeBSD's `RSS_TABLE_MAXLEN`); a hash `h` uses entry `h & (RETA_SIZE - 1)`.
pub const RETA_SIZE: usize = 128;

/// The key the NIC resets to: the one published with the verification vectors (offloads.md §6).
pub const KEY_DEFAULT: [u8; KEY_SIZE] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b,
    0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac,
    0x01, 0xfa,
];

/// `rsstype` values (FreeBSD `M_HASHTYPE_*`), what `flowid` is a hash of.
pub mod hashtype {
    /// No hash: `flowid` means nothing.
    pub const NONE: u8 = 0;
    /// Toeplitz over the IPv4 addresses.
    pub const RSS_IPV4: u8 = 0x81;
    /// Toeplitz over the IPv4 addresses and TCP ports.
    pub const RSS_TCP_IPV4: u8 = 0x82;
    /// Toeplitz over the IPv6 addresses.
    pub const RSS_IPV6: u8 = 0x83;
    /// Toeplitz over the IPv6 addresses and TCP ports.
    pub const RSS_TCP_IPV6: u8 = 0x84;
    /// IPv6 2-tuple with extension-header substitutions (never produced by this NIC).
    pub const RSS_IPV6_EX: u8 = 0x85;
    /// IPv6 TCP 4-tuple with extension-header substitutions (never produced by this NIC).
    pub const RSS_TCP_IPV6_EX: u8 = 0x86;
    /// Toeplitz over the IPv4 addresses and UDP ports.
    pub const RSS_UDP_IPV4: u8 = 0x87;
    /// Toeplitz over the IPv6 addresses and UDP ports.
    pub const RSS_UDP_IPV6: u8 = 0x89;
    /// IPv6 UDP 4-tuple with extension-header substitutions (never produced by this NIC).
    pub const RSS_UDP_IPV6_EX: u8 = 0x8a;
    /// A hash of the device's own making (software uses it for flows it hashed itself).
    pub const OPAQUE: u8 = 0x3f;

    /// FreeBSD's name without the `M_HASHTYPE_` prefix (`"RSS_TCP_IPV4"`), `None` for other values.
    pub const fn name(t: u8) -> Option<&'static str> {
        Some(match t {
            NONE => "NONE",
            RSS_IPV4 => "RSS_IPV4",
            RSS_TCP_IPV4 => "RSS_TCP_IPV4",
            RSS_IPV6 => "RSS_IPV6",
            RSS_TCP_IPV6 => "RSS_TCP_IPV6",
            RSS_IPV6_EX => "RSS_IPV6_EX",
            RSS_TCP_IPV6_EX => "RSS_TCP_IPV6_EX",
            RSS_UDP_IPV4 => "RSS_UDP_IPV4",
            RSS_UDP_IPV6 => "RSS_UDP_IPV6",
            RSS_UDP_IPV6_EX => "RSS_UDP_IPV6_EX",
            OPAQUE => "OPAQUE",
            _ => return None,
        })
    }
}

/// Bits of `regs::rss::HASHTYPES` and `regs::id::RSS_HASHTYPES` (FreeBSD `RSS_HASHTYPE_*`).
pub mod enable {
    /// IPv4 2-tuple.
    pub const RSS_IPV4: u32 = 1 << 1;
    /// IPv4 TCP 4-tuple.
    pub const RSS_TCP_IPV4: u32 = 1 << 2;
    /// IPv6 2-tuple.
    pub const RSS_IPV6: u32 = 1 << 3;
    /// IPv6 TCP 4-tuple.
    pub const RSS_TCP_IPV6: u32 = 1 << 4;
    /// IPv4 UDP 4-tuple.
    pub const RSS_UDP_IPV4: u32 = 1 << 7;
    /// IPv6 UDP 4-tuple.
    pub const RSS_UDP_IPV6: u32 = 1 << 9;

    /// Every type, with its name as `nicctl rss` spells it.
    pub const ALL: &[(u32, &str)] = &[
        (RSS_IPV4, "ipv4"),
        (RSS_TCP_IPV4, "tcp4"),
        (RSS_UDP_IPV4, "udp4"),
        (RSS_IPV6, "ipv6"),
        (RSS_TCP_IPV6, "tcp6"),
        (RSS_UDP_IPV6, "udp6"),
    ];
}

/// The hash types this NIC computes (the `_EX` ones are not).
pub const HASHTYPES_SUPPORTED: u32 = enable::RSS_IPV4
    | enable::RSS_TCP_IPV4
    | enable::RSS_IPV6
    | enable::RSS_TCP_IPV6
    | enable::RSS_UDP_IPV4
    | enable::RSS_UDP_IPV6;

/// The reset indirection table's entry `i` for a build with `num_queues` queue pairs.
pub const fn reta_default(i: usize, num_queues: u32) -> u8 {
    (i as u32 % num_queues) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_freebsd() {
        assert_eq!(hashtype::name(0x82), Some("RSS_TCP_IPV4"));
        assert_eq!(hashtype::name(0x89), Some("RSS_UDP_IPV6"));
        assert_eq!(hashtype::name(0x88), None, "0x88 is unassigned (UDP_IPV4_EX has no M_HASHTYPE)");
        assert_eq!(HASHTYPES_SUPPORTED, 0x29e);
    }
}
