//! What the control socket answers as JSON: the stack's status (`status`), an
//! interface as `ifconfig` shows it, and RSS as `nicctl rss` shows and changes
//! it. Kept apart from the socket's protocol (`super`): these read the stack,
//! the protocol only carries them.

use crate::stack::Stack;

/// `rss [IFNAME [SETTING]]`: shows every interface's RSS, or one's, or changes one setting.
/// Errors start with an errno name, as `setcap`'s do.
pub(super) fn rss_request(stack: &Stack, words: &[&str]) -> Result<serde_json::Value, String> {
    use crate::driver::{parse_key, parse_reta, parse_types};
    let names: Vec<String> = match words {
        [] => stack.interfaces().into_iter().map(|(_, n)| n).collect(),
        [n, ..] => vec![n.to_string()],
    };
    if let [name, setting @ ..] = words {
        if !setting.is_empty() {
            let index = stack.if_index(name).ok_or(format!("ENXIO interface {name} does not exist"))?;
            let r = stack
                .with_driver(index, |d| match setting {
                    ["key", hex] => parse_key(hex).map(|k| d.set_rss_key(&k)),
                    ["types", list] => parse_types(list).map(|t| d.set_rss_hashtypes(t)),
                    ["reta", "spread", n] => {
                        n.parse::<u16>().map_err(|_| format!("{n:?} is not a number of queues")).map(|n| d.set_rss_spread(n))
                    }
                    ["reta", list] => parse_reta(list).map(|e| d.set_rss_reta(&e)),
                    _ => Err(format!(
                        "{:?} is not an RSS setting: key HEX80 | types NAME,… | reta Q,Q,… | reta spread N",
                        setting.join(" ")
                    )),
                })
                .map_err(|e| format!("ENXIO {e}"))?;
            match r {
                Err(usage) => return Err(format!("EINVAL {usage}")),
                Ok(Err(e)) => return Err(format!("EINVAL {e}")),
                Ok(Ok(_)) => {}
            }
        }
    }
    let mut v = Vec::new();
    for n in &names {
        v.push(rss_json(stack, n).ok_or(format!("ENXIO interface {n} does not exist"))?);
    }
    Ok(match words {
        [_, _, ..] => v.pop().unwrap_or_default(),
        _ => serde_json::Value::Array(v),
    })
}

/// One interface's RSS as `nicctl rss` shows it: the driver's configuration, whether the NIC
/// holds the same (read back), and the NIC's per-queue counters (which queues flows landed on).
pub fn rss_json(stack: &Stack, name: &str) -> Option<serde_json::Value> {
    use crate::driver::{key_hex, type_names};
    let index = stack.if_index(name)?;
    stack
        .with_driver(index, |d| {
            let c = d.rss();
            let in_nic = d.read_rss().ok().map(|n| n == c);
            let queues: Vec<serde_json::Value> = d
                .hw_queue_stats()
                .unwrap_or_default()
                .into_iter()
                .map(|(tx, rx, drops)| serde_json::json!({"tx_packets": tx, "rx_packets": rx, "rx_drops": drops}))
                .collect();
            serde_json::json!({
                "name": name, "queues": d.num_queues(), "nic_queues": d.info().num_queues,
                "present": c.present, "key": key_hex(&c.key), "hashtypes": c.hashtypes,
                "types": type_names(c.hashtypes), "supported": type_names(c.supported),
                "reta": c.reta.to_vec(), "generation": c.generation, "in_nic": in_nic,
                "queue_stats": queues,
            })
        })
        .ok()
}

/// One interface as `ifconfig` shows it.
pub(super) fn ifinfo_json(stack: &Stack, name: &str) -> Option<serde_json::Value> {
    let index = stack.if_index(name)?;
    let ifp = stack.ifnet(index)?;
    let (addrs, ll6) = stack.if_addrs(index)?;
    // What the NIC's CAPENABLE register holds, read back: the change reached the hardware.
    let nic_capenable = stack.with_driver(index, |d| d.device().read32(nic_abi::regs::ctrl::CAPENABLE).ok()).ok()?;
    let mut inet6 = vec![serde_json::json!([ll6.to_string(), 64])];
    inet6.extend(addrs.v6.iter().map(|(a, n)| serde_json::json!([a.to_string(), n])));
    Some(serde_json::json!({
        "name": ifp.if_xname, "index": index, "mtu": ifp.if_mtu,
        "capabilities": ifp.if_capabilities, "capenable": ifp.if_capenable, "hwassist": ifp.if_hwassist,
        "nic_capenable": nic_capenable,
        "lladdr": ifp.if_lladdr.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"),
        "inet": addrs.v4.map(|(a, n)| vec![serde_json::json!([a.to_string(), n])]).unwrap_or_default(),
        "inet6": inet6,
    }))
}

/// The stack's, the NIC's and the control socket's counters; on a simulated NIC also the core
/// clock's cycle count (0 otherwise) and the wire's counters.
pub(super) fn status_json(stack: &Stack, ctx: &super::server::Ctx) -> serde_json::Value {
    let c = stack.counters();
    let ld = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let conns: Vec<serde_json::Value> = stack
        .connections()
        .into_iter()
        .map(|r| {
            serde_json::json!({"local": r.local.to_string(), "remote": r.remote.to_string(), "state": r.state,
                "recv_q": r.rcv_q, "send_q": r.snd_q,
                "mss": r.info.as_ref().map(|i| i.t_maxseg), "pmtu": r.info.as_ref().map(|i| i.pmtu)})
        })
        .collect();
    let st = stack.net_stats();
    let hw: serde_json::Map<String, serde_json::Value> = stack
        .interfaces()
        .first()
        .and_then(|(i, _)| stack.with_driver(*i, |d| d.hw_stats()).ok())
        .and_then(Result::ok)
        .unwrap_or_default()
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.into()))
        .collect();
    let wire: Option<serde_json::Map<String, serde_json::Value>> =
        ctx.wire.as_ref().map(|w| w().into_iter().map(|(k, v)| (k.to_string(), v.into())).collect());
    serde_json::json!({
        "nic": hw,
        "cycles": super::cycles(ctx.clock.as_ref()),
        "ctl": ctx.counters.to_json(),
        "wire": wire,
        "interfaces": stack.interfaces().iter().map(|(i, n)| serde_json::json!({"index": i, "name": n})).collect::<Vec<_>>(),
        "connections": conns,
        "tcp": {"rcvtotal": st.tcp.tcps_rcvtotal, "sndtotal": st.tcp.tcps_sndtotal, "rcvbadsum": st.tcp.tcps_rcvbadsum},
        "csum": {"l3_hw": st.csum.l3_hw, "l3_sw": st.csum.l3_sw, "l4_hw": st.csum.l4_hw, "l4_sw": st.csum.l4_sw,
                 "tx_hw": st.csum.tx_hw, "tx_sw": st.csum.tx_sw},
        "pmtu_msgs": ld(&c.pmtu_msgs), "pmtu_applied": ld(&c.pmtu_applied), "echo_replies": ld(&c.echo_replies),
        "rst_no_conn": ld(&c.rst_no_conn), "badsyn": ld(&c.badsyn), "txq_drops": ld(&c.txq_drops), "purged": ld(&c.purged),
        "resolve_failed": ld(&c.resolve_failed), "bad_control": ld(&c.bad_control), "driver_errors": ld(&c.driver_errors),
    })
}

