//! Replication (Redis's PSYNC2): the replication IDs and offset, the
//! backlog ring, the replica's link (`replica`), the master's senders
//! (`master`) and WAIT.
//!
//! ```text
//!   master: every write -> feed() -> backlog ring (propagation form,
//!           under the write's stripe locks) -> senders wake -> replicas
//!   replica: master's stream -> applied -> the same bytes -> its own
//!           ring (feed_raw) -> its sub-replicas (identical offsets)
//! ```
//!
//! The ring holds the stream from its creation: on a master when the first
//! replica attaches, on a replica at its full sync (at the master's
//! offset). PSYNC <replid> <offset> continues when the ID is ours (or our
//! previous one, up to the offset where it ended: PSYNC2) and the offset
//! is still in the ring.

pub mod apply;
pub mod backlog;
pub mod fullsync;
pub mod handshake;
pub mod liveload;
pub mod master;
pub mod replica;

use crate::protocol::Argv;
use backlog::Backlog;
use parking_lot::{Condvar, Mutex, RwLock};
use std::sync::atomic::{fence, AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Smallest ring. A replica's watcher copies the stream a syncing replica
/// has not been sent to a spill file once half the ring is unsent
/// (`master::Spill`), polling every [`master::WATCH_TICK`]; half this ring
/// per tick is 1.6 GB/s of writes, far above what the shards can append,
/// so the ring never wraps past a syncing replica between two polls. The
/// ring is max(repl-backlog-size, this); its pages are touched only as the
/// stream fills them.
pub const MIN_BACKLOG_BYTES: u64 = 32 << 20;

/// `*1\r\n$4\r\nPING\r\n`, the master's keepalive in the stream.
const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";

/// `REPLCONF GETACK *`, asking every replica for its offset (WAIT).
const GETACK: &[u8] = b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";

/// The replication IDs (Redis's `replid`, `replid2`,
/// `second_replid_offset`).
#[derive(Clone, Debug)]
pub struct Ids {
    /// The history this server's stream belongs to (a replica's is its
    /// master's).
    pub replid: String,
    /// The history before the last switch (promotion, or a master that
    /// continued with a new ID), valid up to `second`.
    pub replid2: String,
    /// The last offset of `replid2`'s history (INFO shows it plus one).
    pub second: Option<u64>,
}

const NO_REPLID: &str = "0000000000000000000000000000000000000000";

/// INFO stats counters.
#[derive(Default)]
pub struct SyncStats {
    pub full: AtomicU64,
    pub partial_ok: AtomicU64,
    pub partial_err: AtomicU64,
    /// Full syncs that ended before the replica was online (each logged
    /// with its cause).
    pub full_aborted: AtomicU64,
    /// Stream bytes kept in spill files for replicas that were loading.
    pub spilled_bytes: AtomicU64,
}

/// Wakes senders waiting for the stream to grow (or for their state to
/// change). Appenders pay one load while no sender sleeps.
#[derive(Default)]
pub struct Wakeup {
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Wakeup {
    pub fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock();
            self.cv.notify_all();
        }
    }

    /// Sleeps until notified or `timeout`, unless `ready` already holds.
    pub fn wait(&self, timeout: Duration, ready: impl Fn() -> bool) {
        let mut guard = self.lock.lock();
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !ready() {
            self.cv.wait_for(&mut guard, timeout);
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A client blocked in WAIT.
struct Wait {
    waiter: Arc<crate::store::Waiter>,
    offset: u64,
    replicas: usize,
}

/// The server's replication role and stream.
pub struct Replication {
    master: Mutex<Option<replica::Link>>,
    /// `master.is_some()`, readable without the lock.
    replica: AtomicBool,
    /// Replicas attached to this server.
    pub replicas: master::Replicas,
    /// Full syncs sharing snapshots.
    pub syncs: fullsync::SyncQueues,
    ids: Mutex<Ids>,
    /// The stream to replicas (None until one attaches, as in Redis: the
    /// offset advances only while a backlog exists). Replaced, never
    /// changed in place: senders hold the ring they read.
    backlog: RwLock<Option<Arc<Backlog>>>,
    /// `backlog.is_some()`, read by every command without the lock.
    backlog_exists: AtomicBool,
    /// A replica's db in its master's stream (where the next command
    /// without SELECT applies), stored before the bytes that change it are
    /// appended.
    stream_db: AtomicI64,
    /// `master_repl_offset` while no backlog exists.
    idle_offset: AtomicU64,
    /// Bumped when attached replicas must reconnect (promotion, a new
    /// history): their senders see it and close.
    generation: AtomicU64,
    pub wakeup: Wakeup,
    last_ping_ms: AtomicU64,
    pub stats: SyncStats,
    waits: Mutex<Vec<Wait>>,
    /// Shards (bit `shard % 64`) with a client listed in `waits`, kept
    /// under its lock ([`Replication::waits_on`]).
    waiting_shards: AtomicU64,
    /// A replica is replacing its dataset: clients get -LOADING.
    loading: AtomicBool,
    /// A replica loads into a second dataset while the old one serves.
    async_loading: AtomicBool,
    /// When `loading` or `async_loading` last began (INFO persistence).
    loading_since_s: AtomicU64,
    /// `min-replicas-to-write` and `min-replicas-max-lag` (seconds).
    min_replicas: [AtomicI64; 2],
    /// `replica-serve-stale-data`.
    serve_stale: AtomicBool,
    /// Writes are paused (FAILOVER, CLIENT PAUSE): their clients wait
    /// here; `paused_all` when every command is (CLIENT PAUSE ALL).
    paused: AtomicBool,
    paused_all: AtomicBool,
    /// Why (networking.c's pause purposes): FAILOVER's, and CLIENT
    /// PAUSE's (until unix ms, all commands or writes only). Under the
    /// lock of `postponed`.
    pause_by_failover: AtomicBool,
    client_pause: Mutex<Option<(u64, bool)>>,
    postponed: Mutex<Vec<Arc<crate::store::Waiter>>>,
    pub failover: Mutex<Failover>,
    /// Unix ms since when no replica is attached (0: one is).
    pub no_replicas_since_ms: AtomicU64,
    /// The stream grew since the senders were last woken.
    fed: AtomicBool,
}

thread_local! {
    /// A write's propagation form is built here (no allocation per write).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A coordinated failover (FAILOVER), driven by [`Replication::failover_cron`].
#[derive(Default)]
pub struct Failover {
    pub state: FailoverState,
    /// The replica to hand over to (None: the first caught-up one).
    pub target: Option<(String, u16)>,
    /// Unix ms when waiting ends (0: never).
    pub end_ms: u64,
    pub force: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailoverState {
    #[default]
    None,
    WaitForSync,
    InProgress,
}

impl FailoverState {
    /// INFO's `master_failover_state`.
    pub fn name(self) -> &'static str {
        match self {
            FailoverState::None => "no-failover",
            FailoverState::WaitForSync => "waiting-for-sync",
            FailoverState::InProgress => "failover-in-progress",
        }
    }
}

impl Default for Replication {
    fn default() -> Self {
        Replication {
            master: Mutex::new(None),
            replica: AtomicBool::new(false),
            replicas: master::Replicas::default(),
            syncs: fullsync::SyncQueues::default(),
            ids: Mutex::new(Ids {
                replid: crate::server::random_hex40(),
                replid2: NO_REPLID.to_string(),
                second: None,
            }),
            backlog: RwLock::new(None),
            backlog_exists: AtomicBool::new(false),
            stream_db: AtomicI64::new(0),
            idle_offset: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            wakeup: Wakeup::default(),
            last_ping_ms: AtomicU64::new(0),
            stats: SyncStats::default(),
            waits: Mutex::new(Vec::new()),
            waiting_shards: AtomicU64::new(0),
            loading: AtomicBool::new(false),
            async_loading: AtomicBool::new(false),
            loading_since_s: AtomicU64::new(0),
            min_replicas: [AtomicI64::new(0), AtomicI64::new(10)],
            serve_stale: AtomicBool::new(true),
            paused: AtomicBool::new(false),
            paused_all: AtomicBool::new(false),
            pause_by_failover: AtomicBool::new(false),
            client_pause: Mutex::new(None),
            postponed: Mutex::new(Vec::new()),
            failover: Mutex::new(Failover::default()),
            no_replicas_since_ms: AtomicU64::new(0),
            fed: AtomicBool::new(false),
        }
    }
}

/// How PSYNC is answered.
pub enum Psync {
    /// `+CONTINUE`: stream from this offset.
    Continue(u64),
    /// `+FULLRESYNC`, with the reason a partial one was refused (None when
    /// the replica did not ask for one).
    Full(Option<String>),
}

impl Replication {
    /// Checked by every write command (READONLY): an atomic, not the
    /// link's mutex, which every shard would contend on.
    pub fn is_replica(&self) -> bool {
        self.replica.load(Ordering::Acquire)
    }

    /// The link's shared status while this server is a replica.
    pub fn link_status(&self) -> Option<Arc<replica::LinkStatus>> {
        self.master.lock().as_ref().map(|l| Arc::clone(&l.status))
    }

    pub fn ids(&self) -> Ids {
        self.ids.lock().clone()
    }

    /// The backlog if one exists.
    pub fn backlog(&self) -> Option<Arc<Backlog>> {
        self.backlog.read().clone()
    }

    pub fn has_backlog(&self) -> bool {
        self.backlog_exists.load(Ordering::Acquire)
    }

    /// Takes the directives read on hot paths (startup and CONFIG SET):
    /// min-replicas, replica-serve-stale-data; resizes the ring if
    /// repl-backlog-size changed.
    pub fn refresh_config(&self, c: &crate::config::Config) {
        self.min_replicas[0].store(c.min_replicas_to_write, Ordering::Relaxed);
        self.min_replicas[1].store(c.min_replicas_max_lag, Ordering::Relaxed);
        self.serve_stale
            .store(c.replica_serve_stale_data, Ordering::Relaxed);
        self.resize_backlog(c.repl_backlog_size);
    }

    /// `replica-serve-stale-data`, read by every command on a replica.
    pub fn serves_stale_data(&self) -> bool {
        self.serve_stale.load(Ordering::Relaxed)
    }

    /// min-replicas-to-write: true unless it is set and fewer replicas
    /// than that are online with an ACK within min-replicas-max-lag
    /// seconds (replication.c `checkGoodReplicasStatus`).
    pub fn enough_good_replicas(&self) -> bool {
        let to_write = self.min_replicas[0].load(Ordering::Relaxed);
        let max_lag = self.min_replicas[1].load(Ordering::Relaxed);
        if to_write <= 0 || max_lag <= 0 || self.is_replica() {
            return true;
        }
        self.good_replicas(max_lag) as i64 >= to_write
    }

    /// Online replicas whose last ACK is at most `max_lag` seconds old
    /// (`repl_good_slaves_count`).
    pub fn good_replicas(&self, max_lag: i64) -> usize {
        let now = crate::server::unix_ms() / 1000;
        let max_lag = u64::try_from(max_lag).unwrap_or(0);
        self.replicas.count(|r| {
            r.is_online() && now.saturating_sub(r.ack_ms.load(Ordering::Relaxed) / 1000) <= max_lag
        })
    }

    pub fn writes_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// CLIENT PAUSE ALL is in force: every command of a client waits.
    pub fn all_paused(&self) -> bool {
        self.paused_all.load(Ordering::Acquire)
    }

    /// CLIENT PAUSE (networking.c `pauseClients`): until `end_ms`, all
    /// commands or writes only; a pause already in force keeps the later
    /// end and the stricter kind.
    pub fn client_pause(&self, srv: &crate::server::Server, end_ms: u64, all: bool) {
        {
            let mut pause = self.client_pause.lock();
            let (end, all) = match *pause {
                Some((end, was_all)) => (end.max(end_ms), was_all || all),
                None => (end_ms, all),
            };
            // An end already past (a timeout of 0) is no pause.
            *pause = (end > crate::server::unix_ms()).then_some((end, all));
        }
        self.update_pause(srv);
    }

    /// CLIENT UNPAUSE: the client pause ends (a failover's stays).
    pub fn client_unpause(&self, srv: &crate::server::Server) {
        *self.client_pause.lock() = None;
        self.update_pause(srv);
    }

    /// Ends a CLIENT PAUSE whose time is up (every shard-0 timer tick).
    pub fn pause_cron(&self, srv: &crate::server::Server) {
        let expired = {
            let mut pause = self.client_pause.lock();
            let over = pause.is_some_and(|(end, _)| end <= crate::server::unix_ms());
            if over {
                *pause = None;
            }
            over
        };
        if expired {
            self.update_pause(srv);
        }
    }

    /// networking.c `updateClientPauseTypeAndEndTime`: the flags from the
    /// purposes; when the pause got less strict, every postponed command
    /// runs again (and waits again if it still must).
    fn update_pause(&self, srv: &crate::server::Server) {
        let client = *self.client_pause.lock();
        let writes = self.pause_by_failover.load(Ordering::Acquire) || client.is_some();
        let all = client.is_some_and(|(_, all)| all);
        let waiters = {
            let mut postponed = self.postponed.lock();
            let was = (self.writes_paused(), self.all_paused());
            self.paused.store(writes, Ordering::Release);
            self.paused_all.store(all, Ordering::Release);
            if (writes, all) < was {
                std::mem::take(&mut *postponed)
            } else {
                Vec::new()
            }
        };
        let Some(handles) = srv.shards.get() else {
            return;
        };
        for w in waiters {
            if w.claim() {
                if let Some(h) = handles.get(w.shard) {
                    h.send(crate::server::ShardMsg::Retry {
                        client_id: w.client_id,
                    });
                }
            }
        }
    }

    /// Holds a write until writes resume (Redis's `blockPostponeClient`);
    /// false when they already have (the caller runs it now).
    pub fn postpone(&self, waiter: Arc<crate::store::Waiter>) -> bool {
        let mut postponed = self.postponed.lock();
        if !self.writes_paused() {
            return false;
        }
        postponed.push(waiter);
        true
    }

    fn pause_writes(&self) {
        let _guard = self.postponed.lock();
        self.pause_by_failover.store(true, Ordering::Release);
        self.paused.store(true, Ordering::Release);
    }

    /// Resumes writes (unless a CLIENT PAUSE holds them): every postponed
    /// command runs again on its shard.
    fn unpause_writes(&self, srv: &crate::server::Server) {
        self.pause_by_failover.store(false, Ordering::Release);
        self.update_pause(srv);
    }

    /// FAILOVER accepted: writes pause, the replicas are asked for ACKs.
    pub fn start_failover(&self, target: Option<(String, u16)>, end_ms: u64, force: bool) {
        *self.failover.lock() = Failover {
            state: FailoverState::WaitForSync,
            target,
            end_ms,
            force,
        };
        self.pause_writes();
        self.request_acks();
    }

    /// Appends `REPLCONF GETACK *` and sends it at once.
    fn request_acks(&self) {
        if let Some(b) = self.backlog.read().as_ref() {
            b.append(None, GETACK);
        }
        self.mark_fed();
        self.notify_fed();
    }

    /// Ends a failover (done or aborted), resuming writes.
    fn clear_failover(&self, srv: &crate::server::Server) {
        *self.failover.lock() = Failover::default();
        self.unpause_writes(srv);
    }

    /// FAILOVER ABORT, a timeout, or a refused PSYNC FAILOVER: back to
    /// being a master (replication.c `abortFailover`).
    pub fn abort_failover(&self, srv: &crate::server::Server, why: &str) {
        let f = std::mem::take(&mut *self.failover.lock());
        if f.state == FailoverState::None {
            return;
        }
        match &f.target {
            Some((h, p)) => crate::notice!("FAILOVER to {h}:{p} aborted: {why}"),
            None => crate::notice!("FAILOVER to any replica aborted: {why}"),
        }
        if f.state == FailoverState::InProgress {
            self.promote();
            srv.config.write().replicaof = None;
        }
        self.clear_failover(srv);
    }

    /// repl-backlog-ttl: a master without replicas for that long frees its
    /// backlog and starts a new history (replication.c `replicationCron`:
    /// nobody can continue the old one from a ring that is gone).
    pub fn backlog_cron(&self, ttl_s: i64) {
        let since = self.no_replicas_since_ms.load(Ordering::Acquire);
        if ttl_s <= 0 || since == 0 || self.is_replica() || !self.has_backlog() {
            return;
        }
        if crate::server::unix_ms().saturating_sub(since) <= ttl_s as u64 * 1000 {
            return;
        }
        {
            let mut slot = self.backlog.write();
            if let Some(b) = slot.take() {
                self.idle_offset.store(b.offset(), Ordering::Release);
            }
            self.backlog_exists.store(false, Ordering::Release);
        }
        self.adopt(&crate::server::random_hex40());
        crate::notice!(
            "Replication backlog freed after {ttl_s} seconds without connected replicas."
        );
    }

    /// Drives a failover (every shard-0 timer tick; replication.c
    /// `updateFailoverStatus`): once the target (or any replica) has
    /// acknowledged our whole stream, this server becomes its replica and
    /// asks it, with PSYNC ... FAILOVER, to become the master; writes
    /// resume when that link is up (they then get READONLY).
    pub fn failover_cron(&self, srv: &crate::server::Server) {
        let (state, target, end_ms, force) = {
            let f = self.failover.lock();
            (f.state, f.target.clone(), f.end_ms, f.force)
        };
        match state {
            FailoverState::None => {}
            FailoverState::WaitForSync => {
                let now = crate::server::unix_ms();
                // A replica can only acknowledge published bytes: equal
                // to the reserved end, it has every write that replied.
                let offset = self.stream_offset(Backlog::reserved);
                let caught_up = self.replicas.snapshot().into_iter().find(|r| {
                    r.is_online()
                        && r.ack_offset.load(Ordering::Acquire) == offset
                        && target
                            .as_ref()
                            .is_none_or(|(h, p)| h.eq_ignore_ascii_case(&r.ip) && *p == r.port)
                });
                let to = match (caught_up, end_ms != 0 && now >= end_ms) {
                    (Some(r), _) => {
                        crate::notice!(
                            "Failover target {}:{} is synced, failing over.",
                            r.ip,
                            r.port
                        );
                        (r.ip.clone(), r.port)
                    }
                    (None, true) if force && target.is_some() => {
                        let (h, p) = target.clone().unwrap_or_default();
                        crate::notice!("FAILOVER to {h}:{p} time out exceeded, failing over.");
                        (h, p)
                    }
                    (None, true) => {
                        return self.abort_failover(srv, "Replica never caught up before timeout")
                    }
                    (None, false) => return,
                };
                {
                    let mut f = self.failover.lock();
                    f.state = FailoverState::InProgress;
                    f.target = Some(to.clone());
                }
                let cached = self.begin_switch(&srv.keyspace);
                self.disconnect_replicas();
                let link = replica::Link::start(srv.arc(), to.0.clone(), to.1, cached, true);
                self.set_master(Some(link));
                srv.config.write().replicaof = Some(to);
            }
            FailoverState::InProgress => match self.link_status() {
                Some(link) if link.failover_refused.load(Ordering::Acquire) => {
                    self.abort_failover(srv, "Failover target rejected psync request")
                }
                Some(link) if link.state() == replica::LinkState::Connected => {
                    crate::notice!("FAILOVER completed: this server is now a replica");
                    self.clear_failover(srv);
                }
                _ => {}
            },
        }
    }

    pub fn is_loading(&self) -> bool {
        self.loading.load(Ordering::Acquire)
    }

    pub fn set_loading(&self, on: bool) {
        self.set_load_flag(&self.loading, on);
    }

    /// A load into a second dataset while the old one serves (Redis's
    /// `async_loading`: swapdb, and disabled into an empty dataset).
    pub fn is_async_loading(&self) -> bool {
        self.async_loading.load(Ordering::Acquire)
    }

    pub fn set_async_loading(&self, on: bool) {
        self.set_load_flag(&self.async_loading, on);
    }

    /// Sets `flag`; turning it on notes when the load began.
    fn set_load_flag(&self, flag: &AtomicBool, on: bool) {
        if !flag.swap(on, Ordering::AcqRel) && on {
            self.loading_since_s
                .store(crate::server::unix_ms() / 1000, Ordering::Release);
        }
    }

    /// Unix seconds when the current (or last) load began.
    pub fn loading_since_s(&self) -> u64 {
        self.loading_since_s.load(Ordering::Acquire)
    }

    pub fn stream_db(&self) -> i64 {
        self.stream_db.load(Ordering::Acquire)
    }

    pub fn set_stream_db(&self, db: usize) {
        self.stream_db
            .store(i64::try_from(db).unwrap_or(-1), Ordering::Release);
    }

    /// The backlog, created at the current offset if there is none.
    pub fn ensure_backlog(&self, bytes: u64) -> Arc<Backlog> {
        let mut slot = self.backlog.write();
        if let Some(b) = slot.as_ref() {
            return Arc::clone(b);
        }
        let offset = self.idle_offset.load(Ordering::Acquire);
        let ring = Arc::new(Backlog::new(ring_bytes(bytes), offset));
        *slot = Some(Arc::clone(&ring));
        self.backlog_exists.store(true, Ordering::Release);
        ring
    }

    /// A new, empty ring starting at `offset` (a replica's full sync: its
    /// stream now continues the master's at `offset`). Sub-replicas
    /// reading the old one are disconnected.
    pub fn reset_backlog(&self, bytes: u64, offset: u64) {
        self.idle_offset.store(offset, Ordering::Release);
        *self.backlog.write() = Some(Arc::new(Backlog::new(ring_bytes(bytes), offset)));
        self.backlog_exists.store(true, Ordering::Release);
        self.disconnect_replicas();
    }

    /// CONFIG SET repl-backlog-size: a ring of the new size replaces the
    /// current one, with as much of its history as fits; attached replicas
    /// reconnect and continue from it by partial resync (their senders
    /// read the old ring).
    pub fn resize_backlog(&self, bytes: u64) {
        let want = ring_bytes(bytes);
        let mut slot = self.backlog.write();
        let Some(old) = slot.as_ref() else {
            return;
        };
        if Backlog::capacity_for(want) == old.capacity() {
            return;
        }
        let (first, end) = (old.first_offset(), old.offset());
        let mut history = Vec::new();
        let start = match old.read(first, usize::MAX, &mut history) {
            Ok(_) => first,
            Err(_) => {
                history.clear();
                end
            }
        };
        let ring = Backlog::new(want, start);
        ring.append(None, &history);
        *slot = Some(Arc::new(ring));
        drop(slot);
        crate::notice!(
            "Replication backlog resized to {} bytes",
            Backlog::capacity_for(want)
        );
        self.disconnect_replicas();
    }

    /// `master_repl_offset`.
    pub fn offset(&self) -> u64 {
        self.stream_offset(Backlog::offset)
    }

    /// `at` of the backlog (`Backlog::offset`, `reserved`, `settled`), or
    /// the offset kept while there is none.
    fn stream_offset(&self, at: impl FnOnce(&Backlog) -> u64) -> u64 {
        match self.backlog.read().as_ref() {
            Some(b) => at(b),
            None => self.idle_offset.load(Ordering::Acquire),
        }
    }

    /// Makes every attached replica reconnect (its sender closes the link).
    pub fn disconnect_replicas(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.wakeup.notify();
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Appends a master's writes in their propagation form (called while
    /// their stripes are held) and returns the offset after them. Several
    /// ops are one MULTI block: one append, so no other write lands inside
    /// it; a block that changes database ends with a SELECT back to its
    /// first. A replica's own writes (replica-read-only no) stay local, as
    /// in Redis.
    pub fn feed<'a>(&self, ops: impl IntoIterator<Item = (usize, &'a Argv)>) -> Option<u64> {
        let mut ops = ops.into_iter().peekable();
        let first = ops.peek()?.0;
        if self.is_replica() {
            return None;
        }
        let guard = self.backlog.read();
        let backlog = guard.as_ref()?;
        let end = SCRATCH.with(|scratch| {
            let mut entry = scratch.borrow_mut();
            entry.clear();
            let mut current = first;
            for (db, argv) in ops {
                if db != current {
                    entry.extend(backlog::select_command(db));
                    current = db;
                }
                crate::protocol::encode_command_into(&mut entry, argv.iter());
            }
            if current != first {
                entry.extend(backlog::select_command(first));
            }
            backlog.append(Some(first), &entry)
        });
        drop(guard);
        self.mark_fed();
        Some(end)
    }

    /// Notes that the stream grew; [`Replication::notify_fed`] wakes the
    /// senders once per shard loop iteration (or link batch), not once
    /// per write.
    fn mark_fed(&self) {
        if !self.fed.load(Ordering::Relaxed) {
            self.fed.store(true, Ordering::Release);
        }
    }

    /// Wakes the senders if the stream grew since the last call.
    /// The calling shard sends them to the streaming replicas itself when
    /// it can; the sender threads are woken only for what it could not.
    pub fn notify_fed(&self) {
        if self.fed.load(Ordering::Relaxed) && self.fed.swap(false, Ordering::AcqRel) {
            let done = match self.backlog.read().as_ref() {
                Some(b) => self.replicas.push_all(b, &self.stats),
                None => true,
            };
            if !done {
                self.wakeup.notify();
            }
        }
    }

    /// Appends bytes of the master's stream as they came (a replica feeds
    /// its sub-replicas the identical stream).
    pub fn feed_raw(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(b) = self.backlog.read().as_ref() {
            b.append(None, bytes);
        }
        self.mark_fed();
    }

    /// Appends a PING to the stream when `period_ms` passed since the last
    /// one (one per period for all replicas, as Redis's cron). A replica's
    /// sub-replicas get its master's PINGs instead.
    pub fn ping_if_due(&self, now_ms: u64, period_ms: u64) {
        // Paused (FAILOVER): the offset must hold still for the replicas
        // to catch up with it.
        if self.is_replica() || self.writes_paused() {
            return;
        }
        let last = self.last_ping_ms.load(Ordering::Acquire);
        if now_ms.saturating_sub(last) >= period_ms
            && self
                .last_ping_ms
                .compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            if let Some(b) = self.backlog.read().as_ref() {
                b.append(None, PING);
            }
            self.wakeup.notify();
        }
    }

    /// Redis's `masterTryPartialResynchronization` rules for
    /// `PSYNC <replid> <psync_offset>` (the replica's offset plus one).
    pub fn psync(&self, replid: &str, psync_offset: &str) -> Psync {
        if replid == "?" {
            return Psync::Full(None);
        }
        let Some(asked) = psync_offset
            .parse::<i64>()
            .ok()
            .and_then(|o| o.checked_sub(1))
        else {
            return Psync::Full(Some(format!("invalid offset '{psync_offset}'")));
        };
        let ids = self.ids();
        let from = u64::try_from(asked).unwrap_or(u64::MAX);
        if replid != ids.replid {
            let sibling = replid == ids.replid2 && ids.second.is_some_and(|s| from <= s);
            if !sibling {
                return Psync::Full(Some(if replid == ids.replid2 {
                    format!(
                        "Requested offset for second ID was {}, but I can reply up to {}",
                        asked + 1,
                        ids.second.map_or(0, |s| s + 1)
                    )
                } else {
                    format!(
                        "Replication ID mismatch (Replica asked for '{replid}', my replication IDs are '{}' and '{}')",
                        ids.replid, ids.replid2
                    )
                }));
            }
        }
        let Some(b) = self.backlog() else {
            return Psync::Full(Some("no backlog".into()));
        };
        if asked < 0 || from < b.first_offset() || from > b.offset() {
            return Psync::Full(Some(format!(
                "Unable to partial resync with replica: lack of backlog (Replica request was: {}).",
                asked + 1
            )));
        }
        Psync::Continue(from)
    }

    /// A restarted replica's position from its RDB: its history, offset
    /// and stream db (the ring starts empty at that offset).
    pub fn restore(&self, info: &crate::server::persist::ReplInfo) {
        self.adopt(&info.replid);
        self.idle_offset.store(info.offset, Ordering::Release);
        self.stream_db
            .store(info.stream_db.max(0), Ordering::Release);
    }

    /// A master restarted from an RDB recording `info`: a new ID, the old
    /// one as replid2 up to that offset, and a ring starting there.
    pub fn restore_as_master(&self, info: &crate::server::persist::ReplInfo, backlog_bytes: u64) {
        {
            let mut ids = self.ids.lock();
            ids.replid2 = info.replid.clone();
            ids.second = Some(info.offset);
        }
        self.idle_offset.store(info.offset, Ordering::Release);
        self.ensure_backlog(backlog_bytes);
        self.no_replicas_since_ms
            .store(crate::server::unix_ms(), Ordering::Release);
        crate::notice!(
            "Continuing replication history {} from offset {} (as the secondary ID)",
            info.replid,
            info.offset
        );
    }

    /// A history with no past: a replica's full sync completed (its
    /// history is the master's), or a master that freed its backlog.
    pub fn adopt(&self, replid: &str) {
        let mut ids = self.ids.lock();
        ids.replid = replid.to_string();
        ids.replid2 = NO_REPLID.to_string();
        ids.second = None;
    }

    /// A new history starts after `offset` (promotion, or a master that
    /// continued us under a new ID): the old ID stays valid up to it, so
    /// former siblings continue by partial resync (PSYNC2).
    pub fn shift_ids(&self, new_replid: String, offset: u64) {
        let mut ids = self.ids.lock();
        ids.replid2 = std::mem::replace(&mut ids.replid, new_replid);
        ids.second = Some(offset);
        crate::notice!(
            "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
            ids.replid2,
            offset + 1,
            ids.replid
        );
    }

    /// Replaces the link (REPLICAOF); `None` makes this server a master.
    /// The old link's thread is stopped first.
    pub fn set_master(&self, link: Option<replica::Link>) {
        let old = {
            let mut master = self.master.lock();
            self.replica.store(link.is_some(), Ordering::Release);
            std::mem::replace(&mut *master, link)
        };
        if let Some(old) = old {
            old.stop();
        }
    }

    /// REPLICAOF host port, before the new link starts: writes stop (the
    /// replica flag is raised), the old link (if any) stops, and the
    /// history this server can offer the new master is returned, read
    /// once writes in flight are done (every stripe taken once): a
    /// master's own, or a replica's whose dataset is whole; None when
    /// a full sync left it partial.
    pub fn begin_switch(&self, keyspace: &crate::store::Keyspace) -> Option<replica::Cached> {
        let old = {
            let mut master = self.master.lock();
            self.replica.store(true, Ordering::Release);
            master.take()
        };
        let whole = match old {
            None => true,
            Some(link) => {
                let synced = link.status.synced.load(Ordering::Acquire);
                link.stop();
                synced
            }
        };
        drop(crate::store::Locked::all(keyspace));
        let offset = self.stream_offset(Backlog::settled);
        whole.then(|| (self.ids().replid, offset))
    }

    /// REPLICAOF NO ONE: the link stops, the stream continues under a new
    /// ID (the old one kept as replid2), attached replicas reconnect to
    /// learn it.
    pub fn promote(&self) {
        self.set_master(None);
        let offset = self.offset();
        self.shift_ids(crate::server::random_hex40(), offset);
        if let Some(b) = self.backlog() {
            // Our own writes start here: the first one selects its db.
            b.forget_db();
        }
        self.disconnect_replicas();
    }

    /// Blocks a WAIT client until `replicas` replicas acknowledged
    /// `offset` (or its shard times it out), and asks them all for an ACK.
    pub fn add_wait(&self, waiter: Arc<crate::store::Waiter>, offset: u64, replicas: usize) {
        let mut waits = self.waits.lock();
        self.waiting_shards
            .fetch_or(1 << (waiter.shard % 64), Ordering::Release);
        waits.push(Wait {
            waiter,
            offset,
            replicas,
        });
        drop(waits);
        self.request_acks();
    }

    /// Replicas that acknowledged `offset` (replication.c
    /// `replicationCountAcksByOffset`).
    pub fn acked(&self, offset: u64) -> usize {
        self.replicas
            .count(|r| r.is_online() && r.ack_offset.load(Ordering::Acquire) >= offset)
    }

    /// Serves the WAIT clients whose condition now holds (an ACK arrived).
    pub fn check_waits(&self, srv: &crate::server::Server) {
        let mut waits = self.waits.lock();
        if waits.is_empty() {
            return;
        }
        let handles = srv.shards.get();
        waits.retain(|w| {
            if w.waiter.claimed.load(Ordering::Acquire) {
                return false;
            }
            let n = self.acked(w.offset);
            if n < w.replicas || !w.waiter.claim() {
                return true;
            }
            if let Some(h) = handles.and_then(|h| h.get(w.waiter.shard)) {
                h.send(crate::server::ShardMsg::Unblock {
                    client_id: w.waiter.client_id,
                    reply: format!(":{n}\r\n").into_bytes(),
                });
            }
            false
        });
        let shards = waits
            .iter()
            .fold(0u64, |m, w| m | 1 << (w.waiter.shard % 64));
        self.waiting_shards.store(shards, Ordering::Release);
    }

    /// Whether a client of `shard` waits in WAIT (or a client of another
    /// shard with the same number modulo 64).
    pub fn waits_on(&self, shard: usize) -> bool {
        self.waiting_shards.load(Ordering::Acquire) & (1 << (shard % 64)) != 0
    }
}

/// A log line every few seconds during a transfer: bytes, rate, ETA.
pub(crate) struct Progress {
    started: Instant,
    last: Instant,
}

impl Progress {
    pub(crate) fn new() -> Progress {
        let now = Instant::now();
        Progress {
            started: now,
            last: now,
        }
    }

    /// Logs `what` with the count so far when 2 s passed since the last.
    pub(crate) fn tick(&mut self, what: &str, done: u64, total: Option<u64>) {
        if self.last.elapsed() < Duration::from_secs(2) {
            return;
        }
        self.last = Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = done as f64 / secs;
        match total {
            Some(total) if total > 0 && rate > 0.0 => crate::notice!(
                "{what} {done} of {total} bytes ({:.1} MB/s, ETA {:.0} s)",
                rate / 1e6,
                total.saturating_sub(done) as f64 / rate
            ),
            _ => crate::notice!("{what} {done} bytes ({:.1} MB/s)", rate / 1e6),
        }
    }
}

/// The ring's size for `repl-backlog-size` (see [`MIN_BACKLOG_BYTES`]).
fn ring_bytes(configured: u64) -> usize {
    usize::try_from(configured.max(MIN_BACKLOG_BYTES))
        .map_or(backlog::MAX_BYTES, |b| b.min(backlog::MAX_BYTES))
}
