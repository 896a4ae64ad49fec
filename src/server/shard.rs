//! A shard thread: one pinned thread, one io_uring, its listeners and its
//! connections.
//!
//! Event loop: `submit_and_wait(1)` is the thread's only blocking point;
//! every completion is dispatched by the kind packed in its user_data, then
//! all connections that produced replies are flushed in one batch of send
//! SQEs, submitted together at the top of the next turn.
//!
//! user_data: `kind (8 bits) | generation (24 bits) | slot (32 bits)`. A
//! connection slot is reused only after all its operations completed, and the
//! generation guards against any completion that outlives it anyway.
#![allow(unsafe_code)] // pushing SQEs: the kernel borrows the buffers named in them.

use super::conn::{Conn, ConnLimits};
use super::{ClientMeta, Server, ShardHandle, ShardMsg};
use crate::cmd::Client;
use crate::config::Config;
use crate::io::bufring::BufRing;
use crate::io::sys;
use crossbeam_channel::Receiver;
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

const KIND_ACCEPT: u64 = 1;
const KIND_RECV: u64 = 2;
const KIND_SEND: u64 = 3;
const KIND_EVENTFD: u64 = 4;
const KIND_TIMER: u64 = 5;
/// An AsyncCancel's own completion: nothing to do.
const KIND_CANCEL: u64 = 6;
/// A replica's socket became readable while a client here waits in WAIT.
const KIND_ACK_POLL: u64 = 7;
/// How long a shard woken by a replica's ACK yields, waiting for the
/// watcher's message that serves its WAIT client ([`Shard::on_ack_poll`]).
const ACK_GRACE: std::time::Duration = std::time::Duration::from_micros(50);

const RING_ENTRIES: u32 = 1024;
const BUF_GROUP: u16 = 0;
const BUF_COUNT: u16 = 512;
const BUF_LEN: usize = 16 * 1024;
/// Keys with a TTL one round of active expiry looks at before it may stop
/// (expire.c `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
const EXPIRE_ROUND: usize = 20;
/// Stripes an active expiry cycle walks before it may stop while it finds
/// too few keys with a TTL to make a round: every shard's stripes are
/// walked once per STRIPES / (threads x this) ticks (0.8 s at 2 threads,
/// hz 10) instead of every tick, which cost an idle server without TTLs
/// 2.6% of a core.
const EXPIRE_STRIPES: usize = 512;

fn user_data(kind: u64, gen: u32, slot: u32) -> u64 {
    kind << 56 | (u64::from(gen) & 0xff_ffff) << 32 | u64::from(slot)
}

fn split_user_data(ud: u64) -> (u64, u32, u32) {
    (ud >> 56, ((ud >> 32) & 0xff_ffff) as u32, ud as u32)
}

/// Wakes a shard blocked in its ring by bumping its eventfd.
pub fn wake(eventfd: RawFd) {
    sys::eventfd_signal(eventfd);
}

/// What a blocked client gets when its wait ends without being served
/// (blocked.c `replyToBlockedClientTimedOut`).
fn timeout_reply(srv: &Server, on_timeout: &crate::cmd::OnTimeout, resp3: bool) -> Vec<u8> {
    let mut reply = crate::protocol::ReplyBuf {
        buf: Vec::new(),
        resp3,
    };
    match on_timeout {
        crate::cmd::OnTimeout::NullArray => reply.null_array(),
        crate::cmd::OnTimeout::Acks(offset) => reply.int(srv.repl.acked(*offset) as i64),
    }
    reply.buf
}

/// Errors that stop startup, with the cause a person needs.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    IoUring(String),
    #[error("Could not create server TCP listening socket {addr}: {err}")]
    Listen { addr: String, err: std::io::Error },
    #[error("{0}")]
    Other(String),
}

/// Checks that io_uring works here and explains why not (kernel setting,
/// seccomp, old kernel) with the fix.
pub fn check_io_uring() -> Result<(), StartError> {
    match IoUring::new(8) {
        Ok(_) => Ok(()),
        Err(err) => {
            let disabled =
                std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").unwrap_or_default();
            let why = match err.raw_os_error() {
                Some(libc::ENOSYS) => "the kernel has no io_uring (Linux 5.19 or newer is needed), or a seccomp \
                     filter (container runtime) blocks io_uring_setup. Fix: run on Linux >= 5.19 without \
                     a seccomp profile that denies io_uring (docker: --security-opt seccomp=unconfined)"
                    .to_string(),
                Some(libc::EPERM) if disabled.trim() != "0" && !disabled.is_empty() => format!(
                    "kernel.io_uring_disabled = {} forbids io_uring. Fix: sysctl -w kernel.io_uring_disabled=0 \
                     (or add the user to kernel.io_uring_group)",
                    disabled.trim()
                ),
                Some(libc::EPERM) => "io_uring_setup was refused (EPERM): a seccomp filter or LSM policy blocks it. \
                     Fix: allow io_uring_setup/io_uring_enter/io_uring_register for this process"
                    .to_string(),
                Some(libc::ENOMEM) => "io_uring_setup failed with ENOMEM: RLIMIT_MEMLOCK is too low for the ring. \
                     Fix: ulimit -l unlimited (see tuning/limits-sluice.conf)"
                    .to_string(),
                _ => format!("io_uring_setup failed: {err}"),
            };
            Err(StartError::IoUring(format!(
                "io_uring is unavailable: {why}"
            )))
        }
    }
}

/// Starts the server and blocks until it shuts down.
pub fn start(
    config: Config,
    config_file: Option<std::path::PathBuf>,
    duties: super::process::Duties,
) -> Result<(), StartError> {
    check_io_uring()?;
    let cpus = config.server_cpu_list.clone().unwrap_or_default();
    let threads = if config.server_threads > 0 {
        config.server_threads
    } else {
        core_affinity::get_core_ids().map_or(1, |ids| ids.len().max(1))
    };
    let mut listeners = bind_listeners(&config, threads)?;
    let unixsocket = config.unixsocket.clone();
    if let Some(path) = &unixsocket {
        let socket = bind_unix(path, config.unixsocketperm, config.tcp_backlog)?;
        // Every shard accepts on it (one socket, each ring's own accept):
        // the kernel hands each connection to one of them.
        for shard in listeners.iter_mut() {
            let clone = socket.try_clone().map_err(|err| StartError::Listen {
                addr: path.clone(),
                err,
            })?;
            shard.push(clone);
        }
    }
    sys::block_signals();
    let srv = Arc::new(Server::new(config, config_file, threads));
    srv.set_arc();
    let _ = srv.process_supervised.set(duties.supervised());
    srv.refresh_cached_config();
    let repl = super::persist::load(&srv).map_err(StartError::Other)?;
    let master = srv.config.read().replicaof.clone();
    if let (None, Some(r)) = (&master, &repl) {
        // A master keeps its old history as the secondary ID: its
        // replicas continue by partial resync (Redis 7.0).
        srv.repl
            .restore_as_master(r, srv.config.read().repl_backlog_size);
    }
    if let Some((host, port)) = master {
        crate::notice!("Replicating from {host}:{port} (replicaof)");
        // The RDB's replication position makes a cached master: the
        // restarted replica asks to continue from it (rdb.c `rsi`).
        let cached = repl.map(|r| {
            crate::notice!(
                "Using the RDB's replication ID {} and offset {} to continue",
                r.replid,
                r.offset
            );
            srv.repl.restore(&r);
            (r.replid, r.offset)
        });
        srv.repl.set_master(Some(crate::repl::replica::Link::start(
            srv.clone(),
            host,
            port,
            cached,
            false,
        )));
    }
    let mut handles = Vec::with_capacity(threads);
    let mut receivers = Vec::with_capacity(threads);
    for _ in 0..threads {
        let (tx, rx) = crossbeam_channel::unbounded();
        let eventfd = sys::eventfd().map_err(|e| StartError::Other(format!("eventfd: {e}")))?;
        handles.push(ShardHandle {
            tx,
            eventfd,
            index: handles.len(),
        });
        receivers.push(rx);
    }
    let eventfds: Vec<RawFd> = handles.iter().map(|h| h.eventfd).collect();
    let _ = srv.shards.set(handles);
    crate::notice!("Server initialized");
    sys::save_process_cpus();
    let mut joins = Vec::new();
    let ready = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    for (id, (rx, listeners)) in receivers.into_iter().zip(listeners).enumerate() {
        let srv = srv.clone();
        let cpu = if cpus.is_empty() {
            None
        } else {
            Some(cpus[id % cpus.len()])
        };
        let eventfd = eventfds[id];
        let ready = ready.clone();
        let failed = failed.clone();
        let join = std::thread::Builder::new()
            .name(format!("shard-{id}"))
            .spawn(move || {
                if let Some(cpu) = cpu {
                    core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
                }
                match Shard::new(id, srv, listeners, rx, eventfd) {
                    Ok(mut shard) => {
                        ready.fetch_add(1, Ordering::Release);
                        // Serve once every shard is set up: a shard still
                        // allocating its buffers (8 MiB) made the first
                        // client's INFO used_memory, and maxmemory, jump.
                        while ready.load(Ordering::Acquire) < threads
                            && !failed.load(Ordering::Acquire)
                        {
                            std::thread::sleep(std::time::Duration::from_millis(1));
                        }
                        shard.run();
                    }
                    Err(err) => {
                        crate::warning!("shard {id}: cannot set up io_uring: {err}");
                        failed.store(true, Ordering::Release);
                        sys::raise_sigterm();
                    }
                }
            })
            .map_err(|e| StartError::Other(format!("spawning shard thread: {e}")))?;
        joins.push(join);
    }
    let port = srv.tcp_port;
    crate::notice!("Ready to accept connections tcp (port {port}, {threads} shard threads)");
    if let Some(path) = &unixsocket {
        crate::notice!("The server is now ready to accept connections at {path}");
    }
    duties.ready(srv.repl.is_replica());
    loop {
        let sig = sys::wait_signal();
        let requested = srv.shutdown.lock().take();
        match requested {
            Some(mode) => crate::warning!("User requested shutdown... ({mode:?})"),
            None if sig == libc::SIGINT => {
                crate::warning!("Received SIGINT scheduling shutdown...")
            }
            None => crate::warning!("Received SIGTERM scheduling shutdown..."),
        }
        // A signal saves when save points exist (SHUTDOWN saved already).
        if requested.is_some() || srv.config.read().save.is_empty() {
            break;
        }
        crate::notice!("Saving the final RDB snapshot before exiting.");
        match super::persist::save(&srv) {
            Ok(_) => break,
            Err(_) => crate::warning!("Error trying to save the DB, can't exit."),
        }
    }
    duties.stopping();
    srv.shutting_down.store(true, Ordering::Release);
    for handle in srv.shard_handles() {
        handle.send(ShardMsg::Shutdown);
    }
    for join in joins {
        let _ = join.join();
    }
    if failed.load(Ordering::Acquire) {
        return Err(StartError::IoUring(
            "a shard could not start its io_uring".into(),
        ));
    }
    if let Some(path) = &unixsocket {
        crate::notice!("Removing the unix socket file.");
        let _ = std::fs::remove_file(path);
    }
    duties.end();
    crate::warning!("sluice is now ready to exit, bye bye...");
    Ok(())
}

/// One SO_REUSEPORT listener per bind address per shard; the kernel spreads
/// connections across them.
fn bind_listeners(
    config: &Config,
    threads: usize,
) -> Result<Vec<Vec<socket2::Socket>>, StartError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let mut per_shard: Vec<Vec<Socket>> = (0..threads).map(|_| Vec::new()).collect();
    if config.port == 0 {
        return Ok(per_shard);
    }
    for bind in &config.bind {
        let (optional, host) = match bind.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, bind.as_str()),
        };
        let ip: std::net::IpAddr = match host {
            "*" => std::net::Ipv4Addr::UNSPECIFIED.into(),
            "::*" => std::net::Ipv6Addr::UNSPECIFIED.into(),
            other => match other.parse() {
                Ok(ip) => ip,
                Err(_) => {
                    return Err(StartError::Listen {
                        addr: format!("{other}:{}", config.port),
                        err: std::io::Error::new(
                            std::io::ErrorKind::InvalidInput,
                            "not an IP address",
                        ),
                    })
                }
            },
        };
        let addr = std::net::SocketAddr::new(ip, config.port);
        for shard in per_shard.iter_mut() {
            let made = (|| {
                let socket =
                    Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
                if ip.is_ipv6() {
                    socket.set_only_v6(true)?;
                }
                socket.set_reuse_address(true)?;
                socket.set_reuse_port(true)?;
                socket.set_nodelay(true)?;
                socket.set_nonblocking(true)?;
                socket.bind(&addr.into())?;
                socket.listen(config.tcp_backlog)?;
                Ok::<_, std::io::Error>(socket)
            })();
            match made {
                Ok(socket) => shard.push(socket),
                Err(err) if optional => {
                    crate::notice!("Skipping optional bind address {host}: {err}");
                    break;
                }
                Err(err) => {
                    return Err(StartError::Listen {
                        addr: addr.to_string(),
                        err,
                    })
                }
            }
        }
    }
    Ok(per_shard)
}

/// The `unixsocket` listener (anet.c `anetUnixServer`): a stale socket
/// file is replaced, and `perm` (when not 0) sets its mode.
fn bind_unix(path: &str, perm: u32, backlog: i32) -> Result<socket2::Socket, StartError> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let failed = |err| StartError::Listen {
        addr: path.to_string(),
        err,
    };
    let _ = std::fs::remove_file(path);
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(failed)?;
    socket.set_nonblocking(true).map_err(failed)?;
    socket
        .bind(&SockAddr::unix(path).map_err(failed)?)
        .map_err(failed)?;
    socket.listen(backlog).map_err(failed)?;
    if perm != 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm)).map_err(failed)?;
    }
    Ok(socket)
}

struct Shard {
    // Field order matters: the ring drops (and unregisters the buffer ring)
    // before `bufring` frees its memory.
    ring: IoUring,
    bufring: Option<BufRing>,
    id: usize,
    srv: Arc<Server>,
    listeners: Vec<socket2::Socket>,
    /// Which listener is the `unixsocket` one, and its path.
    unix_listener: Option<(usize, String)>,
    conns: Vec<Option<Conn>>,
    free: Vec<u32>,
    gens: Vec<u32>,
    rx: Receiver<ShardMsg>,
    eventfd: RawFd,
    eventfd_buf: Box<[u8; 8]>,
    timer: Box<types::Timespec>,
    monitors: Vec<u32>,
    /// Client id -> connection slot, for messages addressed by id.
    by_id: hashbrown::HashMap<u64, u32>,
    limits: ConnLimits,
    config_gen: u64,
    timeout_s: u64,
    tcp_keepalive: u32,
    maxclients: usize,
    protected: bool,
    hz: u32,
    /// Connections with replies to flush after this batch of completions.
    dirty: Vec<u32>,
    stopping: bool,
    /// Kernel feature fallbacks, switched off on the first EINVAL.
    accept_multishot: bool,
    recv_multishot: bool,
    /// Listeners whose accept failed (EMFILE...): re-armed by the timer.
    accept_paused: Vec<usize>,
    expire_cursor: usize,
    cqes: Vec<(u64, i32, u32)>,
    net_in: u64,
    net_out: u64,
    /// Replica sockets with a poll armed for a WAIT
    /// ([`Shard::arm_ack_polls`]).
    ack_polled: Vec<RawFd>,
}

impl Shard {
    fn new(
        id: usize,
        srv: Arc<Server>,
        listeners: Vec<socket2::Socket>,
        rx: Receiver<ShardMsg>,
        eventfd: RawFd,
    ) -> std::io::Result<Shard> {
        // Built on the shard's own thread: SINGLE_ISSUER binds the ring to its
        // creator, and DEFER_TASKRUN runs completions only inside our wait.
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_cqsize(RING_ENTRIES * 8)
            .build(RING_ENTRIES)
            .or_else(|_| {
                IoUring::builder()
                    .setup_cqsize(RING_ENTRIES * 8)
                    .build(RING_ENTRIES)
            })?;
        // SLUICE_PLAIN_RECV forces the fallback for kernels without buffer
        // rings (< 5.19), so tests cover that path on any kernel.
        let registered = if std::env::var_os("SLUICE_PLAIN_RECV").is_some() {
            Err(std::io::Error::other("disabled by SLUICE_PLAIN_RECV"))
        } else {
            BufRing::register(&ring.submitter(), BUF_GROUP, BUF_COUNT, BUF_LEN)
        };
        let bufring = match registered {
            Ok(b) => Some(b),
            Err(err) => {
                crate::notice!(
                    "shard {id}: provided buffer rings unavailable ({err}); using plain receives"
                );
                None
            }
        };
        let unix_listener = listeners.iter().enumerate().find_map(|(i, l)| {
            let addr = l.local_addr().ok()?;
            let path = addr.as_pathname()?;
            Some((i, path.display().to_string()))
        });
        let mut shard = Shard {
            ring,
            bufring,
            id,
            srv,
            listeners,
            unix_listener,
            conns: Vec::new(),
            free: Vec::new(),
            gens: Vec::new(),
            rx,
            eventfd,
            eventfd_buf: Box::new([0; 8]),
            timer: Box::new(types::Timespec::new()),
            monitors: Vec::new(),
            by_id: hashbrown::HashMap::new(),
            limits: ConnLimits {
                proto_max_bulk_len: 0,
                query_buffer_limit: 0,
                auth_required: false,
                output_limits: [crate::config::OutputBufferLimit {
                    hard: 0,
                    soft: 0,
                    soft_seconds: 0,
                }; 2],
            },
            config_gen: u64::MAX,
            timeout_s: 0,
            tcp_keepalive: 0,
            maxclients: 0,
            protected: false,
            hz: 10,
            dirty: Vec::new(),
            stopping: false,
            accept_multishot: true,
            recv_multishot: true,
            accept_paused: Vec::new(),
            expire_cursor: 0,
            cqes: Vec::with_capacity(RING_ENTRIES as usize),
            net_in: 0,
            net_out: 0,
            ack_polled: Vec::new(),
        };
        shard.refresh_config();
        for i in 0..shard.listeners.len() {
            shard.arm_accept(i);
        }
        shard.arm_eventfd();
        shard.arm_timer();
        Ok(shard)
    }

    fn refresh_config(&mut self) {
        let gen = self.srv.config_gen.load(Ordering::Acquire);
        if gen == self.config_gen {
            return;
        }
        self.config_gen = gen;
        let c = self.srv.config.read();
        self.limits = ConnLimits {
            proto_max_bulk_len: c.proto_max_bulk_len,
            query_buffer_limit: c.client_query_buffer_limit,
            auth_required: c.requirepass.is_some(),
            output_limits: [
                c.client_output_buffer_limit[crate::config::OBUF_NORMAL],
                c.client_output_buffer_limit[crate::config::OBUF_PUBSUB],
            ],
        };
        self.timeout_s = c.timeout;
        self.tcp_keepalive = c.tcp_keepalive;
        self.maxclients = c.maxclients as usize;
        let default_bind = c.bind.iter().any(|b| b == "*" || b == "-::*") && c.bind.len() <= 2;
        self.protected = c.protected_mode && c.requirepass.is_none() && default_bind;
        self.hz = c.hz.clamp(1, 500);
    }

    /// Queues an SQE, submitting first when the queue is full.
    ///
    /// # Safety
    /// Every buffer the entry points to must stay valid and unmoved until its
    /// final completion.
    unsafe fn push(&mut self, sqe: squeue::Entry) {
        loop {
            // SAFETY: forwarded from the caller.
            if unsafe { self.ring.submission().push(&sqe) }.is_ok() {
                return;
            }
            if let Err(err) = self.ring.submit() {
                if err.raw_os_error() != Some(libc::EBUSY) {
                    crate::warning!("shard {}: io_uring submit failed: {err}", self.id);
                }
                self.drain_completions();
            }
        }
    }

    fn arm_accept(&mut self, listener: usize) {
        let fd = types::Fd(self.listeners[listener].as_raw_fd());
        let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        let sqe = if self.accept_multishot {
            opcode::AcceptMulti::new(fd).flags(flags).build()
        } else {
            opcode::Accept::new(fd, std::ptr::null_mut(), std::ptr::null_mut())
                .flags(flags)
                .build()
        };
        let sqe = sqe.user_data(user_data(KIND_ACCEPT, 0, listener as u32));
        // SAFETY: accept SQEs here name no buffers (null address pointers).
        unsafe { self.push(sqe) };
    }

    fn arm_eventfd(&mut self) {
        let sqe = opcode::Read::new(types::Fd(self.eventfd), self.eventfd_buf.as_mut_ptr(), 8)
            .build()
            .user_data(user_data(KIND_EVENTFD, 0, 0));
        // SAFETY: eventfd_buf is boxed (stable address) and lives as long as the ring.
        unsafe { self.push(sqe) };
    }

    fn arm_timer(&mut self) {
        let period_ns = 1_000_000_000 / u64::from(self.hz);
        *self.timer = types::Timespec::new()
            .sec(period_ns / 1_000_000_000)
            .nsec((period_ns % 1_000_000_000) as u32);
        let sqe = opcode::Timeout::new(&*self.timer as *const types::Timespec)
            .build()
            .user_data(user_data(KIND_TIMER, 0, 0));
        // SAFETY: the timespec is boxed and lives as long as the ring; the
        // kernel copies it at submission anyway.
        unsafe { self.push(sqe) };
    }

    fn arm_recv(&mut self, slot: u32) {
        let Some(conn) = self.conns[slot as usize].as_mut() else {
            return;
        };
        if conn.recv_armed || conn.closing {
            return;
        }
        conn.recv_armed = true;
        let ud = user_data(KIND_RECV, conn.gen, slot);
        let fd = types::Fd(conn.fd);
        let sqe = match self.bufring.as_ref().filter(|_| self.recv_multishot) {
            Some(ring) => opcode::RecvMulti::new(fd, ring.bgid).build().user_data(ud),
            None => {
                let buf = conn
                    .recv_buf
                    .get_or_insert_with(|| vec![0u8; BUF_LEN].into_boxed_slice());
                opcode::Recv::new(fd, buf.as_mut_ptr(), buf.len() as u32)
                    .build()
                    .user_data(ud)
            }
        };
        // SAFETY: buffer-ring receives name kernel-owned buffers; the plain
        // receive buffer is boxed in the connection, which is kept until
        // `recv_armed` clears (see `maybe_free`).
        unsafe { self.push(sqe) };
    }

    fn flush(&mut self, slot: u32) {
        let Some(conn) = self.conns[slot as usize].as_mut() else {
            return;
        };
        if !conn.wants_send() {
            return;
        }
        let ud = user_data(KIND_SEND, conn.gen, slot);
        let fd = conn.fd;
        let data = conn.next_send();
        let (ptr, len) = (data.as_ptr(), data.len().min(u32::MAX as usize) as u32);
        conn.send_inflight = true;
        let sqe = opcode::Send::new(types::Fd(fd), ptr, len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(ud);
        // SAFETY: `sending` is not touched while send_inflight, and the
        // connection is not freed until the send completes.
        unsafe { self.push(sqe) };
    }

    fn run(&mut self) {
        crate::server::defer_sends(self.srv.threads);
        loop {
            self.arm_ack_polls();
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(err) if err.raw_os_error() == Some(libc::EINTR) => {}
                Err(err) if err.raw_os_error() == Some(libc::EBUSY) => {}
                Err(err) => {
                    crate::warning!("shard {}: io_uring wait failed: {err}", self.id);
                    return;
                }
            }
            self.drain_completions();
            // The writes of this round go to the replicas in one wake-up.
            self.srv.repl.notify_fed();
            self.refresh_config();
            // What this round sent other shards goes in one wake-up each
            // (its own share handled here); closing a client may send more.
            loop {
                self.send_deferred();
                while let Some(slot) = self.dirty.pop() {
                    self.enforce_output_limit(slot);
                    self.flush(slot);
                    self.maybe_free(slot);
                }
                if !crate::server::has_deferred() {
                    break;
                }
            }
            self.flush_net_stats();
            if self.stopping && self.conns.iter().all(Option::is_none) {
                return;
            }
        }
    }

    fn drain_completions(&mut self) {
        let mut cqes = std::mem::take(&mut self.cqes);
        cqes.extend(
            self.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for (ud, res, flags) in cqes.drain(..) {
            let (kind, gen, slot) = split_user_data(ud);
            match kind {
                KIND_ACCEPT => self.on_accept(slot as usize, res, flags),
                KIND_RECV => self.on_recv(slot, gen, res, flags),
                KIND_SEND => self.on_send(slot, gen, res),
                KIND_EVENTFD => self.on_eventfd(),
                KIND_TIMER => self.on_timer(),
                KIND_CANCEL => {}
                KIND_ACK_POLL => self.on_ack_poll(slot as RawFd),
                _ => unreachable!("unknown completion kind {kind}"),
            }
        }
        self.cqes = cqes;
    }

    fn on_accept(&mut self, listener: usize, res: i32, flags: u32) {
        let armed = cqueue::more(flags);
        if res == -libc::EINVAL && self.accept_multishot {
            // Multishot accept needs Linux 5.19: fall back to one accept SQE
            // per connection.
            crate::notice!(
                "shard {}: multishot accept unavailable; using single accepts",
                self.id
            );
            self.accept_multishot = false;
            self.arm_accept(listener);
            return;
        }
        if res < 0 {
            // EMFILE/ENFILE/ENOBUFS/ENOMEM: the connection stays queued in
            // the kernel. Retrying at once would spin on the same error, so
            // the timer re-arms this listener on its next tick.
            crate::warning!(
                "Accepting client connection: {}",
                std::io::Error::from_raw_os_error(-res)
            );
            if !armed {
                self.accept_paused.push(listener);
            }
            return;
        }
        if !armed && !self.stopping {
            self.arm_accept(listener);
        }
        let fd = res as RawFd;
        if self.stopping {
            sys::close(fd);
            return;
        }
        let unix = match &self.unix_listener {
            Some((i, path)) if *i == listener => Some(format!("{path}:0")),
            _ => None,
        };
        self.accept_conn(fd, unix);
    }

    /// Serves a new connection; `unix` names a Unix socket client as Redis
    /// does (`path:0` for both ends), which protected mode lets in.
    fn accept_conn(&mut self, fd: RawFd, unix: Option<String>) {
        let srv = self.srv.clone();
        let peer = sys::peer_addr(fd);
        let local = unix.is_some() || peer.is_some_and(|p| p.ip().is_loopback());
        let (addr, laddr) = match unix {
            Some(name) => (name.clone(), name),
            None => (
                peer.map_or_else(|| "?:0".to_string(), |a| a.to_string()),
                sys::local_addr(fd).map_or_else(|| "?:0".to_string(), |a| a.to_string()),
            ),
        };
        self.metrics_connection(false);
        if srv.connected.load(Ordering::Relaxed) >= self.maxclients {
            sys::write_nonblocking(fd, b"-ERR max number of clients reached\r\n");
            sys::close(fd);
            self.metrics_connection(true);
            return;
        }
        if self.protected && !local {
            sys::write_nonblocking(fd, PROTECTED_MODE_DENIED.as_bytes());
            sys::close(fd);
            self.metrics_connection(true);
            return;
        }
        let _ = sys::set_nodelay(fd);
        if self.tcp_keepalive > 0 {
            let _ = sys::set_keepalive(fd, self.tcp_keepalive);
        }
        srv.connected.fetch_add(1, Ordering::Relaxed);
        let id = srv.next_client_id();
        let meta = Arc::new(ClientMeta::new(id, self.id, fd, addr, laddr, srv.now_ms()));
        srv.clients.lock().insert(id, meta.clone());
        let client = Client::new(meta, !self.limits.auth_required);
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.conns.push(None);
                self.gens.push(0);
                (self.conns.len() - 1) as u32
            }
        };
        let gen = self.gens[slot as usize];
        self.conns[slot as usize] = Some(Conn::new(fd, gen, client));
        self.by_id.insert(id, slot);
        self.arm_recv(slot);
    }

    fn metrics_connection(&self, rejected: bool) {
        let mut m = self.srv.metrics[self.id].lock();
        if rejected {
            m.rejected_connections += 1;
        } else {
            m.connections += 1;
        }
    }

    fn conn_mut(&mut self, slot: u32, gen: u32) -> Option<&mut Conn> {
        self.conns
            .get_mut(slot as usize)?
            .as_mut()
            .filter(|c| c.gen == gen)
    }

    fn on_recv(&mut self, slot: u32, gen: u32, res: i32, flags: u32) {
        let bid = cqueue::buffer_select(flags);
        let more = cqueue::more(flags);
        let Some(conn) = self
            .conns
            .get_mut(slot as usize)
            .and_then(Option::as_mut)
            .filter(|c| c.gen == gen)
        else {
            if let (Some(bid), Some(ring)) = (bid, self.bufring.as_mut()) {
                ring.recycle(bid);
            }
            return;
        };
        if !more {
            conn.recv_armed = false;
        }
        if res == -libc::EINVAL && bid.is_none() && self.recv_multishot && !conn.closing {
            // Multishot receive needs Linux 6.0 (buffer rings alone are
            // 5.19): use plain receives from now on. The buffer ring stays
            // registered but unused.
            crate::notice!(
                "shard {}: multishot receive unavailable; using plain receives",
                self.id
            );
            self.recv_multishot = false;
            self.arm_recv(slot);
            return;
        }
        if res <= 0 {
            match -res {
                libc::ENOBUFS => {
                    // The buffer ring ran dry: buffers come back as soon as
                    // their bytes are copied, so just re-arm.
                }
                0 => conn.closing = true,
                libc::ECANCELED => {}
                errno => {
                    crate::verbose!(
                        "Reading from client: {}",
                        std::io::Error::from_raw_os_error(errno)
                    );
                    conn.closing = true;
                }
            }
        } else {
            let len = res as usize;
            match (bid, self.bufring.as_mut()) {
                (Some(bid), Some(ring)) => {
                    conn.inbuf.extend_from_slice(ring.buffer(bid, len));
                    ring.recycle(bid);
                }
                _ => {
                    if let Some(buf) = conn.recv_buf.as_ref() {
                        conn.inbuf.extend_from_slice(&buf[..len.min(buf.len())]);
                    }
                }
            }
            self.net_in += len as u64;
            let srv = self.srv.clone();
            let limits = self.limits;
            let conn = self.conns[slot as usize].as_mut().expect("checked above");
            conn.process_input(&srv, self.id, &limits);
            if conn.client.close_after_reply || conn.client.meta.killed.load(Ordering::Relaxed) {
                // Stop reading; close once the replies are out.
                conn.client.close_after_reply = true;
            }
            self.after_command(slot);
        }
        let conn = self.conns[slot as usize].as_mut().expect("checked above");
        if !conn.recv_armed && !conn.closing && !conn.client.close_after_reply {
            self.arm_recv(slot);
        }
        self.dirty.push(slot);
    }

    /// Closes a client whose pending output passed its
    /// `client-output-buffer-limit` (networking.c
    /// `closeClientOnOutputBufferLimitReached`), dropping that output: a
    /// subscriber that stops reading cannot grow the server's memory
    /// without bound. Replica links are limited by their own sender.
    fn enforce_output_limit(&mut self, slot: u32) {
        let (srv, limits) = (&self.srv, &self.limits);
        let Some(conn) = self.conns[slot as usize].as_mut() else {
            return;
        };
        if conn.closing
            || conn.client.handoff.is_some()
            || !conn.over_output_limit(limits, || srv.now_ms() / 1000)
        {
            return;
        }
        crate::warning!(
            "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
            conn.client.id,
            conn.client.meta.addr
        );
        conn.out.buf = Vec::new();
        conn.closing = true;
    }

    /// Connection-level effects of the commands just run (MONITOR).
    fn after_command(&mut self, slot: u32) {
        let Some(conn) = self.conns[slot as usize].as_mut() else {
            return;
        };
        if conn.client.monitor && !conn.client.meta.monitor.swap(true, Ordering::Relaxed) {
            self.monitors.push(slot);
            self.srv.monitors.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn on_send(&mut self, slot: u32, gen: u32, res: i32) {
        let Some(conn) = self.conn_mut(slot, gen) else {
            return;
        };
        conn.send_inflight = false;
        if res < 0 {
            if -res != libc::ECANCELED {
                crate::verbose!(
                    "Error writing to client: {}",
                    std::io::Error::from_raw_os_error(-res)
                );
            }
            conn.closing = true;
            conn.sending.clear();
            conn.sent = 0;
        } else {
            conn.sent += res as usize;
            self.net_out += res as u64;
        }
        self.dirty.push(slot);
    }

    /// Closes and frees a connection once it is done: closing with nothing
    /// in flight, or closing-after-reply with every reply written.
    fn maybe_free(&mut self, slot: u32) {
        let Some(conn) = self.conns[slot as usize].as_mut() else {
            return;
        };
        if conn.client.close_after_reply && conn.drained() {
            conn.closing = true;
        }
        if !conn.closing {
            return;
        }
        if conn.client.handoff.is_some() && (conn.recv_armed || conn.send_inflight) {
            // The socket lives on elsewhere: cancel the receive instead of
            // shutting the socket down, and wait for both completions.
            if conn.recv_armed && !conn.cancel_sent {
                conn.cancel_sent = true;
                let target = user_data(KIND_RECV, conn.gen, slot);
                let sqe = opcode::AsyncCancel::new(target)
                    .build()
                    .user_data(user_data(KIND_CANCEL, conn.gen, slot));
                // SAFETY: a cancel names no buffers.
                unsafe { self.push(sqe) };
            }
            return;
        }
        if conn.recv_armed || conn.send_inflight {
            // Wake the multishot receive (it completes with 0) and any send.
            // SAFETY-free: shutdown(2) on our own fd.
            let _ = socket2::SockRef::from(&BorrowedFd(conn.fd)).shutdown(std::net::Shutdown::Both);
            return;
        }
        let mut conn = self.conns[slot as usize].take().expect("checked above");
        match conn.client.handoff.take() {
            // SAFETY: the fd is this connection's own, open, and from here
            // on owned by the new owner only (the slot is freed below and
            // nothing else closes it).
            Some(handoff) => handoff(unsafe { std::os::fd::OwnedFd::from_raw_fd(conn.fd) }),
            None => sys::close(conn.fd),
        }
        self.gens[slot as usize] = (self.gens[slot as usize] + 1) & 0xff_ffff;
        self.free.push(slot);
        if conn.client.meta.monitor.load(Ordering::Relaxed) {
            self.monitors.retain(|&s| s != slot);
            self.srv.monitors.fetch_sub(1, Ordering::Relaxed);
        }
        crate::cmd::multi::unwatch_all(&self.srv, &mut conn.client);
        crate::cmd::pubsub::forget_client(&self.srv, &conn.client);
        if let Some(blocked) = conn.client.blocked.take() {
            // Pushers skip (and purge) a claimed waiter.
            blocked.waiter.claim();
        }
        self.srv.clients.lock().remove(&conn.client.id);
        self.by_id.remove(&conn.client.id);
        self.srv.connected.fetch_sub(1, Ordering::Relaxed);
    }

    /// With a client of this shard blocked in WAIT, polls the replicas'
    /// sockets: the ACK that serves it wakes this shard together with the
    /// watcher thread that reads it, instead of the watcher waking it once
    /// it has read it (on a VM whose idle vCPUs halt, each wake-up in turn
    /// is tens of microseconds).
    /// A poll stays armed until its socket is readable (or closed), one per
    /// socket: a replica that never answers keeps only its own.
    fn arm_ack_polls(&mut self) {
        if !self.srv.repl.waits_on(self.id) {
            return;
        }
        for fd in self.srv.repl.replicas.stream_fds() {
            if fd < 0 || self.ack_polled.contains(&fd) {
                continue;
            }
            let sqe = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
                .build()
                .user_data(user_data(KIND_ACK_POLL, 0, fd as u32));
            // SAFETY: a poll borrows no buffer. A replica socket closed
            // (and its number reused) before the submit only makes this a
            // poll of another file: a spurious wake-up.
            unsafe { self.push(sqe) };
            self.ack_polled.push(fd);
        }
    }

    /// A replica's socket is readable: its watcher is reading the ACK;
    /// waits briefly for the message that serves this shard's WAIT client.
    fn on_ack_poll(&mut self, fd: RawFd) {
        self.ack_polled.retain(|&f| f != fd);
        let started = Instant::now();
        while self.srv.repl.waits_on(self.id) && started.elapsed() < ACK_GRACE {
            if !self.rx.is_empty() {
                break;
            }
            // The watcher may be waiting for this very CPU.
            std::thread::yield_now();
        }
        self.take_messages();
    }

    fn on_eventfd(&mut self) {
        self.take_messages();
        if !self.stopping {
            self.arm_eventfd();
        }
    }

    /// Serves the messages queued for this shard (the eventfd's read stays
    /// armed: a read that finds none is harmless).
    fn take_messages(&mut self) {
        while let Ok(msg) = self.rx.try_recv() {
            self.handle_msg(msg);
        }
    }

    /// Sends what this round deferred (see `server::defer_sends`) and
    /// handles its own share, until nothing is left (handling may send).
    fn send_deferred(&mut self) {
        loop {
            let own = crate::server::send_deferred(self.srv.shard_handles(), self.id);
            if own.is_empty() {
                return;
            }
            for msg in own {
                self.handle_msg(msg);
            }
        }
    }

    fn handle_msg(&mut self, msg: ShardMsg) {
        match msg {
            ShardMsg::Kill(id) => {
                if let Some(slot) = self.find_client(id) {
                    if let Some(conn) = self.conns[slot as usize].as_mut() {
                        conn.closing = true;
                    }
                    self.dirty.push(slot);
                }
            }
            ShardMsg::Monitor(line) => {
                for i in 0..self.monitors.len() {
                    let slot = self.monitors[i];
                    if let Some(conn) = self.conns[slot as usize].as_mut() {
                        conn.out.buf.extend_from_slice(&line);
                        self.dirty.push(slot);
                    }
                }
            }
            ShardMsg::Shutdown => self.begin_stop(),
            ShardMsg::Unblock { client_id, reply } => {
                let Some(slot) = self.find_client(client_id) else {
                    return;
                };
                let (srv, limits, id) = (self.srv.clone(), self.limits, self.id);
                if let Some(conn) = self.conns[slot as usize].as_mut() {
                    conn.unblock(&srv, id, &limits, &reply);
                    self.dirty.push(slot);
                }
            }
            ShardMsg::Retry { client_id } => {
                let Some(slot) = self.find_client(client_id) else {
                    return;
                };
                let (srv, limits, id) = (self.srv.clone(), self.limits, self.id);
                if let Some(conn) = self.conns[slot as usize].as_mut() {
                    if let Some(blocked) = conn.client.blocked.take() {
                        conn.client.meta.blocked.store(false, Ordering::Relaxed);
                        conn.rerun(&srv, id, &limits, blocked.waiter.argv.clone());
                    }
                    self.dirty.push(slot);
                }
            }
            ShardMsg::Unblocked { client_id, error } => {
                let Some(slot) = self.find_client(client_id) else {
                    return;
                };
                let (srv, limits, id) = (self.srv.clone(), self.limits, self.id);
                if let Some(conn) = self.conns[slot as usize].as_mut() {
                    let Some(blocked) = conn.client.blocked.as_ref() else {
                        return;
                    };
                    let reply = if error {
                        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n".to_vec()
                    } else {
                        timeout_reply(&srv, &blocked.on_timeout, conn.client.resp3)
                    };
                    conn.unblock(&srv, id, &limits, &reply);
                    self.dirty.push(slot);
                }
            }
            ShardMsg::Deliver(deliveries) => {
                for (id, pattern, channel, payload) in deliveries.iter() {
                    let Some(slot) = self.find_client(id) else {
                        continue;
                    };
                    if let Some(conn) = self.conns[slot as usize].as_mut() {
                        conn.out.resp3 = conn.client.resp3;
                        crate::cmd::pubsub::write_message(&mut conn.out, pattern, channel, payload);
                        self.dirty.push(slot);
                    }
                }
            }
        }
    }

    fn find_client(&self, id: u64) -> Option<u32> {
        self.by_id.get(&id).copied()
    }

    fn begin_stop(&mut self) {
        self.stopping = true;
        for listener in &self.listeners {
            let _ = listener.shutdown(std::net::Shutdown::Both);
        }
        for slot in 0..self.conns.len() as u32 {
            if let Some(conn) = self.conns[slot as usize].as_mut() {
                conn.closing = true;
                self.dirty.push(slot);
            }
        }
    }

    fn on_timer(&mut self) {
        if self.stopping {
            return;
        }
        self.arm_timer();
        super::refresh_clock_offset();
        for listener in std::mem::take(&mut self.accept_paused) {
            self.arm_accept(listener);
        }
        self.active_expire();
        self.time_out_blocked();
        self.close_idle_clients();
        if self.id == 0 {
            self.sample_ops();
            self.srv.repl.failover_cron(&self.srv);
            self.srv.repl.pause_cron(&self.srv);
            let ttl = self.srv.config.read().repl_backlog_ttl;
            self.srv.repl.backlog_cron(ttl);
            super::persist::cron(&self.srv);
        }
    }

    /// Active expiry (expire.c `activeExpireCycle`, slow cycle): this shard
    /// owns stripes `id, id + threads, ...`; it walks them from a cursor and
    /// stops after 25% of the timer period, as Redis's default effort, or,
    /// as Redis does, as soon as a round of at least [`EXPIRE_ROUND`] keys
    /// with a TTL found no more than 10% of them expired (or, with fewer
    /// keys with a TTL, after [`EXPIRE_STRIPES`] stripes). Without that
    /// stop, a dataset where keys have TTLs but few are due kept every
    /// shard scanning for its whole budget, 25% of a core, forever.
    fn active_expire(&mut self) {
        // A replica waits for its master's DELs (reads hide expired keys).
        // A paused server (FAILOVER) writes nothing either.
        if self.srv.repl.is_replica()
            || self.srv.repl.writes_paused()
            || !self.srv.active_expire.load(Ordering::Relaxed)
        {
            return;
        }
        // No key anywhere has a TTL: nothing to walk for.
        if crate::store::ttl_keys::total() == 0 {
            return;
        }
        let budget = std::time::Duration::from_micros(250_000 / u64::from(self.hz));
        let started = Instant::now();
        let threads = self.srv.threads.max(1);
        let owned = crate::store::STRIPES
            .saturating_sub(self.id)
            .div_ceil(threads);
        if owned == 0 {
            return;
        }
        let now = self.srv.now_ms();
        let mut expired = Vec::new();
        // The current round: keys with a TTL looked at, and how many of
        // them had expired; and the whole cycle's.
        let (mut checked, mut due) = (0usize, 0usize);
        let (mut sampled, mut reclaimed) = (0usize, 0usize);
        let mut capped = false;
        let mut avg_ttl = std::mem::take(&mut self.srv.metrics[self.id].lock().avg_ttl);
        avg_ttl.resize(self.srv.keyspace.databases(), 0);
        let mut scans = Vec::new();
        for visited in 1..=owned {
            let stripe_index = self.id + (self.expire_cursor % owned) * threads;
            self.expire_cursor = self.expire_cursor.wrapping_add(1);
            expired.clear();
            scans.clear();
            let stripe =
                self.srv
                    .keyspace
                    .expire_stripe(stripe_index, now, &mut expired, &mut scans);
            for (db, scan) in scans.iter().enumerate() {
                checked += scan.checked;
                due += scan.expired;
                sampled += scan.checked;
                reclaimed += scan.expired;
                let kept = (scan.checked - scan.expired) as u64;
                if let (Some(avg), Some(ttl)) =
                    (avg_ttl.get_mut(db), scan.ttl_ms_sum.checked_div(kept))
                {
                    // expire.c: a running average, 2% per sample.
                    if *avg == 0 {
                        *avg = ttl;
                    }
                    *avg = (*avg / 50) * 49 + ttl / 50;
                }
            }
            for (db, key) in &expired {
                stripe.touch_watched(*db, key);
                self.srv
                    .notify_key(crate::store::events::EXPIRED, "expired", *db, key);
                // Each as a bare DEL, under the stripe lock (expire.c
                // `activeExpireCycle` propagates without MULTI).
                if self.srv.propagation_enabled() {
                    let del = crate::protocol::Argv::from_slices(&[&b"DEL"[..], key]);
                    self.srv.propagate(vec![(*db, del)]);
                }
            }
            drop(stripe);
            if started.elapsed() > budget {
                capped = true;
                break;
            }
            if checked >= EXPIRE_ROUND {
                if due * 10 <= checked {
                    break;
                }
                (checked, due) = (0, 0);
            } else if visited >= EXPIRE_STRIPES && due * 10 <= checked {
                // Few or no keys with a TTL here: the rest of the walk
                // waits for the next ticks.
                break;
            }
        }
        self.srv
            .latency
            .add_if_needed("expire-cycle", started.elapsed());
        let mut m = self.srv.metrics[self.id].lock();
        m.expired += reclaimed as u64;
        m.expire_cycle_us += started.elapsed().as_micros() as u64;
        m.expire_time_cap_reached += u64::from(capped);
        // expire.c: the stale share estimate, 5% per cycle.
        let current = if sampled > 0 {
            reclaimed as f64 / sampled as f64
        } else {
            0.0
        };
        m.expired_stale_perc = current * 0.05 + m.expired_stale_perc * 0.95;
        m.avg_ttl = avg_ttl;
    }

    /// Replies null to blocked clients whose deadline passed (blocked.c
    /// `handleBlockedClientsTimeout`), unless a pusher claimed them first.
    fn time_out_blocked(&mut self) {
        let now = self.srv.now_ms();
        let (srv, limits, id) = (self.srv.clone(), self.limits, self.id);
        for slot in 0..self.conns.len() as u32 {
            let Some(conn) = self.conns[slot as usize].as_mut() else {
                continue;
            };
            let Some(blocked) = conn.client.blocked.as_ref() else {
                continue;
            };
            if blocked.deadline_ms == 0 || now < blocked.deadline_ms || !blocked.waiter.claim() {
                continue;
            }
            let reply = timeout_reply(&srv, &blocked.on_timeout, conn.client.resp3);
            conn.unblock(&srv, id, &limits, &reply);
            self.dirty.push(slot);
        }
    }

    /// Closes clients idle longer than `timeout` (timeout.c
    /// `clientsCronHandleTimeout`); monitors are exempt.
    fn close_idle_clients(&mut self) {
        let now = self.srv.now_ms();
        for slot in 0..self.conns.len() as u32 {
            let Some(conn) = self.conns[slot as usize].as_mut() else {
                continue;
            };
            if conn.client.meta.killed.load(Ordering::Relaxed) {
                conn.closing = true;
                self.dirty.push(slot);
                continue;
            }
            if self.timeout_s == 0 || conn.client.monitor {
                continue;
            }
            let last = conn.client.meta.last_interaction_ms.load(Ordering::Relaxed);
            if now.saturating_sub(last) / 1000 > self.timeout_s {
                crate::verbose!("Closing idle client");
                conn.closing = true;
                self.dirty.push(slot);
            }
        }
    }

    /// instantaneous_ops_per_sec: a 16-sample ring like server.c `trackInstantaneousMetric`.
    fn sample_ops(&mut self) {
        let commands: u64 = self.srv.metrics.iter().map(|m| m.lock().commands).sum();
        let mut s = self.srv.ops_samples.lock();
        let now = Instant::now();
        if let Some(last) = s.last_at {
            let ms = now.duration_since(last).as_millis().max(1) as u64;
            let ops = commands.saturating_sub(s.last_commands) * 1000 / ms;
            let next = s.next;
            s.samples[next] = ops;
            s.next = (next + 1) % s.samples.len();
        }
        s.last_at = Some(now);
        s.last_commands = commands;
    }

    fn flush_net_stats(&mut self) {
        if self.net_in == 0 && self.net_out == 0 {
            return;
        }
        let mut m = self.srv.metrics[self.id].lock();
        m.net_in += std::mem::take(&mut self.net_in);
        m.net_out += std::mem::take(&mut self.net_out);
    }
}

/// A borrowed raw fd for socket2's `SockRef` (shutdown without owning).
struct BorrowedFd(RawFd);

impl std::os::fd::AsFd for BorrowedFd {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        // SAFETY: the connection owns this fd and closes it only after this
        // short-lived borrow ends (in `maybe_free`, on a later turn).
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.0) }
    }
}

/// networking.c's protected-mode refusal, sent to non-loopback peers.
const PROTECTED_MODE_DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";
