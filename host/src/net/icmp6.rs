//! ICMPv6 (RFC 4443) and the two Neighbor Discovery messages address
//! resolution needs (RFC 4861 neighbor solicitation and advertisement; no
//! router discovery, no redirects).
//!
//! IPv6 cannot work without ICMPv6: neighbour resolution, path-MTU discovery
//! (packet too big) and port unreachable all travel in it. Parse verifies the
//! checksum with the pseudo-header and applies RFC 4861 §7.1.1/§7.1.2 validity
//! checks to NS/NA, so the neighbour cache is only ever fed validated messages;
//! which messages to answer is the stack's policy (FreeBSD `nd6_ns_input` /
//! `nd6_na_input`).

use std::net::{IpAddr, Ipv6Addr};

use nic_abi::cksum;

use super::icmp::{transport_ports, Quoted};
use super::ipv6::IP6_HDR_LEN;
use super::error::{need, ParseError};

/// `IPPROTO_ICMPV6`: the next-header value, and the pseudo-header's.
pub const IPPROTO_ICMPV6: u8 = 58;
/// `ICMP6_DST_UNREACH`.
pub const ICMP6_DST_UNREACH: u8 = 1;
/// `ICMP6_PACKET_TOO_BIG`.
pub const ICMP6_PACKET_TOO_BIG: u8 = 2;
/// `ICMP6_TIME_EXCEEDED` (parsed as [`Icmp6Msg::Other`]).
pub const ICMP6_TIME_EXCEEDED: u8 = 3;
/// `ICMP6_PARAM_PROB` (parsed as [`Icmp6Msg::Other`]).
pub const ICMP6_PARAM_PROB: u8 = 4;
/// `ICMP6_ECHO_REQUEST`.
pub const ICMP6_ECHO_REQUEST: u8 = 128;
/// `ICMP6_ECHO_REPLY`.
pub const ICMP6_ECHO_REPLY: u8 = 129;
/// `ND_ROUTER_SOLICIT` (not handled: parsed as [`Icmp6Msg::Other`]).
pub const ND_ROUTER_SOLICIT: u8 = 133;
/// `ND_ROUTER_ADVERT` (not handled: parsed as [`Icmp6Msg::Other`]).
pub const ND_ROUTER_ADVERT: u8 = 134;
/// `ND_NEIGHBOR_SOLICIT`.
pub const ND_NEIGHBOR_SOLICIT: u8 = 135;
/// `ND_NEIGHBOR_ADVERT`.
pub const ND_NEIGHBOR_ADVERT: u8 = 136;
/// `ND_REDIRECT` (not handled: parsed as [`Icmp6Msg::Other`]).
pub const ND_REDIRECT: u8 = 137;

/// `ICMP6_DST_UNREACH_NOROUTE`.
pub const ICMP6_DST_UNREACH_NOROUTE: u8 = 0;
/// `ICMP6_DST_UNREACH_ADMIN`: administratively prohibited.
pub const ICMP6_DST_UNREACH_ADMIN: u8 = 1;
/// `ICMP6_DST_UNREACH_BEYONDSCOPE`.
pub const ICMP6_DST_UNREACH_BEYONDSCOPE: u8 = 2;
/// `ICMP6_DST_UNREACH_ADDR`: address unreachable (what a host sends when ND gives up).
pub const ICMP6_DST_UNREACH_ADDR: u8 = 3;
/// `ICMP6_DST_UNREACH_NOPORT`: no socket on the port.
pub const ICMP6_DST_UNREACH_NOPORT: u8 = 4;

/// The hop limit every ND message is sent with and must arrive with (proof it was not forwarded).
pub const ND_HOP_LIMIT: u8 = 255;
/// `ND_OPT_SOURCE_LINKADDR`.
pub const ND_OPT_SOURCE_LINKADDR: u8 = 1;
/// `ND_OPT_TARGET_LINKADDR`.
pub const ND_OPT_TARGET_LINKADDR: u8 = 2;
/// Router flag, in the first byte after the checksum of an NA (`ND_NA_FLAG_ROUTER`'s byte).
pub const ND_NA_FLAG_ROUTER: u8 = 0x80;
/// Solicited flag (`ND_NA_FLAG_SOLICITED`'s byte).
pub const ND_NA_FLAG_SOLICITED: u8 = 0x40;
/// Override flag (`ND_NA_FLAG_OVERRIDE`'s byte).
pub const ND_NA_FLAG_OVERRIDE: u8 = 0x20;

/// `sizeof(struct icmp6_hdr)`: the shortest message parse accepts.
pub const ICMP6_MINLEN: usize = 8;
/// An NS or NA without options: header and target address.
pub const ND_MINLEN: usize = 24;
/// A link-layer address option for Ethernet: type, length 1 (8 bytes), 6-byte address.
const ND_OPT_LLADDR_LEN: usize = 8;

/// One ICMPv6 message, as far as this stack acts on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Icmp6Msg {
    /// Echo request (ping6).
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
    /// Packet too big: the path MTU for the quoted packet's destination (RFC 8201).
    PacketTooBig {
        /// MTU of the next-hop link.
        mtu: u32,
        /// As much of the invoking packet as fitted, from its IPv6 header.
        quoted: Vec<u8>,
    },
    /// Destination unreachable.
    DstUnreach {
        /// `ICMP6_DST_UNREACH_*`.
        code: u8,
        /// As much of the invoking packet as fitted, from its IPv6 header.
        quoted: Vec<u8>,
    },
    /// Neighbor solicitation: who has `target` (or, from `::`, a duplicate-address probe).
    NeighborSolicit {
        /// The address being resolved.
        target: Ipv6Addr,
        /// The sender's MAC (source link-layer address option), absent from `::`.
        src_lladdr: Option<[u8; 6]>,
    },
    /// Neighbor advertisement.
    NeighborAdvert {
        /// The sender is a router.
        router: bool,
        /// An answer to a solicitation (confirms reachability).
        solicited: bool,
        /// Replace a cached link-layer address.
        override_: bool,
        /// The address advertised.
        target: Ipv6Addr,
        /// Its MAC (target link-layer address option).
        tgt_lladdr: Option<[u8; 6]>,
    },
    /// Any other type (time exceeded, parameter problem, router discovery, MLD, …).
    Other {
        /// ICMPv6 type.
        typ: u8,
        /// ICMPv6 code.
        code: u8,
    },
}

/// Parses the ICMPv6 message `icmp` that arrived from `src` to `dst` with hop
/// limit `hop_limit`: verifies the checksum (pseudo-header with next header 58
/// and length `icmp.len()`), then RFC 4861's validity checks for NS and NA.
pub fn parse(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, icmp: &[u8]) -> Result<Icmp6Msg, ParseError> {
    const L: &str = "icmp6";
    need(L, ICMP6_MINLEN, icmp.len())?;
    let Ok(len) = u32::try_from(icmp.len()) else {
        return Err(ParseError::Malformed { layer: L, why: "longer than the pseudo-header length can say" });
    };
    let pseudo = cksum::pseudo_v6(src.octets(), dst.octets(), IPPROTO_ICMPV6, len);
    if cksum::fold(cksum::sum(icmp, pseudo as u32)) != 0xffff {
        return Err(ParseError::Malformed { layer: L, why: "bad checksum" });
    }
    let (typ, code) = (icmp[0], icmp[1]);
    let be16 = |o: usize| u16::from_be_bytes([icmp[o], icmp[o + 1]]);
    let rest = &icmp[ICMP6_MINLEN..];
    Ok(match typ {
        ICMP6_ECHO_REQUEST => Icmp6Msg::EchoRequest { id: be16(4), seq: be16(6), data: rest.to_vec() },
        ICMP6_ECHO_REPLY => Icmp6Msg::EchoReply { id: be16(4), seq: be16(6), data: rest.to_vec() },
        ICMP6_PACKET_TOO_BIG => {
            check_quote(rest)?;
            let mtu = u32::from_be_bytes([icmp[4], icmp[5], icmp[6], icmp[7]]);
            Icmp6Msg::PacketTooBig { mtu, quoted: rest.to_vec() }
        }
        ICMP6_DST_UNREACH => {
            check_quote(rest)?;
            Icmp6Msg::DstUnreach { code, quoted: rest.to_vec() }
        }
        ND_NEIGHBOR_SOLICIT => {
            let (target, lladdr) = nd_common(hop_limit, icmp, ND_OPT_SOURCE_LINKADDR)?;
            if src.is_unspecified() {
                // RFC 4861 §7.1.1: a duplicate-address probe carries no address to learn,
                // and goes to the target's solicited-node group.
                if lladdr.is_some() {
                    return Err(ParseError::Malformed {
                        layer: "nd6 NS",
                        why: "source link-layer address option from the unspecified address",
                    });
                }
                if !is_solicited_node(dst) {
                    return Err(ParseError::Malformed {
                        layer: "nd6 NS",
                        why: "from the unspecified address to a non-solicited-node destination",
                    });
                }
            }
            Icmp6Msg::NeighborSolicit { target, src_lladdr: lladdr }
        }
        ND_NEIGHBOR_ADVERT => {
            let (target, lladdr) = nd_common(hop_limit, icmp, ND_OPT_TARGET_LINKADDR)?;
            let flags = icmp[4];
            let solicited = flags & ND_NA_FLAG_SOLICITED != 0;
            if solicited && dst.is_multicast() {
                return Err(ParseError::Malformed {
                    layer: "nd6 NA",
                    why: "solicited flag set on an advertisement to a multicast address",
                });
            }
            Icmp6Msg::NeighborAdvert {
                router: flags & ND_NA_FLAG_ROUTER != 0,
                solicited,
                override_: flags & ND_NA_FLAG_OVERRIDE != 0,
                target,
                tgt_lladdr: lladdr,
            }
        }
        _ => Icmp6Msg::Other { typ, code },
    })
}

/// An error message's quote must start with a whole IPv6 header (FreeBSD `icmp6_notify_error`).
fn check_quote(q: &[u8]) -> Result<(), ParseError> {
    need("icmp6 quoted packet", IP6_HDR_LEN, q.len())?;
    if q[0] >> 4 != 6 {
        return Err(ParseError::Malformed { layer: "icmp6 quoted packet", why: "quoted header is not IPv6" });
    }
    Ok(())
}

/// The checks NS and NA share (RFC 4861 §7.1.1 / §7.1.2): hop limit 255, code
/// 0, at least 24 bytes, a unicast target, and options that are each non-empty
/// and inside the message. Returns the target and the first link-layer address
/// option of type `want` (which must be Ethernet-sized); other options are ignored.
fn nd_common(hop_limit: u8, icmp: &[u8], want: u8) -> Result<(Ipv6Addr, Option<[u8; 6]>), ParseError> {
    const L: &str = "nd6";
    if hop_limit != ND_HOP_LIMIT {
        return Err(ParseError::Malformed { layer: L, why: "hop limit is not 255 (the message was forwarded)" });
    }
    if icmp.get(1) != Some(&0) {
        return Err(ParseError::Malformed { layer: L, why: "code is not 0" });
    }
    need(L, ND_MINLEN, icmp.len())?;
    let mut t = [0u8; 16];
    t.copy_from_slice(&icmp[8..ND_MINLEN]);
    let target = Ipv6Addr::from(t);
    if target.is_multicast() {
        return Err(ParseError::Malformed { layer: L, why: "target address is multicast" });
    }
    let mut lladdr = None;
    let mut opts = &icmp[ND_MINLEN..];
    while !opts.is_empty() {
        let (Some(&typ), Some(&units)) = (opts.first(), opts.get(1)) else {
            return Err(ParseError::Malformed { layer: L, why: "option runs past the end of the message" });
        };
        let olen = units as usize * 8;
        if olen == 0 {
            return Err(ParseError::Malformed { layer: L, why: "option with length zero" });
        }
        let Some(opt) = opts.get(..olen) else {
            return Err(ParseError::Malformed { layer: L, why: "option runs past the end of the message" });
        };
        if typ == want && lladdr.is_none() {
            if olen != ND_OPT_LLADDR_LEN {
                return Err(ParseError::Malformed {
                    layer: L,
                    why: "link-layer address option is not 8 bytes (Ethernet)",
                });
            }
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&opt[2..8]);
            lladdr = Some(mac);
        }
        opts = &opts[olen..];
    }
    Ok((target, lladdr))
}

/// The bytes of `msg` sent from `src` to `dst`, checksum included (the caller
/// prepends the IPv6 header; ND messages must go out with hop limit
/// [`ND_HOP_LIMIT`]). Emit does not police RFC 4861: an NS from `::` must be
/// built with `src_lladdr: None`.
pub fn emit(src: Ipv6Addr, dst: Ipv6Addr, msg: &Icmp6Msg) -> Vec<u8> {
    let mut b = Vec::with_capacity(ICMP6_MINLEN + 32);
    let lladdr_opt = |b: &mut Vec<u8>, typ: u8, mac: &Option<[u8; 6]>| {
        if let Some(mac) = mac {
            b.extend_from_slice(&[typ, 1]);
            b.extend_from_slice(mac);
        }
    };
    match msg {
        Icmp6Msg::EchoRequest { id, seq, data } | Icmp6Msg::EchoReply { id, seq, data } => {
            let typ = if matches!(msg, Icmp6Msg::EchoRequest { .. }) { ICMP6_ECHO_REQUEST } else { ICMP6_ECHO_REPLY };
            b.extend_from_slice(&[typ, 0, 0, 0]);
            b.extend_from_slice(&id.to_be_bytes());
            b.extend_from_slice(&seq.to_be_bytes());
            b.extend_from_slice(data);
        }
        Icmp6Msg::PacketTooBig { mtu, quoted } => {
            b.extend_from_slice(&[ICMP6_PACKET_TOO_BIG, 0, 0, 0]);
            b.extend_from_slice(&mtu.to_be_bytes());
            b.extend_from_slice(quoted);
        }
        Icmp6Msg::DstUnreach { code, quoted } => {
            b.extend_from_slice(&[ICMP6_DST_UNREACH, *code, 0, 0, 0, 0, 0, 0]);
            b.extend_from_slice(quoted);
        }
        Icmp6Msg::NeighborSolicit { target, src_lladdr } => {
            b.extend_from_slice(&[ND_NEIGHBOR_SOLICIT, 0, 0, 0, 0, 0, 0, 0]);
            b.extend_from_slice(&target.octets());
            lladdr_opt(&mut b, ND_OPT_SOURCE_LINKADDR, src_lladdr);
        }
        Icmp6Msg::NeighborAdvert { router, solicited, override_, target, tgt_lladdr } => {
            let flags = (*router as u8 * ND_NA_FLAG_ROUTER)
                | (*solicited as u8 * ND_NA_FLAG_SOLICITED)
                | (*override_ as u8 * ND_NA_FLAG_OVERRIDE);
            b.extend_from_slice(&[ND_NEIGHBOR_ADVERT, 0, 0, 0, flags, 0, 0, 0]);
            b.extend_from_slice(&target.octets());
            lladdr_opt(&mut b, ND_OPT_TARGET_LINKADDR, tgt_lladdr);
        }
        Icmp6Msg::Other { typ, code } => b.extend_from_slice(&[*typ, *code, 0, 0, 0, 0, 0, 0]),
    }
    // An ICMPv6 message longer than 4 GiB cannot be built from a Vec in practice; saturate rather than wrap.
    let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
    let pseudo = cksum::pseudo_v6(src.octets(), dst.octets(), IPPROTO_ICMPV6, len);
    let c = cksum::finish(cksum::sum(&b, pseudo as u32));
    b[2..4].copy_from_slice(&c.to_be_bytes());
    b
}

/// The solicited-node multicast group of `a` (RFC 4291 §2.7.1,
/// `ff02::1:ffXX:XXXX` with `a`'s low 24 bits): where an NS for `a` is sent.
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15]])
}

/// Whether `a` is a solicited-node multicast address (`ff02::1:ff00:0/104`).
pub fn is_solicited_node(a: Ipv6Addr) -> bool {
    a.octets()[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff]
}

/// The Ethernet destination of an IPv6 multicast address (RFC 2464 §7: 33:33 and its last 4 bytes).
pub fn multicast_mac(a: Ipv6Addr) -> [u8; 6] {
    let o = a.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// The flow named by an ICMPv6 error's quote: the IPv6 header, its extension
/// headers (walked by [`super::ipv6::parse`], with the quote's own length
/// standing in for the truncated payload length) and the first bytes of TCP or
/// UDP — ports need 4, the TCP sequence number 8. `dst` is the final
/// destination when a routing header names one. `None` for another protocol,
/// a non-first fragment, or anything short or inconsistent.
pub fn quoted_transport6(quoted: &[u8]) -> Option<Quoted> {
    let payload = u16::try_from(quoted.len().checked_sub(IP6_HDR_LEN)?).ok()?;
    let mut hdr = quoted.to_vec();
    hdr.get_mut(4..6)?.copy_from_slice(&payload.to_be_bytes());
    let info = super::ipv6::parse(&hdr).ok()?;
    if info.fragment.is_some_and(|f| f.offset != 0) {
        return None;
    }
    let src = IpAddr::V6(Ipv6Addr::from(info.src));
    let dst = IpAddr::V6(Ipv6Addr::from(info.final_dst.unwrap_or(info.dst)));
    transport_ports(info.upper, src, dst, quoted.get(info.hlen..)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::icmpv6::DestUnreachableCode;
    use etherparse::{IcmpEchoHeader, Icmpv6Header, Icmpv6Slice, Icmpv6Type, PacketBuilder};
    use smoltcp::wire::Icmpv6Packet;

    const MAC: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// etherparse's bytes (its header and checksum) for a message with `payload` after the first 8 bytes.
    fn reference(src: Ipv6Addr, dst: Ipv6Addr, t: Icmpv6Type, payload: &[u8]) -> Vec<u8> {
        let mut b = Icmpv6Header::with_checksum(t, src.octets(), dst.octets(), payload).unwrap().to_bytes().to_vec();
        b.extend_from_slice(payload);
        b
    }

    /// A raw message (etherparse has no ND types): type, code, bytes 4..8, the rest.
    fn raw(src: Ipv6Addr, dst: Ipv6Addr, typ: u8, code: u8, b5to8: [u8; 4], rest: &[u8]) -> Vec<u8> {
        reference(src, dst, Icmpv6Type::Unknown { type_u8: typ, code_u8: code, bytes5to8: b5to8 }, rest)
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// An IPv6/TCP packet: 2001:db8::1 port 40000 -> 2001:db8::2 port 443, seq 0xa1b2c3d4.
    fn tcp6() -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv6(a("2001:db8::1").octets(), a("2001:db8::2").octets(), 64)
            .tcp(40000, 443, 0xa1b2_c3d4, 1000)
            .write(&mut out, &[0x55; 200])
            .unwrap();
        out
    }

    #[test]
    fn echo_matches_etherparse_and_smoltcp() {
        let (s, d) = (a("fe80::1"), a("fe80::2"));
        let msg = Icmp6Msg::EchoRequest { id: 0xbeef, seq: 3, data: b"ping6 data!".to_vec() };
        let want = reference(s, d, Icmpv6Type::EchoRequest(IcmpEchoHeader { id: 0xbeef, seq: 3 }), b"ping6 data!");
        assert_eq!(emit(s, d, &msg), want);
        assert_eq!(parse(s, d, 64, &want), Ok(msg));
        let p = Icmpv6Packet::new_checked(&want[..]).unwrap();
        assert!(p.verify_checksum(&s, &d));
        let msg = Icmp6Msg::EchoReply { id: 1, seq: 0xffff, data: vec![] };
        let want = reference(s, d, Icmpv6Type::EchoReply(IcmpEchoHeader { id: 1, seq: 0xffff }), &[]);
        assert_eq!(emit(s, d, &msg), want);
        assert_eq!(parse(s, d, 1, &want), Ok(msg));
    }

    #[test]
    fn errors_match_etherparse() {
        let (s, d) = (a("2001:db8::fe"), a("2001:db8::1"));
        let q = tcp6(); // the whole invoking packet fits in the minimum MTU
        let msg = Icmp6Msg::PacketTooBig { mtu: 1280, quoted: q.clone() };
        let want = reference(s, d, Icmpv6Type::PacketTooBig { mtu: 1280 }, &q);
        assert_eq!(emit(s, d, &msg), want);
        assert_eq!(parse(s, d, 60, &want), Ok(msg));
        let msg = Icmp6Msg::DstUnreach { code: ICMP6_DST_UNREACH_NOPORT, quoted: q.clone() };
        let want = reference(s, d, Icmpv6Type::DestinationUnreachable(DestUnreachableCode::Port), &q);
        assert_eq!(emit(s, d, &msg), want);
        assert_eq!(parse(s, d, 60, &want), Ok(msg));
        // A quote shorter than an IPv6 header, or not one.
        let short = emit(s, d, &Icmp6Msg::DstUnreach { code: 0, quoted: q[..39].to_vec() });
        assert!(matches!(parse(s, d, 60, &short), Err(ParseError::Truncated { need: 40, have: 39, .. })));
        let mut v4 = q.clone();
        v4[0] = 0x45;
        let bad = emit(s, d, &Icmp6Msg::PacketTooBig { mtu: 1280, quoted: v4 });
        assert!(matches!(parse(s, d, 60, &bad), Err(ParseError::Malformed { .. })));
        let other = raw(s, d, ICMP6_TIME_EXCEEDED, 0, [0; 4], &q);
        assert_eq!(parse(s, d, 60, &other), Ok(Icmp6Msg::Other { typ: ICMP6_TIME_EXCEEDED, code: 0 }));
        assert_eq!(emit(s, d, &Icmp6Msg::Other { typ: 200, code: 9 }), raw(s, d, 200, 9, [0; 4], &[]));
    }

    #[test]
    fn checksum_covers_the_pseudo_header() {
        let (s, d) = (a("fe80::1"), a("fe80::2"));
        let mut b = emit(s, d, &Icmp6Msg::EchoRequest { id: 1, seq: 1, data: vec![9; 5] });
        assert_eq!(parse(s, a("fe80::3"), 64, &b), Err(ParseError::Malformed { layer: "icmp6", why: "bad checksum" }));
        b[10] ^= 1;
        assert_eq!(parse(s, d, 64, &b), Err(ParseError::Malformed { layer: "icmp6", why: "bad checksum" }));
        for n in 0..ICMP6_MINLEN {
            assert!(matches!(parse(s, d, 64, &b[..n]), Err(ParseError::Truncated { .. })));
        }
    }

    #[test]
    fn neighbor_solicit_and_advert_match_reference_bytes() {
        let (me, peer) = (a("fe80::1"), a("fe80::2"));
        let sn = solicited_node(peer);
        // NS with source link-layer address, to the target's solicited-node group.
        let ns = Icmp6Msg::NeighborSolicit { target: peer, src_lladdr: Some(MAC) };
        let want = raw(me, sn, ND_NEIGHBOR_SOLICIT, 0, [0; 4], &cat(&[&peer.octets(), &[1, 1], &MAC]));
        assert_eq!(emit(me, sn, &ns), want);
        assert_eq!(parse(me, sn, ND_HOP_LIMIT, &want), Ok(ns));
        assert!(Icmpv6Packet::new_checked(&want[..]).unwrap().verify_checksum(&me, &sn));
        // Solicited, override NA back to the asker.
        let na = Icmp6Msg::NeighborAdvert {
            router: false,
            solicited: true,
            override_: true,
            target: peer,
            tgt_lladdr: Some(MAC),
        };
        let want = raw(peer, me, ND_NEIGHBOR_ADVERT, 0, [0x60, 0, 0, 0], &cat(&[&peer.octets(), &[2, 1], &MAC]));
        assert_eq!(emit(peer, me, &na), want);
        assert_eq!(parse(peer, me, ND_HOP_LIMIT, &want), Ok(na));
        let s = Icmpv6Slice::from_slice(&want).unwrap();
        assert!(s.is_checksum_valid(peer.octets(), me.octets()));
        assert_eq!(s.bytes5to8(), [0x60, 0, 0, 0]);
        // Router flag, no option; an unknown option (type 14, nonce) is skipped.
        let want =
            raw(peer, me, ND_NEIGHBOR_ADVERT, 0, [0x80, 0, 0, 0], &cat(&[&peer.octets(), &[14, 1, 0, 0, 0, 0, 0, 0]]));
        assert_eq!(
            parse(peer, me, ND_HOP_LIMIT, &want),
            Ok(Icmp6Msg::NeighborAdvert {
                router: true,
                solicited: false,
                override_: false,
                target: peer,
                tgt_lladdr: None
            })
        );
        // Duplicate-address probe: from ::, no option, to the solicited-node group.
        let dad = Icmp6Msg::NeighborSolicit { target: me, src_lladdr: None };
        let want = raw(Ipv6Addr::UNSPECIFIED, solicited_node(me), ND_NEIGHBOR_SOLICIT, 0, [0; 4], &me.octets());
        assert_eq!(emit(Ipv6Addr::UNSPECIFIED, solicited_node(me), &dad), want);
        assert_eq!(parse(Ipv6Addr::UNSPECIFIED, solicited_node(me), ND_HOP_LIMIT, &want), Ok(dad));
    }

    #[test]
    fn invalid_nd_messages_are_rejected_with_a_reason() {
        let (me, peer) = (a("fe80::1"), a("fe80::2"));
        let sn = solicited_node(peer);
        let opt = cat(&[&peer.octets(), &[1, 1], &MAC]);
        let why = |src, dst, hl, b: &[u8]| match parse(src, dst, hl, b) {
            Err(ParseError::Malformed { why, .. }) => why,
            other => panic!("expected Malformed, got {other:?}"),
        };
        let ok = raw(me, sn, ND_NEIGHBOR_SOLICIT, 0, [0; 4], &opt);
        assert_eq!(why(me, sn, 254, &ok), "hop limit is not 255 (the message was forwarded)");
        assert_eq!(why(me, sn, 255, &raw(me, sn, ND_NEIGHBOR_SOLICIT, 1, [0; 4], &opt)), "code is not 0");
        let short = raw(me, sn, ND_NEIGHBOR_SOLICIT, 0, [0; 4], &peer.octets()[..15]);
        assert!(matches!(parse(me, sn, 255, &short), Err(ParseError::Truncated { need: 24, have: 23, .. })));
        let mc = raw(me, sn, ND_NEIGHBOR_SOLICIT, 0, [0; 4], &sn.octets());
        assert_eq!(why(me, sn, 255, &mc), "target address is multicast");
        let zero = raw(me, sn, ND_NEIGHBOR_SOLICIT, 0, [0; 4], &cat(&[&peer.octets(), &[1, 0], &MAC]));
        assert_eq!(why(me, sn, 255, &zero), "option with length zero");
        let past = raw(me, sn, ND_NEIGHBOR_SOLICIT, 0, [0; 4], &cat(&[&peer.octets(), &[1, 2], &MAC]));
        assert_eq!(why(me, sn, 255, &past), "option runs past the end of the message");
        let odd = raw(me, sn, ND_NEIGHBOR_SOLICIT, 0, [0; 4], &cat(&[&peer.octets(), &[1]]));
        assert_eq!(why(me, sn, 255, &odd), "option runs past the end of the message");
        let wide = raw(me, sn, ND_NEIGHBOR_SOLICIT, 0, [0; 4], &cat(&[&peer.octets(), &[1, 2], &MAC, &[0; 8]]));
        assert_eq!(why(me, sn, 255, &wide), "link-layer address option is not 8 bytes (Ethernet)");
        let u = Ipv6Addr::UNSPECIFIED;
        let dad_ll = raw(u, sn, ND_NEIGHBOR_SOLICIT, 0, [0; 4], &opt);
        assert_eq!(why(u, sn, 255, &dad_ll), "source link-layer address option from the unspecified address");
        let dad_uc = raw(u, peer, ND_NEIGHBOR_SOLICIT, 0, [0; 4], &peer.octets());
        assert_eq!(why(u, peer, 255, &dad_uc), "from the unspecified address to a non-solicited-node destination");
        let all = a("ff02::1");
        let na = raw(peer, all, ND_NEIGHBOR_ADVERT, 0, [0x40, 0, 0, 0], &peer.octets());
        assert_eq!(why(peer, all, 255, &na), "solicited flag set on an advertisement to a multicast address");
        // Unsolicited to all-nodes is fine.
        let na = raw(peer, all, ND_NEIGHBOR_ADVERT, 0, [0x20, 0, 0, 0], &peer.octets());
        assert!(parse(peer, all, 255, &na).is_ok());
    }

    #[test]
    fn solicited_node_and_multicast_mac_rfc_examples() {
        // RFC 4291 §2.7.1: 4037::01:800:200E:8C6C belongs to FF02::1:FF0E:8C6C.
        let g = solicited_node(a("4037::01:800:200E:8C6C"));
        assert_eq!(g, a("FF02::1:FF0E:8C6C"));
        assert!(is_solicited_node(g));
        assert!(!is_solicited_node(a("ff02::1")));
        // RFC 2464 §7: 33-33 followed by the last four octets.
        assert_eq!(multicast_mac(g), [0x33, 0x33, 0xff, 0x0e, 0x8c, 0x6c]);
        assert_eq!(multicast_mac(a("ff02::1")), [0x33, 0x33, 0, 0, 0, 1]);
    }

    #[test]
    fn quoted_transport6_walks_extension_headers() {
        let pkt = tcp6();
        let want = Quoted {
            proto: 6,
            src: IpAddr::V6(a("2001:db8::1")),
            dst: IpAddr::V6(a("2001:db8::2")),
            sport: 40000,
            dport: 443,
            seq: Some(0xa1b2_c3d4),
        };
        assert_eq!(quoted_transport6(&pkt[..48]), Some(want));
        assert_eq!(quoted_transport6(&pkt[..44]), Some(Quoted { seq: None, ..want }));
        assert_eq!(quoted_transport6(&pkt[..43]), None);
        // Insert a destination-options header (PadN) between IPv6 and TCP.
        let mut ext = pkt[..40].to_vec();
        ext[6] = 60;
        ext.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
        ext.extend_from_slice(&pkt[40..60]);
        assert_eq!(quoted_transport6(&ext), Some(want));
        assert_eq!(quoted_transport6(&ext[..45]), None, "extension header cut short");
        // A non-first fragment has no TCP header; a first one does.
        let mut frag = pkt[..40].to_vec();
        frag[6] = 44;
        frag.extend_from_slice(&[6, 0, 0, 8, 0, 0, 0, 1]);
        frag.extend_from_slice(&pkt[40..60]);
        assert_eq!(quoted_transport6(&frag), None);
        frag[43] = 1; // offset 0, more fragments
        assert_eq!(quoted_transport6(&frag), Some(want));
        let mut udp = Vec::new();
        PacketBuilder::ipv6(a("::1").octets(), a("::2").octets(), 1).udp(5353, 53).write(&mut udp, b"x").unwrap();
        let got = quoted_transport6(&udp).unwrap();
        assert_eq!((got.proto, got.sport, got.dport, got.seq), (17, 5353, 53, None));
        let mut v4 = pkt[..48].to_vec();
        v4[0] = 0x45;
        assert_eq!(quoted_transport6(&v4), None);
        for n in 0..40 {
            assert_eq!(quoted_transport6(&pkt[..n]), None);
        }
    }
}
