//! The running server: state shared by all shard threads, and the threads.
//!
//! Owns: the [`Server`] (config, keyspace, client registry, per-shard
//! metrics, shutdown), startup ([`start`]) and the per-shard event loop
//! ([`shard`]). Shared fields are either immutable, atomics, or behind a
//! lock that only admin paths (CLIENT LIST, INFO, CONFIG) take besides the
//! owning shard.

pub mod conn;
mod evict;
pub mod latency;
pub mod persist;
pub mod process;
pub mod pubsub;
pub mod shard;
pub mod slowlog;

use crate::cmd::{all_commands, Client, Command};
use crate::config::{Config, MaxmemoryPolicy};
use crate::protocol::Argv;
use crate::store::Keyspace;
use crate::store::LfuParams;
use crossbeam_channel::Sender;
use hdrhistogram::Histogram;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use shard::start;

/// What CLIENT LIST / CLIENT INFO / CLIENT KILL see of a connection that
/// lives on some shard. The owning shard writes the atomics; anyone reads.
pub struct ClientMeta {
    pub id: u64,
    pub shard: usize,
    pub fd: RawFd,
    pub addr: String,
    pub laddr: String,
    pub created: Instant,
    pub last_interaction_ms: AtomicU64,
    /// `all_commands()` index + 1 of the last command; 0 for none.
    pub last_cmd: AtomicUsize,
    /// Subcommand of the last command when it was a container (CLIENT LIST
    /// shows `cmd=client|list`).
    pub last_sub: Mutex<String>,
    pub db: AtomicUsize,
    pub resp: AtomicU8,
    pub in_multi: AtomicBool,
    pub multi_len: AtomicUsize,
    pub monitor: AtomicBool,
    /// Waiting in a blocking command (CLIENT LIST flag `b`, INFO
    /// blocked_clients).
    pub blocked: AtomicBool,
    pub no_evict: AtomicBool,
    pub qbuf: AtomicUsize,
    /// Channel and pattern subscription counts (CLIENT LIST sub= psub=).
    pub sub: AtomicUsize,
    pub psub: AtomicUsize,
    pub omem: AtomicUsize,
    pub name: Mutex<Option<Vec<u8>>>,
    /// Set by CLIENT KILL; the owning shard closes the connection.
    pub killed: AtomicBool,
    /// The waiter of the blocking command the client waits in, for CLIENT
    /// UNBLOCK (not a command held by a pause); claimed once it is over.
    pub waiter: Mutex<Option<Arc<crate::store::Waiter>>>,
}

impl ClientMeta {
    /// A loopback or Unix socket client (Redis's `islocalClient`): a Unix
    /// socket client's address is `path:0` at both ends.
    pub fn is_local(&self) -> bool {
        self.addr.starts_with("127.") || self.addr.starts_with("[::1]") || self.addr == self.laddr
    }

    pub fn new(
        id: u64,
        shard: usize,
        fd: RawFd,
        addr: String,
        laddr: String,
        now_ms: u64,
    ) -> ClientMeta {
        ClientMeta {
            id,
            shard,
            fd,
            addr,
            laddr,
            created: Instant::now(),
            last_interaction_ms: AtomicU64::new(now_ms),
            last_cmd: AtomicUsize::new(0),
            last_sub: Mutex::new(String::new()),
            db: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            in_multi: AtomicBool::new(false),
            multi_len: AtomicUsize::new(0),
            monitor: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            no_evict: AtomicBool::new(false),
            qbuf: AtomicUsize::new(0),
            sub: AtomicUsize::new(0),
            psub: AtomicUsize::new(0),
            omem: AtomicUsize::new(0),
            name: Mutex::new(None),
            killed: AtomicBool::new(false),
            waiter: Mutex::new(None),
        }
    }
}

/// Messages to a shard thread, woken through its eventfd.
pub enum ShardMsg {
    /// Close this client (CLIENT KILL from another shard).
    Kill(u64),
    /// A MONITOR line for every monitor on the shard.
    Monitor(Arc<[u8]>),
    /// Stop: close connections and exit the loop.
    Shutdown,
    /// A blocked client was served by another command: its reply.
    Unblock { client_id: u64, reply: Vec<u8> },
    /// A blocked client must run its command again (a BLMOVE whose
    /// destination the serving command did not hold).
    Retry { client_id: u64 },
    /// CLIENT UNBLOCK claimed this client's waiter: reply as on a timeout,
    /// or with the UNBLOCKED error.
    Unblocked { client_id: u64, error: bool },
    /// Published messages for clients of this shard, in order (one
    /// PUBLISH, or every keyspace event of a command).
    Deliver(pubsub::Deliveries),
}

pub struct ShardHandle {
    pub tx: Sender<ShardMsg>,
    pub eventfd: RawFd,
    /// The shard's number.
    pub index: usize,
}

thread_local! {
    /// On a shard thread, the messages it sends during one round of its
    /// loop, per target shard, in order: sent together at the end of the
    /// round (one wake-up per target, consecutive deliveries merged into
    /// one). `None` on other threads, which send at once.
    static DEFERRED: std::cell::RefCell<Option<Vec<Vec<ShardMsg>>>> =
        const { std::cell::RefCell::new(None) };
}

impl ShardHandle {
    pub fn send(&self, msg: ShardMsg) {
        let msg = match msg {
            ShardMsg::Shutdown => msg,
            msg => match defer(self.index, msg) {
                Some(msg) => msg,
                None => return,
            },
        };
        if self.tx.send(msg).is_ok() {
            shard::wake(self.eventfd);
        }
    }
}

/// Queues `msg` for shard `target` when this thread defers its sends;
/// gives it back otherwise.
fn defer(target: usize, msg: ShardMsg) -> Option<ShardMsg> {
    DEFERRED.with(
        |d| match d.borrow_mut().as_mut().and_then(|q| q.get_mut(target)) {
            Some(queue) => {
                push_merged(queue, msg);
                None
            }
            None => Some(msg),
        },
    )
}

/// This thread's deferred messages for shard `target` (none left behind).
fn take_deferred(target: usize) -> Vec<ShardMsg> {
    DEFERRED.with(|d| {
        d.borrow_mut()
            .as_mut()
            .and_then(|q| q.get_mut(target))
            .map(std::mem::take)
            .unwrap_or_default()
    })
}

fn push_merged(queue: &mut Vec<ShardMsg>, msg: ShardMsg) {
    match (queue.last_mut(), msg) {
        (Some(ShardMsg::Deliver(last)), ShardMsg::Deliver(more)) => last.extend(more),
        (_, msg) => queue.push(msg),
    }
}

/// Makes this (shard) thread defer what it sends to shards until
/// [`send_deferred`].
pub fn defer_sends(shards: usize) {
    DEFERRED.with(|d| *d.borrow_mut() = Some((0..shards).map(|_| Vec::new()).collect()));
}

/// Whether this thread holds deferred messages.
pub fn has_deferred() -> bool {
    DEFERRED.with(|d| {
        d.borrow()
            .as_ref()
            .is_some_and(|queues| queues.iter().any(|q| !q.is_empty()))
    })
}

/// Sends what this thread deferred, one wake-up per target shard, and
/// returns the messages for shard `own` (the caller handles them itself).
pub fn send_deferred(handles: &[ShardHandle], own: usize) -> Vec<ShardMsg> {
    for handle in handles.iter().filter(|h| h.index != own) {
        let mut sent = false;
        for msg in take_deferred(handle.index) {
            sent |= handle.tx.send(msg).is_ok();
        }
        if sent {
            shard::wake(handle.eventfd);
        }
    }
    take_deferred(own)
}

/// Per-command counters (INFO commandstats and latencystats).
#[derive(Default)]
pub struct CmdStat {
    pub calls: u64,
    pub nanos: u64,
    pub rejected: u64,
    pub failed: u64,
    pub latency_ns: Option<Histogram<u64>>,
}

/// One shard's counters; written by that shard, read by INFO.
#[derive(Default)]
pub struct ShardMetrics {
    pub cmds: Vec<CmdStat>,
    pub commands: u64,
    pub dirty: u64,
    pub expired: u64,
    pub hits: u64,
    pub misses: u64,
    pub connections: u64,
    pub rejected_connections: u64,
    pub net_in: u64,
    pub net_out: u64,
    pub error_replies: u64,
    pub evicted: u64,
    /// Active expiry (INFO stats): cycles stopped by their time budget,
    /// time spent, and the running estimate of the expired share of keys
    /// with a TTL (expire.c `stat_expired_stale_perc`, a fraction).
    pub expire_time_cap_reached: u64,
    pub expire_cycle_us: u64,
    pub expired_stale_perc: f64,
    /// Per database, the running estimate of the TTL left on keys that
    /// have one (INFO keyspace avg_ttl, as expire.c's `db->avg_ttl`); 0:
    /// none yet.
    pub avg_ttl: Vec<u64>,
    /// Error replies by their first word (INFO errorstats).
    pub error_kinds: BTreeMap<String, u64>,
}

/// Redis's small-collection thresholds (`hash-max-listpack-entries` and
/// friends): below them a collection uses its compact encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodingLimits {
    pub hash_max_listpack_entries: i64,
    pub hash_max_listpack_value: i64,
    pub set_max_intset_entries: i64,
    pub zset_max_listpack_entries: i64,
    pub zset_max_listpack_value: i64,
    pub list_max_listpack_size: i64,
    pub list_compress_depth: i64,
    pub stream_node_max_bytes: i64,
    pub stream_node_max_entries: i64,
}

/// Redis 7.0's defaults (what an RDB file is decoded by outside a server).
impl Default for EncodingLimits {
    fn default() -> Self {
        EncodingLimits {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
        }
    }
}

impl EncodingLimits {
    pub fn from_config(c: &Config) -> EncodingLimits {
        EncodingLimits {
            hash_max_listpack_entries: c.hash_max_listpack_entries,
            hash_max_listpack_value: c.hash_max_listpack_value,
            set_max_intset_entries: c.set_max_intset_entries,
            zset_max_listpack_entries: c.zset_max_listpack_entries,
            zset_max_listpack_value: c.zset_max_listpack_value,
            list_max_listpack_size: c.list_max_listpack_size,
            list_compress_depth: c.list_compress_depth,
            stream_node_max_bytes: i64::try_from(c.stream_node_max_bytes).unwrap_or(i64::MAX),
            stream_node_max_entries: c.stream_node_max_entries,
        }
    }

    fn to_array(self) -> [i64; 9] {
        [
            self.hash_max_listpack_entries,
            self.hash_max_listpack_value,
            self.set_max_intset_entries,
            self.zset_max_listpack_entries,
            self.zset_max_listpack_value,
            self.list_max_listpack_size,
            self.list_compress_depth,
            self.stream_node_max_bytes,
            self.stream_node_max_entries,
        ]
    }

    fn from_array(a: [i64; 9]) -> EncodingLimits {
        EncodingLimits {
            hash_max_listpack_entries: a[0],
            hash_max_listpack_value: a[1],
            set_max_intset_entries: a[2],
            zset_max_listpack_entries: a[3],
            zset_max_listpack_value: a[4],
            list_max_listpack_size: a[5],
            list_compress_depth: a[6],
            stream_node_max_bytes: a[7],
            stream_node_max_entries: a[8],
        }
    }
}

/// The deletions the `lazyfree-lazy-*` directives make lazy.
fn lazy_modes(c: &Config) -> Vec<crate::store::lazyfree::Lazy> {
    use crate::store::lazyfree::Lazy;
    [
        (c.lazyfree_lazy_eviction, Lazy::Eviction),
        (c.lazyfree_lazy_expire, Lazy::Expire),
        (c.lazyfree_lazy_server_del, Lazy::ServerDel),
        (c.lazyfree_lazy_user_del, Lazy::UserDel),
        (c.lazyfree_lazy_user_flush, Lazy::UserFlush),
    ]
    .into_iter()
    .filter_map(|(on, kind)| on.then_some(kind))
    .collect()
}

/// The keyspace-event flags commands collect under: 0 when nothing would
/// be published (no class, or neither K nor E), so commands skip the work.
fn notify_flags(c: &Config) -> u32 {
    let flags = c.notify_keyspace_events;
    if crate::store::events::active(flags) {
        flags
    } else {
        0
    }
}

fn eviction_array(c: &Config) -> [u64; 6] {
    [
        c.maxmemory,
        c.maxmemory_policy as u64,
        // Each sample is a random probe (`evict::pick_victim`): Redis's
        // INT_MAX would be a hang, not a better choice; 64 is plenty.
        c.maxmemory_samples.clamp(1, 64) as u64,
        c.maxmemory_eviction_tenacity.max(0) as u64,
        c.lfu_log_factor.max(0) as u64,
        c.lfu_decay_time.max(0) as u64,
    ]
}

/// How SHUTDOWN asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownMode {
    Default,
    Save,
    NoSave,
}

pub struct Server {
    pub config: RwLock<Config>,
    /// Bumped on every CONFIG SET so shards refresh their cached limits.
    pub config_gen: AtomicU64,
    pub config_file: Option<PathBuf>,
    pub keyspace: Keyspace,
    pub clients: Mutex<BTreeMap<u64, Arc<ClientMeta>>>,
    next_client_id: AtomicU64,
    pub connected: AtomicUsize,
    pub metrics: Vec<Mutex<ShardMetrics>>,
    pub start: Instant,
    pub run_id: String,
    pub shards: OnceLock<Vec<ShardHandle>>,
    pub monitors: AtomicUsize,
    pub shutdown: Mutex<Option<ShutdownMode>>,
    pub shutting_down: AtomicBool,
    pub lastsave_s: AtomicU64,
    /// RDB save state (`persist.rs`).
    pub persist: persist::Persist,
    /// Master or replica, and the link to the master.
    pub repl: crate::repl::Replication,
    /// This server's own `Arc`, for threads a command starts (BGSAVE).
    me: OnceLock<std::sync::Weak<Server>>,
    pub threads: usize,
    pub tcp_port: u16,
    /// SLOWLOG's entries and settings.
    pub slowlog: slowlog::SlowLog,
    /// LATENCY's event histories.
    pub latency: latency::LatencyMonitor,
    /// INFO `process_supervised`, set at startup.
    pub process_supervised: OnceLock<&'static str>,
    /// Cached `latency-tracking`, read on every command without the config lock.
    pub latency_tracking: AtomicBool,
    /// DEBUG SET-ACTIVE-EXPIRE: the expire cycle runs (on by default).
    pub active_expire: AtomicBool,
    /// Cached `notify-keyspace-events` flags (`store::events`), read by
    /// every command; 0 unless some event would be published.
    pub notify_flags: AtomicU32,
    /// Cached encoding thresholds, read by collection writes without the
    /// config lock; refreshed by [`Server::refresh_cached_config`].
    encoding: [AtomicI64; 9],
    /// Cached eviction settings: maxmemory, policy index, samples,
    /// tenacity, lfu-log-factor, lfu-decay-time.
    eviction: [AtomicU64; 6],
    /// ops/sec samples (instantaneous_ops_per_sec), written by shard 0's cron.
    pub ops_samples: Mutex<OpsSamples>,
    pub pubsub: Mutex<pubsub::PubSub>,
    /// Highest used_memory seen (INFO used_memory_peak).
    pub memory_peak: AtomicU64,
    /// Where propagated commands go until the replication backlog exists:
    /// nowhere in a running server, a log in unit tests.
    propagation_log: Option<Mutex<Vec<(usize, Argv)>>>,
}

#[derive(Default)]
pub struct OpsSamples {
    pub last_at: Option<Instant>,
    pub last_commands: u64,
    pub samples: [u64; 16],
    pub next: usize,
}

impl Server {
    pub fn new(config: Config, config_file: Option<PathBuf>, threads: usize) -> Server {
        let mut keyspace = Keyspace::new(config.databases);
        keyspace.set_preimage_encoder(persist::encode_preimage);
        let tcp_port = config.port;
        let latency_tracking = AtomicBool::new(config.latency_tracking);
        let notify_flags = notify_flags(&config);
        let encoding = EncodingLimits::from_config(&config)
            .to_array()
            .map(AtomicI64::new);
        let eviction = eviction_array(&config).map(AtomicU64::new);
        keyspace.lazyfree.set_modes(&lazy_modes(&config));
        Server {
            config: RwLock::new(config),
            config_gen: AtomicU64::new(0),
            config_file,
            keyspace,
            clients: Mutex::new(BTreeMap::new()),
            next_client_id: AtomicU64::new(1),
            connected: AtomicUsize::new(0),
            metrics: (0..threads)
                .map(|_| Mutex::new(ShardMetrics::default()))
                .collect(),
            start: Instant::now(),
            run_id: random_hex40(),
            shards: OnceLock::new(),
            monitors: AtomicUsize::new(0),
            shutdown: Mutex::new(None),
            shutting_down: AtomicBool::new(false),
            lastsave_s: AtomicU64::new(unix_ms() / 1000),
            persist: persist::Persist::default(),
            repl: crate::repl::Replication::default(),
            me: OnceLock::new(),
            threads,
            tcp_port,
            slowlog: Default::default(),
            latency: Default::default(),
            process_supervised: OnceLock::new(),
            latency_tracking,
            notify_flags: AtomicU32::new(notify_flags),
            active_expire: AtomicBool::new(true),
            encoding,
            eviction,
            ops_samples: Mutex::new(OpsSamples::default()),
            pubsub: Mutex::new(pubsub::PubSub::default()),
            memory_peak: AtomicU64::new(0),
            propagation_log: None,
        }
    }

    /// A server that records what it propagates (unit tests of the
    /// propagation forms; no threads, no sockets).
    pub fn for_tests(config: Config) -> Server {
        Server {
            propagation_log: Some(Mutex::new(Vec::new())),
            ..Server::new(config, None, 1)
        }
    }

    /// Takes what was propagated since the last call (see [`Server::for_tests`]).
    pub fn take_propagated(&self) -> Vec<(usize, Argv)> {
        self.propagation_log
            .as_ref()
            .map(|log| std::mem::take(&mut *log.lock()))
            .unwrap_or_default()
    }

    /// True when propagated commands have a consumer; until the replication
    /// backlog exists that is only the unit-test log.
    /// True when writes must produce their propagation form: replicas
    /// attached once (the backlog exists) or a test listens. Read after a
    /// command has locked its stripes, so a write that saw `false` is
    /// ordered before any snapshot cut that follows the backlog's creation.
    pub fn propagation_enabled(&self) -> bool {
        self.propagation_log.is_some() || self.repl.has_backlog()
    }

    /// Hands one command's (or one transaction's) effects, in the form
    /// Redis propagates them, to the replication stream. `ops` are
    /// `(db, argv)`; more than one op arrives already wrapped in MULTI/EXEC.
    /// They go to the replication backlog (when replicas attached) and to
    /// the test log.
    /// Returns the stream's offset after them (None: no stream).
    pub fn propagate(&self, ops: Vec<(usize, Argv)>) -> Option<u64> {
        let end = self.repl.feed(ops.iter().map(|(db, argv)| (*db, argv)));
        if let Some(log) = &self.propagation_log {
            log.lock().extend(ops);
        }
        end
    }

    /// [`Server::propagate`] for a command that propagates as it came
    /// (the common write): its argv is encoded where it is, not copied.
    pub fn propagate_as_is(&self, db: usize, argv: &Argv) -> Option<u64> {
        if self.propagation_log.is_some() {
            return self.propagate(vec![(db, argv.clone())]);
        }
        self.repl.feed([(db, argv)])
    }

    /// `maxmemory` in force (0: none).
    pub fn maxmemory(&self) -> u64 {
        self.eviction[0].load(Ordering::Relaxed)
    }

    pub fn maxmemory_policy(&self) -> MaxmemoryPolicy {
        let index = self.eviction[1].load(Ordering::Relaxed) as usize;
        MaxmemoryPolicy::ALL
            .get(index)
            .copied()
            .unwrap_or(MaxmemoryPolicy::NoEviction)
    }

    /// LFU parameters when an LFU policy is active.
    pub fn lfu_params(&self) -> Option<LfuParams> {
        self.maxmemory_policy().lfu().then(|| LfuParams {
            log_factor: self.eviction[4]
                .load(Ordering::Relaxed)
                .min(u64::from(u32::MAX)) as u32,
            decay_minutes: self.eviction[5]
                .load(Ordering::Relaxed)
                .min(u64::from(u32::MAX)) as u32,
        })
    }

    /// Evicts keys until used memory is under `maxmemory` (evict.c
    /// `performEvictions`). False when it cannot (noeviction, or nothing
    /// evictable): the caller then refuses commands that may grow memory.
    /// Takes stripe locks itself: call it holding none.
    pub fn perform_evictions(&self, shard: usize) -> bool {
        let max = self.maxmemory();
        let Some(mut used) = crate::io::alloc::used_bytes() else {
            return true;
        };
        if max == 0 || used <= max {
            return true;
        }
        // replica-ignore-maxmemory: a replica's dataset is its master's.
        if self.repl.is_replica() && self.config.read().replica_ignore_maxmemory {
            return true;
        }
        let policy = self.maxmemory_policy();
        if policy == MaxmemoryPolicy::NoEviction {
            return false;
        }
        let samples = self.eviction[2].load(Ordering::Relaxed) as usize;
        let started = std::time::Instant::now();
        // Bounded work per command, as Redis bounds it by tenacity.
        let rounds = 16 + 64 * self.eviction[3].load(Ordering::Relaxed).min(100) as usize;
        let mut evicted = 0u64;
        for _ in 0..rounds {
            // A miss (sampled stripes held no candidate) just tries again.
            let Some((db, key)) = evict::pick_victim(self, policy, samples) else {
                continue;
            };
            if evict::evict(self, db, &key) {
                evicted += 1;
            }
            used = crate::io::alloc::used_bytes().unwrap_or(0);
            if used <= max {
                break;
            }
        }
        if evicted > 0 {
            self.metrics[shard].lock().evicted += evicted;
        }
        self.latency
            .add_if_needed("eviction-cycle", started.elapsed());
        used <= max
    }

    /// The small-collection encoding thresholds in force.
    pub fn encoding_limits(&self) -> EncodingLimits {
        EncodingLimits::from_array(self.encoding.each_ref().map(|a| a.load(Ordering::Relaxed)))
    }

    /// Re-reads the config values that commands read without the lock.
    pub fn refresh_cached_config(&self) {
        let config = self.config.read();
        self.latency_tracking
            .store(config.latency_tracking, Ordering::Relaxed);
        for (slot, value) in self
            .encoding
            .iter()
            .zip(EncodingLimits::from_config(&config).to_array())
        {
            slot.store(value, Ordering::Relaxed);
        }
        for (slot, value) in self.eviction.iter().zip(eviction_array(&config)) {
            slot.store(value, Ordering::Relaxed);
        }
        self.keyspace.lazyfree.set_modes(&lazy_modes(&config));
        self.notify_flags
            .store(notify_flags(&config), Ordering::Relaxed);
        let max_len = u64::try_from(config.slowlog_max_len).unwrap_or(0);
        self.slowlog
            .configure(config.slowlog_log_slower_than, max_len);
        self.latency
            .set_threshold(config.latency_monitor_threshold.unsigned_abs());
        self.repl.refresh_config(&config);
    }

    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn now_ms(&self) -> u64 {
        unix_ms()
    }

    /// The LRU clock: unix seconds, so an idle time set by RESTORE IDLETIME
    /// or loaded from an RDB may exceed the server's uptime.
    pub fn lru_clock(&self) -> u32 {
        lru_clock_at(unix_ms())
    }

    pub fn shard_handles(&self) -> &[ShardHandle] {
        self.shards.get().map(Vec::as_slice).unwrap_or(&[])
    }

    /// Records the `Arc` this server lives in (see [`Server::arc`]).
    pub fn set_arc(self: &std::sync::Arc<Self>) {
        let _ = self.me.set(std::sync::Arc::downgrade(self));
    }

    /// This server's `Arc`. Panics if [`Server::set_arc`] was not called
    /// (a server not started by `start`).
    pub fn arc(&self) -> std::sync::Arc<Server> {
        self.me
            .get()
            .and_then(std::sync::Weak::upgrade)
            .expect("server started without set_arc")
    }

    /// RDB writer settings from the config.
    pub fn rdb_encode_options(&self) -> crate::rdb::EncodeOptions {
        let c = self.config.read();
        crate::rdb::EncodeOptions {
            compress: c.rdbcompression,
            checksum: c.rdbchecksum,
            ..Default::default()
        }
    }

    /// The thresholds loaded values are converted by.
    pub fn rdb_limits(&self) -> crate::rdb::Limits {
        self.encoding_limits()
    }

    /// The AUX fields Redis 7.0 writes, in its order (rdb.c
    /// `rdbSaveInfoAuxFields`), with the replication position when the
    /// image has one.
    pub fn rdb_aux_fields(&self, repl: Option<&persist::ReplInfo>) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("redis-ver", crate::cmd::conn::REDIS_VERSION.to_string()),
            ("redis-bits", "64".to_string()),
            ("ctime", (unix_ms() / 1000).to_string()),
            (
                "used-mem",
                crate::io::alloc::used_bytes().unwrap_or(0).to_string(),
            ),
        ];
        if let Some(r) = repl {
            fields.push(("repl-stream-db", r.stream_db.to_string()));
            fields.push(("repl-id", r.replid.clone()));
            fields.push(("repl-offset", r.offset.to_string()));
        }
        fields.push(("aof-base", "0".to_string()));
        fields
    }

    /// Changes since startup, summed over shards (`server.dirty`).
    pub fn total_dirty(&self) -> u64 {
        self.metrics.iter().map(|m| m.lock().dirty).sum()
    }

    /// Records one executed command.
    #[allow(clippy::too_many_arguments)]
    pub fn record_call(
        &self,
        shard: usize,
        cmd: &'static Command,
        took: Duration,
        failed: bool,
        dirty: u64,
        expired: u64,
        hits: u64,
        misses: u64,
    ) {
        let tracking = self.latency_tracking();
        let mut m = self.metrics[shard].lock();
        m.commands += 1;
        m.dirty += dirty;
        m.expired += expired;
        m.hits += hits;
        m.misses += misses;
        if failed {
            m.error_replies += 1;
        }
        let stat = cmd_stat(&mut m, cmd);
        stat.calls += 1;
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        stat.nanos += nanos;
        if failed {
            stat.failed += 1;
        }
        if tracking {
            let hist = stat.latency_ns.get_or_insert_with(new_latency_histogram);
            hist.saturating_record(nanos.max(1));
        }
    }

    /// Command `id`'s latency histogram, the shards' merged (None when no
    /// shard tracked a call of it: latency-tracking off, or never run).
    pub fn command_latency(&self, id: usize) -> Option<Histogram<u64>> {
        let mut merged: Option<Histogram<u64>> = None;
        for m in &self.metrics {
            if let Some(h) = m.lock().cmds.get(id).and_then(|c| c.latency_ns.as_ref()) {
                let _ = merged.get_or_insert_with(new_latency_histogram).add(h);
            }
        }
        merged
    }

    /// Records a command rejected before it ran (arity, auth).
    pub fn metrics_reject(&self, shard: usize, cmd: &'static Command) {
        let mut m = self.metrics[shard].lock();
        m.error_replies += 1;
        cmd_stat(&mut m, cmd).rejected += 1;
    }

    /// Counts an error reply under its first word (`ERR`, `WRONGTYPE`...),
    /// as server.c `afterErrorReply` feeds INFO errorstats.
    pub fn count_error(&self, shard: usize, reply: &[u8]) {
        let text = reply.strip_prefix(b"-").unwrap_or(reply);
        let end = text
            .iter()
            .position(|&b| b == b' ' || b == b'\r')
            .unwrap_or(text.len())
            .min(128);
        let kind = String::from_utf8_lossy(&text[..end]).into_owned();
        *self.metrics[shard]
            .lock()
            .error_kinds
            .entry(kind)
            .or_insert(0) += 1;
    }

    fn latency_tracking(&self) -> bool {
        self.latency_tracking.load(Ordering::Relaxed)
    }

    /// Sends a MONITOR line for `argv` to every shard that has monitors
    /// (replication.c `replicationFeedMonitors`).
    pub fn feed_monitors(&self, client: &Client, cmd: &Command, argv: &Argv) {
        use crate::cmd::flags::{ADMIN, SKIP_MONITOR};
        if self.monitors.load(Ordering::Relaxed) == 0 || cmd.flags & (ADMIN | SKIP_MONITOR) != 0 {
            return;
        }
        let line: Arc<[u8]> = monitor_line(client, argv).into();
        for handle in self.shard_handles() {
            handle.send(ShardMsg::Monitor(line.clone()));
        }
    }

    /// Asks the main thread to shut down (SHUTDOWN, signals).
    pub fn request_shutdown(&self, mode: ShutdownMode) {
        *self.shutdown.lock() = Some(mode);
        // The main thread sleeps in sigwait(); SIGTERM to ourselves wakes it.
        crate::io::sys::raise_sigterm();
    }
}

fn cmd_stat<'m>(m: &'m mut ShardMetrics, cmd: &'static Command) -> &'m mut CmdStat {
    if m.cmds.is_empty() {
        m.cmds.resize_with(all_commands().len(), CmdStat::default);
    }
    &mut m.cmds[cmd.id()]
}

/// 1 ns to 100 s with 2 significant digits, as Redis's latency histograms.
pub fn new_latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 2).expect("static histogram bounds are valid")
}

/// The LRU clock (unix seconds) at `now_ms`.
pub fn lru_clock_at(now_ms: u64) -> u32 {
    u32::try_from(now_ms / 1000).unwrap_or(u32::MAX)
}

/// The monotonic instant [`unix_ms_at`] measures from.
static CLOCK_BASE: OnceLock<Instant> = OnceLock::new();
/// Unix ns at `CLOCK_BASE`, as last measured (0: not yet).
static CLOCK_OFFSET_NS: AtomicU64 = AtomicU64::new(0);

/// Re-reads the real clock for [`unix_ms_at`]; every shard's timer calls
/// it, so a step of the system clock shows within one tick (NTP slews
/// both clocks alike). The monotonic clock is read first, so the derived
/// time is never behind the real one (a client that read the time before
/// a command must not see the command's time before it).
pub fn refresh_clock_offset() {
    let base = *CLOCK_BASE.get_or_init(Instant::now);
    // Bracket the real-clock read with monotonic ones and keep the tightest
    // of a few tries: a preemption between the reads would put the derived
    // time ahead by its length.
    let mut best: Option<(u64, u64)> = None; // (gap ns, offset ns)
    for _ in 0..4 {
        let before = base.elapsed().as_nanos() as u64;
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let after = base.elapsed().as_nanos() as u64;
        let gap = after - before;
        if best.is_none_or(|(g, _)| gap < g) {
            best = Some((gap, unix.saturating_sub(before)));
        }
        if gap < 10_000 {
            break;
        }
    }
    if let Some((_, offset)) = best {
        CLOCK_OFFSET_NS.store(offset, Ordering::Relaxed);
    }
}

/// Unix ms at a monotonic `instant` the caller already read: one clock
/// read per command serves both its duration and its notion of now.
pub fn unix_ms_at(instant: Instant) -> u64 {
    let mut offset = CLOCK_OFFSET_NS.load(Ordering::Relaxed);
    if offset == 0 {
        refresh_clock_offset();
        offset = CLOCK_OFFSET_NS.load(Ordering::Relaxed);
    }
    let base = *CLOCK_BASE.get_or_init(Instant::now);
    (offset + instant.saturating_duration_since(base).as_nanos() as u64) / 1_000_000
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `+<secs>.<usecs> [<db> <addr>] "arg" ...` as Redis prints it.
fn monitor_line(client: &Client, argv: &Argv) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        now.as_secs(),
        now.subsec_micros(),
        client.db,
        client.meta.addr
    )
    .into_bytes();
    for arg in argv.iter() {
        line.push(b' ');
        repr_into(arg, &mut line);
    }
    line.extend_from_slice(b"\r\n");
    line
}

/// sds.c `sdscatrepr`: a quoted, escaped rendering of binary data.
pub fn repr_into(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            b if b.is_ascii_graphic() || b == b' ' => out.push(b),
            b => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// A 40-hex-char random id (run_id, and later replid), from the kernel's RNG.
pub fn random_hex40() -> String {
    let mut bytes = [0u8; 20];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_err()
    {
        let seed = unix_ms() ^ u64::from(std::process::id()) << 32;
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed.rotate_left(i as u32 * 7) ^ (i as u64 * 0x9e37_79b9)) as u8;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The derived clock is never behind the real one (a client that read
    /// the time before a command never sees the command's time before it),
    /// and ahead by less than a millisecond.
    #[test]
    fn unix_ms_at_is_the_real_time() {
        for round in 0..1000 {
            if round % 100 == 0 {
                refresh_clock_offset();
            }
            let before = unix_ms();
            let derived = unix_ms_at(Instant::now());
            let after = unix_ms();
            // Ahead by up to the offset's bracketing gap (microseconds),
            // which can straddle a millisecond boundary.
            assert!(
                before <= derived && derived <= after + 1,
                "{before} {derived} {after}"
            );
        }
    }

    /// The RDB decoder's default thresholds are the directives' defaults.
    #[test]
    fn encoding_limits_default_matches_the_config_defaults() {
        let Ok(crate::config::Invocation::Run(loaded)) = crate::config::load_from_args(&[]) else {
            panic!("the embedded defaults load");
        };
        assert_eq!(
            EncodingLimits::from_config(&loaded.config),
            EncodingLimits::default()
        );
    }
}
