//! ICMPv4 (RFC 792), with RFC 1191's next-hop MTU in "fragmentation needed".
//!
//! The stack answers echo requests, sends port unreachable for closed UDP
//! ports, and feeds errors it receives back to the connection they quote
//! (path-MTU discovery, FreeBSD `tcp_ctlinput`). This file is the wire format
//! and the quoted-header reader; which messages to send and which to trust is
//! the stack's policy. Parse checks what FreeBSD `icmp_input` checks: the
//! checksum over the whole message and, for errors, that the quote holds an
//! IPv4 header and 8 bytes past it (`ICMP_ADVLEN`).

use std::net::{IpAddr, Ipv4Addr};

use nic_abi::cksum;

use super::ipv4::{IP_HDR_LEN, IP_MAX_HDR_LEN};
use super::error::{need, ParseError};

/// `ICMP_ECHOREPLY`.
pub const ICMP_ECHOREPLY: u8 = 0;
/// `ICMP_UNREACH`: destination unreachable.
pub const ICMP_UNREACH: u8 = 3;
/// `ICMP_SOURCEQUENCH` (deprecated by RFC 6633; parsed as [`IcmpMsg::Other`]).
pub const ICMP_SOURCEQUENCH: u8 = 4;
/// `ICMP_REDIRECT` (parsed as [`IcmpMsg::Other`]: hosts here do not follow redirects).
pub const ICMP_REDIRECT: u8 = 5;
/// `ICMP_ECHO`: echo request.
pub const ICMP_ECHO: u8 = 8;
/// `ICMP_TIMXCEED`: time exceeded.
pub const ICMP_TIMXCEED: u8 = 11;
/// `ICMP_PARAMPROB`: parameter problem (parsed as [`IcmpMsg::Other`]).
pub const ICMP_PARAMPROB: u8 = 12;

/// `ICMP_UNREACH_NET`.
pub const ICMP_UNREACH_NET: u8 = 0;
/// `ICMP_UNREACH_HOST`: also what a host sends when ARP gives up.
pub const ICMP_UNREACH_HOST: u8 = 1;
/// `ICMP_UNREACH_PROTOCOL`: no handler for the IP protocol.
pub const ICMP_UNREACH_PROTOCOL: u8 = 2;
/// `ICMP_UNREACH_PORT`: no socket on the UDP port.
pub const ICMP_UNREACH_PORT: u8 = 3;
/// `ICMP_UNREACH_NEEDFRAG`: DF set and the next hop's MTU is smaller (RFC 1191).
pub const ICMP_UNREACH_NEEDFRAG: u8 = 4;
/// `ICMP_UNREACH_SRCFAIL`: source route failed.
pub const ICMP_UNREACH_SRCFAIL: u8 = 5;
/// `ICMP_UNREACH_FILTER_PROHIB`: administratively prohibited (RFC 1812).
pub const ICMP_UNREACH_FILTER_PROHIB: u8 = 13;
/// `ICMP_TIMXCEED_INTRANS`: TTL reached zero in transit.
pub const ICMP_TIMXCEED_INTRANS: u8 = 0;
/// `ICMP_TIMXCEED_REASS`: reassembly timed out.
pub const ICMP_TIMXCEED_REASS: u8 = 1;

/// `ICMP_MINLEN`: type, code, checksum and the 4-byte rest of the header.
pub const ICMP_MINLEN: usize = 8;
/// How much of the invoking packet past its IP header an error quotes (FreeBSD's
/// default `net.inet.icmp.quotelen`, RFC 792's "64 bits of data").
pub const ICMP_QUOTE_L4: usize = 8;

/// One ICMPv4 message, as far as this stack acts on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IcmpMsg {
    /// Echo request (ping).
    EchoRequest {
        /// Identifier.
        id: u16,
        /// Sequence number.
        seq: u16,
        /// Data, echoed back unchanged.
        data: Vec<u8>,
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        id: u16,
        /// Sequence number.
        seq: u16,
        /// Data.
        data: Vec<u8>,
    },
    /// Destination unreachable.
    Unreach {
        /// `ICMP_UNREACH_*`.
        code: u8,
        /// RFC 1191 next-hop MTU; parse reports it for [`ICMP_UNREACH_NEEDFRAG`]
        /// only (0 otherwise, where the field is unused); emit writes it as given.
        next_hop_mtu: u16,
        /// The invoking packet's IP header and at least 8 bytes after it, as received.
        quoted: Vec<u8>,
    },
    /// Time exceeded.
    TimeExceeded {
        /// `ICMP_TIMXCEED_*`.
        code: u8,
        /// The invoking packet's IP header and at least 8 bytes after it, as received.
        quoted: Vec<u8>,
    },
    /// Any other type (redirect, parameter problem, timestamp, …): counted, not acted on.
    Other {
        /// ICMP type.
        typ: u8,
        /// ICMP code.
        code: u8,
    },
}

/// A transport flow named by the packet an ICMP error quotes (a packet *we*
/// sent, so `src` is our address): what `tcp_ctlinput` / `udp_common_ctlinput`
/// look the connection up with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted {
    /// IP protocol (6 TCP or 17 UDP).
    pub proto: u8,
    /// Source address of the quoted packet.
    pub src: IpAddr,
    /// Destination address of the quoted packet (IPv6: the final destination).
    pub dst: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// TCP sequence number, when the quote holds 8 bytes of the TCP header
    /// (the stack checks it lies in the send window before acting).
    pub seq: Option<u32>,
}

/// Parses an ICMPv4 message (the IP payload), verifying the checksum over all of it.
pub fn parse(icmp: &[u8]) -> Result<IcmpMsg, ParseError> {
    const L: &str = "icmp";
    need(L, ICMP_MINLEN, icmp.len())?;
    if cksum::fold(cksum::sum(icmp, 0)) != 0xffff {
        return Err(ParseError::Malformed { layer: L, why: "bad checksum" });
    }
    let (typ, code) = (icmp[0], icmp[1]);
    let be16 = |o: usize| u16::from_be_bytes([icmp[o], icmp[o + 1]]);
    let rest = &icmp[ICMP_MINLEN..];
    Ok(match typ {
        ICMP_ECHO => IcmpMsg::EchoRequest { id: be16(4), seq: be16(6), data: rest.to_vec() },
        ICMP_ECHOREPLY => IcmpMsg::EchoReply { id: be16(4), seq: be16(6), data: rest.to_vec() },
        ICMP_UNREACH => {
            check_quote(rest)?;
            let next_hop_mtu = if code == ICMP_UNREACH_NEEDFRAG { be16(6) } else { 0 };
            IcmpMsg::Unreach { code, next_hop_mtu, quoted: rest.to_vec() }
        }
        ICMP_TIMXCEED => {
            check_quote(rest)?;
            IcmpMsg::TimeExceeded { code, quoted: rest.to_vec() }
        }
        _ => IcmpMsg::Other { typ, code },
    })
}

/// FreeBSD's `ICMP_ADVLENMIN` / `ICMP_ADVLEN` checks: an IPv4 header (length
/// field at least 5 words) followed by at least 8 bytes.
fn check_quote(q: &[u8]) -> Result<(), ParseError> {
    const L: &str = "icmp quoted packet";
    need(L, IP_HDR_LEN + ICMP_QUOTE_L4, q.len())?;
    if q[0] >> 4 != 4 {
        return Err(ParseError::Malformed { layer: L, why: "quoted header is not IPv4" });
    }
    let hlen = (q[0] & 0xf) as usize * 4;
    if hlen < IP_HDR_LEN {
        return Err(ParseError::Malformed { layer: L, why: "quoted IPv4 header length below 20" });
    }
    need(L, hlen + ICMP_QUOTE_L4, q.len())
}

/// The bytes of `msg`, checksum included (the caller prepends the IPv4 header).
pub fn emit(msg: &IcmpMsg) -> Vec<u8> {
    let (typ, code, word, body): (u8, u8, [u8; 4], &[u8]) = match msg {
        IcmpMsg::EchoRequest { id, seq, data } => (ICMP_ECHO, 0, id_seq(*id, *seq), data),
        IcmpMsg::EchoReply { id, seq, data } => (ICMP_ECHOREPLY, 0, id_seq(*id, *seq), data),
        IcmpMsg::Unreach { code, next_hop_mtu, quoted } => {
            let m = next_hop_mtu.to_be_bytes();
            (ICMP_UNREACH, *code, [0, 0, m[0], m[1]], quoted)
        }
        IcmpMsg::TimeExceeded { code, quoted } => (ICMP_TIMXCEED, *code, [0; 4], quoted),
        IcmpMsg::Other { typ, code } => (*typ, *code, [0; 4], &[]),
    };
    let mut b = Vec::with_capacity(ICMP_MINLEN + body.len());
    b.extend_from_slice(&[typ, code, 0, 0]);
    b.extend_from_slice(&word);
    b.extend_from_slice(body);
    let c = cksum::finish(cksum::sum(&b, 0));
    b[2..4].copy_from_slice(&c.to_be_bytes());
    b
}

fn id_seq(id: u16, seq: u16) -> [u8; 4] {
    let (i, s) = (id.to_be_bytes(), seq.to_be_bytes());
    [i[0], i[1], s[0], s[1]]
}

/// What an error about the IPv4 packet `ip` quotes (FreeBSD `icmp_error` with
/// the default quote length): its header and up to 8 bytes after it, never past
/// its total length. `None` when `ip` is not a whole IPv4 header.
pub fn quote(ip: &[u8]) -> Option<&[u8]> {
    let info = super::ipv4::parse(ip).ok()?;
    ip.get(..(info.hlen + ICMP_QUOTE_L4).min(info.total_len))
}

/// The flow named by an ICMPv4 error's quote: the IPv4 header (options skipped
/// by its length field) and the first bytes of TCP or UDP — ports need 4, the
/// TCP sequence number 8. `None` for another protocol, a non-first fragment
/// (no transport header in it), or anything short or inconsistent.
pub fn quoted_transport(quoted: &[u8]) -> Option<Quoted> {
    let h = quoted.get(..IP_HDR_LEN)?;
    let hlen = (h[0] & 0xf) as usize * 4;
    if h[0] >> 4 != 4 || !(IP_HDR_LEN..=IP_MAX_HDR_LEN).contains(&hlen) {
        return None;
    }
    let total_len = u16::from_be_bytes([h[2], h[3]]) as usize;
    let frag_off = u16::from_be_bytes([h[6], h[7]]) & 0x1fff;
    if total_len < hlen || frag_off != 0 {
        return None;
    }
    let src = Ipv4Addr::new(h[12], h[13], h[14], h[15]);
    let dst = Ipv4Addr::new(h[16], h[17], h[18], h[19]);
    transport_ports(h[9], IpAddr::V4(src), IpAddr::V4(dst), quoted.get(hlen..)?)
}

/// Ports (and the TCP sequence number) from the start of a quoted TCP or UDP header.
pub(crate) fn transport_ports(proto: u8, src: IpAddr, dst: IpAddr, l4: &[u8]) -> Option<Quoted> {
    const TCP: u8 = 6;
    const UDP: u8 = 17;
    if proto != TCP && proto != UDP {
        return None;
    }
    let p = l4.get(..4)?;
    let seq = match (proto, l4.get(4..8)) {
        (TCP, Some(s)) => Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]])),
        _ => None,
    };
    Some(Quoted {
        proto,
        src,
        dst,
        sport: u16::from_be_bytes([p[0], p[1]]),
        dport: u16::from_be_bytes([p[2], p[3]]),
        seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::icmpv4::{DestUnreachableHeader, TimeExceededCode};
    use etherparse::{IcmpEchoHeader, Icmpv4Header, Icmpv4Slice, Icmpv4Type, PacketBuilder};

    /// An IPv4/TCP packet built by etherparse: 10.0.0.1:40000 -> 10.0.0.2:80, seq 0x01020304.
    fn tcp_packet(options: &[u8]) -> Vec<u8> {
        let mut ip =
            etherparse::Ipv4Header::new(0, 64, etherparse::IpNumber::TCP, [10, 0, 0, 1], [10, 0, 0, 2]).unwrap();
        ip.options = etherparse::Ipv4Options::try_from(options).unwrap();
        let mut out = Vec::new();
        PacketBuilder::ip(etherparse::IpHeaders::Ipv4(ip, Default::default()))
            .tcp(40000, 80, 0x0102_0304, 1000)
            .write(&mut out, &[0xee; 100])
            .unwrap();
        out
    }

    /// etherparse's bytes for a message: its header (with its checksum) and the payload.
    fn reference(t: Icmpv4Type, payload: &[u8]) -> Vec<u8> {
        let mut b = Icmpv4Header::with_checksum(t, payload).to_bytes().to_vec();
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn echo_matches_etherparse_both_ways() {
        let data = b"abcdefghijklmnopqrstuvw".to_vec(); // odd length: the checksum pads
        let req = IcmpMsg::EchoRequest { id: 0x1234, seq: 7, data: data.clone() };
        let want = reference(Icmpv4Type::EchoRequest(IcmpEchoHeader { id: 0x1234, seq: 7 }), &data);
        assert_eq!(emit(&req), want);
        assert_eq!(parse(&want), Ok(req));
        let rep = IcmpMsg::EchoReply { id: 0xfffe, seq: 0xffff, data: vec![] };
        let want = reference(Icmpv4Type::EchoReply(IcmpEchoHeader { id: 0xfffe, seq: 0xffff }), &[]);
        assert_eq!(emit(&rep), want);
        assert_eq!(parse(&want), Ok(rep));
        assert!(smoltcp::wire::Icmpv4Packet::new_checked(&want[..]).unwrap().verify_checksum());
    }

    #[test]
    fn frag_needed_and_port_unreachable_match_etherparse() {
        let pkt = tcp_packet(&[]);
        let q = quote(&pkt).unwrap().to_vec();
        assert_eq!(q.len(), 28);
        let msg = IcmpMsg::Unreach { code: ICMP_UNREACH_NEEDFRAG, next_hop_mtu: 1400, quoted: q.clone() };
        let want = reference(
            Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1400 }),
            &q,
        );
        assert_eq!(emit(&msg), want);
        assert_eq!(parse(&want), Ok(msg));
        let msg = IcmpMsg::Unreach { code: ICMP_UNREACH_PORT, next_hop_mtu: 0, quoted: q.clone() };
        let want = reference(Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Port), &q);
        assert_eq!(emit(&msg), want);
        assert_eq!(parse(&want), Ok(msg));
        // etherparse reads our bytes back the same way.
        let s = Icmpv4Slice::from_slice(&want).unwrap();
        assert_eq!(s.payload(), &q[..]);
    }

    #[test]
    fn time_exceeded_and_other_types() {
        let q = quote(&tcp_packet(&[])).unwrap().to_vec();
        let want = reference(Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit), &q);
        let msg = IcmpMsg::TimeExceeded { code: ICMP_TIMXCEED_INTRANS, quoted: q };
        assert_eq!(emit(&msg), want);
        assert_eq!(parse(&want), Ok(msg));
        let want = reference(Icmpv4Type::Unknown { type_u8: 42, code_u8: 1, bytes5to8: [0; 4] }, &[]);
        assert_eq!(emit(&IcmpMsg::Other { typ: 42, code: 1 }), want);
        assert_eq!(parse(&want), Ok(IcmpMsg::Other { typ: 42, code: 1 }));
    }

    #[test]
    fn bad_checksum_and_short_messages_are_errors() {
        let mut b = emit(&IcmpMsg::EchoRequest { id: 1, seq: 2, data: vec![1, 2, 3] });
        b[9] ^= 0x40;
        assert_eq!(parse(&b), Err(ParseError::Malformed { layer: "icmp", why: "bad checksum" }));
        for n in 0..ICMP_MINLEN {
            assert!(matches!(parse(&b[..n]), Err(ParseError::Truncated { .. })));
        }
        // An error quoting fewer than 20 + 8 bytes, or a header longer than the quote.
        let pkt = tcp_packet(&[]);
        let short = emit(&IcmpMsg::Unreach { code: ICMP_UNREACH_PORT, next_hop_mtu: 0, quoted: pkt[..27].to_vec() });
        assert!(matches!(parse(&short), Err(ParseError::Truncated { need: 28, have: 27, .. })));
        let mut q = pkt[..28].to_vec();
        q[0] = 0x46;
        let bad = emit(&IcmpMsg::TimeExceeded { code: 0, quoted: q.clone() });
        assert!(matches!(parse(&bad), Err(ParseError::Truncated { need: 32, have: 28, .. })));
        q[0] = 0x44;
        let bad = emit(&IcmpMsg::TimeExceeded { code: 0, quoted: q.clone() });
        assert!(matches!(parse(&bad), Err(ParseError::Malformed { .. })));
        q[0] = 0x65;
        let bad = emit(&IcmpMsg::TimeExceeded { code: 0, quoted: q });
        assert!(matches!(parse(&bad), Err(ParseError::Malformed { why: "quoted header is not IPv4", .. })));
    }

    #[test]
    fn quoted_transport_reads_tcp_and_udp_with_options() {
        let want = Quoted {
            proto: 6,
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            sport: 40000,
            dport: 80,
            seq: Some(0x0102_0304),
        };
        for opts in [&[][..], &[1, 1, 1, 0][..], &[0x07, 0x07, 0x04, 0, 0, 0, 0, 0][..]] {
            let pkt = tcp_packet(opts);
            let q = quote(&pkt).unwrap();
            assert_eq!(q.len(), 28 + opts.len());
            assert_eq!(quoted_transport(q), Some(want));
            // Only the ports: no sequence number.
            assert_eq!(quoted_transport(&q[..q.len() - 4]), Some(Quoted { seq: None, ..want }));
            // Nothing of the transport header.
            assert_eq!(quoted_transport(&q[..q.len() - 5]), None);
        }
        let mut udp = Vec::new();
        PacketBuilder::ipv4([192, 0, 2, 1], [192, 0, 2, 9], 1).udp(5353, 53).write(&mut udp, b"q").unwrap();
        let q = quote(&udp).unwrap();
        let got = quoted_transport(q).unwrap();
        assert_eq!((got.proto, got.sport, got.dport, got.seq), (17, 5353, 53, None));
        assert_eq!(got.dst, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)));
    }

    #[test]
    fn quoted_transport_refuses_what_it_cannot_trust() {
        let pkt = tcp_packet(&[]);
        let q = &pkt[..28];
        for n in 0..24 {
            assert_eq!(quoted_transport(&q[..n]), None, "{n} bytes");
        }
        let mut bad = q.to_vec();
        bad[0] = 0x44; // header length 16
        assert_eq!(quoted_transport(&bad), None);
        let mut bad = q.to_vec();
        bad[0] = 0x4f; // header length 60, quote 28
        assert_eq!(quoted_transport(&bad), None);
        let mut bad = q.to_vec();
        bad[7] = 0x10; // fragment offset 16*8: no TCP header here
        assert_eq!(quoted_transport(&bad), None);
        let mut bad = q.to_vec();
        bad[9] = 1; // ICMP
        assert_eq!(quoted_transport(&bad), None);
        let mut bad = q.to_vec();
        bad[2..4].copy_from_slice(&10u16.to_be_bytes()); // total length below the header
        assert_eq!(quoted_transport(&bad), None);
        assert_eq!(quote(&pkt[..19]), None);
    }
}
