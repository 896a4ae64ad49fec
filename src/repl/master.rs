//! The master's side of a replica link, first step: PSYNC/SYNC answered
//! with a full sync from the forkless snapshot engine, streamed to the
//! replica's socket (`$EOF:<mark>` framing when the replica has `capa eof`,
//! `$<size>` otherwise), then kept alive with PINGs.
//!
//! ```text
//!   shard: PSYNC -> client.handoff; replies drained; receive cancelled;
//!          the socket (not closed) goes to serve()
//!   sender thread: +FULLRESYNC <replid> 0, payload, then PING every
//!          repl-ping-replica-period; REPLCONF ACKs read and recorded
//! ```
//!
//! Not yet (issue 5): the backlog fed by every write and the command stream
//! after the payload, partial resync, WAIT. Until then the offset is 0 and
//! writes after the cut do not reach the replica.

use crate::server::persist::{write_image, ImageOut};
use crate::server::Server;
use parking_lot::Mutex;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
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

/// An in-memory image, for the `$<size>` framing (the size comes first).
impl ImageOut for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

fn run(
    srv: &Server,
    mut sock: TcpStream,
    request: &Request,
    replica: &Replica,
) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    sock.set_nonblocking(false).map_err(io)?;
    let replid = srv.run_id.clone();
    let offset = 0u64;
    if !request.legacy {
        crate::notice!("Starting a full resync: {replid}:{offset}");
        sock.write_all(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes())
            .map_err(io)?;
    }
    replica.set_state(ReplicaState::SendBulk);
    let started = Instant::now();
    let mut sock = if request.conf.capa_eof {
        let mark = crate::server::random_hex40();
        sock.write_all(format!("$EOF:{mark}\r\n").as_bytes())
            .map_err(io)?;
        let mut sock = write_image(srv, sock, None, Some((&replid, offset)))?;
        sock.write_all(mark.as_bytes()).map_err(io)?;
        sock
    } else {
        let image = write_image(srv, Vec::new(), None, Some((&replid, offset)))?;
        sock.write_all(format!("${}\r\n", image.len()).as_bytes())
            .map_err(io)?;
        sock.write_all(&image).map_err(io)?;
        sock
    };
    crate::notice!(
        "Synchronization with replica {}:{} succeeded ({:.3} s)",
        replica.ip,
        replica.port,
        started.elapsed().as_secs_f64()
    );
    replica.set_state(ReplicaState::Online);
    // Keep the link: PING every period, record ACKs, notice a close.
    let period = Duration::from_secs(10);
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(io)?;
    let mut last_ping = Instant::now();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match sock.read(&mut chunk) {
            Ok(0) => return Err("the replica closed the connection".into()),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                record_acks(&mut buf, replica);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.to_string()),
        }
        if last_ping.elapsed() >= period {
            last_ping = Instant::now();
            sock.write_all(b"*1\r\n$4\r\nPING\r\n").map_err(io)?;
        }
    }
}

/// Takes `REPLCONF ACK <offset>` commands (and keepalive newlines) off
/// `buf`, recording the highest offset.
fn record_acks(buf: &mut Vec<u8>, replica: &Replica) {
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
}
