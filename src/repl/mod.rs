//! Replication (Redis's PSYNC2): the backlog ring, and the replica's
//! handshake and full-sync framing (sans-IO, checked against a real
//! redis-server master); the master and replica sides build on them.

pub mod backlog;
pub mod handshake;
pub mod master;
pub mod replica;

use crate::protocol::{encode_command, Argv};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

/// Bytes of the replication backlog ring. Larger than Redis's 1 MiB
/// `repl-backlog-size` default: a replica reads the stream from the ring
/// from the cut on, so the ring must hold every write made during the
/// transfer (issue 6 sizes and spills this properly).
pub const BACKLOG_BYTES: usize = 64 << 20;

/// `*1\r\n$4\r\nPING\r\n`, the master's keepalive in the stream.
const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";

/// The server's replication role: a master unless a link to a master is
/// configured (REPLICAOF host port).
#[derive(Default)]
pub struct Replication {
    master: Mutex<Option<replica::Link>>,
    /// `master.is_some()`, readable without the lock.
    replica: AtomicBool,
    /// Replicas attached to this server.
    pub replicas: master::Replicas,
    /// The stream to replicas, created when the first one attaches (as in
    /// Redis, the offset advances only while a backlog exists).
    backlog: OnceLock<backlog::Backlog>,
    last_ping_ms: AtomicU64,
}

impl Replication {
    /// Checked by every write command (READONLY): an atomic, not the
    /// link's mutex, which every shard would contend on.
    pub fn is_replica(&self) -> bool {
        self.replica.load(Ordering::Acquire)
    }

    /// The link's shared status while this server is a replica.
    pub fn link_status(&self) -> Option<std::sync::Arc<replica::LinkStatus>> {
        self.master
            .lock()
            .as_ref()
            .map(|l| std::sync::Arc::clone(&l.status))
    }

    /// The backlog, created on first use.
    pub fn backlog(&self) -> &backlog::Backlog {
        self.backlog
            .get_or_init(|| backlog::Backlog::new(BACKLOG_BYTES, 0))
    }

    /// The backlog if one exists.
    pub fn backlog_if_any(&self) -> Option<&backlog::Backlog> {
        self.backlog.get()
    }

    /// Appends writes in their propagation form (`Server::propagate`,
    /// called while their stripes are held). Several ops are one MULTI
    /// block: one append, so no other write lands inside it; a block that
    /// changes database ends with a SELECT back to its first.
    pub fn feed(&self, ops: &[(usize, Argv)]) {
        let Some(backlog) = self.backlog.get() else {
            return;
        };
        let encode = |argv: &Argv| {
            let args: Vec<&[u8]> = (0..argv.len()).map(|i| argv.get(i)).collect();
            encode_command(&args)
        };
        match ops {
            [] => {}
            [(db, argv)] => {
                backlog.append(Some(*db), &encode(argv));
            }
            [(first, _), ..] => {
                let mut entry = Vec::new();
                let mut current = *first;
                for (db, argv) in ops {
                    if *db != current {
                        entry.extend(backlog::select_command(*db));
                        current = *db;
                    }
                    entry.extend(encode(argv));
                }
                if current != *first {
                    entry.extend(backlog::select_command(*first));
                }
                backlog.append(Some(*first), &entry);
            }
        }
    }

    /// Appends a PING to the stream when `period_ms` passed since the last
    /// one (one per period for all replicas, as Redis's cron).
    pub fn ping_if_due(&self, now_ms: u64, period_ms: u64) {
        let Some(backlog) = self.backlog.get() else {
            return;
        };
        let last = self.last_ping_ms.load(Ordering::Acquire);
        if now_ms.saturating_sub(last) >= period_ms
            && self
                .last_ping_ms
                .compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            backlog.append(None, PING);
        }
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
}
