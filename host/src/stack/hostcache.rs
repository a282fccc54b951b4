//! The host cache (FreeBSD `tcp_hostcache`): what was learnt about a remote
//! host — here, its path MTU — kept for new connections to the same host.
//!
//! It is bounded and may refuse to store (full, or configured with no room).
//! Nothing depends on it succeeding: a "packet too big" message lowers the
//! segment size of the connections it names directly, and the cache only
//! spares later connections the same discovery. (Reading the value back from
//! a cache that could not store it is how a stack ends up resending at the
//! old size forever.)

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use nic_tcp::time::Instant;

/// Counters, FreeBSD `hc_*` style.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostCacheStats {
    /// Entries stored or updated.
    pub updates: u64,
    /// Updates refused because the cache was full.
    pub full: u64,
    /// Entries dropped because they expired.
    pub expired: u64,
}

/// Path MTUs by remote host, bounded, expiring.
#[derive(Debug)]
pub struct HostCache {
    cap: usize,
    ttl: Duration,
    map: HashMap<IpAddr, (u32, Instant)>,
    stats: HostCacheStats,
}

impl HostCache {
    /// A cache of at most `cap` hosts whose entries live `ttl` (FreeBSD: 15360 hosts, 1 h).
    pub fn new(cap: usize, ttl: Duration) -> Self {
        HostCache { cap, ttl, map: HashMap::new(), stats: HostCacheStats::default() }
    }

    /// Records `mtu` for `host`; `false` when it could not be stored.
    pub fn update_mtu(&mut self, host: IpAddr, mtu: u32, now: Instant) -> bool {
        if !self.map.contains_key(&host) && self.map.len() >= self.cap {
            let ttl = self.ttl;
            let before = self.map.len();
            self.map.retain(|_, (_, t)| now.saturating_duration_since(*t) < ttl);
            self.stats.expired += (before - self.map.len()) as u64;
            if self.map.len() >= self.cap {
                self.stats.full += 1;
                return false;
            }
        }
        self.map.insert(host, (mtu, now));
        self.stats.updates += 1;
        true
    }

    /// The path MTU learnt for `host`, if still fresh.
    pub fn mtu(&self, host: IpAddr, now: Instant) -> Option<u32> {
        self.map.get(&host).filter(|(_, t)| now.saturating_duration_since(*t) < self.ttl).map(|(m, _)| *m)
    }

    /// Counters.
    pub fn stats(&self) -> HostCacheStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_expires_and_refuses_when_full() {
        let t0 = Instant::from_nanos(1_000_000_000);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mut hc = HostCache::new(1, Duration::from_secs(10));
        assert!(hc.update_mtu(a, 1400, t0));
        assert_eq!(hc.mtu(a, t0), Some(1400));
        assert!(!hc.update_mtu(b, 1300, t0), "full");
        assert_eq!(hc.mtu(b, t0), None);
        assert_eq!(hc.mtu(a, t0 + Duration::from_secs(11)), None, "expired");
        assert!(hc.update_mtu(b, 1300, t0 + Duration::from_secs(11)), "the expired entry made room");
        let mut none = HostCache::new(0, Duration::from_secs(10));
        assert!(!none.update_mtu(a, 1400, t0));
        assert_eq!(none.stats().full, 1);
    }
}
