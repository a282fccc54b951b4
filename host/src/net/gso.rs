//! Software TCP segmentation (GSO): what the stack does with a TSO burst when
//! the interface has TSO off, and the reference the NIC's TSO is held to.
//!
//! The input is the mbuf a TSO driver would get (FreeBSD's convention, and
//! this NIC's ABI): `CSUM_TSO` with `CSUM_IP_TCP` or `CSUM_IP6_TCP`,
//! `l2hlen`/`l3hlen`/`l4hlen`, `tso_segsz`, and the TCP checksum field seeded
//! with the pseudo-header sum *without* the length. Each segment gets what
//! offloads.md §3 says, computed with the same arithmetic the RTL uses, so the
//! frames are byte-identical to the NIC's. The segments' checksums are left as
//! ordinary requests where `if_hwassist` takes them (seeded *with* the length,
//! as every non-TSO request is) and finished in software otherwise.

use std::fmt;

use nic_abi::cksum;
use nic_abi::csum::{CSUM_IP, CSUM_IP6_TCP, CSUM_IP_TCP, CSUM_TSO, TCP_CSUM_OFFSET};

use super::ipv4::finish_in_software;
use crate::mbuf::Mbuf;

/// TCP flags TSO treats specially (offloads.md §3).
const TH_FIN: u8 = 0x01;
const TH_PSH: u8 = 0x08;
const TH_CWR: u8 = 0x80;

/// Why a burst cannot be segmented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GsoError {
    /// Not a TSO request: `CSUM_TSO` missing, or neither (or both) TCP families.
    NotTso,
    /// `tso_segsz` is zero.
    ZeroMss,
    /// The header lengths do not fit the burst or the protocol.
    Headers(&'static str),
}

impl fmt::Display for GsoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GsoError::NotTso => write!(f, "not a TSO request (CSUM_TSO with exactly one of CSUM_IP_TCP, CSUM_IP6_TCP)"),
            GsoError::ZeroMss => write!(f, "TSO request with tso_segsz 0"),
            GsoError::Headers(w) => write!(f, "TSO headers unusable: {w}"),
        }
    }
}

impl std::error::Error for GsoError {}

/// Cuts the TSO burst `m` into MSS-sized frames; checksums in `if_hwassist`
/// stay requests on the segments, the others are computed here.
pub fn tcp_gso(m: &Mbuf, if_hwassist: u32) -> Result<Vec<Mbuf>, GsoError> {
    let h = &m.pkthdr;
    let v4 = h.csum_flags & CSUM_IP_TCP != 0;
    let v6 = h.csum_flags & CSUM_IP6_TCP != 0;
    if h.csum_flags & CSUM_TSO == 0 || v4 == v6 {
        return Err(GsoError::NotTso);
    }
    let mss = h.tso_segsz as usize;
    if mss == 0 {
        return Err(GsoError::ZeroMss);
    }
    let (l2, l3, l4) = (h.l2hlen as usize, h.l3hlen as usize, h.l4hlen as usize);
    let hlen = l2 + l3 + l4;
    let data = m.data();
    if l4 < 20 || l4 % 4 != 0 || (v4 && l3 < 20) || (v6 && l3 < 40) {
        return Err(GsoError::Headers("TCP header under 20 bytes or not a multiple of 4, or IP header too short"));
    }
    if hlen >= data.len() {
        return Err(GsoError::Headers("no payload after the headers"));
    }
    let (tmpl, payload) = data.split_at(hlen);
    let l4s = l2 + l3;
    let seed = u16::from_be_bytes([tmpl[l4s + 16], tmpl[l4s + 17]]);
    let id0 = u16::from_be_bytes([tmpl[l2 + 4], tmpl[l2 + 5]]);
    let seq0 = u32::from_be_bytes(tmpl[l4s + 4..l4s + 8].try_into().expect("4 bytes"));
    let flags0 = tmpl[l4s + 13];
    let n = payload.len().div_ceil(mss);
    let tcp_req = if v4 { CSUM_IP_TCP } else { CSUM_IP6_TCP };
    let hw = if_hwassist & (tcp_req | if v4 { CSUM_IP } else { 0 });
    let mut out = Vec::with_capacity(n);
    for (k, chunk) in payload.chunks(mss).enumerate() {
        let mut f = Vec::with_capacity(hlen + chunk.len());
        f.extend_from_slice(tmpl);
        f.extend_from_slice(chunk);
        if v4 {
            let total = (hlen - l2 + chunk.len()) as u16;
            f[l2 + 2..l2 + 4].copy_from_slice(&total.to_be_bytes());
            f[l2 + 4..l2 + 6].copy_from_slice(&id0.wrapping_add(k as u16).to_be_bytes());
            f[l2 + 10..l2 + 12].fill(0);
        } else {
            let plen = (hlen - l2 - 40 + chunk.len()) as u16;
            f[l2 + 4..l2 + 6].copy_from_slice(&plen.to_be_bytes());
        }
        let seq = seq0.wrapping_add((k * mss) as u32);
        f[l4s + 4..l4s + 8].copy_from_slice(&seq.to_be_bytes());
        let mut fl = flags0;
        if k + 1 < n {
            fl &= !(TH_FIN | TH_PSH);
        }
        if k > 0 {
            fl &= !TH_CWR;
        }
        f[l4s + 13] = fl;
        // The seed without length plus this segment's TCP length: a plain checksum request.
        let tcp_len = (hlen - l4s + chunk.len()) as u32;
        let with_len = cksum::fold(seed as u32 + tcp_len);
        f[l4s + 16..l4s + 18].copy_from_slice(&with_len.to_be_bytes());
        let req = tcp_req | if v4 { CSUM_IP } else { 0 };
        finish_in_software(&mut f, l2, l3, req & !hw, TCP_CSUM_OFFSET as u32).map_err(GsoError::Headers)?;
        let mut s = Mbuf::from_vec(f);
        s.pkthdr = m.pkthdr;
        s.pkthdr.csum_flags = req & hw;
        s.pkthdr.csum_data = if req & hw & tcp_req != 0 { TCP_CSUM_OFFSET as u32 } else { 0 };
        s.pkthdr.tso_segsz = 0;
        out.push(s);
    }
    Ok(out)
}
