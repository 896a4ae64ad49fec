//! Parallel apply of the master's stream on a replica.
//!
//! One link thread reads and applies the master's stream in order, which
//! holds a replica to the speed of one core while a sluice master takes
//! writes on all of its shards. Consecutive commands of a read that each
//! touch one stripe (the common SET / HSET / LPUSH / DEL of one key) are a
//! run; the link thread splits a long run by stripe into parts of about
//! [`PER_PART`] commands: it applies the first itself while workers apply
//! the others, each part in stream order. A short run is applied by the
//! link thread alone, but still fed to the backlog in one append.
//!
//! ```text
//!   io.buf: | SET a | SET b | HSET c | ... | SELECT 2 | SET d | ...
//!            '------- run (one stripe each) ------'  '- one by one, on
//!   run --stripe % parts--> part 0 (link thread),        the link thread
//!                           part 1..n (workers)
//!   all parts done --> the run's bytes to this replica's backlog, offset
//! ```
//!
//! What holds: writes to one key (one stripe) apply in stream order, and
//! anything else (MULTI/EXEC blocks, SELECT, multi-stripe commands,
//! FLUSHALL, PING, GETACK) runs on the link thread between runs, after
//! every earlier command. The offset (ACKs, WAIT, INFO) and the backlog
//! advance only when a whole run is applied, under the keyspace's cut
//! gate, so a snapshot of this replica (BGSAVE, a sub-replica's full sync)
//! holds a prefix of the stream. What a client of the replica may see
//! during a run (about a millisecond): a later write to one key before an
//! earlier write to another key of a different stripe. With
//! `replica-apply-threads 1` the link applies everything in order, as
//! Redis does.

use crate::cmd::{dispatch_found, flags, lookup, Client, Command};
use crate::protocol::{Argv, Limits, Parsed, ReplyBuf, RequestParser};
use crate::server::{ClientMeta, Server};
use crossbeam_channel::{Receiver, Sender};
use std::sync::Arc;

/// Commands per part of a run: handing a part to a worker costs two
/// thread wake-ups, worth it only for a batch that takes longer.
const PER_PART: usize = 64;

/// How many commands ahead an applier prefetches the stripe it will lock.
const PREFETCH_AHEAD: usize = 4;

/// One command of a run: its bytes in the run's buffer, its db, and the
/// command they name (looked up once).
#[derive(Clone, Copy)]
struct Task {
    start: usize,
    end: usize,
    db: usize,
    stripe: usize,
    cmd: &'static Command,
}

/// A worker's share of one run.
struct Job {
    bytes: Arc<Vec<u8>>,
    tasks: Vec<Task>,
}

/// The one-stripe write `argv` is, if it is one: its command and stripe.
fn one_stripe(argv: &Argv) -> Option<(&'static Command, usize)> {
    let cmd = lookup(argv.get(0))?;
    let excluded = flags::ALL_STRIPES | flags::WALKS | flags::CONTAINER | flags::RUNS_IN_MULTI;
    if cmd.flags & flags::WRITE == 0 || cmd.flags & excluded != 0 || !cmd.arity_ok(argv.len()) {
        return None;
    }
    let mut keys = cmd.key_positions(argv);
    let stripe = crate::store::stripe_of(argv.get(keys.next()?));
    keys.all(|k| crate::store::stripe_of(argv.get(k)) == stripe)
        .then_some((cmd, stripe))
}

/// A worker that panics (a bug) still answers for its job, so the link
/// thread does not wait forever; the scope re-raises the panic when the
/// link's streaming ends.
struct Unwinding<'a>(&'a Sender<()>);

impl Drop for Unwinding<'_> {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Applies one part's tasks, in order, as the master's client.
struct Applier {
    client: Client,
    parser: RequestParser,
    argv: Argv,
    out: ReplyBuf,
    /// The metrics slot its calls count in.
    shard: usize,
}

impl Applier {
    fn new(srv: &Server, shard: usize) -> Applier {
        let meta = Arc::new(ClientMeta::new(
            srv.next_client_id(),
            0,
            -1,
            "replication-apply".into(),
            String::new(),
            srv.now_ms(),
        ));
        let mut client = Client::new(meta, true);
        client.master_link = true;
        Applier {
            client,
            parser: RequestParser::new(),
            argv: Argv::new(),
            out: ReplyBuf::new(false),
            shard,
        }
    }

    fn apply(&mut self, srv: &Server, bytes: &[u8], tasks: &[Task]) {
        for (i, task) in tasks.iter().enumerate() {
            if let Some(ahead) = tasks.get(i + PREFETCH_AHEAD) {
                srv.keyspace.prefetch_stripe(ahead.stripe);
            }
            self.argv.clear();
            // The link parsed these bytes already: complete and valid.
            let parsed = self
                .parser
                .parse(&bytes[task.start..task.end], &LIMITS, &mut self.argv);
            debug_assert!(matches!(parsed, Ok(Parsed::Complete { .. })));
            if self.argv.is_empty() {
                continue;
            }
            self.client.db = task.db;
            dispatch_found(
                srv,
                self.shard,
                &mut self.client,
                &mut self.out,
                &self.argv,
                Some(task.cmd),
            );
            self.out.buf.clear();
        }
    }
}

/// The master's stream is trusted up to any bulk length (the link's own
/// limits).
pub const LIMITS: Limits = Limits {
    proto_max_bulk_len: u64::MAX >> 1,
    authenticated: true,
};

/// The link thread's side: the run being collected, its own applier, and
/// the workers (scoped to the link's streaming).
pub struct Pool {
    scan: RequestParser,
    argv: Argv,
    /// The collected run, in stream order.
    tasks: Vec<Task>,
    mine: Applier,
    /// One per worker; each answers on `done` when its job is applied.
    jobs: Vec<Sender<Job>>,
    done: Receiver<()>,
}

impl Pool {
    /// Up to `parts` parts: the link thread's own and `parts - 1` workers,
    /// spawned in `scope` (they end when the pool is dropped).
    pub fn start<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        srv: &'scope Server,
        parts: usize,
    ) -> Pool {
        let (done_tx, done) = crossbeam_channel::unbounded();
        let mut jobs = Vec::new();
        for part in 1..parts.max(1) {
            let (tx, rx) = crossbeam_channel::unbounded::<Job>();
            let done_tx = done_tx.clone();
            let mut applier = Applier::new(srv, part % srv.metrics.len().max(1));
            let spawned = std::thread::Builder::new()
                .name(format!("repl-apply-{part}"))
                .spawn_scoped(scope, move || {
                    for job in rx {
                        let unwinding = Unwinding(&done_tx);
                        applier.apply(srv, &job.bytes, &job.tasks);
                        std::mem::forget(unwinding);
                        if done_tx.send(()).is_err() {
                            break;
                        }
                    }
                });
            match spawned {
                Ok(_) => jobs.push(tx),
                Err(e) => {
                    crate::warning!(
                        "Replica apply: spawning a worker failed, applying with fewer: {e}"
                    );
                    break;
                }
            }
        }
        Pool {
            scan: RequestParser::new(),
            argv: Argv::new(),
            tasks: Vec::new(),
            mine: Applier::new(srv, 0),
            jobs,
            done,
        }
    }

    /// Collects the run of one-stripe writes at the start of `buf` (all in
    /// `db`), stopping at the first other command or incomplete one.
    /// Returns its length in bytes (0: none).
    pub fn collect(&mut self, buf: &[u8], db: usize) -> usize {
        self.tasks.clear();
        let mut used = 0;
        loop {
            self.argv.clear();
            match self.scan.parse(&buf[used..], &LIMITS, &mut self.argv) {
                Ok(Parsed::Complete { consumed }) if !self.argv.is_empty() => {
                    let Some((cmd, stripe)) = one_stripe(&self.argv) else {
                        break;
                    };
                    self.tasks.push(Task {
                        start: used,
                        end: used + consumed,
                        db,
                        stripe,
                        cmd,
                    });
                    used += consumed;
                }
                _ => break,
            }
        }
        // Whatever stopped the run is parsed again by the link.
        self.scan = RequestParser::new();
        used
    }

    /// Commands in the collected run.
    pub fn commands(&self) -> usize {
        self.tasks.len()
    }

    /// Applies the collected run, whose bytes are `run`, and returns when
    /// all of it is applied: split by stripe into one part per
    /// [`PER_PART`] commands (at most one per thread), the link thread
    /// applying the first and workers the others; a run too short to
    /// split (or one whose commands all fall in one part, a hot key) is
    /// applied here alone, in order. Returns the parts used.
    pub fn apply(&mut self, srv: &Server, run: &[u8]) -> usize {
        let parts = (self.tasks.len() / PER_PART).clamp(1, self.jobs.len() + 1);
        // No queues for a run of one part (no allocation per short run).
        let mut queues = Vec::new();
        if parts > 1 {
            queues = vec![Vec::new(); parts];
            for task in &self.tasks {
                queues[task.stripe % parts].push(*task);
            }
        }
        let busy = queues.iter().filter(|q| !q.is_empty()).count();
        if busy <= 1 {
            self.mine.apply(srv, run, &self.tasks);
            return 1;
        }
        let shared = Arc::new(run.to_vec());
        let mut handed = 0;
        // Part 0, and a part whose worker is gone (it cannot be, short of
        // a panic), are applied here once the others are handed out.
        let mut here = Vec::new();
        for (part, tasks) in queues.into_iter().enumerate() {
            if tasks.is_empty() {
                continue;
            }
            let job = Job {
                bytes: Arc::clone(&shared),
                tasks,
            };
            match part.checked_sub(1).and_then(|w| self.jobs.get(w)) {
                Some(worker) => match worker.send(job) {
                    Ok(()) => handed += 1,
                    Err(back) => here.push(back.into_inner().tasks),
                },
                None => here.push(job.tasks),
            }
        }
        for tasks in &here {
            self.mine.apply(srv, &shared, tasks);
        }
        for _ in 0..handed {
            if self.done.recv().is_err() {
                break;
            }
        }
        busy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripe(args: &[&str]) -> Option<usize> {
        one_stripe(&Argv::from_slices(args)).map(|(_, s)| s)
    }

    #[test]
    fn runs_take_one_stripe_writes_only() {
        let of = |k: &str| crate::store::stripe_of(k.as_bytes());
        assert_eq!(stripe(&["SET", "k", "v"]), Some(of("k")));
        assert_eq!(stripe(&["incr", "c"]), Some(of("c")));
        // Keys sharing a hash tag share a stripe.
        assert_eq!(
            stripe(&["MSET", "{t}a", "1", "{t}b", "2"]),
            Some(of("{t}a"))
        );
        let (a, b) = ("a", "b");
        assert_ne!(of(a), of(b), "pick keys in two stripes");
        assert_eq!(stripe(&["MSET", a, "1", b, "2"]), None);
        assert_eq!(stripe(&["DEL", a, b]), None);
        for other in [
            &["GET", "k"][..],
            &["SELECT", "1"],
            &["FLUSHALL"],
            &["MULTI"],
            &["EXEC"],
            &["PING"],
            &["REPLCONF", "GETACK", "*"],
            &["PUBLISH", "ch", "m"],
            &["SET", "k"],
            &["NOSUCH", "k"],
        ] {
            assert_eq!(stripe(other), None, "{other:?}");
        }
    }
}
