//! The command table: name, arity, flags, key positions and handler of every
//! command, as Redis's `redisCommandTable` (commands.c in 7.0).
//!
//! Arity: `n > 0` means exactly `n` arguments (the name included), `-n`
//! means at least `n`. Key positions are Redis's legacy first/last/step
//! (`last < 0` counts from the end).

use super::flags::*;
use super::{conn, keys, multi, server, string, Handler};
use crate::protocol::Argv;
use hashbrown::HashMap;
use std::sync::OnceLock;

pub struct Command {
    /// Lowercase name, as Redis's `fullname`.
    pub name: &'static str,
    pub arity: i32,
    pub flags: u32,
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    /// ACL categories for COMMAND INFO, e.g. `"@read @string @fast"`.
    pub acl: &'static str,
    pub handler: Handler,
}

impl Command {
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = i64::from(self.arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    pub fn has_keys(&self) -> bool {
        self.first_key != 0
    }

    /// Argument indexes holding keys.
    ///
    /// Two forms: Redis's legacy `first, last, step` (`last < 0` counts from
    /// the end), and the numkeys form for commands like ZUNIONSTORE, LMPOP
    /// and SINTERCARD: `first_key = -n` says argument `n` holds the number of
    /// keys, which follow it; `last_key = 1` adds a destination key at
    /// argument 1. A bad or oversized numkeys yields only the keys present;
    /// the handler reports the error.
    pub fn key_positions(&self, argv: &Argv) -> KeyPositions {
        let argc = argv.len();
        if self.first_key == KEYS_AFTER_STREAMS {
            return KeyPositions::List(streams_keys(argv).into_iter());
        }
        if self.first_key < 0 {
            let at = self.first_key.unsigned_abs() as usize;
            let count = argv
                .try_get(at)
                .and_then(crate::num::parse_i64)
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0);
            let keys = (at + 1..argc.min((at + 1).saturating_add(count)))
                .chain((self.last_key == 1 && argc > 1).then_some(1));
            return KeyPositions::List(keys.collect::<Vec<_>>().into_iter());
        }
        KeyPositions::Range(self.legacy_positions(argc))
    }

    fn legacy_positions(&self, argc: usize) -> std::iter::StepBy<std::ops::Range<usize>> {
        let first = self.first_key.max(0) as usize;
        let last = if self.last_key < 0 {
            (argc as i64 + i64::from(self.last_key)).max(0) as usize
        } else {
            self.last_key as usize
        };
        let last = last.min(argc.saturating_sub(1));
        let step = self.step.max(1) as usize;
        // A command without keys yields nothing (first == 0).
        let end = if first == 0 { 0 } else { last + 1 };
        (first.max(1)..end).step_by(step)
    }

    /// This command's index in [`COMMANDS`], for per-command stats.
    pub fn id(&'static self) -> usize {
        let addr = self as *const Command as usize;
        let size = std::mem::size_of::<Command>();
        let mut offset = 0;
        for table in FAMILIES {
            let base = table.as_ptr() as usize;
            if (base..base + std::mem::size_of_val(*table)).contains(&addr) {
                return offset + (addr - base) / size;
            }
            offset += table.len();
        }
        unreachable!("command {} is in no table", self.name)
    }

    /// Redis's flag names, for COMMAND INFO.
    pub fn flag_names(&self) -> Vec<&'static str> {
        const NAMES: [(u32, &str); 11] = [
            (WRITE, "write"),
            (READONLY, "readonly"),
            (DENYOOM, "denyoom"),
            (ADMIN, "admin"),
            (PUBSUB, "pubsub"),
            (NOSCRIPT, "noscript"),
            (LOADING, "loading"),
            (STALE, "stale"),
            (FAST, "fast"),
            (NO_AUTH, "no_auth"),
            (MAY_REPLICATE, "may_replicate"),
        ];
        NAMES
            .iter()
            .filter(|(bit, _)| self.flags & bit != 0)
            .map(|(_, name)| *name)
            .collect()
    }
}

/// `first_key` of XREAD and XREADGROUP: the keys follow `STREAMS`.
pub const KEYS_AFTER_STREAMS: i32 = i32::MIN;

/// Key positions of XREAD/XREADGROUP (db.c `xreadGetKeys`): the first half
/// of the arguments after `STREAMS`, found by skipping the options; none
/// on a syntax error (the handler reports it).
fn streams_keys(argv: &Argv) -> Vec<usize> {
    let mut i = 1;
    let mut streams = None;
    while i < argv.len() {
        let arg = argv.get(i);
        if arg.eq_ignore_ascii_case(b"block") || arg.eq_ignore_ascii_case(b"count") {
            i += 1;
        } else if arg.eq_ignore_ascii_case(b"group") {
            i += 2;
        } else if arg.eq_ignore_ascii_case(b"streams") {
            streams = Some(i);
            break;
        } else if !arg.eq_ignore_ascii_case(b"noack") {
            break;
        }
        i += 1;
    }
    let Some(at) = streams else { return Vec::new() };
    let rest = argv.len() - at - 1;
    if rest == 0 || rest % 2 != 0 {
        return Vec::new();
    }
    (at + 1..at + 1 + rest / 2).collect()
}

/// Iterator over a command's key positions (see [`Command::key_positions`]).
pub enum KeyPositions {
    Range(std::iter::StepBy<std::ops::Range<usize>>),
    List(std::vec::IntoIter<usize>),
}

impl Iterator for KeyPositions {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        match self {
            KeyPositions::Range(r) => r.next(),
            KeyPositions::List(l) => l.next(),
        }
    }
}

/// Declares a command table: `command_table! { pub static NAME; rows... }`
/// with rows `"name", arity, flags, (first, last, step), "acl", handler;`.
/// Each family file owns its table; [`FAMILIES`] lists them all.
macro_rules! command_table {
    ($vis:vis static $table:ident; $( $name:literal, $arity:expr, $flags:expr, ($first:expr, $last:expr, $step:expr), $acl:literal, $handler:path; )*) => {
        $vis static $table: &[$crate::cmd::Command] = &[
            $( $crate::cmd::Command { name: $name, arity: $arity, flags: $flags, first_key: $first, last_key: $last,
                         step: $step, acl: $acl, handler: $handler }, )*
        ];
    };
}
pub(crate) use command_table;

/// Every command table, in id order: the core families here, then one per
/// data-type family (each in its own file, so they can grow independently).
static FAMILIES: &[&[Command]] = &[
    COMMANDS,
    super::pubsub::TABLE,
    super::blocking::TABLE,
    super::hash::TABLE,
    super::list::TABLE,
    super::set::TABLE,
    super::zset::TABLE,
    super::stream::TABLE,
    super::persist::TABLE,
    super::repl::TABLE,
    super::bitmap::TABLE,
    super::hll::TABLE,
];

/// All commands, indexed by [`Command::id`].
pub fn all_commands() -> &'static [&'static Command] {
    static ALL: OnceLock<Vec<&'static Command>> = OnceLock::new();
    ALL.get_or_init(|| FAMILIES.iter().flat_map(|t| t.iter()).collect())
}

const W: u32 = WRITE | DENYOOM;
const WF: u32 = WRITE | DENYOOM | FAST;
const RF: u32 = READONLY | FAST;

command_table! {
    pub static COMMANDS;
    // connection
    "ping", -1, FAST | STALE, (0, 0, 0), "@fast @connection", conn::ping;
    "echo", 2, FAST | STALE, (0, 0, 0), "@fast @connection", conn::echo;
    "quit", -1, NO_AUTH | FAST | STALE | LOADING | RUNS_IN_MULTI | SKIP_MONITOR, (0, 0, 0), "@fast @connection", conn::quit;
    "hello", -1, NO_AUTH | FAST | STALE | LOADING | NOSCRIPT, (0, 0, 0), "@fast @connection", conn::hello;
    "auth", -2, NO_AUTH | FAST | STALE | LOADING | NOSCRIPT | SKIP_MONITOR, (0, 0, 0), "@fast @connection", conn::auth;
    "select", 2, FAST | STALE | LOADING, (0, 0, 0), "@fast @connection", conn::select;
    "reset", 1, NO_AUTH | FAST | STALE | LOADING | NOSCRIPT | RUNS_IN_MULTI, (0, 0, 0), "@fast @connection", conn::reset;
    "client", -2, CONTAINER | ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "@slow @connection", conn::client;
    "command", -1, CONTAINER | LOADING | STALE, (0, 0, 0), "@slow @connection", conn::command;
    // server
    "info", -1, LOADING | STALE | WALKS, (0, 0, 0), "@slow @dangerous", server::info;
    "config", -2, CONTAINER | ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "@slow @admin @dangerous", server::config;
    "dbsize", 1, READONLY | FAST | WALKS, (0, 0, 0), "@keyspace @read @fast", server::dbsize;
    "flushdb", -1, WRITE | ALL_STRIPES, (0, 0, 0), "@keyspace @write @slow @dangerous", server::flushdb;
    "flushall", -1, WRITE | ALL_STRIPES, (0, 0, 0), "@keyspace @write @slow @dangerous", server::flushall;
    "swapdb", 3, WRITE | FAST | ALL_STRIPES, (0, 0, 0), "@keyspace @write @fast @dangerous", server::swapdb;
    "time", 1, LOADING | STALE | FAST, (0, 0, 0), "@fast", server::time;
    "shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | WALKS, (0, 0, 0), "@admin @slow @dangerous", server::shutdown;
    "debug", -2, ADMIN | NOSCRIPT | LOADING | STALE | WALKS, (0, 0, 0), "@admin @slow @dangerous", server::debug;
    "monitor", 1, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "@admin @slow @dangerous", server::monitor;
    "lastsave", 1, LOADING | STALE | FAST, (0, 0, 0), "@admin @fast @dangerous", server::lastsave;
    "slowlog", -2, CONTAINER | ADMIN | LOADING | STALE, (0, 0, 0), "@admin @slow @dangerous", server::slowlog;
    "latency", -2, CONTAINER | ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "@admin @slow @dangerous", server::latency;
    // generic keyspace
    "del", -2, WRITE, (1, -1, 1), "@keyspace @write @slow", keys::del;
    "unlink", -2, WRITE | FAST, (1, -1, 1), "@keyspace @write @fast", keys::unlink;
    "exists", -2, RF, (1, -1, 1), "@keyspace @read @fast", keys::exists;
    "type", 2, RF, (1, 1, 1), "@keyspace @read @fast", keys::type_;
    "keys", 2, READONLY | WALKS, (0, 0, 0), "@keyspace @read @slow @dangerous", keys::keys;
    "scan", -2, READONLY | WALKS, (0, 0, 0), "@keyspace @read @slow", keys::scan;
    "randomkey", 1, READONLY | WALKS, (0, 0, 0), "@keyspace @read @slow", keys::randomkey;
    "rename", 3, WRITE, (1, 2, 1), "@keyspace @write @slow", keys::rename;
    "renamenx", 3, WRITE | FAST, (1, 2, 1), "@keyspace @write @fast", keys::renamenx;
    "copy", -3, W, (1, 2, 1), "@keyspace @write @slow", keys::copy;
    "move", 3, WRITE | FAST, (1, 1, 1), "@keyspace @write @fast", keys::move_;
    "touch", -2, RF, (1, -1, 1), "@keyspace @read @fast", keys::touch;
    "object", -2, CONTAINER | READONLY, (2, 2, 1), "@keyspace @read @slow", keys::object;
    "expire", -3, WRITE | FAST, (1, 1, 1), "@keyspace @write @fast", keys::expire;
    "pexpire", -3, WRITE | FAST, (1, 1, 1), "@keyspace @write @fast", keys::pexpire;
    "expireat", -3, WRITE | FAST, (1, 1, 1), "@keyspace @write @fast", keys::expireat;
    "pexpireat", -3, WRITE | FAST, (1, 1, 1), "@keyspace @write @fast", keys::pexpireat;
    "ttl", 2, RF, (1, 1, 1), "@keyspace @read @fast", keys::ttl;
    "pttl", 2, RF, (1, 1, 1), "@keyspace @read @fast", keys::pttl;
    "expiretime", 2, RF, (1, 1, 1), "@keyspace @read @fast", keys::expiretime;
    "pexpiretime", 2, RF, (1, 1, 1), "@keyspace @read @fast", keys::pexpiretime;
    "persist", 2, WRITE | FAST, (1, 1, 1), "@keyspace @write @fast", keys::persist;
    // strings
    "get", 2, RF, (1, 1, 1), "@read @string @fast", string::get;
    "set", -3, W, (1, 1, 1), "@write @string @slow", string::set;
    "setnx", 3, WF, (1, 1, 1), "@write @string @fast", string::setnx;
    "setex", 4, W, (1, 1, 1), "@write @string @slow", string::setex;
    "psetex", 4, W, (1, 1, 1), "@write @string @slow", string::psetex;
    "mget", -2, RF, (1, -1, 1), "@read @string @fast", string::mget;
    "mset", -3, W, (1, -1, 2), "@write @string @slow", string::mset;
    "msetnx", -3, W, (1, -1, 2), "@write @string @slow", string::msetnx;
    "getset", 3, WF, (1, 1, 1), "@write @string @fast", string::getset;
    "getdel", 2, WF, (1, 1, 1), "@write @string @fast", string::getdel;
    "getex", -2, WF, (1, 1, 1), "@write @string @fast", string::getex;
    "incr", 2, WF, (1, 1, 1), "@write @string @fast", string::incr;
    "decr", 2, WF, (1, 1, 1), "@write @string @fast", string::decr;
    "incrby", 3, WF, (1, 1, 1), "@write @string @fast", string::incrby;
    "decrby", 3, WF, (1, 1, 1), "@write @string @fast", string::decrby;
    "incrbyfloat", 3, WF, (1, 1, 1), "@write @string @fast", string::incrbyfloat;
    "append", 3, WF, (1, 1, 1), "@write @string @fast", string::append;
    "strlen", 2, RF, (1, 1, 1), "@read @string @fast", string::strlen;
    "getrange", 4, READONLY, (1, 1, 1), "@read @string @slow", string::getrange;
    "substr", 4, READONLY, (1, 1, 1), "@read @string @slow", string::getrange;
    "setrange", 4, W, (1, 1, 1), "@write @string @slow", string::setrange;
    "lcs", -3, READONLY, (1, 2, 1), "@read @string @slow", string::lcs;
    // transactions
    "multi", 1, NOSCRIPT | LOADING | STALE | FAST | RUNS_IN_MULTI, (0, 0, 0), "@fast @transaction", multi::multi;
    "exec", 1, NOSCRIPT | LOADING | STALE | SKIP_MONITOR | RUNS_IN_MULTI, (0, 0, 0), "@slow @transaction", multi::exec;
    "discard", 1, NOSCRIPT | LOADING | STALE | FAST | RUNS_IN_MULTI, (0, 0, 0), "@fast @transaction", multi::discard;
    "watch", -2, NOSCRIPT | LOADING | STALE | FAST | RUNS_IN_MULTI, (1, -1, 1), "@fast @transaction", multi::watch;
    "unwatch", 1, NOSCRIPT | LOADING | STALE | FAST, (0, 0, 0), "@fast @transaction", multi::unwatch;
}

/// Subcommands of container commands with their arity (Redis 7.0 resolves
/// them at lookup, so an unknown subcommand or a wrong arity is rejected
/// before MULTI queues it).
const SUBCOMMANDS: &[(&str, &[(&str, i32)])] = &[
    (
        "client",
        &[
            ("id", 2),
            ("getname", 2),
            ("info", 2),
            ("help", 2),
            ("setname", 3),
            ("reply", 3),
            ("no-evict", 3),
            ("list", -2),
            ("kill", -3),
            ("pause", -3),
            ("unblock", -3),
            ("unpause", 2),
        ],
    ),
    (
        "slowlog",
        &[("get", -2), ("len", 2), ("reset", 2), ("help", 2)],
    ),
    // DOCTOR and GRAPH (a report and an ASCII chart for people) are not
    // implemented: they answer as unknown subcommands.
    (
        "latency",
        &[
            ("latest", 2),
            ("history", 3),
            ("reset", -2),
            ("histogram", -2),
            ("help", 2),
        ],
    ),
    (
        "config",
        &[
            ("get", -3),
            ("set", -4),
            ("resetstat", 2),
            ("rewrite", 2),
            ("help", 2),
        ],
    ),
    (
        "object",
        &[
            ("encoding", 3),
            ("freq", 3),
            ("idletime", 3),
            ("refcount", 3),
            ("help", 2),
        ],
    ),
    (
        "pubsub",
        &[("channels", -2), ("numsub", -2), ("numpat", 2), ("help", 2)],
    ),
    (
        "xgroup",
        &[
            ("create", -5),
            ("createconsumer", 5),
            ("delconsumer", 5),
            ("destroy", 4),
            ("setid", -5),
            ("help", 2),
        ],
    ),
    (
        "xinfo",
        &[("consumers", 4), ("groups", 3), ("stream", -3), ("help", 2)],
    ),
    (
        "command",
        &[
            ("count", 2),
            ("docs", -2),
            ("info", -2),
            ("list", -2),
            ("help", 2),
        ],
    ),
];

/// A container command's subcommand names (none for other commands).
pub fn subcommands(cmd: &Command) -> impl Iterator<Item = &'static str> + use<'_> {
    SUBCOMMANDS
        .iter()
        .filter(move |(name, _)| *name == cmd.name)
        .flat_map(|(_, subs)| subs.iter().map(|(sub, _)| *sub))
}

/// Why a container command's subcommand was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SubcommandError {
    Unknown,
    /// Wrong arity; carries the `container|sub` name for the error text.
    Arity(String),
}

/// Checks a container command's subcommand name and arity. Commands without
/// subcommands always pass.
pub fn check_subcommand(
    cmd: &Command,
    argv_len: usize,
    sub: Option<&[u8]>,
) -> Result<(), SubcommandError> {
    let Some((_, subs)) = SUBCOMMANDS.iter().find(|(name, _)| *name == cmd.name) else {
        return Ok(());
    };
    let Some(sub) = sub else { return Ok(()) };
    let Some((name, arity)) = subs
        .iter()
        .find(|(name, _)| sub.eq_ignore_ascii_case(name.as_bytes()))
    else {
        return Err(SubcommandError::Unknown);
    };
    let ok = if *arity >= 0 {
        argv_len == *arity as usize
    } else {
        argv_len >= arity.unsigned_abs() as usize
    };
    if ok {
        Ok(())
    } else {
        Err(SubcommandError::Arity(format!("{}|{}", cmd.name, name)))
    }
}

/// Finds a command by name, case-insensitively, without allocating.
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    static INDEX: OnceLock<HashMap<&'static [u8], usize>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        all_commands()
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_bytes(), i))
            .collect()
    });
    let mut lower = [0u8; 32];
    let lower = lower.get_mut(..name.len())?;
    for (dst, src) in lower.iter_mut().zip(name) {
        *dst = src.to_ascii_lowercase();
    }
    index.get(&*lower).map(|&i| all_commands()[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_ids_are_positions() {
        let get = lookup(b"GeT").unwrap();
        assert_eq!(get.name, "get");
        assert_eq!(all_commands()[get.id()].name, "get");
        assert!(lookup(b"nope").is_none());
        assert!(lookup(&[b'a'; 100]).is_none());
    }

    #[test]
    fn key_positions_follow_first_last_step() {
        let mset = lookup(b"mset").unwrap();
        let argv = |args: &[&str]| Argv::from_slices(args);
        assert_eq!(
            mset.key_positions(&argv(&["mset", "a", "1", "b", "2"]))
                .collect::<Vec<_>>(),
            vec![1, 3]
        );
        let object = lookup(b"object").unwrap();
        assert_eq!(object.key_positions(&argv(&["object", "help"])).count(), 0);
        assert_eq!(
            object
                .key_positions(&argv(&["object", "encoding", "k"]))
                .collect::<Vec<_>>(),
            vec![2]
        );
        let ping = lookup(b"ping").unwrap();
        assert_eq!(ping.key_positions(&argv(&["ping", "x"])).count(), 0);
        let numkeys = Command {
            first_key: -2,
            last_key: 1,
            ..*ping
        };
        let keys = |args: &[&str]| numkeys.key_positions(&argv(args)).collect::<Vec<_>>();
        assert_eq!(
            keys(&["zunionstore", "d", "2", "a", "b", "WEIGHTS", "1", "2"]),
            vec![3, 4, 1]
        );
        assert_eq!(keys(&["zunionstore", "d", "99", "a"]), vec![3, 1]);
        assert_eq!(keys(&["zunionstore", "d", "x", "a"]), vec![1]);
    }

    #[test]
    fn names_are_unique_and_lowercase() {
        let mut names: Vec<_> = all_commands().iter().map(|c| c.name).collect();
        assert!(names
            .iter()
            .all(|n| n.bytes().all(|b| !b.is_ascii_uppercase())));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all_commands().len());
    }
}
