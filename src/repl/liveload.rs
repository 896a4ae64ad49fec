//! A replica's live load (repl-diskless-load on-empty-db): the payload is
//! decoded while it arrives, by several threads.
//!
//! ```text
//!   link thread   recv into pending (in place) -> StreamSplitter walks whole
//!                 items (lengths only) -> every ~4 MiB of whole items is
//!                 a segment -> bounded channel (backpressure: the link
//!                 stops reading, TCP pushes back on the master)
//!   loaders (2+)  decode_segment (values allocated and copied here: the
//!                 page faults of a fresh dataset, most of a load's cost,
//!                 spread over every core) -> insert into the stripes
//! ```
//!
//! The CRC64 runs on the link thread over the bytes as segments leave it
//! and is checked against the trailer; a load that keeps a copy on disk
//! (repl-diskless-load disabled into an empty dataset, see
//! [`LiveLoad::copy_to`]) writes those same bytes to its file there. Items
//! only the full decoder can walk (streams, module types) are decoded on
//! the link thread and inserted there, outside any segment. Keys in an RDB are distinct, so segments
//! may load in any order.

use crate::io::filewriter::FileWriter;
use crate::rdb::decode::{decode_segment, Item, Segment, Step, StreamSplitter};
use crate::server::Server;
use crate::store::Keyspace;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bytes of whole items per segment.
const SEGMENT: usize = 4 << 20;

/// Segments queued for the loaders before the link stops reading.
const QUEUED: usize = 4;

/// Keys a load pre-sizes its tables for on RESIZEDB hints, in all: the
/// count is the master's word, unchecked until the keys arrive, and a
/// slot costs 9 bytes at once (2^23 keys: ~150 MB of tables at most).
const HINTED_KEYS: u64 = 1 << 23;

/// A segment to decode.
struct Job {
    bytes: Vec<u8>,
    /// The database selected at its start.
    db: u64,
    /// Its payload offset (error messages).
    base: u64,
    version: u16,
}

/// What the loaders report back.
#[derive(Default)]
struct Shared {
    failure: Mutex<Option<String>>,
    loaded: AtomicU64,
}

pub(crate) struct LiveLoad {
    splitter: StreamSplitter,
    /// Received bytes from the current segment's start.
    pending: Vec<u8>,
    /// The next item to walk, in `pending`.
    pos: usize,
    /// Payload offset of `pending[0]`.
    base: u64,
    /// The database selected at `pending[0]`.
    seg_db: u64,
    header_done: bool,
    /// The EOF opcode was walked; the trailer follows.
    ended: bool,
    complete: bool,
    crc: crate::rdb::crc64::Running,
    jobs: Option<crossbeam_channel::Sender<Job>>,
    queue: crossbeam_channel::Receiver<Job>,
    recycled: crossbeam_channel::Receiver<Vec<u8>>,
    recycle: crossbeam_channel::Sender<Vec<u8>>,
    shared: Arc<Shared>,
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// Where entries go instead of the served dataset.
    fresh: Option<Arc<Keyspace>>,
    /// A temp file (and its path) that receives every RDB byte, in order.
    copy: Option<(std::path::PathBuf, Box<FileWriter>)>,
    /// Keys RESIZEDB hints may still pre-size (see [`HINTED_KEYS`]).
    hint_budget: u64,
}

impl LiveLoad {
    pub fn new(srv: &Server) -> LiveLoad {
        let (jobs, queue) = crossbeam_channel::bounded(QUEUED);
        let (recycle, recycled) = crossbeam_channel::bounded(QUEUED + 2);
        LiveLoad {
            splitter: StreamSplitter::new(srv.rdb_limits()),
            pending: Vec::new(),
            pos: 0,
            base: 0,
            seg_db: 0,
            header_done: false,
            ended: false,
            complete: false,
            crc: crate::rdb::crc64::running(),
            jobs: Some(jobs),
            queue,
            recycled,
            recycle,
            shared: Arc::new(Shared::default()),
            aux: Vec::new(),
            fresh: None,
            copy: None,
            hint_budget: HINTED_KEYS,
        }
    }

    /// Loads into `fresh` instead of the served dataset (which the caller
    /// swaps for it when the load is whole).
    pub fn into_fresh(mut self, fresh: Arc<Keyspace>) -> LiveLoad {
        self.fresh = Some(fresh);
        self
    }

    /// Writes every RDB byte to `copy`, created at `path`, as well, in
    /// order (the caller syncs it when the load is whole).
    pub fn copy_to(mut self, path: std::path::PathBuf, copy: Box<FileWriter>) -> LiveLoad {
        self.copy = Some((path, copy));
        self
    }

    pub fn has_copy(&self) -> bool {
        self.copy.is_some()
    }

    /// The temp file of [`LiveLoad::copy_to`] and its path.
    pub fn take_copy(&mut self) -> Option<(std::path::PathBuf, Box<FileWriter>)> {
        self.copy.take()
    }

    /// The dataset entries go to.
    fn target<'a>(&'a self, srv: &'a Server) -> &'a Keyspace {
        self.fresh.as_deref().unwrap_or(&srv.keyspace)
    }

    /// Runs `receive` (which feeds this) with the loader threads going;
    /// returns its result, and the keys loaded or the loaders' first
    /// failure.
    pub fn run<T>(
        &mut self,
        srv: &Server,
        receive: impl FnOnce(&mut LiveLoad) -> T,
    ) -> (T, Result<u64, String>) {
        let loaders = srv.threads.max(2);
        let clock = srv.lru_clock();
        let limits = srv.rdb_limits();
        let databases = srv.keyspace.databases() as u64;
        let fresh = self.fresh.clone();
        let target = fresh.as_deref().unwrap_or(&srv.keyspace);
        let result = std::thread::scope(|scope| {
            for _ in 0..loaders {
                let queue = self.queue.clone();
                let recycle = self.recycle.clone();
                let shared = Arc::clone(&self.shared);
                scope.spawn(move || {
                    for job in queue.iter() {
                        let Job {
                            mut bytes,
                            db,
                            base,
                            version,
                        } = job;
                        if shared.failure.lock().is_some() {
                            continue;
                        }
                        let seg = Segment {
                            start: 0,
                            end: bytes.len(),
                            db,
                            keys: 0,
                        };
                        let decoded = decode_segment(&bytes, seg, version, limits, |e| {
                            if let Err(why) = insert(target, databases, clock, e) {
                                shared.failure.lock().get_or_insert(why);
                            } else {
                                shared.loaded.fetch_add(1, Ordering::Relaxed);
                            }
                        });
                        if let Err(e) = decoded {
                            shared.failure.lock().get_or_insert(format!(
                                "loading the master's RDB: {e} (segment at offset {base})"
                            ));
                        }
                        bytes.clear();
                        let _ = recycle.try_send(bytes);
                    }
                });
            }
            let result = receive(self);
            // No more segments: the loaders drain the queue and stop.
            self.jobs = None;
            result
        });
        let loaded = match self.shared.failure.lock().take() {
            Some(why) => Err(why),
            None => Ok(self.shared.loaded.load(Ordering::Relaxed)),
        };
        (result, loaded)
    }

    /// Takes the next payload bytes; `done`: the payload ended with them.
    pub fn feed(&mut self, srv: &Server, bytes: &[u8], done: bool) -> Result<(), String> {
        self.pending.extend_from_slice(bytes);
        self.landed(srv, done)
    }

    /// Where the link may append payload bytes in place (no copy), then
    /// call [`LiveLoad::landed`]. Bytes past the RDB's end (a diskless
    /// payload's EOF mark) are never read.
    pub fn landing(&mut self) -> &mut Vec<u8> {
        &mut self.pending
    }

    /// Walks what [`LiveLoad::feed`] or the link appended to
    /// [`LiveLoad::landing`]; `done`: the payload has ended.
    pub fn landed(&mut self, srv: &Server, done: bool) -> Result<(), String> {
        let bad = |e: crate::rdb::Error| format!("loading the master's RDB: {e}");
        if !self.header_done {
            match self.splitter.header(&self.pending).map_err(bad)? {
                Some(n) => {
                    self.consume(n)?;
                    self.header_done = true;
                }
                None if done => return Err("the master's RDB ended early".into()),
                None => return Ok(()),
            }
        }
        while !self.ended {
            let before = self.pos;
            let (step, after) = self
                .splitter
                .step(&self.pending, self.pos, self.base)
                .map_err(bad)?;
            match step {
                Step::More => break,
                Step::Skipped => self.pos = after,
                Step::Resize { db, keys } => {
                    // Sized up front, the tables never rehash under the
                    // loaders (a rehash re-reads every record). A hint is
                    // a peer's word: at most HINTED_KEYS per load.
                    let keys = keys.min(self.hint_budget);
                    self.hint_budget -= keys;
                    crate::server::persist::reserve_keys(self.target(srv), db, keys);
                    self.pos = after;
                }
                Step::Aux(k, v) => {
                    self.aux.push((k, v));
                    self.pos = after;
                }
                Step::Decoded(item) => {
                    // Not part of a segment: the items before it go out,
                    // it is inserted here.
                    self.pos = before;
                    self.cut()?;
                    self.consume(after - before)?;
                    if let Item::Entry(e) = item {
                        let databases = srv.keyspace.databases() as u64;
                        insert(self.target(srv), databases, srv.lru_clock(), e)?;
                        self.shared.loaded.fetch_add(1, Ordering::Relaxed);
                    }
                    self.seg_db = self.splitter.db;
                }
                Step::End => {
                    self.pos = after;
                    self.cut()?;
                    self.consume(1)?;
                    self.ended = true;
                }
            }
            if self.pos >= SEGMENT {
                self.cut()?;
            }
        }
        if self.ended && !self.complete {
            // The 8-byte CRC64 trailer (from version 5; 0: not computed).
            let tail = if self.splitter.version >= 5 { 8 } else { 0 };
            if self.pending.len() >= tail {
                if tail == 8 {
                    let mut sum = [0u8; 8];
                    sum.copy_from_slice(&self.pending[..8]);
                    let want = u64::from_le_bytes(sum);
                    let got =
                        std::mem::replace(&mut self.crc, crate::rdb::crc64::running()).finalize();
                    if want != 0 && want != got {
                        return Err(format!(
                            "loading the master's RDB: wrong RDB checksum (expected {want:x}, got {got:x})"
                        ));
                    }
                    if let Some((_, file)) = &mut self.copy {
                        file.write(&sum).map_err(disk_error)?;
                    }
                }
                self.complete = true;
            }
        }
        if done && !self.complete {
            return Err("the master's RDB ended early".into());
        }
        Ok(())
    }

    /// Sends `pending[..pos]` to the loaders as a segment.
    fn cut(&mut self) -> Result<(), String> {
        if let Some(why) = self.shared.failure.lock().clone() {
            return Err(why);
        }
        if self.pos == 0 {
            return Ok(());
        }
        let mut rest = self.recycled.try_recv().unwrap_or_default();
        rest.extend_from_slice(&self.pending[self.pos..]);
        let mut seg = std::mem::replace(&mut self.pending, rest);
        seg.truncate(self.pos);
        account(&mut self.crc, &mut self.copy, &seg)?;
        let len = seg.len() as u64;
        let job = Job {
            bytes: seg,
            db: self.seg_db,
            base: self.base,
            version: self.splitter.version,
        };
        if let Some(jobs) = &self.jobs {
            jobs.send(job)
                .map_err(|_| "the RDB loader threads stopped".to_string())?;
        }
        self.base += len;
        self.pos = 0;
        self.seg_db = self.splitter.db;
        Ok(())
    }

    /// Drops `n` bytes at `pending`'s start that no segment carries
    /// (header, an item decoded here, the EOF opcode), after the CRC.
    fn consume(&mut self, n: usize) -> Result<(), String> {
        account(&mut self.crc, &mut self.copy, &self.pending[..n])?;
        self.pending.drain(..n);
        self.base += n as u64;
        self.pos = self.pos.saturating_sub(n);
        Ok(())
    }
}

/// The CRC and the copy on disk take `bytes`, the payload's next RDB
/// bytes.
fn account(
    crc: &mut crate::rdb::crc64::Running,
    copy: &mut Option<(std::path::PathBuf, Box<FileWriter>)>,
    bytes: &[u8],
) -> Result<(), String> {
    crc.update(bytes);
    match copy {
        Some((_, file)) => file.write(bytes).map_err(disk_error),
        None => Ok(()),
    }
}

fn disk_error(e: std::io::Error) -> String {
    format!("writing the payload to disk: {e}")
}

fn insert(
    keyspace: &Keyspace,
    databases: u64,
    clock: u32,
    e: crate::rdb::decode::LoadedEntry,
) -> Result<(), String> {
    if e.db >= databases {
        return Err(format!(
            "the master's RDB selects database {}, beyond `databases`",
            e.db
        ));
    }
    // A replica keeps keys that already expired: the master's DEL will
    // remove them.
    crate::server::persist::insert_loaded(keyspace, e, clock)
        .map_err(|err| format!("loading the master's RDB: {err}"))
}
