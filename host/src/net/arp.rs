//! ARP for Ethernet and IPv4 (RFC 826): the wire format only.
//!
//! The stack resolves IPv4 next hops with this and [`super::neigh`]; which
//! packets to answer and which to learn from (FreeBSD `in_arpinput`) is the
//! stack's policy, so this file parses, builds and refuses what can never be
//! right (other hardware or protocol types, a multicast sender address that
//! would poison the neighbour cache).

use std::net::Ipv4Addr;

use super::error::{need, ParseError};

/// `ETHERTYPE_ARP`.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// `ARPHRD_ETHER`: hardware type Ethernet.
pub const ARPHRD_ETHER: u16 = 1;
/// Protocol type IPv4 (the IPv4 ethertype).
pub const ARP_PTYPE_IP: u16 = 0x0800;
/// `ARPOP_REQUEST`.
pub const ARPOP_REQUEST: u16 = 1;
/// `ARPOP_REPLY`.
pub const ARPOP_REPLY: u16 = 2;
/// Length of an Ethernet/IPv4 ARP packet (frames pad it to the Ethernet minimum).
pub const ARP_LEN: usize = 28;

/// An Ethernet/IPv4 ARP packet (the fixed fields are implied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpPacket {
    /// Operation (`ARPOP_*`); other values are kept so the caller can count and ignore them.
    pub op: u16,
    /// Sender hardware address.
    pub sha: [u8; 6],
    /// Sender protocol address.
    pub spa: Ipv4Addr,
    /// Target hardware address (zero in a request).
    pub tha: [u8; 6],
    /// Target protocol address.
    pub tpa: Ipv4Addr,
}

impl ArpPacket {
    /// A gratuitous ARP (sender and target protocol addresses equal): an
    /// announcement or a duplicate-address probe answer, never a question to answer.
    pub fn is_gratuitous(&self) -> bool {
        self.spa == self.tpa
    }
}

/// Parses the ARP packet after the Ethernet header. Requires hardware type
/// Ethernet, protocol type IPv4 and address lengths 6 and 4; trailing bytes
/// (Ethernet padding) are ignored. A multicast or broadcast sender hardware
/// address is refused: no neighbour may be learned with it.
pub fn parse(payload: &[u8]) -> Result<ArpPacket, ParseError> {
    const L: &str = "arp";
    need(L, 8, payload.len())?;
    let be16 = |o: usize| u16::from_be_bytes([payload[o], payload[o + 1]]);
    if be16(0) != ARPHRD_ETHER {
        return Err(ParseError::Malformed { layer: L, why: "hardware type is not Ethernet (1)" });
    }
    if be16(2) != ARP_PTYPE_IP {
        return Err(ParseError::Malformed { layer: L, why: "protocol type is not IPv4 (0x0800)" });
    }
    if payload[4] != 6 {
        return Err(ParseError::Malformed { layer: L, why: "hardware address length is not 6" });
    }
    if payload[5] != 4 {
        return Err(ParseError::Malformed { layer: L, why: "protocol address length is not 4" });
    }
    need(L, ARP_LEN, payload.len())?;
    let mac = |o: usize| [payload[o], payload[o + 1], payload[o + 2], payload[o + 3], payload[o + 4], payload[o + 5]];
    let ip = |o: usize| Ipv4Addr::new(payload[o], payload[o + 1], payload[o + 2], payload[o + 3]);
    let p = ArpPacket { op: be16(6), sha: mac(8), spa: ip(14), tha: mac(18), tpa: ip(24) };
    if p.sha[0] & 1 != 0 {
        return Err(ParseError::Malformed { layer: L, why: "sender hardware address is multicast or broadcast" });
    }
    Ok(p)
}

/// The 28 bytes of `p` (the caller prepends the Ethernet header and pads the frame).
pub fn emit(p: &ArpPacket) -> [u8; ARP_LEN] {
    let mut b = [0u8; ARP_LEN];
    b[0..2].copy_from_slice(&ARPHRD_ETHER.to_be_bytes());
    b[2..4].copy_from_slice(&ARP_PTYPE_IP.to_be_bytes());
    b[4] = 6;
    b[5] = 4;
    b[6..8].copy_from_slice(&p.op.to_be_bytes());
    b[8..14].copy_from_slice(&p.sha);
    b[14..18].copy_from_slice(&p.spa.octets());
    b[18..24].copy_from_slice(&p.tha);
    b[24..28].copy_from_slice(&p.tpa.octets());
    b
}

/// A request asking who has `tpa`, from `sha`/`spa` (target hardware address zero;
/// the frame goes to the broadcast address).
pub fn request(sha: [u8; 6], spa: Ipv4Addr, tpa: Ipv4Addr) -> ArpPacket {
    ArpPacket { op: ARPOP_REQUEST, sha, spa, tha: [0; 6], tpa }
}

/// The reply to `req` from the owner of its target address, `our_mac`
/// (RFC 826: swap sender and target, fill in our hardware address; unicast back to `req.sha`).
pub fn reply_to(req: &ArpPacket, our_mac: [u8; 6]) -> ArpPacket {
    ArpPacket { op: ARPOP_REPLY, sha: our_mac, spa: req.tpa, tha: req.sha, tpa: req.spa }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference: neither etherparse 0.16 (only the hardware-type ids) nor smoltcp's
    // ARP (needs the "medium-ethernet" feature, which the workspace leaves off) parses
    // ARP, so the vectors are written out field by field from RFC 826's packet layout.
    const REQUEST: [u8; 28] = [
        0x00, 0x01, // ar$hrd: Ethernet
        0x08, 0x00, // ar$pro: IP
        0x06, 0x04, // ar$hln, ar$pln
        0x00, 0x01, // ar$op: request
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // ar$sha
        192, 168, 1, 1, // ar$spa
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // ar$tha (unknown)
        192, 168, 1, 2, // ar$tpa
    ];
    const REPLY: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, // reply
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 192, 168, 1, 2, // the target answers
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 192, 168, 1, 1, // to the asker
    ];
    const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

    #[test]
    fn constants_agree_with_etherparse() {
        assert_eq!(ETHERTYPE_ARP, etherparse::EtherType::ARP.0);
        assert_eq!(ARP_PTYPE_IP, etherparse::EtherType::IPV4.0);
        assert_eq!(ARPHRD_ETHER, etherparse::ArpHardwareId::ETHER.0);
    }

    #[test]
    fn request_and_reply_match_rfc826_layout() {
        let req = request(A, Ipv4Addr::new(192, 168, 1, 1), Ipv4Addr::new(192, 168, 1, 2));
        assert_eq!(emit(&req), REQUEST);
        assert_eq!(parse(&REQUEST), Ok(req));
        let rep = reply_to(&req, B);
        assert_eq!(emit(&rep), REPLY);
        assert_eq!(parse(&REPLY), Ok(rep));
        assert!(!req.is_gratuitous());
    }

    #[test]
    fn ethernet_padding_is_ignored() {
        let mut padded = REQUEST.to_vec();
        padded.extend_from_slice(&[0u8; 18]); // 14 + 28 + 18 = the 60-byte minimum frame
        assert_eq!(parse(&padded).map(|p| p.op), Ok(ARPOP_REQUEST));
    }

    #[test]
    fn every_wrong_field_and_every_short_length_is_an_error() {
        for n in 0..ARP_LEN {
            assert!(matches!(parse(&REQUEST[..n]), Err(ParseError::Truncated { have, .. }) if have == n));
        }
        for (at, val, why) in [
            (1, 6, "hardware type is not Ethernet (1)"),
            (2, 0x86, "protocol type is not IPv4 (0x0800)"),
            (4, 8, "hardware address length is not 6"),
            (5, 16, "protocol address length is not 4"),
            (8, 0xff, "sender hardware address is multicast or broadcast"),
        ] {
            let mut b = REQUEST;
            b[at] = val;
            assert_eq!(parse(&b), Err(ParseError::Malformed { layer: "arp", why }));
        }
        // An unknown operation is a value, not an error.
        let mut b = REQUEST;
        b[7] = 9;
        assert_eq!(parse(&b).map(|p| p.op), Ok(9));
    }
}
