//! One segment representation for both directions (smoltcp's `TcpRepr` is
//! the model): the header's fields with the options already parsed, and the
//! payload borrowed. Input parses into it; output fills it and emits it.
//! The checksum is not this layer's: the caller (or the NIC) fills it over
//! the pseudo-header it knows.

use crate::options::{TcpOptions, MAX_OPTION_LEN};

/// FIN: no more data from the sender.
pub const TH_FIN: u8 = 0x01;
/// SYN: synchronise sequence numbers.
pub const TH_SYN: u8 = 0x02;
/// RST: reset the connection.
pub const TH_RST: u8 = 0x04;
/// PSH: push.
pub const TH_PUSH: u8 = 0x08;
/// ACK: the acknowledgment field is significant.
pub const TH_ACK: u8 = 0x10;
/// URG: the urgent pointer is significant.
pub const TH_URG: u8 = 0x20;
/// ECE: ECN echo.
pub const TH_ECE: u8 = 0x40;
/// CWR: congestion window reduced.
pub const TH_CWR: u8 = 0x80;

/// The fixed TCP header, without options (RFC 9293 §3.1).
pub const TCP_HDR_LEN: usize = 20;
/// The longest TCP header: data offset 15 words.
pub const TCP_MAX_HDR_LEN: usize = TCP_HDR_LEN + MAX_OPTION_LEN;

/// Why bytes are not a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReprError {
    /// Fewer bytes than the header needs (`need`, `have`): the segment was cut short.
    Truncated {
        /// Bytes the header says it needs.
        need: usize,
        /// Bytes there are.
        have: usize,
    },
    /// A data offset below 5 words: not a TCP header.
    BadDataOffset(u8),
}

impl core::fmt::Display for ReprError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ReprError::Truncated { need, have } => {
                write!(f, "TCP segment of {have} bytes is shorter than its {need}-byte header; drop it")
            }
            ReprError::BadDataOffset(d) => write!(f, "TCP data offset {d} is below 5 words; drop the segment"),
        }
    }
}

/// A TCP segment's meaning: what input acts on and output builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful with [`TH_ACK`]).
    pub ack: u32,
    /// `TH_*` flags.
    pub flags: u8,
    /// Window field as sent (not scaled).
    pub window: u16,
    /// Options, parsed.
    pub options: TcpOptions,
    /// Payload.
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Parses a segment (header and payload), checking the data offset against the length.
    pub fn parse(seg: &'a [u8]) -> Result<TcpRepr<'a>, ReprError> {
        if seg.len() < TCP_HDR_LEN {
            return Err(ReprError::Truncated { need: TCP_HDR_LEN, have: seg.len() });
        }
        let doff = seg[12] >> 4;
        if doff < 5 {
            return Err(ReprError::BadDataOffset(doff));
        }
        let hlen = doff as usize * 4;
        if seg.len() < hlen {
            return Err(ReprError::Truncated { need: hlen, have: seg.len() });
        }
        let be16 = |i: usize| u16::from_be_bytes([seg[i], seg[i + 1]]);
        let be32 = |i: usize| u32::from_be_bytes([seg[i], seg[i + 1], seg[i + 2], seg[i + 3]]);
        Ok(TcpRepr {
            src_port: be16(0),
            dst_port: be16(2),
            seq: be32(4),
            ack: be32(8),
            flags: seg[13],
            window: be16(14),
            options: TcpOptions::parse(&seg[TCP_HDR_LEN..hlen]),
            payload: &seg[hlen..],
        })
    }

    /// Header length with the options encoded.
    pub fn header_len(&self) -> usize {
        TCP_HDR_LEN + self.options.emit().as_slice().len()
    }

    /// Writes the header (checksum and urgent pointer zero) into the front of `buf` and returns
    /// its length; `None` when `buf` is shorter than the header. The payload is the caller's to
    /// place after it (it may already be there, or go in another buffer).
    pub fn emit_header(&self, buf: &mut [u8]) -> Option<usize> {
        let opts = self.options.emit();
        let hlen = TCP_HDR_LEN + opts.as_slice().len();
        let h = buf.get_mut(..hlen)?;
        h[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        h[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        h[4..8].copy_from_slice(&self.seq.to_be_bytes());
        h[8..12].copy_from_slice(&self.ack.to_be_bytes());
        h[12] = ((hlen / 4) as u8) << 4;
        h[13] = self.flags;
        h[14..16].copy_from_slice(&self.window.to_be_bytes());
        h[16..20].fill(0);
        h[TCP_HDR_LEN..].copy_from_slice(opts.as_slice());
        Some(hlen)
    }

    /// Sequence space the segment occupies: payload bytes, plus one each for SYN and FIN.
    pub fn seq_len(&self) -> u32 {
        self.payload.len() as u32 + (self.flags & TH_SYN != 0) as u32 + (self.flags & TH_FIN != 0) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A SYN as RFC 9293 §3.1 lays it out, written byte by byte: ports 49152 -> 80, seq
    // 0x01020304, ack 0, data offset 7 words (20 + MSS 4 + NOP/WS 4), SYN, window 65535.
    const SYN: [u8; 28] = [
        0xc0, 0x00, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0, 0, 0, 0, 0x70, 0x02, 0xff, 0xff, 0, 0, 0, 0, 2, 4, 0x05,
        0xb4, 1, 3, 3, 7,
    ];

    #[test]
    fn parses_and_emits_the_rfc_layout() {
        let r = TcpRepr::parse(&SYN).unwrap();
        assert_eq!((r.src_port, r.dst_port, r.seq, r.ack, r.flags, r.window), (49152, 80, 0x0102_0304, 0, TH_SYN, 65535));
        assert_eq!(r.options, TcpOptions { mss: Some(1460), window_scale: Some(7), ..Default::default() });
        assert_eq!(r.seq_len(), 1);
        let mut buf = [0xaa; 60];
        assert_eq!(r.emit_header(&mut buf), Some(28));
        assert_eq!(&buf[..28], &SYN);
        assert_eq!(r.header_len(), 28);
        assert_eq!(r.emit_header(&mut [0; 27]), None);
    }

    #[test]
    fn short_or_malformed_headers_are_errors() {
        assert_eq!(TcpRepr::parse(&SYN[..19]), Err(ReprError::Truncated { need: 20, have: 19 }));
        assert_eq!(TcpRepr::parse(&SYN[..27]), Err(ReprError::Truncated { need: 28, have: 27 }));
        let mut bad = SYN;
        bad[12] = 0x40;
        assert_eq!(TcpRepr::parse(&bad), Err(ReprError::BadDataOffset(4)));
    }
}
