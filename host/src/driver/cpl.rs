//! Completion validation: every field the device wrote, checked before use.
//!
//! A completion is device-written memory; a device with a bug, a half-written
//! record or a stale slot must produce a counted, explained error and never a
//! panic, a wrong buffer index or a length past a buffer. This file is pure
//! (no device, no memory access) so the rules are tested on their own.

use std::fmt;

use nic_abi::csum::{self, CSUM_L3_CALC, CSUM_L3_VALID, CSUM_L4_CALC, CSUM_L4_VALID, RX_RESULT_MASK};
use nic_abi::desc::{phase_for, Completion, STATUS_CODE, STATUS_PHASE};
use nic_abi::rss::hashtype;
use nic_abi::status::Status;

/// Which queue a completion belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Transmit completion queue.
    Tx,
    /// Receive completion queue.
    Rx,
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dir::Tx => "TX",
            Dir::Rx => "RX",
        })
    }
}

/// What the driver knows about the completion it expects next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The next TX completion: for descriptor `index`, whose length was `desc_len`.
    Tx {
        /// Free-running index of the oldest outstanding descriptor.
        index: u16,
        /// log2 of the queue size (for the phase).
        size_log2: u32,
        /// The length the driver put in that descriptor.
        desc_len: u32,
    },
    /// The next RX completion: for buffer descriptor `index`, whose buffer holds `buf_len` bytes.
    Rx {
        /// Free-running index of the oldest posted buffer.
        index: u16,
        /// log2 of the queue size (for the phase).
        size_log2: u32,
        /// Length of the posted buffer.
        buf_len: usize,
    },
}

impl Expect {
    fn index(&self) -> u16 {
        match *self {
            Expect::Tx { index, .. } | Expect::Rx { index, .. } => index,
        }
    }
    fn dir(&self) -> Dir {
        match self {
            Expect::Tx { .. } => Dir::Tx,
            Expect::Rx { .. } => Dir::Rx,
        }
    }
}

/// A completion whose every field has been checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Valid {
    /// Frame length (RX: bytes written into the buffer, within it).
    pub len: u16,
    /// The device's verdict (a known code; TX errors are counted per code).
    pub status: Status,
    /// RX checksum results, within [`RX_RESULT_MASK`] and consistent (no VALID without CALC).
    pub csum_flags: u32,
    /// RX folded L4 sum (0xffff whenever `CSUM_L4_VALID`).
    pub csum_data: u16,
    /// RX hash (0 when `rsstype` is `NONE`).
    pub flowid: u32,
    /// RX hash type: an `M_HASHTYPE_*` value ([`nic_abi::rss::hashtype`]), 0 for none.
    pub rsstype: u8,
    /// RX: the hash the device wrote when it was not a valid one (an unknown `rsstype`, or
    /// `NONE` with a nonzero `flowid`), as `(flowid, rsstype)`. The frame is still good and is
    /// delivered without a hash (`flowid` and `rsstype` above are 0); the caller counts the
    /// device error ([`CompletionError::Rss`]).
    pub bad_hash: Option<(u32, u8)>,
}

impl Valid {
    /// The device error behind [`Valid::bad_hash`], for counting and the log.
    pub fn hash_error(&self, index: u16) -> Option<CompletionError> {
        self.bad_hash.map(|(flowid, rsstype)| CompletionError::Rss { index, flowid, rsstype })
    }
}

/// Why a completion was refused. Every variant but [`CompletionError::NotReady`]
/// means the device wrote something the ABI does not allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompletionError {
    /// The slot's phase is not this lap's: the device has not written it yet (not an error by itself).
    NotReady,
    /// The completion names another descriptor than the oldest outstanding one (completions are in order).
    Index {
        /// Queue.
        dir: Dir,
        /// The index expected.
        expected: u16,
        /// The index written.
        found: u16,
    },
    /// RX length zero or past the buffer; TX length other than the descriptor's.
    Len {
        /// Queue.
        dir: Dir,
        /// Descriptor index.
        index: u16,
        /// The length written.
        len: u16,
        /// RX: the buffer length; TX: the descriptor's length.
        limit: usize,
    },
    /// Checksum flags outside the receive results, VALID without CALC, or any on TX.
    Flags {
        /// Queue.
        dir: Dir,
        /// Descriptor index.
        index: u16,
        /// The flags written.
        flags: u32,
    },
    /// `CSUM_L4_VALID` with a `csum_data` other than 0xffff.
    CsumData {
        /// Descriptor index.
        index: u16,
        /// The value written.
        csum_data: u16,
    },
    /// A status code this ABI version does not define.
    Status {
        /// Queue.
        dir: Dir,
        /// Descriptor index.
        index: u16,
        /// The code written.
        code: u8,
    },
    /// An RX hash type that is not an `M_HASHTYPE_*` value, or `NONE` with a nonzero hash. Not
    /// fatal for the frame: [`validate`] reports it in [`Valid::bad_hash`] and the frame goes up
    /// without a hash.
    Rss {
        /// Descriptor index.
        index: u16,
        /// The hash written.
        flowid: u32,
        /// The hash type written.
        rsstype: u8,
    },
}

impl fmt::Display for CompletionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tail = "the device wrote a completion the ABI does not allow; it was consumed and counted, \
                    the buffer kept; check the RTL's completion writer";
        match self {
            CompletionError::NotReady => write!(f, "completion not written yet"),
            CompletionError::Index { dir, expected, found } => {
                write!(f, "{dir} completion for descriptor {found}, expected {expected} (out of order): {tail}")
            }
            CompletionError::Len { dir: Dir::Rx, index, len, limit } => {
                write!(f, "RX completion {index}: length {len} outside 1..={limit} (the buffer): {tail}")
            }
            CompletionError::Len { dir: Dir::Tx, index, len, limit } => {
                write!(f, "TX completion {index}: length {len}, descriptor said {limit}: {tail}")
            }
            CompletionError::Flags { dir, index, flags } => {
                let names: Vec<&str> = csum::names(*flags).collect();
                write!(f, "{dir} completion {index}: csum_flags 0x{flags:08x} {names:?} not allowed: {tail}")
            }
            CompletionError::CsumData { index, csum_data } => write!(
                f,
                "RX completion {index}: CSUM_L4_VALID with csum_data 0x{csum_data:04x} (must be 0xffff): {tail}"
            ),
            CompletionError::Status { dir, index, code } => {
                write!(f, "{dir} completion {index}: unknown status code {code}: {tail}")
            }
            CompletionError::Rss { index, flowid, rsstype } => write!(
                f,
                "RX completion {index}: hash 0x{flowid:08x} with rsstype 0x{rsstype:02x}, which is {}; \
                 the frame was delivered without a hash and the completion counted (bad_rss): check the \
                 RTL's RSS block",
                if *rsstype == hashtype::NONE {
                    "NONE (no hash) with a nonzero hash".to_string()
                } else {
                    "no M_HASHTYPE value".to_string()
                }
            ),
        }
    }
}

impl std::error::Error for CompletionError {}

/// Checks one completion against what the driver expects; never panics.
pub fn validate(c: &Completion, ex: &Expect) -> Result<Valid, CompletionError> {
    let (dir, index) = (ex.dir(), ex.index());
    let size_log2 = match *ex {
        Expect::Tx { size_log2, .. } | Expect::Rx { size_log2, .. } => size_log2,
    };
    if (c.status & STATUS_PHASE != 0) != phase_for(index, size_log2) {
        return Err(CompletionError::NotReady);
    }
    let found = c.index.get();
    if found != index {
        return Err(CompletionError::Index { dir, expected: index, found });
    }
    let code = c.status & STATUS_CODE;
    let status = Status::from(code);
    if let Status::Unknown(code) = status {
        return Err(CompletionError::Status { dir, index, code });
    }
    let len = c.len.get();
    let flags = c.csum_flags.get();
    match *ex {
        Expect::Tx { desc_len, .. } => {
            // A descriptor the NIC could not read completes with DMA_ERROR and length 0 (ABI).
            if len as u32 != desc_len && !(status == Status::DmaError && len == 0) {
                return Err(CompletionError::Len { dir, index, len, limit: desc_len as usize });
            }
            if flags != 0 {
                return Err(CompletionError::Flags { dir, index, flags });
            }
            // flowid, csum_data and rsstype are receive fields the ABI leaves
            // undefined on TX: nothing reads them, so nothing checks them.
            Ok(Valid { len, status, csum_flags: 0, csum_data: 0, flowid: 0, rsstype: 0, bad_hash: None })
        }
        Expect::Rx { buf_len, .. } => {
            if status == Status::Ok && (len == 0 || len as usize > buf_len) {
                return Err(CompletionError::Len { dir, index, len, limit: buf_len });
            }
            let valid_without_calc = (flags & CSUM_L3_VALID != 0 && flags & CSUM_L3_CALC == 0)
                || (flags & CSUM_L4_VALID != 0 && flags & CSUM_L4_CALC == 0);
            if flags & !RX_RESULT_MASK != 0 || valid_without_calc {
                return Err(CompletionError::Flags { dir, index, flags });
            }
            let csum_data = c.csum_data.get();
            if flags & CSUM_L4_VALID != 0 && csum_data != 0xffff {
                return Err(CompletionError::CsumData { index, csum_data });
            }
            let (flowid, rsstype) = (c.flowid.get(), c.rsstype);
            // A known M_HASHTYPE value, or no hash with no hash value. Anything else is counted
            // and dropped from the frame, which is still good.
            let known = match rsstype {
                hashtype::NONE => flowid == 0,
                t => hashtype::name(t).is_some(),
            };
            let v = Valid { len, status, csum_flags: flags, csum_data, flowid, rsstype, bad_hash: None };
            if known {
                Ok(v)
            } else {
                Ok(Valid { flowid: 0, rsstype: hashtype::NONE, bad_hash: Some((flowid, rsstype)), ..v })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nic_abi::status;

    const LOG2: u32 = 4;

    fn good_rx(index: u16) -> Completion {
        Completion {
            len: 60.into(),
            index: index.into(),
            csum_flags: (CSUM_L3_CALC | CSUM_L3_VALID | CSUM_L4_CALC | CSUM_L4_VALID).into(),
            flowid: 0.into(),
            csum_data: 0xffff.into(),
            rsstype: 0,
            status: status::OK | if phase_for(index, LOG2) { STATUS_PHASE } else { 0 },
        }
    }

    fn rx(index: u16) -> Expect {
        Expect::Rx { index, size_log2: LOG2, buf_len: 2048 }
    }

    #[test]
    fn a_descriptor_the_nic_could_not_read_completes_with_length_zero() {
        use nic_abi::desc::STATUS_PHASE;
        let c = Completion { len: 0.into(), index: 5.into(), status: nic_abi::status::DMA_ERROR | STATUS_PHASE, ..Default::default() };
        let ex = Expect::Tx { index: 5, size_log2: 6, desc_len: 1500 };
        assert_eq!(validate(&c, &ex).map(|v| v.status), Ok(Status::DmaError));
        // Length 0 with any other status is still wrong.
        let c = Completion { status: nic_abi::status::OK | STATUS_PHASE, ..c };
        assert!(matches!(validate(&c, &ex), Err(CompletionError::Len { .. })));
    }

    #[test]
    fn a_good_completion_passes_on_every_lap() {
        for index in [0u16, 15, 16, 31, 32, 0xfff0, 0xffff] {
            let v = validate(&good_rx(index), &rx(index)).unwrap();
            assert_eq!(v.len, 60);
            assert_eq!(v.status, Status::Ok);
        }
    }

    #[test]
    fn wrong_phase_is_not_ready() {
        let mut c = good_rx(3);
        c.status ^= STATUS_PHASE;
        assert_eq!(validate(&c, &rx(3)), Err(CompletionError::NotReady));
        // A zeroed queue (what the driver starts with) is never ready on the first lap.
        let z = Completion::default();
        assert_eq!(validate(&z, &rx(0)), Err(CompletionError::NotReady));
        // A previous lap's record is not ready on this lap.
        assert_eq!(validate(&good_rx(3), &rx(3 + 16)), Err(CompletionError::NotReady));
    }

    #[test]
    fn out_of_order_index() {
        let mut c = good_rx(5);
        c.index = 6.into();
        assert_eq!(validate(&c, &rx(5)), Err(CompletionError::Index { dir: Dir::Rx, expected: 5, found: 6 }));
    }

    #[test]
    fn length_past_the_buffer_or_zero() {
        let mut c = good_rx(1);
        c.len = 2049.into();
        assert!(matches!(validate(&c, &rx(1)), Err(CompletionError::Len { len: 2049, limit: 2048, .. })));
        c.len = 0.into();
        assert!(matches!(validate(&c, &rx(1)), Err(CompletionError::Len { len: 0, .. })));
        c.len = 2048.into();
        assert!(validate(&c, &rx(1)).is_ok());
    }

    #[test]
    fn unknown_or_inconsistent_flags() {
        let mut c = good_rx(2);
        c.csum_flags = (CSUM_L4_CALC | nic_abi::csum::CSUM_COALESCED).into();
        assert!(matches!(validate(&c, &rx(2)), Err(CompletionError::Flags { .. })));
        c.csum_flags = nic_abi::csum::CSUM_IP_TCP.into(); // a transmit request bit
        assert!(matches!(validate(&c, &rx(2)), Err(CompletionError::Flags { .. })));
        c.csum_flags = CSUM_L4_VALID.into(); // VALID without CALC
        assert!(matches!(validate(&c, &rx(2)), Err(CompletionError::Flags { .. })));
        c.csum_flags = (CSUM_L4_CALC | CSUM_L4_VALID).into();
        c.csum_data = 0x1234.into();
        assert_eq!(validate(&c, &rx(2)), Err(CompletionError::CsumData { index: 2, csum_data: 0x1234 }));
        c.csum_flags = CSUM_L4_CALC.into(); // computed, bad: csum_data is the sum, anything goes
        assert!(validate(&c, &rx(2)).is_ok());
    }

    #[test]
    fn unknown_status_and_rss() {
        let mut c = good_rx(7);
        c.status = (c.status & STATUS_PHASE) | 0x55;
        assert_eq!(validate(&c, &rx(7)), Err(CompletionError::Status { dir: Dir::Rx, index: 7, code: 0x55 }));
    }

    #[test]
    fn hashes_of_known_types_pass_and_others_are_stripped() {
        for t in [hashtype::RSS_IPV4, hashtype::RSS_TCP_IPV4, hashtype::RSS_UDP_IPV6, hashtype::OPAQUE] {
            let mut c = good_rx(7);
            c.rsstype = t;
            c.flowid = 0x51cc_c178.into();
            let v = validate(&c, &rx(7)).unwrap();
            assert_eq!((v.flowid, v.rsstype, v.bad_hash), (0x51cc_c178, t, None), "type 0x{t:02x}");
        }
        // No hash: flowid must be 0 too.
        let v = validate(&good_rx(7), &rx(7)).unwrap();
        assert_eq!((v.flowid, v.rsstype, v.bad_hash), (0, 0, None));
        for (flowid, rsstype) in [(0x1234u32, 0u8), (5, 0x88), (0, 0x40), (0, 0xff)] {
            let mut c = good_rx(7);
            c.rsstype = rsstype;
            c.flowid = flowid.into();
            let v = validate(&c, &rx(7)).expect("the frame itself is good");
            assert_eq!((v.flowid, v.rsstype), (0, 0), "delivered without a hash");
            assert_eq!(v.bad_hash, Some((flowid, rsstype)));
            let e = v.hash_error(7).unwrap();
            assert!(matches!(e, CompletionError::Rss { index: 7, .. }));
            assert!(e.to_string().contains("without a hash"), "{e}");
        }
    }

    #[test]
    fn tx_rules() {
        let ex = Expect::Tx { index: 9, size_log2: LOG2, desc_len: 60 };
        let mut c = Completion {
            len: 60.into(),
            index: 9.into(),
            status: status::BAD_FLAGS | STATUS_PHASE,
            ..Default::default()
        };
        assert_eq!(validate(&c, &ex).unwrap().status, Status::BadFlags);
        c.len = 61.into();
        assert!(matches!(validate(&c, &ex), Err(CompletionError::Len { dir: Dir::Tx, .. })));
        c.len = 60.into();
        c.csum_flags = CSUM_L3_CALC.into();
        assert!(matches!(validate(&c, &ex), Err(CompletionError::Flags { dir: Dir::Tx, .. })));
    }

    #[test]
    fn random_garbage_never_panics() {
        // Every byte pattern is either refused or passes all the rules.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let mut b = [0u8; 16];
            for chunk in b.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes());
            }
            let c = <Completion as zerocopy::FromBytes>::read_from_bytes(&b[..]).unwrap();
            let idx = c.index.get();
            for ex in [rx(idx), Expect::Tx { index: idx, size_log2: LOG2, desc_len: c.len.get() as u32 }] {
                if let Ok(v) = validate(&c, &ex) {
                    assert!(v.csum_flags & !RX_RESULT_MASK == 0);
                    assert!((v.rsstype == 0 && v.flowid == 0) || hashtype::name(v.rsstype).is_some());
                    if let Expect::Rx { buf_len, .. } = ex {
                        assert!(v.status != Status::Ok || (1..=buf_len).contains(&(v.len as usize)));
                    }
                }
            }
        }
    }
}
