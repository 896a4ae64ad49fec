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
//! Not yet: repl-diskless-load modes other than loading into the live
//! dataset (disabled, swapdb), replica-serve-stale-data, suppressing
//! active expiry, sub-replicas.
//!
//! [`handshake`]: super::handshake

use super::handshake::{ack, Config, Event, Handshake, SyncPayload};
use crate::cmd::{dispatch, Client};
use crate::protocol::{Argv, Limits, Parsed, ReplyBuf, RequestParser};
use crate::rdb::{Decoder, Item};
use crate::server::{ClientMeta, Server};
use parking_lot::Mutex;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
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
    /// The master's replication ID (from FULLRESYNC or CONTINUE).
    pub master_replid: Mutex<String>,
    /// Unix ms of the last byte read from the master.
    pub last_io_ms: AtomicU64,
    /// Unix ms when the link went down (0: never up or up now).
    pub down_since_ms: AtomicU64,
    stop: AtomicBool,
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

impl Link {
    /// Starts replicating from `host:port`.
    pub fn start(srv: Arc<Server>, host: String, port: u16) -> Link {
        let status = Arc::new(LinkStatus {
            host,
            port,
            state: AtomicU8::new(LinkState::Connect as u8),
            offset: AtomicU64::new(0),
            master_replid: Mutex::new(String::new()),
            last_io_ms: AtomicU64::new(0),
            down_since_ms: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let thread_status = Arc::clone(&status);
        let thread = std::thread::Builder::new()
            .name("repl-link".into())
            .spawn(move || run(&srv, &thread_status))
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

/// Reads wake up this often to check `stop` and send ACKs.
const TICK: Duration = Duration::from_millis(100);

/// A link attempt's end.
enum Outcome {
    /// Lost or refused: retry, continuing from the cached master if any.
    Retry(String),
    Stopped,
}

fn run(srv: &Arc<Server>, status: &LinkStatus) {
    // The cached master: (replid, offset) once a sync completed.
    let mut cached: Option<(String, u64)> = None;
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
        match attempt_sync(srv, status, &mut cached) {
            Outcome::Stopped => break,
            Outcome::Retry(why) => {
                status.set_state(LinkState::Connect);
                crate::warning!("Replication link with MASTER lost or refused: {why}");
            }
        }
    }
    status.set_state(LinkState::Connect);
}

fn connect(status: &LinkStatus) -> Result<TcpStream, String> {
    let addrs = (status.host.as_str(), status.port)
        .to_socket_addrs()
        .map_err(|e| format!("Unable to resolve {}: {e}", status.host))?;
    let mut last = String::from("no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(s) => return Ok(s),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!(
        "Error condition on socket for SYNC: {last} ({}:{})",
        status.host, status.port
    ))
}

/// One connection: handshake, sync, then the stream until the link fails.
fn attempt_sync(
    srv: &Arc<Server>,
    status: &LinkStatus,
    cached: &mut Option<(String, u64)>,
) -> Outcome {
    status.set_state(LinkState::Connecting);
    crate::notice!("Connecting to MASTER {}:{}", status.host, status.port);
    let mut link = match connect(status) {
        Ok(s) => s,
        Err(e) => return Outcome::Retry(e),
    };
    let _ = link.set_nodelay(true);
    let _ = link.set_read_timeout(Some(TICK));
    crate::notice!("MASTER <-> REPLICA sync started");
    status.set_state(LinkState::Handshake);
    let port = srv.tcp_port;
    let (mut handshake, ping) = Handshake::new(Config {
        listening_port: port,
        cached: cached.clone(),
        ..Config::default()
    });
    let mut io = Io {
        link: &mut link,
        status,
        buf: Vec::new(),
        timeout: REPL_TIMEOUT,
    };
    if let Err(e) = io.send(&ping) {
        return e;
    }
    // Handshake.
    let event = loop {
        let (events, used) = match handshake.feed(&io.buf) {
            Ok(x) => x,
            Err(f) => return Outcome::Retry(f.reason),
        };
        io.buf.drain(..used);
        let mut end = None;
        for event in events {
            match event {
                Event::Send(bytes) => {
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
            if let Err(e) = full_sync(srv, &mut io) {
                return e;
            }
            *status.master_replid.lock() = replid.clone();
            *cached = Some((replid, offset));
            offset
        }
        Event::Continue { replid } => {
            crate::notice!("Successful partial resynchronization with master.");
            let Some((old, offset)) = cached.clone() else {
                return Outcome::Retry("CONTINUE without a cached master".into());
            };
            let id = replid.unwrap_or(old);
            *status.master_replid.lock() = id.clone();
            *cached = Some((id, offset));
            offset
        }
        Event::Send(_) => unreachable!("sends are handled above"),
    };
    status.offset.store(offset, Ordering::Release);
    status.down_since_ms.store(0, Ordering::Relaxed);
    status.set_state(LinkState::Connected);
    crate::notice!("MASTER <-> REPLICA sync: Finished with success");
    // A diskless master waits for an ACK before it streams; others take
    // it as a keepalive.
    if let Err(e) = io.send(&ack(offset)) {
        return e;
    }
    let result = stream(srv, &mut io, &mut offset);
    if let Some((_, cached_offset)) = cached.as_mut() {
        *cached_offset = offset;
    }
    result
}

/// `repl-timeout`'s default; the directive is not built yet.
const REPL_TIMEOUT: Duration = Duration::from_secs(60);

/// The socket with its read buffer and the link's timeout.
struct Io<'a> {
    link: &'a mut TcpStream,
    status: &'a LinkStatus,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Io<'_> {
    fn send(&mut self, bytes: &[u8]) -> Result<(), Outcome> {
        self.link
            .write_all(bytes)
            .map_err(|e| Outcome::Retry(format!("write to MASTER: {e}")))
    }

    /// Reads at least one byte (or returns on stop, timeout or error).
    fn read_more(&mut self) -> Result<(), Outcome> {
        let started = Instant::now();
        loop {
            if self.status.stopped() {
                return Err(Outcome::Stopped);
            }
            match self.read_some() {
                Ok(0) => {}
                Ok(_) => return Ok(()),
                Err(e) => return Err(e),
            }
            if started.elapsed() > self.timeout {
                return Err(Outcome::Retry("Timeout receiving from MASTER".into()));
            }
        }
    }

    /// One read: the bytes read, 0 when the tick passed with none.
    fn read_some(&mut self) -> Result<usize, Outcome> {
        let mut chunk = [0u8; 64 * 1024];
        match self.link.read(&mut chunk) {
            Ok(0) => Err(Outcome::Retry("MASTER closed the connection".into())),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                self.status
                    .last_io_ms
                    .store(crate::server::unix_ms(), Ordering::Relaxed);
                Ok(n)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(0)
            }
            Err(e) => Err(Outcome::Retry(format!("read from MASTER: {e}"))),
        }
    }
}

/// Replaces the dataset with the master's RDB, decoded as it arrives.
fn full_sync(srv: &Server, io: &mut Io) -> Result<(), Outcome> {
    srv.keyspace.empty();
    let mut payload = SyncPayload::new();
    let mut decoder = Decoder::new(srv.rdb_limits());
    let mut rdb = Vec::new();
    let clock = srv.lru_clock();
    let mut loaded = 0u64;
    loop {
        let used = payload
            .feed(&io.buf, &mut rdb)
            .map_err(|f| Outcome::Retry(f.reason))?;
        io.buf.drain(..used);
        decoder.feed(&rdb);
        rdb.clear();
        if payload.is_done() {
            decoder.finish_input();
        }
        loop {
            match decoder.next_item() {
                Ok(Some(Item::Entry(e))) => {
                    if e.db as usize >= srv.keyspace.databases() {
                        srv.keyspace.empty();
                        return Err(Outcome::Retry(format!(
                            "the master's RDB selects database {}, beyond `databases`",
                            e.db
                        )));
                    }
                    // A replica keeps keys that already expired: the
                    // master's DEL will remove them.
                    if let Err(err) = crate::server::persist::insert_loaded(srv, e, clock) {
                        srv.keyspace.empty();
                        return Err(Outcome::Retry(format!("loading the master's RDB: {err}")));
                    }
                    loaded += 1;
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(err) => {
                    srv.keyspace.empty();
                    return Err(Outcome::Retry(format!("loading the master's RDB: {err}")));
                }
            }
        }
        if payload.is_done() {
            if !decoder.is_done() {
                srv.keyspace.empty();
                return Err(Outcome::Retry("the master's RDB ended early".into()));
            }
            crate::notice!("MASTER <-> REPLICA sync: Loaded {loaded} keys");
            return Ok(());
        }
        io.read_more()?;
    }
}

/// Applies the command stream until the link fails or is stopped.
fn stream(srv: &Arc<Server>, io: &mut Io, offset: &mut u64) -> Outcome {
    let meta = Arc::new(ClientMeta::new(
        srv.next_client_id(),
        0,
        -1,
        format!("{}:{}", io.status.host, io.status.port),
        String::new(),
        srv.now_ms(),
    ));
    let mut client = Client::new(meta, true);
    client.master_link = true;
    let mut out = ReplyBuf::new(false);
    let mut parser = RequestParser::new();
    let limits = Limits {
        proto_max_bulk_len: u64::MAX >> 1,
        authenticated: true,
    };
    let mut argv = Argv::new();
    let mut last_ack = Instant::now();
    let mut pending = 0u64;
    loop {
        let mut used = 0;
        loop {
            match parser.parse(&io.buf[used..], &limits, &mut argv) {
                Ok(Parsed::Complete { consumed }) => {
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
                        dispatch(srv, 0, &mut client, &mut out, &argv);
                        out.buf.clear();
                    }
                    *offset += pending;
                    pending = 0;
                    io.status.offset.store(*offset, Ordering::Release);
                    argv = Argv::new();
                }
                Ok(Parsed::Incomplete { consumed }) => {
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
        if last_ack.elapsed() >= Duration::from_secs(1) {
            last_ack = Instant::now();
            if let Err(e) = io.send(&ack(*offset)) {
                return e;
            }
        }
        if io.status.stopped() {
            return Outcome::Stopped;
        }
        match io.read_some() {
            Ok(_) => {}
            Err(e) => return e,
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
