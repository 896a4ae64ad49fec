//! The master's side of a replica link: PSYNC answered with `+CONTINUE`
//! and the backlog from the replica's offset, or with a full sync from the
//! forkless snapshot engine, then the replication stream from the backlog.
//!
//! ```text
//!   shard: PSYNC -> client.handoff; replies drained; receive cancelled;
//!          the socket (not closed) goes to serve()
//!   sender thread: +CONTINUE <replid>        (Redis's rules, Replication::psync)
//!              or  +FULLRESYNC <replid> <offset> at the cut, then the payload:
//!                  diskless ($EOF:<mark>, straight to the socket) when
//!                  repl-diskless-sync and the replica has capa eof, else
//!                  disk-backed (a temp file in `dir`, sent as $<size>)
//!          then the backlog from <offset> (after the first ACK for $EOF:)
//!   shards: once streaming, each event-loop round that wrote sends the new
//!          bytes itself (Replicas::push_all: try-lock, MSG_DONTWAIT); the
//!          sender thread is woken only for what they could not send
//!   watcher thread: ACKs (offsets, lag samples, WAIT), output-buffer
//!          limits, the replication ID changing (promotion): closes the link
//! ```
//!
//! From a full sync's start until the replica has loaded and caught up,
//! the stream it has not been sent is kept for it however long it loads:
//! in the ring, then (past half the ring) in a spill file in `dir`
//! (`Replica::keep`); the output-buffer limit applies only once it caught
//! up, so a slow load never turns into a loop of full syncs.
//!
//! Replicas that need a full sync at about the same time share one
//! snapshot (`repl::fullsync`: repl-diskless-sync-delay and -max-replicas
//! for diskless, attaching to a running image for disk-backed).

use crate::server::Server;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a replica announced with REPLCONF.
#[derive(Clone, Debug, Default)]
pub struct ReplConf {
    pub listening_port: u16,
    pub ip_address: Option<String>,
    /// `capa eof`: it can read a diskless (`$EOF:`) payload.
    pub capa_eof: bool,
    /// `capa psync2`: `+CONTINUE` carries the master's replication ID.
    pub capa_psync2: bool,
}

/// A replica's state, as INFO names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ReplicaState {
    WaitBgsave = 0,
    SendBulk = 1,
    Online = 2,
}

impl ReplicaState {
    pub fn name(self) -> &'static str {
        match self {
            ReplicaState::WaitBgsave => "wait_bgsave",
            ReplicaState::SendBulk => "send_bulk",
            ReplicaState::Online => "online",
        }
    }
}

/// Microseconds from the sender reading bytes off the ring (right after
/// their append) to the replica acknowledging them.
pub struct Lag {
    pub hist: hdrhistogram::Histogram<u64>,
    /// (offset after a sent chunk, when it was read), oldest first.
    pending: VecDeque<(u64, Instant)>,
}

/// Most unacknowledged chunks remembered for lag samples.
const LAG_PENDING_MAX: usize = 4096;

impl Lag {
    fn new() -> Lag {
        Lag {
            hist: hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("static histogram bounds"),
            pending: VecDeque::new(),
        }
    }
}

/// One attached replica.
pub struct Replica {
    pub ip: String,
    pub port: u16,
    state: AtomicU8,
    /// The last offset it acknowledged.
    pub ack_offset: AtomicU64,
    /// Unix ms of its last ACK (INFO's lag).
    pub ack_ms: AtomicU64,
    pub lag: Mutex<Lag>,
    /// Stream offset sent so far (u64::MAX before the cut is known): the
    /// output buffer is the stream from here to the ring's end. Changed
    /// only by the holder of `stream_sock`.
    pub sent: AtomicU64,
    /// While streaming, the socket: the sender thread and the shards'
    /// direct sends ([`Replicas::push_all`]) take turns through the lock.
    stream_sock: Mutex<Option<TcpStream>>,
    /// From a full sync's start until the replica has acknowledged and
    /// been sent everything spilled for it: the stream it has not been
    /// sent is kept (ring, then spill file) instead of counted against
    /// the output-buffer limit.
    syncing: AtomicBool,
    /// The stream kept for a loading replica beyond the ring.
    spill: Mutex<Option<Spill>>,
    /// `spill`'s end offset (0: nothing spilled), read without the lock.
    spill_end: AtomicU64,
    /// While a disk-backed sync writes its file (after `+FULLRESYNC`,
    /// before `$<size>`): the watcher sends a "\n" keepalive every second,
    /// as Redis does, so the replica's repl-timeout does not fire. The
    /// sender clears it under the lock before it writes `$<size>`.
    pub(crate) keepalive: Mutex<bool>,
    /// Payload bytes of its last full sync written so far, and when that
    /// sync started (INFO `sluice_slaveN_sync`, progress logs).
    pub(crate) payload: AtomicU64,
    sync_started: Mutex<Option<(Instant, Option<Instant>)>>,
}

impl Replica {
    pub fn state(&self) -> ReplicaState {
        match self.state.load(Ordering::Acquire) {
            0 => ReplicaState::WaitBgsave,
            1 => ReplicaState::SendBulk,
            _ => ReplicaState::Online,
        }
    }

    pub fn is_online(&self) -> bool {
        self.state() == ReplicaState::Online
    }

    /// Its last full sync's payload bytes and seconds so far (until the
    /// payload ended).
    pub fn sync_progress(&self) -> (u64, f64) {
        let secs = match *self.sync_started.lock() {
            Some((start, Some(end))) => (end - start).as_secs_f64(),
            Some((start, None)) => start.elapsed().as_secs_f64(),
            None => 0.0,
        };
        (self.payload.load(Ordering::Relaxed), secs)
    }

    /// Bytes of the stream kept in its spill file now.
    pub fn spilled_bytes(&self) -> u64 {
        self.spill.lock().as_ref().map_or(0, |s| s.bytes.len())
    }

    pub(crate) fn set_state(&self, state: ReplicaState) {
        self.state.store(state as u8, Ordering::Release);
    }

    pub fn name(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// Remembers that the bytes up to `end`, read off the ring at `at`,
    /// went out (lag samples).
    fn sent_to(&self, end: u64, at: Instant) {
        self.sent.store(end, Ordering::Release);
        let mut lag = self.lag.lock();
        if lag.pending.len() < LAG_PENDING_MAX {
            lag.pending.push_back((end, at));
        }
    }

    /// Copies the stream this syncing replica has not been sent off the
    /// ring into its spill file once `quarters`/4 of the ring are unsent
    /// and unspilled. The watcher does it at a half; a shard whose writes
    /// outran the watcher (a starved thread) does it at 3/4 before its
    /// next rounds can overwrite what the replica needs.
    fn keep(
        &self,
        backlog: &crate::repl::backlog::Backlog,
        quarters: u64,
        stats: &crate::repl::SyncStats,
    ) -> Result<(), String> {
        let sent = self.sent.load(Ordering::Acquire);
        if sent == u64::MAX {
            return Ok(());
        }
        let end = backlog.offset();
        let kept = sent.max(self.spill_end.load(Ordering::Acquire));
        if end.saturating_sub(kept) < backlog.capacity() / 4 * quarters {
            return Ok(());
        }
        let mut guard = self.spill.lock();
        if guard.is_none() {
            let bytes = crate::io::sys::Scratch::new()
                .map_err(|e| format!("can't create a spill file in the working directory: {e}"))?;
            let spill = Spill { bytes, start: sent };
            crate::notice!(
                "Replica {}: the stream written during its sync outgrew half the backlog; keeping it in a spill file",
                self.name()
            );
            *guard = Some(spill);
        }
        let Some(spill) = guard.as_mut() else {
            return Ok(());
        };
        let io = |e: std::io::Error| format!("spill file write failed: {e}");
        if sent >= spill.end() {
            // Everything spilled went out: start over at the unsent part.
            spill.bytes.clear().map_err(io)?;
            spill.start = sent;
        }
        let mut buf = Vec::new();
        while spill.end() < end {
            buf.clear();
            match backlog.read(spill.end(), 4 << 20, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    spill.bytes.append(&buf).map_err(io)?;
                    stats.spilled_bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(_) => {
                    return Err(format!(
                        "the replica fell behind the backlog ({} bytes) at offset {} before it could be spilled",
                        backlog.capacity(),
                        spill.end()
                    ))
                }
            }
        }
        self.spill_end.store(spill.end(), Ordering::Release);
        Ok(())
    }

    /// Reads up to `max` bytes of the stream at `from` into `out`: from
    /// the spill file while `from` is in it, else from the ring.
    fn read_stream(
        &self,
        backlog: &crate::repl::backlog::Backlog,
        from: u64,
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, ()> {
        if from < self.spill_end.load(Ordering::Acquire) {
            let guard = self.spill.lock();
            if let Some(spill) = guard
                .as_ref()
                .filter(|s| (s.start..s.end()).contains(&from))
            {
                let n = usize::try_from(spill.end() - from).map_or(max, |n| n.min(max));
                let at = out.len();
                out.resize(at + n, 0);
                return match spill.bytes.read_at(&mut out[at..], from - spill.start) {
                    Ok(()) => Ok(n),
                    Err(_) => {
                        out.truncate(at);
                        Err(())
                    }
                };
            }
        }
        backlog.read(from, max, out).map_err(|_| ())
    }

    /// A shard's direct send of the stream's new bytes (no thread to wake:
    /// on this 2-core host a parked thread costs tens of microseconds to
    /// wake). False when the sender thread must finish: it holds the
    /// socket, the socket is full, or the replica fell behind.
    fn push(
        &self,
        backlog: &crate::repl::backlog::Backlog,
        buf: &mut Vec<u8>,
        stats: &crate::repl::SyncStats,
    ) -> bool {
        if self.syncing.load(Ordering::Acquire) && self.keep(backlog, 3, stats).is_err() {
            // The watcher sees the same and closes the link.
            return false;
        }
        let Some(guard) = self.stream_sock.try_lock() else {
            return false;
        };
        // Not streaming yet (a sync, or waiting for the first ACK): the
        // sender thread starts the stream itself.
        let Some(sock) = guard.as_ref() else {
            return true;
        };
        let from = self.sent.load(Ordering::Acquire);
        buf.clear();
        match backlog.read(from, DIRECT_SEND_MAX, buf) {
            Ok(0) => true,
            Ok(n) => {
                let at = Instant::now();
                let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
                match socket2::SockRef::from(sock).send_with_flags(buf, flags) {
                    Ok(sent) => {
                        self.sent_to(from + sent as u64, at);
                        sent == n && n < DIRECT_SEND_MAX
                    }
                    Err(_) => false,
                }
            }
            Err(_) => false,
        }
    }
}

/// Most bytes a shard sends to one replica per round; more is left to
/// the sender thread.
const DIRECT_SEND_MAX: usize = 256 << 10;

/// The attached replicas.
#[derive(Default)]
pub struct Replicas {
    list: Mutex<Vec<Arc<Replica>>>,
}

impl Replicas {
    pub fn snapshot(&self) -> Vec<Arc<Replica>> {
        self.list.lock().clone()
    }

    /// The sockets of the replicas being streamed to (a shard with a
    /// client in WAIT polls them, to wake with the watcher that reads the
    /// ACK rather than after it). A socket whose lock is held (a sender
    /// thread may hold it through a blocking write) is left out: a shard
    /// never waits for it.
    pub fn stream_fds(&self) -> Vec<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.list
            .lock()
            .iter()
            .filter_map(|r| r.stream_sock.try_lock()?.as_ref().map(|s| s.as_raw_fd()))
            .collect()
    }

    /// How many attached replicas satisfy `f` (under the lock, no copy:
    /// WAIT and min-replicas ask on every ACK and write).
    pub fn count(&self, f: impl Fn(&Replica) -> bool) -> usize {
        self.list.lock().iter().filter(|r| f(r)).count()
    }

    /// Sends the stream's new bytes to every streaming replica from the
    /// calling shard; false if a sender thread must finish the job.
    pub fn push_all(
        &self,
        backlog: &crate::repl::backlog::Backlog,
        stats: &crate::repl::SyncStats,
    ) -> bool {
        thread_local! {
            static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            let mut done = true;
            for r in self.list.lock().iter() {
                done &= r.push(backlog, &mut buf, stats);
            }
            done
        })
    }
}

/// A PSYNC or SYNC to serve.
pub struct Request {
    pub conf: ReplConf,
    /// Legacy SYNC: no `+FULLRESYNC` line.
    pub legacy: bool,
    /// The peer's address (`ip:port` of the connection).
    pub peer: String,
    /// PSYNC's arguments (`?`, `-1` for SYNC).
    pub replid: String,
    pub offset: String,
}

/// Serves `request` on `fd` from a thread of its own.
pub fn serve(srv: Arc<Server>, fd: OwnedFd, request: Request) {
    let spawned = std::thread::Builder::new()
        .name("repl-sender".into())
        .spawn(move || {
            crate::io::sys::unpin_current_thread();
            let ip = request
                .conf
                .ip_address
                .clone()
                .unwrap_or_else(|| host_of(&request.peer));
            let replica = Arc::new(Replica {
                ip,
                port: request.conf.listening_port,
                state: AtomicU8::new(ReplicaState::WaitBgsave as u8),
                ack_offset: AtomicU64::new(0),
                ack_ms: AtomicU64::new(crate::server::unix_ms()),
                lag: Mutex::new(Lag::new()),
                sent: AtomicU64::new(u64::MAX),
                stream_sock: Mutex::new(None),
                syncing: AtomicBool::new(false),
                spill: Mutex::new(None),
                spill_end: AtomicU64::new(0),
                keepalive: Mutex::new(false),
                payload: AtomicU64::new(0),
                sync_started: Mutex::new(None),
            });
            {
                let mut list = srv.repl.replicas.list.lock();
                list.push(Arc::clone(&replica));
                srv.repl.no_replicas_since_ms.store(0, Ordering::Release);
            }
            let name = replica.name();
            crate::notice!("Replica {name} asks for synchronization");
            if let Err(e) = run(&srv, TcpStream::from(fd), &request, &replica) {
                crate::warning!("Connection with replica {name} lost: {e}");
            }
            {
                let mut list = srv.repl.replicas.list.lock();
                list.retain(|r| !Arc::ptr_eq(r, &replica));
                if list.is_empty() {
                    srv.repl
                        .no_replicas_since_ms
                        .store(crate::server::unix_ms(), Ordering::Release);
                }
            }
            // WAIT counts only attached replicas.
            srv.repl.check_waits(&srv);
        });
    if let Err(e) = spawned {
        crate::warning!("Can't start a replica sender thread: {e}");
    }
}

fn host_of(peer: &str) -> String {
    peer.rsplit_once(':')
        .map_or(peer, |(host, _)| host)
        .to_string()
}

/// What the sender and the watcher share.
struct Shared {
    /// Either side saw the link end.
    closed: AtomicBool,
    /// The replica sent an ACK (a diskless replica's "loaded").
    acked: AtomicBool,
    /// Why the watcher closed the link.
    why: Mutex<Option<String>>,
}

/// How often the watcher looks at a replica (ACKs, output-buffer limits,
/// keepalives, spilling).
pub const WATCH_TICK: Duration = Duration::from_millis(10);

/// Stream bytes from `start` a loading replica has not been sent,
/// copied off the ring into a scratch file in `dir` once half the ring is
/// unsent: a replica that loads for minutes under heavy writes still
/// continues from its cut instead of falling out of the ring into another
/// full sync (the loop Redis users hit).
struct Spill {
    bytes: crate::io::sys::Scratch,
    start: u64,
}

impl Spill {
    /// The stream offset after its last byte.
    fn end(&self) -> u64 {
        self.start + self.bytes.len()
    }
}

/// The settings a sender reads once.
struct Settings {
    backlog_bytes: u64,
    diskless: bool,
    nodelay: bool,
    ping_ms: u64,
    limit: crate::config::OutputBufferLimit,
}

impl Settings {
    fn read(srv: &Server) -> Settings {
        let c = srv.config.read();
        Settings {
            backlog_bytes: c.repl_backlog_size,
            diskless: c.repl_diskless_sync,
            nodelay: !c.repl_disable_tcp_nodelay,
            ping_ms: u64::try_from(c.repl_ping_replica_period)
                .unwrap_or(10)
                .saturating_mul(1000),
            limit: c.client_output_buffer_limit[crate::config::OBUF_REPLICA],
        }
    }
}

fn run(
    srv: &Server,
    sock: TcpStream,
    request: &Request,
    replica: &Arc<Replica>,
) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    sock.set_nonblocking(false).map_err(io)?;
    let settings = Settings::read(srv);
    let _ = sock.set_nodelay(settings.nodelay);
    let generation = srv.repl.generation();
    let decision = if request.legacy {
        crate::repl::Psync::Full(None)
    } else {
        srv.repl.psync(&request.replid, &request.offset)
    };
    let backlog = srv.repl.ensure_backlog(settings.backlog_bytes);
    let shared = Shared {
        closed: AtomicBool::new(false),
        acked: AtomicBool::new(false),
        why: Mutex::new(None),
    };
    let reader = sock.try_clone().map_err(io)?;
    let mut sock = sock;
    std::thread::scope(|scope| {
        scope.spawn(|| watch(srv, reader, replica, &shared, &settings, generation));
        let result = (|| {
            // Each path sets `replica.sent`, where the stream starts.
            let eof = match decision {
                crate::repl::Psync::Continue(from) => {
                    let replid = srv.repl.ids().replid;
                    let line = if request.conf.capa_psync2 {
                        format!("+CONTINUE {replid}\r\n")
                    } else {
                        "+CONTINUE\r\n".to_string()
                    };
                    replica.sent.store(from, Ordering::Release);
                    sock.write_all(line.as_bytes()).map_err(io)?;
                    srv.repl.stats.partial_ok.fetch_add(1, Ordering::Relaxed);
                    crate::notice!(
                        "Partial resynchronization request from {} accepted. Sending {} bytes of backlog starting from offset {}.",
                        replica.name(),
                        backlog.offset().saturating_sub(from),
                        from + 1
                    );
                    replica.set_state(ReplicaState::Online);
                    replica.ack_offset.store(from, Ordering::Release);
                    false
                }
                crate::repl::Psync::Full(reason) => {
                    match reason {
                        Some(why) => {
                            srv.repl.stats.partial_err.fetch_add(1, Ordering::Relaxed);
                            crate::notice!("Partial resynchronization not accepted: {why}");
                        }
                        None => {
                            crate::notice!("Full resync requested by replica {}", replica.name())
                        }
                    }
                    srv.repl.stats.full.fetch_add(1, Ordering::Relaxed);
                    full_sync(srv, &mut sock, request, replica, &settings)?
                }
            };
            stream(
                srv, &mut sock, &backlog, eof, &shared, replica, generation, &settings,
            )
        })();
        shared.closed.store(true, Ordering::Release);
        let _ = sock.shutdown(std::net::Shutdown::Both);
        let result = match shared.why.lock().take() {
            Some(why) => Err(why),
            None => result,
        };
        if let Err(why) = &result {
            if replica.syncing.load(Ordering::Acquire) {
                srv.repl.stats.full_aborted.fetch_add(1, Ordering::Relaxed);
                crate::warning!("Full sync to replica {} aborted: {why}", replica.name());
            }
        }
        result
    })
}

/// Sends the dataset at a cut (its offset becomes `replica.sent`),
/// sharing the snapshot with other replicas that sync at the same time
/// (`fullsync`); returns whether the stream must wait for the replica's
/// first ACK (diskless).
fn full_sync(
    srv: &Server,
    sock: &mut TcpStream,
    request: &Request,
    replica: &Arc<Replica>,
    settings: &Settings,
) -> Result<bool, String> {
    let io = |e: std::io::Error| e.to_string();
    let diskless = settings.diskless && request.conf.capa_eof;
    let started = Instant::now();
    replica.syncing.store(true, Ordering::Release);
    replica.set_state(ReplicaState::WaitBgsave);
    replica.payload.store(0, Ordering::Relaxed);
    *replica.sync_started.lock() = Some((started, None));
    let me = Arc::new(crate::repl::fullsync::Joiner::new(
        Arc::clone(replica),
        sock.try_clone().map_err(io)?,
        request.legacy,
    ));
    let offset = if diskless {
        crate::repl::fullsync::diskless(srv, &me)?
    } else {
        let outcome = crate::repl::fullsync::disk(srv, &me)?;
        let Some(image) = outcome.file else {
            return Err("the disk-backed sync produced no file".into());
        };
        let size = image.size;
        crate::notice!(
            "Background RDB transfer started: {size} bytes to replica {}",
            replica.name()
        );
        replica.set_state(ReplicaState::SendBulk);
        *replica.keepalive.lock() = false;
        sock.write_all(format!("${size}\r\n").as_bytes())
            .map_err(io)?;
        let mut pacer = crate::repl::fullsync::Pacer::new(srv);
        let chunk = pacer.chunk();
        let mut on_sent = |n: u64| {
            replica.payload.fetch_add(n, Ordering::Relaxed);
            pacer.pace(n);
        };
        let copied =
            crate::io::sys::send_file(sock, &image.file, size, chunk, &mut on_sent).map_err(io)?;
        if copied != size {
            return Err(format!("sent {copied} of {size} bytes of the RDB"));
        }
        outcome.offset
    };
    if let Some((_, end)) = replica.sync_started.lock().as_mut() {
        *end = Some(Instant::now());
    }
    let bytes = replica.payload.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    crate::notice!(
        "Synchronization with replica {} succeeded ({bytes} bytes in {secs:.3} s, {:.1} MB/s, offset {offset})",
        replica.name(),
        bytes as f64 / secs.max(1e-9) / 1e6
    );
    replica.set_state(ReplicaState::Online);
    replica.ack_offset.store(offset, Ordering::Release);
    Ok(diskless)
}

/// Streams the backlog from `replica.sent` until the replica goes away, falls out
/// of the ring, or must reconnect. A diskless (`$EOF:`) replica gets
/// nothing until its first ACK: bytes after the mark would hide the mark
/// from it.
#[allow(clippy::too_many_arguments)]
fn stream(
    srv: &Server,
    sock: &mut TcpStream,
    backlog: &crate::repl::backlog::Backlog,
    wait_ack: bool,
    shared: &Shared,
    replica: &Replica,
    generation: u64,
    settings: &Settings,
) -> Result<(), String> {
    let mut out = Vec::new();
    let wakeup = &srv.repl.wakeup;
    let result = (|| loop {
        if shared.closed.load(Ordering::Acquire) {
            return Err("the replica closed the connection".to_string());
        }
        if srv.repl.generation() != generation {
            return Err("the replication history changed: the replica must reconnect".into());
        }
        srv.repl
            .ping_if_due(crate::server::unix_ms(), settings.ping_ms);
        if wait_ack && !shared.acked.load(Ordering::Acquire) {
            wakeup.wait(Duration::from_millis(10), || {
                shared.acked.load(Ordering::Acquire)
            });
            continue;
        }
        let mut guard = replica.stream_sock.lock();
        if guard.is_none() {
            // From now on the shards may send new bytes themselves.
            *guard = Some(sock.try_clone().map_err(|e| e.to_string())?);
        }
        let from = replica.sent.load(Ordering::Acquire);
        out.clear();
        match replica.read_stream(backlog, from, 1 << 20, &mut out) {
            Ok(0) => {
                drop(guard);
                wakeup.wait(Duration::from_millis(100), || {
                    backlog.offset() != replica.sent.load(Ordering::Acquire)
                        || shared.closed.load(Ordering::Acquire)
                        || srv.repl.generation() != generation
                });
            }
            Ok(n) => {
                let read_at = Instant::now();
                sock.write_all(&out).map_err(|e| e.to_string())?;
                replica.sent_to(from + n as u64, read_at);
            }
            Err(_) => {
                return Err(format!(
                    "the replica fell behind the backlog ({} bytes) at offset {from}",
                    backlog.capacity()
                ))
            }
        }
    })();
    *replica.stream_sock.lock() = None;
    result
}

/// Reads ACKs and enforces the replica output-buffer limit (the stream
/// not yet sent: from `Replica::sent` to the ring's end) and the history
/// (a promotion makes replicas reconnect); closes the socket to stop the
/// sender when one is broken.
fn watch(
    srv: &Server,
    mut sock: TcpStream,
    replica: &Replica,
    shared: &Shared,
    settings: &Settings,
    generation: u64,
) {
    let _ = sock.set_read_timeout(Some(WATCH_TICK));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut soft_since: Option<Instant> = None;
    let mut last_keepalive = Instant::now();
    let mut progress = crate::repl::Progress::new();
    let what = format!("Full sync to replica {}:", replica.name());
    let limit = settings.limit;
    let close = |sock: &TcpStream, why: String| {
        *shared.why.lock() = Some(why);
        shared.closed.store(true, Ordering::Release);
        let _ = sock.shutdown(std::net::Shutdown::Both);
        srv.repl.wakeup.notify();
    };
    while !shared.closed.load(Ordering::Acquire) {
        match sock.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if record_acks(&mut buf, replica) {
                    shared.acked.store(true, Ordering::Release);
                    srv.repl.wakeup.notify();
                    srv.repl.check_waits(srv);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
        if replica.state() == ReplicaState::SendBulk {
            progress.tick(&what, replica.payload.load(Ordering::Relaxed), None);
        }
        if last_keepalive.elapsed() >= Duration::from_secs(1) {
            last_keepalive = Instant::now();
            let keepalive = replica.keepalive.lock();
            if *keepalive {
                let _ = (&sock).write_all(b"\n");
            }
        }
        if srv.repl.generation() != generation {
            close(
                &sock,
                "the replication history changed: the replica must reconnect".into(),
            );
            return;
        }
        let sent = replica.sent.load(Ordering::Acquire);
        let backlog = srv.repl.backlog();
        let pending = match (sent, &backlog) {
            (u64::MAX, _) | (_, None) => 0,
            (sent, Some(b)) => b.offset().saturating_sub(sent),
        };
        let over_hard = limit.hard > 0 && pending >= limit.hard;
        let over_soft = limit.soft > 0 && pending >= limit.soft;
        if replica.syncing.load(Ordering::Acquire) {
            // The stream a loading replica needs is kept (ring, spill
            // file), never a reason to drop it.
            if let Some(backlog) = &backlog {
                if let Err(why) = replica.keep(backlog, 2, &srv.repl.stats) {
                    close(&sock, why);
                    return;
                }
            }
            // Synced once it loaded, was sent the spill and is within
            // its output-buffer limits again.
            let drained = sent != u64::MAX
                && sent >= replica.spill_end.load(Ordering::Acquire)
                && !over_hard
                && !over_soft;
            if shared.acked.load(Ordering::Acquire) && drained {
                replica.syncing.store(false, Ordering::Release);
                if replica.spill.lock().take().is_some() {
                    crate::notice!(
                        "Replica {}: caught up with the stream kept during its sync",
                        replica.name()
                    );
                }
            }
            continue;
        }
        soft_since = if over_soft {
            soft_since.or(Some(Instant::now()))
        } else {
            None
        };
        let soft_expired =
            soft_since.is_some_and(|t| t.elapsed() >= Duration::from_secs(limit.soft_seconds));
        if over_hard || soft_expired {
            let why = format!(
                "Client addr={} (replica) scheduled to be closed ASAP for overcoming of output buffer limits ({pending} bytes pending).",
                replica.name()
            );
            crate::warning!("{why}");
            close(&sock, why);
            return;
        }
    }
    shared.closed.store(true, Ordering::Release);
    srv.repl.wakeup.notify();
}

/// Takes `REPLCONF ACK <offset>` commands (and keepalive newlines) off
/// `buf`, recording the highest offset and the lag of what it covers;
/// true if there was an ACK.
fn record_acks(buf: &mut Vec<u8>, replica: &Replica) -> bool {
    let mut seen = false;
    let mut parser = crate::protocol::RequestParser::new();
    let limits = crate::protocol::Limits::default();
    let mut used = 0;
    loop {
        let mut argv = crate::protocol::Argv::new();
        match parser.parse(&buf[used..], &limits, &mut argv) {
            Ok(crate::protocol::Parsed::Complete { consumed }) => {
                used += consumed;
                if argv.len() >= 3
                    && argv.get(0).eq_ignore_ascii_case(b"REPLCONF")
                    && argv.get(1).eq_ignore_ascii_case(b"ACK")
                {
                    seen = true;
                    if let Some(n) = crate::num::parse_i64(argv.get(2)) {
                        let acked = u64::try_from(n).unwrap_or(0);
                        replica.ack_offset.fetch_max(acked, Ordering::AcqRel);
                        replica
                            .ack_ms
                            .store(crate::server::unix_ms(), Ordering::Relaxed);
                        let mut lag = replica.lag.lock();
                        while lag.pending.front().is_some_and(|(end, _)| *end <= acked) {
                            if let Some((_, at)) = lag.pending.pop_front() {
                                let us = at.elapsed().as_micros().max(1) as u64;
                                lag.hist.saturating_record(us);
                            }
                        }
                    }
                }
            }
            Ok(crate::protocol::Parsed::Incomplete { .. }) => break,
            Err(_) => {
                used = buf.len();
                break;
            }
        }
        if used >= buf.len() {
            break;
        }
    }
    buf.drain(..used.min(buf.len()));
    seen
}
