//! The protocol counters, under FreeBSD's statistic names (`netstat -s`).

/// Link-layer counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EtherStats {
    /// Frames in.
    pub ipackets: u64,
    /// Frames dropped: too short, stacked tags, stale interface (`if_ierrors`).
    pub ierrors: u64,
    /// Frames with an ethertype nobody handles (`if_noproto`).
    pub noproto: u64,
    /// Frames out.
    pub opackets: u64,
}

/// IPv4 counters, FreeBSD `struct ipstat` names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpStats {
    /// Packets received.
    pub ips_total: u64,
    /// Header checksum wrong.
    pub ips_badsum: u64,
    /// Packet shorter than its header or its total length.
    pub ips_tooshort: u64,
    /// Header length field below 20 or past the packet.
    pub ips_badhlen: u64,
    /// Total length below the header length.
    pub ips_badlen: u64,
    /// Version not 4.
    pub ips_badvers: u64,
    /// Fragments received (held for reassembly, or dropped where there is none).
    pub ips_fragments: u64,
    /// Datagrams reassembled from fragments.
    pub ips_reassembled: u64,
    /// Protocols without a handler here (delivered as [`Input::Ip`](crate::net::Input::Ip)).
    pub ips_noproto: u64,
    /// Packets passed up.
    pub ips_delivered: u64,
    /// Packets sent.
    pub ips_localout: u64,
}

/// IPv6 counters, FreeBSD `struct ip6stat` names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ip6Stats {
    /// Packets received.
    pub ip6s_total: u64,
    /// Packet shorter than its header or payload length.
    pub ip6s_tooshort: u64,
    /// Version not 6.
    pub ip6s_badvers: u64,
    /// Fragments received (held for reassembly, or dropped where there is none).
    pub ip6s_fragments: u64,
    /// Datagrams reassembled from fragments.
    pub ip6s_reassembled: u64,
    /// Extension header problems.
    pub ip6s_badoptions: u64,
    /// Packets passed up.
    pub ip6s_delivered: u64,
    /// Packets sent.
    pub ip6s_localout: u64,
}

/// UDP counters, FreeBSD `struct udpstat` names (IPv4 and IPv6 together, as FreeBSD counts them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpStats {
    /// Datagrams received.
    pub udps_ipackets: u64,
    /// Shorter than the UDP header.
    pub udps_hdrops: u64,
    /// Checksum wrong.
    pub udps_badsum: u64,
    /// No checksum (IPv4: accepted; IPv6: dropped).
    pub udps_nosum: u64,
    /// Length field inconsistent with the IP length.
    pub udps_badlen: u64,
    /// Datagrams sent.
    pub udps_opackets: u64,
}

/// TCP counters, FreeBSD `struct tcpstat` names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Segments received.
    pub tcps_rcvtotal: u64,
    /// Checksum wrong.
    pub tcps_rcvbadsum: u64,
    /// Shorter than the TCP header.
    pub tcps_rcvshort: u64,
    /// Data offset below 5 words or past the segment.
    pub tcps_rcvbadoff: u64,
    /// Segments sent.
    pub tcps_sndtotal: u64,
}

/// How received checksums were settled: trusted from the NIC or verified in software.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsumStats {
    /// IPv4 headers settled by `CSUM_L3_CALC`.
    pub l3_hw: u64,
    /// IPv4 headers verified in software.
    pub l3_sw: u64,
    /// L4 checksums settled by `CSUM_DATA_VALID`.
    pub l4_hw: u64,
    /// L4 checksums verified in software.
    pub l4_sw: u64,
    /// Transmit checksums computed in software because the interface would not (delayed).
    pub tx_sw: u64,
    /// Transmit checksums left to the NIC.
    pub tx_hw: u64,
}

/// All protocol counters, for `netstat -s`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Link layer.
    pub ether: EtherStats,
    /// IPv4.
    pub ip: IpStats,
    /// IPv6.
    pub ip6: Ip6Stats,
    /// UDP.
    pub udp: UdpStats,
    /// TCP.
    pub tcp: TcpStats,
    /// Checksum offload use.
    pub csum: CsumStats,
}
