//! `nicctl rss`: shows and changes receive-side scaling of a running stack's
//! interfaces (its key, enabled hash types and indirection table), through
//! the control socket's `rss` request (nic_host::ctl).
//!
//! ```text
//! nicctl rss [--ctl PATH] [IFNAME]          show
//! nicctl rss IFNAME key HEX80               set the Toeplitz key (40 bytes)
//! nicctl rss IFNAME types tcp4,udp4,...     set the enabled hash types (or `none`)
//! nicctl rss IFNAME reta 0,1,0,1...         set the indirection table (repeated to 128)
//! nicctl rss IFNAME reta spread N           spread it over the first N queues
//! ```

use std::path::PathBuf;

use nic_host::ctl::{self, CtlClient};

use crate::res::Res;

/// `nicctl rss`.
#[derive(clap::Args, Debug)]
pub struct RssArgs {
    /// Control socket of the running stack.
    #[arg(long, value_name = "PATH")]
    ctl: Option<PathBuf>,
    /// Interface (`nic0`); every interface when omitted.
    ifname: Option<String>,
    /// What to change: `key HEX80`, `types NAME,NAME,…`, `reta Q,Q,…` or `reta spread N`.
    setting: Vec<String>,
}

/// The request line for a setting: list values may also be given as separate words
/// (`reta 0 1 0 1`), which are joined with commas (a key's bytes without separator).
fn setting_line(name: &str, setting: &[String]) -> Result<String, String> {
    let usage = "settings: key HEX80 | types NAME,NAME,... | reta Q,Q,... | reta spread N";
    let (kind, rest) = setting.split_first().ok_or(usage)?;
    if rest.is_empty() {
        return Err(format!("{kind}: a value is missing; {usage}"));
    }
    let value = match (kind.as_str(), rest) {
        ("reta", [spread, n]) if spread == "spread" => return Ok(format!("rss {name} reta spread {n}")),
        ("key", _) => rest.concat(),
        ("types" | "reta", _) => rest.iter().map(|w| w.trim_matches(',')).collect::<Vec<_>>().join(","),
        _ => return Err(format!("unknown RSS setting {kind:?}; {usage}")),
    };
    Ok(format!("rss {name} {kind} {}", value.replace(char::is_whitespace, "")))
}

/// The indirection table, 16 entries per line.
fn reta_lines(reta: &[serde_json::Value]) -> Vec<String> {
    reta.chunks(16)
        .enumerate()
        .map(|(i, row)| {
            let cells: Vec<String> = row.iter().map(|e| format!("{:>2}", e.as_u64().unwrap_or(0))).collect();
            format!("reta[{:3}..{:3}] {}", i * 16, i * 16 + row.len() - 1, cells.join(" "))
        })
        .collect()
}

fn names(v: &serde_json::Value) -> String {
    let n: Vec<&str> = v.as_array().into_iter().flatten().filter_map(|x| x.as_str()).collect();
    if n.is_empty() {
        "none".into()
    } else {
        n.join(",")
    }
}

fn print_rss(i: &serde_json::Value) {
    let name = i["name"].as_str().unwrap_or("?");
    if i["present"] != true {
        println!("{name}: no RSS in this NIC build: every frame arrives on queue 0");
        return;
    }
    println!("{name}: {} queue pairs in use (the NIC has {}), RSS generation {}", i["queues"], i["nic_queues"], i["generation"]);
    println!("\tkey {}", i["key"].as_str().unwrap_or(""));
    println!("\ttypes {} (supported: {})", names(&i["types"]), names(&i["supported"]));
    for l in reta_lines(i["reta"].as_array().map(Vec::as_slice).unwrap_or(&[])) {
        println!("\t{l}");
    }
    if i["in_nic"] == false {
        println!("\tWARNING: the NIC's RSS registers do not hold this configuration; set it again");
    }
    for (q, s) in i["queue_stats"].as_array().into_iter().flatten().enumerate() {
        println!("\tqueue {q}: tx {} rx {} rx_drops {}", s["tx_packets"], s["rx_packets"], s["rx_drops"]);
    }
}

/// Shows RSS, or changes one setting and shows the result.
pub fn rss(a: RssArgs) -> Res {
    let mut c = CtlClient::connect(&a.ctl.clone().unwrap_or_else(ctl::default_path))?;
    let list = |r: String| -> Result<Vec<serde_json::Value>, Box<dyn std::error::Error>> {
        match serde_json::from_str::<serde_json::Value>(&r)? {
            serde_json::Value::Array(v) => Ok(v),
            o @ serde_json::Value::Object(_) => Ok(vec![o]),
            _ => Err("bad rss answer from the stack".into()),
        }
    };
    let answer = match (&a.ifname, a.setting.is_empty()) {
        (None, _) => c.request("rss")?,
        (Some(n), true) => c.request(&format!("rss {n}"))?,
        (Some(n), false) => {
            let line = setting_line(n, &a.setting)?;
            c.request(&line).map_err(|e| {
                let msg = e.to_string();
                let (errno, why) = msg.split_once(' ').unwrap_or(("", &msg));
                format!("{n}: rss {}: {errno}: {why}", a.setting.join(" "))
            })?
        }
    };
    for i in list(answer)? {
        print_rss(&i);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn settings_become_one_request_line() {
        assert_eq!(setting_line("nic0", &s(&["reta", "0,1,0,1"])), Ok("rss nic0 reta 0,1,0,1".into()));
        assert_eq!(setting_line("nic0", &s(&["reta", "0", "1", "0", "1"])), Ok("rss nic0 reta 0,1,0,1".into()));
        assert_eq!(setting_line("nic0", &s(&["reta", "spread", "2"])), Ok("rss nic0 reta spread 2".into()));
        assert_eq!(setting_line("nic0", &s(&["types", "tcp4,", "udp4"])), Ok("rss nic0 types tcp4,udp4".into()));
        assert_eq!(setting_line("nic0", &s(&["key", "6d5a", "56da"])), Ok("rss nic0 key 6d5a56da".into()));
        assert!(setting_line("nic0", &s(&["reta"])).unwrap_err().contains("missing"));
        assert!(setting_line("nic0", &s(&["hash", "x"])).unwrap_err().contains("unknown RSS setting"));
    }

    #[test]
    fn the_table_prints_sixteen_entries_a_line() {
        let reta: Vec<serde_json::Value> = (0..128).map(|i| (i % 4).into()).collect();
        let l = reta_lines(&reta);
        assert_eq!(l.len(), 8);
        assert_eq!(l[0], "reta[  0.. 15]  0  1  2  3  0  1  2  3  0  1  2  3  0  1  2  3");
        assert!(l[7].starts_with("reta[112..127]"));
    }
}
