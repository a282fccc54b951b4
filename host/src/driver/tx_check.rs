//! The NIC's transmit rules, checked before a frame or a TSO burst reaches a
//! ring (ABI: `docs/ABI.md`, TX descriptor and TSO sections): the same limits
//! the RTL's TX engine enforces, from the same `nic-abi` constants, so a
//! refusal here names the rule instead of a descriptor completing with an
//! error.

use nic_abi::csum::*;
use nic_abi::{MAX_FRAME, MIN_TX_FRAME};

use super::error::TxReject;
use crate::mbuf::Mbuf;
use crate::net::ipv4::{IP_HDR_LEN, IP_MAX_HDR_LEN};

/// What the driver checks before a frame reaches the ring: what the NIC would
/// refuse with a status code is refused here with a reason and the mbuf back.
pub fn check_tx(m: &Mbuf, if_hwassist: u32, max_frame: u32) -> Result<(), TxReject> {
    let len = m.len();
    let max = (max_frame as usize).min(MAX_FRAME as usize);
    if len < MIN_TX_FRAME as usize {
        return Err(TxReject::TooShort { len, min: MIN_TX_FRAME as usize });
    }
    if len > max {
        return Err(TxReject::TooLong { len, max });
    }
    let h = &m.pkthdr;
    if h.tso_segsz != 0 || h.csum_flags & CSUM_TSO != 0 {
        return Err(TxReject::Tso("tso_segsz or CSUM_TSO on a frame sent without TSO (use check_tso)"));
    }
    let allowed = TX_SUPPORTED & if_hwassist;
    let f = h.csum_flags;
    let l4 = f & (CSUM_DELAY_DATA | CSUM_DELAY_DATA_IPV6);
    let conflicting = l4.count_ones() > 1 || (f & CSUM_IP != 0 && f & CSUM_DELAY_DATA_IPV6 != 0);
    if f & !allowed != 0 || conflicting {
        return Err(TxReject::Flags { flags: f, allowed });
    }
    let l3end = h.l2hlen as usize + h.l3hlen as usize;
    let v4hdr = IP_HDR_LEN..=IP_MAX_HDR_LEN;
    if f & CSUM_IP != 0 && (!v4hdr.contains(&(h.l3hlen as usize)) || l3end > len) {
        return Err(TxReject::Offsets("CSUM_IP needs an IPv4 header of 20..=60 bytes within the frame"));
    }
    if l4 != 0 {
        if h.l3hlen == 0 || l3end % 2 != 0 {
            return Err(TxReject::Offsets("L4 must start at a nonzero, even offset"));
        }
        let want = match l4 {
            CSUM_IP_TCP | CSUM_IP6_TCP => nic_abi::csum::TCP_CSUM_OFFSET,
            CSUM_IP_UDP | CSUM_IP6_UDP => nic_abi::csum::UDP_CSUM_OFFSET,
            _ => 0,
        };
        if h.csum_data != want as u32 {
            return Err(TxReject::Offsets("csum_data is not the TCP (16) / UDP (6) checksum offset"));
        }
        if l3end + h.csum_data as usize + 2 > len {
            return Err(TxReject::Offsets("checksum field past the frame"));
        }
    }
    Ok(())
}

/// What [`check_tso`] needs to know of the device and the driver's buffers.
#[derive(Clone, Copy, Debug)]
pub struct TsoLimits {
    /// The device's largest frame (each segment's headers plus MSS must fit).
    pub max_frame: u32,
    /// The device's `TSO_MAX` (0: no TSO).
    pub tso_max: u32,
    /// Most descriptors one packet may take.
    pub max_descs: usize,
    /// Bytes per descriptor buffer (a multiple of 8).
    pub piece: usize,
}

/// The NIC's TSO rules (nic_abi::desc, status), checked before a burst reaches the ring;
/// returns how many descriptors the burst takes.
pub fn check_tso(m: &Mbuf, if_hwassist: u32, lim: &TsoLimits) -> Result<usize, TxReject> {
    let h = &m.pkthdr;
    let f = h.csum_flags;
    let v4 = f & CSUM_IP_TCP != 0;
    let v6 = f & CSUM_IP6_TCP != 0;
    if v4 == v6 || f & (CSUM_IP_UDP | CSUM_IP6_UDP) != 0 {
        return Err(TxReject::Tso("TSO needs exactly one of CSUM_IP_TCP, CSUM_IP6_TCP"));
    }
    let need = if v4 { CSUM_IP_TSO | CSUM_IP_TCP } else { CSUM_IP6_TSO | CSUM_IP6_TCP };
    if if_hwassist & need != need || lim.tso_max == 0 {
        return Err(TxReject::Tso("TSO is off for this family (ifconfig tso4/tso6, with txcsum/txcsum6)"));
    }
    if f & !(TX_SUPPORTED & if_hwassist) != 0 {
        return Err(TxReject::Flags { flags: f, allowed: TX_SUPPORTED & if_hwassist });
    }
    let (l2, l3, l4) = (h.l2hlen as usize, h.l3hlen as usize, h.l4hlen as usize);
    let hlen = l2 + l3 + l4;
    let mss = h.tso_segsz as usize;
    if mss == 0 {
        return Err(TxReject::Tso("tso_segsz is 0"));
    }
    use nic_abi::desc::{IP4_HLEN_MIN, IP6_HLEN_MIN, TSO_L4HLEN_ALIGN, TSO_L4HLEN_MAX, TSO_L4HLEN_MIN};
    let l3_min = if v4 { IP4_HLEN_MIN } else { IP6_HLEN_MIN } as usize;
    if !(TSO_L4HLEN_MIN as usize..=TSO_L4HLEN_MAX as usize).contains(&l4)
        || l4 % TSO_L4HLEN_ALIGN as usize != 0
        || l3 < l3_min
        || l2 % 2 != 0
        || l3 % 2 != 0
    {
        return Err(TxReject::Offsets("TSO headers: TCP 20..=60 bytes in steps of 4, IP header 20+ (v4) or 40+ (v6)"));
    }
    if h.csum_data != nic_abi::csum::TCP_CSUM_OFFSET as u32 {
        return Err(TxReject::Offsets("csum_data is not the TCP checksum offset (16)"));
    }
    if hlen > nic_abi::desc::TSO_MAX_HDR as usize || hlen + mss > lim.max_frame as usize {
        return Err(TxReject::Tso("headers plus tso_segsz exceed the largest frame"));
    }
    let len = m.len();
    if len <= hlen {
        return Err(TxReject::Tso("no payload after the headers"));
    }
    if len > lim.tso_max as usize {
        return Err(TxReject::TooLong { len, max: lim.tso_max as usize });
    }
    if lim.piece <= hlen {
        return Err(TxReject::Tso("driver buffers smaller than the TSO headers"));
    }
    let n = len.div_ceil(lim.piece);
    if n > lim.max_descs {
        return Err(TxReject::Tso("burst needs more descriptors than the NIC follows"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ifnet::hwassist_for;
    use nic_abi::ifcap::{IFCAP_HWCSUM, IFCAP_HWCSUM_IPV6};

    const ALL: u32 = IFCAP_HWCSUM | IFCAP_HWCSUM_IPV6;

    /// The NIC's TSO rules, applied by the driver before a burst reaches the ring.
    #[test]
    fn tso_bursts_follow_the_nics_rules() {
        use nic_testbench::traffic::{self, Kind};
        use nic_abi::ifcap::{IFCAP_TSO4, IFCAP_TSO6};
        let all = IFCAP_HWCSUM | IFCAP_HWCSUM_IPV6 | IFCAP_TSO4 | IFCAP_TSO6;
        let k = Kind { v6: false, tcp: true, vlan: false, ext: false, frag: false };
        let burst = |n: usize, mss: u16| {
            crate::offload::prepare_tso(&traffic::frame(k, &vec![7u8; n], 1), mss).unwrap()
        };
        let lim = TsoLimits { max_frame: MAX_FRAME, tso_max: 65535, max_descs: 8, piece: 9216 };
        assert_eq!(check_tso(&burst(5000, 1448), hwassist_for(all), &lim), Ok(1));
        assert_eq!(check_tso(&burst(60_000, 1448), hwassist_for(all), &lim), Ok(7));
        let refused = |m: &Mbuf, hw: u32, lim: &TsoLimits| matches!(check_tso(m, hw, lim), Err(TxReject::Tso(_)));
        assert!(refused(&burst(5000, 1448), hwassist_for(all & !IFCAP_TSO4), &lim), "tso4 off");
        assert!(refused(&burst(5000, 1448), hwassist_for(IFCAP_TSO4), &lim), "txcsum off");
        let mut m = burst(5000, 1448);
        m.pkthdr.tso_segsz = 0;
        assert!(refused(&m, hwassist_for(all), &lim), "MSS 0");
        assert!(refused(&burst(20_000, 9200), hwassist_for(all), &lim), "a segment over the max frame");
        assert!(refused(&burst(5000, 1448), hwassist_for(all), &TsoLimits { tso_max: 0, ..lim }), "no TSO in the NIC");
        assert!(refused(&burst(60_000, 1448), hwassist_for(all), &TsoLimits { max_descs: 4, ..lim }), "chain too long");
        let mut m = burst(5000, 1448);
        m.pkthdr.l4hlen = 22;
        assert!(matches!(check_tso(&m, hwassist_for(all), &lim), Err(TxReject::Offsets(_))));
        let big = crate::offload::prepare_tso(&traffic::frame(k, &vec![7u8; 65_481], 1), 1448).unwrap();
        assert_eq!(check_tso(&big, hwassist_for(all), &lim), Ok(8));
        assert!(matches!(
            check_tso(&big, hwassist_for(all), &TsoLimits { tso_max: 60_000, ..lim }),
            Err(TxReject::TooLong { .. })
        ));
    }

    /// A 60-byte UDP/IPv4 frame as `ip_output` hands it over with both checksums offloaded.
    fn udp4() -> Mbuf {
        let mut f = vec![0u8; 60];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[14 + 2..14 + 4].copy_from_slice(&46u16.to_be_bytes());
        f[14 + 9] = 17;
        f[34 + 4..34 + 6].copy_from_slice(&26u16.to_be_bytes());
        let mut m = Mbuf::from_frame(&f);
        m.pkthdr.csum_flags = CSUM_IP | CSUM_IP_UDP;
        m.pkthdr.csum_data = 6;
        m.pkthdr.l2hlen = 14;
        m.pkthdr.l3hlen = 20;
        m.pkthdr.l4hlen = 8;
        m
    }

    #[test]
    fn a_well_formed_request_passes() {
        assert_eq!(check_tx(&udp4(), hwassist_for(ALL), MAX_FRAME), Ok(()));
        let mut m = udp4();
        m.pkthdr.csum_flags = 0;
        assert_eq!(check_tx(&m, 0, MAX_FRAME), Ok(()), "no request, no offload needed");
    }

    #[test]
    fn lengths() {
        let short = Mbuf::from_frame(&[0u8; 13]);
        assert!(matches!(check_tx(&short, 0, MAX_FRAME), Err(TxReject::TooShort { len: 13, .. })));
        let long = Mbuf::from_frame(&vec![0u8; 1519]);
        assert!(matches!(check_tx(&long, 0, 1518), Err(TxReject::TooLong { len: 1519, max: 1518 })));
    }

    #[test]
    fn flags_must_be_offered_enabled_and_consistent() {
        // -txcsum: nothing IPv4 may be requested.
        let e = check_tx(&udp4(), hwassist_for(IFCAP_HWCSUM_IPV6), MAX_FRAME).unwrap_err();
        assert!(matches!(e, TxReject::Flags { .. }));
        assert!(e.to_string().contains("CSUM_IP_UDP"), "{e}");
        let mut m = udp4();
        m.pkthdr.csum_flags |= CSUM_IP_TCP;
        assert!(matches!(check_tx(&m, hwassist_for(ALL), MAX_FRAME), Err(TxReject::Flags { .. })));
        let mut m = udp4();
        m.pkthdr.csum_flags = CSUM_IP | CSUM_IP6_UDP;
        assert!(matches!(check_tx(&m, hwassist_for(ALL), MAX_FRAME), Err(TxReject::Flags { .. })));
        let mut m = udp4();
        m.pkthdr.csum_flags |= nic_abi::csum::CSUM_IP_SCTP;
        assert!(matches!(check_tx(&m, u32::MAX, MAX_FRAME), Err(TxReject::Flags { .. })));
        let mut m = udp4();
        m.pkthdr.tso_segsz = 1448;
        assert!(matches!(check_tx(&m, u32::MAX, MAX_FRAME), Err(TxReject::Tso(_))));
    }

    #[test]
    fn offsets_must_lie_in_the_frame() {
        let hw = hwassist_for(ALL);
        let mut m = udp4();
        m.pkthdr.l3hlen = 19;
        assert!(matches!(check_tx(&m, hw, MAX_FRAME), Err(TxReject::Offsets(_))));
        let mut m = udp4();
        m.pkthdr.l2hlen = 15;
        assert!(matches!(check_tx(&m, hw, MAX_FRAME), Err(TxReject::Offsets(_))), "odd L4 start");
        let mut m = udp4();
        m.pkthdr.csum_data = 16;
        assert!(matches!(check_tx(&m, hw, MAX_FRAME), Err(TxReject::Offsets(_))), "TCP offset on UDP");
        let mut m = udp4();
        m.pkthdr.l3hlen = 44; // 14 + 44 + 6 + 2 = 66 > 60
        m.pkthdr.csum_flags = CSUM_IP6_UDP;
        assert_eq!(check_tx(&m, hw, MAX_FRAME), Err(TxReject::Offsets("checksum field past the frame")));
    }
}
