//! Replication test helpers: servers set up for replication tests, INFO
//! fields, convergence by digest, a writer in several databases, and
//! [`Proxy`], a loopback TCP relay that stalls or cuts a link on demand.

use super::{info_field, require_bin, wait_until, Client, Reply, Server, Writer, DEBUG_ON};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

pub const LONG: Duration = Duration::from_secs(60);

/// A field of `INFO <section>`.
pub fn info(c: &mut Client, section: &str, field: &str) -> Option<String> {
    let text = c.cmd_str(&["INFO", section]).as_str();
    text.lines().find_map(|l| {
        l.strip_prefix(&format!("{field}:"))
            .map(|v| v.trim().to_string())
    })
}

pub fn stat(c: &mut Client, field: &str) -> i64 {
    info(c, "stats", field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO stats has no {field}"))
}

/// Waits until `r`'s offset is `m`'s and both hold the same data.
pub fn converge(m: &mut Client, r: &mut Client) {
    wait_until("the replica to catch up", LONG, || {
        let want = info_field(m, "master_repl_offset");
        info_field(r, "master_link_status").as_deref() == Some("up")
            && want.is_some()
            && info_field(r, "slave_repl_offset") == want
    });
    assert_eq!(
        r.cmd_str(&["DEBUG", "DIGEST"]),
        m.cmd_str(&["DEBUG", "DIGEST"]),
        "datasets differ at equal offsets"
    );
}

pub fn replicaof(c: &mut Client, master: &Server) {
    assert_eq!(
        c.cmd_str(&["REPLICAOF", "127.0.0.1", &master.port.to_string()]),
        Reply::ok()
    );
}

pub fn fill(c: &mut Client, n: usize) {
    for i in 0..n {
        let i = i.to_string();
        c.cmd_str(&["SET", &format!("k:{i}"), &i]);
        c.cmd_str(&["HSET", &format!("h:{}", i.len()), &i, &i]);
        c.cmd_str(&["RPUSH", "l", &i]);
        // A stream: the one type a live load decodes on the link thread.
        c.cmd_str(&["XADD", "s", "*", "i", &i]);
    }
    c.cmd_str(&["SELECT", "3"]);
    c.cmd_str(&["SET", "three", "3"]);
    c.cmd_str(&["SELECT", "0"]);
}

/// Writes in several databases (the stream's SELECTs must survive cuts).
pub fn writer(port: u16) -> Writer {
    Writer::start(port, |c, n| {
        c.cmd_str(&["SELECT", &(n % 3).to_string()]);
        c.cmd_str(&["INCR", "w"]);
        c.cmd_str(&["SET", &format!("w:{}", n % 300), &n.to_string()]);
        if n % 7 == 0 {
            c.cmd_str(&["MULTI"]);
            c.cmd_str(&["LPUSH", "wl", &n.to_string()]);
            c.cmd_str(&["SELECT", "5"]);
            c.cmd_str(&["INCR", "tx"]);
            c.cmd_str(&["EXEC"]);
        }
    })
}

pub fn redis_or_skip() -> bool {
    require_bin("redis-server").is_some()
}

/// A master that starts a diskless sync at once instead of waiting the
/// default 5 s for more replicas to share it.
pub const NO_DELAY: &[&str] = &["--repl-diskless-sync-delay", "0"];

/// A sluice server that starts a diskless sync at once (as `redis` below;
/// sharing a delayed sync is tested on its own).
pub fn sluice(threads: usize, extra: &[&str]) -> Server {
    let mut args = DEBUG_ON.to_vec();
    args.extend_from_slice(NO_DELAY);
    args.extend_from_slice(extra);
    Server::sluice(threads, &args)
}

pub fn redis(extra: &[&str]) -> Server {
    let mut args = DEBUG_ON.to_vec();
    // A backlog that holds the writers' output across a reconnection.
    args.extend_from_slice(&[
        "--repl-diskless-sync-delay",
        "0",
        "--repl-backlog-size",
        "64mb",
    ]);
    args.extend_from_slice(extra);
    Server::redis(&args)
}

/// The writer keeps going; wait for the link, not for equal offsets.
pub fn link_up(r: &mut Client) {
    wait_until("the replica to sync", LONG, || {
        info_field(r, "master_link_status").as_deref() == Some("up")
    });
}

/// `r` replicates `master` (client `m`) while a writer runs through the
/// sync; then both converge.
pub fn sync_under_writes(master: &Server, m: &mut Client, r: &mut Client) {
    let w = writer(master.port);
    replicaof(r, master);
    link_up(r);
    w.stop();
    converge(m, r);
}

/// A loopback relay between a replica and its master. The downstream
/// direction (master to replica) can be stalled once it has carried a
/// given number of bytes, and resumed; [`Proxy::cut`] closes every link
/// it relays (new connections are relayed again).
pub struct Proxy {
    pub port: u16,
    state: Arc<ProxyState>,
}

struct ProxyState {
    /// Downstream bytes relayed so far, over all connections.
    down: AtomicU64,
    /// Stall downstream once `down` reaches this (u64::MAX: never).
    stall_at: Mutex<u64>,
    resumed: Condvar,
    /// Open sockets, shut down by `cut`.
    socks: Mutex<Vec<TcpStream>>,
    closed: AtomicBool,
}

impl Proxy {
    pub fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        let port = listener.local_addr().expect("proxy addr").port();
        let state = Arc::new(ProxyState {
            down: AtomicU64::new(0),
            stall_at: Mutex::new(u64::MAX),
            resumed: Condvar::new(),
            socks: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        });
        let st = Arc::clone(&state);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.closed.load(Ordering::Acquire) {
                    return;
                }
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                {
                    let mut socks = st.socks.lock().unwrap();
                    for s in [&client, &server] {
                        if let Ok(c) = s.try_clone() {
                            socks.push(c);
                        }
                    }
                }
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let up = Arc::clone(&st);
                std::thread::spawn(move || pump(client, server, &up, false));
                let down = Arc::clone(&st);
                std::thread::spawn(move || pump(s2, c2, &down, true));
            }
        });
        Proxy { port, state }
    }

    /// Downstream stalls once it has relayed `bytes` in all.
    pub fn stall_after(&self, bytes: u64) {
        *self.state.stall_at.lock().unwrap() = bytes;
    }

    pub fn resume(&self) {
        *self.state.stall_at.lock().unwrap() = u64::MAX;
        self.state.resumed.notify_all();
    }

    /// Downstream bytes relayed so far.
    pub fn relayed(&self) -> u64 {
        self.state.down.load(Ordering::Acquire)
    }

    pub fn stalled(&self) -> bool {
        self.relayed() >= *self.state.stall_at.lock().unwrap()
    }

    /// Closes every relayed connection.
    pub fn cut(&self) {
        for s in self.state.socks.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.closed.store(true, Ordering::Release);
        self.resume();
        self.cut();
        // Wakes the accept loop so it sees `closed`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, st: &ProxyState, downstream: bool) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let mut want = buf.len();
        if downstream {
            let mut at = st.stall_at.lock().unwrap();
            loop {
                let done = st.down.load(Ordering::Acquire);
                if done < *at || st.closed.load(Ordering::Acquire) {
                    want = want.min(usize::try_from(*at - done).unwrap_or(usize::MAX));
                    break;
                }
                at = st.resumed.wait(at).unwrap();
            }
        }
        let n = match from.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if downstream {
            st.down.fetch_add(n as u64, Ordering::AcqRel);
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
