//! The TCP option codec (RFC 9293 §3.2, RFC 7323, RFC 2018): options parsed
//! once into [`TcpOptions`], and written back from it, with no allocation.
//!
//! The parser keeps the options this stack acts on and steps over the rest
//! by their length; a malformed list (a length below 2 or past the end) ends
//! the walk, keeping what came before, as FreeBSD's `tcp_dooptions` does.

/// End of option list.
pub const TCPOPT_EOL: u8 = 0;
/// No-operation (padding).
pub const TCPOPT_NOP: u8 = 1;
/// Maximum segment size (RFC 9293 §3.7.1), 4 bytes.
pub const TCPOPT_MAXSEG: u8 = 2;
/// Window scale (RFC 7323 §2), 3 bytes.
pub const TCPOPT_WINDOW: u8 = 3;
/// SACK permitted (RFC 2018 §2), 2 bytes.
pub const TCPOPT_SACK_PERMITTED: u8 = 4;
/// Timestamps (RFC 7323 §3), 10 bytes.
pub const TCPOPT_TIMESTAMP: u8 = 8;
/// RFC 7323 §2.3: a larger shift is used as 14.
pub const TCP_MAX_WINSHIFT: u8 = 14;
/// The most option bytes a header holds (data offset 15 words, minus the 20-byte header).
pub const MAX_OPTION_LEN: usize = 40;

/// The options of one segment, parsed (smoltcp's `TcpRepr` carries the same fields).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    /// MSS the sender can receive.
    pub mss: Option<u16>,
    /// Window-scale shift, already capped at [`TCP_MAX_WINSHIFT`].
    pub window_scale: Option<u8>,
    /// The sender accepts SACK blocks.
    pub sack_permitted: bool,
    /// Timestamp value and echo reply.
    pub timestamp: Option<(u32, u32)>,
}

/// Encoded options: at most 40 bytes, held inline so a segment costs no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionBytes {
    buf: [u8; MAX_OPTION_LEN],
    len: u8,
}

impl Default for OptionBytes {
    fn default() -> Self {
        OptionBytes { buf: [0; MAX_OPTION_LEN], len: 0 }
    }
}

impl OptionBytes {
    /// The encoded bytes, a multiple of 4 long.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    fn push(&mut self, bytes: &[u8]) {
        let at = self.len as usize;
        self.buf[at..at + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len() as u8;
    }
}

impl TcpOptions {
    /// Parses an option list, keeping what it understands (see the module docs).
    pub fn parse(opts: &[u8]) -> TcpOptions {
        let mut o = TcpOptions::default();
        let mut i = 0;
        while i < opts.len() {
            match opts[i] {
                TCPOPT_EOL => break,
                TCPOPT_NOP => i += 1,
                kind => {
                    let Some(&len) = opts.get(i + 1) else { break };
                    let len = len as usize;
                    if len < 2 || i + len > opts.len() {
                        break;
                    }
                    let body = &opts[i + 2..i + len];
                    match (kind, body) {
                        (TCPOPT_MAXSEG, &[a, b]) => o.mss = Some(u16::from_be_bytes([a, b])),
                        (TCPOPT_WINDOW, &[s]) => o.window_scale = Some(s.min(TCP_MAX_WINSHIFT)),
                        (TCPOPT_SACK_PERMITTED, &[]) => o.sack_permitted = true,
                        (TCPOPT_TIMESTAMP, b) if b.len() == 8 => {
                            let v = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                            let e = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                            o.timestamp = Some((v, e));
                        }
                        _ => {}
                    }
                    i += len;
                }
            }
        }
        o
    }

    /// Encodes the options present, each 32-bit aligned with NOPs as RFC 7323 Appendix A
    /// recommends: MSS, then NOP + window scale, then NOP NOP + SACK-permitted, then NOP NOP +
    /// timestamps (8 + 4 + 12 = 24 bytes at most, within the 40 a header holds).
    pub fn emit(&self) -> OptionBytes {
        let mut out = OptionBytes::default();
        if let Some(mss) = self.mss {
            let [a, b] = mss.to_be_bytes();
            out.push(&[TCPOPT_MAXSEG, 4, a, b]);
        }
        if let Some(s) = self.window_scale {
            out.push(&[TCPOPT_NOP, TCPOPT_WINDOW, 3, s]);
        }
        if self.sack_permitted {
            out.push(&[TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK_PERMITTED, 2]);
        }
        if let Some((v, e)) = self.timestamp {
            out.push(&[TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, 10]);
            out.push(&v.to_be_bytes());
            out.push(&e.to_be_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Encodings from the RFCs: MSS kind 2 length 4 (RFC 9293 §3.2); window scale kind 3
    // length 3, shift.cnt (RFC 7323 §2.2); SACK-permitted kind 4 length 2 (RFC 2018 §2);
    // timestamps kind 8 length 10, TSval then TSecr (RFC 7323 §3.2), and the NOP-aligned
    // layouts of RFC 7323 Appendix A.
    const SYN_MSS_1460_WS_7: [u8; 8] = [2, 4, 0x05, 0xb4, 1, 3, 3, 7];

    #[test]
    fn rfc_encodings_parse() {
        let o = TcpOptions::parse(&SYN_MSS_1460_WS_7);
        assert_eq!(o, TcpOptions { mss: Some(1460), window_scale: Some(7), ..Default::default() });
        let ts = [1, 1, 8, 10, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef, 1, 1, 4, 2];
        let o = TcpOptions::parse(&ts);
        assert_eq!(o.timestamp, Some((1, 0xdead_beef)));
        assert!(o.sack_permitted);
        assert_eq!(o.mss, None);
    }

    #[test]
    fn emit_gives_the_rfc_layout_and_round_trips() {
        let o = TcpOptions { mss: Some(1460), window_scale: Some(7), ..Default::default() };
        assert_eq!(o.emit().as_slice(), &SYN_MSS_1460_WS_7);
        let all = TcpOptions { mss: Some(8960), window_scale: Some(14), sack_permitted: true, timestamp: Some((7, 9)) };
        let b = all.emit();
        assert_eq!(b.as_slice().len() % 4, 0);
        assert_eq!(&b.as_slice()[8..12], &[1, 1, 4, 2]);
        assert_eq!(&b.as_slice()[12..24], &[1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9]);
        assert_eq!(TcpOptions::parse(b.as_slice()), all);
        assert_eq!(TcpOptions::default().emit().as_slice(), &[] as &[u8]);
    }

    #[test]
    fn shift_above_14_is_used_as_14() {
        // RFC 7323 §2.3: "... MUST use 14 instead of the specified value".
        assert_eq!(TcpOptions::parse(&[3, 3, 15]).window_scale, Some(14));
        assert_eq!(TcpOptions::parse(&[3, 3, 255]).window_scale, Some(14));
    }

    #[test]
    fn unknown_options_are_stepped_over_and_malformed_ones_end_the_walk() {
        // An unknown kind 30 with 4 bytes, then MSS.
        assert_eq!(TcpOptions::parse(&[30, 4, 0, 0, 2, 4, 1, 0]).mss, Some(256));
        // Wrong lengths for a known kind are ignored, not misread.
        assert_eq!(TcpOptions::parse(&[2, 3, 5, 1, 1, 1]).mss, None);
        // Length 1, length past the end, missing length: stop, keep what was found.
        assert_eq!(TcpOptions::parse(&[3, 3, 2, 2, 1]).window_scale, Some(2));
        assert_eq!(TcpOptions::parse(&[3, 3, 2, 2, 9, 0, 0]), TcpOptions { window_scale: Some(2), ..Default::default() });
        assert_eq!(TcpOptions::parse(&[1, 2]), TcpOptions::default());
        // EOL ends the list even if bytes follow.
        assert_eq!(TcpOptions::parse(&[0, 2, 4, 5, 0xb4]).mss, None);
    }
}
