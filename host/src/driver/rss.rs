//! RSS control: the Toeplitz key, the enabled hash types and the indirection
//! table of the NIC's RSS block (`regs::rss`, 0x300), and the driver's shadow
//! of them, which software consults to know in advance on which queue a flow
//! arrives ([`RssConfig::queue_of`], [`Driver::rss_queue`]).
//!
//! Register layout (nic_abi::regs::rss): key byte `4i + j` in bits
//! `31 - 8j .. 24 - 8j` of `KEY + 4i` (each word is four key bytes in order,
//! big-endian); table entry `4i + j` in bits `8j + 7 .. 8j` of `RETA + 4i`
//! (little-endian). A hash `h` uses entry `h & 127`.
//!
//! Changes are made under the driver's configuration lock, written to the NIC
//! first and then to the shadow, whose generation moves on so cached queue
//! choices are recomputed. A frame that arrives during a change is steered
//! by the entries in force when its last byte arrived, old or new. What the
//! stack guarantees about a connection's order when its queue changes is in
//! [`crate::stack`] ("Ordering when RSS changes").

use std::net::SocketAddr;

use nic_abi::regs::rss as reg;
use nic_abi::rss::{enable, hashtype, HASHTYPES_SUPPORTED, KEY_DEFAULT, KEY_SIZE, RETA_SIZE};

use super::idblock::DeviceInfo;
use crate::dev::{DevError, Device};

/// The RSS block as the driver programmed it (its shadow): what the NIC hashes and where each
/// hash value sends a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RssConfig {
    /// Whether the NIC has RSS at all (ID block `RSS_INFO` nonzero); without it every frame
    /// arrives on queue 0 with no hash.
    pub present: bool,
    /// The Toeplitz key.
    pub key: [u8; KEY_SIZE],
    /// Enabled hash types, `RSS_HASHTYPE_*` bits ([`nic_abi::rss::enable`]).
    pub hashtypes: u32,
    /// Hash types the NIC can compute and this driver knows (what `hashtypes` may hold).
    pub supported: u32,
    /// The indirection table: entry `h & 127` is the RX queue of hash `h`.
    pub reta: [u8; RETA_SIZE],
    /// Queue pairs the driver uses; an entry naming another sends to queue 0.
    pub num_queues: u16,
    /// Moves on with every change, so a cached queue choice knows to be recomputed.
    pub generation: u64,
}

impl RssConfig {
    /// What attach programs: the default key, every supported type, the table spread over
    /// the queues in use (entry `i` = `i % queues`, the NIC's reset table for that many).
    pub(super) fn initial(info: &DeviceInfo, num_queues: u16) -> RssConfig {
        let present = info.rss_key_size != 0;
        let supported = if present { info.rss_hashtypes & HASHTYPES_SUPPORTED } else { 0 };
        let mut reta = [0u8; RETA_SIZE];
        if present {
            for (i, e) in reta.iter_mut().enumerate() {
                *e = nic_abi::rss::reta_default(i, num_queues as u32);
            }
        }
        RssConfig { present, key: KEY_DEFAULT, hashtypes: supported, supported, reta, num_queues, generation: 0 }
    }

    /// The RX queue of hash `h`: the table's entry `h & 127`, and queue 0 for an entry naming a
    /// queue the driver does not use (as the NIC does).
    pub fn queue_of(&self, hash: u32) -> u16 {
        let e = self.reta[hash as usize & (RETA_SIZE - 1)] as u16;
        if e < self.num_queues {
            e
        } else {
            0
        }
    }

    /// The hash and `M_HASHTYPE` the NIC gives a received packet of IP protocol `proto` from
    /// `src` to `dst` under this key and these types ([`crate::net::rss::rss_flow`]).
    pub fn flow(&self, src: SocketAddr, dst: SocketAddr, proto: u8) -> (u32, u8) {
        if !self.present {
            return (0, hashtype::NONE);
        }
        crate::net::rss::rss_flow(&self.key, self.hashtypes, src, dst, proto)
    }

    /// The RX queue such a packet arrives on (queue 0 when it gets no hash).
    pub fn flow_queue(&self, src: SocketAddr, dst: SocketAddr, proto: u8) -> u16 {
        match self.flow(src, dst, proto) {
            (_, hashtype::NONE) => 0,
            (h, _) => self.queue_of(h),
        }
    }

    /// The enabled types by their `nicctl rss` names (`tcp4`, `udp6`, …).
    pub fn type_names(&self) -> Vec<&'static str> {
        type_names(self.hashtypes)
    }
}

/// `RSS_HASHTYPE_*` bits by their `nicctl rss` names ([`enable::ALL`]).
pub fn type_names(bits: u32) -> Vec<&'static str> {
    enable::ALL.iter().filter(|(b, _)| bits & b != 0).map(|(_, n)| *n).collect()
}

/// Writes the whole RSS block: types, key, table.
pub(super) fn program(dev: &dyn Device, c: &RssConfig) -> Result<(), DevError> {
    dev.write32(reg::HASHTYPES, c.hashtypes)?;
    write_key(dev, &c.key)?;
    write_reta(dev, &c.reta)
}

pub(super) fn write_key(dev: &dyn Device, key: &[u8; KEY_SIZE]) -> Result<(), DevError> {
    for (i, w) in key.chunks_exact(4).enumerate() {
        dev.write32(reg::KEY + 4 * i as u32, u32::from_be_bytes([w[0], w[1], w[2], w[3]]))?;
    }
    Ok(())
}

pub(super) fn write_reta(dev: &dyn Device, reta: &[u8; RETA_SIZE]) -> Result<(), DevError> {
    for (i, w) in reta.chunks_exact(4).enumerate() {
        dev.write32(reg::RETA + 4 * i as u32, u32::from_le_bytes([w[0], w[1], w[2], w[3]]))?;
    }
    Ok(())
}

/// Parses a key written as 80 hexadecimal digits (colons or spaces between bytes allowed).
pub fn parse_key(s: &str) -> Result<[u8; KEY_SIZE], String> {
    let hex: String = s.chars().filter(|c| !matches!(c, ':' | ' ' | '-')).collect();
    let hex = hex.strip_prefix("0x").unwrap_or(&hex);
    if hex.len() != 2 * KEY_SIZE || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "a key is {KEY_SIZE} bytes as {} hexadecimal digits, got {:?}",
            2 * KEY_SIZE,
            s
        ));
    }
    let mut key = [0u8; KEY_SIZE];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(key)
}

/// Parses hash types by name, comma-separated (`tcp4,udp4,ipv4`; `none` for no type).
pub fn parse_types(s: &str) -> Result<u32, String> {
    let mut bits = 0;
    for w in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        if w == "none" {
            continue;
        }
        match enable::ALL.iter().find(|(_, n)| *n == w) {
            Some((b, _)) => bits |= b,
            None => {
                let names: Vec<&str> = enable::ALL.iter().map(|(_, n)| *n).collect();
                return Err(format!("unknown hash type {w:?}; known: {} (or none)", names.join(",")));
            }
        }
    }
    Ok(bits)
}

/// Parses indirection-table entries, comma-separated queue numbers (`0,1,0,1`).
pub fn parse_reta(s: &str) -> Result<Vec<u8>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| w.parse::<u8>().map_err(|_| format!("{w:?} is not a queue number")))
        .collect()
}

/// The key as 80 hexadecimal digits.
pub fn key_hex(key: &[u8; KEY_SIZE]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_types_and_table_parse_and_print() {
        let hex = key_hex(&KEY_DEFAULT);
        assert_eq!(hex, "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa");
        assert_eq!(parse_key(&hex), Ok(KEY_DEFAULT));
        assert!(parse_key("6d5a").unwrap_err().contains("80 hexadecimal digits"));
        assert!(parse_key(&hex.replace('6', "g")).is_err());
        assert_eq!(parse_types("tcp4,udp4"), Ok(enable::RSS_TCP_IPV4 | enable::RSS_UDP_IPV4));
        assert_eq!(parse_types("none"), Ok(0));
        assert!(parse_types("tcp4,sctp").unwrap_err().contains("known: ipv4,tcp4"));
        assert_eq!(type_names(HASHTYPES_SUPPORTED), ["ipv4", "tcp4", "udp4", "ipv6", "tcp6", "udp6"]);
        assert_eq!(parse_reta("0,1, 0,1"), Ok(vec![0, 1, 0, 1]));
        assert!(parse_reta("0,x").is_err());
    }

    #[test]
    fn entries_naming_queues_not_in_use_mean_queue_0() {
        let info = DeviceInfo {
            describe: String::new(),
            abi_major: nic_abi::ABI_MAJOR,
            abi_minor: nic_abi::ABI_MINOR,
            build_hash: 0,
            caps: 0,
            datapath_bits: 64,
            clock_khz: 0,
            ring_min_log2: 2,
            ring_max_log2: 12,
            max_frame: 9216,
            tso_max: 0,
            tso_max_segs: 0,
            tso_max_segsize: 0,
            toe_contexts: 0,
            num_queues: 4,
            rss_reta_size: 128,
            rss_key_size: 40,
            rss_hashtypes: HASHTYPES_SUPPORTED | (1 << 5),
            blocks: Vec::new(),
        };
        let mut c = RssConfig::initial(&info, 3);
        assert_eq!(c.supported, HASHTYPES_SUPPORTED, "types this driver does not know stay off");
        assert_eq!((c.queue_of(0), c.queue_of(1), c.queue_of(2), c.queue_of(3), c.queue_of(128 + 4)), (0, 1, 2, 0, 1));
        c.reta[5] = 7;
        assert_eq!(c.queue_of(5), 0);
        let (dst, src) = ("161.142.100.80:1766".parse().unwrap(), "66.9.149.187:2794".parse().unwrap());
        assert_eq!(c.flow(src, dst, 6), (0x51ccc178, hashtype::RSS_TCP_IPV4));
        assert_eq!(c.flow_queue(src, dst, 6), c.queue_of(0x51ccc178));
        let none = RssConfig::initial(&DeviceInfo { rss_key_size: 0, rss_reta_size: 0, ..info }, 3);
        assert_eq!((none.present, none.flow_queue(src, dst, 6), none.queue_of(1)), (false, 0, 0));
    }
}
