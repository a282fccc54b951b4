//! A pcap tap over any wire: every frame the wire carries is written to a
//! capture file (Ethernet link type, nanosecond timestamps from simulated
//! time: the cycle of the frame's last beat × 6.4 ns at 156.25 MHz).
//!
//! Frames injected by the caller on an [`crate::External`] wire are recorded
//! too, with the cycle at which they were handed to the wire.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, TsResolution};

use crate::wire::{Endpoint, Wire, WireCounters};
use crate::{time, Frame};

/// Records every frame `inner` carries, then passes it on unchanged.
pub struct PcapTap<W> {
    inner: W,
    out: PcapWriter<SharedFile>,
    file: SharedFile,
    frames: u64,
    errors: u64,
}

/// The capture file, shared between the `PcapWriter` (which has no flush of
/// its own) and the tap, which flushes it when the simulation sleeps.
#[derive(Clone)]
struct SharedFile(Arc<Mutex<BufWriter<File>>>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

impl<W: Wire> PcapTap<W> {
    /// Creates (truncates) the capture file at `path` and wraps `inner`.
    pub fn create(path: impl AsRef<Path>, inner: W) -> Result<Self, crate::SimError> {
        let io = |source| crate::SimError::Io {
            what: "pcap capture",
            source,
        };
        let file = SharedFile(Arc::new(Mutex::new(BufWriter::new(
            File::create(path.as_ref()).map_err(io)?,
        ))));
        let header = PcapHeader {
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::NanoSecond,
            snaplen: 65535,
            ..Default::default()
        };
        let out = PcapWriter::with_header(file.clone(), header).map_err(|e| match e {
            pcap_file::PcapError::IoError(e) => io(e),
            other => io(std::io::Error::other(other.to_string())),
        })?;
        Ok(Self {
            inner,
            out,
            file,
            frames: 0,
            errors: 0,
        })
    }
}

impl<W: Wire> Wire for PcapTap<W> {
    fn nics(&self) -> usize {
        self.inner.nics()
    }
    fn is_external(&self) -> bool {
        self.inner.is_external()
    }
    fn carry(&mut self, from: Endpoint, frame: Frame, deliver: &mut dyn FnMut(Endpoint, Frame)) {
        let pkt = PcapPacket::new(
            time::cycles_to_duration(frame.cycle),
            frame.data.len() as u32,
            &frame.data,
        );
        match self.out.write_packet(&pkt) {
            Ok(_) => self.frames += 1,
            Err(_) => self.errors += 1,
        }
        self.inner.carry(from, frame, deliver);
    }
    fn counters(&self, c: &mut WireCounters) {
        c.pcap_frames += self.frames;
        c.pcap_errors += self.errors;
        self.inner.counters(c);
    }
    fn flush(&mut self) {
        if self.file.flush().is_err() {
            self.errors += 1;
        }
        self.inner.flush();
    }
    fn release(&mut self, deliver: &mut dyn FnMut(Endpoint, Frame)) {
        self.inner.release(deliver);
    }
}

impl<W> Drop for PcapTap<W> {
    fn drop(&mut self) {
        let _ = self.file.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{tests::carry_all, Loopback};
    use pcap_file::pcap::PcapReader;

    #[test]
    fn capture_parses_back_with_sim_timestamps() {
        let dir = std::env::temp_dir().join(format!("nic-sim-pcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tap.pcap");
        let mut tap = PcapTap::create(&path, Loopback::new()).unwrap();
        let frames: Vec<Frame> = (0..5u64)
            .map(|i| Frame {
                data: vec![i as u8; 60 + i as usize],
                errored: false,
                cycle: 1000 * i + 5,
            })
            .collect();
        let out = carry_all(&mut tap, Endpoint::Nic(0), frames.clone());
        assert_eq!(out.len(), 5, "the tap passes every frame on");
        tap.flush();
        // Readable while the tap is still alive (flushed), and complete after drop.
        let mut r = PcapReader::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(r.header().datalink, DataLink::ETHERNET);
        assert_eq!(r.header().ts_resolution, TsResolution::NanoSecond);
        let mut n = 0;
        while let Some(p) = r.next_packet() {
            let p = p.unwrap();
            let f = &frames[n];
            assert_eq!(&p.data[..], &f.data[..]);
            assert_eq!(p.orig_len as usize, f.data.len());
            assert_eq!(
                p.timestamp.as_nanos(),
                (f.cycle * 32 / 5) as u128,
                "cycles x 6.4 ns"
            );
            n += 1;
        }
        assert_eq!(n, 5);
        let mut c = WireCounters::default();
        tap.counters(&mut c);
        assert_eq!((c.pcap_frames, c.pcap_errors, c.frames), (5, 0, 5));
        drop(tap);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unwritable_path_is_an_io_error() {
        let e = PcapTap::create("/nonexistent-dir/x.pcap", Loopback::new())
            .err()
            .unwrap();
        assert!(
            matches!(
                e,
                crate::SimError::Io {
                    what: "pcap capture",
                    ..
                }
            ),
            "{e}"
        );
    }
}
