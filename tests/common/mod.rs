//! Shared harness for the integration tests in `tests/`.
//!
//! It owns three things and nothing else:
//!
//! - [`Server`]: a child process (the built `sluice-server`, or a real
//!   `redis-server` for differential tests) bound to 127.0.0.1 on an
//!   OS-probed port, logging into its own temp dir, ready once PING answers,
//!   killed and reaped on drop (and its log printed if the test is panicking).
//! - [`Client`]: a raw RESP2/RESP3 client over `std::net::TcpStream` that can
//!   return both the parsed [`Reply`] and the exact bytes it was decoded from.
//! - Small helpers: [`wait_until`] (bounded polling instead of sleeps),
//!   [`Rng`] (seeded xorshift that prints its seed), [`require_bin`].
//!
//! Invariant: nothing here sleeps for a fixed time to "let things settle";
//! every wait is a poll of a condition with an upper bound, and every
//! socket read has a timeout, so a hung server fails a test instead of
//! hanging it.

#![allow(dead_code)]

/// Generates `mod <name> { threads_1, threads_2, redis }` calling
/// `fn <name>(&Server)`: sluice with one and two shard threads, and the real
/// redis-server, which checks that every expected reply is Redis's (skipped
/// when it is missing, outside CI).
#[allow(unused_macros)]
macro_rules! reference_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn threads_1() {
                super::$name(&super::common::Server::sluice(1, &[]))
            }
            #[test]
            fn threads_2() {
                super::$name(&super::common::Server::sluice(2, &[]))
            }
            #[test]
            fn redis() {
                if super::common::require_bin("redis-server").is_some() {
                    super::$name(&super::common::Server::redis(&[]))
                }
            }
        }
    )*};
}

/// Generates `mod <name> { threads_1, threads_2 }` calling `fn <name>(threads)`:
/// every integration test runs with one and with two shard threads.
#[allow(unused_macros)]
macro_rules! threads_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn threads_1() {
                super::$name(1)
            }
            #[test]
            fn threads_2() {
                super::$name(2)
            }
        }
    )*};
}

pub mod repl;

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a server may take from spawn to answering PING.
/// Server arguments that allow DEBUG (Redis 7 refuses it by default).
pub const DEBUG_ON: &[&str] = &["--enable-debug-command", "yes"];

/// A field of `INFO replication`.
pub fn info_field(c: &mut Client, field: &str) -> Option<String> {
    let info = c.cmd_str(&["INFO", "replication"]).as_str();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
}

/// A client thread running `step(client, n)` for n = 0, 1, ... until
/// [`Writer::stop`], which returns how many steps ran.
pub struct Writer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl Writer {
    pub fn start(port: u16, step: fn(&mut Client, u64)) -> Writer {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut c = Client::connect(port);
            let mut n = 0u64;
            while !flag.load(Ordering::Relaxed) {
                step(&mut c, n);
                n += 1;
            }
            n
        });
        Writer { stop, thread }
    }

    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("writer thread")
    }
}

pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Read timeout on every client socket: a reply that takes longer is a hang.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Poll interval of [`wait_until`] and of the startup loop.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Path of the binary under test, as built by cargo for this test run.
pub fn sluice_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sluice-server")
}

/// An unused TCP port on 127.0.0.1: bind port 0, read the port, drop the
/// listener. Racy by nature (another process may take it before the server
/// binds); [`Server`] retries with a new port when the bind fails.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// True when skipping a test for a missing tool would hide a failure:
/// in CI (`CI` set to anything but empty/0/false) or when
/// `SLUICE_REQUIRE_REDIS=1` (exported by scripts/test.sh under CI).
pub fn strict_env() -> bool {
    let truthy = |name: &str| match std::env::var(name) {
        Ok(v) => !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false")),
        Err(_) => false,
    };
    truthy("CI") || truthy("SLUICE_REQUIRE_REDIS")
}

/// The names of the files in `dir` that `keep` accepts.
pub fn file_names(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("list the directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| keep(name))
        .collect()
}

/// Finds `name` on PATH. If it is missing: panics in CI (a skip there would
/// hide a broken install step), otherwise prints "skipping: NAME not found"
/// and returns `None` so the caller can `return` early.
pub fn require_bin(name: &str) -> Option<PathBuf> {
    if let Some(path) = find_on_path(name) {
        return Some(path);
    }
    if strict_env() {
        panic!(
            "{name} not found on PATH, and CI/SLUICE_REQUIRE_REDIS is set so this test may not \
             be skipped; install it with `apt-get install -y redis-server redis-tools` \
             (scripts/test.sh does this)"
        );
    }
    eprintln!("skipping: {name} not found");
    None
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// What every differential test starts from: a real redis-server, a
/// sluice-server with `threads` shard threads, and a seeded RNG (seed
/// printed). `None` when redis-server is missing (a skip outside CI, a
/// failure under CI; see [`require_bin`]).
pub struct DiffRun {
    pub rng: Rng,
    pub seed: u64,
    pub redis: Server,
    pub sluice: Server,
}

pub fn diff_run(threads: usize) -> Option<DiffRun> {
    require_bin("redis-server")?;
    let rng = Rng::from_env();
    let seed = rng.seed();
    let redis = Server::redis(&[]);
    let sluice = Server::sluice(threads, &[]);
    Some(DiffRun {
        rng,
        seed,
        redis,
        sluice,
    })
}

/// Keyspace notifications of both servers, every class on, to compare
/// after each step with [`KeyEvents::check`].
pub fn key_events(redis: &Server, sluice: &Server) -> KeyEvents {
    KeyEvents {
        redis: EventLog::attach(redis.port),
        sluice: EventLog::attach(sluice.port),
    }
}

/// One server's keyspace notifications (`notify-keyspace-events AKEmn`
/// unless said otherwise), read by a `PSUBSCRIBE __key*__:*` connection.
pub struct EventLog {
    sub: Client,
    control: Client,
    marks: u64,
}

/// The channel [`EventLog::drain`] marks the end of a step on.
const EVENT_MARK: &str = "diff-events-mark";

impl EventLog {
    pub fn attach(port: u16) -> EventLog {
        EventLog::attach_with(port, "AKEmn")
    }

    /// [`EventLog::attach`] with `notify-keyspace-events` set to `classes`.
    pub fn attach_with(port: u16, classes: &str) -> EventLog {
        let mut control = Client::connect(port);
        assert_eq!(
            control.cmd_str(&["CONFIG", "SET", "notify-keyspace-events", classes]),
            Reply::ok()
        );
        let mut sub = Client::connect(port);
        sub.send_str(&["PSUBSCRIBE", "__key*__:*"]);
        sub.read_reply();
        sub.send_str(&["SUBSCRIBE", EVENT_MARK]);
        sub.read_reply();
        EventLog {
            sub,
            control,
            marks: 0,
        }
    }

    /// Waits (up to the read timeout) for the next event, (channel,
    /// message): events that come without a command (active expiry).
    pub fn next(&mut self) -> (Vec<u8>, Vec<u8>) {
        let msg = self.sub.read_reply();
        let parts = msg.as_array();
        assert_eq!(parts.len(), 4, "not a keyspace event: {msg:?}");
        (parts[2].as_bytes().to_vec(), parts[3].as_bytes().to_vec())
    }

    /// The (channel, message) pairs published since the last call: a
    /// mark published after the step's replies came back arrives after
    /// every event the step caused.
    pub fn drain(&mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.marks += 1;
        let mark = self.marks.to_string();
        self.control.cmd_str(&["PUBLISH", EVENT_MARK, &mark]);
        let mut events = Vec::new();
        loop {
            let msg = self.sub.read_reply();
            let parts = msg.as_array();
            match parts.len() {
                4 => events.push((parts[2].as_bytes().to_vec(), parts[3].as_bytes().to_vec())),
                3 if parts[2].as_bytes() == mark.as_bytes() => return events,
                _ => panic!("unexpected message on the events connection: {msg:?}"),
            }
        }
    }
}

/// Both servers' [`EventLog`]s.
pub struct KeyEvents {
    pub redis: EventLog,
    pub sluice: EventLog,
}

impl KeyEvents {
    /// `Err` with both lists when the events since the last check differ.
    pub fn check(&mut self) -> Result<usize, String> {
        let (redis, sluice) = (self.redis.drain(), self.sluice.drain());
        if redis == sluice {
            return Ok(redis.len());
        }
        let show = |events: &[(Vec<u8>, Vec<u8>)]| {
            events
                .iter()
                .map(|(c, m)| format!("  {} {}", escape(c), escape(m)))
                .collect::<Vec<_>>()
                .join("\n")
        };
        Err(format!(
            "keyspace events differ\nredis-server:\n{}\nsluice:\n{}",
            show(&redis),
            show(&sluice)
        ))
    }

    /// Drops the events since the last check: a harness read sent to one
    /// server only (its `keymiss`) is not the servers' doing.
    pub fn discard(&mut self) {
        self.redis.drain();
        self.sluice.drain();
    }

    /// [`KeyEvents::check`] that panics, with `context` (seed, the step's
    /// commands), when they differ; returns how many matched.
    pub fn assert_same(&mut self, context: impl FnOnce() -> String) -> usize {
        self.check()
            .unwrap_or_else(|diff| panic!("{diff}\n{}", context()))
    }
}

/// Clients CLIENT LIST shows blocked (`flags=b`).
pub fn blocked_count(probe: &mut Client) -> usize {
    probe
        .q("CLIENT LIST")
        .as_str()
        .lines()
        .filter(|l| l.contains(" flags=b "))
        .count()
}

/// Waits (bounded) until the server reports `n` blocked clients.
pub fn wait_blocked(probe: &mut Client, n: usize) {
    wait_until(
        &format!("{n} blocked clients"),
        Duration::from_secs(10),
        || blocked_count(probe) >= n,
    );
}

/// Polls `cond` every [`POLL_INTERVAL`] until it returns true; panics with
/// `what` if it is still false after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

// ---------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------

/// xorshift64* generator. Seeded from `SLUICE_SEED` when set, else from the
/// clock; the seed is always printed (`seed=<n>`) so a failure can be
/// replayed with `SLUICE_SEED=<n> cargo test ...`.
pub struct Rng {
    state: u64,
    seed: u64,
}

impl Rng {
    pub fn from_env() -> Rng {
        let seed = match std::env::var("SLUICE_SEED") {
            Ok(s) => s
                .trim()
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("SLUICE_SEED={s:?} is not a u64")),
            Err(_) => {
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("clock after 1970")
                    .as_nanos();
                (nanos as u64) ^ ((nanos >> 64) as u64) ^ u64::from(std::process::id())
            }
        };
        eprintln!("seed={seed}");
        Rng::new(seed)
    }

    pub fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so that seeds 0, 1, 2 ... give unrelated
        // streams and the state is never 0 (xorshift's fixed point).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng { state: z | 1, seed }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0). Modulo bias is irrelevant at these sizes.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        assert!(lo <= hi, "Rng::range({lo}, {hi})");
        let span = (hi as i128 - lo as i128 + 1) as u128;
        (lo as i128 + (self.next_u64() as u128 % span) as i128) as i64
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

static SERVER_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A server child process on 127.0.0.1:`port`. Killed and reaped on drop; if
/// the thread is panicking at that point the server's log is printed.
pub struct Server {
    pub port: u16,
    pub name: String,
    child: Option<Child>,
    dir: PathBuf,
    log_path: PathBuf,
}

impl Server {
    /// Spawns the built `sluice-server` with `--bind 127.0.0.1 --port P
    /// --server-threads N` followed by `extra` (directive/value pairs).
    pub fn sluice(threads: usize, extra: &[&str]) -> Server {
        let threads = threads.to_string();
        Server::spawn("sluice", sluice_bin(), |port| {
            let mut args = vec![
                "--bind".to_string(),
                "127.0.0.1".to_string(),
                "--port".to_string(),
                port.to_string(),
                "--server-threads".to_string(),
                threads.clone(),
            ];
            args.extend(extra.iter().map(|s| s.to_string()));
            args
        })
    }

    /// Spawns a real `redis-server` (callers check [`require_bin`] first)
    /// with no persistence, in the foreground, plus `extra`.
    pub fn redis(extra: &[&str]) -> Server {
        Server::spawn("redis", "redis-server", |port| {
            let mut args: Vec<String> = [
                "--save",
                "",
                "--appendonly",
                "no",
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--daemonize",
                "no",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            args.extend(extra.iter().map(|s| s.to_string()));
            args
        })
    }

    /// Spawns `program` with `args(port)` and waits until PING answers.
    /// Retries with a fresh port (up to 5 times) when the child exits during
    /// startup because the probed port was taken in the meantime.
    pub fn spawn(name: &str, program: &str, args: impl Fn(u16) -> Vec<String>) -> Server {
        Server::spawn_env(name, program, &[], args)
    }

    /// [`Server::spawn`] with `env` added to the child's environment.
    pub fn spawn_env(
        name: &str,
        program: &str,
        env: &[(&str, &str)],
        args: impl Fn(u16) -> Vec<String>,
    ) -> Server {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port();
            let n = SERVER_COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "sluice-test-{}-{n}-{name}-{port}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).expect("create server temp dir");
            let log_path = dir.join("server.log");
            let log = std::fs::File::create(&log_path).expect("create server log");
            let log_err = log.try_clone().expect("clone log fd");
            let argv = args(port);
            let child = Command::new(program)
                .args(&argv)
                .envs(env.iter().copied())
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {program} {argv:?}: {e}"));
            let mut server = Server {
                port,
                name: name.to_string(),
                child: Some(child),
                dir,
                log_path,
            };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(status) => {
                    let log = server.log();
                    let port_taken =
                        log.contains("Address already in use") || log.contains("EADDRINUSE");
                    if port_taken && attempt < 5 {
                        eprintln!("{name}: port {port} was taken, retrying");
                        continue;
                    }
                    panic!(
                        "{name} ({program} {argv:?}) exited during startup with {status}; \
                         log:\n{log}"
                    );
                }
            }
        }
    }

    /// Polls until PING gets an answer (+PONG, or -NOAUTH when requirepass is
    /// set, which also proves the server is serving). `Err(status)` if the
    /// child exited; panics (printing the log) after [`STARTUP_TIMEOUT`].
    fn wait_ready(&mut self) -> Result<(), ExitStatus> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child_mut().try_wait().expect("try_wait") {
                return Err(status);
            }
            if self.ping_once() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} on port {} did not answer PING within {STARTUP_TIMEOUT:?}; log:\n{}",
                    self.name,
                    self.port,
                    self.log()
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    fn ping_once(&self) -> bool {
        let Ok(stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut client = Client::from_stream(stream);
        if client.send_raw(b"*1\r\n$4\r\nPING\r\n").is_err() {
            return false;
        }
        match client.try_read_reply() {
            Ok(Reply::Simple(s)) => s == "PONG",
            Ok(Reply::Error(e)) => e.starts_with("NOAUTH"),
            _ => false,
        }
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("server child already reaped")
    }

    /// The exit status once the server process has exited (reaped).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child_mut().try_wait().expect("try_wait")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("child").id()
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The server's temp dir (also its working directory).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new connected client.
    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// Everything the server wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Panics (with the log) if the server has exited.
    pub fn assert_alive(&mut self) {
        if let Some(status) = self.child_mut().try_wait().expect("try_wait") {
            panic!(
                "{} on port {} exited with {status}; log:\n{}",
                self.name,
                self.port,
                self.log()
            );
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let exited_early = child.try_wait().ok().flatten();
        let _ = child.kill();
        let _ = child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- {} log (port {}{}) ----\n{}---- end of {} log ----",
                self.name,
                self.port,
                match exited_early {
                    Some(status) => format!(", had exited with {status}"),
                    None => String::new(),
                },
                self.log(),
                self.name
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `program args` to completion (bounded by `timeout`, after which it
/// is killed and this panics) and returns (status, stdout+stderr).
pub fn run_to_exit(program: &str, args: &[&str], timeout: Duration) -> (ExitStatus, String) {
    let dir = std::env::temp_dir().join(format!(
        "sluice-run-{}-{}",
        std::process::id(),
        SERVER_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let out_path = dir.join("out.log");
    let out = std::fs::File::create(&out_path).expect("create output file");
    let mut child = Command::new(program)
        .args(args)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("clone fd"))
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program} {args:?}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let output = std::fs::read_to_string(&out_path).unwrap_or_default();
            let _ = std::fs::remove_dir_all(&dir);
            panic!("{program} {args:?} still running after {timeout:?}; output:\n{output}");
        }
        std::thread::sleep(POLL_INTERVAL);
    };
    let output = String::from_utf8_lossy(&std::fs::read(&out_path).unwrap_or_default()).into();
    let _ = std::fs::remove_dir_all(&dir);
    (status, output)
}

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

/// One RESP2 or RESP3 reply.
///
/// `Simple`/`Error`/`Double`/`BigNumber` keep the line text as sent (lossy
/// UTF-8), so `Double` compares the server's formatting, not a parsed f64.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reply {
    /// `+text`
    Simple(String),
    /// `-text` (RESP2/3) or `!len` blob error (RESP3)
    Error(String),
    /// `:n`
    Int(i64),
    /// `$len` / `$-1`
    Bulk(Option<Vec<u8>>),
    /// `*n` / `*-1`
    Array(Option<Vec<Reply>>),
    /// `%n` (RESP3)
    Map(Vec<(Reply, Reply)>),
    /// `~n` (RESP3)
    Set(Vec<Reply>),
    /// `,text` (RESP3)
    Double(String),
    /// `#t` / `#f` (RESP3)
    Bool(bool),
    /// `_` (RESP3)
    Null,
    /// `>n` (RESP3)
    Push(Vec<Reply>),
    /// `=len` with `fmt:` prefix (RESP3)
    Verbatim(String, Vec<u8>),
    /// `(digits` (RESP3)
    BigNumber(String),
}

impl Reply {
    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }
    pub fn simple(s: &str) -> Reply {
        Reply::Simple(s.into())
    }
    pub fn err(s: &str) -> Reply {
        Reply::Error(s.into())
    }
    pub fn bulk(b: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(Some(b.as_ref().to_vec()))
    }
    pub fn nil() -> Reply {
        Reply::Bulk(None)
    }
    pub fn array(items: Vec<Reply>) -> Reply {
        Reply::Array(Some(items))
    }
    pub fn bulks<I, B>(items: I) -> Reply
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        Reply::Array(Some(items.into_iter().map(Reply::bulk).collect()))
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// The payload of a bulk, simple or verbatim string; panics otherwise.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Reply::Bulk(Some(b)) | Reply::Verbatim(_, b) => b,
            Reply::Simple(s) => s.as_bytes(),
            other => panic!("expected a string reply, got {other}"),
        }
    }

    /// [`Reply::as_bytes`] as (lossy) UTF-8.
    pub fn as_str(&self) -> String {
        String::from_utf8_lossy(self.as_bytes()).into_owned()
    }

    /// The value of an integer reply; panics otherwise.
    pub fn as_int(&self) -> i64 {
        match self {
            Reply::Int(n) => *n,
            other => panic!("expected an integer reply, got {other}"),
        }
    }

    /// The elements of an array, set or push reply; panics otherwise.
    pub fn as_array(&self) -> &[Reply] {
        match self {
            Reply::Array(Some(items)) | Reply::Set(items) | Reply::Push(items) => items,
            other => panic!("expected an array reply, got {other}"),
        }
    }

    /// Normalises set-like replies for comparison: elements of arrays, sets
    /// and pushes are sorted (recursively), map entries sorted by key.
    /// Use for KEYS, SCAN batches, SMEMBERS, CONFIG GET patterns, ...
    pub fn unordered(&self) -> Reply {
        match self {
            Reply::Array(Some(items)) => {
                let mut v: Vec<Reply> = items.iter().map(Reply::unordered).collect();
                v.sort();
                Reply::Array(Some(v))
            }
            Reply::Set(items) => {
                let mut v: Vec<Reply> = items.iter().map(Reply::unordered).collect();
                v.sort();
                Reply::Set(v)
            }
            Reply::Push(items) => {
                let mut v: Vec<Reply> = items.iter().map(Reply::unordered).collect();
                v.sort();
                Reply::Push(v)
            }
            Reply::Map(entries) => {
                let mut v: Vec<(Reply, Reply)> = entries
                    .iter()
                    .map(|(k, v)| (k.unordered(), v.unordered()))
                    .collect();
                v.sort();
                Reply::Map(v)
            }
            other => other.clone(),
        }
    }

    fn fmt_indented(&self, f: &mut fmt::Formatter<'_>, indent: usize) -> fmt::Result {
        let pad = "   ".repeat(indent);
        let items = |f: &mut fmt::Formatter<'_>, kind: &str, items: &[Reply]| -> fmt::Result {
            if items.is_empty() {
                return write!(f, "({kind}) (empty)");
            }
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, "\n{pad}")?;
                }
                write!(f, "{}) ", i + 1)?;
                item.fmt_indented(f, indent + 1)?;
            }
            if kind != "array" {
                write!(f, " ({kind})")?;
            }
            Ok(())
        };
        match self {
            Reply::Simple(s) => write!(f, "+{s}"),
            Reply::Error(s) => write!(f, "(error) {s}"),
            Reply::Int(n) => write!(f, "(integer) {n}"),
            Reply::Bulk(None) => write!(f, "(nil)"),
            Reply::Bulk(Some(b)) => write!(f, "\"{}\"", escape(b)),
            Reply::Array(None) => write!(f, "(nil array)"),
            Reply::Array(Some(v)) => items(f, "array", v),
            Reply::Set(v) => items(f, "set", v),
            Reply::Push(v) => items(f, "push", v),
            Reply::Map(entries) => {
                if entries.is_empty() {
                    return write!(f, "(map) (empty)");
                }
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        write!(f, "\n{pad}")?;
                    }
                    write!(f, "{}# ", i + 1)?;
                    k.fmt_indented(f, indent + 1)?;
                    write!(f, " => ")?;
                    v.fmt_indented(f, indent + 1)?;
                }
                Ok(())
            }
            Reply::Double(s) => write!(f, "(double) {s}"),
            Reply::Bool(b) => write!(f, "({})", if *b { "true" } else { "false" }),
            Reply::Null => write!(f, "(null)"),
            Reply::Verbatim(fmt_, b) => write!(f, "(verbatim {fmt_}) \"{}\"", escape(b)),
            Reply::BigNumber(s) => write!(f, "(big number) {s}"),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_indented(f, 0)
    }
}

/// Debug is the redis-cli-like Display, so `assert_eq!` diffs are readable.
impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// Escapes bytes like redis-cli: printable ASCII as is, `\r \n \t \" \\`,
/// everything else as `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// Encodes a command as a RESP multibulk.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

/// Nesting limit for replies, so a broken server can't overflow our stack.
const MAX_DEPTH: usize = 64;
/// Largest bulk/aggregate length we accept from a server under test.
const MAX_LEN: i64 = 1 << 30;

/// A raw RESP client. Every read has [`READ_TIMEOUT`]; a malformed reply
/// panics with what was read so far.
pub struct Client {
    reader: BufReader<TcpStream>,
    /// Bytes of the reply being decoded, kept for `read_raw_reply_bytes`.
    raw: Vec<u8>,
}

impl Client {
    /// Connects to 127.0.0.1:`port`; panics if that fails.
    pub fn connect(port: u16) -> Client {
        Client::try_connect(port).unwrap_or_else(|e| panic!("connect 127.0.0.1:{port}: {e}"))
    }

    pub fn try_connect(port: u16) -> io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Client::from_stream(stream))
    }

    pub fn from_stream(stream: TcpStream) -> Client {
        Client {
            reader: BufReader::with_capacity(64 * 1024, stream),
            raw: Vec::new(),
        }
    }

    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    pub fn set_read_timeout(&self, timeout: Duration) {
        self.stream()
            .set_read_timeout(Some(timeout))
            .expect("set_read_timeout");
    }

    /// Sends `args` as a multibulk and reads one reply.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Reply {
        self.send(args);
        self.read_reply()
    }

    /// Sends string arguments without reading the reply (a client that
    /// blocks).
    pub fn send_str(&mut self, args: &[&str]) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send(&args);
    }

    /// [`Client::cmd`] with string arguments.
    pub fn cmd_str(&mut self, args: &[&str]) -> Reply {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.cmd(&args)
    }

    /// Splits `line` on spaces (no quoting) and runs it: `c.q("SET a 1")`.
    pub fn q(&mut self, line: &str) -> Reply {
        let args: Vec<&str> = line.split(' ').filter(|a| !a.is_empty()).collect();
        self.cmd_str(&args)
    }

    /// Sends `args` as a multibulk without reading.
    pub fn send(&mut self, args: &[&[u8]]) {
        self.send_raw(&encode_command(args))
            .unwrap_or_else(|e| panic!("write command: {e}"));
    }

    /// Writes `bytes` exactly as given (inline commands, pipelines, garbage).
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stream = self.reader.get_mut();
        stream.write_all(bytes)?;
        stream.flush()
    }

    /// Reads one reply; panics on EOF, timeout or malformed data.
    pub fn read_reply(&mut self) -> Reply {
        self.read_reply_with_raw().0
    }

    /// Reads one reply and returns it with the exact bytes it was decoded from.
    pub fn read_reply_with_raw(&mut self) -> (Reply, Vec<u8>) {
        match self.try_read_reply() {
            Ok(reply) => (reply, std::mem::take(&mut self.raw)),
            Err(e) => panic!(
                "reading reply failed: {e}; bytes read so far: \"{}\"",
                escape(&self.raw)
            ),
        }
    }

    /// The exact bytes of one reply.
    pub fn read_raw_reply_bytes(&mut self) -> Vec<u8> {
        self.read_reply_with_raw().1
    }

    /// Reads one reply; `Err` on EOF, timeout, reset or malformed data.
    pub fn try_read_reply(&mut self) -> io::Result<Reply> {
        self.raw.clear();
        self.read_value(0)
    }

    /// Waits (up to the read timeout) for the server to close the
    /// connection. Returns true on EOF or reset, false if data arrived
    /// instead (the data is consumed and lost).
    pub fn is_closed_by_peer(&mut self) -> bool {
        let mut buf = [0u8; 512];
        loop {
            if !self.reader.buffer().is_empty() {
                return false;
            }
            match self.reader.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                    ) =>
                {
                    return true
                }
                Err(e) => panic!("waiting for the server to close the connection: {e}"),
            }
        }
    }

    /// Closes our write side (the server sees EOF after what we sent).
    pub fn shutdown_write(&self) {
        let _ = self.stream().shutdown(Shutdown::Write);
    }

    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        let n = self.reader.read_until(b'\n', &mut line)?;
        self.raw.extend_from_slice(&line);
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by server",
            ));
        }
        if !line.ends_with(b"\r\n") {
            return Err(bad(format!(
                "line not terminated by CRLF: \"{}\"",
                escape(&line)
            )));
        }
        line.truncate(line.len() - 2);
        Ok(line)
    }

    fn read_exact_crlf(&mut self, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len + 2];
        self.reader.read_exact(&mut buf)?;
        self.raw.extend_from_slice(&buf);
        if !buf.ends_with(b"\r\n") {
            return Err(bad("bulk payload not followed by CRLF".into()));
        }
        buf.truncate(len);
        Ok(buf)
    }

    fn read_items(&mut self, n: usize, depth: usize) -> io::Result<Vec<Reply>> {
        (0..n).map(|_| self.read_value(depth + 1)).collect()
    }

    fn read_value(&mut self, depth: usize) -> io::Result<Reply> {
        if depth > MAX_DEPTH {
            return Err(bad("reply nested too deeply".into()));
        }
        let line = self.read_line()?;
        let Some((&kind, rest)) = line.split_first() else {
            return Err(bad("empty reply line".into()));
        };
        let text = || String::from_utf8_lossy(rest).into_owned();
        let len = || -> io::Result<i64> {
            let n: i64 = text()
                .parse()
                .map_err(|_| bad(format!("bad length {:?}", text())))?;
            if !(-1..=MAX_LEN).contains(&n) {
                return Err(bad(format!("length {n} out of range")));
            }
            Ok(n)
        };
        Ok(match kind {
            b'+' => Reply::Simple(text()),
            b'-' => Reply::Error(text()),
            b':' => Reply::Int(
                text()
                    .parse()
                    .map_err(|_| bad(format!("bad integer {:?}", text())))?,
            ),
            b'$' => match len()? {
                -1 => Reply::Bulk(None),
                n => Reply::Bulk(Some(self.read_exact_crlf(n as usize)?)),
            },
            b'*' => match len()? {
                -1 => Reply::Array(None),
                n => Reply::Array(Some(self.read_items(n as usize, depth)?)),
            },
            b'%' => {
                let n = nonneg(len()?)?;
                let mut entries = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let k = self.read_value(depth + 1)?;
                    let v = self.read_value(depth + 1)?;
                    entries.push((k, v));
                }
                Reply::Map(entries)
            }
            b'~' => Reply::Set(self.read_items(nonneg(len()?)?, depth)?),
            b'>' => Reply::Push(self.read_items(nonneg(len()?)?, depth)?),
            b',' => Reply::Double(text()),
            b'#' => match rest {
                b"t" => Reply::Bool(true),
                b"f" => Reply::Bool(false),
                _ => return Err(bad(format!("bad boolean {:?}", text()))),
            },
            b'_' if rest.is_empty() => Reply::Null,
            b'(' => Reply::BigNumber(text()),
            b'!' => {
                let payload = self.read_exact_crlf(nonneg(len()?)?)?;
                Reply::Error(String::from_utf8_lossy(&payload).into_owned())
            }
            b'=' => {
                let payload = self.read_exact_crlf(nonneg(len()?)?)?;
                if payload.len() < 4 || payload[3] != b':' {
                    return Err(bad("verbatim string without 'fmt:' prefix".into()));
                }
                Reply::Verbatim(
                    String::from_utf8_lossy(&payload[..3]).into_owned(),
                    payload[4..].to_vec(),
                )
            }
            b'|' => {
                // Attribute: metadata before the real reply. Skip it.
                let n = nonneg(len()?)?;
                for _ in 0..2 * n {
                    self.read_value(depth + 1)?;
                }
                self.read_value(depth)?
            }
            _ => {
                return Err(bad(format!(
                    "unknown reply type in line \"{}\"",
                    escape(&line)
                )))
            }
        })
    }
}

fn nonneg(n: i64) -> io::Result<usize> {
    usize::try_from(n).map_err(|_| bad(format!("negative length {n}")))
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Parses INFO output into (section, field, value) triples, for assertions.
pub fn info_fields(info: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in info.lines() {
        if let Some(name) = line.strip_prefix("# ") {
            section = name.trim().to_string();
        } else if let Some((k, v)) = line.split_once(':') {
            out.push((section.clone(), k.to_string(), v.trim_end().to_string()));
        }
    }
    out
}

/// `Cpus_allowed_list` of each of `pid`'s threads named `comm` (from
/// `/proc`; none when the process is gone).
pub fn thread_cpus(pid: u32, comm: &str) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for task in tasks.flatten() {
        let dir = task.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if name.trim_end() != comm {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        if let Some(line) = status.lines().find(|l| l.starts_with("Cpus_allowed_list:")) {
            found.push(line["Cpus_allowed_list:".len()..].trim().to_string());
        }
    }
    found
}
