//! Wires between MACs: where a frame goes when a NIC transmits it, or when
//! the caller injects one.
//!
//! A [`Wire`] connects the NICs of one simulation (and, for [`External`], the
//! caller) frame by frame. Wrappers stack on any wire without forking it:
//! [`crate::PcapTap`] records, [`crate::Faults`] damages. The order says what
//! is recorded: `PcapTap::create(p, Faults::new(cfg, Loopback))` captures the
//! frames as sent; `Faults::new(cfg, PcapTap::create(p, Loopback)?)` captures
//! them as damaged.

/// One end of a wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// The MAC of NIC `i` of the simulation.
    Nic(usize),
    /// The caller's side of NIC `i`'s wire (an [`External`] wire: tests, a TAP).
    Host(usize),
}

/// What crossed a wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireCounters {
    /// Frames delivered to an endpoint.
    pub frames: u64,
    /// Bytes delivered to an endpoint.
    pub bytes: u64,
    /// Frames a fault injector dropped.
    pub dropped: u64,
    /// Frames a fault injector corrupted (one byte flipped).
    pub corrupted: u64,
    /// Frames a fault injector truncated.
    pub truncated: u64,
    /// Frames a fault injector delivered twice.
    pub duplicated: u64,
    /// Frames a fault injector held back behind the next frame from the same sender.
    pub reordered: u64,
    /// Frames written to pcap files.
    pub pcap_frames: u64,
    /// pcap write errors (the capture is incomplete).
    pub pcap_errors: u64,
}

impl WireCounters {
    /// Every counter with its name, for reports that are not Rust (JSON).
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("frames", self.frames),
            ("bytes", self.bytes),
            ("dropped", self.dropped),
            ("duplicated", self.duplicated),
            ("reordered", self.reordered),
            ("corrupted", self.corrupted),
            ("truncated", self.truncated),
            ("pcap_frames", self.pcap_frames),
            ("pcap_errors", self.pcap_errors),
        ]
    }

    /// What the fault injector did, in one line for a person: "3 dropped, 1 duplicated, ...".
    pub fn faults_summary(&self) -> String {
        format!(
            "{} dropped, {} duplicated, {} reordered, {} corrupted, {} truncated",
            self.dropped, self.duplicated, self.reordered, self.corrupted, self.truncated
        )
    }
}

/// A medium between endpoints. Runs in the thread clocking the world.
pub trait Wire: Send {
    /// How many NICs this wire connects (the simulation builds that many).
    fn nics(&self) -> usize;
    /// The caller may inject frames and take transmitted ones.
    fn is_external(&self) -> bool {
        false
    }
    /// `frame` left `from`; hand it (or not, or something else) to endpoints via `deliver`.
    fn carry(
        &mut self,
        from: Endpoint,
        frame: crate::Frame,
        deliver: &mut dyn FnMut(Endpoint, crate::Frame),
    );
    /// Adds this wire's counters (and its inner wire's) into `c`.
    fn counters(&self, c: &mut WireCounters);
    /// Writes buffered output (pcap) to disk. Called when the world goes quiet (a free-running
    /// clock sleeps, a lockstep clock jumps) and when it stops.
    fn flush(&mut self) {}
    /// Hands on frames a wrapper holds back (a reordering fault) via `deliver`. Called when the
    /// world goes quiet, before it sleeps or jumps, so no frame waits for a next one that never
    /// comes.
    fn release(&mut self, _deliver: &mut dyn FnMut(Endpoint, crate::Frame)) {}
}

impl<W: Wire + ?Sized> Wire for Box<W> {
    fn nics(&self) -> usize {
        (**self).nics()
    }
    fn is_external(&self) -> bool {
        (**self).is_external()
    }
    fn carry(
        &mut self,
        from: Endpoint,
        frame: crate::Frame,
        deliver: &mut dyn FnMut(Endpoint, crate::Frame),
    ) {
        (**self).carry(from, frame, deliver)
    }
    fn counters(&self, c: &mut WireCounters) {
        (**self).counters(c)
    }
    fn flush(&mut self) {
        (**self).flush()
    }
    fn release(&mut self, deliver: &mut dyn FnMut(Endpoint, crate::Frame)) {
        (**self).release(deliver)
    }
}

#[derive(Default)]
struct Count {
    frames: u64,
    bytes: u64,
}

impl Count {
    fn add(&mut self, f: &crate::Frame) {
        self.frames += 1;
        self.bytes += f.data.len() as u64;
    }
    fn add_to(&self, c: &mut WireCounters) {
        c.frames += self.frames;
        c.bytes += self.bytes;
    }
}

/// Remembers every frame that crosses it, in order, by a 64-bit digest of its bytes: so a
/// frame received later (whatever queue RSS gave it) can be matched to its number on the wire,
/// the frame number a pcap recorded at the same place shows. A digest, not the bytes, so a long
/// run costs 8 bytes a frame.
pub struct WireLog<W> {
    inner: W,
    log: std::sync::Arc<std::sync::Mutex<Vec<u64>>>,
}

/// The digest [`WireLog`] records: 64-bit FNV-1a over the length and the bytes, the same in
/// every run and build (std's hashers promise neither). Not for adversaries: two frames of one
/// run collide with odds near n²/2⁶⁵.
pub fn frame_digest(data: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let len = (data.len() as u64).to_le_bytes();
    len.iter().chain(data).fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

impl<W: Wire> WireLog<W> {
    /// Logs what enters `inner`; the handle reads the digests, in wire order, while it runs.
    pub fn new(inner: W) -> (Self, std::sync::Arc<std::sync::Mutex<Vec<u64>>>) {
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        (Self { inner, log: log.clone() }, log)
    }
}

impl<W: Wire> Wire for WireLog<W> {
    fn nics(&self) -> usize {
        self.inner.nics()
    }
    fn is_external(&self) -> bool {
        self.inner.is_external()
    }
    fn carry(&mut self, from: Endpoint, frame: crate::Frame, deliver: &mut dyn FnMut(Endpoint, crate::Frame)) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).push(frame_digest(&frame.data));
        self.inner.carry(from, frame, deliver)
    }
    fn counters(&self, c: &mut WireCounters) {
        self.inner.counters(c)
    }
    fn flush(&mut self) {
        self.inner.flush()
    }
    fn release(&mut self, deliver: &mut dyn FnMut(Endpoint, crate::Frame)) {
        self.inner.release(deliver)
    }
}

/// NIC 0's TX into NIC 0's RX.
#[derive(Default)]
pub struct Loopback {
    count: Count,
}

impl Loopback {
    /// A loopback plug on one NIC.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Wire for Loopback {
    fn nics(&self) -> usize {
        1
    }
    fn carry(
        &mut self,
        from: Endpoint,
        frame: crate::Frame,
        deliver: &mut dyn FnMut(Endpoint, crate::Frame),
    ) {
        if let Endpoint::Nic(0) = from {
            self.count.add(&frame);
            deliver(Endpoint::Nic(0), frame);
        }
    }
    fn counters(&self, c: &mut WireCounters) {
        self.count.add_to(c)
    }
}

/// A cable between NIC 0 and NIC 1 (two model instances).
#[derive(Default)]
pub struct Cable {
    count: Count,
}

impl Cable {
    /// A cable between two NICs.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Wire for Cable {
    fn nics(&self) -> usize {
        2
    }
    fn carry(
        &mut self,
        from: Endpoint,
        frame: crate::Frame,
        deliver: &mut dyn FnMut(Endpoint, crate::Frame),
    ) {
        let to = match from {
            Endpoint::Nic(0) => Endpoint::Nic(1),
            Endpoint::Nic(1) => Endpoint::Nic(0),
            _ => return,
        };
        self.count.add(&frame);
        deliver(to, frame);
    }
    fn counters(&self, c: &mut WireCounters) {
        self.count.add_to(c)
    }
}

/// Each NIC's wire ends at the caller: transmitted frames are collected for
/// `SimNic::take_tx`, `SimNic::inject` sends frames into the NIC.
pub struct External {
    nics: usize,
    count: Count,
}

impl External {
    /// `nics` NICs, each wired to the caller.
    pub fn new(nics: usize) -> Self {
        Self {
            nics,
            count: Count::default(),
        }
    }
}

impl Wire for External {
    fn nics(&self) -> usize {
        self.nics
    }
    fn is_external(&self) -> bool {
        true
    }
    fn carry(
        &mut self,
        from: Endpoint,
        frame: crate::Frame,
        deliver: &mut dyn FnMut(Endpoint, crate::Frame),
    ) {
        let to = match from {
            Endpoint::Nic(i) => Endpoint::Host(i),
            Endpoint::Host(i) => Endpoint::Nic(i),
        };
        self.count.add(&frame);
        deliver(to, frame);
    }
    fn counters(&self, c: &mut WireCounters) {
        self.count.add_to(c)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Frame;

    pub(crate) fn carry_all(
        w: &mut dyn Wire,
        from: Endpoint,
        frames: Vec<Frame>,
    ) -> Vec<(Endpoint, Frame)> {
        let mut out = Vec::new();
        for f in frames {
            w.carry(from, f, &mut |to, f| out.push((to, f)));
        }
        out
    }

    fn f(n: u8) -> Frame {
        Frame {
            data: vec![n; 60],
            errored: false,
            cycle: n as u64,
        }
    }

    #[test]
    fn topologies_route_frames() {
        let out = carry_all(&mut Loopback::new(), Endpoint::Nic(0), vec![f(1)]);
        assert_eq!(out, vec![(Endpoint::Nic(0), f(1))]);
        let mut cable = Cable::new();
        assert_eq!(
            carry_all(&mut cable, Endpoint::Nic(0), vec![f(1)]),
            vec![(Endpoint::Nic(1), f(1))]
        );
        assert_eq!(
            carry_all(&mut cable, Endpoint::Nic(1), vec![f(2)]),
            vec![(Endpoint::Nic(0), f(2))]
        );
        let mut c = WireCounters::default();
        cable.counters(&mut c);
        assert_eq!((c.frames, c.bytes), (2, 120));
        let mut ext = External::new(3);
        assert!(ext.is_external() && !Cable::new().is_external());
        assert_eq!(
            carry_all(&mut ext, Endpoint::Nic(2), vec![f(3)]),
            vec![(Endpoint::Host(2), f(3))]
        );
        assert_eq!(
            carry_all(&mut ext, Endpoint::Host(1), vec![f(4)]),
            vec![(Endpoint::Nic(1), f(4))]
        );
        assert_eq!(
            (Loopback::new().nics(), Cable::new().nics(), ext.nics()),
            (1, 2, 3)
        );
    }
}
