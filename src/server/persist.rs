//! RDB persistence: SAVE, BGSAVE, save points, SHUTDOWN SAVE, INFO
//! persistence (Redis 7.0 rdb.c `rdbSave`, `rdbSaveBackground`,
//! `bgsaveCommand`, server.c `serverCron` save points).
//!
//! ```text
//!   save()   temp-<pid>-<n>.rdb in `dir`
//!              header + AUX fields                (this thread)
//!              begin_snapshot: the cut
//!              every stripe -> RDB bytes -> chunks  (driver, or any command
//!                                                  touching a stripe first)
//!              chunks -> FileWriter (io_uring, 1 MiB writes) + CRC64
//!              EOF + CRC, fdatasync, rename over `dbfilename`
//!   failure  the temp file is removed; the old file stays as it was
//! ```
//!
//! The image is the dataset at the cut (`store::snapshot`); nothing forks.
//! Chunks of saved stripes are queued for the writer thread. Drivers wait
//! before their next stripe while more than [`MAX_BUFFERED`] bytes are
//! queued (backpressure on the drivers, never under a stripe lock); a
//! command that finds the queue full (a shard saving the stripe it is
//! about to touch) appends its chunk to an unnamed spill file in `dir`
//! instead, so a client never waits for a slow replica socket or disk and
//! memory stays near that bound.

use super::Server;
use crate::rdb::encode::{EncodeOptions, Encoder, KeyMeta};
use crate::rdb::{crc64, opcodes};
use crate::store::{Entry, Stripe};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Stripe buffers kept for reuse during a save.
const RECYCLED_BUFFERS: usize = 8;

/// Queued snapshot bytes above which drivers wait and commands spill.
const MAX_BUFFERED: usize = 1 << 20;

thread_local! {
    /// Set on snapshot driver threads: they always queue (they wait for
    /// room before each stripe), only commands spill.
    static DRIVER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Chunks commands saved while the queue was full, appended whole (a
/// scratch file created on the first), read back by the writer in order.
type ChunkSpill = Mutex<Option<crate::io::sys::Scratch>>;

fn spill_chunk(spill: &ChunkSpill, chunk: &[u8]) -> std::io::Result<()> {
    let mut guard = spill.lock();
    if guard.is_none() {
        *guard = Some(crate::io::sys::Scratch::new()?);
    }
    match guard.as_mut() {
        Some(scratch) => scratch.append(chunk),
        None => Ok(()),
    }
}

/// Persistence state shown by INFO persistence and LASTSAVE.
pub struct Persist {
    pub in_progress: AtomicBool,
    pub last_ok: AtomicBool,
    /// Duration of the last background save in seconds, -1 before any.
    pub last_bgsave_time_sec: AtomicI64,
    /// Unix seconds the running save started (0 when none).
    pub current_start_s: AtomicU64,
    pub saves: AtomicU64,
    /// Server dirty count when the last successful save started.
    pub dirty_at_save: AtomicU64,
    /// Unix seconds of the last save attempt (for the 5 s retry delay after
    /// a failed background save, as server.c `CONFIG_BGSAVE_RETRY_DELAY`).
    pub last_try_s: AtomicU64,
    /// Keys written by the running save and keys at its start (INFO
    /// current_save_keys_processed / _total).
    pub keys_processed: AtomicUsize,
    pub keys_total: AtomicUsize,
    /// Keys loaded and dropped as expired by the last load at startup.
    pub last_load_keys_loaded: AtomicU64,
    pub last_load_keys_expired: AtomicU64,
    /// Set by FLUSHALL while a save runs: its image is stale; it is
    /// discarded and the save taken again.
    pub cancel: AtomicBool,
    /// The error of the last failed save, for logs.
    pub last_error: Mutex<String>,
    pub(crate) counter: AtomicU64,
}

impl Persist {
    /// Whether writes (and PING) are refused with MISCONF: the last save
    /// failed, save points are set and `stop-writes-on-bgsave-error` is on
    /// (server.c `writeCommandsDeniedByDiskError`). Commands from the
    /// master are applied all the same (as with Redis's
    /// `replica-ignore-disk-write-errors yes`: a replica that stopped
    /// following its master would only fall further behind).
    pub fn writes_denied(&self, srv: &Server) -> bool {
        if self.last_ok.load(Ordering::Acquire) {
            return false;
        }
        let config = srv.config.read();
        config.stop_writes_on_bgsave_error && !config.save.is_empty()
    }
}

impl Default for Persist {
    fn default() -> Self {
        Persist {
            in_progress: AtomicBool::new(false),
            last_ok: AtomicBool::new(true),
            last_bgsave_time_sec: AtomicI64::new(-1),
            current_start_s: AtomicU64::new(0),
            saves: AtomicU64::new(0),
            dirty_at_save: AtomicU64::new(0),
            last_try_s: AtomicU64::new(0),
            keys_processed: AtomicUsize::new(0),
            keys_total: AtomicUsize::new(0),
            last_load_keys_loaded: AtomicU64::new(0),
            last_load_keys_expired: AtomicU64::new(0),
            cancel: AtomicBool::new(false),
            last_error: Mutex::new(String::new()),
            counter: AtomicU64::new(0),
        }
    }
}

/// Why a save did not start or did not finish.
#[derive(Debug)]
pub enum SaveError {
    InProgress,
    Failed(String),
}

/// The RDB file's path: `dbfilename` inside `dir` (the process chdirs to
/// `dir` at startup, as Redis does, so a relative name is enough).
pub fn rdb_path(srv: &Server) -> PathBuf {
    let config = srv.config.read();
    PathBuf::from(&config.dbfilename)
}

/// Encodes one stripe as it was at the snapshot's cut: for each non-empty
/// database, SELECTDB then its keys. The CRC is the file writer's (stripes
/// arrive in any order), so the encoder here keeps none.
fn encode_stripe(out: &mut Vec<u8>, stripe: &Stripe, opts: EncodeOptions) -> usize {
    let mut enc = Encoder::new(EncodeOptions {
        checksum: false,
        ..opts
    });
    let mut keys = 0;
    for db in 0..stripe.dbs.len() {
        if stripe.cut_is_empty(db) {
            continue;
        }
        enc.select_db(out, db as u64);
        for (key, entry) in stripe.cut_entries(db) {
            enc.entry(out, key, &entry.value, key_meta(entry));
            keys += 1;
        }
        let (encoded, bytes) = stripe.cut_encoded(db);
        out.extend_from_slice(bytes);
        keys += encoded;
    }
    keys
}

fn key_meta(entry: &Entry) -> KeyMeta {
    KeyMeta {
        expire_ms: (entry.expire_ms != 0).then_some(entry.expire_ms),
        idle: None,
        freq: None,
    }
}

/// Strings up to this size are kept encoded when a write replaces or
/// deletes them before a running snapshot saved their stripe; bigger
/// values and collections are moved out whole (free) and encoded by the
/// snapshot's writer, off the command's thread.
const PREIMAGE_ENCODE_MAX: usize = 4096;

/// The keyspace's [`PreimageEncoder`](crate::store::snapshot::PreimageEncoder):
/// [`encode_stripe`]'s entry format, uncompressed (LZF would cost the
/// command's thread; readers take either). A value about to change in
/// place (`copy`) is always encoded: the alternative, a clone, allocates
/// every element (the first HSET to a 1M-field hash during a BGSAVE took
/// 310 ms cloning it).
pub fn encode_preimage(out: &mut Vec<u8>, key: &[u8], entry: &Entry, copy: bool) -> bool {
    if !copy
        && entry
            .value
            .string_len()
            .is_none_or(|n| n > PREIMAGE_ENCODE_MAX)
    {
        return false;
    }
    crate::rdb::encode::write_entry(out, key, &entry.value, key_meta(entry), false);
    true
}

/// Saves the dataset to `dbfilename` (SAVE, SHUTDOWN, BGSAVE's thread).
/// Returns the file's size.
pub fn save(srv: &Server) -> Result<u64, SaveError> {
    save_from(srv, None)
}

/// SAVE inside EXEC: the transaction holds every stripe (SAVE walks), so
/// the image is written straight from them; nothing can change meanwhile.
pub fn save_held(srv: &Server, held: &mut crate::store::Locked) -> Result<u64, SaveError> {
    save_from(srv, Some(held))
}

fn save_from(srv: &Server, held: Option<&mut crate::store::Locked>) -> Result<u64, SaveError> {
    if !claim(srv) {
        return Err(SaveError::InProgress);
    }
    run_claimed(srv, held)
}

/// Marks a save as running; false if one already is.
fn claim(srv: &Server) -> bool {
    srv.persist
        .in_progress
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// A save whose `in_progress` flag the caller set.
fn run_claimed(srv: &Server, held: Option<&mut crate::store::Locked>) -> Result<u64, SaveError> {
    let start = Instant::now();
    let start_s = super::unix_ms() / 1000;
    srv.persist
        .current_start_s
        .store(start_s, Ordering::Release);
    srv.persist.last_try_s.store(start_s, Ordering::Release);
    srv.persist.keys_processed.store(0, Ordering::Release);
    let dirty_before = srv.total_dirty();
    let mut held = held;
    let result = loop {
        srv.persist.cancel.store(false, Ordering::Release);
        let result = save_to_file(srv, held.as_deref_mut());
        if !srv.persist.cancel.swap(false, Ordering::AcqRel) {
            break result;
        }
        crate::notice!("The dataset was flushed during the save: saving again");
    };
    let ok = result.is_ok();
    srv.persist.last_ok.store(ok, Ordering::Release);
    srv.persist
        .last_bgsave_time_sec
        .store(start.elapsed().as_secs() as i64, Ordering::Release);
    srv.persist.current_start_s.store(0, Ordering::Release);
    srv.persist.saves.fetch_add(1, Ordering::AcqRel);
    match &result {
        Ok(_) => {
            srv.persist
                .dirty_at_save
                .store(dirty_before, Ordering::Release);
            srv.lastsave_s
                .store(super::unix_ms() / 1000, Ordering::Release);
            crate::notice!("DB saved on disk");
        }
        Err(e) => {
            crate::warning!("Failed saving the DB: {e}");
            *srv.persist.last_error.lock() = e.clone();
        }
    }
    srv.persist.in_progress.store(false, Ordering::Release);
    result.map_err(SaveError::Failed)
}

/// Starts a background save on its own thread.
/// The save is marked running before this returns, so INFO shows it at
/// once and a second BGSAVE is refused.
pub fn bgsave(srv: &Arc<Server>) -> Result<(), SaveError> {
    if !claim(srv) {
        return Err(SaveError::InProgress);
    }
    let thread = Arc::clone(srv);
    // Named only once placed: a thread named at spawn would show as
    // "bgsave" on its creator's (a shard's) CPU for a moment.
    std::thread::Builder::new()
        .spawn(move || {
            place_snapshot_thread(&thread);
            crate::io::sys::name_current_thread(c"bgsave");
            crate::notice!("Background saving started");
            match run_claimed(&thread, None) {
                Ok(_) => crate::notice!("Background saving terminated with success"),
                Err(SaveError::InProgress) => {}
                Err(SaveError::Failed(_)) => crate::warning!("Background saving error"),
            }
        })
        .map_err(|e| {
            srv.persist.in_progress.store(false, Ordering::Release);
            SaveError::Failed(format!("spawning the save thread: {e}"))
        })?;
    Ok(())
}

fn save_to_file(srv: &Server, held: Option<&mut crate::store::Locked>) -> Result<u64, String> {
    let final_path = rdb_path(srv);
    let n = srv.persist.counter.fetch_add(1, Ordering::AcqRel);
    let temp = PathBuf::from(format!("temp-{}-{n}.rdb", std::process::id()));
    let result = write_rdb(srv, &temp, held).and_then(|size| {
        std::fs::rename(&temp, &final_path)
            .map(|_| size)
            .map_err(|e| format!("Error moving temp DB file {} on the final destination {} (in server root dir {}): {e}",
                temp.display(), final_path.display(), cwd()))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn cwd() -> String {
    std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Writes a complete RDB image of the dataset to `path`.
fn write_rdb(
    srv: &Server,
    path: &std::path::Path,
    held: Option<&mut crate::store::Locked>,
) -> Result<u64, String> {
    let direct = srv.config.read().rdb_direct_io;
    let file = crate::io::filewriter::FileWriter::create_with(path, direct).map_err(|e| {
        format!(
            "Failed opening the temp RDB file {} (in server root dir {}) for saving: {e}",
            path.display(),
            cwd()
        )
    })?;
    let (file, _) = write_image(srv, file, held, None)?;
    file.finish()
        .map_err(|e| format!("Write error saving DB on disk: {e}"))
}

/// Where an RDB image goes: a file, or a replica's socket.
pub(crate) trait ImageOut: Send + 'static {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()>;
}

impl ImageOut for crate::io::filewriter::FileWriter {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write(bytes)
    }
}

/// An in-memory image (the `$<size>` full-sync framing needs the size
/// before the bytes).
impl ImageOut for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

impl ImageOut for std::net::TcpStream {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        std::io::Write::write_all(self, bytes)
    }
}

/// A full sync's part in an image: the bytes the replica gets before the
/// image (`+FULLRESYNC`, `$EOF:`), given the offset at the cut; the CRC
/// does not cover them.
pub(crate) struct SyncCut<'a> {
    pub preamble: &'a (dyn Fn(u64) -> Vec<u8> + Sync),
}

/// [`write_image`]'s error when another snapshot holds the keyspace (it
/// wrote nothing: the caller may try again).
pub(crate) const SNAPSHOT_BUSY: &str = "another snapshot is running";

/// Builds an image's preamble and RDB header for the position at its cut.
type ImageHead<'a> = dyn Fn(&Option<ReplInfo>) -> (Vec<u8>, Vec<u8>) + 'a;

/// The replication position an image holds, read at its cut
/// (`repl-id`, `repl-offset`, `repl-stream-db` AUX fields).
#[derive(Clone, Debug)]
pub struct ReplInfo {
    pub replid: String,
    pub offset: u64,
    /// The db the stream continues in; -1: it starts with a SELECT.
    pub stream_db: i64,
}

/// At a cut (every stripe held): a replica's position in its master's
/// stream (so a restart or a sub-replica continues from it), or a
/// master's backlog offset (a restarted master lets its replicas continue,
/// as Redis 7.0 does); settled, so it counts every write the cut sees.
fn repl_at_cut(srv: &Server, for_sync: bool) -> Option<ReplInfo> {
    let backlog = srv.repl.backlog()?;
    let (offset, stream_db) = if srv.repl.is_replica() {
        (backlog.settled(), srv.repl.stream_db())
    } else if for_sync {
        // The ring forgets its db, so the first write the replica reads
        // carries its SELECT.
        backlog.forget_db();
        (backlog.settled(), -1)
    } else {
        // The restarted master's stream starts with a SELECT (its ring
        // begins with no db), so any db is right here; Redis reads -1 as
        // "not valid".
        (backlog.settled(), 0)
    };
    Some(ReplInfo {
        replid: srv.repl.ids().replid,
        offset,
        stream_db,
    })
}

/// Writes a complete RDB image of the dataset (header, AUX fields, every
/// stripe at one cut, EOF and CRC64) to `out`, and gives `out` back with
/// the replication position at the cut (see [`repl_at_cut`]). With `sync`,
/// the preamble carries that offset.
pub(crate) fn write_image<O: ImageOut>(
    srv: &Server,
    out: O,
    mut held: Option<&mut crate::store::Locked>,
    sync: Option<&SyncCut>,
) -> Result<(O, Option<ReplInfo>), String> {
    let opts = srv.rdb_encode_options();
    let sizes = match held.as_deref_mut() {
        Some(locked) => locked.db_sizes(),
        None => crate::store::Locked::some(&srv.keyspace, &mut Vec::new()).db_sizes(),
    };
    let head = |repl: &Option<ReplInfo>| -> (Vec<u8>, Vec<u8>) {
        let offset = repl.as_ref().map_or(0, |r| r.offset);
        let preamble = sync.map(|s| (s.preamble)(offset)).unwrap_or_default();
        let mut head = Vec::new();
        let mut enc = Encoder::new(EncodeOptions {
            checksum: false,
            ..opts
        });
        enc.header(&mut head);
        for (key, value) in srv.rdb_aux_fields(repl.as_ref()) {
            enc.aux(&mut head, key.as_bytes(), value.as_bytes());
        }
        // Stripes carry their own SELECTDBs; these only tell a loader how
        // big each database will be (counted just before the cut: a
        // hint, as Redis reads it), so its tables need not grow by
        // doubling while it loads.
        for (db, &(keys, expires)) in sizes.iter().enumerate() {
            if keys > 0 {
                enc.select_db(&mut head, db as u64);
                enc.resize_db(&mut head, keys, expires);
            }
        }
        (preamble, head)
    };
    let mut sink = RdbSink {
        out,
        crc: crc64::running(),
        error: None,
    };
    let repl;
    if let Some(locked) = held {
        repl = repl_at_cut(srv, sync.is_some());
        sink.put_head(head(&repl));
        let mut out = Vec::new();
        for index in 0..crate::store::STRIPES {
            out.clear();
            let n = locked.with_stripe(index, |stripe| encode_stripe(&mut out, stripe, opts));
            srv.persist.keys_processed.fetch_add(n, Ordering::Relaxed);
            sink.put(&out);
        }
    } else {
        (sink, repl) = stream_snapshot(srv, sink, opts, sync.is_some(), &head)?;
    }
    let RdbSink {
        mut out,
        mut crc,
        error,
    } = sink;
    let write_error = |e: std::io::Error| format!("Write error saving DB on disk: {e}");
    if let Some(e) = error {
        return Err(write_error(e));
    }
    let mut tail = vec![opcodes::EOF];
    crc.update(&tail);
    let sum = if opts.checksum { crc.finalize() } else { 0 };
    tail.extend_from_slice(&sum.to_le_bytes());
    out.put(&tail).map_err(write_error)?;
    Ok((out, repl))
}

/// The image's output and the CRC64 of what went into it, in output
/// order (whoever writes: the writer thread or a producer helping it).
struct RdbSink<O> {
    out: O,
    crc: crc64::Running,
    /// The first write error; later writes are skipped.
    error: Option<std::io::Error>,
}

impl<O: ImageOut> RdbSink<O> {
    /// The bytes before the RDB (outside its CRC), then the RDB header.
    fn put_head(&mut self, (preamble, rdb_head): (Vec<u8>, Vec<u8>)) {
        if self.error.is_none() && !preamble.is_empty() {
            if let Err(e) = self.out.put(&preamble) {
                self.error = Some(e);
            }
        }
        self.put(&rdb_head);
    }

    fn fail(&mut self, e: std::io::Error) {
        self.error.get_or_insert(e);
    }

    fn put(&mut self, bytes: &[u8]) {
        if self.error.is_none() {
            self.crc.update(bytes);
            if let Err(e) = self.out.put(bytes) {
                self.error = Some(e);
            }
        }
    }
}

/// Writes every stripe through the snapshot engine: the cut, then stripes
/// as the driver or commands save them.
/// The replication position is read at the cut ([`repl_at_cut`]);
/// `head(position)` gives the preamble and the RDB header, written first
/// (the sink stays locked from before the cut until they are, so no
/// producer writes ahead of them).
fn stream_snapshot<O: ImageOut>(
    srv: &Server,
    sink: RdbSink<O>,
    opts: EncodeOptions,
    for_sync: bool,
    head: &ImageHead,
) -> Result<(RdbSink<O>, Option<ReplInfo>), String> {
    // Stripes arrive as chunks from the drivers and from commands that
    // touch a stripe first; they go to the output in arrival order (each
    // starts with its own SELECTDB, so order does not matter to loaders).
    // Drivers wait for room before each stripe; a command cannot wait (its
    // client would), so past MAX_BUFFERED it spills its chunk (under a
    // write load commands saved ~7 MiB per client batch: 64 random keys,
    // 64 stripes of a 1M-key dataset).
    let sink = Arc::new(Mutex::new(Some(sink)));
    let spill: Arc<ChunkSpill> = Arc::new(Mutex::new(None));
    let producer_spill = Arc::clone(&spill);
    let (tx, rx) = crossbeam_channel::unbounded::<Vec<u8>>();
    // Written buffers come back for the next stripes: a fresh buffer per
    // stripe, grown by doubling and freed on another thread, fragments the
    // heap.
    let (recycle_tx, recycle_rx) = crossbeam_channel::bounded::<Vec<u8>>(RECYCLED_BUFFERS);
    let buffered = Arc::new(AtomicUsize::new(0));
    let keys = Arc::new(AtomicUsize::new(0));
    let (sink_buffered, sink_keys) = (Arc::clone(&buffered), Arc::clone(&keys));
    // Drivers wait on it for the queue to drain.
    let drained = (Mutex::new(()), parking_lot::Condvar::new());
    let sink_recycle = recycle_tx.clone();
    let mut first = sink.lock();
    let mut repl = None;
    let snap = srv
        .keyspace
        .begin_snapshot_with(
            Box::new(move |_, stripe: &Stripe| {
                let mut out = recycle_rx.try_recv().unwrap_or_default();
                let n = encode_stripe(&mut out, stripe, opts);
                sink_keys.fetch_add(n, Ordering::Relaxed);
                if out.is_empty() {
                    let _ = sink_recycle.try_send(out);
                } else if DRIVER.get() || sink_buffered.load(Ordering::Acquire) <= MAX_BUFFERED {
                    sink_buffered.fetch_add(out.len(), Ordering::AcqRel);
                    let _ = tx.send(out);
                } else if let Err(e) = spill_chunk(&producer_spill, &out) {
                    // The disk refused: queue it after all (memory grows,
                    // nothing is lost, the client is not kept waiting).
                    crate::warning!("Snapshot spill file write failed, queueing in memory: {e}");
                    sink_buffered.fetch_add(out.len(), Ordering::AcqRel);
                    let _ = tx.send(out);
                } else {
                    out.clear();
                    let _ = sink_recycle.try_send(out);
                }
            }),
            || repl = repl_at_cut(srv, for_sync),
        )
        .map_err(|_| SNAPSHOT_BUSY.to_string())?;
    if let Some(sink) = first.as_mut() {
        sink.put_head(head(&repl));
    }
    drop(first);

    // Drivers (one per shard thread) save the stripes; this thread writes.
    // Both at normal priority (drivers yield between stripes instead): a
    // driver is nearly always holding a stripe lock, so a driver at nice
    // 10 preempted for tens of milliseconds stalled every shard that
    // wanted its stripe (priority inversion: GET max 46 ms vs 13-25 ms at
    // nice 0; the sync under writes took 1.9 s instead of 1.3 s).
    std::thread::scope(|scope| {
        scope.spawn(|| {
            srv.keyspace.drive_snapshot(
                &snap,
                srv.threads.clamp(1, 8),
                || {
                    DRIVER.set(true);
                    place_snapshot_thread(srv);
                },
                || {
                    // Between stripes, holding no lock, a driver gives
                    // way to whatever else waits for its CPU: a shard
                    // woken by a client otherwise waited out the driver's
                    // slice (milliseconds). Unlike a lower priority this
                    // cannot stall a shard behind a preempted driver's
                    // stripe lock. 1M keys, sync under writes, 3
                    // alternating rounds of 3 (replica on the same two
                    // cores): GET p99 4.5-4.9 -> 2.4-4.0 ms, commands
                    // served 134-142k -> 183-202k/s, and the sync, which
                    // now gets less of the host, 0.79-0.83 -> 0.99-1.16 s;
                    // replica at nice 19: p99 1.6-2.5 -> 1.0-1.1 ms.
                    std::thread::yield_now();
                    // A driver that found the queue full waits until it is
                    // half drained: woken once per half queue, not once per
                    // chunk written (with 16 KiB values the writer and the
                    // drivers preempted each other ~4000 times a second).
                    if buffered.load(Ordering::Acquire) <= MAX_BUFFERED {
                        return;
                    }
                    let mut idle = drained.0.lock();
                    while buffered.load(Ordering::Acquire) > MAX_BUFFERED / 2 {
                        drained
                            .1
                            .wait_for(&mut idle, std::time::Duration::from_millis(1));
                    }
                },
            )
        });
        // (At nice 10 this writer got a tenth of a core against a replica
        // loading on the same host: a 1 GiB sync fell from 674 to 100 MB/s.)
        let mut spill_read = 0u64;
        let mut spill_buf = Vec::new();
        loop {
            let mut chunk = match rx.recv_timeout(std::time::Duration::from_millis(1)) {
                Ok(chunk) => chunk,
                Err(_) => {
                    // Every stripe queues or spills its chunk before
                    // counting itself saved.
                    let finished = snap.remaining() == 0 && rx.is_empty();
                    let spilled = spill.lock().as_ref().map_or(0, |s| s.len());
                    if spilled > spill_read {
                        drain_spill(&spill, spill_read..spilled, &mut spill_buf, &sink);
                        spill_read = spilled;
                    } else if finished {
                        break;
                    }
                    continue;
                }
            };
            srv.persist
                .keys_processed
                .store(keys.load(Ordering::Relaxed), Ordering::Relaxed);
            if let Some(file) = sink.lock().as_mut() {
                file.put(&chunk);
            }
            let left = buffered.fetch_sub(chunk.len(), Ordering::AcqRel) - chunk.len();
            if left <= MAX_BUFFERED / 2 {
                drained.1.notify_all();
            }
            chunk.clear();
            let _ = recycle_tx.try_send(chunk);
        }
    });
    if let Some(spilled) = spill.lock().take() {
        crate::notice!(
            "Snapshot: {} bytes of stripes saved by commands went through a spill file",
            spilled.len()
        );
    }
    // Every stripe is written (each counts itself saved after its chunk is
    // queued or written), so no producer needs the sink any more.
    let done = sink.lock().take();
    done.map(|sink| (sink, repl))
        .ok_or_else(|| "snapshot sink missing".to_string())
}

/// Sends spilled chunks in `range` (whole chunks) to the sink in one hold
/// of its lock, so no driver's chunk lands inside one; `buf` is reused
/// across calls.
fn drain_spill<O: ImageOut>(
    spill: &ChunkSpill,
    range: std::ops::Range<u64>,
    buf: &mut Vec<u8>,
    sink: &Mutex<Option<RdbSink<O>>>,
) {
    use std::os::unix::fs::FileExt;
    // Read through a second descriptor: commands keep appending meanwhile.
    let Some(Ok(file)) = spill.lock().as_ref().map(|s| s.reader()) else {
        return;
    };
    let mut guard = sink.lock();
    let Some(sink) = guard.as_mut() else {
        return;
    };
    buf.resize(4 << 20, 0);
    let mut at = range.start;
    while at < range.end {
        let n = usize::try_from(range.end - at).map_or(buf.len(), |n| n.min(buf.len()));
        if let Err(e) = file.read_exact_at(&mut buf[..n], at) {
            sink.fail(e);
            break;
        }
        sink.put(&buf[..n]);
        at += n as u64;
    }
}

/// Puts a thread that writes a snapshot on `bgsave-cpu-list` (Redis's
/// save child's CPUs), else on every CPU the process may use: BGSAVE and
/// SAVE run on a pinned shard, whose pin a thread it spawns inherits.
fn place_snapshot_thread(srv: &Server) {
    let cpus = srv.config.read().bgsave_cpu_list.clone();
    match cpus {
        Some(cpus) => crate::io::sys::set_thread_cpus(&cpus),
        None => crate::io::sys::unpin_current_thread(),
    }
}

/// server.c `serverCron`: a background save when a save point is reached
/// (`save <seconds> <changes>`), not sooner than 5 s after a failed one.
pub fn cron(srv: &Arc<Server>) {
    if srv.persist.in_progress.load(Ordering::Acquire) || srv.keyspace.snapshot_running() {
        return;
    }
    let points = srv.config.read().save.clone();
    if points.is_empty() {
        return;
    }
    let now_s = super::unix_ms() / 1000;
    let changes = srv
        .total_dirty()
        .saturating_sub(srv.persist.dirty_at_save.load(Ordering::Acquire));
    let since = now_s.saturating_sub(srv.lastsave_s.load(Ordering::Acquire));
    let retry_ok = srv.persist.last_ok.load(Ordering::Acquire)
        || now_s.saturating_sub(srv.persist.last_try_s.load(Ordering::Acquire)) > 5;
    for point in &points {
        let (seconds, min_changes) = (point.seconds, point.changes);
        if changes >= min_changes && since >= seconds && retry_ok {
            crate::notice!("{min_changes} changes in {seconds} seconds. Saving...");
            let _ = bgsave(srv);
            return;
        }
    }
}

/// Entries per batch handed to a loader thread.
const LOAD_BATCH: usize = 1024;

/// Loads `dbfilename` at startup (rdb.c `rdbLoad`): the file is mapped,
/// decoded in one thread, and the entries go in batches to `threads`
/// loader threads, each owning the stripes `i % threads`, so all cores
/// insert in parallel. Expired keys are dropped (this server is a master).
/// A damaged file is an error with the byte offset and the reason; nothing
/// is kept from it.
/// Returns the replication position the file records (a replica's
/// restart continues from it).
pub fn load(srv: &Server) -> Result<Option<ReplInfo>, String> {
    let path = rdb_path(srv);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "Fatal error loading the DB {}: {e}. Exiting.",
                path.display()
            ))
        }
    };
    let started = Instant::now();
    let map = crate::io::mmap::map_sequential(&file).map_err(|e| {
        format!(
            "Fatal error loading the DB {}: {e}. Exiting.",
            path.display()
        )
    })?;
    let result = load_bytes(srv, &map);
    match result {
        Ok(Loaded {
            keys: loaded,
            expired,
            repl,
        }) => {
            srv.persist
                .last_load_keys_loaded
                .store(loaded, Ordering::Release);
            srv.persist
                .last_load_keys_expired
                .store(expired, Ordering::Release);
            crate::notice!("Done loading RDB, keys loaded: {loaded}, keys expired: {expired}.");
            crate::notice!(
                "DB loaded from disk: {:.3} seconds",
                started.elapsed().as_secs_f64()
            );
            Ok(repl)
        }
        Err(e) => {
            // Leave an empty dataset behind, never a partial one.
            srv.keyspace.empty();
            Err(format!(
                "Failed loading the RDB file {} {e}. Exiting.",
                path.display()
            ))
        }
    }
}

/// Logs the AUX fields Redis logs when loading.
fn log_aux(key: &[u8], value: &[u8], now_ms: u64) {
    let (k, v) = (String::from_utf8_lossy(key), String::from_utf8_lossy(value));
    match k.as_ref() {
        "redis-ver" | "valkey-ver" => crate::notice!("Loading RDB produced by version {v}"),
        "ctime" => {
            if let Ok(t) = v.parse::<u64>() {
                crate::notice!("RDB age {} seconds", (now_ms / 1000).saturating_sub(t));
            }
        }
        "used-mem" => {
            if let Ok(m) = v.parse::<u64>() {
                crate::notice!(
                    "RDB memory usage when created {:.2} Mb",
                    m as f64 / 1048576.0
                );
            }
        }
        _ => {}
    }
}

/// Bytes per segment decoded by one thread in a parallel load.
const LOAD_SEGMENT: usize = 4 << 20;

/// Decodes `bytes` into the keyspace: (keys loaded, keys expired). Files
/// whose items can all be skipped without decoding (every type but
/// streams) are cut into segments that all threads decode at once; others
/// are decoded by one thread feeding the inserting threads.
pub(crate) fn load_bytes(srv: &Server, bytes: &[u8]) -> Result<Loaded, crate::rdb::Error> {
    let ks = &srv.keyspace;
    let mut aux = Vec::new();
    let (keys, expired) = match crate::rdb::decode::split_body(bytes, LOAD_SEGMENT)? {
        Some((version, segments, found)) => {
            let now = super::unix_ms();
            for (k, v) in &found {
                log_aux(k, v, now);
            }
            aux = found;
            load_segments(srv, ks, bytes, version, &segments)?
        }
        None => load_sequential(srv, ks, bytes, &mut aux)?,
    };
    Ok(Loaded {
        keys,
        expired,
        repl: repl_from_aux(&aux),
    })
}

/// What a load found: keys inserted, keys dropped as expired, and the
/// replication position the image records.
pub(crate) struct Loaded {
    pub keys: u64,
    pub expired: u64,
    pub repl: Option<ReplInfo>,
}

/// The `repl-id` / `repl-offset` / `repl-stream-db` AUX fields, when all
/// are valid (rdb.c `rsi`).
pub(crate) fn repl_from_aux(aux: &[(Vec<u8>, Vec<u8>)]) -> Option<ReplInfo> {
    let field = |name: &[u8]| {
        aux.iter()
            .find(|(k, _)| k.as_slice() == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    let replid = field(b"repl-id").filter(|id| id.len() == 40)?;
    let offset = field(b"repl-offset")?.parse::<u64>().ok()?;
    let stream_db = field(b"repl-stream-db")
        .and_then(|d| d.parse::<i64>().ok())
        .unwrap_or(-1);
    Some(ReplInfo {
        replid,
        offset,
        stream_db,
    })
}

/// Sizes every stripe's tables for the keys the segments hold, so loading
/// never rehashes (a rehash re-reads every record: a cache miss each). A
/// segment's keys count for the database it starts in; stripes get the
/// mean share plus three standard deviations.
fn reserve_for(ks: &crate::store::Keyspace, segments: &[crate::rdb::decode::Segment]) {
    let mut per_db: BTreeMap<u64, u64> = BTreeMap::new();
    for seg in segments {
        *per_db.entry(seg.db).or_default() += seg.keys;
    }
    for (&db, &keys) in &per_db {
        reserve_keys(ks, db, keys);
    }
}

/// Sizes every stripe's table of database `db` for `keys` more keys
/// spread over the stripes: the mean share plus three standard
/// deviations. A `db` out of range is ignored.
pub(crate) fn reserve_keys(ks: &crate::store::Keyspace, db: u64, keys: u64) {
    let Ok(db) = usize::try_from(db) else {
        return;
    };
    if db >= ks.databases() || keys == 0 {
        return;
    }
    let mean = keys as f64 / crate::store::STRIPES as f64;
    let share = (mean + 3.0 * mean.sqrt()).ceil() as usize;
    for index in 0..crate::store::STRIPES {
        ks.lock(index).dbs[db].map.reserve(share);
    }
}

/// One thread per shard (at least two) decodes segments and inserts them;
/// another checks the CRC64.
fn load_segments(
    srv: &Server,
    ks: &crate::store::Keyspace,
    bytes: &[u8],
    version: u16,
    segments: &[crate::rdb::decode::Segment],
) -> Result<(u64, u64), crate::rdb::Error> {
    reserve_for(ks, segments);
    let admit = Admit::new(srv);
    let limits = srv.rdb_limits();
    let next = AtomicUsize::new(0);
    let loaded = AtomicU64::new(0);
    let expired = AtomicU64::new(0);
    let failure: Mutex<Option<crate::rdb::Error>> = Mutex::new(None);
    let crc_ok = std::thread::scope(|scope| {
        let crc = scope.spawn(|| trailing_crc(bytes));
        for _ in 0..srv.threads.max(2) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::AcqRel);
                let Some(&seg) = segments.get(i) else { break };
                if failure.lock().is_some() {
                    break;
                }
                let result = crate::rdb::decode::decode_segment(bytes, seg, version, limits, |e| {
                    match admit.check(&e, seg.start as u64) {
                        Err(e) => {
                            failure.lock().get_or_insert(e);
                            return;
                        }
                        Ok(false) => {
                            expired.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        Ok(true) => {}
                    }
                    if let Err(dup) = insert_loaded(ks, e, admit.clock) {
                        failure.lock().get_or_insert(dup);
                    }
                    loaded.fetch_add(1, Ordering::Relaxed);
                });
                if let Err(e) = result {
                    failure.lock().get_or_insert(e);
                }
            });
        }
        verify_crc(bytes, version, crc.join().unwrap_or(None))
    });
    if let Err(e) = crc_ok {
        failure.lock().get_or_insert(e);
    }
    match failure.into_inner() {
        Some(e) => Err(e),
        None => Ok((loaded.into_inner(), expired.into_inner())),
    }
}

/// The CRC64 of everything before the 8-byte trailer (computed on its own
/// core while decoding runs), if the file is long enough to have one.
fn trailing_crc(bytes: &[u8]) -> Option<u64> {
    (bytes.len() >= 8).then(|| crate::rdb::crc64::checksum(&bytes[..bytes.len() - 8]))
}

/// Files of version 5+ end in the CRC64 of everything before it; a stored
/// 0 means it was not computed (`rdbchecksum no`).
fn verify_crc(bytes: &[u8], version: u16, computed: Option<u64>) -> Result<(), crate::rdb::Error> {
    let Some(computed) = computed.filter(|_| version >= 5) else {
        return Ok(());
    };
    let split = bytes.len() - 8;
    let stored = u64::from_le_bytes(bytes[split..].try_into().unwrap_or([0; 8]));
    if stored != 0 && stored != computed {
        return Err(crate::rdb::Error {
            offset: split as u64,
            reason: format!("wrong RDB checksum: expected {stored:#018x}, got {computed:#018x}"),
        });
    }
    Ok(())
}

/// What a loaded entry must pass (db in range) and what drops it (already
/// expired: this server is a master), with the clock for its LRU time.
#[derive(Clone, Copy)]
struct Admit {
    databases: u64,
    now: u64,
    clock: u32,
    /// A replica keeps expired keys: its master's DELs remove them.
    keep_expired: bool,
}

impl Admit {
    fn new(srv: &Server) -> Admit {
        Admit {
            databases: srv.keyspace.databases() as u64,
            now: super::unix_ms(),
            clock: srv.lru_clock(),
            keep_expired: srv.repl.is_replica() || srv.config.read().replicaof.is_some(),
        }
    }

    /// `Ok(false)` for an expired entry; `offset` names where a bad db was.
    fn check(
        &self,
        e: &crate::rdb::decode::LoadedEntry,
        offset: u64,
    ) -> Result<bool, crate::rdb::Error> {
        if e.db >= self.databases {
            return Err(crate::rdb::Error {
                offset,
                reason: format!(
                    "Data file was created with a server configured to handle more than {} databases",
                    self.databases
                ),
            });
        }
        // rdb.c drops a key whose `expiretime < now`.
        Ok(self.keep_expired || e.expire_ms.is_none_or(|t| t >= self.now))
    }
}

/// Inserts one loaded key; a key already present is an error.
pub(crate) fn insert_loaded(
    ks: &crate::store::Keyspace,
    e: crate::rdb::decode::LoadedEntry,
    clock: u32,
) -> Result<(), crate::rdb::Error> {
    let mut entry = crate::store::Entry::new(e.value, e.expire_ms.unwrap_or(0));
    entry.access_s = match e.idle {
        Some(idle) => clock.saturating_sub(u32::try_from(idle).unwrap_or(u32::MAX)),
        None => clock,
    };
    if let Some(freq) = e.freq {
        entry.freq = freq;
    }
    let stripe = crate::store::stripe_of(&e.key);
    let mut guard = ks.lock(stripe);
    if guard.dbs[e.db as usize].insert(&e.key, entry).is_some() {
        return Err(crate::rdb::Error {
            offset: 0,
            reason: format!(
                "Duplicated key '{}' found in RDB file",
                String::from_utf8_lossy(&e.key)
            ),
        });
    }
    Ok(())
}

/// One decoding thread for files the skip-scanner cannot cut (streams):
/// it hands batches to the inserting threads while another checks the CRC.
fn load_sequential(
    srv: &Server,
    ks: &crate::store::Keyspace,
    bytes: &[u8],
    aux: &mut Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<(u64, u64), crate::rdb::Error> {
    use crate::rdb::decode::{Decoder, Item, LoadedEntry};
    let admit = Admit::new(srv);
    // The CRC64 runs on its own core while this thread decodes.
    let mut decoder =
        Decoder::with_total_len(srv.rdb_limits(), bytes.len() as u64).without_checksum();
    let failure: Mutex<Option<crate::rdb::Error>> = Mutex::new(None);
    let (loaded, expired) = std::thread::scope(|scope| {
        let crc = scope.spawn(|| trailing_crc(bytes));
        let (tx, rx) = crossbeam_channel::bounded::<Vec<LoadedEntry>>(4);
        for _ in 0..srv.threads.max(1) {
            let (rx, failure) = (rx.clone(), &failure);
            scope.spawn(move || {
                for e in rx.into_iter().flatten() {
                    if let Err(dup) = insert_loaded(ks, e, admit.clock) {
                        failure.lock().get_or_insert(dup);
                    }
                }
            });
        }
        let mut batch = Vec::with_capacity(LOAD_BATCH);
        let (mut loaded, mut expired) = (0u64, 0u64);
        let mut fed = 0usize;
        let result: Result<(), crate::rdb::Error> = (|| loop {
            match decoder.next_item()? {
                Some(Item::Entry(e)) => {
                    if !admit.check(&e, decoder.offset())? {
                        expired += 1;
                        continue;
                    }
                    loaded += 1;
                    batch.push(e);
                    if batch.len() >= LOAD_BATCH {
                        let _ = tx.send(std::mem::replace(&mut batch, Vec::with_capacity(LOAD_BATCH)));
                    }
                }
                Some(Item::Aux { key, value }) => {
                    log_aux(&key, &value, admit.now);
                    aux.push((key, value));
                }
                Some(Item::FunctionSkipped { code_len }) => crate::warning!(
                    "Skipping a function library ({code_len} bytes) in the RDB file: sluice has no functions"
                ),
                Some(Item::End { .. }) => return Ok(()),
                Some(_) => {}
                None => {
                    if fed < bytes.len() {
                        let end = (fed + (16 << 20)).min(bytes.len());
                        decoder.feed(&bytes[fed..end]);
                        fed = end;
                        if fed == bytes.len() {
                            decoder.finish_input();
                        }
                    } else {
                        decoder.finish_input();
                        return Err(crate::rdb::Error {
                            offset: decoder.offset(),
                            reason: "unexpected end of file".into(),
                        });
                    }
                }
            }
        })();
        if !batch.is_empty() {
            let _ = tx.send(batch);
        }
        drop(tx);
        let result = result.and_then(|()| {
            verify_crc(
                bytes,
                decoder.version().unwrap_or(0),
                crc.join().unwrap_or(None),
            )
        });
        if let Err(e) = result {
            failure.lock().get_or_insert(e);
        }
        (loaded, expired)
    });
    match failure.into_inner() {
        Some(e) => Err(e),
        None => Ok((loaded, expired)),
    }
}
