//! One snapshot for every replica that needs a full sync at about the same
//! time (rdb.c `rdbSaveToSlavesSockets`, replication.c
//! `startBgsaveForReplication`).
//!
//! ```text
//!   diskless   the first replica to ask leads: it waits
//!              repl-diskless-sync-delay seconds (or until
//!              repl-diskless-sync-max-replicas have joined), takes every
//!              replica queued by then and writes one image to all their
//!              sockets ($EOF:<mark>, one mark); replicas that ask while
//!              it runs queue for the next one
//!   disk       the first replica leads: one file in `dir`; a replica that
//!              asks while it is written attaches to it (its +FULLRESYNC
//!              carries the cut's offset) while the ring still holds the
//!              stream from that cut; each replica's own sender then
//!              sends the finished file with sendfile(2) at its own pace
//! ```
//!
//! A diskless fan-out is paced by its slowest replica (as Redis's): the
//! image is written to each socket in turn. The shards never wait for any
//! of it: the snapshot engine queues or spills what they save
//! (`persist::stream_snapshot`).

use crate::repl::master::{Replica, ReplicaState};
use crate::server::persist::{write_image, ImageOut, ReplInfo, SyncCut, SNAPSHOT_BUSY};
use crate::server::Server;
use parking_lot::{Condvar, Mutex};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A replica waiting for (or in) a shared full sync.
pub(crate) struct Joiner {
    pub replica: Arc<Replica>,
    pub sock: TcpStream,
    /// Legacy SYNC: no `+FULLRESYNC` line.
    pub legacy: bool,
    /// Set by the leader: the cut's offset, and for a disk-backed sync the
    /// file to send.
    done: Mutex<Option<Result<Outcome, String>>>,
}

impl Joiner {
    pub fn new(replica: Arc<Replica>, sock: TcpStream, legacy: bool) -> Joiner {
        Joiner {
            replica,
            sock,
            legacy,
            done: Mutex::new(None),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Outcome {
    pub offset: u64,
    /// Disk-backed: the image, shared by the replicas that attached.
    pub file: Option<Arc<SyncFile>>,
}

/// A disk-backed sync's image: removed when its last sender is done.
pub(crate) struct SyncFile {
    pub file: std::fs::File,
    pub size: u64,
    path: std::path::PathBuf,
}

impl Drop for SyncFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[derive(Default)]
struct Queue {
    /// Replicas waiting for the next snapshot.
    waiting: Vec<Arc<Joiner>>,
    /// A leader is gathering replicas or writing an image.
    busy: bool,
    /// Disk-backed only: the running image's cut offset (once cut) and
    /// the replicas that attached to it after its group was formed.
    running: Option<(Option<u64>, Vec<Arc<Joiner>>)>,
}

/// Full syncs waiting to share a snapshot, one queue per kind.
#[derive(Default)]
pub struct SyncQueues {
    diskless: Mutex<Queue>,
    disk: Mutex<Queue>,
    changed: Condvar,
}

/// What the leader of a group runs: the image for `group`, each member's
/// result.
type Lead<'a> = dyn FnMut(&[Arc<Joiner>]) -> Vec<Result<Outcome, String>> + 'a;

impl SyncQueues {
    /// Queues `me` for the next shared snapshot of its kind and returns
    /// its outcome, leading the group when no one else does. `gather`
    /// decides when a leader stops waiting for more replicas.
    fn join(
        &self,
        queue: &Mutex<Queue>,
        me: &Arc<Joiner>,
        gather: impl Fn(usize, Instant) -> Option<Instant>,
        lead: &mut Lead,
    ) -> Result<Outcome, String> {
        let mut q = queue.lock();
        q.waiting.push(Arc::clone(me));
        self.changed.notify_all();
        if let Some(done) = self.outcome(&mut q, me, |q| !q.busy) {
            return done;
        }
        // No one leads: lead. Gather, then run for everyone gathered.
        q.busy = true;
        let since = Instant::now();
        while let Some(until) = gather(q.waiting.len(), since) {
            self.changed.wait_until(&mut q, until);
        }
        let group = std::mem::take(&mut q.waiting);
        drop(q);
        let results = lead(&group);
        let mut q = queue.lock();
        for (joiner, result) in group.iter().zip(results) {
            *joiner.done.lock() = Some(result);
        }
        q.busy = false;
        self.changed.notify_all();
        drop(q);
        me.done
            .lock()
            .take()
            .unwrap_or_else(|| Err("the sync's leader lost track of this replica".into()))
    }

    /// Waits (the queue's lock released while waiting) for `me`'s outcome,
    /// or until `stop(queue)`: None then.
    fn outcome(
        &self,
        q: &mut parking_lot::MutexGuard<'_, Queue>,
        me: &Joiner,
        stop: impl Fn(&Queue) -> bool,
    ) -> Option<Result<Outcome, String>> {
        loop {
            if let Some(done) = me.done.lock().take() {
                return Some(done);
            }
            if stop(q) {
                return None;
            }
            self.changed.wait_for(q, Duration::from_millis(100));
        }
    }
}

/// Logs the start of a shared snapshot for `group`.
fn log_start(target: &str, group: &[Arc<Joiner>]) {
    let names: Vec<String> = group.iter().map(|j| j.replica.name()).collect();
    crate::notice!(
        "Starting BGSAVE for SYNC with target: {target} ({} replica(s): {})",
        group.len(),
        names.join(", ")
    );
}

/// Tells a disk-backed replica its image's cut: the stream starts there,
/// `+FULLRESYNC` (not for legacy SYNC), keepalives until the file follows.
fn announce_cut(j: &Joiner, replid: &str, offset: u64) -> std::io::Result<()> {
    j.replica.sent.store(offset, Ordering::Release);
    *j.replica.keepalive.lock() = true;
    if j.legacy {
        return Ok(());
    }
    (&j.sock).write_all(fullresync(replid, offset).as_bytes())
}

/// Writes one image to every socket of a diskless group; a replica whose
/// socket fails is dropped from the rest of it.
struct FanOut {
    group: Vec<Arc<Joiner>>,
    failed: Vec<Option<String>>,
    pacer: Pacer,
}

impl ImageOut for FanOut {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut alive = 0;
        for (joiner, failed) in self.group.iter().zip(self.failed.iter_mut()) {
            if failed.is_some() {
                continue;
            }
            match (&joiner.sock).write_all(bytes) {
                Ok(()) => {
                    joiner
                        .replica
                        .payload
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    alive += 1;
                }
                Err(e) => *failed = Some(e.to_string()),
            }
        }
        if alive == 0 {
            return Err(std::io::Error::other("every replica of the sync went away"));
        }
        self.pacer.pace(bytes.len() as u64);
        Ok(())
    }
}

/// Paces a payload to `repl-sync-rate-limit` bytes per second (0: as
/// fast as the sockets take it): sleeps while ahead of the schedule.
pub(crate) struct Pacer {
    rate: u64,
    start: Instant,
    sent: u64,
}

impl Pacer {
    pub fn new(srv: &Server) -> Pacer {
        Pacer {
            rate: srv.config.read().repl_sync_rate_limit,
            start: Instant::now(),
            sent: 0,
        }
    }

    /// Bytes per send call: small enough to pace smoothly when limited.
    pub fn chunk(&self) -> usize {
        if self.rate == 0 {
            1 << 30
        } else {
            256 << 10
        }
    }

    pub fn pace(&mut self, n: u64) {
        if self.rate == 0 {
            return;
        }
        self.sent += n;
        let due = Duration::from_secs_f64(self.sent as f64 / self.rate as f64);
        if let Some(ahead) = due.checked_sub(self.start.elapsed()) {
            std::thread::sleep(ahead);
        }
    }
}

fn fullresync(replid: &str, offset: u64) -> String {
    format!("+FULLRESYNC {replid} {offset}\r\n")
}

/// A diskless full sync for `me`, shared with the replicas that ask within
/// repl-diskless-sync-delay; returns the cut's offset once the payload
/// and its mark are written.
pub(crate) fn diskless(srv: &Server, me: &Arc<Joiner>) -> Result<u64, String> {
    let (delay, max) = {
        let c = srv.config.read();
        (
            Duration::from_secs(u64::try_from(c.repl_diskless_sync_delay).unwrap_or(0)),
            usize::try_from(c.repl_diskless_sync_max_replicas).unwrap_or(0),
        )
    };
    let gather = |n: usize, since: Instant| {
        let until = since + delay;
        (Instant::now() < until && !(max > 0 && n >= max)).then_some(until)
    };
    let mut lead = |group: &[Arc<Joiner>]| -> Vec<Result<Outcome, String>> {
        log_start("replicas sockets", group);
        let mark = crate::server::random_hex40();
        let replid = srv.repl.ids().replid;
        let preamble = |offset: u64| {
            for j in group {
                j.replica.sent.store(offset, Ordering::Release);
                j.replica.set_state(ReplicaState::SendBulk);
            }
            format!("{}$EOF:{mark}\r\n", fullresync(&replid, offset)).into_bytes()
        };
        let cut = SyncCut {
            preamble: &preamble,
        };
        let out = || {
            Ok(FanOut {
                group: group.to_vec(),
                failed: vec![None; group.len()],
                pacer: Pacer::new(srv),
            })
        };
        match image_when_free(srv, out, &cut) {
            Ok((mut out, repl)) => {
                let _ = out.put(mark.as_bytes());
                let offset = repl.map_or(0, |r| r.offset);
                out.failed
                    .into_iter()
                    .map(|failed| match failed {
                        Some(e) => Err(e),
                        None => Ok(Outcome { offset, file: None }),
                    })
                    .collect()
            }
            Err(e) => group.iter().map(|_| Err(e.clone())).collect(),
        }
    };
    srv.repl
        .syncs
        .join(&srv.repl.syncs.diskless, me, gather, &mut lead)
        .map(|o| o.offset)
}

/// A disk-backed full sync for `me`: its `+FULLRESYNC` is written at the
/// cut (or at once, attaching to an image being written), then the
/// finished file is returned for its sender to send. The file is written
/// through the page cache whatever `rdb-direct-io` says: it is read back
/// at once, by sendfile(2).
pub(crate) fn disk(srv: &Server, me: &Arc<Joiner>) -> Result<Outcome, String> {
    let replid = srv.repl.ids().replid;
    let queues = &srv.repl.syncs;
    // Attach to an image being written whose cut the ring still holds.
    {
        let mut q = queues.disk.lock();
        let held = |offset: u64| {
            srv.repl
                .backlog()
                .is_some_and(|b| b.offset().saturating_sub(offset) < b.capacity() / 2)
        };
        if let Some((Some(offset), joiners)) = q.running.as_mut() {
            if held(*offset) {
                announce_cut(me, &replid, *offset).map_err(|e| e.to_string())?;
                crate::notice!(
                    "Waiting for end of BGSAVE for SYNC (replica {} attached to the running one)",
                    me.replica.name()
                );
                joiners.push(Arc::clone(me));
                return queues
                    .outcome(&mut q, me, |_| false)
                    .unwrap_or_else(|| Err("the running image ended without this replica".into()));
            }
        }
    }
    let gather = |_: usize, _: Instant| None;
    let mut lead = |group: &[Arc<Joiner>]| -> Vec<Result<Outcome, String>> {
        log_start("disk", group);
        queues.disk.lock().running = Some((None, Vec::new()));
        let preamble = |offset: u64| {
            let mut q = queues.disk.lock();
            for j in group {
                // A replica that went away fails when the file is sent.
                let _ = announce_cut(j, &replid, offset);
            }
            if let Some(running) = q.running.as_mut() {
                running.0 = Some(offset);
            }
            Vec::new()
        };
        let cut = SyncCut {
            preamble: &preamble,
        };
        let n = srv.persist.counter.fetch_add(1, Ordering::AcqRel);
        let path = std::path::PathBuf::from(format!("temp-repl-{}-{n}.rdb", std::process::id()));
        let written = (|| {
            let open = || {
                crate::io::filewriter::FileWriter::create_with(&path, false).map_err(|e| {
                    format!(
                        "Failed opening the temp RDB file {} for the sync: {e}",
                        path.display()
                    )
                })
            };
            let (file, repl) = image_when_free(srv, open, &cut)?;
            let size = file
                .finish()
                .map_err(|e| format!("Write error saving DB on disk: {e}"))?;
            let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
            Ok(Outcome {
                offset: repl.map_or(0, |r| r.offset),
                file: Some(Arc::new(SyncFile {
                    file,
                    size,
                    path: path.clone(),
                })),
            })
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&path);
        }
        // The replicas that attached while it was written share it.
        let attached = queues
            .disk
            .lock()
            .running
            .take()
            .map(|(_, joiners)| joiners)
            .unwrap_or_default();
        for j in &attached {
            *j.done.lock() = Some(written.clone());
        }
        queues.changed.notify_all();
        group.iter().map(|_| written.clone()).collect()
    };
    queues.join(&queues.disk, me, gather, &mut lead)
}

/// [`write_image`] once no other snapshot (a save) is running.
fn image_when_free<O: ImageOut + Send>(
    srv: &Server,
    mut out: impl FnMut() -> Result<O, String>,
    cut: &SyncCut,
) -> Result<(O, Option<ReplInfo>), String> {
    loop {
        match write_image(srv, out()?, None, Some(cut)) {
            Err(e) if e == SNAPSHOT_BUSY => std::thread::sleep(Duration::from_millis(5)),
            done => return done,
        }
    }
}
