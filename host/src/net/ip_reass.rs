//! IP reassembly (FreeBSD's `ip_reass` and `frag6_input`): fragments of a
//! datagram are held until every byte from 0 to the last fragment's end has
//! arrived, then handed back as one packet, header rebuilt, for input to take
//! up as if it had come whole.
//!
//! Bounded, since fragments are a classic way to tie up a receiver's memory:
//! at most [`ReassLimits::max_datagrams`] datagrams and
//! [`ReassLimits::max_bytes`] bytes held, at most
//! [`ReassLimits::max_frags`] fragments per datagram, and each datagram
//! given [`ReassLimits::timeout_ns`] (FreeBSD's 30 s for IPv4, RFC 8200's
//! 60 s for IPv6) from its first fragment. Overlapping fragments drop the
//! whole datagram (RFC 5722 for IPv6; done the same for IPv4: an overlap has
//! no honest use and is how filters are evaded); an exact duplicate is
//! ignored. Every refusal is counted.
//!
//! The NIC hashes a fragment on its addresses only, so all fragments of a
//! datagram reach the same receive queue; the stack still keeps one table,
//! since it is rarely busy.

use std::collections::HashMap;

use super::ipv6::IP6_HDR_LEN;

/// How much reassembly may hold.
#[derive(Clone, Copy, Debug)]
pub struct ReassLimits {
    /// Datagrams being reassembled at once.
    pub max_datagrams: usize,
    /// Bytes of fragment payload held, over all datagrams.
    pub max_bytes: usize,
    /// Fragments one datagram may come in.
    pub max_frags: usize,
    /// How long a datagram may take to complete, from its first fragment (IPv4).
    pub timeout_ns: u64,
    /// The same for IPv6.
    pub timeout6_ns: u64,
}

impl Default for ReassLimits {
    fn default() -> Self {
        // 64 datagrams and 1 MiB: room for bursts of 64 KiB datagrams without letting a flood
        // of first fragments take more. 64 fragments: a 64 KiB datagram in 1 KiB pieces.
        ReassLimits {
            max_datagrams: 64,
            max_bytes: 1 << 20,
            max_frags: 64,
            timeout_ns: 30_000_000_000,
            timeout6_ns: 60_000_000_000,
        }
    }
}

/// What reassembly did, for `netstat -s`-like reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReassStats {
    /// Fragments taken in.
    pub fragments: u64,
    /// Datagrams completed and handed back.
    pub reassembled: u64,
    /// Fragments refused: malformed (a non-last fragment not a multiple of 8 bytes, past
    /// 65 535 bytes, a second last fragment that disagrees).
    pub bad: u64,
    /// Exact duplicates ignored.
    pub duplicates: u64,
    /// Datagrams dropped for an overlap.
    pub overlaps: u64,
    /// Datagrams dropped for a limit (datagrams, bytes, fragments per datagram).
    pub limited: u64,
    /// Datagrams dropped unfinished at their timeout.
    pub timed_out: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    V4 { src: [u8; 4], dst: [u8; 4], id: u16, proto: u8 },
    V6 { src: [u8; 16], dst: [u8; 16], id: u32 },
}

/// One datagram on its way.
struct Datagram {
    /// Fragment payloads by offset, sorted, not overlapping.
    frags: Vec<(usize, Vec<u8>)>,
    /// The header the whole datagram gets, from its first fragment (`None` until it comes).
    header: Option<Vec<u8>>,
    /// The payload's length, from the last fragment (`None` until it comes).
    end: Option<usize>,
    bytes: usize,
    deadline: u64,
}

/// The fragments held, by datagram.
#[derive(Default)]
pub struct IpReass {
    limits: ReassLimits,
    held: HashMap<Key, Datagram>,
    bytes: usize,
    now: u64,
    /// Counters.
    pub stats: ReassStats,
}

/// Where a fragment's payload goes and what it says about the datagram.
struct Piece<'a> {
    key: Key,
    offset: usize,
    more: bool,
    payload: &'a [u8],
    /// The whole datagram's header, if this is the first fragment.
    header: Option<Vec<u8>>,
    timeout_ns: u64,
}

impl IpReass {
    /// An empty table with `limits`.
    pub fn new(limits: ReassLimits) -> Self {
        IpReass { limits, ..Default::default() }
    }

    /// Sets "now" (nanoseconds on the stack's clock: the stack calls this on its neighbour
    /// tick, so a deadline counts from at most a tick before its first fragment) and drops
    /// datagrams past their deadline.
    pub fn tick(&mut self, now: u64) {
        self.now = now;
        let before = self.held.len();
        let mut freed = 0;
        self.held.retain(|_, d| {
            let keep = d.deadline > now;
            if !keep {
                freed += d.bytes;
            }
            keep
        });
        self.bytes -= freed;
        self.stats.timed_out += (before - self.held.len()) as u64;
    }

    /// Datagrams held now.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// An IPv4 fragment: `pkt` is the packet (header validated by `ip_input`, trimmed to its
    /// total length). Returns the whole datagram, header rebuilt (no more fragments, offset
    /// 0, total length and checksum), once its last missing piece arrived.
    pub fn input_v4(&mut self, pkt: &[u8]) -> Option<Vec<u8>> {
        let hlen = usize::from(pkt[0] & 0x0f) * 4;
        let fo = u16::from_be_bytes([pkt[6], pkt[7]]);
        let offset = usize::from(fo & 0x1fff) * 8;
        let key = Key::V4 {
            src: pkt[12..16].try_into().ok()?,
            dst: pkt[16..20].try_into().ok()?,
            id: u16::from_be_bytes([pkt[4], pkt[5]]),
            proto: pkt[9],
        };
        let header = (offset == 0).then(|| pkt[..hlen].to_vec());
        let piece = Piece { key, offset, more: fo & 0x2000 != 0, payload: &pkt[hlen..], header, timeout_ns: self.limits.timeout_ns };
        let (mut h, payload) = self.input(piece)?;
        let total = h.len() + payload.len();
        if total > usize::from(u16::MAX) {
            // The pieces fit 65 535 bytes of payload; with the header they do not.
            self.stats.bad += 1;
            return None;
        }
        h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        h[6] &= 0x40; // keep DF; clear MF and the offset
        h[7] = 0;
        h[10..12].copy_from_slice(&[0, 0]);
        let sum = !nic_abi::cksum::fold(nic_abi::cksum::sum(&h, 0));
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        h.extend_from_slice(&payload);
        Some(h)
    }

    /// An IPv6 fragment: `pkt` is the packet trimmed to its payload length, `frag_at` where its
    /// fragment header starts and `prev_nh` where the next-header field that names it is.
    /// Returns the whole datagram without the fragment header (the field at `prev_nh` now
    /// names what the fragment header did, the payload length covers the whole) once complete.
    pub fn input_v6(&mut self, pkt: &[u8], frag_at: usize, prev_nh: usize) -> Option<Vec<u8>> {
        let f = pkt.get(frag_at..frag_at + 8)?;
        let fo = u16::from_be_bytes([f[2], f[3]]);
        let offset = usize::from(fo & !7);
        let key = Key::V6 {
            src: pkt[8..24].try_into().ok()?,
            dst: pkt[24..40].try_into().ok()?,
            id: u32::from_be_bytes([f[4], f[5], f[6], f[7]]),
        };
        let header = (offset == 0).then(|| {
            let mut h = pkt[..frag_at].to_vec();
            h[prev_nh] = f[0];
            h
        });
        let piece = Piece { key, offset, more: fo & 1 != 0, payload: &pkt[frag_at + 8..], header, timeout_ns: self.limits.timeout6_ns };
        let (mut h, payload) = self.input(piece)?;
        let plen = h.len() - IP6_HDR_LEN + payload.len();
        if plen > usize::from(u16::MAX) {
            self.stats.bad += 1;
            return None;
        }
        h[4..6].copy_from_slice(&(plen as u16).to_be_bytes());
        h.extend_from_slice(&payload);
        Some(h)
    }

    /// Files `p`; returns the header and the whole payload when the datagram is complete.
    fn input(&mut self, p: Piece<'_>) -> Option<(Vec<u8>, Vec<u8>)> {
        self.stats.fragments += 1;
        let (start, len) = (p.offset, p.payload.len());
        let end = start + len;
        // A non-last fragment carries a multiple of 8 bytes; nothing reaches past 64 KiB.
        if (p.more && (len == 0 || len % 8 != 0)) || end > usize::from(u16::MAX) {
            self.stats.bad += 1;
            return None;
        }
        if !self.held.contains_key(&p.key) {
            if self.held.len() >= self.limits.max_datagrams {
                self.stats.limited += 1;
                return None;
            }
            let deadline = self.now.saturating_add(p.timeout_ns);
            self.held.insert(p.key.clone(), Datagram { frags: Vec::new(), header: None, end: None, bytes: 0, deadline });
        }
        let d = self.held.get_mut(&p.key)?;
        if let Some(i) = d.frags.iter().position(|(o, b)| *o < end && start < *o + b.len()) {
            let (o, b) = &d.frags[i];
            if *o == start && b.as_slice() == p.payload && p.more == (d.end != Some(end)) {
                self.stats.duplicates += 1;
                return None;
            }
            self.stats.overlaps += 1;
            self.drop_datagram(&p.key);
            return None;
        }
        let last_disagrees = match (p.more, d.end) {
            (false, Some(e)) => e != end,
            (false, None) => d.frags.iter().any(|(o, b)| o + b.len() > end),
            (true, Some(e)) => end > e,
            (true, None) => false,
        };
        if last_disagrees {
            self.stats.bad += 1;
            self.drop_datagram(&p.key);
            return None;
        }
        if d.frags.len() >= self.limits.max_frags || self.bytes + len > self.limits.max_bytes {
            self.stats.limited += 1;
            self.drop_datagram(&p.key);
            return None;
        }
        let at = d.frags.partition_point(|(o, _)| *o < start);
        d.frags.insert(at, (start, p.payload.to_vec()));
        d.bytes += len;
        self.bytes += len;
        if !p.more {
            d.end = Some(end);
        }
        if p.header.is_some() {
            d.header = p.header;
        }
        // Complete: the first fragment's header, and pieces from 0 to the end with no hole.
        let total = d.end?;
        d.header.as_ref()?;
        let mut next = 0;
        for (o, b) in &d.frags {
            if *o != next {
                return None;
            }
            next += b.len();
        }
        if next != total {
            return None;
        }
        let d = self.held.remove(&p.key)?;
        self.bytes -= d.bytes;
        self.stats.reassembled += 1;
        let mut payload = Vec::with_capacity(total);
        for (_, b) in d.frags {
            payload.extend_from_slice(&b);
        }
        Some((d.header?, payload))
    }

    fn drop_datagram(&mut self, key: &Key) {
        if let Some(d) = self.held.remove(key) {
            self.bytes -= d.bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    //! The reference is the datagram before it was cut: etherparse builds it whole (checksums
    //! and all), the tests cut it as RFC 791 and RFC 8200 say, feed the fragments in some
    //! order, and what comes out must be the original to the byte.
    use super::*;
    use etherparse::{IpFragOffset, Ipv4Header, PacketBuilder};

    fn payload(n: usize, seed: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 13 + seed) as u8).collect()
    }

    fn v4_whole(n: usize, id: u16) -> Vec<u8> {
        let mut d = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(5000, 6000).write(&mut d, &payload(n, id as usize)).unwrap();
        let (mut h, _) = Ipv4Header::from_slice(&d).unwrap();
        h.identification = id;
        h.header_checksum = h.calc_header_checksum();
        d[..20].copy_from_slice(&h.to_bytes());
        d
    }

    /// `d` cut into fragments of at most `piece` payload bytes (a multiple of 8).
    fn v4_cut(d: &[u8], piece: usize) -> Vec<Vec<u8>> {
        let (h, body) = Ipv4Header::from_slice(d).unwrap();
        body.chunks(piece)
            .enumerate()
            .map(|(i, c)| {
                let mut f = h.clone();
                f.total_len = (20 + c.len()) as u16;
                f.more_fragments = (i + 1) * piece < body.len();
                f.fragment_offset = IpFragOffset::try_new((i * piece / 8) as u16).unwrap();
                f.header_checksum = f.calc_header_checksum();
                let mut v = f.to_bytes().to_vec();
                v.extend_from_slice(c);
                v
            })
            .collect()
    }

    fn v6_whole(n: usize) -> Vec<u8> {
        let mut d = Vec::new();
        PacketBuilder::ipv6([0xfd; 16], [0xfe; 16], 64).udp(5000, 6000).write(&mut d, &payload(n, 6)).unwrap();
        d
    }

    /// `d` cut into fragments, each with a fragment header after the fixed header, written out
    /// as RFC 8200 §4.5 draws it: next header, reserved, offset in 8-byte units in bits 15..3
    /// with M in bit 0, identification.
    fn v6_cut(d: &[u8], piece: usize, id: u32) -> Vec<Vec<u8>> {
        let body = &d[IP6_HDR_LEN..];
        body.chunks(piece)
            .enumerate()
            .map(|(i, c)| {
                let more = (i + 1) * piece < body.len();
                let fo = ((i * piece / 8) as u16) << 3 | u16::from(more);
                let mut v = d[..IP6_HDR_LEN].to_vec();
                v[6] = 44; // next header: fragment
                v[4..6].copy_from_slice(&((8 + c.len()) as u16).to_be_bytes());
                v.extend_from_slice(&[17, 0]);
                v.extend_from_slice(&fo.to_be_bytes());
                v.extend_from_slice(&id.to_be_bytes());
                v.extend_from_slice(c);
                v
            })
            .collect()
    }

    #[test]
    fn ipv4_fragments_in_any_order_give_back_the_datagram_before_it_was_cut() {
        let d = v4_whole(5000, 77);
        let mut frags = v4_cut(&d, 1480);
        assert_eq!(frags.len(), 4);
        frags.swap(0, 3);
        frags.swap(1, 2);
        let mut r = IpReass::default();
        let mut out = None;
        for f in &frags {
            assert!(out.is_none(), "complete before the last piece");
            out = r.input_v4(f);
        }
        assert_eq!(out.as_deref(), Some(&d[..]), "the original datagram, header and checksums");
        assert_eq!((r.stats.reassembled, r.held(), r.bytes), (1, 0, 0));
    }

    #[test]
    fn ipv6_fragments_give_back_the_datagram_without_the_fragment_header() {
        let d = v6_whole(3000);
        let mut frags = v6_cut(&d, 1232, 0xdead_beef);
        frags.reverse();
        let mut r = IpReass::default();
        let mut out = None;
        for f in &frags {
            out = r.input_v6(f, IP6_HDR_LEN, 6);
        }
        assert!(out.as_deref() == Some(&d[..]), "{:?}, held {}", r.stats, r.held());
    }

    #[test]
    fn duplicates_are_ignored_and_overlaps_drop_the_datagram() {
        let d = v4_whole(3000, 5);
        let frags = v4_cut(&d, 1480);
        let mut r = IpReass::default();
        assert!(r.input_v4(&frags[0]).is_none());
        assert!(r.input_v4(&frags[0]).is_none());
        assert_eq!(r.stats.duplicates, 1);
        assert!(r.input_v4(&frags[1]).is_none());
        assert_eq!(r.input_v4(&frags[2]).as_deref(), Some(&d[..]), "a duplicate does no harm");
        // An overlapping piece (offset 1480 - 8, so it covers the end of the first).
        let mut bad = frags[1].clone();
        bad[6..8].copy_from_slice(&(0x2000u16 | ((1480 - 8) / 8) as u16).to_be_bytes());
        assert!(r.input_v4(&frags[0]).is_none());
        assert!(r.input_v4(&bad).is_none());
        assert_eq!((r.stats.overlaps, r.held()), (1, 0), "dropped whole");
        assert!(r.input_v4(&frags[2]).is_none(), "what comes after starts a new datagram");
    }

    #[test]
    fn limits_and_timeouts_bound_what_is_held() {
        let limits = ReassLimits { max_datagrams: 4, max_bytes: 8 * 1480, timeout_ns: 1_000, ..Default::default() };
        let mut r = IpReass::new(limits);
        // First fragments of many datagrams: only 4 are held.
        for id in 0..10u16 {
            let frags = v4_cut(&v4_whole(3000, id), 1480);
            r.input_v4(&frags[0]);
        }
        assert_eq!((r.held(), r.stats.limited), (4, 6));
        r.tick(999);
        assert_eq!(r.held(), 4);
        r.tick(1_000);
        assert_eq!((r.held(), r.stats.timed_out, r.bytes), (0, 4, 0), "given back at their deadline");
        // A datagram larger than the byte limit is refused, and what it held is given back.
        let frags = v4_cut(&v4_whole(20_000, 99), 1480);
        let got: Vec<_> = frags.iter().filter_map(|f| r.input_v4(f)).collect();
        assert!(got.is_empty());
        assert!(r.stats.limited > 6 && r.bytes <= 8 * 1480);
        // Malformed: a middle fragment whose length is not a multiple of 8.
        let mut f = v4_cut(&v4_whole(3000, 7), 1480).remove(0);
        f.truncate(f.len() - 3);
        assert!(r.input_v4(&f).is_none());
        assert_eq!(r.stats.bad, 1);
        // Pieces that fit 65 535 bytes, but not with the 20-byte header: refused, not wrapped.
        let mut r = IpReass::default();
        let mut last = v4_cut(&v4_whole(100, 8), 1480).remove(0);
        last[6..8].copy_from_slice(&((65_528 / 8) as u16).to_be_bytes()); // offset 65 528, last
        last.truncate(20 + 7);
        assert!(r.input_v4(&last).is_none());
        for off in (0..65_528).step_by(1480) {
            let mut f = v4_cut(&v4_whole(3000, 8), 1480).remove(0);
            let len = 1480.min(65_528 - off);
            f.truncate(20 + len);
            f[6..8].copy_from_slice(&(0x2000 | (off / 8) as u16).to_be_bytes());
            assert!(r.input_v4(&f).is_none(), "nothing whole at {off}");
        }
        assert_eq!((r.stats.bad, r.held()), (1, 0), "{:?}", r.stats);
    }
}
