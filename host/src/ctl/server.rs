//! The control socket's listener: bounded, so a flood of clients cannot take
//! the tools' way in with it.
//!
//! Each connection is served on a thread of its own (a `connect` or `listen`
//! session pumps data for as long as the TCP connection lives), but at most
//! [`CtlConfig::max_conns`] at once: a client beyond that is answered
//! `err busy …` at once and closed. A client has
//! [`CtlConfig::request_timeout`] to send each request line, so silent
//! clients give their place back. When `accept` fails (out of file
//! descriptors), the listener waits a moment instead of spinning. Every
//! refusal is counted ([`CtlCounters`], in `status`).

use std::io::{self, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Simulated cycles so far (the Verilator model's clock), when the device is simulated.
pub type CycleClock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The simulated wire's counters now (name, value: frames and bytes carried, what a fault
/// injector dropped, duplicated, reordered, corrupted, truncated), when the device is simulated.
pub type WireStats = Arc<dyn Fn() -> Vec<(&'static str, u64)> + Send + Sync>;

/// How the control server runs.
#[derive(Clone)]
pub struct CtlConfig {
    /// The simulator's cycle count, for simulated-time reports (`None` on a board).
    pub clock: Option<CycleClock>,
    /// What the simulated wire did (frames carried, faults applied), in `status` under
    /// `"wire"` (`None` on a board).
    pub wire: Option<WireStats>,
    /// Connections served at once; one more is answered `err busy` and closed.
    pub max_conns: u64,
    /// How long a client may take to send a request line before it is dropped.
    pub request_timeout: Duration,
}

impl Default for CtlConfig {
    fn default() -> Self {
        // 256 connections: far more than tools use (one each), few enough threads to be cheap.
        // 5 s: a tool sends its request as soon as it connects.
        CtlConfig { clock: None, wire: None, max_conns: 256, request_timeout: Duration::from_secs(5) }
    }
}

/// What the control server did with its clients, for `status` and for a person wondering why
/// a tool was turned away.
#[derive(Debug, Default)]
pub struct CtlCounters {
    /// Connections being served now.
    pub open: AtomicU64,
    /// Connections served (taken on).
    pub served: AtomicU64,
    /// Turned away because `max_conns` were open.
    pub busy: AtomicU64,
    /// Dropped for sending no request line in time.
    pub timeouts: AtomicU64,
    /// Request lines that were not UTF-8 or too long.
    pub bad_requests: AtomicU64,
    /// `accept` failures (out of file descriptors, …).
    pub accept_errors: AtomicU64,
}

impl CtlCounters {
    /// As one JSON object (in `status` under `"ctl"`).
    pub fn to_json(&self) -> serde_json::Value {
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({
            "open": ld(&self.open), "served": ld(&self.served), "busy": ld(&self.busy),
            "timeouts": ld(&self.timeouts), "bad_requests": ld(&self.bad_requests),
            "accept_errors": ld(&self.accept_errors),
        })
    }
}

/// What every connection's thread shares.
pub(super) struct Ctx {
    pub clock: Option<CycleClock>,
    pub wire: Option<WireStats>,
    pub request_timeout: Duration,
    pub shutdown: AtomicBool,
    pub counters: CtlCounters,
}

/// The running control server.
pub struct CtlServer {
    path: PathBuf,
    ctx: Arc<Ctx>,
}

impl Drop for CtlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Counts a connection open while its thread serves it.
struct Open(Arc<Ctx>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.counters.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl CtlServer {
    /// Listens at `path` (replacing a stale socket no one answers on) and hands each
    /// connection, within `cfg`'s limits, to `serve` on a thread of its own.
    pub(super) fn listen(
        path: &Path,
        cfg: CtlConfig,
        serve: impl Fn(UnixStream, &Ctx) + Send + Sync + 'static,
    ) -> io::Result<CtlServer> {
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("a stack already answers at {}; stop it or use --ctl", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let l = UnixListener::bind(path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {}: {e}", path.display())))?;
        let ctx = Arc::new(Ctx {
            clock: cfg.clock,
            wire: cfg.wire,
            request_timeout: cfg.request_timeout,
            shutdown: AtomicBool::new(false),
            counters: CtlCounters::default(),
        });
        let c = ctx.clone();
        let max = cfg.max_conns.max(1);
        let serve = Arc::new(serve);
        std::thread::Builder::new().name("ctl".into()).spawn(move || accept_loop(&l, &c, max, serve))?;
        Ok(CtlServer { path: path.to_path_buf(), ctx })
    }

    /// Whether a client asked the stack to stop (`shutdown`).
    pub fn shutdown_requested(&self) -> bool {
        self.ctx.shutdown.load(Ordering::SeqCst)
    }

    /// What the server did with its clients so far.
    pub fn counters(&self) -> &CtlCounters {
        &self.ctx.counters
    }
}

fn accept_loop(l: &UnixListener, ctx: &Arc<Ctx>, max: u64, serve: Arc<impl Fn(UnixStream, &Ctx) + Send + Sync + 'static>) {
    let n = &ctx.counters;
    for c in l.incoming() {
        let c = match c {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors: the same error again at once. Let the others close first.
                n.accept_errors.fetch_add(1, Ordering::Relaxed);
                log::warn!("control socket: accept: {e}");
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        if n.open.load(Ordering::SeqCst) >= max {
            n.busy.fetch_add(1, Ordering::Relaxed);
            refuse(&c, &format!("err busy: {max} control connections are open; try again shortly"));
            continue;
        }
        n.open.fetch_add(1, Ordering::SeqCst);
        let open = Open(ctx.clone());
        let serve = serve.clone();
        let spawned = std::thread::Builder::new().name("ctl-conn".into()).spawn(move || {
            let ctx = open.0.clone();
            ctx.counters.served.fetch_add(1, Ordering::Relaxed);
            serve(c, &ctx);
            drop(open);
        });
        if let Err(e) = spawned {
            // The closure (and the connection, and its count) went with the error.
            log::warn!("control socket: cannot start a thread: {e}");
        }
    }
}

/// Tells a client why it is turned away, without waiting on it.
fn refuse(c: &UnixStream, why: &str) {
    let _ = c.set_nonblocking(true);
    let _ = writeln!(&*c, "{why}");
}
