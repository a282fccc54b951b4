//! The neighbour cache: IPv4 (ARP) and IPv6 (ND) next hops to MAC addresses,
//! one generic table in the manner of FreeBSD's `llentry` / `lltable`.
//!
//! Output that finds no usable entry *holds* the packet (`la_hold`, at most
//! [`NeighConfig::max_hold`] per entry, oldest dropped first) and is told
//! whether to send a request now; a reply or advertisement releases the held
//! packets, for the caller to give them the link header now that it knows
//! the destination. [`NeighCache::tick`] retries
//! unanswered requests every [`NeighConfig::retrans`] and gives up after
//! [`NeighConfig::max_solicit`] of them, handing the packets back so the caller
//! can count them and report the host unreachable. Resolved entries live for
//! [`NeighConfig::reachable`] (ARP's fixed lifetime; ND's reachability states
//! are reduced to the same two states).
//!
//! The cache sends nothing and reads no clock: the caller passes `now`, sends
//! the requests it is told to, and owns the protocol policy (which replies to
//! learn from). What it holds are IP packets without a link header: FreeBSD's
//! `ether_output` prepends the header only after `arpresolve`, and so does the
//! stack, so nothing is written twice.

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::mem;
use std::time::Duration;

use nic_tcp::time::Instant;

use crate::mbuf::Mbuf;

/// Limits and timers (FreeBSD `net.link.ether.inet.*` / `net.inet6.ip6.*` sysctls).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighConfig {
    /// Most entries (resolved or not); beyond it new addresses are refused, not evicted.
    pub max_entries: usize,
    /// Frames held per unresolved entry (`la_hold` limit, `net.link.ether.inet.maxhold`); at least 1 is used.
    pub max_hold: usize,
    /// Time between requests for an unresolved entry (`RETRANS_TIMER`, 1 s).
    pub retrans: Duration,
    /// Requests sent before giving up (`arp_maxtries` / `MAX_MULTICAST_SOLICIT`, 3); at least 1 is sent.
    pub max_solicit: u32,
    /// How long a resolved entry is used before it must be resolved again (`net.link.ether.inet.max_age`, 20 min).
    pub reachable: Duration,
}

impl Default for NeighConfig {
    fn default() -> Self {
        NeighConfig {
            max_entries: 1024,
            max_hold: 16,
            retrans: Duration::from_secs(1),
            max_solicit: 3,
            reachable: Duration::from_secs(20 * 60),
        }
    }
}

/// What [`NeighCache::hold`] did with a packet.
#[derive(Debug, PartialEq, Eq)]
pub enum Hold {
    /// Held, and a request is due (new entry or retransmission time reached): send one now.
    Solicit,
    /// Held; a request is already outstanding.
    Held,
    /// Held, but the hold queue was full: the *oldest* packet is returned for the caller to count and free.
    Dropped(Mbuf),
    /// The cache is full and has no entry for the address: the packet itself is returned, not held.
    Full(Mbuf),
    /// The address was already resolved (by a reply that came in meanwhile): the packet is
    /// returned with the destination, to send now.
    Resolved(Mbuf, [u8; 6]),
}

/// What [`NeighCache::tick`] asks of the caller.
#[derive(Debug, PartialEq, Eq)]
pub struct Tick<A> {
    /// Addresses to send another request for (in no particular order).
    pub solicit: Vec<A>,
    /// Frames of entries that went unanswered `max_solicit` times (host unreachable): count and free them.
    pub dropped: Vec<Mbuf>,
    /// The addresses of those entries, so whatever waits on them (a connect) can be told.
    pub failed: Vec<A>,
}

// Not derived: that would demand `A: Default`, which addresses are not.
impl<A> Default for Tick<A> {
    fn default() -> Self {
        Tick { solicit: Vec::new(), dropped: Vec::new(), failed: Vec::new() }
    }
}

/// Counters, for `netstat -s`-style display (FreeBSD `arpstat` / `nd6` names where they exist).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NeighStats {
    /// Requests the caller was told to send (`txrequests`).
    pub requests: u64,
    /// Replies/advertisements recorded with [`NeighCache::update`] (`rxreplies`).
    pub replies_in: u64,
    /// Frames dropped because a hold queue was full (`dropped`).
    pub dropped_hold: u64,
    /// Frames dropped because resolution gave up (`timeouts`, counted per frame).
    pub dropped_timeout: u64,
    /// Addresses refused because the cache was full.
    pub full: u64,
}

/// One entry's state: still asking, or resolved until a deadline.
#[derive(Debug)]
enum State {
    Incomplete {
        /// Requests sent so far.
        asked: u32,
        /// When the next request is due (`None`: never, the timer overflowed).
        next: Option<Instant>,
        /// Frames waiting, oldest first.
        hold: VecDeque<Mbuf>,
    },
    Reachable {
        mac: [u8; 6],
        /// When the entry stops being used (`None`: never).
        expire: Option<Instant>,
    },
}

/// A neighbour cache keyed by `A` (`Ipv4Addr` for ARP, `Ipv6Addr` for ND).
#[derive(Debug)]
pub struct NeighCache<A> {
    cfg: NeighConfig,
    map: HashMap<A, State>,
    stats: NeighStats,
}

/// Whether a deadline has passed (a `None` deadline never does).
fn due(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|t| now >= t)
}

impl<A: Copy + Eq + Hash + Debug> NeighCache<A> {
    /// An empty cache.
    pub fn new(cfg: NeighConfig) -> Self {
        NeighCache { cfg, map: HashMap::new(), stats: NeighStats::default() }
    }

    /// The MAC for `a` if it is resolved and not expired (output's fast path).
    pub fn lookup(&mut self, a: A, now: Instant) -> Option<[u8; 6]> {
        match self.map.get(&a) {
            Some(State::Reachable { mac, expire }) if !due(*expire, now) => Some(*mac),
            _ => None,
        }
    }

    /// Whether there is an entry for `a`, resolved or not (RFC 826's merge
    /// rule updates existing entries from any packet, creates them only when addressed to us).
    pub fn contains(&self, a: A) -> bool {
        self.map.contains_key(&a)
    }

    /// Holds `frame` (an IP packet) until `a` is resolved (FreeBSD `arpresolve` / `nd6_resolve`
    /// on a miss), creating the entry if needed; says whether to send a request.
    pub fn hold(&mut self, a: A, frame: Mbuf, now: Instant) -> Hold {
        let max_hold = self.cfg.max_hold.max(1);
        match self.map.get_mut(&a) {
            Some(State::Reachable { mac, expire }) if !due(*expire, now) => return Hold::Resolved(frame, *mac),
            Some(State::Incomplete { asked, next, hold }) => {
                hold.push_back(frame);
                if hold.len() > max_hold {
                    if let Some(oldest) = hold.pop_front() {
                        self.stats.dropped_hold += 1;
                        return Hold::Dropped(oldest);
                    }
                }
                if due(*next, now) && *asked < self.cfg.max_solicit {
                    *asked += 1;
                    *next = now.checked_add(self.cfg.retrans);
                    self.stats.requests += 1;
                    return Hold::Solicit;
                }
                return Hold::Held;
            }
            Some(State::Reachable { .. }) => {} // expired: resolve again below
            None => {
                if self.map.len() >= self.cfg.max_entries {
                    self.expire(now);
                }
                if self.map.len() >= self.cfg.max_entries {
                    self.stats.full += 1;
                    return Hold::Full(frame);
                }
            }
        }
        let hold = VecDeque::from([frame]);
        self.map.insert(a, State::Incomplete { asked: 1, next: now.checked_add(self.cfg.retrans), hold });
        self.stats.requests += 1;
        Hold::Solicit
    }

    /// Records that `a` is at `mac` (a reply or advertisement the caller chose
    /// to learn from), creating or refreshing the entry, and returns the packets
    /// held for it, oldest first, as they were held (their destination is `mac`). When the
    /// cache is full and has no entry for `a`, nothing is recorded.
    pub fn update(&mut self, a: A, mac: [u8; 6], now: Instant) -> Vec<Mbuf> {
        self.stats.replies_in += 1;
        let fresh = State::Reachable { mac, expire: now.checked_add(self.cfg.reachable) };
        if let Some(st) = self.map.get_mut(&a) {
            return match mem::replace(st, fresh) {
                State::Incomplete { hold, .. } => hold.into_iter().collect(),
                State::Reachable { .. } => Vec::new(),
            };
        }
        if self.map.len() >= self.cfg.max_entries {
            self.expire(now);
        }
        if self.map.len() >= self.cfg.max_entries {
            self.stats.full += 1;
        } else {
            self.map.insert(a, fresh);
        }
        Vec::new()
    }

    /// The timer (FreeBSD `arptimer` / `nd6_llinfo_timer`): re-solicits
    /// unresolved entries whose retransmission time has come, removes those
    /// that have had `max_solicit` requests (their frames returned as dropped),
    /// and removes resolved entries past their lifetime.
    pub fn tick(&mut self, now: Instant) -> Tick<A> {
        let mut t = Tick::default();
        let (cfg, stats) = (&self.cfg, &mut self.stats);
        self.map.retain(|a, st| match st {
            State::Incomplete { asked, next, hold } if due(*next, now) => {
                if *asked < cfg.max_solicit {
                    *asked += 1;
                    *next = now.checked_add(cfg.retrans);
                    stats.requests += 1;
                    t.solicit.push(*a);
                    true
                } else {
                    stats.dropped_timeout += hold.len() as u64;
                    t.dropped.extend(hold.drain(..));
                    t.failed.push(*a);
                    false
                }
            }
            State::Reachable { expire, .. } => !due(*expire, now),
            State::Incomplete { .. } => true,
        });
        t
    }

    /// Drops resolved entries past their lifetime (to make room).
    fn expire(&mut self, now: Instant) {
        self.map.retain(|_, st| !matches!(st, State::Reachable { expire, .. } if due(*expire, now)));
    }

    /// Empties the cache (the interface is departing: FreeBSD `lltable_purge`);
    /// returns how many held frames were freed.
    pub fn purge(&mut self) -> usize {
        let n = self.held();
        self.map.clear();
        n
    }

    /// Removes the entry for `a` (an administrator's delete, or an address
    /// change); frames held for it are freed.
    pub fn remove(&mut self, a: A) {
        self.map.remove(&a);
    }

    /// Number of entries, resolved or not.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Frames held across all unresolved entries.
    pub fn held(&self) -> usize {
        self.map
            .values()
            .map(|st| match st {
                State::Incomplete { hold, .. } => hold.len(),
                State::Reachable { .. } => 0,
            })
            .sum()
    }

    /// Every entry with its MAC (`None` while unresolved), for `arp -a` / `ndp -a`-style display;
    /// in no particular order.
    pub fn entries(&self) -> Vec<(A, Option<[u8; 6]>)> {
        self.map
            .iter()
            .map(|(a, st)| match st {
                State::Incomplete { .. } => (*a, None),
                State::Reachable { mac, .. } => (*a, Some(*mac)),
            })
            .collect()
    }

    /// The counters.
    pub fn stats(&self) -> NeighStats {
        self.stats
    }

    /// The configuration in use.
    pub fn config(&self) -> NeighConfig {
        self.cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x42];
    const SEC: Duration = Duration::from_secs(1);

    fn ip(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, n)
    }

    /// A packet as output holds it (no link header: the start of an IPv4 header), with a tag
    /// byte to tell packets apart.
    fn frame(tag: u8) -> Mbuf {
        Mbuf::from_frame(&[0x45, 0, 0, 20, tag])
    }

    fn tag(m: &Mbuf) -> u8 {
        m.data()[4]
    }

    #[test]
    fn hold_solicit_update_flow() {
        let t0 = Instant::from_nanos(1_000_000_000);
        let mut c = NeighCache::new(NeighConfig::default());
        assert_eq!(c.lookup(ip(1), t0), None);
        assert_eq!(c.hold(ip(1), frame(1), t0), Hold::Solicit);
        assert_eq!(c.hold(ip(1), frame(2), t0), Hold::Held);
        assert_eq!((c.len(), c.held()), (1, 2));
        assert_eq!(c.entries(), vec![(ip(1), None)]);
        assert_eq!(c.lookup(ip(1), t0), None);
        let out = c.update(ip(1), MAC, t0 + SEC / 2);
        assert_eq!(out.iter().map(tag).collect::<Vec<_>>(), vec![1, 2], "released in order");
        for m in &out {
            assert_eq!(m.data(), frame(tag(m)).data(), "as held: the caller writes the link header, once");
        }
        assert_eq!(c.held(), 0);
        assert_eq!(c.lookup(ip(1), t0 + SEC), Some(MAC));
        assert_eq!(c.entries(), vec![(ip(1), Some(MAC))]);
        match c.hold(ip(1), frame(3), t0 + SEC) {
            Hold::Resolved(m, mac) => assert_eq!((mac, tag(&m)), (MAC, 3)),
            other => panic!("expected Resolved, got {other:?}"),
        }
        // A second reply refreshes without frames.
        assert!(c.update(ip(1), MAC, t0 + SEC).is_empty());
        let s = c.stats();
        assert_eq!((s.requests, s.replies_in, s.dropped_hold, s.full), (1, 2, 0, 0));
    }

    #[test]
    fn hold_asks_again_when_the_retransmission_is_due() {
        let t0 = Instant::from_nanos(1_000_000_000);
        let mut c = NeighCache::new(NeighConfig::default());
        assert_eq!(c.hold(ip(1), frame(1), t0), Hold::Solicit);
        assert_eq!(c.hold(ip(1), frame(2), t0 + SEC / 2), Hold::Held);
        assert_eq!(c.hold(ip(1), frame(3), t0 + SEC), Hold::Solicit);
        assert_eq!(c.hold(ip(1), frame(4), t0 + SEC * 2), Hold::Solicit);
        // max_solicit (3) reached: no more requests from hold; the timer gives up.
        assert_eq!(c.hold(ip(1), frame(5), t0 + SEC * 3), Hold::Held);
        assert_eq!(c.stats().requests, 3);
    }

    #[test]
    fn hold_limit_drops_the_oldest() {
        let t0 = Instant::from_nanos(1_000_000_000);
        let mut c = NeighCache::new(NeighConfig { max_hold: 2, ..NeighConfig::default() });
        assert_eq!(c.hold(ip(1), frame(1), t0), Hold::Solicit);
        assert_eq!(c.hold(ip(1), frame(2), t0), Hold::Held);
        match c.hold(ip(1), frame(3), t0) {
            Hold::Dropped(m) => assert_eq!(tag(&m), 1),
            other => panic!("expected Dropped, got {other:?}"),
        }
        assert_eq!(c.held(), 2);
        assert_eq!(c.stats().dropped_hold, 1);
        let out = c.update(ip(1), MAC, t0);
        assert_eq!(out.iter().map(tag).collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn gives_up_after_max_solicit_and_returns_the_frames() {
        let t0 = Instant::from_nanos(1_000_000_000);
        let mut c = NeighCache::new(NeighConfig::default());
        assert_eq!(c.hold(ip(7), frame(1), t0), Hold::Solicit);
        assert_eq!(c.hold(ip(7), frame(2), t0), Hold::Held);
        assert_eq!(c.tick(t0 + SEC / 2), Tick::default());
        assert_eq!(c.tick(t0 + SEC), Tick { solicit: vec![ip(7)], dropped: vec![], failed: vec![] });
        assert_eq!(c.tick(t0 + SEC * 2), Tick { solicit: vec![ip(7)], dropped: vec![], failed: vec![] });
        let t = c.tick(t0 + SEC * 3);
        assert!(t.solicit.is_empty());
        assert_eq!(t.failed, vec![ip(7)], "the address that went unanswered is named");
        assert_eq!(t.dropped.iter().map(tag).collect::<Vec<_>>(), vec![1, 2]);
        assert!(c.is_empty());
        let s = c.stats();
        assert_eq!((s.requests, s.dropped_timeout), (3, 2));
        // The next frame starts over.
        assert_eq!(c.hold(ip(7), frame(3), t0 + SEC * 4), Hold::Solicit);
    }

    #[test]
    fn resolved_entries_expire() {
        let t0 = Instant::from_nanos(1_000_000_000);
        let cfg = NeighConfig { reachable: Duration::from_secs(60), ..NeighConfig::default() };
        let mut c = NeighCache::<Ipv6Addr>::new(cfg);
        let a: Ipv6Addr = "fe80::2".parse().unwrap();
        assert!(c.update(a, MAC, t0).is_empty());
        assert!(c.contains(a));
        assert_eq!(c.lookup(a, t0 + SEC * 59), Some(MAC));
        assert_eq!(c.lookup(a, t0 + SEC * 60), None, "expired even before the timer runs");
        // Output after expiry resolves again.
        assert_eq!(c.hold(a, frame(1), t0 + SEC * 61), Hold::Solicit);
        assert_eq!(c.update(a, MAC, t0 + SEC * 61).len(), 1);
        assert_eq!(c.tick(t0 + SEC * 120), Tick::default());
        assert_eq!(c.len(), 1);
        c.tick(t0 + SEC * 121);
        assert!(c.is_empty());
    }

    #[test]
    fn purge_and_remove_free_held_frames() {
        let t0 = Instant::from_nanos(1_000_000_000);
        let mut c = NeighCache::new(NeighConfig::default());
        c.hold(ip(1), frame(1), t0);
        c.hold(ip(1), frame(2), t0);
        c.hold(ip(2), frame(3), t0);
        c.hold(ip(3), frame(4), t0);
        c.update(ip(4), MAC, t0);
        c.remove(ip(3));
        assert_eq!((c.len(), c.held()), (3, 3));
        assert_eq!(c.purge(), 3);
        assert!(c.is_empty());
        assert_eq!(c.held(), 0);
    }

    #[test]
    fn a_full_cache_refuses_new_addresses_but_reclaims_expired_ones() {
        let t0 = Instant::from_nanos(1_000_000_000);
        let cfg = NeighConfig { max_entries: 2, reachable: Duration::from_secs(10), ..NeighConfig::default() };
        let mut c = NeighCache::new(cfg);
        assert_eq!(c.hold(ip(1), frame(1), t0), Hold::Solicit);
        c.update(ip(2), MAC, t0);
        match c.hold(ip(3), frame(9), t0) {
            Hold::Full(m) => assert_eq!(tag(&m), 9, "the frame itself comes back"),
            other => panic!("expected Full, got {other:?}"),
        }
        assert!(c.update(ip(3), MAC, t0).is_empty());
        assert!(!c.contains(ip(3)));
        assert_eq!(c.stats().full, 2);
        // Existing entries still take frames.
        assert_eq!(c.hold(ip(1), frame(2), t0), Hold::Held);
        // Once ip(2) has expired its slot is reused.
        assert_eq!(c.hold(ip(3), frame(9), t0 + SEC * 10), Hold::Solicit);
        assert!(!c.contains(ip(2)));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn odd_configurations_and_frames_do_not_panic() {
        let t0 = Instant::from_nanos(1_000_000_000);
        let cfg = NeighConfig {
            max_entries: 0,
            max_hold: 0,
            retrans: Duration::MAX,
            max_solicit: 0,
            reachable: Duration::MAX,
        };
        let mut c = NeighCache::new(cfg);
        assert!(matches!(c.hold(ip(1), frame(1), t0), Hold::Full(_)));
        let mut c = NeighCache::new(NeighConfig { max_entries: 1, ..cfg });
        assert_eq!(c.hold(ip(1), Mbuf::from_frame(&[1, 2, 3]), t0), Hold::Solicit, "one request always goes out");
        assert!(matches!(c.hold(ip(1), frame(2), t0), Hold::Dropped(_)), "hold limit is at least 1");
        assert_eq!(c.tick(t0 + SEC * 1_000_000), Tick::default(), "overflowed timers never fire");
        let out = c.update(ip(1), MAC, t0);
        assert_eq!(out.len(), 1);
        assert_eq!(c.lookup(ip(1), t0 + SEC * 1_000_000), Some(MAC));
        // A runt frame is returned as is.
        let mut c = NeighCache::new(NeighConfig::default());
        c.hold(ip(1), Mbuf::from_frame(&[1, 2, 3]), t0);
        assert_eq!(c.update(ip(1), MAC, t0)[0].data(), &[1, 2, 3]);
    }
}
