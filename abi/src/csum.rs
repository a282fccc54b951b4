//! FreeBSD `csum_flags` values (`sys/sys/mbuf.h`), bit for bit.
//!
//! Transmit requests double as the bits of `if_hwassist`; receive results are
//! what the NIC writes into a completion's `csum_flags`.

/// IPv4 header checksum.
pub const CSUM_IP: u32 = 0x0000_0001;
/// UDP over IPv4.
pub const CSUM_IP_UDP: u32 = 0x0000_0002;
/// TCP over IPv4.
pub const CSUM_IP_TCP: u32 = 0x0000_0004;
/// SCTP over IPv4 (not offered by this NIC).
pub const CSUM_IP_SCTP: u32 = 0x0000_0008;
/// TCP segmentation over IPv4.
pub const CSUM_IP_TSO: u32 = 0x0000_0010;
/// iSCSI over IPv4 (not offered by this NIC).
pub const CSUM_IP_ISCSI: u32 = 0x0000_0020;
/// UDP over IPv6.
pub const CSUM_IP6_UDP: u32 = 0x0000_0200;
/// TCP over IPv6.
pub const CSUM_IP6_TCP: u32 = 0x0000_0400;
/// SCTP over IPv6 (not offered by this NIC).
pub const CSUM_IP6_SCTP: u32 = 0x0000_0800;
/// TCP segmentation over IPv6.
pub const CSUM_IP6_TSO: u32 = 0x0000_1000;
/// iSCSI over IPv6 (not offered by this NIC).
pub const CSUM_IP6_ISCSI: u32 = 0x0000_2000;

/// Receive: the L3 (IPv4 header) checksum was computed.
pub const CSUM_L3_CALC: u32 = 0x0100_0000;
/// Receive: the L3 checksum was correct.
pub const CSUM_L3_VALID: u32 = 0x0200_0000;
/// Receive: the L4 checksum was computed (pseudo-header included).
pub const CSUM_L4_CALC: u32 = 0x0400_0000;
/// Receive: the L4 checksum was correct; `csum_data` is then 0xffff.
pub const CSUM_L4_VALID: u32 = 0x0800_0000;
/// Receive: L5 checksum computed (unused here).
pub const CSUM_L5_CALC: u32 = 0x1000_0000;
/// Receive: L5 checksum correct (unused here).
pub const CSUM_L5_VALID: u32 = 0x2000_0000;
/// Receive: the frame was coalesced (LRO; unused here).
pub const CSUM_COALESCED: u32 = 0x4000_0000;

/// Legacy alias most stack code uses.
pub const CSUM_IP_CHECKED: u32 = CSUM_L3_CALC;
/// Legacy alias.
pub const CSUM_IP_VALID: u32 = CSUM_L3_VALID;
/// Legacy alias: the pseudo-header was included in `csum_data`.
pub const CSUM_PSEUDO_HDR: u32 = CSUM_L4_CALC;
/// Legacy alias: `csum_data` holds a valid L4 sum.
pub const CSUM_DATA_VALID: u32 = CSUM_L4_VALID;
/// Legacy alias (IPv6 shares the bit).
pub const CSUM_DATA_VALID_IPV6: u32 = CSUM_L4_VALID;
/// Legacy alias.
pub const CSUM_TCP: u32 = CSUM_IP_TCP;
/// Legacy alias.
pub const CSUM_UDP: u32 = CSUM_IP_UDP;
/// Legacy alias.
pub const CSUM_TCP_IPV6: u32 = CSUM_IP6_TCP;
/// Legacy alias.
pub const CSUM_UDP_IPV6: u32 = CSUM_IP6_UDP;
/// The L4 checksums over IPv4 the stack may leave to later ("delayed").
pub const CSUM_DELAY_DATA: u32 = CSUM_IP_TCP | CSUM_IP_UDP;
/// The L4 checksums over IPv6 the stack may leave to later.
pub const CSUM_DELAY_DATA_IPV6: u32 = CSUM_IP6_TCP | CSUM_IP6_UDP;
/// The IPv4 header checksum left to later.
pub const CSUM_DELAY_IP: u32 = CSUM_IP;
/// The stack sets both TSO bits on every TSO packet, v4 or v6.
pub const CSUM_TSO: u32 = CSUM_IP_TSO | CSUM_IP6_TSO;

/// Transmit requests this NIC's checksum engine accepts in a descriptor.
pub const TX_SUPPORTED: u32 = CSUM_IP | CSUM_IP_UDP | CSUM_IP_TCP | CSUM_IP6_UDP | CSUM_IP6_TCP | CSUM_TSO;
/// Receive result bits the NIC may report; anything else in a completion is device garbage.
pub const RX_RESULT_MASK: u32 = CSUM_L3_CALC | CSUM_L3_VALID | CSUM_L4_CALC | CSUM_L4_VALID;

/// Offset of the checksum field from the start of the L4 header (FreeBSD's `csum_data` on transmit).
pub const TCP_CSUM_OFFSET: u16 = 16;
/// Offset of the UDP checksum field from the start of the UDP header.
pub const UDP_CSUM_OFFSET: u16 = 6;

/// Every named flag with its FreeBSD name, for reports and debugging output.
pub const NAMES: &[(u32, &str)] = &[
    (CSUM_IP, "CSUM_IP"),
    (CSUM_IP_UDP, "CSUM_IP_UDP"),
    (CSUM_IP_TCP, "CSUM_IP_TCP"),
    (CSUM_IP_SCTP, "CSUM_IP_SCTP"),
    (CSUM_IP_TSO, "CSUM_IP_TSO"),
    (CSUM_IP_ISCSI, "CSUM_IP_ISCSI"),
    (CSUM_IP6_UDP, "CSUM_IP6_UDP"),
    (CSUM_IP6_TCP, "CSUM_IP6_TCP"),
    (CSUM_IP6_SCTP, "CSUM_IP6_SCTP"),
    (CSUM_IP6_TSO, "CSUM_IP6_TSO"),
    (CSUM_IP6_ISCSI, "CSUM_IP6_ISCSI"),
    (CSUM_L3_CALC, "CSUM_L3_CALC"),
    (CSUM_L3_VALID, "CSUM_L3_VALID"),
    (CSUM_L4_CALC, "CSUM_L4_CALC"),
    (CSUM_L4_VALID, "CSUM_L4_VALID"),
    (CSUM_L5_CALC, "CSUM_L5_CALC"),
    (CSUM_L5_VALID, "CSUM_L5_VALID"),
    (CSUM_COALESCED, "CSUM_COALESCED"),
];

/// The FreeBSD names of the bits set in `flags`, lowest bit first; unnamed bits are skipped.
pub fn names(flags: u32) -> impl Iterator<Item = &'static str> {
    NAMES.iter().filter(move |(bit, _)| flags & bit != 0).map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_match_freebsd() {
        assert_eq!(CSUM_DELAY_DATA, 0x6);
        assert_eq!(CSUM_DELAY_DATA_IPV6, 0x600);
        assert_eq!(CSUM_TSO, 0x1010);
        assert_eq!(CSUM_DATA_VALID | CSUM_PSEUDO_HDR, 0x0c00_0000);
    }

    #[test]
    fn names_are_unique_single_bits() {
        for (i, (a, _)) in NAMES.iter().enumerate() {
            assert_eq!(a.count_ones(), 1);
            for (b, _) in &NAMES[i + 1..] {
                assert_ne!(a, b);
            }
        }
        let v: heapless_names::Names = names(CSUM_L3_CALC | CSUM_L4_VALID).collect();
        assert_eq!(v.0[..v.1], ["CSUM_L3_CALC", "CSUM_L4_VALID"]);
    }

    mod heapless_names {
        pub struct Names(pub [&'static str; 8], pub usize);
        impl FromIterator<&'static str> for Names {
            fn from_iter<I: IntoIterator<Item = &'static str>>(it: I) -> Self {
                let mut n = Names([""; 8], 0);
                for s in it {
                    n.0[n.1] = s;
                    n.1 += 1;
                }
                n
            }
        }
    }
}
