//! Packets with a FreeBSD-style packet header.
//!
//! The packet header is where offload state travels between the stack and the
//! driver, exactly as `m_pkthdr` does in FreeBSD: the stack asks for transmit
//! checksums in `csum_flags`/`csum_data`, the driver reports receive results
//! in the same fields. Anyone who knows `sys/sys/mbuf.h` reads this as-is.
//!
//! Storage is one contiguous `Vec` with headroom in front, so each output
//! layer prepends its header (`M_PREPEND`) without copying the payload, and
//! each input layer strips its header (`m_adj`) without copying either.

use std::fmt;

/// Headroom reserved in front of new packets: Ethernet + 802.1Q (18) + an IPv6
/// header with room for extension headers + a TCP header with options, so the
/// usual output path never reallocates.
pub const MAX_LINKHDR_AND_PROTOHDR: usize = 192;

/// A reference to an interface that survives the interface's departure.
///
/// Packets, timers and connections refer to an interface by index and
/// generation, never by pointer: when an interface departs and its index is
/// reused, the generation differs, so a stale reference is detected instead of
/// delivering to the wrong interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IfRef {
    /// `if_index`.
    pub index: u16,
    /// Incremented each time the index is reused.
    pub generation: u32,
}

/// FreeBSD's `struct pkthdr`: the offload state of one packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PktHdr {
    /// Transmit: `CSUM_*` requests; receive: `CSUM_L3_*`/`CSUM_L4_*` results ([`nic_abi::csum`]).
    pub csum_flags: u32,
    /// Transmit: offset of the L4 checksum field from the L4 header (TCP 16, UDP 6);
    /// receive: the folded L4 sum the NIC computed (0xffff when valid).
    pub csum_data: u32,
    /// TSO maximum segment size (payload bytes per segment); zero when not TSO.
    pub tso_segsz: u16,
    /// Link header length (14, or 18 with 802.1Q), so the NIC need not parse.
    pub l2hlen: u8,
    /// IP header length including IPv4 options or IPv6 extension headers.
    pub l3hlen: u8,
    /// L4 header length (TCP with options, UDP 8).
    pub l4hlen: u8,
    /// RSS hash (`m_pkthdr.flowid`), for queue and CPU selection.
    pub flowid: u32,
    /// What `flowid` hashes (`M_HASHTYPE_*`; zero: none).
    pub rsstype: u8,
    /// The interface a received packet came in on.
    pub rcvif: Option<IfRef>,
}

/// One packet: bytes plus packet header.
#[derive(Clone, PartialEq, Eq)]
pub struct Mbuf {
    buf: Vec<u8>,
    start: usize,
    /// The packet header (public as in FreeBSD: every layer reads and writes it).
    pub pkthdr: PktHdr,
}

impl fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags: Vec<&str> = nic_abi::csum::names(self.pkthdr.csum_flags).collect();
        f.debug_struct("Mbuf")
            .field("len", &self.len())
            .field("csum_flags", &flags)
            .field("pkthdr", &self.pkthdr)
            .finish()
    }
}

impl Default for Mbuf {
    fn default() -> Self {
        Mbuf::new()
    }
}

impl Mbuf {
    /// An empty packet with the usual headroom (`m_gethdr`).
    pub fn new() -> Self {
        Mbuf::with_headroom(MAX_LINKHDR_AND_PROTOHDR, &[])
    }

    /// A packet holding `data`, with headroom for the headers output will prepend.
    pub fn from_payload(data: &[u8]) -> Self {
        Mbuf::with_headroom(MAX_LINKHDR_AND_PROTOHDR, data)
    }

    /// A packet holding a whole frame (receive, replay): no headroom needed.
    pub fn from_frame(data: &[u8]) -> Self {
        Mbuf::with_headroom(0, data)
    }

    /// A packet that takes ownership of a frame's bytes (receive: no second copy).
    pub fn from_vec(buf: Vec<u8>) -> Self {
        Mbuf { buf, start: 0, pkthdr: PktHdr::default() }
    }

    /// A packet holding `data` after `headroom` spare bytes.
    pub fn with_headroom(headroom: usize, data: &[u8]) -> Self {
        let mut buf = vec![0u8; headroom];
        buf.extend_from_slice(data);
        Mbuf { buf, start: headroom, pkthdr: PktHdr::default() }
    }

    /// Packet length (`m_pkthdr.len`).
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether the packet has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The packet's bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// The packet's bytes, for in-place header updates.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..]
    }

    /// `M_PREPEND`: makes room for `n` bytes in front and returns them (zeroed);
    /// reallocates only when the headroom is used up.
    pub fn prepend(&mut self, n: usize) -> &mut [u8] {
        if n > self.start {
            let grow = n - self.start + MAX_LINKHDR_AND_PROTOHDR;
            let mut nb = vec![0u8; grow];
            nb.extend_from_slice(&self.buf);
            self.buf = nb;
            self.start += grow;
        }
        self.start -= n;
        let h = &mut self.buf[self.start..self.start + n];
        h.fill(0);
        h
    }

    /// `m_adj` with a positive count: drops `n` bytes from the front (a header
    /// consumed by input); drops everything when `n` exceeds the length.
    pub fn adj_front(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.buf.len());
    }

    /// `m_adj` with a negative count: trims the packet to `len` bytes (Ethernet
    /// padding after an IP datagram); longer `len` leaves it unchanged.
    pub fn trim(&mut self, len: usize) {
        if len < self.len() {
            self.buf.truncate(self.start + len);
        }
    }

    /// Appends bytes at the end (building a payload).
    pub fn append(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The bytes, consuming the packet.
    pub fn into_vec(mut self) -> Vec<u8> {
        if self.start == 0 {
            self.buf
        } else {
            self.buf.split_off(self.start)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_uses_headroom_then_grows() {
        let mut m = Mbuf::with_headroom(4, b"payload");
        m.prepend(4).copy_from_slice(b"HDR1");
        assert_eq!(m.data(), b"HDR1payload");
        m.prepend(3).copy_from_slice(b"abc");
        assert_eq!(m.data(), b"abcHDR1payload");
        m.adj_front(3);
        assert_eq!(m.data(), b"HDR1payload");
        m.trim(4);
        assert_eq!(m.into_vec(), b"HDR1");
    }

    #[test]
    fn adj_past_the_end_empties() {
        let mut m = Mbuf::from_frame(b"abc");
        m.adj_front(10);
        assert!(m.is_empty());
        m.trim(5);
        assert!(m.is_empty());
    }
}
