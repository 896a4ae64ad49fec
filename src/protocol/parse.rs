//! Incremental, resumable request parser (sans-IO): bytes in, [`Argv`] out.
//!
//! It owns the request grammar of Redis 7.0 networking.c
//! (`processInputBuffer`, `processInlineBuffer`, `processMultibulkBuffer`):
//! which bytes form a request, which are a protocol error, and the exact
//! error texts. It never touches a socket, a clock or the command table.
//!
//! ```text
//!   caller's input buffer (unconsumed bytes only)
//!   +---------------------------------------------------+
//!   | *3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nval | ...not yet read
//!   +---------------------------------------------------+
//!     `- parse() -> Incomplete { consumed: 28 }: "SET", "k" and "val" are
//!        already in argv; the caller drops the 28 bytes and calls again
//!        when more arrive. The next call sees "ue\r\n..." and finishes.
//! ```
//!
//! Key invariant: every byte reported as consumed has been fully accounted
//! for (copied into `argv` or skipped), so a bulk of any size is copied once.
//! Unconsumed bytes must be presented again, unchanged, at the start of the
//! next call's buffer; the parser may remember how far it already scanned
//! them for a line end.
//!
//! Redis quirks reproduced on purpose:
//! - Line ends are found with `strchr`, which stops at a NUL byte: a NUL
//!   before the `\n` (inline) or `\r` (multibulk) hides the line end, and the
//!   request waits until more than 64 KiB are buffered, then fails as "too big".
//! - Multibulk lines need only a `\r` plus any one byte; bulk data is followed
//!   by any two bytes. Neither is checked to be `\n` / `\r\n`.
//! - `*0` and `*-5` are empty requests, as is a blank inline line.

use thiserror::Error;

use super::reply::ReplyBuf;
use crate::num::parse_i64;

/// networking.c `PROTO_INLINE_MAX_SIZE`: with more than this many bytes
/// buffered and no line end found, the request is "too big".
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;
/// Largest multibulk count (networking.c: `ll > INT_MAX` is invalid).
pub const MULTIBULK_COUNT_MAX: i64 = i32::MAX as i64;
/// Largest multibulk count before AUTH (networking.c `authRequired`).
pub const UNAUTH_MULTIBULK_COUNT_MAX: i64 = 10;
/// Largest bulk length before AUTH.
pub const UNAUTH_BULK_LEN_MAX: i64 = 16384;
/// Argument slots reserved up front for a multibulk (networking.c caps its
/// `argv_len` the same way, so a huge count cannot allocate by itself).
const ARGV_PREALLOC_MAX: usize = 1024;

/// A command's arguments in one contiguous buffer, reused per connection so
/// the steady state allocates nothing.
///
/// ```text
///   data: SETkeyvalue   ends: [3, 6, 11]   -> "SET" "key" "value"
/// ```
///
/// While a request is incomplete, `data` may also hold the first bytes of
/// an argument whose end is not yet in `ends`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Argv {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Argv {
    /// An empty argument vector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds an `Argv` from complete arguments (tests, replication, MULTI).
    pub fn from_slices<T: AsRef<[u8]>>(args: &[T]) -> Self {
        let mut argv = Argv::new();
        for arg in args {
            argv.push(arg.as_ref());
        }
        argv
    }

    /// Number of complete arguments.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there are no complete arguments.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Argument `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`: callers check the command's arity first.
    pub fn get(&self, i: usize) -> &[u8] {
        match self.try_get(i) {
            Some(arg) => arg,
            None => panic!("argument {i} of {} requested", self.len()),
        }
    }

    /// Argument `i`, or `None` if there are not that many.
    pub fn try_get(&self, i: usize) -> Option<&[u8]> {
        let start = match i.checked_sub(1) {
            Some(prev) => *self.ends.get(prev)?,
            None => 0,
        };
        let end = *self.ends.get(i)?;
        self.data.get(start..end)
    }

    /// The complete arguments in order.
    pub fn iter(&self) -> ArgvIter<'_> {
        ArgvIter {
            argv: self,
            next: 0,
        }
    }

    /// Forgets all arguments, keeping the allocations.
    pub fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }

    /// Appends one complete argument.
    pub fn push(&mut self, arg: &[u8]) {
        self.data.extend_from_slice(arg);
        self.end_arg();
    }

    /// Bytes held, including a partially received argument: what the
    /// connection counts against `client-query-buffer-limit`.
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    /// Appends part of an argument that has `left_after` more bytes to come.
    /// Grows by at least doubling, but never past the argument's known end,
    /// so a 512 MB bulk is copied once and does not over-allocate.
    fn extend_partial(&mut self, chunk: &[u8], left_after: u64) {
        let left_total = u64::try_from(chunk.len())
            .unwrap_or(u64::MAX)
            .saturating_add(left_after);
        if self.data.capacity() - self.data.len() < chunk.len() {
            let grow = u64::try_from(chunk.len().max(self.data.len()))
                .unwrap_or(u64::MAX)
                .min(left_total);
            self.data
                .reserve_exact(usize::try_from(grow).unwrap_or(chunk.len()));
        }
        self.data.extend_from_slice(chunk);
    }

    /// Marks the bytes appended since the last argument as one argument.
    fn end_arg(&mut self) {
        self.ends.push(self.data.len());
    }
}

impl std::fmt::Debug for Argv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|a| String::from_utf8_lossy(a)))
            .finish()
    }
}

/// Iterator over an [`Argv`]'s complete arguments.
#[derive(Clone, Debug)]
pub struct ArgvIter<'a> {
    argv: &'a Argv,
    next: usize,
}

impl<'a> Iterator for ArgvIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let arg = self.argv.try_get(self.next)?;
        self.next += 1;
        Some(arg)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.argv.len().saturating_sub(self.next);
        (n, Some(n))
    }
}

impl ExactSizeIterator for ArgvIter<'_> {}

impl<'a> IntoIterator for &'a Argv {
    type Item = &'a [u8];
    type IntoIter = ArgvIter<'a>;

    fn into_iter(self) -> ArgvIter<'a> {
        self.iter()
    }
}

/// Per-connection limits, read at every call (AUTH may change them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `proto-max-bulk-len`: a longer bulk is "invalid bulk length".
    pub proto_max_bulk_len: u64,
    /// False while the connection must still AUTH: counts over 10 and bulks
    /// over 16384 bytes are refused.
    pub authenticated: bool,
}

impl Default for Limits {
    /// Redis defaults: 512 MB bulks, no password configured.
    fn default() -> Self {
        Limits {
            proto_max_bulk_len: 512 * 1024 * 1024,
            authenticated: true,
        }
    }
}

/// What one [`RequestParser::parse`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole request is in `argv` (possibly empty: skip it).
    Complete {
        /// Bytes of the buffer used; drop them.
        consumed: usize,
    },
    /// More bytes are needed. `consumed` may be non-zero: those bytes are
    /// already in `argv` or skipped, and must be dropped.
    Incomplete {
        /// Bytes of the buffer used; drop them.
        consumed: usize,
    },
}

/// A protocol error: the server replies `-ERR Protocol error: <text>` and
/// closes the connection after the reply. The text is Redis's.
///
/// The text is Latin-1: a byte of the request quoted in it (only in
/// "expected '$', got '%c'") is one `char` of the same value, so
/// [`ProtocolError::write_reply`] can emit the exact byte Redis would.
#[derive(Error, Debug, Clone, PartialEq, Eq)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(text: &str) -> Self {
        ProtocolError(text.to_owned())
    }

    /// The reply Redis sends, as bytes: `ERR Protocol error: <text>` with
    /// each char of the text as one byte (see the type docs).
    pub fn reply_text(&self) -> Vec<u8> {
        let mut text = b"ERR Protocol error: ".to_vec();
        text.extend(self.0.chars().map(|c| u8::try_from(c).unwrap_or(b'?')));
        text
    }

    /// Appends the error reply (`-ERR Protocol error: ...\r\n`) to `out`,
    /// byte-exact with Redis even for a quoted non-ASCII byte.
    pub fn write_reply(&self, out: &mut ReplyBuf) {
        out.error_bytes(&self.reply_text());
    }
}

/// Where the parser is between calls.
///
/// ```text
///           '*'n, n > 0                 "$len\r\n"
///   Idle -----------------> BulkLen{n} -------------> BulkData{n, len+2}
///    ^ \                       ^                            |
///    |  \ whole inline line,   |   all bytes taken, n-1 > 0 |
///    |   \ or '*'n, n <= 0     +----------------------------+
///    |    v                                                  |
///    +-- Complete <-------------- all bytes taken, n-1 == 0 -+
/// ```
/// An inline request is parsed in one step from a whole line, so it never
/// leaves `Idle`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// No byte of the next request consumed yet.
    #[default]
    Idle,
    /// `args_left` bulks still to come; next is a `$<len>\r\n` line.
    BulkLen { args_left: u32 },
    /// Inside a bulk (counted in `args_left`): `bytes_left` of its data plus
    /// the two bytes after it are still to come.
    BulkData { args_left: u32, bytes_left: u64 },
}

/// Resumable request parser; one per connection. See the module docs.
#[derive(Clone, Debug, Default)]
pub struct RequestParser {
    state: State,
    /// Bytes at the start of the unconsumed input already searched for the
    /// current line's end without finding it (they hold no terminator and
    /// no NUL), so a line arriving in small pieces is scanned once.
    scanned: usize,
}

impl RequestParser {
    /// A parser between requests.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when no byte of a request has been consumed without the request
    /// completing (unconsumed bytes in the caller's buffer do not count).
    pub fn is_idle(&self) -> bool {
        self.state == State::Idle
    }

    /// Parses at most one request from `buf`.
    ///
    /// Bytes reported as consumed (in either variant) are done with: the
    /// caller drops them and passes the rest, unchanged and followed by any
    /// new bytes, to the next call. Partial arguments are copied into `argv`
    /// as they arrive. On `Complete`, `argv` holds the request; it may be
    /// empty (blank inline line, `*0`, `*-1`), which the caller skips. The
    /// caller clears `argv` after each complete request and leaves it alone
    /// between `Incomplete` results.
    ///
    /// After an error the connection must be closed; the parser is not
    /// reusable.
    pub fn parse(
        &mut self,
        buf: &[u8],
        limits: &Limits,
        argv: &mut Argv,
    ) -> Result<Parsed, ProtocolError> {
        let mut pos = 0;
        loop {
            let rest = buf.get(pos..).unwrap_or_default();
            match self.state {
                State::Idle => {
                    let Some(&first) = rest.first() else {
                        return Ok(Parsed::Incomplete { consumed: pos });
                    };
                    debug_assert!(argv.is_empty(), "argv not cleared");
                    debug_assert_eq!(argv.data_len(), 0, "argv not cleared");
                    if first != b'*' {
                        return Ok(match self.inline(rest, argv)? {
                            Some(used) => Parsed::Complete {
                                consumed: pos + used,
                            },
                            None => Parsed::Incomplete { consumed: pos },
                        });
                    }
                    let Some((count, used)) = self.multibulk_count(rest, limits)? else {
                        return Ok(Parsed::Incomplete { consumed: pos });
                    };
                    pos += used;
                    // Counts are at most i32::MAX, checked by multibulk_count.
                    match u32::try_from(count) {
                        Ok(args_left) if args_left > 0 => {
                            argv.ends.reserve(ARGV_PREALLOC_MAX.min(args_left as usize));
                            self.state = State::BulkLen { args_left };
                        }
                        _ => return Ok(Parsed::Complete { consumed: pos }),
                    }
                }
                State::BulkLen { args_left } => {
                    let Some((len, used)) = self.bulk_len(rest, limits)? else {
                        return Ok(Parsed::Incomplete { consumed: pos });
                    };
                    pos += used;
                    self.state = State::BulkData {
                        args_left,
                        bytes_left: len + 2,
                    };
                }
                State::BulkData {
                    args_left,
                    bytes_left,
                } => {
                    let used = bulk_data(rest, bytes_left, argv);
                    pos += used;
                    let bytes_left = bytes_left - used as u64;
                    if bytes_left > 0 {
                        debug_assert_eq!(pos, buf.len());
                        self.state = State::BulkData {
                            args_left,
                            bytes_left,
                        };
                        return Ok(Parsed::Incomplete { consumed: pos });
                    }
                    argv.end_arg();
                    match args_left - 1 {
                        0 => {
                            self.state = State::Idle;
                            return Ok(Parsed::Complete { consumed: pos });
                        }
                        args_left => self.state = State::BulkLen { args_left },
                    }
                }
            }
        }
    }

    /// Finds `needle` in `rest` as networking.c's `strchr` does: a NUL byte
    /// ends the search. Resumes after the bytes already scanned.
    fn find_line_end(&mut self, rest: &[u8], needle: u8) -> Option<usize> {
        let from = self.scanned.min(rest.len());
        let tail = rest.get(from..).unwrap_or_default();
        match tail.iter().position(|&b| b == needle || b == 0) {
            Some(i) if tail.get(i) == Some(&needle) => Some(from + i),
            stop => {
                // Stop at a NUL so every later call stops there again.
                self.scanned = from + stop.unwrap_or(tail.len());
                None
            }
        }
    }

    /// The `*<count>\r\n` line: `Some((count, bytes used))` or `None` when
    /// the line is not complete. Mirrors the head of `processMultibulkBuffer`.
    fn multibulk_count(
        &mut self,
        rest: &[u8],
        limits: &Limits,
    ) -> Result<Option<(i64, usize)>, ProtocolError> {
        let Some(cr) = self.find_line_end(rest, b'\r') else {
            if rest.len() > PROTO_INLINE_MAX_SIZE {
                return Err(ProtocolError::new("too big mbulk count string"));
            }
            return Ok(None);
        };
        if cr + 2 > rest.len() {
            self.scanned = cr;
            return Ok(None);
        }
        let count = rest
            .get(1..cr)
            .and_then(parse_i64)
            .filter(|&n| n <= MULTIBULK_COUNT_MAX)
            .ok_or_else(|| ProtocolError::new("invalid multibulk length"))?;
        if count > UNAUTH_MULTIBULK_COUNT_MAX && !limits.authenticated {
            return Err(ProtocolError::new("unauthenticated multibulk length"));
        }
        self.scanned = 0;
        Ok(Some((count, cr + 2)))
    }

    /// A `$<len>\r\n` line: `Some((len, bytes used))` or `None` when the line
    /// is not complete. Mirrors the loop head of `processMultibulkBuffer`.
    fn bulk_len(
        &mut self,
        rest: &[u8],
        limits: &Limits,
    ) -> Result<Option<(u64, usize)>, ProtocolError> {
        let Some(cr) = self.find_line_end(rest, b'\r') else {
            if rest.len() > PROTO_INLINE_MAX_SIZE {
                return Err(ProtocolError::new("too big bulk count string"));
            }
            return Ok(None);
        };
        if cr + 2 > rest.len() {
            self.scanned = cr;
            return Ok(None);
        }
        match rest.first() {
            Some(b'$') => {}
            // The line is complete, so a first byte exists; it may be the '\r'.
            other => {
                let got = char::from(other.copied().unwrap_or(b'\r'));
                return Err(ProtocolError(format!("expected '$', got '{got}'")));
            }
        }
        let len = rest
            .get(1..cr)
            .and_then(parse_i64)
            .and_then(|n| u64::try_from(n).ok())
            .filter(|&n| n <= limits.proto_max_bulk_len)
            .ok_or_else(|| ProtocolError::new("invalid bulk length"))?;
        if len > UNAUTH_BULK_LEN_MAX as u64 && !limits.authenticated {
            return Err(ProtocolError::new("unauthenticated bulk length"));
        }
        self.scanned = 0;
        Ok(Some((len, cr + 2)))
    }

    /// A whole inline line: `Some(bytes used)` with the arguments pushed, or
    /// `None` when the line end is not buffered. Mirrors `processInlineBuffer`.
    fn inline(&mut self, rest: &[u8], argv: &mut Argv) -> Result<Option<usize>, ProtocolError> {
        let Some(nl) = self.find_line_end(rest, b'\n') else {
            if rest.len() > PROTO_INLINE_MAX_SIZE {
                return Err(ProtocolError::new("too big inline request"));
            }
            return Ok(None);
        };
        let line = rest.get(..nl).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !split_args(line, argv) {
            return Err(ProtocolError::new("unbalanced quotes in request"));
        }
        self.scanned = 0;
        Ok(Some(nl + 1))
    }
}

/// Takes up to `bytes_left` bytes of bulk data plus its two trailing bytes
/// from `rest`, copying the data part into `argv`. Returns the bytes used.
/// The second argument of the multibulk request at the start of `buf`
/// (a command's usual key), if it is all there: a cheap look ahead for
/// prefetching, not a parse (anything unusual gives `None`).
pub fn peek_second_arg(buf: &[u8]) -> Option<&[u8]> {
    /// `<prefix><digits>\r\n` at `at`: the number and where the line ends.
    fn line(buf: &[u8], at: usize, prefix: u8) -> Option<(usize, usize)> {
        if *buf.get(at)? != prefix {
            return None;
        }
        let mut n = 0usize;
        let mut i = at + 1;
        while let Some(&b) = buf.get(i) {
            if b == b'\r' {
                return (i > at + 1 && buf.get(i + 1) == Some(&b'\n')).then_some((n, i + 2));
            }
            if !b.is_ascii_digit() || i - at > 10 {
                return None;
            }
            n = n * 10 + usize::from(b - b'0');
            i += 1;
        }
        None
    }
    let (argc, at) = line(buf, 0, b'*')?;
    if argc < 2 {
        return None;
    }
    let (name_len, at) = line(buf, at, b'$')?;
    let (key_len, at) = line(buf, at.checked_add(name_len)?.checked_add(2)?, b'$')?;
    buf.get(at..at.checked_add(key_len)?)
}

fn bulk_data(rest: &[u8], bytes_left: u64, argv: &mut Argv) -> usize {
    let avail = u64::try_from(rest.len()).unwrap_or(u64::MAX);
    let take = bytes_left.min(avail);
    let data_left = bytes_left.saturating_sub(2);
    let data_take = take.min(data_left);
    // Both are at most rest.len(), so they fit in usize.
    let (take, data_take) = (take as usize, data_take as usize);
    if let Some(chunk) = rest.get(..data_take) {
        argv.extend_partial(chunk, data_left - data_take as u64);
    }
    take
}

/// C-locale `isspace`: space, `\t`, `\n`, `\v`, `\f`, `\r`.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t'..=b'\r')
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Splits an inline line into `argv` as Redis sds.c `sdssplitargs` does.
/// Returns false on unbalanced quotes (or a closing quote not followed by
/// a space); `argv` then holds garbage.
///
/// Tokens are separated by C `isspace` bytes, but an unquoted token ends
/// only at space, `\t`, `\n`, `\r` (so `a\vb` is one token). Quotes may start
/// mid-token (`a"b c"` is `ab c`). In double quotes `\xHH`, `\n`, `\r`, `\t`,
/// `\b`, `\a` are escapes and `\` before anything else yields that byte; in
/// single quotes only `\'` is an escape.
fn split_args(line: &[u8], argv: &mut Argv) -> bool {
    // The line never holds a NUL (its search stopped there), so 0 marks the
    // end exactly as the C string's terminator does.
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut p = 0;
    loop {
        while at(p) != 0 && is_c_space(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return true;
        }
        let (mut in_dq, mut in_sq, mut done) = (false, false, false);
        while !done {
            let c = at(p);
            if in_dq {
                if let (b'\\', b'x', Some(hi), Some(lo)) =
                    (c, at(p + 1), hex_value(at(p + 2)), hex_value(at(p + 3)))
                {
                    argv.data.push(hi * 16 + lo);
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    argv.data.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return false;
                    }
                    done = true;
                } else if c == 0 {
                    return false;
                } else {
                    argv.data.push(c);
                }
            } else if in_sq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    argv.data.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return false;
                    }
                    done = true;
                } else if c == 0 {
                    return false;
                } else {
                    argv.data.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    _ => argv.data.push(c),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        argv.end_arg();
    }
}

/// Fuzz entry: parses `data` once whole and once fed in pseudo-random
/// pieces, and checks the parser's postconditions. Never panics unless a
/// postcondition fails.
///
/// Byte 0 picks the limits, byte 1 seeds the split sizes, the rest is the
/// stream. Up to 64 KiB both runs must produce the same requests and error
/// (beyond that, "too big" errors legitimately depend on buffering).
pub fn fuzz_parse(data: &[u8]) {
    let [mode, seed, stream @ ..] = data else {
        return;
    };
    const BULK_MAX: [u64; 6] = [0, 1, 5, 100, 16384, 512 * 1024 * 1024];
    let limits = Limits {
        authenticated: mode & 1 == 1,
        proto_max_bulk_len: BULK_MAX
            .get(usize::from(mode >> 1) % BULK_MAX.len())
            .copied()
            .unwrap_or(0),
    };
    let whole = fuzz_run(stream, &limits, &mut |_| usize::MAX);
    let mut rng = u32::from(*seed) | 0x100;
    let split = fuzz_run(stream, &limits, &mut |_| {
        // xorshift32: piece sizes from 1 to 64 bytes.
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        (rng % 64) as usize + 1
    });
    if stream.len() <= PROTO_INLINE_MAX_SIZE {
        assert_eq!(whole, split, "split feeding changed the result");
    }
}

/// Events of one fuzz run: each complete request, then the error if any.
type FuzzEvents = (Vec<Argv>, Option<ProtocolError>, bool);

/// Feeds `stream` to a fresh parser in pieces of `piece(i)` bytes, as a
/// connection would, checking postconditions after every call.
fn fuzz_run(stream: &[u8], limits: &Limits, piece: &mut dyn FnMut(usize) -> usize) -> FuzzEvents {
    let mut parser = RequestParser::new();
    let mut argv = Argv::new();
    let mut inbuf: Vec<u8> = Vec::new();
    let (mut fed, mut requests) = (0, Vec::new());
    for round in 0.. {
        let n = piece(round).min(stream.len() - fed);
        inbuf.extend_from_slice(stream.get(fed..fed + n).unwrap_or_default());
        fed += n;
        loop {
            match parser.parse(&inbuf, limits, &mut argv) {
                Ok(Parsed::Complete { consumed }) => {
                    assert!(
                        consumed > 0 && consumed <= inbuf.len(),
                        "bad consumed {consumed}"
                    );
                    assert!(parser.is_idle());
                    let sum: usize = argv.iter().map(<[u8]>::len).sum();
                    assert_eq!(sum, argv.data_len());
                    inbuf.drain(..consumed);
                    requests.push(std::mem::take(&mut argv));
                }
                Ok(Parsed::Incomplete { consumed }) => {
                    assert!(consumed <= inbuf.len(), "bad consumed {consumed}");
                    inbuf.drain(..consumed);
                    if consumed == 0 {
                        // Stuck means stuck: the same input gives the same answer.
                        let again = parser.parse(&inbuf, limits, &mut argv);
                        assert_eq!(again, Ok(Parsed::Incomplete { consumed: 0 }));
                        break;
                    }
                }
                Err(e) => return (requests, Some(e), false),
            }
        }
        if fed == stream.len() {
            break;
        }
    }
    (requests, None, parser.is_idle())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn peek_second_arg_takes_only_a_whole_key() {
        let req = b"*3\r\n$3\r\nSET\r\n$5\r\nkey:1\r\n$1\r\nv\r\n";
        assert_eq!(peek_second_arg(req), Some(&b"key:1"[..]));
        // Every prefix short of the key's last byte: nothing.
        let whole = req.iter().position(|&b| b == b'1').unwrap() + 1;
        for end in 0..whole {
            assert_eq!(peek_second_arg(&req[..end]), None, "{end}");
        }
        assert_eq!(peek_second_arg(&req[..whole]), Some(&b"key:1"[..]));
        for other in [
            &b"*1\r\n$4\r\nPING\r\n"[..],
            b"GET k\r\n",
            b"*2\r\n$3\r\nGET\r\n$99999999999999999999\r\nk",
            b"*2\r\n$18446744073\r\n",
            b"*2\r\n$-1\r\n",
            b"*2\r\n$\r\n",
        ] {
            assert_eq!(
                peek_second_arg(other),
                None,
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    proptest! {
        #[test]
        fn peek_second_arg_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = peek_second_arg(&buf);
        }
    }

    const AUTH: Limits = Limits {
        proto_max_bulk_len: 512 * 1024 * 1024,
        authenticated: true,
    };
    const NOAUTH: Limits = Limits {
        proto_max_bulk_len: 512 * 1024 * 1024,
        authenticated: false,
    };

    /// Parses `input` fed whole, returning the requests and the first error.
    fn parse_all(input: &[u8], limits: &Limits) -> (Vec<Vec<Vec<u8>>>, Option<String>) {
        let (reqs, err, _) = fuzz_run(input, limits, &mut |_| usize::MAX);
        let reqs = reqs
            .iter()
            .map(|a| a.iter().map(<[u8]>::to_vec).collect())
            .collect();
        (reqs, err.map(|e| e.0))
    }

    fn err_of(input: &[u8], limits: &Limits) -> Option<String> {
        parse_all(input, limits).1
    }

    fn args(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn multibulk_basics() {
        let (reqs, err) = parse_all(
            b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n*1\r\n$4\r\nPING\r\n",
            &AUTH,
        );
        assert_eq!(err, None);
        assert_eq!(reqs, vec![args(&["ECHO", "hi"]), args(&["PING"])]);
        // Empty requests: the caller skips them.
        let (reqs, _) = parse_all(b"*0\r\n*-1\r\n*-5\r\n", &AUTH);
        assert_eq!(reqs, vec![Vec::<Vec<u8>>::new(); 3]);
        // Binary-safe, empty argument.
        let (reqs, _) = parse_all(b"*2\r\n$0\r\n\r\n$3\r\n\0\r\n\r\n", &AUTH);
        assert_eq!(reqs, vec![vec![b"".to_vec(), b"\0\r\n".to_vec()]]);
    }

    /// Every case was sent raw to redis-server 7.0.15; the reply was
    /// `-ERR Protocol error: <text>` followed by a close.
    #[test]
    fn error_texts_match_redis() {
        let cases: &[(&[u8], &Limits, &str)] = &[
            (b"*1\r\n$x\r\n", &AUTH, "invalid bulk length"),
            (b"*x\r\n", &AUTH, "invalid multibulk length"),
            (b"*1\r\nx3\r\n", &AUTH, "expected '$', got 'x'"),
            (b"*1\r\n\r\n\r\n", &AUTH, "expected '$', got '\r'"),
            (b"*1\r\n\nab\r\n", &AUTH, "expected '$', got '\n'"),
            (b"*1\r\n\xffab\r\n", &AUTH, "expected '$', got '\u{ff}'"),
            (b"set \"a\"b c\r\n", &AUTH, "unbalanced quotes in request"),
            (b"*3000000000\r\n", &AUTH, "invalid multibulk length"),
            (b"*2147483648\r\n", &AUTH, "invalid multibulk length"),
            (b"*-0\r\n", &AUTH, "invalid multibulk length"),
            (b"*01\r\n", &AUTH, "invalid multibulk length"),
            (b"*+1\r\n", &AUTH, "invalid multibulk length"),
            (b"*\r\n", &AUTH, "invalid multibulk length"),
            (b"*1\r\n$-1\r\n", &AUTH, "invalid bulk length"),
            (b"*1\r\n$536870913\r\n", &AUTH, "invalid bulk length"),
            (b"*1\r\n$04\r\n", &AUTH, "invalid bulk length"),
            (b"*1\r\n$\r\n", &AUTH, "invalid bulk length"),
            (b"echo \"abc\n", &AUTH, "unbalanced quotes in request"),
            (b"echo 'abc'x\n", &AUTH, "unbalanced quotes in request"),
            (b"*11\r\n", &NOAUTH, "unauthenticated multibulk length"),
            (b"*10\r\n$16385\r\n", &NOAUTH, "unauthenticated bulk length"),
            (b"*11x\r\n", &NOAUTH, "invalid multibulk length"),
            (b"*2147483648\r\n", &NOAUTH, "invalid multibulk length"),
        ];
        for (input, limits, want) in cases {
            assert_eq!(
                err_of(input, limits).as_deref(),
                Some(*want),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// These were accepted (or left waiting) by redis-server 7.0.15.
    #[test]
    fn accepted_like_redis() {
        assert_eq!(err_of(b"*2147483647\r\n", &AUTH), None);
        assert_eq!(err_of(b"*1\r\n$536870912\r\n", &AUTH), None);
        assert_eq!(err_of(b"*10\r\n$16384\r\n", &NOAUTH), None);
        // Only a '\r' and one more byte end a multibulk line; two bytes of
        // any value follow bulk data.
        let (reqs, err) = parse_all(b"*1\rX$4\r\nPINGxyECHO hi\r\n", &AUTH);
        assert_eq!(
            (reqs, err),
            (vec![args(&["PING"]), args(&["ECHO", "hi"])], None)
        );
        // Blank lines are empty requests; bare \n ends a line.
        let (reqs, _) = parse_all(b"\r\n\r\nPING\n", &AUTH);
        assert_eq!(
            reqs,
            vec![vec![], vec![], args(&["PING"])] as Vec<Vec<Vec<u8>>>
        );
        // A NUL hides the line end: Redis waits.
        let (reqs, err) = parse_all(b"PING\0\r\n", &AUTH);
        assert_eq!((reqs.len(), err), (0, None));
    }

    /// Each case was sent to redis-server 7.0.15 (as ECHO arguments).
    #[test]
    fn inline_splitting_matches_sdssplitargs() {
        let cases: &[(&[u8], &[&[u8]])] = &[
            (b"echo 'a\\'b'\r\n", &[b"echo", b"a'b"]),
            (b"echo \"\\x41\\x4g\\n\"\r\n", &[b"echo", b"Ax4g\n"]),
            (b"echo a\x0bb \x0cc\r\n", &[b"echo", b"a\x0bb", b"c"]),
            (b"echo \"a\r\"\r\n", &[b"echo", b"a\r"]),
            (b"echo 'abc'\x0b\n", &[b"echo", b"abc"]),
            (b"a\"b c\"\n", &[b"ab c"]),
            (b"'' \"\"\n", &[b"", b""]),
            (b"a\rb\n", &[b"a", b"b"]),
            (b"\"\\q\\\\\\\"\"\n", &[b"q\\\""]),
            (b"'\\n'\n", &[b"\\n"]),
            (b"\"\\xff\\x00\"\n", &[b"\xff\x00"]),
            (b"  \t \r\n", &[]),
        ];
        for (input, want) in cases {
            let (reqs, err) = parse_all(input, &AUTH);
            assert_eq!(err, None, "{:?}", String::from_utf8_lossy(input));
            let want: Vec<Vec<u8>> = want.iter().map(|a| a.to_vec()).collect();
            assert_eq!(reqs, vec![want], "{:?}", String::from_utf8_lossy(input));
        }
        // A closing quote must be followed by a space or the end of the line.
        assert_eq!(
            err_of(b"echo a\"b c\"d\n", &AUTH).as_deref(),
            Some("unbalanced quotes in request")
        );
        // A trailing backslash inside quotes runs into the end of the line.
        assert_eq!(
            err_of(b"\"ab\\\n", &AUTH).as_deref(),
            Some("unbalanced quotes in request")
        );
    }

    /// Checked against redis-server 7.0.15 with one big write.
    #[test]
    fn too_big_lines() {
        let big = |prefix: &[u8], fill: u8, n: usize| [prefix, &vec![fill; n]].concat();
        assert_eq!(
            err_of(&big(b"", b'a', 70000), &AUTH).as_deref(),
            Some("too big inline request")
        );
        assert_eq!(
            err_of(&big(b"*", b'1', 70000), &AUTH).as_deref(),
            Some("too big mbulk count string")
        );
        assert_eq!(
            err_of(&big(b"*1\r\n$", b'1', 70000), &AUTH).as_deref(),
            Some("too big bulk count string")
        );
        assert_eq!(
            err_of(&big(b"*1\r\n$3\0", b'1', 70000), &AUTH).as_deref(),
            Some("too big bulk count string")
        );
        // Exactly 64 KiB buffered is still fine; one more byte is not.
        assert_eq!(err_of(&big(b"a\0\n", b'b', 65533), &AUTH), None);
        assert_eq!(
            err_of(&big(b"a\0\n", b'b', 65534), &AUTH).as_deref(),
            Some("too big inline request")
        );
        // A long line whose end is already buffered is fine.
        let long = [big(b"get ", b'k', 70000), b"\r\n".to_vec()].concat();
        assert_eq!(parse_all(&long, &AUTH).0.len(), 1);
        // The check counts every unconsumed byte, not just the line's.
        let after_cmd = big(b"*1\r\n$3\r\nabc\r\n", b'x', 65537);
        assert_eq!(
            parse_all(&after_cmd, &AUTH),
            (vec![args(&["abc"])], Some("too big inline request".into()))
        );
    }

    /// Goal: a big bulk fed in pieces is copied as it arrives, not re-parsed.
    /// 1. Send the header, then the data in 16 KiB pieces.
    /// 2. Each piece is fully consumed and lands in argv.
    #[test]
    fn big_bulk_streams_into_argv() {
        let len = 1 << 20;
        let mut parser = RequestParser::new();
        let mut argv = Argv::new();
        let header = format!("*1\r\n${len}\r\n");
        let got = parser.parse(header.as_bytes(), &AUTH, &mut argv);
        assert_eq!(
            got,
            Ok(Parsed::Incomplete {
                consumed: header.len()
            })
        );
        let piece = vec![b'v'; 16 * 1024];
        for i in 1..=len / piece.len() {
            let got = parser.parse(&piece, &AUTH, &mut argv);
            assert_eq!(
                got,
                Ok(Parsed::Incomplete {
                    consumed: piece.len()
                })
            );
            assert_eq!(argv.data_len(), i * piece.len());
            assert!(!parser.is_idle());
        }
        assert!(
            argv.data.capacity() <= len,
            "over-allocated: {}",
            argv.data.capacity()
        );
        assert_eq!(
            parser.parse(b"\r", &AUTH, &mut argv),
            Ok(Parsed::Incomplete { consumed: 1 })
        );
        assert_eq!(
            parser.parse(b"\n*1", &AUTH, &mut argv),
            Ok(Parsed::Complete { consumed: 1 })
        );
        assert_eq!((argv.len(), argv.get(0).len()), (1, len));
        assert!(parser.is_idle());
    }

    /// Goal: a line arriving a byte at a time is scanned once, and a NUL
    /// keeps hiding the line end however the bytes arrive.
    #[test]
    fn resumed_line_scan() {
        let mut parser = RequestParser::new();
        let mut argv = Argv::new();
        let mut buf = Vec::new();
        for &b in b"PING\0 x" {
            buf.push(b);
            assert_eq!(
                parser.parse(&buf, &AUTH, &mut argv),
                Ok(Parsed::Incomplete { consumed: 0 })
            );
        }
        buf.extend_from_slice(b"\r\n");
        assert_eq!(
            parser.parse(&buf, &AUTH, &mut argv),
            Ok(Parsed::Incomplete { consumed: 0 })
        );
        assert_eq!(parser.scanned, 4);
    }

    #[test]
    fn argv_accessors() {
        let argv = Argv::from_slices(&["SET", "", "value"]);
        assert_eq!((argv.len(), argv.data_len()), (3, 8));
        assert_eq!(
            (argv.get(0), argv.get(1), argv.get(2)),
            (&b"SET"[..], &b""[..], &b"value"[..])
        );
        assert_eq!(argv.try_get(3), None);
        assert_eq!(argv.iter().len(), 3);
        assert_eq!(format!("{argv:?}"), r#"["SET", "", "value"]"#);
        let mut argv = argv;
        argv.clear();
        assert!(argv.is_empty());
    }

    #[test]
    fn protocol_error_reply_is_byte_exact() {
        let err = err_of(b"*1\r\n\xffab\r\n", &AUTH)
            .map(ProtocolError)
            .expect("error");
        let mut out = ReplyBuf::new(false);
        err.write_reply(&mut out);
        assert_eq!(
            out.buf,
            b"-ERR Protocol error: expected '$', got '\xff'\r\n"
        );
        let err = err_of(b"*1\r\n\r\n\r\n", &AUTH)
            .map(ProtocolError)
            .expect("error");
        out.buf.clear();
        err.write_reply(&mut out);
        assert_eq!(out.buf, b"-ERR Protocol error: expected '$', got ' '\r\n");
        assert_eq!(err.to_string(), "Protocol error: expected '$', got '\r'");
    }

    #[test]
    fn fuzz_parse_smoke() {
        for input in [
            &b""[..],
            b"\x00\x00*1\r\n$1\r\na\r\n",
            b"\x01\x07*2\r\n$3\r\nfoo\r\n$3\r\nbar\r\nPING\r\n",
            b"\x03\x01'a b' \"c\\x41\"\r\n*0\r\n",
            b"\x0b\x05*1\r\n$100\r\nshort",
        ] {
            fuzz_parse(input);
        }
    }

    /// Encodes `argv` as a RESP multibulk.
    fn encode_multibulk(argv: &[Vec<u8>], out: &mut Vec<u8>) {
        out.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
        for arg in argv {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// Encodes `argv` as one inline line, every argument double-quoted with
    /// non-alphanumeric bytes as `\xHH`, so any bytes are representable.
    fn encode_inline(argv: &[Vec<u8>], out: &mut Vec<u8>) {
        for (i, arg) in argv.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.push(b'"');
            for &b in arg {
                if b.is_ascii_alphanumeric() {
                    out.push(b);
                } else {
                    out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
                }
            }
            out.push(b'"');
        }
        out.extend_from_slice(b"\r\n");
    }

    fn arb_argv() -> impl Strategy<Value = Vec<Vec<u8>>> {
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Goal: any requests, encoded as multibulk or inline, come back
        /// unchanged however the stream is split.
        /// 1. Encode each request in the format its flag picks.
        /// 2. Cut the stream at arbitrary points and feed the pieces.
        /// 3. Compare the requests seen with the originals.
        #[test]
        fn round_trip_under_splits(
            reqs in proptest::collection::vec((arb_argv(), any::<bool>()), 0..8),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let mut stream = Vec::new();
            for (argv, inline) in &reqs {
                if *inline {
                    encode_inline(argv, &mut stream);
                } else {
                    encode_multibulk(argv, &mut stream);
                }
            }
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
            cuts.push(stream.len());
            cuts.sort_unstable();
            let mut last = 0;
            let mut sizes = cuts.iter().map(|&c| { let n = c - last; last = c; n });
            let (got, err, idle) = fuzz_run(&stream, &AUTH, &mut |_| sizes.next().unwrap_or(usize::MAX));
            prop_assert_eq!(err, None);
            prop_assert!(idle);
            let got: Vec<Vec<Vec<u8>>> = got.iter().map(|a| a.iter().map(<[u8]>::to_vec).collect()).collect();
            let want: Vec<Vec<Vec<u8>>> = reqs.into_iter().map(|(argv, _)| argv).collect();
            prop_assert_eq!(got, want);
        }

        /// Arbitrary bytes never panic, whole or split, with any limits.
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            fuzz_parse(&data);
        }

        /// RESP-shaped noise reaches the deeper states more often.
        #[test]
        fn resp_shaped_noise_never_panics(
            mode in any::<u8>(),
            parts in proptest::collection::vec(prop_oneof![
                Just(b"*".to_vec()), Just(b"$".to_vec()), Just(b"\r\n".to_vec()), Just(b"\r".to_vec()),
                Just(b"\n".to_vec()), Just(b"\0".to_vec()), Just(b"\"".to_vec()), Just(b"'".to_vec()),
                Just(b"\\x4".to_vec()), Just(b" ".to_vec()), "-?[0-9]{1,3}".prop_map(String::into_bytes),
                proptest::collection::vec(any::<u8>(), 1..4),
            ], 0..60),
        ) {
            let data = [vec![mode, mode.rotate_left(3)], parts.concat()].concat();
            fuzz_parse(&data);
        }
    }
}
