//! Traffic mixes for the demo, the benchmarks and the tests: every header
//! variant the NIC's offloads must handle, at sizes from the Ethernet minimum
//! to jumbo, built by `etherparse` (an independent, well-kept builder) with
//! correct checksums, so that what the NIC produces can be compared with what
//! a correct sender produces.

use etherparse::{
    IpHeaders, IpNumber, Ipv4Header, Ipv4Options, Ipv6Extensions, Ipv6FragmentHeader, Ipv6Header, Ipv6RawExtHeader,
    Ipv6RoutingExtensions, PacketBuilder, TcpHeader,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The shape of one generated frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind {
    /// IPv6 instead of IPv4.
    pub v6: bool,
    /// TCP instead of UDP.
    pub tcp: bool,
    /// An 802.1Q tag.
    pub vlan: bool,
    /// IPv4 options (v4) or hop-by-hop + routing (segments left 0) + destination options (v6).
    pub ext: bool,
    /// A fragment (IPv4 MF set, or an IPv6 fragment header): not offloadable.
    pub frag: bool,
}

const SRC_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
const DST_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
const V4_SRC: [u8; 4] = [10, 0, 0, 1];
const V4_DST: [u8; 4] = [10, 0, 0, 2];
const V6_SRC: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V6_DST: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// Header bytes before the L4 payload for `k` (Ethernet through TCP/UDP).
pub fn header_len(k: Kind) -> usize {
    let l2 = if k.vlan { 18 } else { 14 };
    let l3 = match (k.v6, k.ext, k.frag) {
        (false, false, _) => 20,
        (false, true, _) => 32,
        (true, false, false) => 40,
        (true, true, false) => 40 + 8 + 8 + 8,
        (true, false, true) => 48,
        (true, true, true) => 40 + 8 + 8 + 8 + 8,
    };
    l2 + l3 + if k.tcp { 20 } else { 8 }
}

/// Builds one frame of kind `k` carrying `payload`.
pub fn frame(k: Kind, payload: &[u8], seq: u32) -> Vec<u8> {
    if k.tcp {
        let mut t = TcpHeader::new(40000, 5001, seq, 65535);
        t.ack = true;
        t.acknowledgment_number = 1;
        return tcp_frame(k, t, seq, payload);
    }
    let mut out = Vec::with_capacity(header_len(k) + payload.len());
    let eth = PacketBuilder::ethernet2(SRC_MAC, DST_MAC);
    let ip = ip_headers(k, seq);
    let b = if k.vlan { eth.single_vlan(100.try_into().unwrap()).ip(ip) } else { eth.ip(ip) };
    b.udp(40000, 5001).write(&mut out, payload).unwrap();
    out
}

/// Builds a TCP frame of kind `k` (its `tcp` ignored) with header `t` (flags, options, sequence
/// numbers as given) and IP identification / fragment id from `id`; a TSO burst when long.
pub fn tcp_frame(k: Kind, t: TcpHeader, id: u32, payload: &[u8]) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2(SRC_MAC, DST_MAC);
    let ip = ip_headers(k, id);
    let mut out = Vec::with_capacity(header_len(k) + t.header_len() + payload.len());
    let b = if k.vlan { eth.single_vlan(100.try_into().unwrap()).ip(ip) } else { eth.ip(ip) };
    b.tcp_header(t).write(&mut out, payload).unwrap();
    out
}

/// The IP headers of kind `k` (see [`Kind::ext`] and [`Kind::frag`]), identification `seq`.
fn ip_headers(k: Kind, seq: u32) -> IpHeaders {
    if k.v6 {
        let mut exts = Ipv6Extensions::default();
        if k.ext {
            // Next-header fields are filled in by the builder when it writes the chain.
            exts.hop_by_hop_options = Some(Ipv6RawExtHeader::new_raw(IpNumber(0), &[1, 4, 0, 0, 0, 0]).unwrap());
            let rt = Ipv6RawExtHeader::new_raw(IpNumber(0), &[0, 0, 0, 0, 0, 0]).unwrap();
            exts.routing = Some(Ipv6RoutingExtensions {
                routing: rt,
                final_destination_options: Some(Ipv6RawExtHeader::new_raw(IpNumber(0), &[1, 4, 0, 0, 0, 0]).unwrap()),
            });
        }
        if k.frag {
            exts.fragment = Some(Ipv6FragmentHeader::new(IpNumber(0), 0.try_into().unwrap(), true, seq));
        }
        let h = Ipv6Header { hop_limit: 64, source: V6_SRC, destination: V6_DST, ..Default::default() };
        IpHeaders::Ipv6(h, exts)
    } else {
        let mut h = Ipv4Header::new(0, 64, IpNumber(0), V4_SRC, V4_DST).unwrap();
        h.identification = seq as u16;
        h.dont_fragment = !k.frag;
        h.more_fragments = k.frag;
        if k.ext {
            // Record-route-sized NOP padding: 12 bytes of options (IHL 8).
            h.options = Ipv4Options::from([1u8; 12]);
        }
        IpHeaders::Ipv4(h, Default::default())
    }
}

/// A frame of kind `k` that is `len` bytes long on the wire (at least its headers), payload from `rng`.
pub fn frame_of_len(k: Kind, len: usize, seq: u32, rng: &mut SmallRng) -> Vec<u8> {
    let n = len.saturating_sub(header_len(k));
    let payload: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
    frame(k, &payload, seq)
}

/// Every kind the NIC must handle (fragments included, which it must leave alone).
pub fn kinds() -> Vec<Kind> {
    let mut v = vec![];
    for v6 in [false, true] {
        for tcp in [false, true] {
            for vlan in [false, true] {
                for ext in [false, true] {
                    v.push(Kind { v6, tcp, vlan, ext, frag: false });
                }
            }
        }
    }
    v.push(Kind { v6: false, tcp: false, vlan: false, ext: false, frag: true });
    v.push(Kind { v6: true, tcp: true, vlan: true, ext: true, frag: true });
    v
}

/// The demo's traffic: [`mix`] of `frames` frames, then application writes larger than the
/// MTU (TCP bursts of 16 to 58 KB the NIC cuts with TSO), one per 250 frames; returns the
/// frames and how many bursts they end with. `nicctl demo` and `bench determinism` send it.
pub fn demo_mix(frames: usize, seed: u64) -> (Vec<Vec<u8>>, usize) {
    let mut v = mix(frames, seed);
    let bursts = (frames / 250).max(1);
    for i in 0..bursts {
        let k = Kind { v6: i % 2 == 1, tcp: true, vlan: i % 4 >= 2, ext: false, frag: false };
        let payload: Vec<u8> = (0..16_000 + 6_000 * (i % 8)).map(|j| (j * 13 + i) as u8).collect();
        v.push(frame(k, &payload, 7 * i as u32));
    }
    (v, bursts)
}

/// `n` frames cycling through [`kinds`], sizes random between the minimum and 9018 bytes,
/// weighted toward the sizes real traffic has (small, MTU-sized, jumbo).
pub fn mix(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let kinds = kinds();
    (0..n)
        .map(|i| {
            let k = kinds[i % kinds.len()];
            let len = match rng.gen_range(0..10) {
                0..=3 => rng.gen_range(60..=128),
                4..=6 => rng.gen_range(129..=1514),
                7 => 1514,
                8 => rng.gen_range(1515..=9018),
                _ => 9018,
            };
            frame_of_len(k, len, i as u32, &mut rng)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_with_valid_checksums_and_the_promised_header_length() {
        let mut rng = SmallRng::seed_from_u64(1);
        for k in kinds() {
            let f = frame_of_len(k, 300, 7, &mut rng);
            assert_eq!(f.len(), 300, "{k:?}");
            let p = etherparse::SlicedPacket::from_ethernet(&f).unwrap();
            assert_eq!(p.vlan.is_some(), k.vlan);
            if !k.frag {
                let payload_len = match &p.transport {
                    Some(etherparse::TransportSlice::Udp(u)) => u.payload().len(),
                    Some(etherparse::TransportSlice::Tcp(t)) => t.payload().len(),
                    other => panic!("{k:?}: no transport: {other:?}"),
                };
                assert_eq!(f.len() - payload_len, header_len(k), "{k:?}");
            }
        }
    }
}
