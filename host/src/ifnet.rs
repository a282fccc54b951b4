//! The interface: capabilities as data the protocol code consults.
//!
//! `if_capabilities` is what the hardware can do (the NIC's `CAPS` register),
//! `if_capenable` what is switched on (mirrored into its `CAPENABLE`
//! register), and `if_hwassist` the `CSUM_*` requests `ip_output` may leave to
//! the NIC, derived from `if_capenable` as FreeBSD drivers derive it. The
//! ifconfig rules here are the ones FreeBSD drivers (cxgbe, mlx5, sfxge)
//! enforce in `SIOCSIFCAP`, with one deliberate difference: a request is
//! applied all or nothing, where cxgbe may leave earlier bits toggled when a
//! later bit fails.

use std::fmt;

use nic_abi::csum::{
    CSUM_IP, CSUM_IP6_TCP, CSUM_IP6_TSO, CSUM_IP6_UDP, CSUM_IP_TCP, CSUM_IP_TSO, CSUM_IP_UDP, CSUM_TSO,
};
use nic_abi::ifcap::{self, *};

use crate::mbuf::IfRef;

/// FreeBSD's default `if_hw_tsomax` (`if_attach`): `min(IP_MAXPACKET, 32 * MCLBYTES -
/// (ETHER_HDR_LEN + ETHER_VLAN_ENCAP_LEN))` = 65518 (a stack limit, not part of the NIC's ABI).
pub const IF_HW_TSOMAX_DEFAULT: u32 = 32 * 2048 - (14 + 4);
/// FreeBSD's default `if_hw_tsomaxsegcount` (stack limit).
pub const IF_HW_TSOMAXSEGCOUNT_DEFAULT: u32 = 35;
/// FreeBSD's default `if_hw_tsomaxsegsize` (stack limit).
pub const IF_HW_TSOMAXSEGSIZE_DEFAULT: u32 = 2048;

/// Capabilities a driver leaves off at attach even when the hardware has them
/// (cxgbe: TOE is switched on by the administrator once the engine is loaded).
pub const CAPS_OFF_AT_ATTACH: u32 = IFCAP_TOE;

/// A network interface (FreeBSD's `struct ifnet`, the fields this stack uses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ifnet {
    /// Interface name, `ofld0`.
    pub if_xname: String,
    /// Interface index.
    pub if_index: u16,
    /// Generation of `if_index` (see [`IfRef`]).
    pub if_generation: u32,
    /// What the hardware can do (`IFCAP_*`).
    pub if_capabilities: u32,
    /// What is switched on (`IFCAP_*`).
    pub if_capenable: u32,
    /// `CSUM_*` requests the stack may leave to the hardware; always [`hwassist_for`]`(if_capenable)`.
    pub if_hwassist: u32,
    /// Largest TSO burst in bytes.
    pub if_hw_tsomax: u32,
    /// Most DMA segments in one TSO burst.
    pub if_hw_tsomaxsegcount: u32,
    /// Largest DMA segment in a TSO burst.
    pub if_hw_tsomaxsegsize: u32,
    /// IP MTU in bytes.
    pub if_mtu: u32,
    /// Ethernet address.
    pub if_lladdr: [u8; 6],
    /// Whether a TCP offload engine is attached (`toedev` registered); `toe` needs it.
    pub toe_engine: bool,
}

/// The `CSUM_*` transmit requests an `if_capenable` allows, as FreeBSD drivers set `if_hwassist`.
pub fn hwassist_for(capenable: u32) -> u32 {
    let mut a = 0;
    if capenable & IFCAP_TXCSUM != 0 {
        a |= CSUM_IP | CSUM_IP_TCP | CSUM_IP_UDP;
    }
    if capenable & IFCAP_TXCSUM_IPV6 != 0 {
        a |= CSUM_IP6_TCP | CSUM_IP6_UDP;
    }
    if capenable & IFCAP_TSO4 != 0 {
        a |= CSUM_IP_TSO;
    }
    if capenable & IFCAP_TSO6 != 0 {
        a |= CSUM_IP6_TSO;
    }
    a
}

/// The `CSUM_*` requests an interface with `hwassist`/`capenable` takes for a
/// frame, tagged or not: a tagged frame (the tag is in the frame; descriptors
/// carry none) is offloaded only with `vlanhwcsum` (and TSO only with
/// `vlanhwtso`), as vlan(4) derives its `if_hwassist` from the parent's.
pub fn effective_hwassist(hwassist: u32, capenable: u32, tagged: bool) -> u32 {
    if !tagged {
        return hwassist;
    }
    let mut a = 0;
    if capenable & IFCAP_VLAN_HWCSUM != 0 {
        a |= hwassist & !CSUM_TSO;
    }
    if capenable & IFCAP_VLAN_HWTSO != 0 {
        a |= hwassist & CSUM_TSO;
    }
    a
}

/// The capability bits an ifconfig word names (without its `-` prefix).
pub fn ifcap_word(word: &str) -> Option<u32> {
    Some(match word {
        "rxcsum" => IFCAP_RXCSUM,
        "txcsum" => IFCAP_TXCSUM,
        "rxcsum6" => IFCAP_RXCSUM_IPV6,
        "txcsum6" => IFCAP_TXCSUM_IPV6,
        "tso" => IFCAP_TSO,
        "tso4" => IFCAP_TSO4,
        "tso6" => IFCAP_TSO6,
        "toe" => IFCAP_TOE,
        "lro" => IFCAP_LRO,
        "vlanhwcsum" => IFCAP_VLAN_HWCSUM,
        "vlanhwtso" => IFCAP_VLAN_HWTSO,
        "vlanhwtag" => IFCAP_VLAN_HWTAGGING,
        _ => return None,
    })
}

/// FreeBSD's `printb` for capability words: `label=<hex><NAME,...>`, lowest bit
/// first; a bit without a name prints as `label_<bit>`.
pub fn format_caps(label: &str, v: u32) -> String {
    let mut names = Vec::new();
    for bit in 0..32 {
        let b = 1u32 << bit;
        if v & b != 0 {
            match ifcap::name(b) {
                Some(n) => names.push(n.to_string()),
                None => names.push(format!("{label}_{bit}")),
            }
        }
    }
    format!("{label}={v:x}<{}>", names.join(","))
}

/// Why a capability change was refused; `Display` says what to do instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CapError {
    /// Not an ifconfig capability word.
    UnknownWord(String),
    /// EAGAIN: a prerequisite capability is off ("enable txcsum first").
    Again(&'static str),
    /// ENODEV: `toe` without a TCP offload engine attached.
    NoEngine,
    /// The hardware refused the new enables (the driver could not program them).
    Device(String),
}

impl CapError {
    /// The errno FreeBSD returns for this refusal, by name.
    pub fn errno_name(&self) -> &'static str {
        match self {
            CapError::UnknownWord(_) => "EINVAL",
            CapError::Again(_) => "EAGAIN",
            CapError::NoEngine => "ENODEV",
            CapError::Device(_) => "EIO",
        }
    }
}

impl fmt::Display for CapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapError::UnknownWord(w) => write!(
                f,
                "unknown capability '{w}' (one of rxcsum txcsum rxcsum6 txcsum6 tso tso4 tso6 toe lro vlanhwcsum \
                 vlanhwtso vlanhwtag, each with a '-' form)"
            ),
            CapError::Again(why) => write!(f, "Resource temporarily unavailable: {why}"),
            CapError::NoEngine => write!(f, "no TCP offload engine attached: load or attach it before enabling toe"),
            CapError::Device(s) => write!(f, "the device refused the new capabilities: {s}"),
        }
    }
}

impl std::error::Error for CapError {}

/// The outcome of one `SIOCSIFCAP`: what changed and what the driver printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapChange {
    /// `if_capenable` before.
    pub old: u32,
    /// `if_capenable` after.
    pub new: u32,
    /// `if_printf` lines, e.g. "tso4 disabled due to -txcsum".
    pub messages: Vec<String>,
}

impl Ifnet {
    /// An interface for hardware with `capabilities`, switched on as drivers do at attach
    /// (everything but [`CAPS_OFF_AT_ATTACH`]).
    pub fn new(name: &str, index: u16, capabilities: u32, lladdr: [u8; 6]) -> Self {
        let capenable = capabilities & !CAPS_OFF_AT_ATTACH;
        Ifnet {
            if_xname: name.to_string(),
            if_index: index,
            if_generation: 0,
            if_capabilities: capabilities,
            if_capenable: capenable,
            if_hwassist: hwassist_for(capenable),
            if_hw_tsomax: IF_HW_TSOMAX_DEFAULT,
            if_hw_tsomaxsegcount: IF_HW_TSOMAXSEGCOUNT_DEFAULT,
            if_hw_tsomaxsegsize: IF_HW_TSOMAXSEGSIZE_DEFAULT,
            if_mtu: 1500,
            if_lladdr: lladdr,
            toe_engine: false,
        }
    }

    /// How packets and connections refer to this interface.
    pub fn ifref(&self) -> IfRef {
        IfRef { index: self.if_index, generation: self.if_generation }
    }

    /// The ifconfig half of one capability word (`txcsum`, `-tso4`): the
    /// `reqcap` to send, or `None` when it equals the current set (nothing is sent).
    pub fn cap_request(&self, word: &str) -> Result<Option<u32>, CapError> {
        let (clear, name) = match word.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, word),
        };
        let value = ifcap_word(name).ok_or_else(|| CapError::UnknownWord(word.to_string()))?;
        let cur = self.if_capenable;
        let req = if clear { cur & !value } else { cur | value } & self.if_capabilities;
        Ok((req != cur).then_some(req))
    }

    /// The driver half (`SIOCSIFCAP`): applies `reqcap` under the dependency
    /// rules, all or nothing, and re-derives `if_hwassist`.
    pub fn set_capenable(&mut self, reqcap: u32) -> Result<CapChange, CapError> {
        let old = self.if_capenable;
        let mut mask = (reqcap ^ old) & self.if_capabilities;
        let mut cap = old;
        let mut messages = Vec::new();

        if mask & IFCAP_TXCSUM != 0 {
            cap ^= IFCAP_TXCSUM;
            if cap & IFCAP_TSO4 != 0 && cap & IFCAP_TXCSUM == 0 {
                mask &= !IFCAP_TSO4;
                cap &= !IFCAP_TSO4;
                messages.push(format!("{}: tso4 disabled due to -txcsum", self.if_xname));
            }
        }
        if mask & IFCAP_TXCSUM_IPV6 != 0 {
            cap ^= IFCAP_TXCSUM_IPV6;
            if cap & IFCAP_TSO6 != 0 && cap & IFCAP_TXCSUM_IPV6 == 0 {
                mask &= !IFCAP_TSO6;
                cap &= !IFCAP_TSO6;
                messages.push(format!("{}: tso6 disabled due to -txcsum6", self.if_xname));
            }
        }
        // rxcsum and rxcsum6 toggle independently of everything else.
        cap ^= mask & (IFCAP_RXCSUM | IFCAP_RXCSUM_IPV6);
        if mask & IFCAP_TSO4 != 0 {
            if cap & IFCAP_TSO4 == 0 && cap & IFCAP_TXCSUM == 0 {
                return Err(CapError::Again("enable txcsum first"));
            }
            cap ^= IFCAP_TSO4;
        }
        if mask & IFCAP_TSO6 != 0 {
            if cap & IFCAP_TSO6 == 0 && cap & IFCAP_TXCSUM_IPV6 == 0 {
                return Err(CapError::Again("enable txcsum6 first"));
            }
            cap ^= IFCAP_TSO6;
        }
        if mask & IFCAP_TOE != 0 {
            let enabling = mask & IFCAP_TOE & !cap != 0;
            if enabling && !self.toe_engine {
                return Err(CapError::NoEngine);
            }
            cap ^= mask & IFCAP_TOE;
        }
        // Everything else (LRO, VLAN bits, …) toggles as asked.
        let handled = IFCAP_HWCSUM | IFCAP_HWCSUM_IPV6 | IFCAP_TSO | IFCAP_TOE;
        cap ^= mask & !handled;

        self.if_capenable = cap;
        self.if_hwassist = hwassist_for(cap);
        Ok(CapChange { old, new: cap, messages })
    }

    /// `ifconfig ofld0 word word …` for capability words: each word is its own
    /// request, in order, stopping at the first refusal (ifconfig exits there).
    /// Returns the driver's messages.
    pub fn ifconfig(&mut self, words: &[&str]) -> Result<Vec<String>, CapError> {
        let mut out = Vec::new();
        for w in words {
            if let Some(req) = self.cap_request(w)? {
                out.extend(self.set_capenable(req)?.messages);
            }
        }
        Ok(out)
    }

    /// The `CSUM_*` requests this interface takes for a frame, tagged or not ([`effective_hwassist`]).
    pub fn hwassist(&self, tagged: bool) -> u32 {
        effective_hwassist(self.if_hwassist, self.if_capenable, tagged)
    }

    /// ifconfig's `options=` line.
    pub fn options_line(&self) -> String {
        format_caps("options", self.if_capenable)
    }

    /// `ifconfig -m`'s `capabilities=` line.
    pub fn capabilities_line(&self) -> String {
        format_caps("capabilities", self.if_capabilities)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_OFFLOADS: u32 =
        IFCAP_HWCSUM | IFCAP_HWCSUM_IPV6 | IFCAP_TSO | IFCAP_LRO | IFCAP_VLAN_HWCSUM | IFCAP_VLAN_HWTAGGING;

    fn ifp(caps: u32) -> Ifnet {
        Ifnet::new("ofld0", 1, caps, [2, 0, 0, 0, 0, 1])
    }

    #[test]
    fn formatter_matches_offloads_md_example() {
        let v = IFCAP_RXCSUM
            | IFCAP_TXCSUM
            | IFCAP_VLAN_MTU
            | IFCAP_VLAN_HWTAGGING
            | IFCAP_VLAN_HWCSUM
            | IFCAP_TSO4
            | IFCAP_TSO6
            | IFCAP_LRO
            | IFCAP_TOE4
            | IFCAP_RXCSUM_IPV6
            | IFCAP_TXCSUM_IPV6;
        assert_eq!(
            format_caps("options", v),
            "options=60479b<RXCSUM,TXCSUM,VLAN_MTU,VLAN_HWTAGGING,VLAN_HWCSUM,TSO4,TSO6,LRO,TOE4,RXCSUM_IPV6,TXCSUM_IPV6>"
        );
    }

    #[test]
    fn formatter_names_unnamed_bits_by_position() {
        assert_eq!(format_caps("options", (1 << 17) | 1), "options=20001<RXCSUM,options_17>");
        assert_eq!(format_caps("options", 1 << 31), "options=80000000<options_31>");
        assert_eq!(format_caps("options", 0), "options=0<>");
    }

    #[test]
    fn hwassist_follows_capenable() {
        assert_eq!(hwassist_for(IFCAP_TXCSUM), 0x7);
        assert_eq!(hwassist_for(IFCAP_TXCSUM_IPV6), 0x600);
        assert_eq!(hwassist_for(IFCAP_TSO), CSUM_TSO);
        assert_eq!(hwassist_for(IFCAP_RXCSUM | IFCAP_RXCSUM_IPV6 | IFCAP_LRO), 0);
        let i = ifp(ALL_OFFLOADS);
        assert_eq!(i.if_hwassist, 0x7 | 0x600 | CSUM_TSO);
    }

    #[test]
    fn set_and_clear_are_masked_by_supported() {
        let mut i = ifp(IFCAP_HWCSUM);
        // lro is not supported: (cur | LRO) & supported == cur, nothing is sent.
        assert_eq!(i.cap_request("lro").unwrap(), None);
        assert_eq!(i.cap_request("-rxcsum").unwrap(), Some(IFCAP_TXCSUM));
        i.ifconfig(&["-rxcsum"]).unwrap();
        assert_eq!(i.if_capenable, IFCAP_TXCSUM);
        assert_eq!(i.cap_request("-rxcsum").unwrap(), None);
        assert!(matches!(i.cap_request("bogus"), Err(CapError::UnknownWord(_))));
    }

    #[test]
    fn minus_txcsum_takes_tso4_with_it() {
        let mut i = ifp(ALL_OFFLOADS);
        let msgs = i.ifconfig(&["-txcsum"]).unwrap();
        assert_eq!(msgs, ["ofld0: tso4 disabled due to -txcsum"]);
        assert_eq!(i.if_capenable & (IFCAP_TXCSUM | IFCAP_TSO4), 0);
        assert_ne!(i.if_capenable & IFCAP_TSO6, 0, "tso6 stays");
        assert_eq!(i.if_hwassist & (CSUM_IP | CSUM_IP_TCP | CSUM_IP_UDP | CSUM_IP_TSO), 0);

        let msgs = i.ifconfig(&["-txcsum6"]).unwrap();
        assert_eq!(msgs, ["ofld0: tso6 disabled due to -txcsum6"]);
        assert_eq!(i.if_capenable & IFCAP_TSO, 0);
        assert_eq!(i.if_hwassist, 0);
    }

    #[test]
    fn tso_needs_txcsum_first() {
        let mut i = ifp(ALL_OFFLOADS);
        i.ifconfig(&["-txcsum"]).unwrap();
        let before = i.clone();
        let e = i.ifconfig(&["tso4"]).unwrap_err();
        assert_eq!(e, CapError::Again("enable txcsum first"));
        assert_eq!(e.errno_name(), "EAGAIN");
        assert_eq!(i, before, "a refused request changes nothing");
        i.ifconfig(&["txcsum", "tso4"]).unwrap();
        assert_ne!(i.if_capenable & IFCAP_TSO4, 0);
        assert_ne!(i.if_hwassist & CSUM_IP_TSO, 0);

        i.ifconfig(&["-txcsum6"]).unwrap();
        // `tso` asks for both: tso6 fails, and all or nothing keeps tso4 as it was.
        i.ifconfig(&["-tso4"]).unwrap();
        let before = i.clone();
        assert_eq!(i.ifconfig(&["tso"]).unwrap_err(), CapError::Again("enable txcsum6 first"));
        assert_eq!(i, before);
    }

    #[test]
    fn rxcsum_toggles_independently() {
        let mut i = ifp(ALL_OFFLOADS);
        let before = i.if_capenable;
        assert!(i.ifconfig(&["-rxcsum"]).unwrap().is_empty());
        assert_eq!(i.if_capenable, before & !IFCAP_RXCSUM);
        i.ifconfig(&["-rxcsum6", "rxcsum"]).unwrap();
        assert_eq!(i.if_capenable, before & !IFCAP_RXCSUM_IPV6);
        assert_eq!(i.if_hwassist, hwassist_for(before));
    }

    #[test]
    fn toe_needs_the_engine() {
        let mut i = ifp(ALL_OFFLOADS | IFCAP_TOE);
        assert_eq!(i.if_capenable & IFCAP_TOE, 0, "TOE is off at attach");
        assert_eq!(i.ifconfig(&["toe"]).unwrap_err(), CapError::NoEngine);
        i.toe_engine = true;
        i.ifconfig(&["toe"]).unwrap();
        assert_eq!(i.if_capenable & IFCAP_TOE, IFCAP_TOE);
        // Turning it off never needs the engine.
        i.toe_engine = false;
        i.ifconfig(&["-toe"]).unwrap();
        assert_eq!(i.if_capenable & IFCAP_TOE, 0);
        // Without the capability the word is masked away: nothing is sent, nothing fails.
        let mut j = ifp(ALL_OFFLOADS);
        assert_eq!(j.ifconfig(&["toe"]).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn option_lines() {
        let i = ifp(IFCAP_HWCSUM | IFCAP_TOE4);
        assert_eq!(i.options_line(), "options=3<RXCSUM,TXCSUM>");
        assert_eq!(i.capabilities_line(), "capabilities=4003<RXCSUM,TXCSUM,TOE4>");
    }
}
