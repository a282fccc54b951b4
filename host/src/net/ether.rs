//! Ethernet II with an optional 802.1Q tag.
//!
//! The tag travels in the frame (this NIC's descriptors carry no tag field),
//! so `l2hlen` is 14 or 18 and the checksum engine starts after it. Only one
//! tag is handled; stacked tags (QinQ) are refused rather than misparsed.

use super::error::{need, ParseError};
use super::stats::NetStats;
use crate::mbuf::Mbuf;

/// `ETHER_HDR_LEN`: destination, source, type.
pub const ETHER_HDR_LEN: usize = 14;
/// `ETHER_VLAN_ENCAP_LEN`: one 802.1Q tag.
pub const ETHER_VLAN_ENCAP_LEN: usize = 4;
/// `ETHERTYPE_IP`.
pub const ETHERTYPE_IP: u16 = 0x0800;
/// `ETHERTYPE_IPV6`.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// `ETHERTYPE_VLAN`: IEEE 802.1Q tag protocol identifier.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// `ETHERTYPE_QINQ`: IEEE 802.1ad service tag.
pub const ETHERTYPE_QINQ: u16 = 0x88a8;

mod field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const TYPE: Range<usize> = 12..14;
    pub const TCI: Range<usize> = 14..16;
    pub const INNER_TYPE: Range<usize> = 16..18;
}

/// A typed view of an Ethernet II header (smoltcp's `wire` shape: checked
/// constructor, getters on `AsRef`, setters on `AsMut`).
#[derive(Debug)]
pub struct EtherFrame<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> EtherFrame<T> {
    /// A view over `buf`, refused when it cannot hold the 14-byte header.
    pub fn new_checked(buf: T) -> Result<Self, ParseError> {
        need("ethernet", ETHER_HDR_LEN, buf.as_ref().len())?;
        Ok(EtherFrame { buf })
    }

    fn get<const N: usize>(&self, r: core::ops::Range<usize>) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.buf.as_ref()[r]);
        a
    }

    /// Destination address.
    pub fn dst(&self) -> [u8; 6] {
        self.get(field::DST)
    }

    /// Source address.
    pub fn src(&self) -> [u8; 6] {
        self.get(field::SRC)
    }

    /// The type field (a tag protocol identifier when tagged).
    pub fn ethertype(&self) -> u16 {
        u16::from_be_bytes(self.get(field::TYPE))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EtherFrame<T> {
    /// Sets the destination address.
    pub fn set_dst(&mut self, a: [u8; 6]) {
        self.buf.as_mut()[field::DST].copy_from_slice(&a);
    }

    /// Sets the source address.
    pub fn set_src(&mut self, a: [u8; 6]) {
        self.buf.as_mut()[field::SRC].copy_from_slice(&a);
    }

    /// Sets the type field.
    pub fn set_ethertype(&mut self, t: u16) {
        self.buf.as_mut()[field::TYPE].copy_from_slice(&t.to_be_bytes());
    }
}

/// A parsed link header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L2 {
    /// Destination address.
    pub dst: [u8; 6],
    /// Source address.
    pub src: [u8; 6],
    /// The 802.1Q tag control information (PCP, DEI, VID), when tagged.
    pub tci: Option<u16>,
    /// The ethertype after any tag.
    pub ethertype: u16,
    /// Header length: 14, or 18 when tagged.
    pub hlen: usize,
}

/// Parses the link header of `frame`: one optional tag, no more.
pub fn parse(frame: &[u8]) -> Result<L2, ParseError> {
    let f = EtherFrame::new_checked(frame)?;
    let (dst, src, outer) = (f.dst(), f.src(), f.ethertype());
    if outer != ETHERTYPE_VLAN && outer != ETHERTYPE_QINQ {
        return Ok(L2 { dst, src, tci: None, ethertype: outer, hlen: ETHER_HDR_LEN });
    }
    let hlen = ETHER_HDR_LEN + ETHER_VLAN_ENCAP_LEN;
    need("802.1Q", hlen, frame.len())?;
    let tci = u16::from_be_bytes([frame[field::TCI.start], frame[field::TCI.start + 1]]);
    let inner = u16::from_be_bytes([frame[field::INNER_TYPE.start], frame[field::INNER_TYPE.start + 1]]);
    if outer == ETHERTYPE_QINQ || inner == ETHERTYPE_VLAN || inner == ETHERTYPE_QINQ {
        return Err(ParseError::Malformed { layer: "802.1Q", why: STACKED });
    }
    Ok(L2 { dst, src, tci: Some(tci), ethertype: inner, hlen })
}

pub(crate) const STACKED: &str = "stacked VLAN tags";

/// The link header output prepends (the result of ARP/ND, which this crate leaves to its caller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkOut {
    /// Destination address.
    pub dst: [u8; 6],
    /// Source address (normally `if_lladdr`).
    pub src: [u8; 6],
    /// 802.1Q tag control information to insert, if any.
    pub vlan: Option<u16>,
}

/// `ether_output`: prepends the link header (and tag) and records `l2hlen`.
pub fn ether_output(m: &mut Mbuf, link: &LinkOut, ethertype: u16, stats: &mut NetStats) {
    let hlen = ETHER_HDR_LEN + if link.vlan.is_some() { ETHER_VLAN_ENCAP_LEN } else { 0 };
    let h = m.prepend(hlen);
    let mut f = EtherFrame { buf: &mut h[..] };
    f.set_dst(link.dst);
    f.set_src(link.src);
    match link.vlan {
        Some(tci) => {
            f.set_ethertype(ETHERTYPE_VLAN);
            h[field::TCI].copy_from_slice(&tci.to_be_bytes());
            h[field::INNER_TYPE].copy_from_slice(&ethertype.to_be_bytes());
        }
        None => f.set_ethertype(ethertype),
    }
    m.pkthdr.l2hlen = hlen as u8;
    stats.ether.opackets += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_and_untagged() {
        let mut m = Mbuf::from_payload(b"xy");
        let mut st = NetStats::default();
        let link = LinkOut { dst: [1; 6], src: [2; 6], vlan: Some(0x2005) };
        ether_output(&mut m, &link, ETHERTYPE_IPV6, &mut st);
        assert_eq!(m.pkthdr.l2hlen, 18);
        let eh = etherparse::Ethernet2HeaderSlice::from_slice(m.data()).unwrap();
        assert_eq!(eh.ether_type(), etherparse::EtherType::VLAN_TAGGED_FRAME);
        let vh = etherparse::SingleVlanHeaderSlice::from_slice(&m.data()[14..]).unwrap();
        assert_eq!(vh.vlan_identifier().value(), 5);
        assert_eq!(vh.priority_code_point().value(), 1);
        assert_eq!(vh.ether_type(), etherparse::EtherType::IPV6);
        let l2 = parse(m.data()).unwrap();
        assert_eq!((l2.hlen, l2.tci, l2.ethertype), (18, Some(0x2005), 0x86dd));
    }

    #[test]
    fn short_and_stacked_are_errors() {
        assert!(matches!(parse(&[0u8; 13]), Err(ParseError::Truncated { need: 14, .. })));
        let mut f = vec![0u8; 22];
        f[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        assert!(matches!(parse(&f[..17]), Err(ParseError::Truncated { need: 18, .. })));
        f[16..18].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        assert!(matches!(parse(&f), Err(ParseError::Malformed { .. })));
    }
}
