//! Software Toeplitz hash (offloads.md §6), the RSS function.
//!
//! The stack shards connections by the same hash the NIC puts in
//! `m_pkthdr.flowid`, so a connection's received packets and its own work land
//! on the same queue; the RTL's hash is checked against this one. Inputs are
//! laid out as the NIC sees a *received* packet: source first, then
//! destination, then source port and destination port, all in network order.
//!
//! [`rss_flow`] also follows the NIC's choice of input (nic_abi::rss): which
//! tuple a frame hashes by under the enabled hash types, and the `M_HASHTYPE`
//! it reports, so the stack can tell in advance which queue a flow arrives on.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use nic_abi::rss::{enable, hashtype};

/// The default 40-byte key (offloads.md §6): the NIC's reset key, from `nic-abi` so there is one source.
pub const RSS_KEY_DEFAULT: [u8; 40] = nic_abi::rss::KEY_DEFAULT;

/// IP protocol number of TCP (what [`rss_flow`] is told a flow carries).
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;

/// Longest input a 40-byte key covers: the 32-bit window slides over 320 - 32 key bits.
pub const RSS_MAX_INPUT: usize = 36;

/// The Toeplitz hash of `input` under `key`: for each input bit, most
/// significant first, a set bit XORs the key's current left-most 32 bits into
/// the result; the key window then moves one bit to the right. Bytes past
/// [`RSS_MAX_INPUT`] are ignored (the key has no bits left for them).
pub fn toeplitz(key: &[u8; 40], input: &[u8]) -> u32 {
    let mut window = u32::from_be_bytes([key[0], key[1], key[2], key[3]]);
    let mut next_bit = 32usize; // index of the key bit that enters the window next
    let mut hash = 0u32;
    for &byte in input.iter().take(RSS_MAX_INPUT) {
        for shift in (0..8).rev() {
            if byte >> shift & 1 != 0 {
                hash ^= window;
            }
            let incoming = key.get(next_bit / 8).map_or(0, |k| (k >> (7 - next_bit % 8)) & 1);
            window = window << 1 | incoming as u32;
            next_bit += 1;
        }
    }
    hash
}

/// The hash input as the NIC lays it out: source address, destination address, then (for the
/// 4-tuple) source and destination port, all in network order; returns it with its length.
fn tuple(src: &[u8], dst: &[u8], ports: Option<(u16, u16)>) -> ([u8; RSS_MAX_INPUT], usize) {
    let mut input = [0u8; RSS_MAX_INPUT];
    let a = src.len();
    input[..a].copy_from_slice(src);
    input[a..2 * a].copy_from_slice(dst);
    let mut n = 2 * a;
    if let Some((sport, dport)) = ports {
        input[n..n + 2].copy_from_slice(&sport.to_be_bytes());
        input[n + 2..n + 4].copy_from_slice(&dport.to_be_bytes());
        n += 4;
    }
    (input, n)
}

/// The IPv4 hash: `src dst` (2-tuple) or `src dst sport dport` (4-tuple) when `ports` is given.
pub fn hash_v4(key: &[u8; 40], src: Ipv4Addr, dst: Ipv4Addr, ports: Option<(u16, u16)>) -> u32 {
    let (input, n) = tuple(&src.octets(), &dst.octets(), ports);
    toeplitz(key, &input[..n])
}

/// The IPv6 hash: `src dst` (2-tuple) or `src dst sport dport` (4-tuple) when `ports` is given.
pub fn hash_v6(key: &[u8; 40], src: Ipv6Addr, dst: Ipv6Addr, ports: Option<(u16, u16)>) -> u32 {
    let (input, n) = tuple(&src.octets(), &dst.octets(), ports);
    toeplitz(key, &input[..n])
}

/// The Toeplitz hash of one key, by table: the hash is linear in its input,
/// so each input byte contributes a value that depends only on its position
/// and its own bits. 36 positions × 256 values, built once per key; a hash
/// is then one load and XOR per input byte instead of 8 conditional XORs
/// and shifts (the per-segment lookup pays this; see docs/PERFORMANCE.md).
pub struct ToeplitzTable {
    t: Box<[[u32; 256]; RSS_MAX_INPUT]>,
}

impl ToeplitzTable {
    /// The table of `key`.
    pub fn new(key: &[u8; 40]) -> Self {
        let mut t = Box::new([[0u32; 256]; RSS_MAX_INPUT]);
        for (p, row) in t.iter_mut().enumerate() {
            for bit in 0..8 {
                // The key window that meets bit `bit` (most significant first) of byte `p`.
                let mut one = [0u8; RSS_MAX_INPUT];
                one[p] = 0x80 >> bit;
                let w = toeplitz(key, &one);
                for (v, e) in row.iter_mut().enumerate() {
                    if v & (0x80 >> bit) != 0 {
                        *e ^= w;
                    }
                }
            }
        }
        ToeplitzTable { t }
    }

    /// The hash of `input` (bytes past [`RSS_MAX_INPUT`] ignored, as [`toeplitz`] does).
    pub fn hash(&self, input: &[u8]) -> u32 {
        input.iter().zip(self.t.iter()).fold(0, |h, (&b, row)| h ^ row[b as usize])
    }
}

/// The 4-tuple hash with the default key, for `src`/`dst` as on a *received*
/// packet: the stack hashes `(remote, local)` for its own connections so it
/// agrees with the NIC's `flowid`. Mixed families (which no packet carries)
/// are hashed as IPv6 with the IPv4 address mapped (`::ffff:a.b.c.d`).
pub fn flow_hash(src: SocketAddr, dst: SocketAddr) -> u32 {
    static TABLE: std::sync::OnceLock<ToeplitzTable> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| ToeplitzTable::new(&RSS_KEY_DEFAULT));
    let ports = Some((src.port(), dst.port()));
    let (input, n) = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => tuple(&s.octets(), &d.octets(), ports),
        (s, d) => tuple(&as_v6(s).octets(), &as_v6(d).octets(), ports),
    };
    t.hash(&input[..n])
}

/// The hash and `M_HASHTYPE` the NIC gives a received, unfragmented packet of IP protocol
/// `proto` from `src` to `dst` under `key` and the enabled `hashtypes` (`RSS_HASHTYPE_*` bits):
/// the 4-tuple type of its protocol when enabled, else the family's 2-tuple type when enabled,
/// else no hash (`(0, NONE)`, queue 0). Mixed families (which no packet carries) get no hash.
pub fn rss_flow(key: &[u8; 40], hashtypes: u32, src: SocketAddr, dst: SocketAddr, proto: u8) -> (u32, u8) {
    let ports = Some((src.port(), dst.port()));
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let four = match proto {
                IPPROTO_TCP => Some((enable::RSS_TCP_IPV4, hashtype::RSS_TCP_IPV4)),
                IPPROTO_UDP => Some((enable::RSS_UDP_IPV4, hashtype::RSS_UDP_IPV4)),
                _ => None,
            };
            match four {
                Some((bit, t)) if hashtypes & bit != 0 => (hash_v4(key, s, d, ports), t),
                _ if hashtypes & enable::RSS_IPV4 != 0 => (hash_v4(key, s, d, None), hashtype::RSS_IPV4),
                _ => (0, hashtype::NONE),
            }
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let four = match proto {
                IPPROTO_TCP => Some((enable::RSS_TCP_IPV6, hashtype::RSS_TCP_IPV6)),
                IPPROTO_UDP => Some((enable::RSS_UDP_IPV6, hashtype::RSS_UDP_IPV6)),
                _ => None,
            };
            match four {
                Some((bit, t)) if hashtypes & bit != 0 => (hash_v6(key, s, d, ports), t),
                _ if hashtypes & enable::RSS_IPV6 != 0 => (hash_v6(key, s, d, None), hashtype::RSS_IPV6),
                _ => (0, hashtype::NONE),
            }
        }
        _ => (0, hashtype::NONE),
    }
}

fn as_v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table form equals the definition (bit by bit) for random keys and inputs of every
    /// length, and `flow_hash` equals the definition's 4-tuple hashes.
    #[test]
    fn the_table_equals_the_definition() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        for _ in 0..20 {
            let mut key = [0u8; 40];
            rng.fill(&mut key[..]);
            let t = ToeplitzTable::new(&key);
            for len in 0..=RSS_MAX_INPUT {
                let input: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                assert_eq!(t.hash(&input), toeplitz(&key, &input), "length {len}");
            }
        }
        let (a, b): (SocketAddr, SocketAddr) = ("66.9.149.187:2794".parse().unwrap(), "161.142.100.80:1766".parse().unwrap());
        assert_eq!(flow_hash(a, b), 0x51ccc178);
        let (a, b): (SocketAddr, SocketAddr) =
            ("[3ffe:2501:200:1fff::7]:2794".parse().unwrap(), "[3ffe:2501:200:3::1]:1766".parse().unwrap());
        assert_eq!(flow_hash(a, b), 0x40207d3d);
    }

    // offloads.md §6: (destination, source, IP only, with ports); the hash input is source first.
    const V4: [(&str, &str, u32, u32); 3] = [
        ("161.142.100.80:1766", "66.9.149.187:2794", 0x323e8fc2, 0x51ccc178),
        ("65.69.140.83:4739", "199.92.111.2:14230", 0xd718262a, 0xc626b0ea),
        ("12.22.207.184:38024", "24.19.198.95:12898", 0xd2d0a5de, 0x5c2b394a),
    ];

    #[test]
    fn key_matches_offloads_md() {
        let hex = "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa";
        let bytes: Vec<u8> = (0..40).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
        assert_eq!(bytes, RSS_KEY_DEFAULT);
    }

    #[test]
    fn ipv4_verification_vectors() {
        for (dst, src, ip_only, with_ports) in V4 {
            let (dst, src): (SocketAddr, SocketAddr) = (dst.parse().unwrap(), src.parse().unwrap());
            let (IpAddr::V4(d), IpAddr::V4(s)) = (dst.ip(), src.ip()) else { unreachable!() };
            assert_eq!(hash_v4(&RSS_KEY_DEFAULT, s, d, None), ip_only, "{src} -> {dst}");
            assert_eq!(hash_v4(&RSS_KEY_DEFAULT, s, d, Some((src.port(), dst.port()))), with_ports, "{src} -> {dst}");
            assert_eq!(flow_hash(src, dst), with_ports);
        }
    }

    #[test]
    fn ipv6_verification_vectors() {
        let dst: Ipv6Addr = "3ffe:2501:200:3::1".parse().unwrap();
        let src: Ipv6Addr = "3ffe:2501:200:1fff::7".parse().unwrap();
        assert_eq!(hash_v6(&RSS_KEY_DEFAULT, src, dst, None), 0x2cc18cd5);
        assert_eq!(hash_v6(&RSS_KEY_DEFAULT, src, dst, Some((2794, 1766))), 0x40207d3d);
        let (s, d) = (SocketAddr::new(src.into(), 2794), SocketAddr::new(dst.into(), 1766));
        assert_eq!(flow_hash(s, d), 0x40207d3d);
    }

    #[test]
    fn rss_flow_follows_the_nics_fallbacks() {
        use nic_abi::rss::HASHTYPES_SUPPORTED as ALL;
        let (dst, src): (SocketAddr, SocketAddr) = ("161.142.100.80:1766".parse().unwrap(), "66.9.149.187:2794".parse().unwrap());
        let k = &RSS_KEY_DEFAULT;
        assert_eq!(rss_flow(k, ALL, src, dst, IPPROTO_TCP), (0x51ccc178, hashtype::RSS_TCP_IPV4));
        assert_eq!(rss_flow(k, ALL, src, dst, IPPROTO_UDP), (0x51ccc178, hashtype::RSS_UDP_IPV4));
        assert_eq!(rss_flow(k, ALL, src, dst, 1), (0x323e8fc2, hashtype::RSS_IPV4), "ICMP: addresses only");
        let no_tcp = ALL & !enable::RSS_TCP_IPV4;
        assert_eq!(rss_flow(k, no_tcp, src, dst, IPPROTO_TCP), (0x323e8fc2, hashtype::RSS_IPV4), "2-tuple fallback");
        assert_eq!(rss_flow(k, enable::RSS_TCP_IPV6, src, dst, IPPROTO_TCP), (0, hashtype::NONE), "no v4 type on");
        let (d6, s6): (SocketAddr, SocketAddr) =
            ("[3ffe:2501:200:3::1]:1766".parse().unwrap(), "[3ffe:2501:200:1fff::7]:2794".parse().unwrap());
        assert_eq!(rss_flow(k, ALL, s6, d6, IPPROTO_TCP), (0x40207d3d, hashtype::RSS_TCP_IPV6));
        assert_eq!(rss_flow(k, enable::RSS_IPV6, s6, d6, IPPROTO_UDP), (0x2cc18cd5, hashtype::RSS_IPV6));
        assert_eq!(rss_flow(k, ALL, src, d6, IPPROTO_TCP), (0, hashtype::NONE), "mixed families");
    }

    #[test]
    fn long_input_is_cut_at_36_bytes_and_empty_hashes_to_zero() {
        let long = [0xa5u8; 64];
        assert_eq!(toeplitz(&RSS_KEY_DEFAULT, &long), toeplitz(&RSS_KEY_DEFAULT, &long[..RSS_MAX_INPUT]));
        assert_eq!(toeplitz(&RSS_KEY_DEFAULT, &[]), 0);
        // A single leading 1 bit selects exactly the key's first 32 bits.
        assert_eq!(toeplitz(&RSS_KEY_DEFAULT, &[0x80]), 0x6d5a56da);
    }
}
