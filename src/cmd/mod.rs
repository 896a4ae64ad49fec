//! Commands: the table, the per-client state they act on, and dispatch.
//!
//! Owns: argument checking and the order of Redis's `processCommand` checks
//! (unknown command, arity, auth, MULTI queueing), stripe locking for a
//! command's keys, and per-command stats. Must not do socket IO: replies go
//! to a [`ReplyBuf`], cross-thread effects go through [`Server`].
//!
//! One file per family: [`conn`] (connection), [`server`] (server admin),
//! [`keys`] (generic keyspace), [`string`] (strings), [`multi`] (transactions).

pub mod bitmap;
pub mod blocking;
pub mod conn;
pub mod hash;
pub mod hll;
pub mod keys;
pub mod list;
pub mod multi;
pub mod persist;
pub mod pubsub;
pub mod repl;
pub mod server;
pub mod set;
pub mod stream;
pub mod string;
mod table;
pub mod zset;

#[cfg(test)]
mod propagation_tests;

pub(crate) use table::command_table;
pub use table::{
    all_commands, check_subcommand, lookup, subcommands, Command, SubcommandError, COMMANDS,
};

use crate::protocol::{Argv, ReplyBuf};
use crate::server::{ClientMeta, Server};
use crate::store::{stripe_of, wrap_transaction, Key, Keys, Locked};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

// Error replies shared by several families, byte-identical to Redis 7.0.
pub const ERR_SYNTAX: &str = "ERR syntax error";
pub const ERR_NOT_INT: &str = "ERR value is not an integer or out of range";
pub const ERR_NOT_FLOAT: &str = "ERR value is not a valid float";
pub const ERR_WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const ERR_NO_KEY: &str = "ERR no such key";
pub const ERR_OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const ERR_DB_RANGE: &str = "ERR DB index is out of range";
pub const ERR_NOAUTH: &str = "NOAUTH Authentication required.";
/// Redis's `shared.bgsaveerr`.
pub const ERR_MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Command flags (a subset of Redis's `CMD_*`).
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const LOADING: u32 = 1 << 6;
    pub const STALE: u32 = 1 << 7;
    pub const FAST: u32 = 1 << 8;
    /// Allowed before AUTH (`CMD_NO_AUTH`).
    pub const NO_AUTH: u32 = 1 << 9;
    /// Runs right away inside MULTI instead of being queued (MULTI, EXEC,
    /// DISCARD, WATCH, QUIT, RESET: server.c `processCommand`).
    pub const RUNS_IN_MULTI: u32 = 1 << 10;
    /// Needs every stripe locked at once (FLUSHALL, SWAPDB).
    pub const ALL_STRIPES: u32 = 1 << 11;
    /// Walks the stripes one at a time (KEYS, SCAN, DBSIZE); inside EXEC it
    /// is given all stripes instead.
    pub const WALKS: u32 = 1 << 12;
    pub const SKIP_MONITOR: u32 = 1 << 13;
    pub const MAY_REPLICATE: u32 = 1 << 14;
    /// Has subcommands (CLIENT, CONFIG, OBJECT, COMMAND, DEBUG).
    pub const CONTAINER: u32 = 1 << 15;
}

/// Handler signature: arity is already checked.
pub type Handler = fn(&mut Ctx, &Argv);

/// Where the replies of a client go (CLIENT REPLY).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    Skip,
}

/// A client waiting in BLPOP and friends (see [`blocking`]).
pub struct Blocked {
    pub waiter: Arc<crate::store::Waiter>,
    /// Absolute unix ms; 0 waits forever.
    pub deadline_ms: u64,
    pub on_timeout: OnTimeout,
}

/// What a blocked client gets when its deadline passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnTimeout {
    /// Lists, sorted sets, streams (moves too: blocked.c
    /// `replyToBlockedClientTimedOut`).
    NullArray,
    /// WAIT: the number of replicas that acknowledged this offset.
    Acks(u64),
}

/// A queued MULTI.
#[derive(Default)]
pub struct Multi {
    pub queued: Vec<(&'static Command, Argv)>,
    /// A command failed to queue (EXECABORT at EXEC).
    pub aborted: bool,
}

/// A key a client WATCHes.
pub struct Watched {
    pub db: usize,
    pub key: Key,
    /// The key was already logically expired when watched (multi.c
    /// `watchedKey.expired`): its expiry then does not fail EXEC.
    pub expired_at_watch: bool,
}

/// Per-connection state the commands act on.
pub struct Client {
    pub id: u64,
    pub db: usize,
    pub resp3: bool,
    pub authenticated: bool,
    pub multi: Option<Multi>,
    pub watched: Vec<Watched>,
    /// Raised by writers of watched keys.
    pub watch_dirty: Arc<AtomicBool>,
    pub reply_mode: ReplyMode,
    /// Close the connection once the pending replies are written (QUIT, kill).
    pub close_after_reply: bool,
    /// Turned into a MONITOR client by the last command.
    pub monitor: bool,
    /// Running the queued commands of EXEC.
    pub in_exec: bool,
    /// Replication offset after this client's last propagated write (WAIT).
    pub woff: u64,
    /// The master link's stream bytes not yet in this replica's own
    /// backlog: appended at the end of a command outside MULTI, or under
    /// the stripes of the write they carry (so a snapshot cut sees the
    /// write and its offset together).
    pub repl_raw: Vec<u8>,
    /// Set while the client waits in a blocking command.
    pub blocked: Option<Blocked>,
    /// Pub/sub subscriptions (channels and patterns).
    pub channels: hashbrown::HashSet<Vec<u8>>,
    pub patterns: hashbrown::HashSet<Vec<u8>>,
    pub meta: Arc<ClientMeta>,
    /// The replica's link to its master: exempt from READONLY and OOM.
    pub master_link: bool,
    /// What a replica announced with REPLCONF.
    pub replconf: crate::repl::master::ReplConf,
    /// Set by PSYNC/SYNC: once the pending replies are written, the shard
    /// stops reading the socket and hands it over (no close) to this.
    pub handoff: Option<Box<dyn FnOnce(std::os::fd::OwnedFd) + Send>>,
}

impl Client {
    /// A waiter for this client blocking on `argv` in `db` (not yet blocked:
    /// see [`Client::block`]).
    pub fn waiter(&self, db: usize, argv: Argv) -> Arc<crate::store::Waiter> {
        Arc::new(crate::store::Waiter {
            client_id: self.id,
            shard: self.meta.shard,
            db,
            resp3: self.resp3,
            argv,
            claimed: AtomicBool::new(false),
        })
    }

    /// Blocks the client on `waiter`: it reads on but runs nothing until
    /// served, timed out at `deadline_ms` (0: never) or run again.
    pub fn block(
        &mut self,
        waiter: Arc<crate::store::Waiter>,
        deadline_ms: u64,
        on_timeout: OnTimeout,
    ) {
        self.meta
            .blocked
            .store(true, std::sync::atomic::Ordering::Relaxed);
        *self.meta.waiter.lock() = Some(Arc::clone(&waiter));
        self.blocked = Some(Blocked {
            waiter,
            deadline_ms,
            on_timeout,
        });
    }

    /// Channels plus patterns (the count SUBSCRIBE replies with).
    pub fn subscription_count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    pub fn new(meta: Arc<ClientMeta>, authenticated: bool) -> Client {
        Client {
            id: meta.id,
            db: 0,
            resp3: false,
            authenticated,
            multi: None,
            watched: Vec::new(),
            watch_dirty: Arc::new(AtomicBool::new(false)),
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            monitor: false,
            in_exec: false,
            woff: 0,
            repl_raw: Vec::new(),
            blocked: None,
            channels: hashbrown::HashSet::new(),
            patterns: hashbrown::HashSet::new(),
            meta,
            master_link: false,
            replconf: Default::default(),
            handoff: None,
        }
    }
}

/// Everything a handler may touch.
pub struct Ctx<'s, 'c> {
    pub srv: &'s Server,
    pub ks: Keys<'s>,
    pub client: &'c mut Client,
    pub out: &'c mut ReplyBuf,
    /// The shard thread running the command.
    pub shard: usize,
}

impl Ctx<'_, '_> {
    /// Replicate this command as `parts` instead of its own argv (Redis
    /// `rewriteClientCommandVector`), if it changes anything.
    pub fn propagate_as(&mut self, parts: &[&[u8]]) {
        self.ks.prop.rewrite = Some(Argv::from_slices(parts));
    }

    /// Replicate `parts` for this command's effect, and not the command
    /// itself (Redis `alsoPropagate` + `preventCommandPropagation`).
    pub fn also_propagate(&mut self, parts: &[&[u8]]) {
        self.ks
            .prop
            .ops
            .push((self.ks.db, Argv::from_slices(parts)));
        self.ks.prop.prevent = true;
    }

    /// Replicate this command even though it changed nothing
    /// (`forceCommandPropagation`: FLUSHALL on an empty server, PUBLISH).
    pub fn force_propagation(&mut self) {
        self.ks.prop.force = true;
    }

    /// Replies with Redis's wrong-arity error for `name` (e.g. `client|setname`).
    pub fn wrong_arity(&mut self, name: &str) {
        self.out.error(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ));
    }
}

/// Collects the stripes of the keys of `argv` for `cmd` (Redis's
/// first/last/step key specs).
fn key_stripes(cmd: &Command, argv: &Argv, stripes: &mut Vec<usize>) {
    for i in cmd.key_positions(argv) {
        stripes.push(stripe_of(argv.get(i)));
    }
}

/// Runs one request from `client`: Redis's `processCommand` then `call`.
/// `argv` is not empty.
pub fn dispatch(srv: &Server, shard: usize, client: &mut Client, out: &mut ReplyBuf, argv: &Argv) {
    dispatch_found(srv, shard, client, out, argv, lookup(argv.get(0)));
}

/// [`dispatch`] for a command already looked up (`None`: unknown).
pub fn dispatch_found(
    srv: &Server,
    shard: usize,
    client: &mut Client,
    out: &mut ReplyBuf,
    argv: &Argv,
    cmd: Option<&'static Command>,
) {
    out.resp3 = client.resp3;
    let Some(cmd) = cmd else {
        reject_unknown(client, out, argv);
        return;
    };
    if !cmd.arity_ok(argv.len()) {
        flag_multi_error(client);
        out.error(&format!(
            "ERR wrong number of arguments for '{}' command",
            cmd.name
        ));
        srv.metrics_reject(shard, cmd);
        return;
    }
    if cmd.flags & flags::CONTAINER != 0 {
        let sub = (argv.len() > 1).then(|| argv.get(1));
        match check_subcommand(cmd, argv.len(), sub) {
            Ok(()) => {}
            Err(SubcommandError::Arity(full)) => {
                flag_multi_error(client);
                out.error(&format!(
                    "ERR wrong number of arguments for '{full}' command"
                ));
                srv.metrics_reject(shard, cmd);
                return;
            }
            Err(SubcommandError::Unknown) => {
                flag_multi_error(client);
                let mut text = b"ERR unknown subcommand '".to_vec();
                text.extend_from_slice(c_prefix(argv.get(1), 128));
                text.extend_from_slice(
                    format!("'. Try {} HELP.", cmd.name.to_ascii_uppercase()).as_bytes(),
                );
                out.error_bytes(&text);
                srv.metrics_reject(shard, cmd);
                return;
            }
        }
    }
    if !client.authenticated && cmd.flags & flags::NO_AUTH == 0 {
        flag_multi_error(client);
        out.error(ERR_NOAUTH);
        srv.metrics_reject(shard, cmd);
        return;
    }
    // CLIENT PAUSE / FAILOVER: the command waits for the pause to end
    // (server.c: all commands under PAUSE ALL, else those that may
    // replicate).
    if srv.repl.writes_paused()
        && !client.master_link
        && (srv.repl.all_paused() || may_replicate(cmd, client))
        && postpone(srv, client, argv)
    {
        return;
    }
    if (cmd.name == "ping" || writes(cmd, client))
        && !client.master_link
        && srv.persist.writes_denied(srv)
    {
        flag_multi_error(client);
        out.error(ERR_MISCONF);
        srv.metrics_reject(shard, cmd);
        return;
    }
    if cmd.flags & flags::WRITE != 0 && !client.master_link && !srv.repl.enough_good_replicas() {
        flag_multi_error(client);
        out.error("NOREPLICAS Not enough good replicas to write.");
        srv.metrics_reject(shard, cmd);
        return;
    }
    if cmd.flags & flags::WRITE != 0
        && !client.master_link
        && srv.repl.is_replica()
        && srv.config.read().replica_read_only
    {
        flag_multi_error(client);
        out.error("READONLY You can't write against a read only replica.");
        srv.metrics_reject(shard, cmd);
        return;
    }
    if srv.repl.is_replica() && !client.master_link {
        if let Some(reply) = replica_refusal(srv, client, cmd) {
            flag_multi_error(client);
            out.error(reply);
            srv.metrics_reject(shard, cmd);
            return;
        }
    }
    if srv.maxmemory() > 0
        && !client.master_link
        && !srv.perform_evictions(shard)
        && rejects_on_oom(client, cmd)
    {
        flag_multi_error(client);
        out.error("OOM command not allowed when used memory > 'maxmemory'.");
        srv.metrics_reject(shard, cmd);
        return;
    }
    if !client.resp3
        && client.subscription_count() > 0
        && !pubsub::allowed_while_subscribed(cmd.name)
    {
        flag_multi_error(client);
        out.error(&format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            cmd.name
        ));
        srv.metrics_reject(shard, cmd);
        return;
    }
    if let Some(multi) = client.multi.as_mut() {
        if cmd.flags & flags::RUNS_IN_MULTI == 0 {
            multi.queued.push((cmd, argv.clone()));
            out.simple(b"QUEUED");
            return;
        }
    }
    call(srv, shard, client, out, cmd, argv);
    // After the call, as server.c `call` does: a SELECT shows its new db.
    srv.feed_monitors(client, cmd, argv);
}

/// Runs `cmd` with its stripes locked, recording stats.
pub fn call(
    srv: &Server,
    shard: usize,
    client: &mut Client,
    out: &mut ReplyBuf,
    cmd: &'static Command,
    argv: &Argv,
) {
    let started = Instant::now();
    let reply_start = out.buf.len();
    let locked = if cmd.flags & flags::ALL_STRIPES != 0 {
        Locked::all(&srv.keyspace)
    } else if cmd.has_keys() {
        let mut positions = cmd.key_positions(argv);
        match (positions.next(), positions.next()) {
            (Some(only), None) => Locked::one(&srv.keyspace, stripe_of(argv.get(only))),
            _ => {
                let mut stripes = Vec::with_capacity(8);
                key_stripes(cmd, argv, &mut stripes);
                Locked::some(&srv.keyspace, &mut stripes)
            }
        }
    } else {
        Locked::none(&srv.keyspace)
    };
    // One clock read per command (`started`): the LRU clock is the same
    // time in seconds.
    let now_ms = crate::server::unix_ms_at(started);
    let lru_clock = crate::server::lru_clock_at(now_ms);
    let mut ks = Keys::new(locked, client.db, now_ms, lru_clock);
    ks.lfu = srv.lfu_params();
    ks.events.flags = srv.notify_flags.load(std::sync::atomic::Ordering::Relaxed);
    // The master link's writes go on as the master's bytes (below), so
    // they build no propagation form.
    ks.prop.enabled = srv.propagation_enabled() && !client.master_link;
    ks.expiry = if client.master_link {
        crate::store::Expiry::Ignore
    } else if srv.repl.is_replica() {
        crate::store::Expiry::Hide
    } else {
        crate::store::Expiry::Delete
    };
    let mut ctx = Ctx {
        srv,
        ks,
        client,
        out,
        shard,
    };
    (cmd.handler)(&mut ctx, argv);
    let failed = ctx.out.buf.get(reply_start) == Some(&b'-');
    // Propagate while the stripes are still held, so the stream orders
    // writes to a key as they happened.
    let changed = ctx.ks.dirty > 0;
    if ctx.ks.prop.finish_as_is(changed) {
        if let Some(end) = srv.propagate_as_is(ctx.ks.db, argv) {
            ctx.client.woff = end;
        }
    } else {
        let ops = ctx.ks.prop.finish(ctx.ks.db, changed, argv);
        propagate(ctx.srv, ctx.client, ops, changed);
    }
    blocking::serve_ready(srv, &mut ctx.ks);
    for op in std::mem::take(&mut ctx.ks.prop.ops) {
        propagate(ctx.srv, ctx.client, vec![op], false);
    }
    // Keyspace events, in order, while the stripes are still held.
    if !ctx.ks.events.list.is_empty() {
        srv.publish_events(&ctx.ks.events.list);
    }
    let Keys {
        dirty,
        expired,
        hits,
        misses,
        ..
    } = ctx.ks;
    let took = started.elapsed();
    srv.record_call(shard, cmd, took, failed, dirty, expired, hits, misses);
    srv.latency.add_command(cmd.flags & flags::FAST != 0, took);
    // EXEC is not logged: the commands it ran are (`CMD_SKIP_SLOWLOG`).
    if cmd.name != "exec" {
        log_if_slow(srv, ctx.client, argv, took);
    }
}

/// Adds a command to SLOWLOG when it took long enough (slowlog.c
/// `slowlogPushCurrentCommand`), secrets redacted as Redis redacts them.
fn log_if_slow(srv: &Server, client: &Client, argv: &Argv, took: std::time::Duration) {
    if !srv.slowlog.wants(took) {
        return;
    }
    let args: Vec<&[u8]> = argv.iter().collect();
    let secret = crate::server::slowlog::redacted(&args);
    let args: Vec<&[u8]> = args
        .into_iter()
        .zip(secret)
        .map(|(a, s)| {
            if s {
                crate::server::slowlog::REDACTED
            } else {
                a
            }
        })
        .collect();
    let name = client.meta.name.lock().clone().unwrap_or_default();
    srv.slowlog.push(&args, took, &client.meta.addr, &name);
}

/// A write, or an EXEC of queued writes (what a write pause holds).
fn writes(cmd: &Command, client: &Client) -> bool {
    cmd.flags & flags::WRITE != 0
        || (cmd.name == "exec"
            && client
                .multi
                .as_ref()
                .is_some_and(|m| m.queued.iter().any(|(c, _)| c.flags & flags::WRITE != 0)))
}

/// A command that may change the data or reach the replication stream
/// (Redis's `is_may_replicate_command`: write or may-replicate flags, or
/// an EXEC of such).
fn may_replicate(cmd: &Command, client: &Client) -> bool {
    const FLAGS: u32 = flags::WRITE | flags::MAY_REPLICATE;
    cmd.flags & FLAGS != 0
        || (cmd.name == "exec"
            && client
                .multi
                .as_ref()
                .is_some_and(|m| m.queued.iter().any(|(c, _)| c.flags & FLAGS != 0)))
}

/// Holds the command while writes are paused (FAILOVER): the client
/// blocks, and its shard runs the command again when writes resume.
fn postpone(srv: &Server, client: &mut Client, argv: &Argv) -> bool {
    let waiter = client.waiter(client.db, argv.clone());
    if !srv.repl.postpone(Arc::clone(&waiter)) {
        return false;
    }
    client.block(waiter, 0, OnTimeout::NullArray);
    // Held by a pause, not by a blocking command: CLIENT UNBLOCK says 0.
    client.meta.waiter.lock().take();
    true
}

/// A replica refuses commands while it replaces its dataset (-LOADING,
/// unless the command may run while loading) and, with
/// `replica-serve-stale-data no`, while its link is down (-MASTERDOWN,
/// unless flagged STALE). server.c `processCommand`.
fn replica_refusal(srv: &Server, client: &Client, cmd: &Command) -> Option<&'static str> {
    let deny_stale = cmd.flags & flags::STALE == 0
        || (cmd.name == "exec"
            && client
                .multi
                .as_ref()
                .is_some_and(|m| m.queued.iter().any(|(c, _)| c.flags & flags::STALE == 0)));
    if deny_stale && !srv.repl.serves_stale_data() {
        let up = srv
            .repl
            .link_status()
            .is_some_and(|l| l.state() == crate::repl::replica::LinkState::Connected);
        if !up {
            return Some(
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            );
        }
    }
    // After MASTERDOWN, as in Redis's processCommand.
    if srv.repl.is_loading() && cmd.flags & flags::LOADING == 0 {
        return Some("LOADING Redis is loading the dataset in memory");
    }
    None
}

/// Hands a command's effects to the replication stream while its stripes
/// are held (several ops are wrapped in MULTI/EXEC). The master link's
/// writes (`changed`) go to this replica's own backlog as the master sent
/// them: the bytes of the stream up to here, with the db they leave the
/// stream in (the link feeds the rest at the next transaction boundary).
/// A parallel apply worker (`repl::apply`) has no bytes: the link feeds
/// its whole run once every part is applied.
fn propagate(srv: &Server, client: &mut Client, ops: Vec<(usize, Argv)>, changed: bool) {
    if client.master_link {
        if changed && !client.repl_raw.is_empty() {
            srv.repl.set_stream_db(client.db);
            srv.repl.feed_raw(&client.repl_raw);
            client.repl_raw.clear();
        }
        return;
    }
    if ops.is_empty() {
        return;
    }
    if let Some(end) = srv.propagate(wrap_transaction(ops)) {
        client.woff = end;
    }
}

/// Runs the queued commands of a MULTI with all their stripes held at once.
/// Called by EXEC after its checks; writes the array of replies.
pub fn exec_queued(ctx: &mut Ctx, queued: Vec<(&'static Command, Argv)>) {
    let whole = queued
        .iter()
        .any(|(c, _)| c.flags & (flags::ALL_STRIPES | flags::WALKS) != 0);
    let locked = if whole {
        Locked::all(&ctx.srv.keyspace)
    } else {
        let mut stripes = Vec::new();
        for (cmd, argv) in &queued {
            key_stripes(cmd, argv, &mut stripes);
        }
        // The watched keys are checked under the same locks.
        stripes.extend(ctx.client.watched.iter().map(|w| stripe_of(&w.key)));
        Locked::some(&ctx.srv.keyspace, &mut stripes)
    };
    // Replace the EXEC's own (empty) view by the transaction's.
    let mut ks = Keys::new(locked, ctx.client.db, ctx.ks.now_ms, ctx.ks.lru_clock);
    ks.lfu = ctx.ks.lfu;
    ks.prop.enabled = ctx.ks.prop.enabled;
    ks.expiry = ctx.ks.expiry;
    ks.events.flags = ctx.ks.events.flags;
    if multi::watched_keys_changed(ctx.client, &mut ks) {
        drop(ks);
        ctx.out.null_array();
        return;
    }
    ctx.out.array(queued.len());
    ctx.client.in_exec = true;
    let mut ops = Vec::new();
    for (cmd, argv) in &queued {
        ks.db = ctx.client.db;
        let dirty_before = ks.dirty;
        let started = Instant::now();
        let reply_start = ctx.out.buf.len();
        let mut inner = Ctx {
            srv: ctx.srv,
            ks,
            client: &mut *ctx.client,
            out: &mut *ctx.out,
            shard: ctx.shard,
        };
        (cmd.handler)(&mut inner, argv);
        ctx.srv.feed_monitors(inner.client, cmd, argv);
        ks = inner.ks;
        let changed = ks.dirty > dirty_before;
        ops.extend(ks.prop.finish(ks.db, changed, argv));
        let failed = ctx.out.buf.get(reply_start) == Some(&b'-');
        let took = started.elapsed();
        ctx.srv
            .record_call(ctx.shard, cmd, took, failed, 0, 0, 0, 0);
        ctx.srv
            .latency
            .add_command(cmd.flags & flags::FAST != 0, took);
        log_if_slow(ctx.srv, ctx.client, argv, took);
    }
    ctx.client.in_exec = false;
    // One transaction in the stream (a single write goes out bare, as in
    // Redis 7.0), appended while the stripes are held; EXEC itself is never
    // propagated.
    propagate(ctx.srv, ctx.client, ops, ks.dirty > 0);
    // Blocked clients are served after the whole transaction.
    blocking::serve_ready(ctx.srv, &mut ks);
    for op in std::mem::take(&mut ks.prop.ops) {
        propagate(ctx.srv, ctx.client, vec![op], false);
    }
    if !ks.events.list.is_empty() {
        ctx.srv.publish_events(&ks.events.list);
    }
    ctx.ks.prop.prevent = true;
    ctx.ks.dirty += ks.dirty;
    ctx.ks.expired += ks.expired;
    ctx.ks.hits += ks.hits;
    ctx.ks.misses += ks.misses;
}

/// server.c `processCommand`: out of memory refuses commands that may grow
/// it (DENYOOM, an EXEC queueing one), and any queuing inside MULTI, but
/// never EXEC, DISCARD, QUIT or RESET themselves.
fn rejects_on_oom(client: &Client, cmd: &Command) -> bool {
    let exempt = matches!(cmd.name, "exec" | "discard" | "quit" | "reset");
    let queuing = client.multi.is_some() && !exempt;
    let exec_denyoom = cmd.name == "exec"
        && client
            .multi
            .as_ref()
            .is_some_and(|m| m.queued.iter().any(|(c, _)| c.flags & flags::DENYOOM != 0));
    cmd.flags & flags::DENYOOM != 0 || queuing || exec_denyoom
}

fn flag_multi_error(client: &mut Client) {
    if let Some(multi) = client.multi.as_mut() {
        multi.aborted = true;
    }
}

/// `-ERR unknown command 'x', with args beginning with: 'a' 'b' ` exactly as
/// server.c `processCommand` builds it (each arg cut to what fits in 128).
fn reject_unknown(client: &mut Client, out: &mut ReplyBuf, argv: &Argv) {
    flag_multi_error(client);
    let mut text = b"ERR unknown command '".to_vec();
    text.extend_from_slice(c_prefix(argv.get(0), 128));
    text.extend_from_slice(b"', with args beginning with: ");
    let mut args_len = 0;
    for arg in argv.iter().skip(1) {
        if args_len >= 128 {
            break;
        }
        let arg = c_prefix(arg, 128 - args_len);
        text.push(b'\'');
        text.extend_from_slice(arg);
        text.extend_from_slice(b"' ");
        args_len += arg.len() + 3;
    }
    out.error_bytes(&text);
}

/// An argument as C's `strcasecmp` sees it: up to its first NUL (Redis
/// compares option keywords that way, so `NX\0junk` is NX).
pub fn cstr(arg: &[u8]) -> &[u8] {
    c_prefix(arg, usize::MAX)
}

/// What C's `%.<max>s` prints of `bytes`: up to the first NUL, at most `max`.
pub fn c_prefix(bytes: &[u8], max: usize) -> &[u8] {
    let end = bytes
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(bytes.len())
        .min(max);
    &bytes[..end]
}

/// Replies with a HELP text: one status line per line, as Redis's
/// `addReplyHelp` (the caller's first line names the command).
pub fn reply_help(ctx: &mut Ctx, lines: &[&str]) {
    ctx.out.array(lines.len());
    for line in lines {
        ctx.out.simple(line.as_bytes());
    }
}

/// Replies `-ERR unknown subcommand 'x'. Try CMD HELP.`
/// `addReplySubcommandSyntaxError`: a known subcommand with arguments its
/// command does not take (`... for 'GET'. Try SLOWLOG HELP.`).
pub fn subcommand_syntax_error(out: &mut ReplyBuf, argv: &Argv) {
    let mut t = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
    t.extend_from_slice(c_prefix(argv.get(1), 128));
    t.extend_from_slice(b"'. Try ");
    t.extend_from_slice(&argv.get(0).to_ascii_uppercase());
    t.extend_from_slice(b" HELP.");
    out.error_bytes(&t);
}

pub fn unknown_subcommand(ctx: &mut Ctx, container: &str, sub: &[u8]) {
    let mut text = b"ERR unknown subcommand '".to_vec();
    text.extend_from_slice(c_prefix(sub, 128));
    text.extend_from_slice(format!("'. Try {container} HELP.").as_bytes());
    ctx.out.error_bytes(&text);
}

/// Parses a database index argument as SELECT/MOVE/SWAPDB do.
pub fn parse_db(ctx: &Ctx, arg: &[u8]) -> Result<usize, &'static str> {
    // getIntFromObjectOrReply: a C int, so values beyond i32 are "not an integer".
    let n = crate::num::parse_i64(arg)
        .filter(|n| i32::try_from(*n).is_ok())
        .ok_or(ERR_NOT_INT)?;
    usize::try_from(n)
        .ok()
        .filter(|&n| n < ctx.srv.keyspace.databases())
        .ok_or(ERR_DB_RANGE)
}

/// Case-insensitive ASCII comparison of an argument with a keyword.
pub fn eq_ic(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}
