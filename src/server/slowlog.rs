//! The slow log (slowlog.c): commands whose execution took at least
//! `slowlog-log-slower-than` microseconds, newest first, at most
//! `slowlog-max-len` of them, read with SLOWLOG GET / LEN / RESET.
//!
//! One log for the server, behind a mutex: a command takes it only when it
//! was slow enough to be logged (the threshold is read from an atomic), so
//! shards contend only when every command is logged (threshold 0).

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Redis `SLOWLOG_ENTRY_MAX_ARGC`: arguments kept per entry (the last one
/// then says how many more there were).
pub const ENTRY_MAX_ARGC: usize = 32;
/// Redis `SLOWLOG_ENTRY_MAX_STRING`: bytes kept per argument.
pub const ENTRY_MAX_STRING: usize = 128;

/// One logged command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: u64,
    /// Unix seconds when it was logged.
    pub time_s: u64,
    pub micros: u64,
    /// The arguments, shortened as Redis shortens them.
    pub args: Vec<Vec<u8>>,
    /// The client's `ip:port` and name (empty when unnamed).
    pub peer: String,
    pub name: Vec<u8>,
}

#[derive(Default)]
struct Log {
    /// Newest first.
    entries: VecDeque<Entry>,
    next_id: u64,
}

pub struct SlowLog {
    log: Mutex<Log>,
    /// `slowlog-log-slower-than` (negative: off) and `slowlog-max-len`.
    slower_than_us: AtomicI64,
    max_len: AtomicU64,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog {
            log: Mutex::default(),
            slower_than_us: AtomicI64::new(10_000),
            max_len: AtomicU64::new(128),
        }
    }
}

impl SlowLog {
    /// Takes the directives' values; a shorter `max_len` drops the oldest
    /// entries at once (Redis trims at the next command, which is the
    /// CONFIG SET itself).
    pub fn configure(&self, slower_than_us: i64, max_len: u64) {
        self.slower_than_us.store(slower_than_us, Ordering::Relaxed);
        self.max_len.store(max_len, Ordering::Relaxed);
        self.trim(&mut self.log.lock());
    }

    /// Whether a command that took `took` is logged.
    pub fn wants(&self, took: Duration) -> bool {
        let threshold = self.slower_than_us.load(Ordering::Relaxed);
        threshold >= 0 && took.as_micros() >= threshold as u128
    }

    /// Logs a command (the caller checked [`SlowLog::wants`]); `args` is
    /// the command line with secrets already redacted.
    pub fn push(&self, args: &[&[u8]], took: Duration, peer: &str, name: &[u8]) {
        let entry_args = shortened(args);
        let mut log = self.log.lock();
        let id = log.next_id;
        log.next_id += 1;
        log.entries.push_front(Entry {
            id,
            time_s: crate::server::unix_ms() / 1000,
            micros: u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            args: entry_args,
            peer: peer.to_string(),
            name: name.to_vec(),
        });
        self.trim(&mut log);
    }

    fn trim(&self, log: &mut Log) {
        let max = usize::try_from(self.max_len.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        log.entries.truncate(max);
    }

    /// The newest `count` entries.
    pub fn newest(&self, count: usize) -> Vec<Entry> {
        self.log
            .lock()
            .entries
            .iter()
            .take(count)
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.log.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// SLOWLOG RESET: the entries go; ids keep counting.
    pub fn reset(&self) {
        self.log.lock().entries.clear();
    }
}

/// slowlog.c `slowlogCreateEntry`: at most [`ENTRY_MAX_ARGC`] arguments,
/// the last of them replaced by `... (N more arguments)` when there were
/// more, and each cut to [`ENTRY_MAX_STRING`] bytes plus `... (N more
/// bytes)`.
fn shortened(args: &[&[u8]]) -> Vec<Vec<u8>> {
    let kept = args.len().min(ENTRY_MAX_ARGC);
    (0..kept)
        .map(|j| {
            if kept != args.len() && j == kept - 1 {
                format!("... ({} more arguments)", args.len() - kept + 1).into_bytes()
            } else if args[j].len() > ENTRY_MAX_STRING {
                let mut arg = args[j][..ENTRY_MAX_STRING].to_vec();
                let more = args[j].len() - ENTRY_MAX_STRING;
                arg.extend_from_slice(format!("... ({more} more bytes)").as_bytes());
                arg
            } else {
                args[j].to_vec()
            }
        })
        .collect()
}

/// Redis's `shared.redacted`.
pub const REDACTED: &[u8] = b"(redacted)";

/// Which arguments of a command line are secrets, as Redis 7.0 redacts
/// them from the slow log (`redactClientCommandArgument`): AUTH's
/// password (and user), HELLO's AUTH pair, and CONFIG SET's values of
/// sensitive directives.
pub fn redacted(args: &[&[u8]]) -> Vec<bool> {
    let mut secret = vec![false; args.len()];
    let is = |i: usize, word: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    if is(0, "auth") && args.len() <= 3 {
        for s in secret.iter_mut().skip(1) {
            *s = true;
        }
    } else if is(0, "hello") {
        let mut j = 2;
        while j < args.len() {
            if is(j, "auth") && args.len() - 1 - j >= 2 {
                secret[j + 1] = true;
                secret[j + 2] = true;
                j += 2;
            } else if is(j, "setname") {
                j += 1;
            }
            j += 1;
        }
    } else if is(0, "config") && is(1, "set") {
        for (i, pair) in args.chunks(2).enumerate().skip(1) {
            let sensitive = crate::config::lookup(pair[0]).is_some_and(|(d, _)| d.is_sensitive());
            if sensitive && pair.len() == 2 {
                secret[i * 2 + 1] = true;
            }
        }
    }
    secret
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_shortened_as_redis_does() {
        let long = vec![b'x'; 130];
        let args: Vec<&[u8]> = vec![b"SET", b"k", &long];
        let got = shortened(&args);
        assert_eq!(got[2], [&long[..128], b"... (2 more bytes)"].concat());
        let many: Vec<Vec<u8>> = (0..40).map(|i| i.to_string().into_bytes()).collect();
        let many: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
        let got = shortened(&many);
        assert_eq!(got.len(), 32);
        assert_eq!(got[30], b"30");
        assert_eq!(got[31], b"... (9 more arguments)");
        assert_eq!(shortened(&many[..32]).len(), 32);
        assert_eq!(shortened(&many[..32])[31], b"31");
    }

    #[test]
    fn the_log_keeps_the_newest_and_counts_ids() {
        let log = SlowLog::default();
        log.configure(0, 2);
        assert!(log.wants(Duration::ZERO));
        for key in ["a", "b", "c"] {
            log.push(
                &[b"GET", key.as_bytes()],
                Duration::from_micros(5),
                "1.2.3.4:5",
                b"",
            );
        }
        let got = log.newest(10);
        assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(got[0].args, [b"GET".to_vec(), b"c".to_vec()]);
        assert_eq!(got[0].micros, 5);
        log.configure(0, 1);
        assert_eq!(log.len(), 1);
        log.reset();
        assert!(log.is_empty());
        log.push(&[b"PING"], Duration::ZERO, "", b"");
        assert_eq!(log.newest(1)[0].id, 3, "ids go on after a reset");
        log.configure(-1, 128);
        assert!(!log.wants(Duration::from_secs(10)));
        log.configure(100, 128);
        assert!(!log.wants(Duration::from_micros(99)));
        assert!(log.wants(Duration::from_micros(100)));
    }

    #[test]
    fn secrets_are_redacted() {
        let r = |line: &str| {
            let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
            redacted(&args)
        };
        assert_eq!(r("AUTH pw"), [false, true]);
        assert_eq!(r("AUTH user pw"), [false, true, true]);
        assert_eq!(
            r("HELLO 3 SETNAME auth AUTH u p"),
            [false, false, false, false, false, true, true]
        );
        assert_eq!(
            r("CONFIG SET requirepass x maxclients 5 masterauth y"),
            [false, false, false, true, false, false, false, true]
        );
        assert_eq!(r("GET auth"), [false, false]);
    }
}
