//! Interface capability bits, FreeBSD `sys/net/if.h` layout.
//!
//! The NIC's capability register ([`crate::regs::id::CAPS`]) and its enable
//! register ([`crate::regs::ctrl::CAPENABLE`]) use exactly this layout, so the
//! driver copies them into `if_capabilities` / `if_capenable` unchanged.

/// Receive checksum offload (IPv4).
pub const IFCAP_RXCSUM: u32 = 1 << 0;
/// Transmit checksum offload (IPv4).
pub const IFCAP_TXCSUM: u32 = 1 << 1;
/// VLAN-sized frames.
pub const IFCAP_VLAN_MTU: u32 = 1 << 3;
/// Hardware VLAN tag insertion/stripping.
pub const IFCAP_VLAN_HWTAGGING: u32 = 1 << 4;
/// Jumbo frames.
pub const IFCAP_JUMBO_MTU: u32 = 1 << 5;
/// Checksum offload on VLAN-tagged frames.
pub const IFCAP_VLAN_HWCSUM: u32 = 1 << 7;
/// TCP segmentation offload over IPv4.
pub const IFCAP_TSO4: u32 = 1 << 8;
/// TCP segmentation offload over IPv6.
pub const IFCAP_TSO6: u32 = 1 << 9;
/// Large receive offload.
pub const IFCAP_LRO: u32 = 1 << 10;
/// TCP offload engine, IPv4.
pub const IFCAP_TOE4: u32 = 1 << 14;
/// TCP offload engine, IPv6.
pub const IFCAP_TOE6: u32 = 1 << 15;
/// VLAN filtering in hardware.
pub const IFCAP_VLAN_HWFILTER: u32 = 1 << 16;
/// TSO on VLAN-tagged frames.
pub const IFCAP_VLAN_HWTSO: u32 = 1 << 18;
/// Link state reporting.
pub const IFCAP_LINKSTATE: u32 = 1 << 19;
/// Receive checksum offload (IPv6).
pub const IFCAP_RXCSUM_IPV6: u32 = 1 << 21;
/// Transmit checksum offload (IPv6).
pub const IFCAP_TXCSUM_IPV6: u32 = 1 << 22;
/// Hardware statistics counters.
pub const IFCAP_HWSTATS: u32 = 1 << 23;
/// Hardware receive timestamps.
pub const IFCAP_HWRXTSTMP: u32 = 1 << 25;

/// Both IPv4 checksum directions.
pub const IFCAP_HWCSUM: u32 = IFCAP_RXCSUM | IFCAP_TXCSUM;
/// Both IPv6 checksum directions.
pub const IFCAP_HWCSUM_IPV6: u32 = IFCAP_RXCSUM_IPV6 | IFCAP_TXCSUM_IPV6;
/// Both TSO families.
pub const IFCAP_TSO: u32 = IFCAP_TSO4 | IFCAP_TSO6;
/// Both TOE families.
pub const IFCAP_TOE: u32 = IFCAP_TOE4 | IFCAP_TOE6;

/// Names as FreeBSD's ifconfig prints them in `options=<...>`, by bit.
pub const NAMES: &[(u32, &str)] = &[
    (IFCAP_RXCSUM, "RXCSUM"),
    (IFCAP_TXCSUM, "TXCSUM"),
    (1 << 2, "NETCONS"),
    (IFCAP_VLAN_MTU, "VLAN_MTU"),
    (IFCAP_VLAN_HWTAGGING, "VLAN_HWTAGGING"),
    (IFCAP_JUMBO_MTU, "JUMBO_MTU"),
    (1 << 6, "POLLING"),
    (IFCAP_VLAN_HWCSUM, "VLAN_HWCSUM"),
    (IFCAP_TSO4, "TSO4"),
    (IFCAP_TSO6, "TSO6"),
    (IFCAP_LRO, "LRO"),
    (1 << 11, "WOL_UCAST"),
    (1 << 12, "WOL_MCAST"),
    (1 << 13, "WOL_MAGIC"),
    (IFCAP_TOE4, "TOE4"),
    (IFCAP_TOE6, "TOE6"),
    (IFCAP_VLAN_HWFILTER, "VLAN_HWFILTER"),
    (IFCAP_VLAN_HWTSO, "VLAN_HWTSO"),
    (IFCAP_LINKSTATE, "LINKSTATE"),
    (1 << 20, "NETMAP"),
    (IFCAP_RXCSUM_IPV6, "RXCSUM_IPV6"),
    (IFCAP_TXCSUM_IPV6, "TXCSUM_IPV6"),
    (IFCAP_HWSTATS, "HWSTATS"),
    (1 << 24, "TXRTLMT"),
    (IFCAP_HWRXTSTMP, "HWRXTSTMP"),
];

/// The ifconfig name of one capability bit, if it has one.
pub fn name(bit: u32) -> Option<&'static str> {
    NAMES.iter().find(|(b, _)| *b == bit).map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_match_if_h() {
        assert_eq!(IFCAP_HWCSUM, 0x3);
        assert_eq!(IFCAP_HWCSUM_IPV6, 0x60_0000);
        assert_eq!(IFCAP_TSO, 0x300);
        assert_eq!(IFCAP_TOE, 0xc000);
        // The example line of offloads.md §2.
        let v = IFCAP_RXCSUM
            | IFCAP_TXCSUM
            | IFCAP_VLAN_MTU
            | IFCAP_VLAN_HWTAGGING
            | IFCAP_VLAN_HWCSUM
            | IFCAP_TSO4
            | IFCAP_TSO6
            | IFCAP_LRO
            | IFCAP_TOE4
            | IFCAP_RXCSUM_IPV6
            | IFCAP_TXCSUM_IPV6;
        assert_eq!(v, 0x60479b);
        assert_eq!(name(IFCAP_TOE4), Some("TOE4"));
    }
}
