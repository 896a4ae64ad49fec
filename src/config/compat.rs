//! Directives sluice accepts so that redis.conf files load unchanged, but
//! does not act on (Redis 7.0.15 `config.c` names, defaults and bounds).
//!
//! A user pointing sluice at the redis.conf their Redis ran with (Debian's
//! `/etc/redis/redis.conf`, say) should get a running server, not a fatal
//! error at `always-show-logo no`. So every directive of that file is either
//! implemented (the main table) or listed here, in one of two groups:
//!
//! - **inert**: tuning or bookkeeping whose absence loses nothing: the value
//!   is checked as Redis checks it and kept for CONFIG GET, SET and REWRITE;
//!   the server logs, at startup, each one set away from its default
//!   ([`inert_overrides`]). The AOF settings are here because `appendonly`
//!   itself only accepts `no`.
//! - **default only**: features sluice lacks whose absence a user would not
//!   notice until it hurt (notifications never sent, TLS not spoken). Their default loads; any other value is a
//!   load error, or a CONFIG SET error, that says what is missing.

use super::{flags, Config, Directive, Kind};

/// How a compatibility directive's value is parsed (Redis's config types).
pub(crate) enum Shape {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    Memory {
        min: u64,
        max: u64,
    },
    Enum(&'static [&'static str]),
    Str,
    /// A bare file or directory name (`appendfilename`): not empty, no
    /// path; `what` ends the second error ("just a filename").
    BaseName {
        what: &'static str,
    },
    /// `proc-title-template`: known `{variables}`, not empty once expanded.
    ProcTitle,
    /// Several integers in one directive (`oom-score-adj-values 0 200 800`),
    /// with the directive's own error for a bad one.
    Ints {
        count: usize,
        min: i64,
        max: i64,
        invalid: &'static str,
    },
}

const fn inert(name: &'static str, default: &'static str, flags: u8, shape: Shape) -> Directive {
    Directive {
        name,
        alias: None,
        default,
        flags,
        kind: Kind::Compat {
            shape,
            only_default: None,
        },
    }
}

const fn default_only(
    name: &'static str,
    default: &'static str,
    flags: u8,
    shape: Shape,
    missing: &'static str,
) -> Directive {
    Directive {
        name,
        alias: None,
        default,
        flags,
        kind: Kind::Compat {
            shape,
            only_default: Some(missing),
        },
    }
}

const INT_MAX: i64 = i32::MAX as i64;
/// A count or threshold from 0 up (Redis's `LONG_MAX` and `LLONG_MAX`
/// bounds are the same here).
const COUNT: Shape = Shape::Int {
    min: 0,
    max: i64::MAX,
};
/// A memory value from 0 up.
const BYTES: Shape = Shape::Memory {
    min: 0,
    max: i64::MAX as u64,
};
const IMMUTABLE: u8 = flags::IMMUTABLE;
const NO_TLS: &str = "sluice does not implement TLS yet";

/// The table, appended to the main one in CONFIG GET `*` order.
pub(crate) static DIRECTIVES: &[Directive] = &[
    // Process and logging.
    inert("always-show-logo", "no", IMMUTABLE, Shape::Bool),
    inert("set-proc-title", "yes", IMMUTABLE, Shape::Bool),
    inert(
        "proc-title-template",
        "{title} {listen-addr} {server-mode}",
        0,
        Shape::ProcTitle,
    ),
    inert("crash-log-enabled", "yes", 0, Shape::Bool),
    inert("crash-memcheck-enabled", "yes", 0, Shape::Bool),
    inert("disable-thp", "yes", IMMUTABLE, Shape::Bool),
    inert(
        "oom-score-adj",
        "no",
        0,
        Shape::Enum(&["no", "yes", "relative", "absolute"]),
    ),
    inert(
        "oom-score-adj-values",
        "0 200 800",
        flags::MULTI_ARG,
        Shape::Ints {
            count: 3,
            min: -2000,
            max: 2000,
            invalid: "Invalid oom-score-adj-values, elements must be between -2000 and 2000.",
        },
    ),
    inert("ignore-warnings", "", 0, Shape::Str),
    // Event loop, memory and CPU tuning of Redis's own structures.
    inert("activerehashing", "yes", 0, Shape::Bool),
    inert("dynamic-hz", "yes", 0, Shape::Bool),
    inert("jemalloc-bg-thread", "yes", 0, Shape::Bool),
    inert(
        "io-threads",
        "1",
        IMMUTABLE,
        Shape::Int { min: 1, max: 128 },
    ),
    inert("io-threads-do-reads", "no", IMMUTABLE, Shape::Bool),
    inert(
        "active-expire-effort",
        "1",
        0,
        Shape::Int { min: 1, max: 10 },
    ),
    // Redis built with the system's jemalloc (Debian's) refuses it too.
    default_only(
        "activedefrag",
        "no",
        0,
        Shape::Bool,
        "Active defragmentation cannot be enabled: sluice does not implement it",
    ),
    inert(
        "active-defrag-ignore-bytes",
        "104857600",
        0,
        Shape::Memory {
            min: 1,
            max: i64::MAX as u64,
        },
    ),
    inert(
        "active-defrag-threshold-lower",
        "10",
        0,
        Shape::Int { min: 0, max: 1000 },
    ),
    inert(
        "active-defrag-threshold-upper",
        "100",
        0,
        Shape::Int { min: 0, max: 1000 },
    ),
    inert(
        "active-defrag-cycle-min",
        "1",
        0,
        Shape::Int { min: 1, max: 99 },
    ),
    inert(
        "active-defrag-cycle-max",
        "25",
        0,
        Shape::Int { min: 1, max: 99 },
    ),
    inert(
        "active-defrag-max-scan-fields",
        "1000",
        0,
        Shape::Int {
            min: 1,
            max: i64::MAX,
        },
    ),
    inert("tracking-table-max-keys", "1000000", 0, COUNT),
    inert(
        "sanitize-dump-payload",
        "no",
        0,
        Shape::Enum(&["no", "yes", "clients"]),
    ),
    inert(
        "propagation-error-behavior",
        "ignore",
        0,
        Shape::Enum(&["ignore", "panic", "panic-on-replicas"]),
    ),
    // A sluice replica always applies its master's writes after a failed
    // save (Redis's `yes`; with `no` Redis panics the replica).
    inert("replica-ignore-disk-write-errors", "no", 0, Shape::Bool),
    inert(
        "enable-module-command",
        "no",
        IMMUTABLE,
        Shape::Enum(&["no", "yes", "local"]),
    ),
    // Diagnostics sluice does not have (ACL LOG).
    inert("acllog-max-len", "128", 0, COUNT),
    inert(
        "acl-pubsub-default",
        "resetchannels",
        0,
        Shape::Enum(&["allchannels", "resetchannels"]),
    ),
    // Persistence: RDB fsync pacing, and the AOF (off: `appendonly` is `no`).
    inert("rdb-save-incremental-fsync", "yes", 0, Shape::Bool),
    inert("rdb-del-sync-files", "no", 0, Shape::Bool),
    inert(
        "appendfilename",
        "appendonly.aof",
        IMMUTABLE,
        Shape::BaseName { what: "filename" },
    ),
    inert(
        "appenddirname",
        "appendonlydir",
        IMMUTABLE,
        Shape::BaseName { what: "dirname" },
    ),
    inert(
        "appendfsync",
        "everysec",
        0,
        Shape::Enum(&["everysec", "always", "no"]),
    ),
    inert("no-appendfsync-on-rewrite", "no", 0, Shape::Bool),
    inert(
        "auto-aof-rewrite-percentage",
        "100",
        0,
        Shape::Int {
            min: 0,
            max: INT_MAX,
        },
    ),
    inert("auto-aof-rewrite-min-size", "67108864", 0, BYTES),
    inert("aof-rewrite-incremental-fsync", "yes", 0, Shape::Bool),
    inert("aof-load-truncated", "yes", 0, Shape::Bool),
    inert("aof-use-rdb-preamble", "yes", 0, Shape::Bool),
    inert("aof-timestamp-enabled", "no", 0, Shape::Bool),
    inert("aof-disable-auto-gc", "no", 0, Shape::Bool),
    // Features sluice lacks: only their "off" value loads.
    default_only(
        "aclfile",
        "",
        IMMUTABLE,
        Shape::Str,
        "sluice does not implement ACL files: use requirepass",
    ),
    default_only(
        "cluster-enabled",
        "no",
        IMMUTABLE,
        Shape::Bool,
        "sluice does not implement Redis Cluster",
    ),
    default_only(
        "tls-port",
        "0",
        0,
        Shape::Int { min: 0, max: 65535 },
        NO_TLS,
    ),
    default_only("tls-replication", "no", 0, Shape::Bool, NO_TLS),
    default_only("tls-cluster", "no", 0, Shape::Bool, NO_TLS),
];

/// The inert directives `config` sets away from their defaults, with the
/// values, for the startup log: the user asked for something that does
/// nothing here.
pub fn inert_overrides(config: &Config) -> Vec<(&'static str, Vec<u8>)> {
    let default = Config::default();
    DIRECTIVES
        .iter()
        .filter(|d| {
            matches!(
                d.kind,
                Kind::Compat {
                    only_default: None,
                    ..
                }
            )
        })
        .filter_map(|d| {
            let value = d.show(config);
            (value != d.show(&default)).then_some((d.name, value))
        })
        .collect()
}
