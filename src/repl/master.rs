//! The master's side of a replica link: PSYNC/SYNC answered with a full
//! sync from the forkless snapshot engine, streamed to the replica's socket
//! (`$EOF:<mark>` framing when the replica has `capa eof`, `$<size>`
//! otherwise), then the replication stream from the backlog.
//!
//! ```text
//!   shard: PSYNC -> client.handoff; replies drained; receive cancelled;
//!          the socket (not closed) goes to serve()
//!   sender thread: the cut (backlog offset read while every stripe is
//!          held), +FULLRESYNC <replid> <offset>, payload, then the backlog
//!          from <offset> (after the first ACK for $EOF:), PING every 10 s
//!          through the backlog; ACKs read on a second thread
//! ```
//!
//! Not yet (issue 5): partial resync (+CONTINUE), WAIT, min-replicas,
//! output-buffer limits beyond the ring's size (a replica that falls out
//! of the ring is dropped and full-syncs again).

use crate::server::persist::{write_image, SyncCut};
use crate::server::Server;
use parking_lot::Mutex;
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

/// One attached replica, for INFO.
pub struct Replica {
    pub ip: String,
    pub port: u16,
    state: AtomicU8,
    /// The last offset it acknowledged.
    pub ack_offset: AtomicU64,
}

impl Replica {
    pub fn state(&self) -> ReplicaState {
        match self.state.load(Ordering::Acquire) {
            0 => ReplicaState::WaitBgsave,
            1 => ReplicaState::SendBulk,
            _ => ReplicaState::Online,
        }
    }

    fn set_state(&self, state: ReplicaState) {
        self.state.store(state as u8, Ordering::Release);
    }
}

/// The attached replicas.
#[derive(Default)]
pub struct Replicas {
    list: Mutex<Vec<Arc<Replica>>>,
}

impl Replicas {
    pub fn snapshot(&self) -> Vec<Arc<Replica>> {
        self.list.lock().clone()
    }
}

/// A PSYNC or SYNC to serve.
pub struct Request {
    pub conf: ReplConf,
    /// Legacy SYNC: no `+FULLRESYNC` line.
    pub legacy: bool,
    /// The peer's address (`ip:port` of the connection).
    pub peer: String,
}

/// Serves `request` on `fd` from a thread of its own.
pub fn serve(srv: Arc<Server>, fd: OwnedFd, request: Request) {
    let spawned = std::thread::Builder::new()
        .name("repl-sender".into())
        .spawn(move || {
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
            });
            srv.repl.replicas.list.lock().push(Arc::clone(&replica));
            let name = format!("{}:{}", replica.ip, replica.port);
            crate::notice!("Replica {name} asks for synchronization");
            if let Err(e) = run(&srv, TcpStream::from(fd), &request, &replica) {
                crate::warning!("Connection with replica {name} lost: {e}");
            }
            srv.repl
                .replicas
                .list
                .lock()
                .retain(|r| !Arc::ptr_eq(r, &replica));
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

fn run(
    srv: &Server,
    mut sock: TcpStream,
    request: &Request,
    replica: &Replica,
) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    sock.set_nonblocking(false).map_err(io)?;
    let backlog = srv.repl.backlog();
    let replid = srv.run_id.clone();
    let (legacy, eof) = (request.legacy, request.conf.capa_eof);
    let mark = crate::server::random_hex40();
    let fullresync = |offset: u64| format!("+FULLRESYNC {replid} {offset}\r\n");
    let preamble = |offset: u64| {
        let mut bytes = Vec::new();
        if !legacy {
            bytes.extend(fullresync(offset).into_bytes());
        }
        if eof {
            bytes.extend(format!("$EOF:{mark}\r\n").into_bytes());
        }
        bytes
    };
    let cut = SyncCut {
        replid: &replid,
        backlog,
        preamble: &preamble,
    };
    replica.set_state(ReplicaState::SendBulk);
    let started = Instant::now();
    let (mut sock, offset) = if eof {
        let (mut sock, offset) = write_image(srv, sock, None, Some(&cut))?;
        sock.write_all(mark.as_bytes()).map_err(io)?;
        (sock, offset)
    } else {
        // `$<size>` needs the size first: the image is built in memory,
        // behind the preamble (`+FULLRESYNC`, if any).
        let (image, offset) = write_image(srv, Vec::new(), None, Some(&cut))?;
        let pre = if legacy { 0 } else { fullresync(offset).len() };
        sock.write_all(&image[..pre]).map_err(io)?;
        sock.write_all(format!("${}\r\n", image.len() - pre).as_bytes())
            .map_err(io)?;
        sock.write_all(&image[pre..]).map_err(io)?;
        (sock, offset)
    };
    crate::notice!(
        "Synchronization with replica {}:{} succeeded ({:.3} s, offset {offset})",
        replica.ip,
        replica.port,
        started.elapsed().as_secs_f64()
    );
    replica.set_state(ReplicaState::Online);
    replica.ack_offset.store(offset, Ordering::Release);

    // ACKs come in on a reader thread; this one streams the backlog.
    let reader = sock.try_clone().map_err(io)?;
    let closed = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicBool::new(false));
    std::thread::scope(|scope| {
        scope.spawn(|| read_acks(reader, replica, &closed, &acked));
        let result = stream(srv, &mut sock, backlog, offset, eof, &closed, &acked);
        closed.store(true, Ordering::Release);
        let _ = sock.shutdown(std::net::Shutdown::Both);
        result
    })
}

/// Streams the backlog from `offset` until the replica goes away or falls
/// out of the ring. A diskless (`$EOF:`) replica gets nothing until its
/// first ACK: bytes after the mark would hide the mark from it.
fn stream(
    srv: &Server,
    sock: &mut TcpStream,
    backlog: &crate::repl::backlog::Backlog,
    offset: u64,
    eof: bool,
    closed: &AtomicBool,
    acked: &AtomicBool,
) -> Result<(), String> {
    let mut from = offset;
    let mut out = Vec::new();
    loop {
        if closed.load(Ordering::Acquire) {
            return Err("the replica closed the connection".into());
        }
        srv.repl.ping_if_due(crate::server::unix_ms(), 10_000);
        if eof && !acked.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        out.clear();
        match backlog.read(from, 1 << 20, &mut out) {
            Ok(0) => std::thread::sleep(Duration::from_micros(200)),
            Ok(n) => {
                sock.write_all(&out).map_err(|e| e.to_string())?;
                from += n as u64;
            }
            Err(_) => {
                return Err(format!(
                    "the replica fell behind the backlog ({} bytes) at offset {from}",
                    backlog.capacity()
                ))
            }
        }
    }
}

fn read_acks(mut sock: TcpStream, replica: &Replica, closed: &AtomicBool, acked: &AtomicBool) {
    let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !closed.load(Ordering::Acquire) {
        match sock.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if record_acks(&mut buf, replica) {
                    acked.store(true, Ordering::Release);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    closed.store(true, Ordering::Release);
}

/// Takes `REPLCONF ACK <offset>` commands (and keepalive newlines) off
/// `buf`, recording the highest offset; true if there was an ACK.
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
                        replica
                            .ack_offset
                            .fetch_max(u64::try_from(n).unwrap_or(0), Ordering::AcqRel);
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
