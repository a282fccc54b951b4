//! RSS at run time (`nicctl rss`): the driver's shadow of the key, hash types
//! and indirection table, changed under one lock and written to the NIC, with
//! a generation the stack watches to move connections between queues.


use nic_abi::rss::{KEY_SIZE, RETA_SIZE};

use nic_abi::regs::rss as reg;

use super::error::Error;
use super::if_ofld::Driver;
use super::rss::{type_names, write_key, write_reta, RssConfig};
use crate::dev::DevError;
use crate::sync::lock;

impl Driver {
    /// The RSS configuration in force (the driver's shadow of the RSS block).
    pub fn rss(&self) -> RssConfig {
        *self.rss.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The RX queue the NIC sends a frame with hash `hash` to: the indirection table's entry
    /// `hash & 127`, and queue 0 for an entry naming a queue not in use. Software uses it to
    /// put a flow's transmit on the queue pair its receive arrives on.
    pub fn rss_queue(&self, hash: u32) -> u16 {
        self.rss.read().unwrap_or_else(|e| e.into_inner()).queue_of(hash)
    }

    /// Reads the RSS block back from the NIC (what it really holds), in the shadow's shape.
    pub fn read_rss(&self) -> Result<RssConfig, Error> {
        let mut c = self.rss();
        if !c.present {
            return Ok(c);
        }
        c.hashtypes = self.dev.read32(reg::HASHTYPES)?;
        for i in 0..KEY_SIZE / 4 {
            let w = self.dev.read32(reg::KEY + 4 * i as u32)?.to_be_bytes();
            c.key[4 * i..4 * i + 4].copy_from_slice(&w);
        }
        for i in 0..RETA_SIZE / 4 {
            let w = self.dev.read32(reg::RETA + 4 * i as u32)?.to_le_bytes();
            c.reta[4 * i..4 * i + 4].copy_from_slice(&w);
        }
        Ok(c)
    }

    /// Applies `change` to a copy of the shadow, writes what differs to the NIC, then makes the
    /// copy the shadow (with the next generation). On a device error the shadow stays as it
    /// was and the error says the NIC may hold part of the change.
    fn change_rss(&self, change: impl FnOnce(&mut RssConfig) -> Result<(), Error>) -> Result<RssConfig, Error> {
        let _cfg = lock(&self.config);
        if self.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::Detached);
        }
        let old = self.rss();
        if !old.present {
            return Err(Error::Rss(format!(
                "{} has no RSS (its ID block's RSS_INFO is 0): every frame arrives on queue 0",
                self.info.describe
            )));
        }
        let mut new = old;
        change(&mut new)?;
        let r = (|| {
            if new.hashtypes != old.hashtypes {
                self.dev.write32(reg::HASHTYPES, new.hashtypes)?;
            }
            if new.key != old.key {
                write_key(&*self.dev, &new.key)?;
            }
            if new.reta != old.reta {
                write_reta(&*self.dev, &new.reta)?;
            }
            Ok::<(), DevError>(())
        })();
        if let Err(e) = r {
            return Err(Error::Rss(format!(
                "writing the RSS block failed ({e}); the NIC may hold part of the change: set it again"
            )));
        }
        new.generation = old.generation + 1;
        *self.rss.write().unwrap_or_else(|e| e.into_inner()) = new;
        Ok(new)
    }

    /// Sets the Toeplitz key (FreeBSD's `rss_setkey`). Returns the configuration in force.
    pub fn set_rss_key(&self, key: &[u8; KEY_SIZE]) -> Result<RssConfig, Error> {
        self.change_rss(|c| {
            c.key = *key;
            Ok(())
        })
    }

    /// Sets the enabled hash types (`RSS_HASHTYPE_*` bits); types the NIC does not compute are
    /// refused, naming the ones it does. A type switched off falls back to its family's
    /// 2-tuple type, or to no hash (queue 0).
    pub fn set_rss_hashtypes(&self, types: u32) -> Result<RssConfig, Error> {
        self.change_rss(|c| {
            let unsupported = types & !c.supported;
            if unsupported != 0 {
                return Err(Error::Rss(format!(
                    "hash types 0x{unsupported:x} are not computed by this NIC; it computes {}",
                    type_names(c.supported).join(",")
                )));
            }
            c.hashtypes = types;
            Ok(())
        })
    }

    /// Sets the indirection table from `entries` (RX queue numbers), repeated to fill its 128
    /// entries: `[0, 1]` alternates two queues. Refuses an empty list, more than 128 entries,
    /// and queues not in use (their frames would find no buffer).
    pub fn set_rss_reta(&self, entries: &[u8]) -> Result<RssConfig, Error> {
        self.change_rss(|c| {
            if entries.is_empty() || entries.len() > RETA_SIZE {
                return Err(Error::Rss(format!(
                    "the indirection table takes 1 to {RETA_SIZE} entries (repeated to fill it), got {}",
                    entries.len()
                )));
            }
            if let Some((i, q)) = entries.iter().enumerate().find(|(_, q)| **q as u16 >= c.num_queues) {
                return Err(Error::Rss(format!(
                    "entry {i} names queue {q}, but {} queue pair(s) are in use: name queues 0..={}",
                    c.num_queues,
                    c.num_queues - 1
                )));
            }
            for (i, e) in c.reta.iter_mut().enumerate() {
                *e = entries[i % entries.len()];
            }
            Ok(())
        })
    }

    /// Spreads the indirection table over the first `queues` queues (entry `i` = `i % queues`).
    pub fn set_rss_spread(&self, queues: u16) -> Result<RssConfig, Error> {
        let n = self.num_queues();
        if queues == 0 || queues > n {
            return Err(Error::Rss(format!("spread over 1 to {n} queues (the ones in use), not {queues}")));
        }
        let entries: Vec<u8> = (0..queues).map(|q| q as u8).collect();
        self.set_rss_reta(&entries)
    }
}
