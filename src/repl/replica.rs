//! The replica's link to its master (REPLICAOF host port): one thread per
//! link with blocking socket IO, driving the sans-IO [`handshake`].
//!
//! ```text
//!   connect --> handshake --> +FULLRESYNC: flush, load the RDB as it
//!      ^                      streams in (diskless load), ACK if $EOF
//!      |                  --> +CONTINUE: keep the dataset
//!      |                          |
//!      |                          v
//!      +---- link lost ---- command stream: each command applied through
//!            (retry in 1 s,       the normal dispatch as the master
//!             PSYNC from the      client (exempt from READONLY and OOM);
//!             cached master)      REPLCONF GETACK answered; ACK every second
//! ```
//!
//! Offsets follow Redis: the replica's offset is the FULLRESYNC offset plus
//! every stream byte of a fully applied command, and an ACK for GETACK
//! reports the offset before the GETACK itself.
//!
//! The full sync loads per `repl-diskless-load`: `disabled` receives the
//! RDB into a temp file, renames it to `dbfilename` and loads it (the old
//! dataset is served during the transfer; an empty one is not worth
//! waiting for the file: the payload is decoded as it arrives into a
//! second keyspace, swapped in once the file is renamed); `on-empty-db`
//! decodes the stream as it arrives when the dataset is empty, else as
//! `disabled`; `swapdb` decodes it as it arrives into a second keyspace
//! while the old dataset keeps serving, then swaps them. Clients get
//! `-LOADING` while the live dataset is emptied and refilled (the other
//! modes).
//!
//! Every applied byte of the master's stream also goes, unchanged, into
//! this replica's own backlog (at transaction boundaries, under the
//! stripes of the write it carries), which its sub-replicas read: the
//! same stream with the same offsets (chained replication).
//!
//! [`handshake`]: super::handshake

use super::handshake::{ack, Config, Event, Handshake, SyncPayload};
use super::liveload::LiveLoad;
use crate::cmd::{dispatch, Client};
use crate::config::ReplDisklessLoad;
use crate::io::filewriter::FileWriter;
use crate::protocol::{Argv, Parsed, ReplyBuf, RequestParser};
use crate::server::persist::ReplInfo;
use crate::server::{ClientMeta, Server};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The link's state, as ROLE names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum LinkState {
    Connect = 0,
    Connecting = 1,
    Handshake = 2,
    Sync = 3,
    Connected = 4,
}

impl LinkState {
    fn from_u8(v: u8) -> LinkState {
        match v {
            1 => LinkState::Connecting,
            2 => LinkState::Handshake,
            3 => LinkState::Sync,
            4 => LinkState::Connected,
            _ => LinkState::Connect,
        }
    }

    /// ROLE's name for the state.
    pub fn role_name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// What the link shares with INFO, ROLE and the commands.
pub struct LinkStatus {
    pub host: String,
    pub port: u16,
    state: AtomicU8,
    /// Offset of the last applied byte of the master's stream
    /// (`slave_repl_offset`); 0 before the first sync.
    pub offset: AtomicU64,
    /// Unix ms of the last byte read from the master.
    pub last_io_ms: AtomicU64,
    /// Unix ms when the link went down (0: never up or up now).
    pub down_since_ms: AtomicU64,
    /// A full sync's payload size (-1: unknown, `$EOF:` framing) and the
    /// bytes received so far (INFO master_sync_*).
    pub sync_total: AtomicI64,
    pub sync_read: AtomicU64,
    /// The dataset is a whole history (a sync completed and no full sync
    /// has begun since): pointing this replica elsewhere may continue it.
    pub synced: AtomicBool,
    /// FAILOVER: this link asks its master to hand over (PSYNC ... FAILOVER);
    /// `failover_refused` once the master said no (the link then waits to
    /// be stopped: the failover is aborted).
    failover: AtomicBool,
    pub failover_refused: AtomicBool,
    stop: AtomicBool,
    /// Runs of the stream applied in parallel, and their commands
    /// (`repl::apply`; INFO `sluice_replica_apply`).
    pub parallel_runs: AtomicU64,
    pub parallel_commands: AtomicU64,
}

impl LinkStatus {
    pub fn state(&self) -> LinkState {
        LinkState::from_u8(self.state.load(Ordering::Acquire))
    }

    fn set_state(&self, state: LinkState) {
        let was = self.state();
        self.state.store(state as u8, Ordering::Release);
        if was == LinkState::Connected && state != LinkState::Connected {
            self.down_since_ms
                .store(crate::server::unix_ms(), Ordering::Relaxed);
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// A running link; dropping it does not stop it, [`Link::stop`] does.
pub struct Link {
    pub status: Arc<LinkStatus>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A cached master: the history and the offset to continue from.
pub type Cached = (String, u64);

impl Link {
    /// Starts replicating from `host:port`, offering to continue `cached`
    /// (PSYNC <replid> <offset+1>; `None`: PSYNC ? -1).
    pub fn start(
        srv: Arc<Server>,
        host: String,
        port: u16,
        cached: Option<Cached>,
        failover: bool,
    ) -> Link {
        let status = Arc::new(LinkStatus {
            host,
            port,
            state: AtomicU8::new(LinkState::Connect as u8),
            offset: AtomicU64::new(cached.as_ref().map_or(0, |c| c.1)),
            last_io_ms: AtomicU64::new(0),
            down_since_ms: AtomicU64::new(0),
            sync_total: AtomicI64::new(-1),
            sync_read: AtomicU64::new(0),
            synced: AtomicBool::new(cached.is_some()),
            failover: AtomicBool::new(failover),
            failover_refused: AtomicBool::new(false),
            parallel_runs: AtomicU64::new(0),
            parallel_commands: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let thread_status = Arc::clone(&status);
        let thread = std::thread::Builder::new()
            .name("repl-link".into())
            .spawn(move || {
                crate::io::sys::unpin_current_thread();
                run(&srv, &thread_status, cached)
            })
            .expect("spawn the replication link thread");
        Link {
            status,
            thread: Some(thread),
        }
    }

    /// Stops the link and waits for its thread (bounded by the socket
    /// read timeout).
    pub fn stop(mut self) {
        self.status.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Bytes one read of the master's socket takes at most.
const READ_CHUNK: usize = 64 * 1024;
/// Most bytes one in-place read of a live load's payload takes.
const READ_IN_PLACE: usize = 256 * 1024;

/// Reads wake up this often to check `stop` and send ACKs.
const TICK: Duration = Duration::from_millis(100);

/// A link attempt's end.
enum Outcome {
    /// Lost or refused: retry, continuing from the cached master if any.
    Retry(String),
    Stopped,
}

/// The settings an attempt reads once.
struct Settings {
    timeout: Duration,
    backlog_bytes: u64,
    load: ReplDisklessLoad,
    masteruser: Option<Vec<u8>>,
    masterauth: Option<Vec<u8>>,
    announce_ip: Option<String>,
    announce_port: u16,
    nodelay: bool,
    /// `bind-source-addr`.
    source: Option<String>,
}

impl Settings {
    fn read(srv: &Server) -> Settings {
        let c = srv.config.read();
        Settings {
            timeout: Duration::from_secs(u64::try_from(c.repl_timeout).unwrap_or(60).max(1)),
            backlog_bytes: c.repl_backlog_size,
            load: c.repl_diskless_load,
            masteruser: c.masteruser.clone(),
            masterauth: c.masterauth.clone(),
            announce_ip: c.replica_announce_ip.clone(),
            announce_port: u16::try_from(c.replica_announce_port).unwrap_or(0),
            nodelay: !c.repl_disable_tcp_nodelay,
            source: c.bind_source_addr.clone(),
        }
    }
}

fn run(srv: &Arc<Server>, status: &LinkStatus, cached: Option<Cached>) {
    let mut cached = cached;
    // The master's client lives across reconnections: a partial resync
    // continues in the db the stream was in.
    let meta = Arc::new(ClientMeta::new(
        srv.next_client_id(),
        0,
        -1,
        format!("{}:{}", status.host, status.port),
        String::new(),
        srv.now_ms(),
    ));
    let mut client = Client::new(meta, true);
    client.master_link = true;
    client.db = usize::try_from(srv.repl.stream_db()).unwrap_or(0);
    let mut attempt = 0u32;
    while !status.stopped() {
        if attempt > 0 {
            // Redis retries from its 1 Hz cron.
            let until = Instant::now() + Duration::from_secs(1);
            while Instant::now() < until && !status.stopped() {
                std::thread::sleep(TICK);
            }
            if status.stopped() {
                break;
            }
        }
        attempt += 1;
        // What a lost link left half-applied is resent from the offset.
        client.multi = None;
        client.repl_raw.clear();
        match attempt_sync(srv, status, &mut cached, &mut client) {
            Outcome::Stopped => break,
            Outcome::Retry(why) => {
                status.set_state(LinkState::Connect);
                crate::warning!("Replication link with MASTER lost or refused: {why}");
                if status.failover.load(Ordering::Acquire) {
                    // The failover's PSYNC failed: it is aborted (by the
                    // cron, which stops this link).
                    status.failover_refused.store(true, Ordering::Release);
                    while !status.stopped() {
                        std::thread::sleep(TICK);
                    }
                    break;
                }
            }
        }
    }
    srv.repl.set_loading(false);
    status.set_state(LinkState::Connect);
}

/// Connects to the master, giving up after `timeout` and as soon as the
/// link is stopped (REPLICAOF waits for this thread: it must not sit in a
/// blocking connect to an unreachable master).
fn connect(
    status: &LinkStatus,
    timeout: Duration,
    source: Option<&str>,
) -> Result<TcpStream, Outcome> {
    let addrs = (status.host.as_str(), status.port)
        .to_socket_addrs()
        .map_err(|e| Outcome::Retry(format!("Unable to resolve {}: {e}", status.host)))?;
    let source = match source.map(str::parse::<std::net::IpAddr>) {
        None => None,
        Some(Ok(ip)) => Some(ip),
        Some(Err(_)) => {
            return Err(Outcome::Retry(format!(
                "Unable to connect to MASTER: bind-source-addr {} is not an IP address",
                source.unwrap_or_default()
            )))
        }
    };
    let mut last = String::from("no address");
    for addr in addrs {
        match connect_one(status, addr, timeout, source) {
            Ok(s) => return Ok(s),
            Err(None) => return Err(Outcome::Stopped),
            Err(Some(e)) => last = e.to_string(),
        }
    }
    Err(Outcome::Retry(format!(
        "Error condition on socket for SYNC: {last} ({}:{})",
        status.host, status.port
    )))
}

/// A non-blocking connect polled in ticks; `Err(None)`: stopped.
fn connect_one(
    status: &LinkStatus,
    addr: std::net::SocketAddr,
    timeout: Duration,
    source: Option<std::net::IpAddr>,
) -> Result<TcpStream, Option<std::io::Error>> {
    use socket2::{Domain, Socket, Type};
    use std::os::fd::AsRawFd;
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(Some)?;
    sock.set_nonblocking(true).map_err(Some)?;
    // anet.c `anetTcpGenericConnect` with a source address: bound (any
    // port) before connecting, when of the master address's family.
    if let Some(ip) = source.filter(|ip| ip.is_ipv4() == addr.is_ipv4()) {
        let local = std::net::SocketAddr::new(ip, 0);
        sock.bind(&local.into()).map_err(Some)?;
    }
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e)
            if e.raw_os_error() == Some(libc::EINPROGRESS)
                || e.kind() == std::io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(Some(e)),
    }
    let started = Instant::now();
    loop {
        if status.stopped() {
            return Err(None);
        }
        let tick = TICK.as_millis() as i32;
        if crate::io::sys::poll_writable(sock.as_raw_fd(), tick).map_err(Some)? {
            break;
        }
        if started.elapsed() >= timeout {
            return Err(Some(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connection timed out",
            )));
        }
    }
    if let Some(e) = sock.take_error().map_err(Some)? {
        return Err(Some(e));
    }
    sock.set_nonblocking(false).map_err(Some)?;
    Ok(TcpStream::from(sock))
}

/// One connection: handshake, sync, then the stream until the link fails.
fn attempt_sync(
    srv: &Arc<Server>,
    status: &LinkStatus,
    cached: &mut Option<Cached>,
    client: &mut Client,
) -> Outcome {
    let settings = Settings::read(srv);
    status.set_state(LinkState::Connecting);
    crate::notice!("Connecting to MASTER {}:{}", status.host, status.port);
    let mut link = match connect(status, settings.timeout, settings.source.as_deref()) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let _ = link.set_nodelay(settings.nodelay);
    let _ = link.set_read_timeout(Some(TICK));
    crate::notice!("MASTER <-> REPLICA sync started");
    status.set_state(LinkState::Handshake);
    let listening_port = if settings.announce_port > 0 {
        settings.announce_port
    } else {
        srv.tcp_port
    };
    match cached {
        Some((replid, offset)) => crate::notice!(
            "Trying a partial resynchronization (request {replid}:{}).",
            *offset + 1
        ),
        None => crate::notice!("Partial resynchronization not possible (no cached master)"),
    }
    let (mut handshake, ping) = Handshake::new(Config {
        masteruser: settings.masteruser.clone(),
        masterauth: settings.masterauth.clone(),
        listening_port,
        announce_ip: settings.announce_ip.clone(),
        cached: cached.clone(),
        failover: status.failover.load(Ordering::Acquire),
    });
    let mut io = Io {
        link: &mut link,
        status,
        buf: Vec::new(),
        chunk: vec![0u8; READ_CHUNK].into_boxed_slice(),
        timeout: settings.timeout,
    };
    if let Err(e) = io.send(&ping) {
        return e;
    }
    // Handshake.
    let mut steps = 0;
    let event = loop {
        let (events, used) = match handshake.feed(&io.buf) {
            Ok(x) => x,
            Err(f) => return f.into(),
        };
        io.buf.drain(..used);
        let mut end = None;
        for event in events {
            match event {
                Event::Send(bytes) => {
                    steps += 1;
                    match steps {
                        1 => crate::notice!("Master replied to PING, replication can continue..."),
                        _ => crate::notice!(
                            "MASTER <-> REPLICA sync: handshake replies received, sending PSYNC"
                        ),
                    }
                    if let Err(e) = io.send(&bytes) {
                        return e;
                    }
                }
                other => end = Some(other),
            }
        }
        if let Some(e) = end {
            break e;
        }
        if let Err(e) = io.read_more() {
            return e;
        }
    };
    let mut offset = match event {
        Event::FullResync { replid, offset } => {
            crate::notice!("Full resync from master: {replid}:{offset}");
            status.set_state(LinkState::Sync);
            // The dataset is about to be replaced: nothing to continue.
            *cached = None;
            status.synced.store(false, Ordering::Release);
            let info = match full_sync(srv, &mut io, &settings) {
                Ok(info) => info,
                Err(e) => {
                    srv.repl.set_loading(false);
                    return e;
                }
            };
            srv.repl.reset_backlog(settings.backlog_bytes, offset);
            srv.repl.adopt(&replid);
            client.db = info
                .and_then(|i| usize::try_from(i.stream_db).ok())
                .unwrap_or(0);
            srv.repl.set_stream_db(client.db);
            srv.repl.set_loading(false);
            *cached = Some((replid, offset));
            offset
        }
        Event::Continue { replid } => {
            let Some((old, offset)) = cached.clone() else {
                return Outcome::Retry("CONTINUE without a cached master".into());
            };
            crate::notice!(
                "Successful partial resynchronization with master{}.",
                if replid.is_some() {
                    " (new replication ID)"
                } else {
                    ""
                }
            );
            srv.repl.ensure_backlog(settings.backlog_bytes);
            let id = match replid {
                Some(new) if new != old => {
                    crate::notice!("Master replication ID changed to {new}");
                    // Sub-replicas reconnect to learn it (PSYNC2).
                    srv.repl.shift_ids(new.clone(), offset);
                    srv.repl.disconnect_replicas();
                    new
                }
                _ => old,
            };
            *cached = Some((id, offset));
            crate::notice!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
            offset
        }
        Event::Send(_) => unreachable!("sends are handled above"),
    };
    status.offset.store(offset, Ordering::Release);
    status.synced.store(true, Ordering::Release);
    status.failover.store(false, Ordering::Release);
    status.down_since_ms.store(0, Ordering::Relaxed);
    status.set_state(LinkState::Connected);
    crate::notice!("MASTER <-> REPLICA sync: Finished with success");
    // A diskless master waits for an ACK before it streams; others take
    // it as a keepalive.
    if let Err(e) = io.send(&ack(offset)) {
        return e;
    }
    let result = stream(srv, &mut io, client, &mut offset);
    if let Some((_, cached_offset)) = cached.as_mut() {
        *cached_offset = offset;
    }
    result
}

/// The socket with its read buffer and the link's timeout.
struct Io<'a> {
    link: &'a mut TcpStream,
    status: &'a LinkStatus,
    buf: Vec<u8>,
    /// Each read lands here first (allocated once, not zeroed per read).
    chunk: Box<[u8]>,
    timeout: Duration,
}

impl Io<'_> {
    fn send(&mut self, bytes: &[u8]) -> Result<(), Outcome> {
        self.link
            .write_all(bytes)
            .map_err(|e| Outcome::Retry(format!("write to MASTER: {e}")))
    }

    /// Reads at least one byte into `buf` (or returns on stop, timeout or
    /// error).
    fn read_more(&mut self) -> Result<(), Outcome> {
        let n = self.read_chunk()?;
        self.keep(n);
        Ok(())
    }

    /// Appends `chunk[..n]` (a read's bytes) to `buf`; returns n.
    fn keep(&mut self, n: usize) -> usize {
        self.buf.extend_from_slice(&self.chunk[..n]);
        n
    }

    /// Reads at least one byte into `chunk[..n]`, returning n (or returns
    /// on stop, timeout or error).
    fn read_chunk(&mut self) -> Result<usize, Outcome> {
        self.read_with(|io| io.link.read(&mut io.chunk[..]))
    }

    /// Reads at least one byte onto `buf`'s end, in place, returning how
    /// many (or returns on stop, timeout or error). Reads the socket
    /// itself: a link that wraps it (TLS, when it comes) must read through
    /// its stream instead.
    fn read_append(&mut self, buf: &mut Vec<u8>) -> Result<usize, Outcome> {
        use std::os::fd::AsRawFd;
        let fd = self.link.as_raw_fd();
        self.read_with(|_| crate::io::sys::recv_append(fd, buf, READ_IN_PLACE))
    }

    /// Retries `read` (one read: its byte count) until it reads something,
    /// the link is stopped or `repl-timeout` passes.
    fn read_with(
        &mut self,
        mut read: impl FnMut(&mut Self) -> std::io::Result<usize>,
    ) -> Result<usize, Outcome> {
        let started = Instant::now();
        loop {
            if self.status.stopped() {
                return Err(Outcome::Stopped);
            }
            let result = read(self);
            match self.took(result)? {
                0 => {}
                n => return Ok(n),
            }
            if started.elapsed() > self.timeout {
                return Err(Outcome::Retry("Timeout receiving from MASTER".into()));
            }
        }
    }

    /// What is already queued, without waiting: true if something came.
    fn read_ready(&mut self) -> Result<bool, Outcome> {
        use std::os::fd::AsRawFd;
        let read = crate::io::sys::recv_nonblocking(self.link.as_raw_fd(), &mut self.chunk[..]);
        let n = self.took(read)?;
        Ok(self.keep(n) > 0)
    }

    /// One read into `buf`: the bytes read, 0 when the tick passed with
    /// none.
    fn read_some(&mut self) -> Result<usize, Outcome> {
        let read = self.link.read(&mut self.chunk[..]);
        let n = self.took(read)?;
        Ok(self.keep(n))
    }

    /// A read's result into `chunk`: its byte count; 0 when nothing came
    /// (timeout, would block, interrupted).
    fn took(&mut self, read: std::io::Result<usize>) -> Result<usize, Outcome> {
        match read {
            Ok(0) => Err(Outcome::Retry("MASTER closed the connection".into())),
            Ok(n) => {
                self.status
                    .last_io_ms
                    .store(crate::server::unix_ms(), Ordering::Relaxed);
                Ok(n)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                Ok(0)
            }
            Err(e) => Err(Outcome::Retry(format!("read from MASTER: {e}"))),
        }
    }
}

/// Where the payload goes before (or while) it is loaded.
enum Sink {
    /// Decoded as it arrives into the emptied dataset, by several threads
    /// (`repl::liveload`).
    Live(Box<LiveLoad>),
    /// Decoded as it arrives into a second, fresh dataset while the
    /// served one keeps serving, and swapped in when whole (atomically:
    /// every stripe held); with a copy on disk (`LiveLoad::copy_to`),
    /// written to that temp file on the way, which is synced and renamed
    /// as `Disk`'s before the swap.
    /// swapdb (no file: Redis's swapdb loads from the socket too), and
    /// disabled into an empty dataset (a second one costs nothing there):
    /// clients and the disk see what `Disk` shows them, without a load
    /// after the transfer (a fresh replica's sync of 1M keys of 100 bytes,
    /// sluice to sluice on 2 cores: 0.71-1.03 -> 0.56-0.58 s with writes
    /// on the master, 0.43 -> 0.40-0.43 idle).
    Aside {
        fresh: Arc<crate::store::Keyspace>,
        live: Box<LiveLoad>,
    },
    /// A temp file in `dir` written through io_uring (1 MiB writes in
    /// flight while the next bytes arrive), fdatasync'ed, renamed to
    /// `dbfilename` and loaded from its mapping when whole. Not O_DIRECT:
    /// the load reads it back from the page cache.
    Disk(std::path::PathBuf, Box<FileWriter>),
}

impl Sink {
    fn name(&self) -> &'static str {
        match self {
            Sink::Live(_) => "live",
            Sink::Disk(..) => "disk",
            Sink::Aside { live, .. } if live.has_copy() => "disk and live",
            Sink::Aside { .. } => "swapdb",
        }
    }
}

/// Replaces the dataset with the master's RDB; returns the replication
/// position it records (its `repl-stream-db` is where the stream goes on).
fn full_sync(srv: &Server, io: &mut Io, settings: &Settings) -> Result<Option<ReplInfo>, Outcome> {
    let aside = |copy: Option<(std::path::PathBuf, Box<FileWriter>)>| {
        let fresh = Arc::new(crate::store::Keyspace::new(srv.keyspace.databases()));
        let mut live = LiveLoad::new(srv).into_fresh(Arc::clone(&fresh));
        if let Some((path, file)) = copy {
            live = live.copy_to(path, file);
        }
        Sink::Aside {
            fresh,
            live: Box::new(live),
        }
    };
    let sink = match settings.load {
        ReplDisklessLoad::Swapdb => aside(None),
        ReplDisklessLoad::OnEmptyDb if srv.keyspace.is_empty() => {
            begin_load(srv);
            Sink::Live(Box::new(LiveLoad::new(srv)))
        }
        ReplDisklessLoad::OnEmptyDb | ReplDisklessLoad::Disabled => {
            let path = std::path::PathBuf::from(format!(
                "temp-{}.{}.rdb",
                crate::server::unix_ms() / 1000,
                std::process::id()
            ));
            let file = Box::new(FileWriter::create_with(&path, false).map_err(|e| {
                Outcome::Retry(format!(
                    "Opening the temp file needed for MASTER <-> REPLICA synchronization: {e}"
                ))
            })?);
            if srv.keyspace.is_empty() {
                aside(Some((path, file)))
            } else {
                Sink::Disk(path, file)
            }
        }
    };
    receive_whole(srv, io, sink)
}

/// Receives the payload into `sink`, then loads it as the sink requires.
fn receive_whole(srv: &Server, io: &mut Io, mut sink: Sink) -> Result<Option<ReplInfo>, Outcome> {
    crate::notice!(
        "MASTER <-> REPLICA sync: receiving the payload ({} load)",
        sink.name()
    );
    let status = io.status;
    status.sync_total.store(-1, Ordering::Relaxed);
    status.sync_read.store(0, Ordering::Relaxed);
    srv.repl
        .set_async_loading(matches!(sink, Sink::Aside { .. }));
    let result = receive(srv, io, &mut sink);
    srv.repl.set_async_loading(false);
    match (result, sink) {
        (Err(e), Sink::Disk(path, _)) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
        (Err(e), Sink::Aside { mut live, .. }) => match (e, live.take_copy()) {
            (e, Some((path, _))) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
            (Outcome::Retry(why), None) => Err(Outcome::Retry(format!(
                "{why} (swapdb: the old data is kept)"
            ))),
            (e, None) => Err(e),
        },
        (Err(e), Sink::Live(_)) => {
            srv.keyspace.empty();
            Err(e)
        }
        (Ok(info), Sink::Live(_)) => Ok(info),
        (Ok(info), Sink::Aside { fresh, mut live }) => {
            if let Some((path, file)) = live.take_copy() {
                settle(srv, &path, *file)?;
            }
            // Its handle on `fresh` goes first: the old data swapped into
            // `fresh` is then freed by the lazy-free thread alone.
            drop(live);
            // Sub-replicas hold the old history: they resync.
            srv.repl.disconnect_replicas();
            srv.keyspace.swap_data(&fresh);
            crate::notice!("MASTER <-> REPLICA sync: swapped the loaded data in");
            // Off the link thread, which goes on to the stream at once
            // (swapdb, 1M keys of 100 bytes: the free took 173 ms of a
            // 0.78 s sync there, then 1-2 ms).
            srv.keyspace.lazyfree.send(Box::new(fresh), 0);
            Ok(info)
        }
        (Ok(_), Sink::Disk(path, file)) => {
            settle(srv, &path, *file)?;
            let target = crate::server::persist::rdb_path(srv);
            let file = std::fs::File::open(&target)
                .map_err(|e| Outcome::Retry(format!("reopening the received RDB: {e}")))?;
            let map = crate::io::mmap::map_sequential(&file)
                .map_err(|e| Outcome::Retry(format!("mapping the received RDB: {e}")))?;
            load_whole(srv, &map)
        }
    }
}

/// Syncs the received payload's temp file and renames it to `dbfilename`
/// (removed on failure).
fn settle(srv: &Server, path: &std::path::Path, file: FileWriter) -> Result<(), Outcome> {
    if let Err(e) = file.finish() {
        let _ = std::fs::remove_file(path);
        return Err(Outcome::Retry(format!("writing the payload to disk: {e}")));
    }
    let target = crate::server::persist::rdb_path(srv);
    if let Err(e) = std::fs::rename(path, &target) {
        let _ = std::fs::remove_file(path);
        return Err(Outcome::Retry(format!(
            "Failed trying to rename the temp DB into {} in MASTER <-> REPLICA synchronization: {e}",
            target.display()
        )));
    }
    Ok(())
}

/// Clients get -LOADING while the dataset is emptied and refilled.
fn begin_load(srv: &Server) {
    crate::notice!("MASTER <-> REPLICA sync: Flushing old data");
    srv.repl.set_loading(true);
    // Sub-replicas hold the old history: they resync.
    srv.repl.disconnect_replicas();
    if srv.config.read().replica_lazy_flush {
        // As Redis's emptyData(.., EMPTYDB_ASYNC): freed off the link
        // thread, which loads meanwhile.
        srv.keyspace
            .lazyfree
            .send(Box::new(srv.keyspace.take_data()), 0);
    } else {
        srv.keyspace.empty();
    }
    crate::notice!("MASTER <-> REPLICA sync: Loading DB in memory");
}

/// Loads a whole received RDB (disk or memory) into the emptied dataset.
fn load_whole(srv: &Server, bytes: &[u8]) -> Result<Option<ReplInfo>, Outcome> {
    begin_load(srv);
    match crate::server::persist::load_bytes(srv, bytes) {
        Ok(loaded) => {
            crate::notice!("MASTER <-> REPLICA sync: Loaded {} keys", loaded.keys);
            Ok(loaded.repl)
        }
        Err(e) => {
            srv.keyspace.empty();
            Err(Outcome::Retry(format!(
                "Failed trying to load the MASTER synchronization DB: {e}"
            )))
        }
    }
}

/// Receives the payload into `sink` (decoding it as it comes for a live
/// load); returns the replication position a live load saw.
fn receive(srv: &Server, io: &mut Io, sink: &mut Sink) -> Result<Option<ReplInfo>, Outcome> {
    let io_error = |e: std::io::Error| Outcome::Retry(format!("writing the payload to disk: {e}"));
    match sink {
        Sink::Disk(_, file) => receive_with(
            io,
            &mut Via(|rdb: &[u8], _| file.write(rdb).map_err(io_error)),
        )
        .map(|()| None),
        Sink::Live(live) | Sink::Aside { live, .. } => {
            let (received, loaded) =
                live.run(srv, |live| receive_with(io, &mut InPlace { srv, live }));
            received?;
            let loaded = loaded.map_err(Outcome::Retry)?;
            crate::notice!("MASTER <-> REPLICA sync: Loaded {loaded} keys");
            Ok(crate::server::persist::repl_from_aux(&live.aux))
        }
    }
}

/// Where payload bytes go.
trait PayloadSink {
    /// The next payload bytes; `done`: the payload ended with them.
    fn take(&mut self, bytes: &[u8], done: bool) -> Result<(), Outcome>;

    /// A buffer the link may append payload bytes to in place, then call
    /// `landed`; None: every byte goes through `take`.
    fn landing(&mut self) -> Option<&mut Vec<u8>> {
        None
    }

    fn landed(&mut self, _done: bool) -> Result<(), Outcome> {
        Ok(())
    }
}

/// A sink that copies what it is given (disk, memory).
struct Via<F>(F);

impl<F: FnMut(&[u8], bool) -> Result<(), Outcome>> PayloadSink for Via<F> {
    fn take(&mut self, bytes: &[u8], done: bool) -> Result<(), Outcome> {
        (self.0)(bytes, done)
    }
}

/// A live load, which receives in place: the link reads straight into
/// the bytes its splitter walks (for 1 GiB of 16 KiB values the copy out
/// of a read buffer was ~7% of the sync's CPU).
struct InPlace<'a> {
    srv: &'a Server,
    live: &'a mut super::liveload::LiveLoad,
}

impl PayloadSink for InPlace<'_> {
    fn take(&mut self, bytes: &[u8], done: bool) -> Result<(), Outcome> {
        self.live
            .feed(self.srv, bytes, done)
            .map_err(Outcome::Retry)
    }

    fn landing(&mut self) -> Option<&mut Vec<u8>> {
        Some(self.live.landing())
    }

    fn landed(&mut self, done: bool) -> Result<(), Outcome> {
        self.live.landed(self.srv, done).map_err(Outcome::Retry)
    }
}

/// Reads the payload off the link (either framing), giving its bytes to
/// `sink`, with progress in INFO and the log. Reads land in `io.chunk` and
/// go to the sink from there (no copy through `io.buf`), or, once the
/// framing is known, straight into a sink's landing buffer; what follows
/// the payload is left in `io.buf` for the stream.
fn receive_with(io: &mut Io, sink: &mut dyn PayloadSink) -> Result<(), Outcome> {
    let mut payload = SyncPayload::new();
    let started = Instant::now();
    let mut progress = super::Progress::new();
    let status = io.status;
    // Bytes that came with the handshake's last reply first.
    let used = payload.feed(&io.buf, &mut |b: &[u8]| sink.take(b, false))?;
    io.buf.drain(..used);
    while !payload.is_done() {
        if let Some(size) = payload.announced_size() {
            status
                .sync_total
                .store(i64::try_from(size).unwrap_or(i64::MAX), Ordering::Relaxed);
            if !payload.is_passing() && sink.landing().is_some() {
                payload.begin_pass(&mut |b: &[u8]| sink.take(b, false))?;
            }
        }
        status.sync_read.store(payload.read(), Ordering::Relaxed);
        progress.tick(
            "MASTER <-> REPLICA sync: received",
            payload.read(),
            payload.announced_size(),
        );
        match sink.landing() {
            Some(landing) if payload.is_passing() => {
                let before = landing.len();
                io.read_append(landing)?;
                let used = payload.pass(&landing[before..]);
                if payload.is_done() {
                    io.buf.extend_from_slice(&landing[before + used..]);
                    landing.truncate(before + used);
                }
                sink.landed(false)?;
            }
            _ => {
                let n = io.read_chunk()?;
                let used = payload.feed(&io.chunk[..n], &mut |b: &[u8]| sink.take(b, false))?;
                if payload.is_done() {
                    io.buf.extend_from_slice(&io.chunk[used..n]);
                }
            }
        }
    }
    sink.take(&[], true)?;
    let read = payload.read();
    status.sync_read.store(read, Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    crate::notice!(
        "MASTER <-> REPLICA sync: received {read} bytes in {secs:.3} s ({:.1} MB/s)",
        read as f64 / secs.max(1e-9) / 1e6
    );
    Ok(())
}

impl From<super::handshake::Failure> for Outcome {
    fn from(f: super::handshake::Failure) -> Outcome {
        Outcome::Retry(f.reason)
    }
}

/// Applies the command stream until the link fails or is stopped. Every
/// byte goes on to this replica's backlog (see the module docs); the
/// offset advances at transaction boundaries only, so a lost link resends
/// a half-received MULTI block whole.
fn stream(srv: &Arc<Server>, io: &mut Io, client: &mut Client, offset: &mut u64) -> Outcome {
    let parts = match srv.config.read().replica_apply_threads {
        0 => srv.threads,
        n => usize::try_from(n).unwrap_or(1),
    };
    std::thread::scope(|scope| {
        let mut pool = super::apply::Pool::start(scope, srv, parts);
        apply_stream(srv, io, client, offset, &mut pool)
    })
}

/// [`stream`], applying runs of one-stripe writes through `pool` (see
/// `repl::apply`) and everything else here, one command at a time.
fn apply_stream(
    srv: &Arc<Server>,
    io: &mut Io,
    client: &mut Client,
    offset: &mut u64,
    pool: &mut super::apply::Pool,
) -> Outcome {
    let mut out = ReplyBuf::new(false);
    let mut parser = RequestParser::new();
    let limits = super::apply::LIMITS;
    let mut argv = Argv::new();
    let mut last_ack = Instant::now();
    let mut acked = *offset;
    let mut pending = 0u64;
    loop {
        let mut used = 0;
        loop {
            if client.multi.is_none() && client.repl_raw.is_empty() {
                debug_assert_eq!(pending, 0);
                let run = pool.collect(&io.buf[used..], client.db);
                if run > 0 {
                    let bytes = &io.buf[used..used + run];
                    // The run, its bytes in the backlog (one append) and
                    // the offset are one step for a snapshot's cut.
                    let gate = srv.keyspace.hold_cuts();
                    let parts = pool.apply(srv, bytes);
                    srv.repl.set_stream_db(client.db);
                    srv.repl.feed_raw(bytes);
                    drop(gate);
                    if parts > 1 {
                        io.status.parallel_runs.fetch_add(1, Ordering::Relaxed);
                        io.status
                            .parallel_commands
                            .fetch_add(pool.commands() as u64, Ordering::Relaxed);
                    }
                    used += run;
                    *offset += run as u64;
                    io.status.offset.store(*offset, Ordering::Release);
                    // It may have scanned a partial line the run took.
                    parser = RequestParser::new();
                    continue;
                }
            }
            match parser.parse(&io.buf[used..], &limits, &mut argv) {
                Ok(Parsed::Complete { consumed }) => {
                    client
                        .repl_raw
                        .extend_from_slice(&io.buf[used..used + consumed]);
                    used += consumed;
                    pending += consumed as u64;
                    if argv.is_empty() {
                        continue;
                    }
                    if is_getack(&argv) {
                        // The ACK reports the offset before the GETACK.
                        if let Err(e) = io.send(&ack(*offset)) {
                            return e;
                        }
                    } else {
                        dispatch(srv, 0, client, &mut out, &argv);
                        out.buf.clear();
                    }
                    if client.multi.is_none() {
                        srv.repl.set_stream_db(client.db);
                        srv.repl.feed_raw(&client.repl_raw);
                        client.repl_raw.clear();
                        *offset += pending;
                        pending = 0;
                        io.status.offset.store(*offset, Ordering::Release);
                    }
                    argv.clear();
                }
                Ok(Parsed::Incomplete { consumed }) => {
                    client
                        .repl_raw
                        .extend_from_slice(&io.buf[used..used + consumed]);
                    used += consumed;
                    pending += consumed as u64;
                    break;
                }
                Err(e) => {
                    return Outcome::Retry(format!("protocol error in the master's stream: {e:?}"))
                }
            }
        }
        io.buf.drain(..used);
        srv.repl.notify_fed();
        // More already queued: apply it before acknowledging.
        let more = match io.read_ready() {
            Ok(more) => more,
            Err(e) => return e,
        };
        // A batch applied is acknowledged at once when the stream went
        // quiet (nothing more queued), not only every second or on
        // GETACK: a WAIT that follows a write then often finds it
        // acknowledged already. Under load, at most one ACK per 10 ms
        // (masters take ACKs at any time).
        if (*offset != acked && (!more || last_ack.elapsed() >= Duration::from_millis(10)))
            || last_ack.elapsed() >= Duration::from_secs(1)
        {
            last_ack = Instant::now();
            acked = *offset;
            if let Err(e) = io.send(&ack(*offset)) {
                return e;
            }
        }
        if io.status.stopped() {
            return Outcome::Stopped;
        }
        if more {
            continue;
        }
        if let Err(e) = io.read_some() {
            return e;
        }
        let silent_ms =
            crate::server::unix_ms().saturating_sub(io.status.last_io_ms.load(Ordering::Relaxed));
        if silent_ms > io.timeout.as_millis() as u64 {
            return Outcome::Retry("MASTER timeout: no data nor PING received".into());
        }
    }
}

fn is_getack(argv: &Argv) -> bool {
    argv.len() >= 2
        && argv.get(0).eq_ignore_ascii_case(b"REPLCONF")
        && argv.get(1).eq_ignore_ascii_case(b"GETACK")
}
